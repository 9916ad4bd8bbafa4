"""The life of a run: ``running`` before any work, then exactly one ending.

A job wraps its work in ``tracked_run``::

    with tracked_run(store, project="default", kind=BENCH, runtime=DSP) as run:
        result = measure(...)                      # the engine's work
        run.record(init_time_ms=result.init_ms, sqnr_db=result.sqnr_db)
        run.log("measured 50 iterations")
    print(run.id, run.status)

The row is committed as ``running`` (with host, pid and the pid's start time)
before the body runs. When the body returns, the results attached to the
recorder are written with status ``succeeded`` in one transaction; an
exception writes ``failed`` with its message, Ctrl-C (or SystemExit) writes
``interrupted``, keeping the log and run-level fields (peak memory...) but
not the results; the exception then propagates. A signal that Python could not
raise where it landed (``workbench.jobs.interrupts``) is raised as the run
starts, at each ``record``/``log``/``add_layer_stats`` and before success is
recorded. A process killed outright is swept to ``interrupted`` by the next
``open_store()``. Either way nothing is half-written: results land together
with the final status, or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import BadInput, WorkbenchError
from workbench.jobs.interrupts import checkpoint
from workbench.jobs.runs import check_tag
from workbench.store import DETAIL_TABLES, LayerStat, Run, RunTag, Store, utcnow
from workbench.store.queries import find_run, get_project
from workbench.store.recovery import current_process
from workbench.vocabulary import FAILED, INTERRUPTED, RUNNING, SUCCEEDED

# Columns of ``runs`` a job may set; the rest belong to the lifecycle.
_RUN_FIELDS = frozenset({"model_id", "container_id", "peak_memory_bytes", "command", "notes"})
_LAYER_FIELDS = frozenset(
    c.key for c in LayerStat.__table__.columns if c.key not in {"id", "run_id"}
)


def _detail_fields(kind: str) -> frozenset[str]:
    table = DETAIL_TABLES[kind].__table__
    return frozenset(c.key for c in table.columns if c.key != "run_id")


@dataclass
class RunRecorder:
    """What ``tracked_run`` yields: the run's id, and a place to attach results."""

    id: int
    kind: str
    project: str
    status: str = RUNNING
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    layer_stats: list[dict[str, Any]] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)

    def record(self, **values: Any) -> None:
        """Attach results: columns of the run's detail table or of ``runs``.

        Unknown names are a programming error and raise ``TypeError`` at once,
        not at the end of a long job.
        """
        checkpoint()
        allowed = _detail_fields(self.kind) | _RUN_FIELDS
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise TypeError(f"{self.kind} runs have no field(s) {', '.join(unknown)}")
        self.fields.update(values)

    def add_layer_stats(self, stats: Iterable[Mapping[str, Any]]) -> None:
        """Attach per-layer rows (keys: the columns of ``LayerStat``)."""
        checkpoint()
        for stat in stats:
            unknown = sorted(set(stat) - _LAYER_FIELDS)
            if unknown:
                raise TypeError(f"layer stats have no field(s) {', '.join(unknown)}")
            self.layer_stats.append(dict(stat))

    def log(self, line: str) -> None:
        """Append a line to the run's log (stored with the final status)."""
        checkpoint()
        self.log_lines.append(line.rstrip("\n"))


@contextmanager
def tracked_run(
    store: Store,
    *,
    project: str,
    kind: str,
    model_id: int | None = None,
    container_id: int | None = None,
    command: str | None = None,
    tags: Iterable[str] = (),
    **details: Any,
) -> Iterator[RunRecorder]:
    """Record the body as one run of ``kind`` in ``project`` (see module doc).

    ``details`` are columns of the kind's detail table known before the work
    starts (options, runtime, batch...); results come later via ``record``.
    """
    if kind not in DETAIL_TABLES:
        raise BadInput(f"unknown run kind {kind!r} (one of {', '.join(DETAIL_TABLES)})")
    unknown = sorted(set(details) - _detail_fields(kind))
    if unknown:
        raise TypeError(f"{kind} runs have no field(s) {', '.join(unknown)}")
    recorder = _start(store, project, kind, model_id, container_id, command, tags, details)
    started = time.monotonic()
    try:
        checkpoint()
        yield recorder
        checkpoint()  # the body's last step may have been an import that took the signal
    except (KeyboardInterrupt, SystemExit, GeneratorExit) as exc:
        _finish_quietly(store, recorder, started, INTERRUPTED, _interrupt_text(exc))
        raise
    except BaseException as exc:
        _finish_quietly(store, recorder, started, FAILED, error_text(exc))
        raise
    else:
        try:
            _finish(store, recorder, started, SUCCEEDED, None)
        except (KeyboardInterrupt, SystemExit) as exc:  # while recording: before or after it
            _finish_quietly(store, recorder, started, INTERRUPTED, _interrupt_text(exc))
            raise
        except Exception as exc:
            reason = f"recording the results failed: {error_text(exc)}"
            _finish_quietly(store, recorder, started, FAILED, reason)
            raise


