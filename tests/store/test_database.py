"""Connections: where the store is, SQLite settings, write locks, bad URLs."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from workbench.errors import BadInput, StoreError
from workbench.store import Project, open_store
from workbench.store.database import default_url, resolve_url


def test_url_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKBENCH_DB", "sqlite:///from-env.db")
    assert resolve_url("sqlite:///given.db") == "sqlite:///given.db"
    assert resolve_url(None) == "sqlite:///from-env.db"
    monkeypatch.delenv("WORKBENCH_DB")
    assert resolve_url(None) == default_url()
    assert default_url().startswith("sqlite:///") and default_url().endswith("workbench.db")
    # A bare path is a SQLite file.
    assert resolve_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"


def test_default_store_is_in_the_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("WORKBENCH_DB")
    expected = Path(platformdirs.user_data_dir("workbench", appauthor=False)) / "workbench.db"
    assert resolve_url(None) == f"sqlite:///{expected}"


@pytest.mark.sqlite_only
def test_sqlite_settings_on_every_connection(store) -> None:
    with store.engine.connect() as connection:

        def pragma(name: str) -> object:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 30000
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("journal_size_limit") == 64 * 2**20  # the WAL shrinks after a burst


@pytest.mark.sqlite_only
def test_write_sessions_take_the_write_lock_at_begin(store, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "store.db", timeout=0, isolation_level=None)
    with store.write() as session:
        session.execute(text("SELECT 1"))  # no write yet: the lock is already ours
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # released at commit
    other.execute("ROLLBACK")


@pytest.mark.sqlite_only
def test_read_sessions_do_not_block_writers(store, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "store.db", timeout=0, isolation_level=None)
    with store.read() as session:
        session.execute(text("SELECT count(*) FROM projects"))
        other.execute("BEGIN IMMEDIATE")
        other.execute(
            "INSERT INTO projects (name, archived, created_at) VALUES ('x', 0, '2024-01-01')"
        )
        other.execute("COMMIT")


def test_write_rolls_back_on_error(store) -> None:
    with pytest.raises(RuntimeError), store.write() as session:
        session.add(Project(name="kept?"))
        session.flush()
        raise RuntimeError
    with store.read() as session:
        assert session.query(Project).count() == 0


@pytest.mark.parametrize(
    "url, error, message",
    [
        ("sqlite:///", None, None),  # in-memory: allowed
        ("://no-scheme", BadInput, "invalid database URL"),
        ("foo://bar", BadInput, "unknown backend"),
        ("postgresql+nosuchdriver://u@h/db", BadInput, "unknown backend"),
    ],
)
def test_url_errors(url: str, error: type[Exception] | None, message: str | None) -> None:
    if error is None:
        open_store(url).close()
        return
    with pytest.raises(error, match=message):
        open_store(url)


def test_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'missing' / 'store.db'}")


def test_path_under_a_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="not a directory"):
        open_store(f"sqlite:///{tmp_path / 'file' / 'store.db'}")


def test_directory_as_store_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        open_store(f"sqlite:///{tmp_path}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_unwritable_location_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        open_store("sqlite:////proc/workbench-test.db")


# Run in a fresh interpreter where ``psycopg`` cannot be imported (CI installs the driver,
# so hiding it is the only way this path runs there): an import hook refuses it.
_NO_DRIVER = """
import sys
class NoDriver:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith(("psycopg.", "psycopg_")):
            raise ImportError(f"No module named {name!r} (hidden by the test)")
        return None
sys.meta_path.insert(0, NoDriver())
"""


def test_missing_driver_is_a_store_error(tmp_path: Path) -> None:
    import os
    import subprocess

    url = "postgresql+psycopg://user@localhost/db"
    probe = (
        _NO_DRIVER
        + f"""
from workbench.errors import StoreError
from workbench.store import open_store
try:
    open_store({url!r})
except StoreError as exc:
    print("refused:", exc)
else:
    print("opened")
"""
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused:") and "not installed" in done.stdout, done.stdout
    assert "psycopg" in done.stdout and "\n" not in done.stdout.strip()
    # The command line says so in one error line, exit 2.
    cli = (
        _NO_DRIVER
        + f"""
sys.argv = ["workbench", "--db", {url!r}, "runs", "list"]
from workbench.cli import main
main()
"""
    )
    done = subprocess.run(
        [sys.executable, "-c", cli], capture_output=True, text=True, env=env, timeout=120
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert "not installed" in errors[0] and "Traceback" not in done.stderr
