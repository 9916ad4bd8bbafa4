"""The real executable: entry points, exit codes, and a light --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("sqlalchemy", "alembic", "numpy", "onnx", "textual", "rich")


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
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "workbench"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "workbench" in result.stdout
