"""``?``: the keys of the screen below, with what each does, and how the screen works."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from workbench.tui.keys import our_bindings

GENERAL = """\
**Everywhere**: `?` help · `ctrl+p` command palette (every action is there too,
and *Theme* / *Light/dark theme* change the colours) · `escape` back · `q` quit.
Tables: `/` filter · `s` sort by a column (again: reverse) · `[` `]` pages.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss(None)", "Close")]

    def __init__(self, title: str, intro: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.intro = intro
        self.keys = keys

    @classmethod
    def for_screen(cls, screen: Screen[Any]) -> HelpScreen:
        """Help for ``screen``: its active bindings and its ``HELP`` text."""
        keys = [(key, binding.description) for key, binding, _ in our_bindings(screen)]
        title = getattr(screen, "help_title", None) or type(screen).__name__
        return cls(title, screen.HELP or "", keys)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, description in self.keys:
            table.add_row(key, description)
        with Vertical(classes="dialog"):
            yield Label(f"Help: {self.title_text}", classes="dialog-title")
            with VerticalScroll():
                yield Static(
                    Group(Markdown(self.intro or ""), Text(""), table, Text(""), Markdown(GENERAL))
                )
            yield Label("escape: close", classes="hint")
