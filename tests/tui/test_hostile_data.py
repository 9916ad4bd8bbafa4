"""The TUI with a store someone tampered with: escapes, odd digits, bad dates, huge notes.

* Control characters in names, notes and logs are shown escaped and never reach the
  terminal (the views escape them; ``ControlFilter`` drops whatever a view missed).
* A filter such as ``²`` or ``model:¹`` works (it passes ``str.isdigit`` but not ``int``).
* A run whose date is not a date opens; a worker that fails says so.
* Notes are capped when stored, and a huge log or note is shown cut, a screen at a time.
"""

from __future__ import annotations

import sqlite3

import pytest
from rich.segment import ControlType, Segment
from sqlalchemy import update
from textual.color import Color

from tests.tui.conftest import settle
from tests.tui.test_browse_screens import text_of
from workbench.errors import BadInput
from workbench.jobs.runs import set_note
from workbench.store import Model, Run
from workbench.textsafe import MAX_NOTE_CHARS
from workbench.tui.app import ControlFilter
from workbench.tui.screens.quant_run import QuantRunScreen
from workbench.tui.widgets.long_text import MAX_CHARS, MAX_LINE_CHARS, prepared_lines

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE\x9b1m\u202e"


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in text)


def test_the_line_filter_drops_control_characters_and_keeps_widths() -> None:
    line = [Segment("ok "), Segment(f"a{HOSTILE}b"), Segment("", None, [(ControlType.HOME,)])]
    out = ControlFilter().apply(line, Color(0, 0, 0))
    assert [s.text for s in out] == ["ok ", "a]0;pwned[2J[31mFAKE1mb", ""]
    assert out[2] is line[2]  # the terminal's own control segments pass
    assert sum(s.cell_length for s in out) == sum(s.cell_length for s in line)


async def test_hostile_names_and_notes_are_shown_escaped(seeded, make_app, store) -> None:
    run_id = seeded.quantize_runs[1]
    with store.write() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(notes=f"note {HOSTILE}", log=f"line 1\n{HOSTILE}")
        )
        session.execute(update(Model).values(name=f"model{HOSTILE}"))  # fmt: skip
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.table()
        table.table.move_cursor(row=table.table.get_row_index(str(run_id)))
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, QuantRunScreen)
        summary = text_of(screen.query_one("#summary-fields"))
        assert "note \\x1b]0;pwned\\x07" in summary and not _has_control(summary)
        await pilot.press("5")
        await pilot.pause()
        log = screen.query_one("#log-text").text
        assert log.splitlines()[0] == "line 1" and "\\x1b[2J" in log and not _has_control(log)
        # What would be written to the terminal: none of the planted sequences.
        raw = app.screen._compositor.render_full_update().render_segments(app.console)  # noqa: SLF001
        for planted in ("\x1b]0;pwned", "\x07", "\x1b[2J", "\x9b", "\u202e"):
            assert planted not in raw, planted


async def test_digit_like_filters_and_a_tampered_date(seeded, make_app, store) -> None:
    db = store.engine.url.database
    connection = sqlite3.connect(db)
    connection.execute("UPDATE runs SET started_at = 'garbage' WHERE id = ?",
                       (seeded.quantize_runs[0],))  # fmt: skip
    connection.commit()
    connection.close()
    app = make_app()
    notes: list[tuple[str, str]] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.notify = lambda message, **kw: notes.append((message, kw.get("severity", "")))
        await settle(pilot)
        table = app.screen.table()
        assert seeded.quantize_runs[0] in [r.id for r in table.rows.values()]
        for text in ("²", "model:¹"):
            table.set_filter(text)
            await settle(pilot)
            assert table.error is None, table.error
            assert list(table.rows) == [], text  # nothing matches: no stale rows either
        table.table.move_cursor(row=0)
        table.set_filter("")
        await settle(pilot)
        table.table.move_cursor(row=table.table.get_row_index(str(seeded.quantize_runs[0])))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, QuantRunScreen) and app.screen.view is not None
        assert [n for n in notes if n[1] == "error"] == []


@pytest.mark.sqlite_only
async def test_a_failing_worker_is_a_notification(seeded, make_app, monkeypatch) -> None:
    import workbench.tui.screens.quant_run as quant_run

    def broken(*_a, **_k):
        raise RuntimeError("the store returned nonsense")

    monkeypatch.setattr(quant_run, "run_view", broken, raising=False)
    monkeypatch.setattr(quant_run.QuantRunScreen, "fetch", lambda self: broken())
    app = make_app()
    notes: list[tuple[str, str]] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.notify = lambda message, **kw: notes.append((message, kw.get("severity", "")))
        await settle(pilot)
        table = app.screen.table()
        table.table.move_cursor(row=table.table.get_row_index(str(seeded.quantize_runs[0])))
        await pilot.press("enter")
        await settle(pilot)
    assert ("internal error: RuntimeError: the store returned nonsense", "error") in notes


def test_notes_are_capped_when_stored(seeded, store) -> None:
    run_id = seeded.quantize_runs[0]
    set_note(store, run_id, "x" * MAX_NOTE_CHARS)
    with pytest.raises(BadInput, match="at most 10,000 characters"):
        set_note(store, run_id, "x" * (MAX_NOTE_CHARS + 1))


def test_huge_text_is_shown_cut_a_line_at_a_time() -> None:
    lines = prepared_lines("y" * (10 << 20))  # a 10 MB note or log, one line
    assert len(lines) == 1 and len(lines[0]) < MAX_LINE_CHARS + 40
    many = prepared_lines("z\n" * (3 * MAX_CHARS))
    assert len(many) <= MAX_CHARS // 2 + 2 and "more characters" in many[-1]
