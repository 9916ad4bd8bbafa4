"""The Textual app: the store and project in use, the screen stack, global keys.

Kept thin: screens live in ``screens/``, widgets in ``widgets/``, data comes
from ``workbench.jobs`` (in thread workers), engine jobs go through
``job_runner``. Every binding of the current screen is also a command in the
palette (Ctrl+P), so nothing needs the mouse or a memorised key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from rich.segment import Segment
from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.color import Color
from textual.filter import LineFilter
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from workbench.store import Store
from workbench.textsafe import has_control, shorten, strip_control, visible
from workbench.tui.job_runner import JobChanged, JobRunner
from workbench.tui.keys import our_bindings

LIGHT, DARK = "textual-light", "textual-dark"


class ControlFilter(LineFilter):
    """The last line of defence: no control character from data reaches the terminal.

    Views show them escaped (``workbench.textsafe.visible``); anything a view missed is
    dropped here, from every line the app draws. Control characters take no cells, so
    dropping them leaves the layout as it was.
    """

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(has_control(s.text) for s in segments if not s.control):
            return segments
        return [
            s if s.control else Segment(strip_control(s.text), s.style, s.control) for s in segments
        ]


class WorkbenchApp(App[None]):
    TITLE = "Quantization Workbench"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
        Binding("q", "quit", "Quit", show=False),
    ]

    def __init__(self, store: Store, project: str | None = "default") -> None:
        """Open on ``project``'s screen (over the project list), or on the list if None."""
        super().__init__()
        self.store = store
        self.start_project = project
        self.jobs = JobRunner(self)
        self.job_signal: Signal[JobChanged] = Signal(self, "jobs")
        self.animation_level = "none"  # over SSH, every frame costs
        self._control_filter = ControlFilter()

    def get_line_filters(self) -> Sequence[LineFilter]:
        return [*super().get_line_filters(), self._control_filter]

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        """A notification; its text (often an error quoting a name) is never markup and
        shows control characters escaped."""
        kwargs["markup"] = False
        super().notify(visible(shorten(str(message), 500)), **kwargs)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker that fails says so: a table never silently keeps its old rows."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self.notify(f"internal error: {detail}", title="failed", severity="error", timeout=12)

    def on_mount(self) -> None:
        from workbench.tui.screens.project import ProjectScreen
        from workbench.tui.screens.projects import ProjectsScreen

        self.theme = DARK
        self._warm_up()
        # The project list is made when first needed: less to draw before the runs.
        if self.start_project is not None:
            self.push_screen(ProjectScreen(self.start_project))
        else:
            self.push_screen(ProjectsScreen())

    @work(thread=True, exit_on_error=False)
    def _warm_up(self) -> None:
        """Import the job forms (and the engine behind them: onnx, numpy) in the
        background, so that `Q`, `B`, `A` and `i` open at once, not after seconds."""
        import importlib

        for module in ("bench_form", "quantize_form", "advise_form", "convert_form"):
            importlib.import_module(f"workbench.tui.screens.{module}")

    # -- jobs ---------------------------------------------------------------------------

    def on_job_changed(self, message: JobChanged) -> None:
        job = message.job
        if not message.final:
            pass
        elif job.status == "succeeded":
            self.notify(job.message, title="job finished", timeout=8)
        elif job.status == "failed":
            self.notify(job.message, title="job failed", severity="error", timeout=12)
        elif job.status == "cancelled":
            self.notify(job.message, title="job cancelled", severity="warning", timeout=8)
        self.job_signal.publish(message)

    async def action_quit(self) -> None:
        """Quit; running jobs are cancelled first (their runs end ``interrupted``)."""
        running = self.jobs.running
        if not running:
            self.exit()
            return
        from workbench.tui.screens.confirm import ConfirmScreen

        def answer(yes: bool | None) -> None:
            if yes:
                for job in self.jobs.running:
                    job.cancel()
                self.exit()

        self.push_screen(
            ConfirmScreen(
                f"Quit while {len(running)} job(s) run?",
                "They are cancelled and their runs recorded as interrupted.",
                yes="Quit",
            ),
            answer,
        )

    # -- help, palette, theme -----------------------------------------------------------

    def action_help(self) -> None:
        from workbench.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen.for_screen(self.screen))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Light/dark theme", "Switch between the light and dark themes (ctrl+t)",
                            self.action_toggle_theme)  # fmt: skip
        skip = {"help", "app.help", "toggle_theme", "quit"}
        for key, binding, node in our_bindings(screen, navigation=False):
            if binding.action not in skip:
                yield SystemCommand(
                    binding.description,
                    f"key: {key}",
                    partial(self._run_binding, binding.action, node),
                )

    async def _run_binding(self, action: str, node: Any) -> None:
        await self.run_action(action, node)

    def on_delivery_complete(self, event: events.DeliveryComplete) -> None:
        self.notify(f"saved {event.path}", title="export")

    def on_delivery_failed(self, event: events.DeliveryFailed) -> None:
        self.notify(f"could not save: {event.exception}", title="export", severity="error")
