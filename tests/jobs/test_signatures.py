"""Jobs take few parameters: a request or options dataclass past eight (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import workbench.jobs

MAX_PARAMETERS = 8


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = node.args
    names = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
    return len([n for n in names if n.arg not in ("self", "cls")])


def test_no_job_function_takes_more_than_eight_parameters() -> None:
    folder = Path(workbench.jobs.__file__).parent
    too_many = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{path.stem}.{node.name}"
                if _parameters(node) > MAX_PARAMETERS:
                    too_many.append(f"{name} ({_parameters(node)})")
    assert not too_many, too_many
