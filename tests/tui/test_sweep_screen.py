"""The sweeps tab and one sweep as a grid (settings x runtimes, coloured by the metric),
at 80 x 24, on a sweep written straight into the store."""

from __future__ import annotations

from rich.text import Text

from tests.tui.conftest import settle
from workbench.store import Sweep, SweepCell, utcnow
from workbench.store.queries import get_project
from workbench.tui.screens.bench_run import BenchRunScreen
from workbench.tui.screens.project import ProjectScreen
from workbench.tui.screens.sweep import SweepScreen, shade


def _seed_sweep(store, make_run) -> dict[tuple[str, str, str], int]:
    """Two models x 2 settings x cpu/dsp; one cell failed. The bench runs' ids by cell."""
    measured = {
        ("m0", "tf", "cpu"): (40.0, 5000, 2.0),
        ("m0", "tf", "dsp"): (30.0, 5000, 3.0),
        ("m0", "enhanced", "cpu"): (35.0, 4000, 2.0),
        ("m0", "enhanced", "dsp"): None,  # failed
        ("m1", "tf", "cpu"): (20.0, 900, 1.0),
        ("m1", "tf", "dsp"): (25.0, 900, 1.0),
        ("m1", "enhanced", "cpu"): (22.0, 900, 1.0),
        ("m1", "enhanced", "dsp"): (21.0, 900, 1.0),
    }
    runs = {}
    for place, numbers in measured.items():
        if numbers is not None:
            sqnr, size, init = numbers
            run_id = make_run(kind="bench", runtime=place[2], sqnr_db=sqnr)
            runs[place] = run_id
    from workbench.store import BenchmarkRun

    with store.write() as session:
        for place, run_id in runs.items():
            bench = session.get(BenchmarkRun, run_id)
            bench.container_size_bytes, bench.init_time_ms = measured[place][1:]
        project = get_project(session, "default")
        sweep = Sweep(project_id=project.id, name="zoo", spec={"runtimes": ["cpu", "dsp"]},
                      metric="sqnr", executor="local", status="failed", host="h", pid=1,
                      started_at=utcnow(), finished_at=utcnow())  # fmt: skip
        for i, ((model, setting, runtime), numbers) in enumerate(measured.items()):
            sweep.cells.append(SweepCell(
                key=f"{i:064d}", model_name=model, model_sha256="0" * 64,
                setting={"param_quantizer": setting}, setting_key=setting, runtime=runtime,
                status="succeeded" if numbers else "failed",
                error=None if numbers else "quantize: boom", attempts=1,
                bench_run_id=runs.get((model, setting, runtime)),
            ))  # fmt: skip
        session.add(sweep)
    return runs


def _grid(screen) -> dict[tuple[str, str], Text]:
    table = screen.query_one("#sweep-grid")
    return {
        (row.value, column.value): table.get_cell(row, column)
        for row in table.rows
        for column in table.columns
        if column.value != "setting"
    }


async def test_sweeps_tab_and_the_grid(store, make_run, make_app) -> None:
    runs = _seed_sweep(store, make_run)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProjectScreen) and screen.tab == "sweeps"
        table = screen.table("sweeps")
        assert list(table.rows) == ["zoo"]
        assert table.rows["zoo"].counts["failed"] == 1
        await pilot.press("enter")
        await settle(pilot)
        grid = app.screen
        assert isinstance(grid, SweepScreen)
        cells = _grid(grid)
        setting = "param_quantizer=tf"
        other = "param_quantizer=enhanced"
        assert set(cells) == {(s, r) for s in (setting, other) for r in ("cpu", "dsp")}
        assert cells[(setting, "cpu")].plain.strip() == "40.00 ★"  # best: on the front
        assert cells[(other, "dsp")].plain == "failed"
        # Coloured by the metric: the best cell green, the worst red.
        assert str(cells[(setting, "cpu")].style) == shade(1.0)
        assert str(cells[(setting, "dsp")].style) == shade(0.0)
        assert "★" not in cells[(setting, "dsp")].plain  # worse, and no smaller or quicker
        # The second model: its own scale.
        await pilot.press("m")
        await settle(pilot)
        cells = _grid(grid)
        assert cells[(setting, "dsp")].plain.strip().startswith("25.00")
        assert str(cells[(setting, "dsp")].style) == shade(1.0)
        # The Pareto tab plots the model's runs; enter on a cell opens its run.
        await pilot.press("2")
        await settle(pilot)
        assert grid.tradeoff is not None and len(grid.tradeoff.points) == 4
        assert sorted(p.accuracy for p in grid.tradeoff.points) == [20.0, 21.0, 22.0, 25.0]
        await pilot.press("1")
        await settle(pilot)
        grid.query_one("#sweep-grid").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BenchRunScreen)
        assert app.screen.run_id == runs[("m1", "tf", "cpu")]


def test_shade_runs_red_to_green():
    assert shade(0.0) == "black on rgb(190,60,60)"
    assert shade(1.0) == "black on rgb(70,160,80)"
    assert shade(0.5) == "black on rgb(200,170,60)"
