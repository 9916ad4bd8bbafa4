"""A fast, read-only table for paged rows: one header line, one line per row, a row cursor.

Built on the line API (``ScrollView.render_line``), in the manner of Toolong: each
row is turned into segments once, when it arrives, and a screen line is a crop of
that cached strip. Only visible lines are drawn, and moving the cursor redraws the
two lines it leaves and enters, which keeps paging fast and the output small over a
slow SSH link. Columns have fixed widths (longer values are cut with an ellipsis).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workbench.textsafe import has_control, visible

PAD = 1  # blank cells on each side of a column


def _fit(text: str, width: int) -> str:
    """``text`` cut (with an ellipsis) or padded to exactly ``width`` cells."""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def cell_segments(value: Any, width: int, console: Any) -> list[Segment]:
    """One cell as segments of exactly ``width`` cells (plain strings take a fast path)."""
    if isinstance(value, Text):
        if not value.spans:
            style = (
                value.style if isinstance(value.style, Style) else Style.parse(value.style or "")
            )
            return [Segment(_fit(visible(value.plain), width), style or None)]
        cell = value.copy()
        if has_control(cell.plain):
            cell = Text(visible(cell.plain), style=cell.style)
        cell.truncate(width, overflow="ellipsis", pad=True)
        cell.end = ""
        return list(cell.render(console))
    return [Segment(_fit("-" if value is None else visible(str(value)), width))]


class RowTable(ScrollView, can_focus=True):
    """Rows of cells under a fixed header; ``enter`` selects the cursor row."""

    COMPONENT_CLASSES = {"row-table--header", "row-table--cursor"}
    DEFAULT_CSS = """
    RowTable { height: 1fr; background: $surface; }
    RowTable > .row-table--header { text-style: bold; background: $panel; color: $text; }
    RowTable > .row-table--cursor { background: $block-cursor-blurred-background; }
    RowTable:focus > .row-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """
    BINDINGS = [
        Binding("enter", "select", "Open", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
        Binding("left", "scroll_columns(-1)", "Scroll left", show=False),
        Binding("right", "scroll_columns(1)", "Scroll right", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    class RowSelected(Message):
        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RowTable:
            return self.table

    class HeaderSelected(Message):
        def __init__(self, table: RowTable, column_key: str) -> None:
            super().__init__()
            self.table = table
            self.column_key = column_key

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[tuple[str, str, int]] = []  # key, label, width
        self.keys: list[str] = []
        self.cells: dict[str, list[Any]] = {}
        self._index: dict[str, int] = {}
        self._strips: dict[int, Strip] = {}
        self._header: Strip | None = None

    # -- data ---------------------------------------------------------------------------

    def set_columns(self, columns: Sequence[tuple[str, str, int]]) -> None:
        self.columns = list(columns)
        self._header = None
        self._strips.clear()
        self._resize()

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Any]]], cursor: int = 0) -> None:
        """Replace every row; the cursor goes to ``cursor`` (clamped)."""
        self.keys = [key for key, _ in rows]
        self.cells = {key: list(cells) for key, cells in rows}
        self._index = {key: i for i, key in enumerate(self.keys)}
        self._strips.clear()
        self._resize()
        self.scroll_to(y=0, animate=False, immediate=True)
        self.cursor_row = max(0, min(cursor, len(self.keys) - 1))
        self.refresh()

    def update_row(self, key: str, cells: Sequence[Any]) -> None:
        index = self._index.get(key)
        if index is None:
            return
        self.cells[key] = list(cells)
        self._strips.pop(index, None)
        self._refresh_row(index)

    @property
    def row_count(self) -> int:
        return len(self.keys)

    @property
    def cursor_key(self) -> str | None:
        return self.keys[self.cursor_row] if self.keys else None

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def get_cell(self, key: str, column_key: str) -> Any:
        column = [c[0] for c in self.columns].index(column_key)
        return self.cells[key][column]

    def move_cursor(self, *, row: int) -> None:
        self.cursor_row = max(0, min(row, len(self.keys) - 1)) if self.keys else 0

    # -- geometry -----------------------------------------------------------------------

    @property
    def total_width(self) -> int:
        return sum(width + 2 * PAD for _, _, width in self.columns)

    def _resize(self) -> None:
        self.virtual_size = Size(self.total_width, len(self.keys) + 1)

    @property
    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        top = round(self.scroll_y)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + self._body_height:
            self.scroll_to(y=new - self._body_height + 1, animate=False, immediate=True)

    def _refresh_row(self, index: int) -> None:
        y = index - round(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    # -- rendering ----------------------------------------------------------------------

    def _line(self, cells: Sequence[Any]) -> Strip:
        console = self.app.console
        pad = Segment(" " * PAD)
        segments: list[Segment] = []
        for value, (_, _, width) in zip(cells, self.columns, strict=False):
            segments.append(pad)
            segments.extend(cell_segments(value, width, console))
            segments.append(pad)
        return Strip(segments, self.total_width).simplify()

    def _row_strip(self, index: int) -> Strip:
        strip = self._strips.get(index)
        if strip is None:
            strip = self._strips[index] = self._line(self.cells[self.keys[index]])
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = round(self.scroll_x)
        base = self.rich_style
        if y == 0:
            if self._header is None:
                self._header = self._line([label for _, label, _ in self.columns])
            style = self.get_component_rich_style("row-table--header")
            strip = self._header.crop(scroll_x, scroll_x + width)
            return strip.extend_cell_length(width).apply_style(base + style)
        index = y - 1 + round(self.scroll_y)
        if index >= len(self.keys):
            return Strip([Segment(" " * width, base)], width)
        strip = self._row_strip(index).crop(scroll_x, scroll_x + width).extend_cell_length(width)
        strip = strip.apply_style(base)
        if index == self.cursor_row:
            cursor = self.get_component_rich_style("row-table--cursor")
            strip = Strip([Segment(t, (s or Style()) + cursor, c) for t, s, c in strip], width)
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._header = None

    # -- actions and mouse --------------------------------------------------------------

    def action_select(self) -> None:
        if self.keys:
            self.post_message(self.RowSelected(self, self.keys[self.cursor_row]))

    def action_cursor_up(self) -> None:
        if self.cursor_row > 0:
            self.cursor_row -= 1

    def action_cursor_down(self) -> None:
        if self.cursor_row < len(self.keys) - 1:
            self.cursor_row += 1

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - self._body_height)

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + self._body_height)

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=len(self.keys) - 1)

    def action_scroll_columns(self, direction: int) -> None:
        """Scroll sideways by about a column."""
        self.scroll_to(x=max(0, round(self.scroll_x) + 10 * direction), animate=False)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x + round(self.scroll_x)
            for key, _, width in self.columns:
                x -= width + 2 * PAD
                if x < 0:
                    self.post_message(self.HeaderSelected(self, key))
                    return
            return
        index = event.y - 1 + round(self.scroll_y)
        if 0 <= index < len(self.keys):
            if index == self.cursor_row:
                self.action_select()
            else:
                self.cursor_row = index
