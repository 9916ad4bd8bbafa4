"""Ctrl-C on a local sweep: the running cells end ``interrupted``, nothing is half-recorded,
and the same command again runs only the cells not done.

The real ``workbench sweep`` runs as a child with two workers; once some cells are done
its process group gets SIGINT (as a terminal's Ctrl-C reaches every process of the
foreground job: the driver and its workers).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from sqlalchemy import func, select

from tests.jobs.sweepspec import write_zoo
from workbench.store import Run, Sweep, SweepCell

from .jobproc import child, finish, integrity, kill_group, quiet_env, wait_for, workbench


def _cells(store) -> dict[str, int]:
    with store.read() as session:
        return dict(
            session.execute(select(SweepCell.status, func.count()).group_by(SweepCell.status)).all()
        )


def test_ctrl_c_interrupts_the_running_cells_and_a_rerun_runs_the_rest(store, store_url, tmp_path):
    spec = write_zoo(tmp_path)
    argv = workbench(store_url, "sweep", str(spec), "--jobs", "2")
    with child(argv) as proc:
        wait_for("two cells done", lambda: _cells(store).get("succeeded", 0) >= 2 or None,
                 proc=proc, timeout=120, interval=0.05)  # fmt: skip
        kill_group(proc, signal.SIGINT)
        code, _, err = finish(proc, 60)
    assert code == 130, err
    assert "interrupted" in err
    counts = _cells(store)
    done = counts.get("succeeded", 0)
    assert 2 <= done < 12 and counts.get("interrupted", 0) >= 1
    assert "running" not in counts  # every cell that had started ended
    with store.read() as session:
        assert session.scalar(select(Sweep.status)) == "interrupted"
        assert not session.scalars(select(Run).where(Run.status == "running")).all()
        benches = session.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.kind == "bench", Run.status == "succeeded")
        )
    # A bench run per done cell, none lost. A worker may finish its bench in the moment
    # the driver stops (the run succeeded, the cell is recorded interrupted and runs again
    # on resume): at most one such run per interrupted cell.
    assert done <= benches <= done + counts.get("interrupted", 0)
    if store_url.startswith("sqlite"):
        assert integrity(Path(store_url.removeprefix("sqlite:///"))) == ["ok"]

    rerun = subprocess.run(
        [*workbench(store_url, "--json", "sweep", str(spec), "--jobs", "2")],
        capture_output=True, text=True, env=quiet_env(), timeout=300,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert (result["skipped"], result["ran"]) == (done, 12 - done)
    assert result["counts"]["succeeded"] == 12 and result["status"] == "succeeded"
    assert sum(c["skipped"] for c in result["cells"]) == done
