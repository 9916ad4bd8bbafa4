"""``workbench.textsafe``: what reaches a terminal, and what a name may hold."""

from __future__ import annotations

import json

import pytest

from workbench.errors import BadInput
from workbench.textsafe import check_name, control_free_json, shorten, strip_control, visible


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain ünïcode ✓", "plain ünïcode ✓"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("\x9b31m\x7f", "\\x9b31m\\x7f"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),
    ],
)
def test_visible_escapes_every_control_character(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert strip_control(text) == "".join(c for c in text if visible(c) == c)


def test_free_text_keeps_its_lines() -> None:
    assert visible("line 1\n\tline 2\x1b[2J", keep_lines=True) == "line 1\n\tline 2\\x1b[2J"


def test_json_stays_the_same_value_without_raw_controls() -> None:
    doc = {"note": "x\x9b\u202ey\x1b\x7f", "n": 1}
    text = control_free_json(json.dumps(doc, ensure_ascii=False))
    assert json.loads(text) == doc
    assert not any(0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in text)


@pytest.mark.parametrize("name", ["a\x1b[2Jb", "two\nlines", "tab\there", "rtl\u202e"])
def test_names_with_control_characters_are_refused(name: str) -> None:
    with pytest.raises(BadInput, match="control character") as info:
        check_name(name, "experiment name")
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
    assert check_name("résumé 2024", "experiment name") == "résumé 2024"


def test_shorten_says_how_much_was_left_out() -> None:
    assert shorten("abc", 5) == "abc"
    assert shorten("x" * 12, 5) == "xxxxx… (7 more characters)"
