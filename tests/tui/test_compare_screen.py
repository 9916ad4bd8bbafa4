"""Pilot tests: the compare screen (baseline, diff-only, overlay, export, copy, save)."""

from __future__ import annotations

from tests.tui.conftest import settle
from workbench.jobs.experiments import show_experiment
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.project import ProjectScreen


def header_labels(table) -> list[str]:
    return [
        str(c.label.plain if hasattr(c.label, "plain") else c.label) for c in table.ordered_columns
    ]


async def test_compare_baseline_diff_overlay_export_copy_save(
    seeded, make_app, store, tmp_path
) -> None:
    a, b, c = seeded.quantize_runs[:3]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(CompareScreen("default", [b, c, a]))
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#compare-table")
        # run a is the project's baseline: pinned leftmost, after the metric column
        assert header_labels(table)[:2] == ["metric", f"◆ #{a} tf w8a8"]
        assert table.fixed_columns == 2
        diff_rows = table.row_count
        keys = [k.value for k in table.rows]
        assert "sqnr_db" in keys and "kind" not in keys  # only differences by default
        sqnr = table.get_row("sqnr_db")
        assert sqnr[2].plain == "27.50 dB +3.50 dB"  # higher SQNR: better, green
        assert any(span.style == "green" for span in sqnr[2].spans)
        took = table.get_row("duration_s")
        assert any(span.style == "red" for span in took[2].spans)  # longer: worse
        await pilot.press("d")
        assert table.row_count > diff_rows and "kind" in [k.value for k in table.rows]
        await pilot.press("d")
        assert table.row_count == diff_rows
        # per-layer SQNR of the three runs overlaid
        await pilot.press("2")
        chart = screen.query_one("#layers-chart")
        assert chart.data.series == (f"#{a}", f"#{b}", f"#{c}") and len(chart.data.labels) == 12
        # another baseline, chosen from the list
        await pilot.press("b")
        await pilot.pause()
        app.screen.query_one("OptionList").highlighted = 2
        await pilot.press("enter")
        await settle(pilot)
        assert screen.comparison.baseline.id == c
        assert header_labels(table)[1].startswith(f"◆ #{c}")
        # copy over OSC 52 and write a file
        await pilot.press("y")
        assert app.clipboard.startswith(f"## Comparison against run {c}")
        await pilot.press("Y")
        assert app.clipboard.splitlines()[0].startswith("metric,unit,better,run")
        target = tmp_path / "cmp.md"
        await pilot.press("w")
        await pilot.pause()
        prompt_input = app.screen.query_one("Input")
        prompt_input.value = str(target)
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.02)
            if target.exists() and target.stat().st_size:
                break
        assert "| SQNR vs float |" in target.read_text()
        # save as an experiment with a note
        await pilot.press("s")
        await pilot.pause()
        name_input, note_input = app.screen.query("Input")
        name_input.value = "schemes"
        note_input.value = "tf vs enhanced vs symmetric"
        await pilot.press("enter", "enter")
        await settle(pilot)
        saved = show_experiment(store, "default", "schemes")
        assert saved.run_ids == (a, b, c) and saved.note == "tf vs enhanced vs symmetric"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ProjectScreen)


async def test_compare_mixed_kinds_and_bad_selection(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(
            CompareScreen("default", [seeded.bench_runs[0], seeded.quantize_runs[0]])
        )
        await settle(pilot)
        keys = [k.value for k in app.screen.query_one("#compare-table").rows]
        assert "kind" in keys and "runtime" in keys
        await pilot.press("escape")
        await app.push_screen(CompareScreen("default", [seeded.bench_runs[0]]))
        await settle(pilot)
        assert "at least two runs" in str(app.screen.query_one(".title-line").content)
