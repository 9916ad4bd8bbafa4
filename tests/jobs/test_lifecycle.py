"""tracked_run: running first, then exactly one ending, whatever happens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import BadInput, InputListError
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.projects import create_project, set_archived
from workbench.jobs.runs import show_run
from workbench.store import LayerStat, Run, open_store
from workbench.store.recovery import current_process, recover_orphaned_runs


def test_the_run_is_running_before_the_work(store) -> None:
    with tracked_run(store, project="default", kind="bench", runtime="dsp", batch=2) as run:
        seen = show_run(store, run.id)
        assert seen.status == "running"
        assert seen.details["runtime"] == "dsp" and seen.details["batch"] == 2
        me = current_process()
        assert (seen.host, seen.pid) == (me.host, me.pid)
    assert run.status == "succeeded"


def test_success_writes_results_log_and_timing(store) -> None:
    with tracked_run(store, project="default", kind="quantize", param_quantizer="tf",
                     tags=["nightly"], command="workbench quantize m.dlc") as run:  # fmt: skip
        run.record(sqnr_db=31.5, peak_memory_bytes=123_456)
        run.add_layer_stats(
            [{"layer_index": 0, "layer_name": "c0", "op_type": "Conv", "scale": 0.1}]
        )
        run.log("calibrated 32 samples")
    shown = show_run(store, run.id)
    assert shown.status == "succeeded" and shown.error is None
    assert shown.sqnr_db == 31.5 and shown.peak_memory_bytes == 123_456
    assert shown.layers[0]["layer_name"] == "c0"
    assert shown.log == "calibrated 32 samples"
    assert shown.tags == ("nightly",)
    assert shown.command == "workbench quantize m.dlc"
    assert shown.finished_at >= shown.started_at and shown.duration_s >= 0


def test_an_exception_fails_the_run_and_propagates(store) -> None:
    with pytest.raises(ZeroDivisionError):
        with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
            run.record(latency_mean_ms=1.0, peak_memory_bytes=99)
            run.log("about to fail")
            1 / 0  # noqa: B018
    shown = show_run(store, run.id)
    assert shown.status == "failed"
    assert shown.error == "ZeroDivisionError: division by zero"
    assert shown.log == "about to fail" and shown.peak_memory_bytes == 99
    assert shown.details["latency_mean_ms"] is None  # results count only on success


def test_a_user_error_keeps_its_message(store) -> None:
    with pytest.raises(InputListError):
        with tracked_run(store, project="default", kind="quantize") as run:
            raise InputListError("line 3: file a.raw not found")
    assert show_run(store, run.id).error == "line 3: file a.raw not found"


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_ctrl_c_or_exit_interrupts_the_run(store, stop: type[BaseException]) -> None:
    with pytest.raises(stop):
        with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
            raise stop()
    assert show_run(store, run.id).status == "interrupted"


@pytest.mark.parametrize("committed", [False, True], ids=["before", "after"])
def test_ctrl_c_while_recording_success_leaves_one_ending(
    store, monkeypatch: pytest.MonkeyPatch, committed: bool
) -> None:
    import workbench.jobs.lifecycle as lifecycle

    real, calls = lifecycle._finish, []

    def interrupted_finish(*args, **kwargs) -> None:
        calls.append(args[3])
        if len(calls) == 1 and committed:
            real(*args, **kwargs)
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C just before, or just after, the commit
        real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "_finish", interrupted_finish)
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
            run.record(iterations=3)
    shown = show_run(store, run.id)
    assert calls == ["succeeded", "interrupted"]
    if committed:  # the results had landed: they stay, with their status
        assert (shown.status, shown.details["iterations"], run.status) == (
            "succeeded",
            3,
            "succeeded",
        )
    else:
        assert (shown.status, shown.details["iterations"]) == ("interrupted", None)


def test_ctrl_c_as_the_run_is_created_ends_it(store, monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import contextmanager

    real_write, writes = store.write, []

    @contextmanager
    def write():
        writes.append(1)
        with real_write() as session:
            yield session
        if len(writes) == 1:
            raise KeyboardInterrupt  # the run's row is committed; the job never starts

    monkeypatch.setattr(store, "write", write)
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(store, project="default", kind="bench", runtime="cpu"):
            pytest.fail("the body ran")
    with store.read() as s:
        assert [r.status for r in s.query(Run)] == ["interrupted"]


def test_unknown_fields_fail_fast(store) -> None:
    with pytest.raises(TypeError, match="no field"):
        with tracked_run(store, project="default", kind="bench", runtime="cpu", nonsense=1):
            pass
    with store.read() as s:
        assert s.query(Run).count() == 0  # refused before any row was written
    with pytest.raises(TypeError, match="latency"):
        with tracked_run(store, project="default", kind="quantize") as run:
            run.record(latency_mean_ms=1.0)  # a bench field on a quantize run
    assert show_run(store, run.id).status == "failed"


def test_results_that_cannot_be_written_fail_the_run(store) -> None:
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver says
        with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
            run.record(init_breakdown={"phase": object()})  # not JSON
    shown = show_run(store, run.id)
    assert shown.status == "failed" and "recording the results failed" in shown.error


_LAYER = {"layer_index": 0, "layer_name": "c0", "op_type": "Conv", "scale": 0.1}


def _boom() -> None:
    raise ZeroDivisionError("boom")


def _bad_input() -> None:
    raise BadInput("a user error")


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def _exit() -> None:
    raise SystemExit(3)


@pytest.mark.parametrize(
    ("end", "stop", "status"),
    [
        (_boom, ZeroDivisionError, "failed"),
        (_bad_input, BadInput, "failed"),
        (_ctrl_c, KeyboardInterrupt, "interrupted"),
        (_exit, SystemExit, "interrupted"),
    ],
    ids=["exception", "user-error", "ctrl-c", "exit"],
)
def test_failed_and_interrupted_runs_keep_no_layer_rows(store, end, stop, status) -> None:
    # Per-layer stats are results: only a run that succeeded keeps them (a failed
    # quantization's half-computed table would read as the model's).
    with pytest.raises(stop):
        with tracked_run(store, project="default", kind="quantize") as run:
            run.add_layer_stats([_LAYER, {**_LAYER, "layer_index": 1, "layer_name": "c1"}])
            run.log("half way")
            end()
    shown = show_run(store, run.id)
    assert (shown.status, tuple(shown.layers), shown.log) == (status, (), "half way")
    with store.read() as s:
        assert s.query(LayerStat).count() == 0
    # The same rows on a run that succeeds are kept (the check above is not vacuous).
    with tracked_run(store, project="default", kind="quantize") as ok:
        ok.add_layer_stats([_LAYER])
    assert [row["layer_name"] for row in show_run(store, ok.id).layers] == ["c0"]


def test_a_run_whose_results_fail_to_record_keeps_no_layer_rows(store) -> None:
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver says
        with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
            run.add_layer_stats([_LAYER])
            run.record(init_breakdown={"phase": object()})  # not JSON: the write fails
    shown = show_run(store, run.id)
    assert (shown.status, tuple(shown.layers)) == ("failed", ())


def test_unknown_or_archived_projects_are_refused(store) -> None:
    with pytest.raises(Exception, match="no project named 'nope'"):
        with tracked_run(store, project="nope", kind="bench", runtime="cpu"):
            pass
    create_project(store, "old")
    set_archived(store, "old")
    with pytest.raises(BadInput, match="archived"):
        with tracked_run(store, project="old", kind="bench", runtime="cpu"):
            pass


def _insert_running(store, *, host: str, pid: int, started: float | None) -> int:
    with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
        pass
    with store.write() as s:
        row = s.get(Run, run.id)
        row.status, row.host, row.pid, row.pid_started_at = "running", host, pid, started
        row.finished_at = None
    return run.id


def test_recovery_tells_live_owners_from_dead_or_reused_pids(store) -> None:
    me = current_process()
    live = _insert_running(store, host=me.host, pid=me.pid, started=me.started_at)
    reused = _insert_running(store, host=me.host, pid=me.pid, started=me.started_at - 3600)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = _insert_running(store, host=me.host, pid=gone.pid, started=None)
    elsewhere = _insert_running(store, host="another-host", pid=1, started=None)

    assert sorted(recover_orphaned_runs(store)) == sorted([reused, dead])
    assert show_run(store, live).status == "running"
    assert show_run(store, elsewhere).status == "running"
    assert show_run(store, dead).status == "interrupted"
    assert "ended without finishing" in show_run(store, reused).error


_KILLED_JOB = """
import sys, time
from workbench.store import open_store
from workbench.jobs.lifecycle import tracked_run
store = open_store(sys.argv[1])
with tracked_run(store, project="default", kind="quantize", param_quantizer="tf") as run:
    run.record(sqnr_db=1.0)
    print(run.id, flush=True)
    time.sleep(120)