def error_text(exc: BaseException) -> str:
    """How a failure reads in the store: the user's message, or type and message."""
    if isinstance(exc, WorkbenchError):
        return str(exc)
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _interrupt_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the user"
    return "interrupted: the process was asked to stop"


def _start(
    store: Store,
    project_name: str,
    kind: str,
    model_id: int | None,
    container_id: int | None,
    command: str | None,
    tags: Iterable[str],
    details: dict[str, Any],
) -> RunRecorder:
    me = current_process()
    tag_set = sorted({check_tag(t) for t in tags})
    recorder: RunRecorder | None = None
    try:
        with store.write() as session:
            project = get_project(session, project_name)
            if project.archived:
                raise BadInput(f"project {project.name!r} is archived; unarchive it to add runs")
            started = utcnow()
            project.last_used_at = started  # `workbench tui` opens the project used last
            run = Run(
                project_id=project.id,
                kind=kind,
                status=RUNNING,
                model_id=model_id,
                container_id=container_id,
                command=command,
                started_at=started,
                host=me.host,
                pid=me.pid,
                pid_started_at=me.started_at,
                tags=[RunTag(tag=t) for t in tag_set],
            )
            run.detail = DETAIL_TABLES[kind](**details)
            session.add(run)
            session.flush()
            recorder = RunRecorder(id=run.id, kind=kind, project=project.name)
    except (KeyboardInterrupt, SystemExit) as exc:
        if recorder is not None:  # the signal came as the row was committed: end it
            _finish_quietly(store, recorder, time.monotonic(), INTERRUPTED, _interrupt_text(exc))
        raise
    assert recorder is not None  # the write either ran through or raised
    return recorder


def _finish(
    store: Store, recorder: RunRecorder, started: float, status: str, error: str | None
) -> None:
    with store.write() as session:
        run = find_run(session, recorder.id)
        if run is None:  # deleted (with its project) while it ran: nothing to record
            recorder.status, recorder.error = status, error
            return
        if run.status != RUNNING:  # ended already (interrupted just after): one ending
            recorder.status, recorder.error = run.status, run.error
            return
        detail = run.detail
        for key, value in recorder.fields.items():
            # Results count only from a run that succeeded; what describes the
            # run itself (peak memory, model, notes) is kept whatever happened.
            if key in _RUN_FIELDS:
                setattr(run, key, value)
            elif status == SUCCEEDED:
                setattr(detail, key, value)
        if status == SUCCEEDED:
            run.layer_stats.extend(LayerStat(**stat) for stat in recorder.layer_stats)
        run.log = "\n".join(recorder.log_lines)
        run.status = status
        run.error = error
        run.finished_at = utcnow()
        run.duration_s = time.monotonic() - started
    recorder.status, recorder.error = status, error


def _finish_quietly(
    store: Store, recorder: RunRecorder, started: float, status: str, error: str
) -> None:
    """Record a failed ending without hiding the exception that caused it."""
    try:
        _finish(store, recorder, started, status, error)
    except Exception:
        # Results that broke the write (bad values, store gone) must not mask
        # the job's own error: try the bare status, else leave it to recovery.
        recorder.fields.clear()
        recorder.layer_stats.clear()
        try:
            _finish(store, recorder, started, status, error)
        except Exception:
            recorder.status, recorder.error = status, error
