"""Jobs launched from the TUI's forms: they record runs, fail cleanly, and cancel cleanly."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tests.modelzoo import small_cnn, write_inputs
from tests.tui.conftest import settle
from workbench.jobs.quantize import QuantizeRequest
from workbench.jobs.runs import list_runs, show_run
from workbench.tui.job_requests import parse_input_dims
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.convert_form import ConvertForm
from workbench.tui.screens.quantize_form import QuantizeForm


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    model = small_cnn(tmp_path / "tiny.onnx")
    listing, _ = write_inputs(tmp_path, 6)
    return {"model": model, "list": listing, "dir": tmp_path}


async def wait_for_jobs(pilot, app, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if not app.jobs.running:
            break
        await asyncio.sleep(0.05)
    await settle(pilot)


async def test_import_then_quantize_from_the_forms(store, make_app, files) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("i")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ConvertForm)
        form.query_one("#model").value = str(files["model"])
        await pilot.pause()
        assert form.query_one("#output").value == str(files["dir"] / "tiny.dlc")  # derived
        await pilot.press("ctrl+s")
        await wait_for_jobs(pilot, app)
        assert [j.status for j in app.jobs.jobs] == ["succeeded"]
        await pilot.press("1")
        await settle(pilot)
        models = screen.table("models")
        assert [m.name for m in models.rows.values()] == ["tiny"]
        # quantize the model under the cursor: the form knows its float container
        await pilot.press("Q")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, QuantizeForm)
        assert form.query_one("#container").value == str(files["dir"] / "tiny.dlc")
        assert form.query_one("#output").value == str(files["dir"] / "tiny_q.dlc")
        form.query_one("#input_list").value = str(files["list"])
        form.query_one("#param_quantizer").value = "enhanced"
        form.query_one("#cle").value = True
        await pilot.press("ctrl+s")
        await pilot.pause()
        panel = screen.query_one("JobPanel")
        await wait_for_jobs(pilot, app)
        assert not panel.display  # nothing running: the panel is gone
        assert app.jobs.jobs[-1].status == "succeeded", app.jobs.jobs[-1].message
        runs = list(screen.table("quantize").rows.values())
        assert len(runs) == 1 and runs[0].status == "succeeded"
        detail = show_run(store, runs[0].id)
        assert detail.details["param_quantizer"] == "enhanced"
        assert detail.details["algorithms"] == "cle"
        assert (
            "--param-quantizer enhanced" in detail.command and "--algorithms cle" in detail.command
        )
        assert detail.layers and (files["dir"] / "tiny_q.dlc").exists()


async def test_form_refuses_bad_input_and_stays_open(store, make_app, files) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await app.push_screen(QuantizeForm("default"))
        await settle(pilot)
        form = app.screen
        form.query_one("#container").value = str(files["dir"] / "missing.dlc")
        await pilot.press("ctrl+s")
        assert app.screen is form
        assert "does not exist" in str(form.query_one(".error").content)
        assert not app.jobs.jobs
        await pilot.press("escape")
        assert not isinstance(app.screen, QuantizeForm)


async def test_failed_job_is_a_notification_and_a_failed_run(store, make_app, files) -> None:
    from workbench.jobs.convert import convert_model
    from workbench.tui.screens.forms import launch

    convert_model(store, "default", files["model"], files["dir"] / "tiny.dlc")
    bad = files["dir"] / "bad.json"
    bad.write_text('{"activation_encodings": {"nope": 3}}')
    request = QuantizeRequest(
        str(files["dir"] / "tiny.dlc"), str(files["list"]), str(files["dir"] / "q.dlc"),
        {"override_params": str(bad)},
    )  # fmt: skip
    app = make_app()
    notes: list[tuple[str, str]] = []
    app.notify = lambda message, **kw: notes.append((message, kw.get("severity", "")))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        launch(app, "default", request)
        await wait_for_jobs(pilot, app)
        job = app.jobs.jobs[-1]
        assert job.status == "failed" and "expected a list of encoding entries" in job.message
        assert "\n" not in job.message
        assert (job.message, "error") in notes
        runs = list(app.screen.table("quantize").rows.values())
        assert [r.status for r in runs] == ["failed"]


async def test_cancelling_a_job_leaves_its_run_interrupted(
    store, make_app, files, monkeypatch
) -> None:
    import workbench.jobs.quantize as quantize_module
    from workbench.jobs.convert import convert_model
    from workbench.tui.screens.forms import launch

    convert_model(store, "default", files["model"], files["dir"] / "tiny.dlc")
    reached, proceed = threading.Event(), threading.Event()
    real = quantize_module.quantize_job

    def gated(*args, progress, **kwargs):
        def step(stage: str, done: int, total: int) -> None:
            progress(stage, done, total)  # raises JobCancelled once the user cancelled
            reached.set()
            proceed.wait(10)

        return real(*args, progress=step, **kwargs)

    monkeypatch.setattr(quantize_module, "quantize_job", gated)
    request = QuantizeRequest(
        str(files["dir"] / "tiny.dlc"), str(files["list"]), str(files["dir"] / "q.dlc"), {}
    )
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        launch(app, "default", request)
        for _ in range(200):
            if reached.is_set():
                break
            await asyncio.sleep(0.02)
        await pilot.pause()
        running = list_runs(store, "default").rows
        assert [r.status for r in running] == ["running"]
        assert app.screen.query_one("JobPanel").display
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        proceed.set()
        await wait_for_jobs(pilot, app)
        assert app.jobs.jobs[-1].status == "cancelled"
        run = show_run(store, running[0].id)
        assert run.status == "interrupted" and run.error == "interrupted by the user"
        assert not run.layers  # results of an interrupted run are not kept


def test_input_dims_parse() -> None:
    assert parse_input_dims("x=1,3,8,8 y=1x10") == {"x": [1, 3, 8, 8], "y": [1, 10]}
    with pytest.raises(Exception, match="NAME=1,3,224,224"):
        parse_input_dims("1,3,8,8")


async def test_bench_from_the_form(store, make_app, files) -> None:
    from workbench.jobs.convert import convert_model
    from workbench.tui.screens.bench_form import BenchForm

    convert_model(store, "default", files["model"], files["dir"] / "tiny.dlc")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("3", "B")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, BenchForm)
        containers = form.query_one("#containers")
        containers.select_all()
        runtimes = form.query_one("#runtimes")  # every runtime by default, as the CLI
        runtimes.deselect_all()
        runtimes.select("cpu")
        runtimes.select("dsp")
        form.query_one("#input_list").value = str(files["list"])
        form.query_one("#iterations").value = "2"
        await pilot.press("ctrl+s")
        await wait_for_jobs(pilot, app)
        assert app.jobs.jobs[-1].status == "succeeded", app.jobs.jobs[-1].message
        rows = list(screen.table("bench").rows.values())
        assert sorted(r.runtime for r in rows) == ["cpu", "dsp"]
        assert all(r.status == "succeeded" and r.init_time_ms for r in rows)
        assert "--runtimes cpu,dsp" in show_run(store, rows[0].id).command


async def test_debug_from_the_form_of_a_quantize_run(store, make_app, files) -> None:
    from workbench.jobs.convert import convert_model
    from workbench.jobs.quantize import quantize_job
    from workbench.tui.screens.debug_form import DebugForm
    from workbench.tui.screens.debug_run import DebugRunScreen

    convert_model(store, "default", files["model"], files["dir"] / "tiny.dlc")
    q = files["dir"] / "tiny_q.dlc"
    request = QuantizeRequest(files["dir"] / "tiny.dlc", files["list"], q, analyze=False)
    quantize_job(store, "default", request)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("D")  # on the quantize run: its output and calibration list
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DebugForm)
        assert form.query_one("#container").value == str(q.resolve())
        assert form.query_one("#input_list").value == str(files["list"].resolve())
        form.query_one("#samples").value = "2"
        await pilot.press("ctrl+s")
        await wait_for_jobs(pilot, app)
        assert app.jobs.jobs[-1].status == "succeeded", app.jobs.jobs[-1].message
        assert "no layer diverges" in app.jobs.jobs[-1].message
        await pilot.press("6")
        await settle(pilot)
        (row,) = screen.table("debug").rows.values()
        assert row.kind == "debug" and row.status == "succeeded" and row.runtime == "dsp"
        assert "--samples 2" in show_run(store, row.id).command
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DebugRunScreen)
        assert app.screen.query_one("#debug-layers").row_count == 4


def test_path_suggestions_complete_from_the_folder(tmp_path: Path) -> None:
    from workbench.tui.widgets.path_input import PathSuggester

    (tmp_path / "tiny.onnx").write_bytes(b"")
    (tmp_path / "models").mkdir()
    suggest = PathSuggester().get_suggestion
    assert asyncio.run(suggest(str(tmp_path / "ti"))) == str(tmp_path / "tiny.onnx")
    assert asyncio.run(suggest(str(tmp_path / "mo"))) == str(tmp_path / "models") + "/"
    assert asyncio.run(suggest(str(tmp_path / "zz"))) is None


async def test_the_screen_reloads_the_tables_the_outcome_names(store, make_app) -> None:
    from workbench.tui.job_runner import JobChanged, JobOutcome, JobState
    from workbench.tui.screens.project import TABS

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        for tab in TABS:
            screen.table(tab).ensure_loaded()
        await settle(pilot)
        reloaded: list[str] = []
        for tab in TABS:
            screen.table(tab).reload = lambda tab=tab: reloaded.append(tab)

        def end(status: str, outcome: JobOutcome | None, project: str = "default") -> None:
            job = JobState("job", "bench", project, status=status, outcome=outcome)
            app.post_message(JobChanged(job))  # progress: nothing to reload yet
            app.post_message(JobChanged(job, final=True))

        end("succeeded", JobOutcome("done", refresh=("bench", "experiments")))
        await settle(pilot)
        assert reloaded == ["bench", "experiments"]  # not the screen's own idea of a bench
        reloaded.clear()
        end("failed", None)  # it may have recorded a run, containers, or nothing
        end("succeeded", JobOutcome("done", refresh=("models",)), project="other")
        await settle(pilot)
        assert reloaded == list(TABS)
