"""Pilot tests: walk the projects, project, detail and help screens with the keyboard."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from tests.tui.conftest import settle
from workbench.jobs.browse import RunRow
from workbench.jobs.projects import list_projects
from workbench.jobs.runs import show_run
from workbench.tui.screens.bench_run import BenchRunScreen
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.model_detail import ModelDetailScreen
from workbench.tui.screens.project import ProjectScreen
from workbench.tui.screens.projects import ProjectsScreen
from workbench.tui.screens.quant_run import QuantRunScreen
from workbench.tui.widgets.paged_table import PagedTable


def text_of(widget) -> str:
    """What a Static (or a LongText) shows, as plain text."""
    if hasattr(widget, "lines"):
        return "\n".join(widget.lines)
    console = Console(width=200, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(widget.content, markup=False)
    return captured.get()


def plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def column(table: PagedTable, key: str) -> list[str]:
    rows = table.table
    return [plain(rows.get_cell(row_key, key)) for row_key in rows.keys]


async def test_starts_on_the_project_with_its_quantization_runs(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProjectScreen) and screen.tab == "quantize"
        table = screen.table()
        assert table.page.total == len(seeded.quantize_runs) + 2
        ids = [int(i) for i in column(table, "id")]
        assert ids == sorted(ids, reverse=True)  # newest first
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ProjectsScreen)
        names = column(app.screen.table, "name")
        assert names == ["default", "mobile-v2", "old-2020"]


async def test_tabs_sort_filter_and_page(seeded, make_app, store) -> None:
    from tests.tui.seed import seed_many

    seed_many(store, 250)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("3")
        await settle(pilot)
        bench = screen.table("bench")
        assert screen.tab == "bench"
        assert bench.page.total == len(seeded.bench_runs) + 125
        assert len(bench.rows) == 100
        # next page, last page, back to the first
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert bench.page.offset == 100
        await pilot.press("right_curly_bracket")
        await settle(pilot)
        assert bench.page.offset == 100 and len(bench.rows) == bench.page.total - 100
        await pilot.press("left_curly_bracket")
        await settle(pilot)
        assert bench.page.offset == 0
        # sort by latency through the sort menu: ascending on a second pick
        await pilot.press("s")
        await pilot.pause()
        menu = app.screen
        options = [value for _, value in menu.options]
        menu.query_one("OptionList").highlighted = options.index("latency")
        await pilot.press("enter")
        await settle(pilot)
        values = [r.latency_mean_ms for r in bench.rows.values()]
        assert values == sorted(values, reverse=True)
        await pilot.press("S")
        await settle(pilot)
        values = [r.latency_mean_ms for r in bench.rows.values()]
        assert values == sorted(values)
        # filter: runtime and a tag
        await pilot.press("slash")
        await pilot.press(*"runtime:dsp #v2")
        await pilot.press("enter")
        await settle(pilot)
        rows = list(bench.rows.values())
        assert rows and all(r.runtime == "dsp" and "v2" in r.tags for r in rows)
        assert app.focused is bench.table  # enter went back to the table
        assert "filter runtime:dsp #v2" in text_of(bench.query_one(".table-status"))
        bench.set_filter("status:done")
        await settle(pilot)
        assert "unknown status 'done'" in (bench.error or "")


async def test_star_tag_note_and_baseline_from_the_keyboard(seeded, make_app, store) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.table()
        first: RunRow = table.current
        await pilot.press("asterisk")
        await settle(pilot)
        assert show_run(store, first.id).starred is True
        assert "★" in column(table, "starred")[0]
        await pilot.press("t")
        await pilot.pause()
        await pilot.press(*"fast v3", "enter")
        await settle(pilot)
        assert show_run(store, first.id).tags == ("fast", "v3")
        await pilot.press("t")
        await pilot.pause()
        await pilot.press(*"-fast", "enter")
        await settle(pilot)
        assert show_run(store, first.id).tags == ("v3",)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"looks good", "enter")
        await settle(pilot)
        assert show_run(store, first.id).notes == "looks good"
        await pilot.press("b")
        await settle(pilot)
        assert show_run(store, first.id).baseline is True
        assert show_run(store, seeded.quantize_runs[0]).baseline is False  # one per kind


async def test_quantization_run_detail_has_every_tab(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.table()
        run_id = seeded.quantize_runs[1]  # mobilenet, enhanced + cle, starred
        table.table.move_cursor(row=table.table.get_row_index(str(run_id)))
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, QuantRunScreen) and screen.view.detail.id == run_id
        summary = text_of(screen.query_one("#summary-fields"))
        for text in ("enhanced", "8/8/32", "cle", "calibrate", "peak memory", "/data/calib.txt"):
            assert text in summary, text
        await pilot.press("2")
        await pilot.pause()
        worst = text_of(screen.query_one("#worst"))
        assert worst.startswith("worst layers: ")
        chart = screen.query_one("#sqnr-chart")
        assert len(chart.data.labels) == 12 and len(chart.data.highlight) == 5
        await pilot.press("3")
        await pilot.pause()
        assert screen.query_one("#layers-table").row_count == 12
        await pilot.press("4")
        await pilot.pause()
        report = text_of(screen.query_one("#report-fields"))
        assert "weights only" in report and "softmax (Softmax)" in report
        await pilot.press("5")
        await pilot.pause()
        assert "calibrated on 32 samples" in text_of(screen.query_one("#log-text"))
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ProjectScreen)
        table.table.move_cursor(row=table.table.get_row_index(str(seeded.failed_run)))
        await pilot.press("enter")
        await settle(pilot)
        summary = text_of(app.screen.query_one("#summary-fields"))
        assert "failed" in summary and "needs 150528" in summary
        await pilot.press("2")
        assert "no per-layer stats" in text_of(app.screen.query_one("#worst"))


async def test_benchmark_detail(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.table()
        run_id = seeded.bench_runs[7]  # mobilenet int8 on dsp
        table.table.move_cursor(row=table.table.get_row_index(str(run_id)))
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BenchRunScreen)
        summary = text_of(screen.query_one("#summary-fields"))
        for text in ("dsp", "init peak memory", "p90", "top-1 agreement", "label accuracy"):
            assert text in summary, text
        await pilot.press("2")
        await pilot.pause()
        assert screen.query_one("#init-chart").data.labels == ("load", "plan", "allocate")
        assert screen.query_one("#latency-chart").data.labels == ("min", "p50", "mean", "p90")


async def test_model_detail_reads_the_container(seeded, make_app, store, tmp_path) -> None:
    from tests.modelzoo import small_cnn
    from workbench.jobs.convert import convert_model

    result = convert_model(
        store, "default", small_cnn(tmp_path / "tiny.onnx"), tmp_path / "tiny.dlc"
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        table = app.screen.table()
        assert set(column(table, "name")) == {"mobilenet_v2", "resnet18", "tiny"}
        table.table.move_cursor(row=table.table.get_row_index(str(result.model_id)))
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ModelDetailScreen)
        assert screen.query_one("#containers-table").row_count == 1
        await pilot.press("enter")  # show that container's layers
        await settle(pilot)
        layers = screen.query_one("#layers-table")
        assert layers.row_count == 5
        assert [plain(layers.get_row_at(i)[2]) for i in range(5)] == [
            "Conv", "Relu", "Reshape", "Gemm", "Softmax"
        ]  # fmt: skip
        assert "no HTA records" in text_of(screen.query_one("#subnets-text"))
        # a container whose file is gone: a message, not a crash
        await pilot.press("escape")
        await settle(pilot)
        table.table.move_cursor(row=table.table.get_row_index(str(seeded.models["resnet18"])))
        await pilot.press("enter")
        await settle(pilot)
        assert "cannot read it" in text_of(app.screen.query_one("#layers-info"))


async def test_help_palette_and_theme(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = dict((d, k) for k, d in app.screen.keys)
        for description in ("Mark", "Compare", "Star", "Tag", "Quantize", "Bench", "Filter"):
            assert description in keys, description
        assert "Focus Next" not in keys
        await pilot.press("escape")
        assert isinstance(app.screen, ProjectScreen)
        # every binding is a command in the palette too
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in ("Mark", "Compare", "Star", "Tag", "Import", "Quantize", "Bench",
                      "Light/dark theme", "Theme", "Sort", "Filter", "Next page"):  # fmt: skip
            assert title in titles, title
        # running one: "Star" stars the run under the cursor
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Star")
        current = app.screen.table().current
        await command.callback()
        await settle(pilot)
        assert app.screen.table().current.starred is (not current.starred)
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"


async def test_projects_create_rename_archive_delete(seeded, make_app, store) -> None:
    app = make_app(project=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProjectsScreen)
        await pilot.press("n")
        await pilot.press(*"yolo", "enter")
        await settle(pilot)
        assert "yolo" in column(screen.table, "name")
        table = screen.table.table
        table.move_cursor(row=table.get_row_index("yolo"))
        await pilot.press("r")
        await pilot.press("end", *"-v8", "enter")  # the field holds the old name
        await settle(pilot)
        names = {p.name for p in list_projects(store, include_archived=True)}
        assert "yolo-v8" in names and "yolo" not in names
        table.move_cursor(row=table.get_row_index("yolo-v8"))
        await pilot.press("a")
        await settle(pilot)
        assert {p.name: p.archived for p in list_projects(store, include_archived=True)}["yolo-v8"]
        await pilot.press("h")
        await settle(pilot)
        assert "yolo-v8" not in column(screen.table, "name")
        await pilot.press("h")
        await settle(pilot)
        table.move_cursor(row=table.get_row_index("yolo-v8"))
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("n")  # declined: still there
        await settle(pilot)
        assert "yolo-v8" in {p.name for p in list_projects(store, include_archived=True)}
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert "yolo-v8" not in {p.name for p in list_projects(store, include_archived=True)}
        # open a project from the list
        table.move_cursor(row=table.get_row_index("mobile-v2"))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProjectScreen) and app.screen.project == "mobile-v2"


async def test_mark_runs_and_compare(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("c")  # nothing marked: a warning, no screen
        assert isinstance(app.screen, ProjectScreen)
        table = screen.table()
        for run_id in seeded.quantize_runs[:3]:
            table.table.move_cursor(row=table.table.get_row_index(str(run_id)))
            await pilot.press("space")
        assert list(screen.marked) == seeded.quantize_runs[:3]
        assert "3 marked" in text_of(table.query_one(".table-status"))
        await pilot.press("c")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        # run 1 is the project's quantize baseline: pinned leftmost
        assert compare.comparison.baseline.id == seeded.quantize_runs[0]
        await pilot.press("escape")
        await pilot.press("u")
        assert not screen.marked
        await pilot.press("4")
        await settle(pilot)
        assert column(app.screen.table(), "name") == [seeded.experiment]
        await pilot.press("enter")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen) and compare.experiment == seeded.experiment
        assert [r.id for r in compare.comparison.runs] == [
            seeded.bench_runs[0],
            seeded.bench_runs[7],
        ]


async def test_the_decision_metric_is_shown_and_changed(seeded, make_app, store, tmp_path) -> None:
    from tests.modelzoo import small_cnn
    from workbench.jobs.browse import model_detail
    from workbench.jobs.convert import convert_model
    from workbench.tui.screens.choice import ChoiceScreen

    result = convert_model(store, "default", small_cnn(tmp_path / "m.onnx"), tmp_path / "m.dlc")
    assert model_detail(store, result.model_id).model.metric == "top1"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        table = app.screen.table()
        table.table.move_cursor(row=table.table.get_row_index(str(result.model_id)))
        await pilot.press("m")  # on the models tab
        await settle(pilot)
        assert isinstance(app.screen, ChoiceScreen)
        options = [value for _, value in app.screen.options]
        app.screen.dismiss("cosine")
        await settle(pilot)
        assert model_detail(store, result.model_id).model.metric == "cosine"
        await pilot.press("enter")  # the model's detail shows it, and `m` changes it there too
        await settle(pilot)
        assert "cosine (chosen in the terminal UI)" in text_of(
            app.screen.query_one("#model-fields")
        )
        await pilot.press("m")
        await settle(pilot)
        app.screen.dismiss("sqnr")
        await settle(pilot)
        assert model_detail(store, result.model_id).model.metric == "sqnr"
        assert "sqnr (chosen" in text_of(app.screen.query_one("#model-fields"))
    assert options[:2] == ["sqnr", "cosine"]


async def test_a_debug_run_walks_its_layers_to_the_first_divergent_one(seeded, make_app) -> None:
    from workbench.tui.screens.debug_run import DebugRunScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        table = app.screen.table()
        assert column(table, "id") == [str(seeded.debug_run)]
        assert column(table, "first") == ["pw3"] and column(table, "cause") == ["range clipping"]
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DebugRunScreen)
        layers = screen.query_one("#debug-layers")
        names = [plain(layers.get_row_at(i)[1]) for i in range(layers.row_count)]
        assert names[:4] == ["conv1", "bn1_relu", "dw2", "pw2"] and len(names) == 12
        first = names.index("pw3")
        assert layers.cursor_row == first  # opens on the first divergent layer, in red
        row = layers.get_row_at(first)
        assert plain(row[0]) == f"▶{first}" and row[1].style == "bold red"
        assert plain(row[2]) == "412.50" and plain(row[4]) == "85.07"
        assert plain(row[6]) == "64.9%" and plain(row[7]) == "range clipping"
        assert plain(layers.get_row_at(first + 1)[0]) == f"!{first + 1}"  # later: upstream
        story = text_of(screen.query_one("#layer-story"))
        assert "diverges: range clipping; try --layer-precision pw3=int16" in story
        assert "top1 alone 64.9%" in story
        for _ in range(3):
            await pilot.press("up")
        await settle(pilot)
        assert layers.cursor_row == first - 3
        assert "diverges" not in text_of(screen.query_one("#layer-story"))
        await pilot.press("f")
        await settle(pilot)
        assert layers.cursor_row == first
        await pilot.press("2")
        await settle(pilot)
        summary = text_of(screen.query_one("#summary-fields"))
        assert "first divergent    pw3" in summary and "/data/mobilenet_v2.dlc" in summary
        assert "top1 with only that layer quantized, over 2 samples" in summary


async def test_a_failed_debug_run_opens_on_its_summary(seeded, make_app, store) -> None:
    from textual.widgets import TabbedContent

    from workbench.jobs.lifecycle import tracked_run
    from workbench.tui.screens.debug_run import DebugRunScreen

    with pytest.raises(RuntimeError):
        with tracked_run(store, project="default", kind="debug", runtime="aip",
                         options={"runtime": "aip", "cpu_fxp": True, "samples": 4}) as run:  # fmt: skip
            raise RuntimeError("AIP needs the HTA subnet records")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(DebugRunScreen("default", run.id))
        await settle(pilot)
        screen = app.screen
        assert screen.query_one(TabbedContent).active == "summary"
        summary = text_of(screen.query_one("#summary-fields"))
        assert "AIP needs the HTA subnet records" in summary and "contribution" not in summary
        assert "--cpu-fxp          yes" in summary and "Samples            4" in summary
        await pilot.press("f")
        await settle(pilot)
        assert screen.query_one("#debug-layers").row_count == 0
