"""A local sweep's worker SIGKILLed in the middle of a cell's bench (issue 19): the cell
is tried once more; killed again, it ends ``failed`` with the reason. Either way the
other cells complete, the killed runs end ``interrupted`` and nothing is left running.

The kill lands on the process that recorded the running bench run (its ``pid``), while
the run is still ``running``: the middle of the cell's work, not between tasks.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from sqlalchemy import func, select

from tests.jobs.sweepspec import write_zoo
from workbench.jobs.sweep import SweepRequest, sweep_job
from workbench.store import Run, SweepCell

POLL_S = 0.01


class _BenchKiller(threading.Thread):
    """SIGKILLs the worker of the first running bench run, then (``times`` > 1) the
    worker of each later running bench run of the same cell (the same command)."""

    def __init__(self, store, times: int):
        super().__init__(daemon=True)
        self.store, self.times = store, times
        self.killed: list[int] = []  # run ids
        self.command: str | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(POLL_S) and len(self.killed) < self.times:
            with self.store.read() as session:
                rows = session.execute(
                    select(Run.id, Run.pid, Run.command).where(
                        Run.kind == "bench", Run.status == "running"
                    )
                ).all()
            for run_id, pid, command in rows:
                if run_id in self.killed or self.command not in (None, command):
                    continue
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it ended on its own in the meantime
                self.command = command
                self.killed.append(run_id)
                break


@pytest.mark.parametrize(("times", "jobs"), [(1, 2), (2, 1)])
def test_a_worker_killed_mid_cell_costs_one_retry_then_fails_the_cell(
    store, tmp_path, times: int, jobs: int
) -> None:
    spec = write_zoo(tmp_path, settings='["tf"]')  # 2 models x 1 setting x 2 runtimes
    spec.write_text(spec.read_text().replace("iterations = 1", "iterations = 5"))
    killer = _BenchKiller(store, times)
    killer.start()
    try:
        result = sweep_job(store, "default", SweepRequest(spec, {"jobs": jobs}))
    finally:
        killer.stop.set()
        killer.join()
    assert len(killer.killed) == times, "no bench was running to kill"
    with store.read() as session:
        killed = session.execute(
            select(Run.status, Run.command).where(Run.id.in_(killer.killed))
        ).all()
        runs = dict(
            session.execute(
                select(Run.status, func.count()).where(Run.kind == "bench").group_by(Run.status)
            ).all()
        )
        cells = session.execute(select(SweepCell.status, SweepCell.error)).all()
    assert {status for status, _ in killed} == {"interrupted"}  # recovered, not running
    assert "running" not in runs
    statuses = sorted(status for status, _ in cells)
    if times == 1:  # retried: every cell done, one bench run per cell succeeded
        assert (result.status, statuses, runs.get("succeeded")) == (
            "succeeded", ["succeeded"] * 4, 4,
        )  # fmt: skip
    else:
        assert (result.status, statuses) == ("failed", ["failed"] + ["succeeded"] * 3)
        error = next(e for s, e in cells if s == "failed")
        assert error == "its worker process died (tried again once)"
        assert runs.get("succeeded") == 3 and runs.get("interrupted", 0) >= 2
