"""Issue 15 on what main added since round one: control-flow bodies, the terminal-fitted
console, ``workbench report``, ids typed in filters (lean: about 3 s)."""

from __future__ import annotations

import io
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from rich.console import Console

from workbench.console import Column, Group, Lines, print_fields, print_table
from workbench.errors import ModelError
from workbench.jobs.browse import parse_filter
from workbench.jobs.convert import convert_model
from workbench.jobs.report import parse_target
from workbench.store import Store


def _if_model(path: Path, kernel: list[int]) -> Path:
    """``y = If(c, MaxPool(x, kernel), x)``: the pool lives in a body (a non-constant
    condition, so import keeps the If)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    then_out = helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 1, 4, 4])
    else_out = helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 1, 4, 4])
    then = helper.make_graph(
        [helper.make_node("MaxPool", ["x"], ["t"], kernel_shape=kernel, name="pool")],
        "then", [], [then_out],
    )  # fmt: skip
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [else_out])
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="if")],
        "cf", [x, helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_a_forbidden_attribute_inside_a_body_is_refused_and_a_sane_body_converts(
    store: Store, tmp_path: Path
) -> None:
    good = _if_model(tmp_path / "good.onnx", [1, 1])
    convert_model(store, "default", good, tmp_path / "good.dlc")  # control flow is not refused
    assert (tmp_path / "good.dlc").is_file()
    bad = _if_model(tmp_path / "bad.onnx", [0, 0])
    with pytest.raises(ModelError, match=r"MaxPool node 'pool': kernel_shape \[0, 0\]"):
        convert_model(store, "default", bad, tmp_path / "bad.dlc")
    assert not (tmp_path / "bad.dlc").exists()


def _render(draw, width: int = 60) -> str:
    out = io.StringIO()
    draw(Console(file=out, width=width, color_system=None, highlight=False))
    return out.getvalue()


def test_the_console_escapes_every_control_and_keeps_only_the_lines_it_is_given() -> None:
    hostile = "a\u202eb\x9b31m\x7f\tc"
    text = _render(lambda c: (
        print_table(c, (Column("name"), Column("detail")), [
            Group(f"group{hostile}\nfake row"), (hostile, "line 1\nline 2"),
            ("lines", Lines(["line 3", f"line 4{hostile}"])),
        ], title=f"title\n{hostile}"),
        print_fields(c, [(f"key\n{hostile}", hostile)], title=hostile),
    ))  # fmt: skip
    assert not any(ch in text for ch in "\u202e\x9b\x7f\t"), repr(text)
    assert "\\u202e" in text and "\\x9b" in text and "\\x7f" in text and "\\t" in text
    assert "title\\n" in text and "group" in text and "\\nfake row" in text  # one line each
    assert "line 1\\nline 2" in text  # a string is one line, wherever it came from
    assert "line 3\n" in text  # Lines (the advisor's cells) stay lines


def test_ids_are_ascii_digits_everywhere_a_user_types_one() -> None:
    assert parse_target("²", None) == (None, "²")  # an experiment name, not int("²")
    assert parse_target("12", None) == (12, None)
    assert parse_filter("model:¹").model_name == "¹"
    assert parse_filter("model:7").model_id == 7


def test_report_never_writes_over_the_store(cli, store: Store, make_run, tmp_path: Path) -> None:
    run = make_run()
    database = store.files[0]
    result = cli("report", str(run), "-o", str(database))
    assert result.exit_code == 2
    assert "is an input of this command" in result.stderr
    assert database.read_bytes()[:16] == b"SQLite format 3\x00"  # not an HTML page
    assert [r["id"] for r in cli.json("runs", "list")["runs"]] == [run]
    unknown = cli("report", "²", "-o", str(tmp_path / "r.html"))
    assert unknown.exit_code == 2 and "internal error" not in unknown.stderr
