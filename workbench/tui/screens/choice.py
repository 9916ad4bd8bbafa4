"""Pick one of a few options from a list (sort column, a job to cancel, a baseline)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ChoiceScreen(ModalScreen[Any]):
    """Enter picks the highlighted option; Escape picks nothing (``None``)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, Any]], *, current: Any = None):
        super().__init__()
        self.title_text = title
        self.options = options
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(
                *(Option(label, id=str(i)) for i, (label, _) in enumerate(self.options))
            )

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        values = [value for _, value in self.options]
        if self.current in values:
            option_list.highlighted = values.index(self.current)
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.options[int(event.option.id or 0)][1])
