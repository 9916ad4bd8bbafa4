"""A screen that fetches one view from the store in a thread worker, then shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar, cast

from textual import work
from textual.screen import Screen
from textual.widgets import TabbedContent

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

ViewT = TypeVar("ViewT")


class LoadingScreen(Screen[None], Generic[ViewT]):
    """Subclasses say what they fetch (``fetch``, run off the UI thread) and how it looks
    (``show_view``); a failure becomes a notification (``failed``)."""

    def subtitle(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def fetch(self) -> ViewT:  # pragma: no cover - overridden
        raise NotImplementedError

    def show_view(self, view: ViewT) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def failed(self, message: str) -> None:
        self.notify(message, severity="error")

    @property
    def wb(self) -> WorkbenchApp:
        return cast("WorkbenchApp", self.app)

    def on_mount(self) -> None:
        self.sub_title = self.subtitle()
        self.load()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self) -> None:
        try:
            view = self.fetch()
        except WorkbenchError as exc:
            self.app.call_from_thread(self.failed, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - never "loading…" forever
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.app.call_from_thread(self.failed, f"internal error: {detail}")
            return
        self.app.call_from_thread(self.show_view, view)
