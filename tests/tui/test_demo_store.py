"""The TUI on a store filled by the demo job (real convert, quantize, bench, advise)."""

from __future__ import annotations

import asyncio

import workbench.jobs.advise as advise_module
from tests.tui.conftest import settle
from workbench.jobs.advise import AdviseResult
from workbench.jobs.demo import demo_job
from workbench.tui.screens.advise_form import AdviseForm
from workbench.tui.screens.advisor import AdvisorScreen
from workbench.tui.screens.bench_run import BenchRunScreen
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.quant_run import QuantRunScreen


async def test_the_demo_project_and_its_advice(store, make_app, tmp_path, monkeypatch) -> None:
    result = demo_job(store, workdir=tmp_path / "demo", samples=4, iterations=1)
    app = make_app(result.project)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        quantize = screen.table("quantize")
        assert quantize.page.total == 4
        assert {r.param_quantizer for r in quantize.rows.values()} == {"tf", "enhanced"}
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, QuantRunScreen) and app.screen.view.layers
        await pilot.press("escape", "3")
        await settle(pilot)
        bench = screen.table("bench")
        assert bench.page.total == len(result.bench)
        assert {r.runtime for r in bench.rows.values()} == {"cpu", "gpu", "gpu_fp16", "dsp", "aip"}
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, BenchRunScreen)
        assert app.screen.view.detail.details["init_breakdown"]
        await pilot.press("escape", "space", "space", "c")  # two runs of the real bench
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen) and len(app.screen.comparison.runs) == 2
        await pilot.press("escape")

        # The advisor from its form; the job itself is tested in tests/jobs: here it
        # answers at once with the demo's advice, and the table opens when it is done.
        def advise_job(store, project, request, **kwargs) -> AdviseResult:
            assert kwargs["progress"] is not None
            return AdviseResult(result.advice, None, (), result.experiment, 4)

        monkeypatch.setattr(advise_module, "advise_job", advise_job)
        await pilot.press("A")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, AdviseForm)
        form.query_one("#container").value = result.float_container
        form.query_one("#input_list").value = result.validation_list
        await pilot.press("ctrl+s")
        for _ in range(100):
            if isinstance(app.screen, AdvisorScreen):
                break
            await asyncio.sleep(0.05)
        await settle(pilot)
        advisor = app.screen
        assert isinstance(advisor, AdvisorScreen)
        assert [row.label for row in advisor.result.advice.rows][:2] == ["CPU", "CPU --cpu-fxp"]
        assert {r.runtime for r in advisor.result.advice.recommendations} >= {"cpu", "dsp"}

        # The demo's advice, saved as an experiment, opens again from the experiments tab
        # with `a`: the same table, rebuilt from the stored benchmark runs.
        await pilot.press("escape", "4")
        await settle(pilot)
        experiments = screen.table("experiments")
        names = [row.name for row in experiments.rows.values()]
        for _ in range(names.index(result.experiment)):
            await pilot.press("down")
        await pilot.press("a")
        for _ in range(100):
            if isinstance(app.screen, AdvisorScreen) and app.screen.result is not None:
                break
            await asyncio.sleep(0.05)
        await settle(pilot)
        saved = app.screen
        assert isinstance(saved, AdvisorScreen) and saved.experiment == result.experiment
        assert saved.result.advice == result.advice
