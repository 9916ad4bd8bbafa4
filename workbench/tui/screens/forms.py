"""What every job form shares: layout, submit and cancel, launching and cancelling jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from workbench.errors import WorkbenchError
from workbench.tui.job_requests import job_title, run_request
from workbench.tui.job_runner import JobChanged, JobState
from workbench.tui.widgets.option_form import form_row

__all__ = ["JobForm", "ask_cancel", "form_row", "launch"]

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp


class JobForm(ModalScreen[Any]):
    """A modal form; ``ctrl+s`` (or the Start button) validates and returns a request."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "submit", "Start"),
    ]
    form_title = "Job"

    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project

    @property
    def wb(self) -> WorkbenchApp:
        return self.app  # type: ignore[return-value]

    def fields(self) -> ComposeResult:  # pragma: no cover - every form overrides it
        yield from ()

    def build(self) -> Any:
        """The request from the fields; ``BadInput`` says what is wrong."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form"):
            yield Label(f"{self.form_title} · project {self.project}", classes="dialog-title")
            with VerticalScroll():
                yield from self.fields()
            yield Static("", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start (ctrl+s)", id="start", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_resize(self, event: events.Resize) -> None:
        # The fields scroll; the title, the error line and the buttons always show.
        self.query_one(VerticalScroll).styles.max_height = max(4, event.size.height - 8)

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False
            field.select_on_focus = False  # the cursor goes to the end; nothing is selected
        inputs = self.query(Input)
        if inputs:
            inputs.first().focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        try:
            request = self.build()
            request.command_line(self.project)  # validates the options once more
        except WorkbenchError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(request)

    def show_error(self, message: str) -> None:
        self.query_one(".error", Static).update(message)
        self.notify(message, severity="error", title="cannot start")


def launch(app: WorkbenchApp, project: str, request: Any) -> JobState | None:
    """Start a form's request as a background job (``None``: the form was cancelled)."""
    if request is None:
        return None
    title = job_title(request)
    job = JobState(
        title=title,
        kind=request.kind,
        project=project,
        cancellable=request.kind != "convert",
    )
    app.jobs.start(job, lambda progress: run_request(request, app.store, project, progress))
    hint = " (x cancels)" if job.cancellable else ""
    app.notify(f"started: {title}{hint}", timeout=4)
    return job


def ask_cancel(app: WorkbenchApp) -> None:
    """Cancel a running job, after asking which (when several) and whether."""
    from workbench.tui.screens.choice import ChoiceScreen
    from workbench.tui.screens.confirm import ConfirmScreen

    running = app.jobs.running
    if not running:
        app.notify("no job is running")
        return

    def confirm(job: JobState | None) -> None:
        if job is None:
            return
        if not job.cancellable:
            app.notify(f"{job.title} cannot be cancelled; it stops on its own", severity="warning")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                job.cancel()
                app.job_signal.publish(JobChanged(job))

        app.push_screen(
            ConfirmScreen(
                f"Cancel {job.title}?",
                "The job stops at its next step; its run is recorded as interrupted.",
                yes="Cancel job",
            ),
            answer,
        )

    if len(running) == 1:
        confirm(running[0])
    else:
        app.push_screen(
            ChoiceScreen("Cancel which job?", [(f"{j.title} · {j.stage}", j) for j in running]),
            confirm,
        )
