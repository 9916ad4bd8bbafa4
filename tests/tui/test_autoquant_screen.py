"""An autoquant experiment opens as its candidates and Pareto front, at 80 x 24, on runs
written straight into the store (fixed numbers: the snapshot stays put)."""

from __future__ import annotations

from typing import Any

from tests.tui.conftest import settle
from workbench.jobs.experiments import add_runs, create_experiment
from workbench.store import BenchmarkRun
from workbench.tui.screens.autoquant import AutoquantScreen
from workbench.tui.screens.bench_run import BenchRunScreen
from workbench.tui.screens.project import ProjectScreen

# (stage, label, SQNR dB, size, device init ms); the last one meets the goal.
CANDIDATES = (
    ("scheme", "tf", 20.0, 4000, 3.5),  # #2 dominates it
    ("scheme", "enhanced", 24.0, 4000, 3.0),
    ("per-channel", "enhanced + per-channel", 22.0, 4400, 1.0),
    ("int16", "enhanced + 2 layer(s) int16", 31.0, 4600, 2.5),
)


def seed_autoquant(store: Any, make_run: Any) -> dict[int, int]:
    """The experiment ``aq`` as autoquant leaves it; the bench runs' ids by candidate."""
    create_experiment(store, "default", "aq", "autoquant: goal sqnr>=30 on dsp; #4 won")
    benches = {}
    for index, (stage, label, sqnr, size, init) in enumerate(CANDIDATES, start=1):
        note = f"autoquant #{index} ({stage}): {label}"
        q = make_run(kind="quantize", sqnr_db=sqnr, notes=note)
        b = make_run(kind="bench", runtime="dsp", sqnr_db=sqnr, notes=note)
        with store.write() as session:
            bench = session.get(BenchmarkRun, b)
            bench.container_size_bytes, bench.device_init_ms = size, init
            bench.init_time_ms = init + 1.0
        add_runs(store, "default", "aq", [q, b])
        benches[index] = b
    return benches


async def test_an_autoquant_experiment_shows_candidates_and_front(store, make_run, make_app):
    benches = seed_autoquant(store, make_run)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, ProjectScreen)
        await pilot.press("enter")  # an autoquant experiment: its screen, not compare
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AutoquantScreen)
        result = screen.result
        assert result.chosen == 4 and result.met
        assert [c.index for c in result.front] == [2, 3, 4]
        table = screen.query_one("#autoquant-candidates")
        marks = [table.get_row_at(i)[0].plain for i in range(table.row_count)]
        assert marks == ["1", "★2", "★3", "▶★4"]
        assert [table.get_row_at(i)[2].plain for i in range(4)] == [
            "20.00 dB", "24.00 dB", "22.00 dB", "✓ 31.00 dB"
        ]  # fmt: skip
        assert "#4 won" in screen.query_one(".status-line").render().plain
        await pilot.press("2")
        await settle(pilot)
        plot = screen.query_one("#autoquant-tradeoff")
        assert plot is not None
        await pilot.press("1")
        await settle(pilot)
        screen.query_one("#autoquant-candidates").focus()
        await pilot.press("down", "down", "down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, BenchRunScreen) and app.screen.run_id == benches[4]


def test_autoquant_screen_snapshot(store, make_run, make_app, snap_compare) -> None:
    seed_autoquant(store, make_run)

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in ("4", "enter"):
            await pilot.press(key)
            await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


async def test_the_autoquant_form_runs_the_search(store, make_app, tmp_path) -> None:
    import asyncio

    from tests.modelzoo import small_cnn, write_inputs
    from workbench.jobs.convert import convert_model
    from workbench.tui.screens.autoquant_form import AutoquantForm

    convert_model(store, "default", small_cnn(tmp_path / "m.onnx"), tmp_path / "m.dlc")
    listing, _ = write_inputs(tmp_path, 3)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("G")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AutoquantForm)
        for field, value in (("container", tmp_path / "m.dlc"), ("input_list", listing),
                             ("eval_list", listing), ("output", tmp_path / "best.dlc"),
                             ("goal", "sqnr>=")):  # fmt: skip
            form.query_one(f"#{field}").value = str(value)
        await pilot.press("ctrl+s")  # a goal without a number: refused, the form stays
        await settle(pilot)
        assert app.screen is form
        form.query_one("#goal").value = "sqnr>=20"
        await pilot.press("ctrl+s")
        for _ in range(600):
            await asyncio.sleep(0.05)
            if not app.jobs.running:
                break
        await settle(pilot)
        job = app.jobs.jobs[-1]
        assert job.status == "succeeded", job.message
        assert "#1 tf won" in job.message and (tmp_path / "best.dlc").is_file()
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AutoquantScreen) and app.screen.result.chosen == 1
