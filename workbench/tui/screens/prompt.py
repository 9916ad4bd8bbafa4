"""Ask for one or a few lines of text (a name, tags, a note)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class PromptScreen(ModalScreen[list[str] | None]):
    """One input per field; Enter on the last one submits, Escape cancels (``None``)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self,
        title: str,
        fields: list[tuple[str, str]],
        *,
        help_text: str = "",
    ) -> None:
        """``fields``: (label, initial value) pairs."""
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.help_text = help_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            for index, (label, value) in enumerate(self.fields):
                yield Label(label)
                yield Input(value=value, id=f"field-{index}")
            if self.help_text:
                yield Static(self.help_text, classes="dialog-help", markup=False)
            yield Static("Enter: next / OK · Escape: cancel", classes="dialog-help")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False
        self.query_one("#field-0", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.dismiss([i.value for i in inputs])
