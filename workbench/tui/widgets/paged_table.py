"""A table that pages from the database: filter line, DataTable, status line.

Each page is fetched by a thread worker (``exclusive``: a newer request
cancels an older one), so typing in the filter or paging never blocks the UI
and the table only redraws when a page arrives. The fetch function is a
``workbench.jobs.browse`` query; the table knows nothing of the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Key
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from workbench.errors import WorkbenchError
from workbench.jobs.browse import PAGE_SIZE, Page, TableQuery
from workbench.tui import format as fmt
from workbench.tui.columns import Column
from workbench.tui.widgets.row_table import RowTable

T = TypeVar("T")
FILTER_DELAY_S = 0.3


class FilterInput(Input):
    """The filter line: Escape and Down go back to the table, keeping the text."""

    def on_key(self, event: Key) -> None:
        if event.key in ("escape", "down"):
            event.stop()
            event.prevent_default()
            self.post_message(PagedTable.LeaveFilter())


class PagedTable(Vertical, Generic[T]):
    """A filtered, sorted, paged view of one ``browse`` query."""

    DEFAULT_CSS = """
    PagedTable { height: 1fr; }
    PagedTable > FilterInput { height: 1; border: none; padding: 0 1; }
    PagedTable > RowTable { height: 1fr; }
    PagedTable > .table-status { height: 1; padding: 0 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", show=False),  # the filter line says so
        Binding("s", "sort_menu", "Sort", show=False),  # the status line says so
        Binding("S", "reverse_sort", "Reverse sort", show=False),
        Binding("right_square_bracket", "next_page", "Next page", show=False),
        Binding("left_square_bracket", "previous_page", "Previous page", show=False),
        Binding("right_curly_bracket", "last_page", "Last page", show=False),
        Binding("left_curly_bracket", "first_page", "First page", show=False),
        Binding("ctrl+r", "reload", "Reload", show=False),
    ]

    class Opened(Message):
        """Enter on a row."""

        def __init__(self, table: PagedTable[Any], row: Any) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> PagedTable[Any]:
            return self.table

    class Loaded(Message):
        """A page arrived and is shown."""

        def __init__(self, table: PagedTable[Any]) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> PagedTable[Any]:
            return self.table

    class LeaveFilter(Message):
        pass

    def __init__(
        self,
        columns: list[Column[T]],
        fetch: Callable[[TableQuery], Page[T]],
        *,
        sort: str,
        descending: bool = True,
        noun: str = "rows",
        key_of: Callable[[T], Any] = lambda row: row.id,  # type: ignore[attr-defined]
        extra_status: Callable[[], str] | None = None,
        filter_hint: str = "words",
        page_size: int = PAGE_SIZE,
        autoload: bool = True,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns = columns
        self._fetch_page = fetch
        self.query_state = TableQuery(sort=sort, descending=descending, limit=page_size)
        self.noun = noun
        self.key_of = key_of
        self.extra_status = extra_status
        self.filter_hint = filter_hint
        self.page: Page[T] | None = None
        self.rows: dict[str, T] = {}
        self.error: str | None = None
        self.autoload = autoload  # False: the first page loads on the first ``ensure_loaded``
        self._filter_timer: Timer | None = None
        self._requested = False

    def compose(self) -> ComposeResult:
        yield FilterInput(
            placeholder=f"/ filter: {self.filter_hint}", compact=True, select_on_focus=False
        )
        yield RowTable()
        yield Static("loading…", classes="table-status")

    def on_mount(self) -> None:
        self.query_one(FilterInput).cursor_blink = False
        self.table.set_columns([(c.key, c.label, c.width or 10) for c in self.columns])
        if self.autoload:
            self.reload()

    # -- public -------------------------------------------------------------------------

    @property
    def table(self) -> RowTable:
        return self.query_one(RowTable)

    @property
    def current(self) -> T | None:
        """The row under the cursor, if any."""
        key = self.table.cursor_key
        return self.rows.get(key) if key is not None else None

    def focus_table(self) -> None:
        self.table.focus()

    def ensure_loaded(self) -> None:
        """Load the first page unless a page was loaded or requested already."""
        if self.page is None and not self._requested:
            self.reload()

    def reload(self) -> None:
        """Fetch the current page again (after a change in the store)."""
        self._requested = True
        self._fetch(self.query_state)

    def set_query(self, **changes: Any) -> None:
        self.query_state = replace(self.query_state, **changes)
        self.reload()

    def update_row(self, row: T) -> None:
        """Redraw one row in place (after starring or tagging it)."""
        key = str(self.key_of(row))
        if key not in self.rows:
            return
        self.rows[key] = row
        self.table.update_row(key, [c.render(row) for c in self.columns])
        self._show_status()

    def redraw(self) -> None:
        """Re-render the rows on screen from what is cached (marks changed)."""
        for key, row in self.rows.items():
            self.table.update_row(key, [c.render(row) for c in self.columns])
        self._show_status()

    # -- loading ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="page", exit_on_error=False)
    def _fetch(self, query: TableQuery) -> None:
        worker = get_current_worker()
        try:
            page = self._fetch_page(query)
        except WorkbenchError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the old rows must not stay as if current
            if not worker.is_cancelled:
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self.app.call_from_thread(self._failed, f"internal error: {detail}")
                self.app.call_from_thread(self.notify, f"internal error: {detail}",
                                          severity="error")  # fmt: skip
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, page)

    def _failed(self, message: str) -> None:
        self.error = message
        self.query_one(".table-status", Static).update(Text(fmt.safe(message), style="red"))

    def _show(self, page: Page[T]) -> None:
        self.error = None
        table = self.table
        keep, keep_index = table.cursor_key, table.cursor_row
        self.page = page
        self.rows = {str(self.key_of(row)): row for row in page.rows}
        keys = list(self.rows)
        cursor = keys.index(keep) if keep in self.rows else keep_index
        table.set_rows(
            [(key, [c.render(row) for c in self.columns]) for key, row in self.rows.items()],
            cursor=cursor,
        )
        self._show_status()
        self.post_message(self.Loaded(self))

    def _show_status(self) -> None:
        if self.error:
            return
        page = self.page
        if page is None:
            return
        query = self.query_state
        arrow = "▼" if query.descending else "▲"
        label = next((c.label for c in self.columns if c.key == query.sort), query.sort)
        label = label or query.sort
        first = page.offset + 1 if page.rows else 0
        last = page.offset + len(page.rows)
        parts = [f"{self.noun} {first}-{last} of {page.total:,}", f"sort {label} {arrow} (s)"]
        if query.text.strip():
            parts.append(f"filter {query.text.strip()}")
        if self.extra_status is not None:
            extra = self.extra_status()
            if extra:
                parts.append(extra)
        if page.total > page.limit:
            parts.append("[ ] pages")
        self.query_one(".table-status", Static).update(" · ".join(parts), layout=False)

    # -- filter -------------------------------------------------------------------------

    @on(Input.Changed)
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY_S, self._apply_filter)

    @on(Input.Submitted)
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._apply_filter()
        self.focus_table()

    @on(LeaveFilter)
    def _leave_filter(self, event: LeaveFilter) -> None:
        event.stop()
        self.focus_table()

    def _apply_filter(self) -> None:
        text = self.query_one(FilterInput).value
        if text != self.query_state.text:
            self.set_query(text=text, offset=0)

    def set_filter(self, text: str) -> None:
        """Replace the filter text and show the first matching page."""
        self.query_one(FilterInput).value = text
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self.set_query(text=text, offset=0)

    # -- sorting ------------------------------------------------------------------------

    def sort_by(self, key: str) -> None:
        """Sort by column ``key``; sorting by the current column reverses it."""
        if key == self.query_state.sort:
            self.set_query(descending=not self.query_state.descending, offset=0)
        else:
            self.set_query(sort=key, descending=key not in ("name", "model"), offset=0)

    @on(RowTable.HeaderSelected)
    def _header_clicked(self, event: RowTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(event.column_key)

    @on(RowTable.RowSelected)
    def _row_selected(self, event: RowTable.RowSelected) -> None:
        event.stop()
        row = self.rows.get(event.key)
        if row is not None:
            self.post_message(self.Opened(self, row))

    # -- actions ------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.query_one(FilterInput).focus()

    def action_sort_menu(self) -> None:
        from workbench.tui.screens.choice import ChoiceScreen

        query = self.query_state
        arrow = " ▼" if query.descending else " ▲"
        options = [
            (f"{c.label or c.key}{arrow if c.key == query.sort else ''}", c.key)
            for c in self.columns
        ]

        def chosen(key: str | None) -> None:
            if key is not None:
                self.sort_by(key)

        self.app.push_screen(
            ChoiceScreen("Sort by (again: reverse)", options, current=query.sort), chosen
        )

    def action_reverse_sort(self) -> None:
        self.set_query(descending=not self.query_state.descending, offset=0)

    def action_next_page(self) -> None:
        page = self.page
        if page is not None and page.offset + page.limit < page.total:
            self.set_query(offset=page.offset + page.limit)

    def action_previous_page(self) -> None:
        page = self.page
        if page is not None and page.offset > 0:
            self.set_query(offset=max(0, page.offset - page.limit))

    def action_first_page(self) -> None:
        self.set_query(offset=0)

    def action_last_page(self) -> None:
        if self.page is not None:
            self.set_query(offset=self.page.last_offset)

    def action_reload(self) -> None:
        self.reload()
