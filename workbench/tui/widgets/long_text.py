"""Free text that may be huge (a run's log or notes), drawn lazily and made safe.

A Static renders all of its text whenever it is shown: a 10 MB log froze the run
screen for minutes. ``LongText`` is a ``Log`` (the line API: only the lines on screen
are drawn), fed the text cut to ``MAX_CHARS`` with every line cut to ``MAX_LINE_CHARS``,
and with control characters shown escaped (``workbench.textsafe``).
"""

from __future__ import annotations

from textual.widgets import Log

from workbench.textsafe import shorten, visible

MAX_CHARS = 1_000_000
MAX_LINE_CHARS = 4_000


def prepared_lines(text: str) -> list[str]:
    """``text`` as the lines ``LongText`` shows: cut, escaped, each line bounded."""
    lines = visible(shorten(text, MAX_CHARS), keep_lines=True).split("\n")
    return [shorten(line, MAX_LINE_CHARS) for line in lines]


class LongText(Log):
    """Read-only text drawn a screen at a time; ``show`` replaces it."""

    DEFAULT_CSS = "LongText { height: 1fr; background: $surface; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(highlight=False, auto_scroll=False, id=id, classes=classes)

    def show(self, text: str) -> None:
        self.clear()
        self.write_lines(prepared_lines(text), scroll_end=False)

    @property
    def text(self) -> str:
        """What is shown, as plain text."""
        return "\n".join(self.lines)
