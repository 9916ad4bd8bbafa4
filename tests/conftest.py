"""Fixtures shared by every test folder.

* No test touches the user's real store: ``WORKBENCH_DB`` points into pytest's
  temporary directory for every test (autouse, cheap, imports nothing heavy).
* ``store_url``: where this test's SQLite store lives (not created yet);
  ``store``: that store, opened (an empty copy of a store migrated once).
* ``cli``: runs ``workbench`` in-process against that store.
* ``make_run``: inserts a finished run directly, for tests about browsing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _isolated_default_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.getbasetemp() / "default-store.db"
    monkeypatch.setenv("WORKBENCH_DB", f"sqlite:///{path}")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """URL of a SQLite store that does not exist yet, in this test's temp dir."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Migrating costs a few hundred ms; do it once per session and copy the file.
    from workbench.store import open_store

    path = tmp_path_factory.mktemp("template") / "store.db"
    open_store(f"sqlite:///{path}").close()  # the last close folds the WAL in
    return path


@pytest.fixture
def migrated_store_url(store_url: str, tmp_path: Path, _migrated_template: Path) -> str:
    """``store_url``, holding an empty store already at the newest schema."""
    shutil.copyfile(_migrated_template, tmp_path / "store.db")
    return store_url


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Any]:
    """An open, empty store (``workbench.store.Store``) at ``store_url``."""
    from workbench.store import open_store

    opened = open_store(migrated_store_url)
    yield opened
    opened.close()


class CliRunner:
    """Invoke ``workbench ARGS`` in-process with ``--db`` set to the test's store."""

    def __init__(self, url: str):
        self.url = url

    def __call__(self, *args: str, input: str | None = None, db: bool = True) -> Any:
        from click.testing import CliRunner as ClickRunner

        from workbench.cli import cli

        argv = ["--db", self.url, *args] if db else list(args)
        return ClickRunner().invoke(cli, argv, input=input, catch_exceptions=False)

    def json(self, *args: str) -> Any:
        """Run with ``--json``, check it succeeded, and return the parsed output."""
        import json

        result = self("--json", *args)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli(migrated_store_url: str) -> CliRunner:
    """``workbench`` against the store at ``store_url`` (the one ``store`` opens)."""
    return CliRunner(migrated_store_url)


@pytest.fixture
def make_run(store: Any) -> Callable[..., int]:
    """Insert a finished run; returns its id. Keyword arguments set its columns."""
    from workbench.store import BenchmarkRun, QuantizationRun, Run, RunTag, utcnow
    from workbench.store.queries import get_project

    def make(
        *,
        kind: str = "bench",
        status: str = "succeeded",
        project: str = "default",
        tags: Sequence[str] = (),
        runtime: str = "cpu",
        model_id: int | None = None,
        sqnr_db: float | None = None,
        **columns: Any,
    ) -> int:
        with store.write() as session:
            project_row = get_project(session, project)
            run = Run(
                project_id=project_row.id,
                kind=kind,
                status=status,
                model_id=model_id,
                host="test-host",
                pid=1,
                started_at=utcnow(),
                tags=[RunTag(tag=t) for t in tags],
                **columns,
            )
            if kind == "bench":
                run.benchmark = BenchmarkRun(runtime=runtime, sqnr_db=sqnr_db)
            else:
                run.quantization = QuantizationRun(param_quantizer="tf", sqnr_db=sqnr_db)
            session.add(run)
            session.flush()
            return run.id

    return make
