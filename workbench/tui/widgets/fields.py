"""A two-column ``name  value`` panel, in sections (run and model details)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from workbench.tui import format as fmt

Section = tuple[str, Sequence[tuple[str, Any]]]


def fields_table(rows: Iterable[tuple[str, Any]], label_width: int = 18) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", width=label_width, no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        if isinstance(value, Table):
            shown: RenderableType = value
        elif isinstance(value, Text):
            shown = fmt.safe_text(value)
        else:
            shown = Text(fmt.plain(value))
        table.add_row(Text(fmt.safe(name)), shown)
    return table


class FieldList(Static):
    """Sections of name/value rows; a value may be a ``rich`` Text (coloured)."""

    DEFAULT_CSS = "FieldList { height: auto; padding: 0 1; }"

    def __init__(self, sections: Sequence[Section] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_sections(sections)

    def set_sections(self, sections: Sequence[Section]) -> None:
        parts: list[RenderableType] = []
        for title, rows in sections:
            rows = [r for r in rows if r[1] is not None and r[1] != ""]
            if not rows:
                continue
            if parts:
                parts.append(Text(""))
            if title:
                parts.append(Text(fmt.safe(title), style="bold underline"))
            parts.append(fields_table(rows))
        self.update(Group(*parts) if parts else Text("-"))
