"""What the command line prints for people: tables fitted to the terminal, fields, notes,
and progress on stderr.

Every table the CLI prints goes through ``print_table``, which fits it to the console's
width without per-command arithmetic: each ``Column`` declares how it gives way
(``priority``: the higher, the sooner it is left out; ``fit``: cut in the middle or
wrapped), and columns that do not fit are named under the table, so nothing is lost
silently (``--json`` has every field). A ``Row`` may carry a note (an error, a refusal
reason) printed under it across the whole width, and ``Group`` lines head a run of rows.
Repeated notes are printed once with a count (``collapse_notes``). Text from files and
the store never reaches the terminal as markup.

Progress (``progress_on_stderr``) is drawn on stderr only when it is a terminal, and
only once work has taken a second.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workbench.textsafe import visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

ELLIPSIS = "…"
GAP = 2  # spaces between columns
PIPE_WIDTH = 200  # piped output is read by grep and less: not squeezed to 80 columns

MIDDLE, WRAP, KEEP = "middle", "wrap", "keep"


@dataclass(frozen=True)
class Column:
    """A table column: how it reads and how it gives way when the terminal is narrow."""

    name: str
    priority: int = 0  # 0: always shown; columns with higher numbers are left out first
    fit: str = KEEP  # KEEP: never cut; MIDDLE: cut in the middle (names, paths); WRAP
    align: str = "left"  # "right" for numbers
    min_width: int = 8  # narrowest a MIDDLE or WRAP column gets before it is left out


@dataclass(frozen=True)
class Styled:
    """A cell's text with a rich style (a status in its colour); markup is never parsed."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Lines:
    """A cell or field value of several lines (the advisor's cells, a note): each line
    shown escaped, the breaks between them kept. Any other text is one line."""

    lines: Sequence[str]
    style: str = ""

    @classmethod
    def of(cls, text: str, style: str = "") -> Lines:
        """Free text (a note) cut at its newlines; tabs and the rest stay escaped."""
        return cls(text.split("\n"), style)


@dataclass(frozen=True)
class Row:
    """A table row; ``note`` (an error, a refusal reason) is printed under it, wrapped."""

    cells: Sequence[Any]
    note: str | None = None
    note_style: str = "yellow"


@dataclass(frozen=True)
class Group:
    """A line heading the rows after it (a container's name and size, say)."""

    title: str
    detail: str = ""


@dataclass
class _Layout:
    shown: list[int]
    widths: dict[int, int]
    left_out: list[str] = field(default_factory=list)


def make_console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal, ``$COLUMNS`` when set, else 200 in a pipe."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width: int | None = None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        width = int(columns)
    elif not stream.isatty():
        width = PIPE_WIDTH
    return Console(width=width, stderr=stderr, highlight=False)


# --------------------------------------------------------------------------- cells


def cell_text(value: Any, *, full_time: bool = False) -> Text:
    """A value as one cell: None ``-``, booleans yes/no, floats to 4 significant digits,
    times local and short, lists comma-separated; never markup. Text is one line (a
    newline or tab in a name is shown escaped) unless given as ``Lines``."""
    from rich.text import Text

    if isinstance(value, Styled):
        return Text(safe_line(value.text), style=value.style)
    if isinstance(value, Lines):
        return Text("\n".join(safe_line(line) for line in value.lines), style=value.style)
    if isinstance(value, Text):
        return value
    return Text(safe_line(plain(value, full_time=full_time)))


def plain(value: Any, *, full_time: bool = False) -> str:
    """``value`` as the plain text a table shows."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        local = value.astimezone()
        if full_time:
            return local.strftime("%Y-%m-%d %H:%M:%S %Z")
        same_year = local.year == datetime.now().year
        return local.strftime("%m-%d %H:%M" if same_year else "%Y-%m-%d")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False) if value else "-"
    return str(value)


def safe_line(text: str) -> str:
    """One line as a terminal may show it: control characters (C0 with newlines and tabs,
    C1, DEL, the characters that reorder text) written as visible escapes."""
    return visible(text)


def shorten_middle(text: str, width: int) -> str:
    """``text`` in ``width`` cells at most, cut in the middle: ``demo_enh…bias32.dlc``."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width == 1:
        return ELLIPSIS
    keep = width - 1
    head = (keep + 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (keep - head) :]


# --------------------------------------------------------------------------- tables


