"""Who owns a run, and the start-up sweep for runs whose owner died.

A run is written ``running`` with its host, pid and the pid's start time. A
process killed without a chance to clean up (SIGKILL, power loss) leaves it
so; the next ``open_store()`` on the same host marks it ``interrupted``. The
start time guards against a new process that happens to reuse the pid. A sweep
(``workbench sweep``) is owned by its driver the same way, and so are its cells.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil
from sqlalchemy import select, update

from workbench.store.base import utcnow
from workbench.store.models import Run, Sweep, SweepCell
from workbench.vocabulary import INTERRUPTED, RUNNING

if TYPE_CHECKING:
    from workbench.store.database import Store

# psutil derives start times from clock ticks since boot; allow for rounding.
_START_TIME_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    started_at: float | None  # epoch seconds, None when unknown


def current_process() -> ProcessIdentity:
    """This process, as recorded on the runs it owns."""
    pid = os.getpid()
    try:
        started: float | None = psutil.Process(pid).create_time()
    except psutil.Error:
        started = None
    return ProcessIdentity(host=socket.gethostname(), pid=pid, started_at=started)


def is_alive(pid: int, started_at: float | None) -> bool:
    """Whether the process that started at ``started_at`` still runs as ``pid`` here."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if started_at is None:
            return True
        return abs(process.create_time() - started_at) <= _START_TIME_TOLERANCE_S
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists; we just may not look at it
    except (ValueError, TypeError, OverflowError, psutil.Error):
        return False  # no process can have it: a pid of -1 or "x" in a tampered row


def _alive(pid: object, started_at: object) -> bool:
    """``is_alive`` for values read from the store, which a tampered row may make anything."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    if started_at is not None and not isinstance(started_at, (int, float)):
        started_at = None
    return is_alive(pid, started_at)  # type: ignore[arg-type]


def recover_orphaned_runs(store: Store) -> list[int]:
    """Mark ``running`` runs of dead processes on this host ``interrupted``; their ids."""
    host = socket.gethostname()
    with store.read() as session:
        candidates = session.execute(
            select(Run.id, Run.pid, Run.pid_started_at).where(
                Run.status == RUNNING, Run.host == host
            )
        ).all()
    dead = [run_id for run_id, pid, started in candidates if not _alive(pid, started)]
    if not dead:
        return []
    now = utcnow()
    with store.write() as session:
        session.execute(
            update(Run)
            .where(Run.id.in_(dead), Run.status == RUNNING)
            .values(
                status=INTERRUPTED,
                finished_at=now,
                error="interrupted: the process running it ended without finishing it",
            )
        )
    return dead


def recover_orphaned_sweeps(store: Store) -> list[int]:
    """Mark ``running`` sweeps of dead drivers on this host ``interrupted``, and their
    running cells; the sweeps' ids."""
    host = socket.gethostname()
    with store.read() as session:
        candidates = session.execute(
            select(Sweep.id, Sweep.pid, Sweep.pid_started_at).where(
                Sweep.status == RUNNING, Sweep.host == host
            )
        ).all()
    dead = [sweep_id for sweep_id, pid, started in candidates if not is_alive(pid, started)]
    if not dead:
        return []
    with store.write() as session:
        session.execute(
            update(Sweep)
            .where(Sweep.id.in_(dead), Sweep.status == RUNNING)
            .values(status=INTERRUPTED, finished_at=utcnow())
        )
        session.execute(
            update(SweepCell)
            .where(SweepCell.sweep_id.in_(dead), SweepCell.status == RUNNING)
            .values(status=INTERRUPTED, error=ORPHANED_CELL)
        )
    return dead


ORPHANED_CELL = "interrupted: the sweep running it ended without finishing it"
