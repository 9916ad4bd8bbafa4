"""Text from files and the store, made safe for a terminal; names checked for control characters.

A run note, tag, project or experiment name, a tensor name inside a container or an
error quoting one can hold escape sequences: printed raw, they retitle the terminal,
clear the screen or draw fake lines, for anyone who shares the store. Everything
the CLI, the TUI and the compare export show passes through ``visible``, which writes
every control character as a visible escape (``\\x1b``, ``\\n``), and names are refused
when they hold one (``check_name``). Free text (notes) keeps its newlines and tabs where
the output can show them (``keep_lines``), has a length cap, and is cut for display.
"""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls, DEL, and the Unicode characters that reorder or hide text
# (bidirectional overrides and isolates, line/paragraph separators, BOM).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_CONTROL_BUT_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
# What json.dumps(ensure_ascii=False) leaves raw that ``visible`` would escape.
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")

# Free text (notes) a user may store, and how much of it a view shows at once.
MAX_NOTE_CHARS = 10_000
SHOWN_TEXT_CHARS = 20_000


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object, *, keep_lines: bool = False) -> str:
    """``text`` with every control character written as a visible escape.

    ``keep_lines`` leaves newlines and tabs as they are (multi-line free text shown
    where lines may break); everything else that a terminal would act on is escaped.
    A table cell is one line unless made of several (``workbench.console.Lines``).
    """
    s = text if isinstance(text, str) else str(text)
    pattern = _CONTROL_BUT_LINES if keep_lines else _CONTROL
    return pattern.sub(_escape, s) if pattern.search(s) else s


def strip_control(text: str) -> str:
    """``text`` without the characters ``visible`` would escape."""
    return _CONTROL.sub("", text)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character ``visible`` would escape."""
    return _CONTROL.search(text) is not None


def control_free_json(text: str) -> str:
    """A JSON document with C1 controls, DEL and the text-reordering characters escaped
    as ``\\uXXXX`` (the same value).

    ``json.dumps(ensure_ascii=False)`` escapes C0 controls but leaves DEL and U+0080-U+009F
    raw, and some terminals act on an 8-bit CSI (U+009B).
    """
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def check_name(value: str, what: str) -> str:
    """``value`` if it may name a project, experiment or tag; else ``BadInput``."""
    from workbench.errors import BadInput

    if has_control(value):
        raise BadInput(
            f"{what} '{visible(value)}' holds a control character (shown escaped); "
            "names may not hold newlines, tabs or escape sequences"
        )
    if any(unicodedata.category(c) == "Cs" for c in value):  # lone surrogates
        raise BadInput(f"{what} '{visible(value)}' is not valid text")
    return value


def shorten(text: str, limit: int = SHOWN_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"
