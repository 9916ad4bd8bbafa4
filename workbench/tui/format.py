"""How values read in the TUI's tables and panels: short, aligned, coloured by meaning."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text

from workbench.textsafe import shorten, visible
from workbench.vocabulary import FAILED, INTERRUPTED, RUNNING, SUCCEEDED, format_bytes, format_db

# Longest value a panel or a table cell shows (a note can be 10,000 characters).
SHOWN_CHARS = 2_000

STATUS_STYLE = {
    SUCCEEDED: "green",
    FAILED: "red",
    INTERRUPTED: "yellow",
    RUNNING: "cyan",
    "cancelled": "yellow",
}
DASH = "-"


def status(value: str) -> Text:
    return Text(value, style=STATUS_STYLE.get(value, ""))


def when(value: datetime | None) -> str:
    """Local time: ``03-03 09:07`` this year, ``2024-11-02`` before."""
    if value is None:
        return DASH
    local = value.astimezone()
    return local.strftime("%m-%d %H:%M" if local.year == datetime.now().year else "%Y-%m-%d")


def when_full(value: datetime | None) -> str:
    return DASH if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def size(value: int | None) -> str:
    return DASH if value is None else format_bytes(value)


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(value, 60)
    return f"{int(minutes)}m{rest:02.0f}s"


def ms(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def db(value: float | None) -> str:
    return format_db(value, unit="")


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def number(value: float | int | None) -> str:
    if value is None:
        return DASH
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def count(value: int | None) -> str:
    """Large counts in short form: 3.5M, 1.81G."""
    if value is None:
        return DASH
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= div:
            return f"{value / div:.3g}{unit}"
    return str(value)


def flag(value: bool | None) -> str:
    if value is None:
        return DASH
    return "yes" if value else "no"


def plain(value: Any) -> str:
    """Any value, for a key/value panel: control characters shown escaped, cut if long."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return flag(value)
    if isinstance(value, datetime):
        return when_full(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return safe(", ".join(str(v) for v in value)) or DASH
    return safe(str(value))


def safe(value: Any) -> str:
    """Text from the store or a file, as a terminal may show it (see ``workbench.textsafe``)."""
    return visible(shorten(str(value), SHOWN_CHARS))


def safe_text(text: Text) -> Text:
    """A rich ``Text`` whose plain text is made safe (its style kept)."""
    cleaned = safe(text.plain)
    if cleaned == text.plain:
        return text
    return Text(cleaned, style=text.style)


def cell(value: Any) -> Text:
    """A DataTable cell: a ``Text`` (a str would be parsed as markup), made safe."""
    if isinstance(value, Text):
        return safe_text(value)
    return Text(DASH if value is None else safe(value))


def middle(text: str, width: int) -> str:
    """``text`` in ``width`` cells at most, cut in the middle (file names keep their ends)."""
    from workbench.console import shorten_middle

    return shorten_middle(text, width)
