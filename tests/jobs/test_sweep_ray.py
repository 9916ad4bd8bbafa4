"""The Ray executor on a local Ray of two CPUs: the same 12 cells as the local pool, files
through Ray's object store, runs written by the driver; a worker killed mid-sweep costs
its task one retry and nothing else. Skipped without Ray (pip install -e '.[ray]')."""

from __future__ import annotations

import os
import signal
import threading

import psutil
import pytest
from sqlalchemy import func, select

from tests.jobs.sweepspec import write_zoo
from workbench.engine.container import read_manifest
from workbench.jobs.sweep import SweepRequest, sweep_job
from workbench.store import Run

ray = pytest.importorskip("ray")


@pytest.fixture
def local_ray():
    import logging

    from workbench.jobs.sweep.ray_executor import QUIET_RAY

    for key, value in QUIET_RAY.items():
        os.environ.setdefault(key, value)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    yield
    ray.shutdown()


def _task_process() -> psutil.Process | None:
    """A Ray worker of this test's Ray executing a task."""
    for process in psutil.Process().children(recursive=True):
        try:
            if process.cmdline()[:1] == ["ray::run_remote"]:
                return process
        except psutil.Error:
            continue
    return None


def test_ray_sweep_survives_a_killed_worker(store, tmp_path, local_ray):
    spec = write_zoo(tmp_path)
    killed: list[int] = []

    def kill_one(p):
        if p.done >= 1 and not killed and (victim := _task_process()) is not None:
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    request = SweepRequest(spec, {"executor": "ray", "jobs": 2})
    result = sweep_job(store, "default", request, progress=kill_one)
    assert killed, "no Ray task was running to kill"
    assert (result.status, result.ran, result.counts["succeeded"]) == ("succeeded", 12, 12)
    assert result.executor == "ray" and {c.host for c in result.cells} == {os.uname().nodename}
    with store.read() as session:
        kinds = dict(session.execute(select(Run.kind, func.count()).group_by(Run.kind)).all())
        statuses = set(session.scalars(select(Run.status)))
    assert kinds == {"quantize": 6, "bench": 12} and statuses == {"succeeded"}
    assert all(c.metric_value is not None for c in result.cells)
    # The files came back to the work folder, naming the driver's files, not the worker's.
    quantized = sorted(spec.parent.glob("zoo-sweep/*/q-*.dlc"))
    assert len(quantized) == 6
    manifest = read_manifest(quantized[0])
    assert manifest["quantizer"]["source_container"].startswith(str(tmp_path))
    assert manifest["converter"]["source"].startswith(str(tmp_path))

    again = sweep_job(store, "default", request)
    assert (again.ran, again.skipped) == (0, 12)


def test_a_cell_whose_ray_worker_dies_twice_fails_with_the_reason(store, tmp_path, local_ray):
    """One task at a time: once a cell is done the next task is the second runtime's
    bench of that setting; its worker is killed, and then the worker of Ray's retry."""
    spec = write_zoo(tmp_path, settings='["tf"]')  # 2 models x 1 setting x 2 runtimes
    spec.write_text(spec.read_text().replace("iterations = 1", "iterations = 5"))
    armed, stop = threading.Event(), threading.Event()
    killed: list[int] = []

    def killer() -> None:
        while not stop.wait(0.01) and len(killed) < 2:
            victim = _task_process() if armed.is_set() else None
            if victim is not None and victim.pid not in killed:
                try:
                    os.kill(victim.pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append(victim.pid)

    def arm(p):
        if p.done >= 1:
            armed.set()

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        request = SweepRequest(spec, {"executor": "ray", "jobs": 1})
        result = sweep_job(store, "default", request, progress=arm)
    finally:
        stop.set()
        thread.join()
    assert len(killed) == 2, "the task and its retry were not both running to kill"
    failed = [c for c in result.cells if c.status == "failed"]
    assert [c.status for c in result.cells].count("succeeded") == 3 and len(failed) == 1
    assert failed[0].error.startswith("its Ray worker died twice (tried again once): ")
    assert result.status == "failed"
    with store.read() as session:
        benches = session.scalar(select(func.count()).select_from(Run).where(Run.kind == "bench"))
        statuses = set(session.scalars(select(Run.status)))
    assert benches == 3 and statuses == {"succeeded"}  # the dead tasks sent back no runs

    again = sweep_job(store, "default", request)  # the failed cell runs again, alone
    assert (again.ran, again.skipped, again.counts["succeeded"]) == (1, 3, 4)