def print_table(
    console: Console,
    columns: Sequence[Column],
    rows: Iterable[Row | Group | Sequence[Any]],
    *,
    title: str = "",
    blank_between_rows: bool = False,
) -> None:
    """``rows`` under ``columns``, fitted to ``console.width`` (see the module doc)."""
    from rich.text import Text

    items = [r if isinstance(r, (Row, Group)) else Row(r) for r in rows]
    cells = [[cell_text(v) for v in r.cells] for r in items if isinstance(r, Row)]
    layout = fit_columns(columns, cells, console.width)
    width = console.width
    if title:
        console.print(_one_line(Text(safe_line(title), style="bold"), width))
    header = Text()
    rule = Text()
    for n, i in enumerate(layout.shown):
        w = layout.widths[i]
        sep = " " * GAP if n else ""
        name = shorten_middle(columns[i].name, w)
        header.append(sep + _pad(name, w, columns[i].align), style="bold")
        rule.append(sep + "─" * w, style="dim")
    console.print(header, overflow="ignore", crop=False, no_wrap=True)
    console.print(rule, overflow="ignore", crop=False, no_wrap=True)
    row_cells = iter(cells)
    for k, item in enumerate(items):
        if isinstance(item, Group):
            line = Text(safe_line(item.title), style="bold")
            if item.detail:
                line.append("  " + safe_line(item.detail), style="dim")
            console.print(_one_line(line, width))
            continue
        for line in _row_lines(console, columns, layout, next(row_cells)):
            console.print(line, overflow="ignore", crop=False, no_wrap=True)
        if item.note:
            print_lines(console, ["  ↳ " + item.note], style=item.note_style, hang=4)
        if blank_between_rows and k < len(items) - 1:
            console.print()
    if layout.left_out:
        console.print(
            Text(
                f"(not shown at {width} columns: {', '.join(layout.left_out)}; "
                "a wider terminal or --json shows them)",
                style="dim",
            ),
            overflow="fold",
        )


