"""Engine jobs (convert, quantize, bench) run from the TUI in thread workers.

A ``JobState`` is what the UI shows of one job: stage, progress, outcome. The
job's progress callback runs on the worker thread; it raises ``JobCancelled``
once the user asked to cancel, which unwinds the job through
``tracked_run``. ``JobCancelled`` is a ``KeyboardInterrupt``, so the run is
recorded ``interrupted`` (never left ``running``), exactly as Ctrl-C in the
CLI. Progress reaches the UI as messages, at most ``UPDATES_PER_S`` per
second per job: enough for a bar, little for a slow SSH link.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from workbench.errors import WorkbenchError
from workbench.jobs.lifecycle import error_text

if TYPE_CHECKING:
    from textual.app import App

UPDATES_PER_S = 8
_ids = itertools.count(1)


class JobCancelled(KeyboardInterrupt):
    """The user cancelled the job: the run ends ``interrupted``."""


Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class JobOutcome:
    """What a job that succeeded says, and which of the project's tables now hold new
    rows: the project screen reloads exactly those (named as in its ``TABS``).
    A job that failed or was cancelled has no outcome: the screen reloads every table."""

    message: str
    refresh: tuple[str, ...] = ()  # "models", "quantize", "bench", "experiments"
    run_ids: tuple[int, ...] = ()
    payload: Any = None  # the job's own result, for a screen to show (the advice)


@dataclass
class JobState:
    title: str
    kind: str  # convert, quantize, bench, advise
    project: str
    cancellable: bool = True
    id: int = field(default_factory=lambda: next(_ids))
    stage: str = "starting"
    done: int = 0
    total: int = 0
    status: str = "running"  # running, succeeded, failed, cancelled
    message: str = ""
    outcome: JobOutcome | None = None
    started: float = field(default_factory=time.monotonic)
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None

    def cancel(self) -> None:
        self.cancel_event.set()
        if self.running:
            self.stage = "cancelling"


class JobChanged(Message):
    """A job made progress or finished (posted from the worker thread)."""

    def __init__(self, job: JobState, *, final: bool = False) -> None:
        super().__init__()
        self.job = job
        self.final = final  # the job has just ended (posted exactly once per job)


class JobRunner:
    """Starts jobs in the app's thread workers and keeps their states."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.jobs: list[JobState] = []

    @property
    def running(self) -> list[JobState]:
        return [j for j in self.jobs if j.running]

    def start(self, job: JobState, body: Callable[[Progress], JobOutcome]) -> JobState:
        """Run ``body(progress)`` in a thread worker; the state is updated as it goes."""
        self.jobs.append(job)
        self.app.run_worker(
            lambda: self._run(job, body),
            name=f"job-{job.id}",
            group="jobs",
            thread=True,
            exit_on_error=False,
        )
        self.app.post_message(JobChanged(job))
        return job

    def _run(self, job: JobState, body: Callable[[Progress], JobOutcome]) -> None:
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            if job.cancel_event.is_set():
                raise JobCancelled()
            changed_stage = stage != job.stage
            job.stage, job.done, job.total = stage, done, total
            now = time.monotonic()
            if changed_stage or done >= total or now - last[0] >= 1 / UPDATES_PER_S:
                last[0] = now
                self.app.post_message(JobChanged(job))

        try:
            if job.cancel_event.is_set():
                raise JobCancelled()
            outcome = body(progress)
        except JobCancelled:
            job.status, job.message = "cancelled", f"{job.title}: cancelled"
        except WorkbenchError as exc:
            job.status, job.message = "failed", f"{job.title}: {exc}"
        except Exception as exc:  # an engine bug must not take the UI down
            job.status, job.message = "failed", f"{job.title}: {error_text(exc)}"
        else:
            job.status, job.message, job.outcome = "succeeded", outcome.message, outcome
        job.message = " ".join(job.message.split())  # one line
        self.app.post_message(JobChanged(job, final=True))
