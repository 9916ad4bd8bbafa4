"""The running jobs, one line each: what, which stage, a progress bar.

Hidden when nothing runs. Updated by the app's ``jobs`` signal, which fires a
few times a second at most while a job runs, and not at all otherwise.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from workbench.tui.job_runner import JobChanged, JobState


class JobLine(Horizontal):
    DEFAULT_CSS = """
    JobLine { height: 1; }
    JobLine > Label { width: 1fr; padding: 0 1; }
    JobLine > ProgressBar { width: 36; }
    """

    def __init__(self, job: JobState) -> None:
        super().__init__(id=f"job-{job.id}")
        self.job = job
        # Made here, not in compose: an update may come before the line is mounted.
        self.label = Label(self._text())
        self.bar = ProgressBar(total=1, show_eta=False)

    def compose(self) -> ComposeResult:
        yield self.label
        yield self.bar

    def _text(self) -> str:
        job = self.job
        count = f" {job.done}/{job.total}" if job.total else ""
        return f"{job.title} · {job.stage}{count}"

    def update_job(self) -> None:
        self.label.update(self._text())
        self.bar.update(total=max(self.job.total, 1), progress=self.job.done)


class JobPanel(Vertical):
    DEFAULT_CSS = "JobPanel { height: auto; max-height: 5; dock: bottom; display: none; }"

    def on_mount(self) -> None:
        self.app.job_signal.subscribe(self, self._on_job)  # type: ignore[attr-defined]
        for job in self.app.jobs.running:  # type: ignore[attr-defined]
            self._on_job(JobChanged(job))

    def _on_job(self, message: JobChanged) -> None:
        job = message.job
        lines = {line.job.id: line for line in self.query(JobLine)}
        line = lines.get(job.id)
        if job.running:
            if line is None:
                self.mount(JobLine(job))
            else:
                line.update_job()
        elif line is not None:
            line.remove()
            del lines[job.id]
        self.display = any(j.running for j in self.app.jobs.jobs)  # type: ignore[attr-defined]
