"""The real executable: entry points, exit codes, and a light --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("sqlalchemy", "alembic", "numpy", "onnx", "textual", "rich")
# The compiled kernels' compiler: only a plan big enough to use them imports it.
COMPILER = ("numba", "llvmlite")


def _workbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], capture_output=True, text=True, timeout=60
    )


def test_create_and_list_through_python_m(store_url: str, tmp_path: Path) -> None:
    created = _workbench("--db", store_url, "project", "create", "demo")
    assert created.returncode == 0, created.stderr
    listed = _workbench("--db", store_url, "project", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["name"] for p in json.loads(listed.stdout)] == ["demo"]


def test_bad_input_exits_2_with_one_line(store_url: str) -> None:
    result = _workbench("--db", store_url, "--project", "nope", "runs", "list")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no project named 'nope' (see: workbench project list)"
    ]


def test_help_imports_nothing_heavy() -> None:
    # `workbench --help` must answer in well under 0.5 s; what would break
    # that is importing a heavy library at module level.
    probe = (
        "import sys\n"
        "from workbench.cli import cli\n"
        "try:\n"
        "    cli.main(['--help'], prog_name='workbench')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print([m for m in {HEAVY + COMPILER!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _imported_after(code: str) -> list[str]:
    """The compiler modules imported by running ``code`` in a fresh interpreter."""
    probe = f"import sys\n{code}\nprint([m for m in {COMPILER!r} if m in sys.modules])\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip().splitlines()[-1])


def test_info_and_the_tui_import_no_compiler(tmp_path: Path) -> None:
    from workbench.data import demo_model_path

    dlc = tmp_path / "demo.dlc"
    converted = _workbench("convert", str(demo_model_path()), "-o", str(dlc))
    assert converted.returncode == 0, converted.stderr
    info = (
        "from workbench.cli import cli\n"
        "try:\n"
        f"    cli.main(['info', {str(dlc)!r}], prog_name='workbench')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
    )
    assert _imported_after(info) == []
    tui = "import workbench.tui.app\nfrom workbench.tui.app import WorkbenchApp\n"
    assert _imported_after(tui) == []


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "workbench"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "workbench" in result.stdout
