"""The CLI's table renderer: columns by priority, names cut in the middle, wrapping,
notes under rows, repeated notes collapsed, progress only on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from workbench.console import (
    MIDDLE,
    WRAP,
    Column,
    Group,
    Lines,
    Row,
    StderrProgress,
    Styled,
    collapse_notes,
    print_fields,
    print_lines,
    print_table,
    shorten_middle,
)


def render(width: int, draw) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False)
    draw(console)
    return out.getvalue().splitlines()


COLUMNS = (
    Column("id", align="right"),
    Column("container", fit=MIDDLE, min_width=10),
    Column("status"),
    Column("latency ms", align="right", priority=2),
    Column("mode", fit=WRAP, priority=1, min_width=12),
)
ROWS = [
    (1, "demo_enhanced_bias32.dlc", Styled("succeeded", "green"), 1.25, "float32, dequantized"),
    Row((2, "demo.dlc", "refused"), note="AIP does not support non-quantized containers"),
]


def test_wide_enough_everything_shows_whole() -> None:
    lines = render(120, lambda c: print_table(c, COLUMNS, ROWS))
    text = "\n".join(lines)
    assert "demo_enhanced_bias32.dlc" in text and "latency ms" in text
    assert "float32, dequantized" in text and "not shown" not in text
    assert "↳ AIP does not support non-quantized containers" in text


def test_narrow_leaves_out_optional_columns_first_and_says_so() -> None:
    lines = render(44, lambda c: print_table(c, COLUMNS, ROWS))
    assert all(len(line) <= 44 for line in lines)
    text = "\n".join(lines)
    # The essential columns keep their whole values; the optional ones are named.
    assert "demo_enhanced_bias32.dlc" in text and "succeeded" in text
    assert "latency ms" not in lines[0] and "mode" not in lines[0]
    assert "not shown at 44 columns: latency ms, mode" in " ".join(lines)
    # The refusal reason is never left out: it wraps under its row.
    assert "non-quantized" in text


def test_too_narrow_for_names_cuts_them_in_the_middle() -> None:
    lines = render(28, lambda c: print_table(c, COLUMNS, ROWS))
    assert all(len(line) <= 28 for line in lines)
    row = next(line for line in lines if line.lstrip().startswith("1 "))
    assert "demo_" in row and "32.dlc" in row and "…" in row


def test_wrap_columns_wrap_and_groups_head_their_rows() -> None:
    columns = (Column("runtime"), Column("quantized container", fit=WRAP, min_width=10))
    rows = [
        Group("demo.dlc", "float · 180.7 KiB"),
        ("CPU", Lines(["init 4.54 ms", "file 99.3 KiB (49.5 KiB)"])),
    ]
    lines = render(30, lambda c: print_table(c, columns, rows))
    assert lines[2] == "demo.dlc  float · 180.7 KiB"
    assert lines[3].startswith("CPU") and "init 4.54 ms" in lines[3]
    assert lines[4].rstrip().endswith("(49.5") and lines[5].strip() == "KiB)"
    assert all(len(x) <= 30 for x in lines)


def test_a_newline_or_tab_in_plain_text_stays_on_one_line_escaped() -> None:
    """Only ``Lines`` make several lines: a name from the store with a newline or tab,
    in a cell, a field, a group title or a message, is one line showing ``\\n``/``\\t``."""
    name = "two\nlines\tand\x1b[2J"
    shown = "two\\nlines\\tand\\x1b[2J"
    table = render(80, lambda c: print_table(c, COLUMNS, [Group(name), (1, name, None)]))
    assert table[2] == shown and table[3].strip().startswith("1  " + shown) and len(table) == 4
    fields = render(80, lambda c: print_fields(c, [("project", name), ("note", Lines.of(name))]))
    assert fields == [f"project  {shown}", "note     two", "         lines\\tand\\x1b[2J"]
    assert render(80, lambda c: print_lines(c, [name])) == [shown]


def test_empty_and_markup_and_control_characters() -> None:
    lines = render(60, lambda c: print_table(c, COLUMNS, [(3, "[red]x[/red]\x1b]0;t\x07", None)]))
    row = lines[-1]
    assert "[red]x[/red]" in row and "\\x1b" in row and "\x1b" not in row
    assert row.endswith(" -")  # None shows as a dash
    # Optional columns with nothing in them are left out, quietly.
    assert "latency" not in lines[0] and "mode" not in lines[0] and "not shown" not in row


def test_shorten_middle() -> None:
    assert shorten_middle("demo_enhanced_bias32.dlc", 12) == "demo_e…2.dlc"
    assert shorten_middle("short", 12) == "short"
    assert len(shorten_middle("x" * 50, 7)) == 7


def test_repeated_notes_are_said_once_with_what_they_are_about() -> None:
    notes = [
        (("a.dlc", "cpu"), "no float reference"),
        (("a.dlc", "gpu"), "no float reference"),
        (("b.dlc", "dsp"), "no float reference"),
        (("b.dlc", "dsp"), "1 layer in float"),
    ]
    assert collapse_notes(notes) == [
        "no float reference (3 rows: a.dlc on cpu, gpu; b.dlc on dsp)",
        "b.dlc on dsp: 1 layer in float",
    ]


def test_fields_and_lines_wrap_under_themselves() -> None:
    lines = render(40, lambda c: print_fields(c, [("path", "/a/" + "b" * 50), ("n", 3)]))
    assert lines[0].startswith("path  /a/bbb") and lines[1].startswith("      bbb")
    assert lines[-1] == "n     3" and all(len(x) <= 40 for x in lines)
    lines = render(30, lambda c: print_lines(c, ["  - " + "word " * 12], hang=4))
    assert lines[0].startswith("  - word") and lines[1].startswith("    word")


def test_progress_is_silent_off_a_terminal() -> None:
    progress = StderrProgress("bench", enabled=False)
    with progress:
        progress("bench", 1, 3)
    assert progress._progress is None  # never started: nothing drawn


def test_progress_shows_once_work_takes_a_while(monkeypatch) -> None:
    import time

    import workbench.console as console_module

    monkeypatch.setattr(console_module, "SHOW_AFTER_S", 0.05)
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=80, color_system=None)
    with StderrProgress("bench", enabled=True, console=terminal) as progress:
        progress("bench", 3, 5)
        for _ in range(100):
            if "3/5" in out.getvalue():
                break
            time.sleep(0.02)
    assert "bench" in out.getvalue() and "3/5" in out.getvalue()
    quick = io.StringIO()
    fast = Console(file=quick, force_terminal=True, width=80)
    with StderrProgress("quick", enabled=True, console=fast) as progress:
        progress("quick", 1, 1)  # done before the delay: nothing drawn
    assert quick.getvalue() == ""
