"""What the quantization and benchmark run screens share: loading, annotating, keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import Static

from workbench.errors import WorkbenchError
from workbench.jobs import runs as run_jobs
from workbench.jobs.browse import RunView, run_view
from workbench.tui import format as fmt
from workbench.tui import keys
from workbench.tui.screens.loading import LoadingScreen

if TYPE_CHECKING:
    pass


class RunScreen(LoadingScreen[RunView]):
    """A run's detail; subclasses fill the tabs in ``show``."""

    BINDINGS = [
        keys.HELP,
        keys.BACK,
        Binding("asterisk", "star", "Star"),
        Binding("t", "tag", "Tag"),
        Binding("n", "note", "Note"),
        Binding("b", "baseline", "Baseline", show=False),
        Binding("ctrl+r", "reload", "Reload", show=False),
    ]

    def __init__(self, project: str, run_id: int) -> None:
        super().__init__()
        self.project = project
        self.run_id = run_id
        self.view: RunView | None = None
        self.help_title = f"run {run_id}"

    def subtitle(self) -> str:
        return f"project {self.project} · run {self.run_id}"

    def fetch(self) -> RunView:
        return run_view(self.wb.store, self.run_id)

    def show_view(self, view: RunView) -> None:
        self.view = view
        self.show(view)

    def show(self, view: RunView) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def title_line(self, view: RunView, what: str) -> Text:
        d = view.detail
        text = Text(f"{what} run {d.id} ", style="bold")
        text.append_text(fmt.status(d.status))
        text.append(f" · {fmt.safe(d.model or 'no model')}")
        if d.starred:
            text.append(" ★", style="bold yellow")
        if d.baseline:
            text.append(" ◆ baseline", style="bold cyan")
        if d.tags:
            text.append(fmt.safe(" · " + " ".join(f"#{t}" for t in d.tags)), style="magenta")
        return text

    def set_title_line(self, text: Text) -> None:
        self.query_one(".title-line", Static).update(text)

    def action_reload(self) -> None:
        self.load()

    # -- annotating ---------------------------------------------------------------------

    @work(thread=True, group="write", exit_on_error=False)
    def _annotate(self, change: Callable[[], Any], message: str) -> None:
        try:
            change()
        except WorkbenchError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.notify, message)
        self.app.call_from_thread(self.load)

    def action_star(self) -> None:
        if self.view is not None:
            starred = not self.view.detail.starred
            self._annotate(lambda: run_jobs.set_starred(self.wb.store, self.run_id, starred),
                           f"run {self.run_id} {'starred' if starred else 'unstarred'}")  # fmt: skip

    def action_baseline(self) -> None:
        if self.view is not None:
            on = not self.view.detail.baseline
            self._annotate(lambda: run_jobs.set_baseline(self.wb.store, self.run_id, on),
                           f"run {self.run_id} " + ("is the baseline" if on else "is no longer the baseline"))  # fmt: skip

    def action_tag(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        if self.view is None:
            return

        def done(values: list[str] | None) -> None:
            if not values:
                return
            words = values[0].split()
            add = [w.lstrip("+") for w in words if not w.startswith("-")]
            remove = [w[1:] for w in words if w.startswith("-") and len(w) > 1]

            def change() -> None:
                if remove:
                    run_jobs.untag_run(self.wb.store, self.run_id, remove)
                if add:
                    run_jobs.tag_run(self.wb.store, self.run_id, add)

            self._annotate(change, f"run {self.run_id}: tags updated")

        current = " ".join(self.view.detail.tags) or "none"
        self.app.push_screen(PromptScreen(f"Tags of run {self.run_id} (now: {current})",
                                          [("Tags to add; -tag removes one", "")]), done)  # fmt: skip

    def action_note(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        if self.view is None:
            return

        def done(values: list[str] | None) -> None:
            if values is not None:
                self._annotate(lambda: run_jobs.set_note(self.wb.store, self.run_id, values[0]),
                               f"run {self.run_id}: note saved")  # fmt: skip

        self.app.push_screen(
            PromptScreen(f"Note of run {self.run_id}", [("Note", self.view.detail.notes)]), done
        )