"""


def test_a_job_killed_with_sigkill_is_interrupted_at_next_open(store, store_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_JOB, store_url], stdout=subprocess.PIPE, text=True
    )
    try:
        run_id = int(proc.stdout.readline())
        assert show_run(store, run_id).status == "running"
        open_store(store_url).close()  # its owner is alive: the sweep leaves it alone
        assert show_run(store, run_id).status == "running"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    open_store(store_url).close()
    shown = show_run(store, run_id)
    assert shown.status == "interrupted"
    assert shown.sqnr_db is None  # no half-written results
    assert shown.finished_at is not None


def test_sigterm_through_the_cli_entry_point_interrupts(
    store, store_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, time\n"
        "from workbench.jobs.interrupts import catch_interrupts\n"
        "catch_interrupts()\n" + _KILLED_JOB.replace("import sys, time\n", "")
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), store_url], stdout=subprocess.PIPE, text=True
    )
    run_id = int(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    # Recorded by the job itself on its way out, not by a later sweep.
    assert show_run(store, run_id).status == "interrupted"
    assert "asked to stop" in show_run(store, run_id).error


def test_a_run_records_who_what_and_when(store) -> None:
    import time

    from tests.tui.seed import seed_store
    from workbench.store import Project

    seeded = seed_store(store)
    model_id = seeded.models["resnet18"]
    container_id = seeded.containers["resnet18"]
    before = time.time()
    with tracked_run(store, project="default", kind="bench", model_id=model_id,
                     container_id=container_id, runtime="dsp") as run:  # fmt: skip
        assert run.project == "default" and run.kind == "bench"
        run.log("first\n")
        run.log("\nsecond")
    with store.read() as s:
        row = s.get(Run, run.id)
        project = s.get(Project, row.project_id)
        me = current_process()
        assert (row.model_id, row.container_id) == (model_id, container_id)
        assert row.status == "succeeded" and row.pid_started_at == me.started_at
        started = row.started_at.timestamp()
        assert before - 1 <= started <= time.time() + 1
        assert project.last_used_at == row.started_at  # the TUI opens the project used last
        assert 0 <= row.duration_s <= time.time() - before + 1
        assert row.log == "first\n\nsecond"  # lines joined by newlines, trailing ones cut


def test_recorded_names_are_checked_and_named(store) -> None:
    with pytest.raises(TypeError, match=r"^layer stats have no field\(s\) bogus, other$"):
        with tracked_run(store, project="default", kind="quantize") as run:
            run.add_layer_stats([{**_LAYER, "other": 1, "bogus": 2}])
    with pytest.raises(TypeError, match=r"^bench runs have no field\(s\) a, run_id$"):
        with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
            run.record(run_id=3, a=1)  # the detail table's key is not a result
    with pytest.raises(TypeError, match="run_id"):
        with tracked_run(store, project="default", kind="bench", run_id=1):
            pass


@pytest.mark.parametrize(
    ("stop", "error"),
    [
        (KeyboardInterrupt(), "interrupted by the user"),
        (SystemExit(1), "interrupted: the process was asked to stop"),
        (ZeroDivisionError(), "ZeroDivisionError"),  # no message: the type alone
        (ValueError("bad"), "ValueError: bad"),
    ],
)
def test_how_an_ending_reads(store, stop, error) -> None:
    with pytest.raises(type(stop)):
        with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
            raise stop
    assert show_run(store, run.id).error == error == run.error


def test_a_failure_whose_results_cannot_be_written_still_ends_the_run(store) -> None:
    # The job fails, and what it recorded breaks the write too: the run still ends,
    # failed with the job's own error, without the unwritable values.
    with pytest.raises(ZeroDivisionError):
        with tracked_run(store, project="default", kind="quantize") as run:
            run.record(notes=object())  # a column of runs: written even on failure
            run.add_layer_stats([_LAYER])
            1 / 0  # noqa: B018
    shown = show_run(store, run.id)
    assert (shown.status, shown.error, run.status) == (
        "failed",
        "ZeroDivisionError: division by zero",
        "failed",
    )
    assert tuple(shown.layers) == () and not shown.notes