def fit_columns(columns: Sequence[Column], cells: Sequence[Sequence[Text]], width: int) -> _Layout:
    """Which columns fit in ``width`` and how wide each is."""
    natural = {}
    for i, column in enumerate(columns):
        lengths = [len(column.name)]
        for row in cells:
            if i < len(row):
                lengths.extend(len(line) for line in row[i].plain.split("\n"))
        natural[i] = max(lengths)
    # An optional column with nothing in it (no labels: no accuracy) is left out quietly.
    shown = [
        i
        for i, column in enumerate(columns)
        if column.priority == 0
        or not cells
        or any(i < len(row) and row[i].plain not in ("", "-") for row in cells)
    ]

    def least(i: int) -> int:
        c = columns[i]
        return natural[i] if c.fit == KEEP else min(natural[i], c.min_width)

    def needed(indices: list[int]) -> int:
        return sum(least(i) for i in indices) + GAP * (len(indices) - 1)

    def essential_whole(indices: list[int]) -> int:
        # Priority-0 columns at full width, except wrapped text: it loses nothing by wrapping,
        # so a long label never pushes the numbers out.
        full = sum(
            natural[i] if columns[i].priority == 0 and columns[i].fit != WRAP else least(i)
            for i in indices
        )
        return full + GAP * (len(indices) - 1)

    left_out: list[int] = []
    # Leave out optional columns until the rest fits, and while the essential ones
    # would still have to be cut.
    while needed(shown) > width or essential_whole(shown) > width:
        droppable = [i for i in shown if columns[i].priority > 0]
        if not droppable:
            break
        worst = max(droppable, key=lambda i: (columns[i].priority, i))
        shown.remove(worst)
        left_out.append(worst)
    widths = {i: least(i) for i in shown}
    spare = width - needed(shown)
    flexible = [i for i in shown if columns[i].fit != KEEP and natural[i] > widths[i]]
    while spare > 0 and flexible:
        share = max(1, spare // len(flexible))
        for i in list(flexible):
            give = min(share, natural[i] - widths[i], spare)
            widths[i] += give
            spare -= give
            if widths[i] >= natural[i]:
                flexible.remove(i)
            if spare <= 0:
                break
    return _Layout(shown, widths, [columns[i].name for i in sorted(left_out)])


def _row_lines(
    console: Console, columns: Sequence[Column], layout: _Layout, row: Sequence[Text]
) -> list[Text]:
    from rich.text import Text

    blocks: list[list[Text]] = []
    for i in layout.shown:
        w = layout.widths[i]
        cell = row[i] if i < len(row) else Text("")
        blocks.append(_cell_lines(console, cell, w, columns[i]))
    height = max((len(b) for b in blocks), default=1)
    lines = []
    for y in range(height):
        line = Text()
        for n, (i, block) in enumerate(zip(layout.shown, blocks, strict=True)):
            if n:
                line.append(" " * GAP)
            part = block[y] if y < len(block) else Text("")
            line.append_text(_pad_text(part, layout.widths[i], columns[i].align))
        line.rstrip()
        lines.append(line)
    return lines


def _cell_lines(console: Console, cell: Text, width: int, column: Column) -> list[Text]:
    from rich.text import Text

    parts = cell.split("\n") if "\n" in cell.plain else [cell]
    out: list[Text] = []
    for part in parts:
        if len(part.plain) <= width:
            out.append(part)
        elif column.fit == WRAP:
            out.extend(part.wrap(console, width, overflow="fold"))
        else:  # MIDDLE, or a KEEP column squeezed because nothing else could go
            out.append(Text(shorten_middle(part.plain, width), style=part.style))
    return out or [Text("")]


def _pad(text: str, width: int, align: str) -> str:
    return text.rjust(width) if align == "right" else text.ljust(width)


def _pad_text(text: Text, width: int, align: str) -> Text:
    gap = width - text.cell_len
    if gap <= 0:
        return text
    padded = text.copy()
    if align == "right":
        padded.pad_left(gap)
    else:
        padded.pad_right(gap)
    return padded


def _one_line(text: Text, width: int) -> Text:
    from rich.text import Text

    if text.cell_len <= width:
        return text
    return Text(shorten_middle(text.plain, width), style=text.style)


# --------------------------------------------------------------------------- fields, notes


def print_fields(
    console: Console, pairs: Iterable[tuple[str, Any]], *, title: str = "", skip_empty: bool = False
) -> None:
    """``name  value`` lines; long values wrap under themselves, never past the width."""

    from rich.text import Text

    rows = [(n, v) for n, v in pairs if not (skip_empty and v in (None, "", [], (), {}))]
    if not rows:
        return
    if title:
        console.print(cell_text(Styled(title, "bold underline")))
    key_width = min(max(len(str(n)) for n, _ in rows), max(12, console.width // 3))
    value_width = max(12, console.width - key_width - GAP)
    for name, value in rows:
        key = Text(
            shorten_middle(safe_line(str(name)), key_width).ljust(key_width + GAP), style="bold"
        )
        lines = []
        for part in cell_text(value, full_time=True).split("\n"):
            lines.extend(part.wrap(console, value_width, overflow="fold") if part.plain else [part])
        for k, line in enumerate(lines or [Text("")]):
            out = (key if k == 0 else Text(" " * (key_width + GAP))) + line
            out.rstrip()
            console.print(out, overflow="ignore", crop=False, no_wrap=True)


def collapse_notes(notes: Iterable[tuple[tuple[str, str], str]]) -> list[str]:
    """``((subject, detail), note)`` pairs as lines, each note said once with what it is
    about, details grouped by subject: ``no float reference … (5 rows: a.dlc on cpu,
    gpu, dsp; b.dlc on dsp)``."""
    order: list[str] = []
    about: dict[str, dict[str, list[str]]] = {}
    for (subject, detail), note in notes:
        if note not in about:
            order.append(note)
            about[note] = {}
        details = about[note].setdefault(subject, [])
        if detail and detail not in details:
            details.append(detail)
    lines = []
    for note in order:
        groups = about[note]
        rows = sum(max(1, len(d)) for d in groups.values())
        said = "; ".join(f"{s} on {', '.join(d)}" if d else s for s, d in groups.items())
        lines.append(f"{note} ({rows} rows: {said})" if rows > 1 else f"{said}: {note}")
    return lines


def print_lines(console: Console, lines: Iterable[str], *, style: str = "", hang: int = 0) -> None:
    """Plain lines (never markup, a newline inside one shown escaped), wrapped at the
    console's width at spaces; lines after the first of each are indented by ``hang``."""
    import textwrap

    from rich.text import Text

    width = max(20, console.width)
    for line in lines:
        text = safe_line(line)
        if len(text) > width:
            lead = len(text) - len(text.lstrip(" "))
            text = "\n".join(
                textwrap.wrap(
                    text,
                    width,
                    initial_indent="",
                    subsequent_indent=" " * (hang or lead),
                    break_on_hyphens=False,
                    drop_whitespace=True,
                )
            )
        console.print(Text(text, style=style), overflow="fold")


# --------------------------------------------------------------------------- progress

Progress = Callable[[str, int, int], None]
SHOW_AFTER_S = 1.0


class StderrProgress:
    """One progress line on stderr: the current stage, a bar when its size is known,
    the elapsed time. Nothing until work has taken ``SHOW_AFTER_S``; nothing at all when
    stderr is not a terminal. Call it as a job's ``progress(stage, done, total)``."""

    def __init__(
        self, what: str = "", *, enabled: bool | None = None, console: Console | None = None
    ) -> None:
        self.what = what
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.console = console
        self._started = time.monotonic()
        self._progress: Any = None
        self._task: Any = None
        self._lock = threading.Lock()
        self._state: tuple[str, int | None, int | None] = (what, None, None)
        self._timer: threading.Timer | None = None

    def __enter__(self) -> StderrProgress:
        if self.enabled:
            self._timer = threading.Timer(SHOW_AFTER_S, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._state = (stage, done, total)
            if self._progress is not None:
                self._update()

    def _show(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        with self._lock:
            if self._progress is not None or self._timer is None:
                return
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console or make_console(stderr=True),
                transient=True,
            )
            self._task = self._progress.add_task(self.what, total=None)
            self._progress.start()
            self._update()

    def _update(self) -> None:
        stage, done, total = self._state
        words = [w for w in (self.what, stage) if w]
        text = " · ".join(dict.fromkeys(words))
        self._progress.update(
            self._task,
            description=shorten_middle(text, 40),
            completed=done or 0,
            total=total if total else None,
        )


@contextmanager
def progress_on_stderr(what: str = "", *, quiet: bool = False) -> Iterator[Progress | None]:
    """``StderrProgress`` as a context; ``quiet`` (``--json``) yields None."""
    if quiet:
        yield None
        return
    with StderrProgress(what) as progress:
        yield progress
