"""A SQLite store that cannot be written: browsing works, writing is one line and exit 2.

Read-only is real here: file modes for an ordinary user; for root (whom
modes do not stop) a read-only bind mount in a private mount namespace.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workbench.jobs.lifecycle import tracked_run
from workbench.store import open_store
from workbench.store.database import create_store_engine
from workbench.store.migrate import upgrade_to_head

pytestmark = pytest.mark.sqlite_only

Run = Callable[..., subprocess.CompletedProcess[str]]


def _workbench(db: Path, *args: str, wrap: list[str] | None = None) -> list[str]:
    return [*(wrap or []), sys.executable, "-m", "workbench", "--db", str(db), *args]


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], Run]]:
    """``make_read_only(path)``: a function running ``workbench`` with ``path`` read-only."""
    restore: list[tuple[Path, int]] = []

    def make(target: Path) -> Run:
        db = target if target.is_file() else target / "store.db"
        if os.geteuid() != 0:
            restore.append((target, target.stat().st_mode))
            target.chmod(0o444 if target.is_file() else 0o555)
            return lambda *args: subprocess.run(
                _workbench(db, *args), capture_output=True, text=True, timeout=60
            )
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: cannot make a path read-only")
        wrap = [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind -o ro "$1" "$1" && shift && exec "$@"', "sh", str(target),
        ]  # fmt: skip
        probe = subprocess.run([*wrap, "test", "!", "-w", str(db)], capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"root cannot mount read-only here: {probe.stderr.decode().strip()}")
        return lambda *args: subprocess.run(
            _workbench(db, *args, wrap=wrap), capture_output=True, text=True, timeout=60
        )

    yield make
    for path, mode in restore:
        path.chmod(mode)


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, int]:
    """A closed store in ``tmp_path/ro`` holding one run; its path and the run id."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "store.db"
    with open_store(f"sqlite:///{db}") as store:
        with tracked_run(store, project="default", kind="bench", runtime="dsp") as run:
            run.record(latency_mean_ms=1.5)
    assert not db.with_name("store.db-wal").exists()  # the last close folded it in
    return db, run.id


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_store_can_be_browsed(filled, make_read_only, what: str) -> None:
    db, run_id = filled
    workbench = make_read_only(db if what == "file" else db.parent)
    listed = workbench("runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)["runs"]] == [run_id]
    projects = workbench("project", "list", "--json")
    assert projects.returncode == 0, projects.stderr
    assert [p["name"] for p in json.loads(projects.stdout)] == ["default"]


@pytest.mark.parametrize("what", ["file", "directory"])
def test_writing_a_read_only_store_is_one_line_and_exit_2(
    filled, make_read_only, what: str
) -> None:
    db, run_id = filled
    before = _digest(db)
    workbench = make_read_only(db if what == "file" else db.parent)
    for args in (["project", "create", "x"], ["runs", "tag", str(run_id), "t"]):
        result = workbench(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith(f"error: store {db} is read-only ("), lines[0]
        assert result.stdout == ""
    assert _digest(db) == before


def test_a_read_only_store_that_needs_an_upgrade_says_so(tmp_path: Path, make_read_only) -> None:
    db = tmp_path / "old.db"
    engine = create_store_engine(f"sqlite:///{db}")
    upgrade_to_head(engine, target="0001")
    engine.dispose()
    result = make_read_only(db)("project", "list")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: store {db} is read-only (")
    assert result.stderr.strip().endswith("it needs a schema upgrade first")
