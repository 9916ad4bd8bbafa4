"""Fixtures shared by every test folder.

* No test touches the user's real store or data directory: ``WORKBENCH_DB`` and
  ``XDG_DATA_HOME`` point into pytest's temporary directory for every test (autouse,
  cheap, imports nothing heavy).
* ``store_url``: where this test's store lives (not created yet);
  ``store``: that store, opened (an empty copy of a store migrated once).
* ``cli``: runs ``workbench`` in-process against that store.
* ``make_run``: inserts a finished run directly, for tests about browsing.

The store is a SQLite file in the test's temporary directory; with
``WORKBENCH_TEST_DB=postgresql+psycopg://…`` set it is a database of its own on
that server (see ``PostgresDatabases``), and tests marked ``sqlite_only`` are
skipped. Either way a test starts from nothing, or from an empty store at the
newest schema, and no two tests share one.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

TEST_DB_ENV = "WORKBENCH_TEST_DB"


def store_server_url() -> str | None:
    """The PostgreSQL server the store tests run against, if ``WORKBENCH_TEST_DB`` names one."""
    return os.environ.get(TEST_DB_ENV) or None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: about SQLite itself (files, WAL, pragmas); skipped on PostgreSQL"
    )
    from tests.reliability import concurrency_report

    if not config.pluginmanager.is_registered(concurrency_report):
        config.pluginmanager.register(concurrency_report, "workbench-concurrency-report")


def pytest_report_header(config: pytest.Config) -> str | None:
    url = store_server_url()
    return f"store tests on: {_hide_password(url)}" if url else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not store_server_url():
        return
    skip = pytest.mark.skip(reason=f"SQLite-specific ({TEST_DB_ENV} runs the store on PostgreSQL)")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@pytest.fixture(autouse=True)
def _isolated_default_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.getbasetemp() / "default-store.db"
    monkeypatch.setenv("WORKBENCH_DB", f"sqlite:///{path}")
    # The user data directory (the demo's files) too.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "user-data"))


class PostgresDatabases:
    """Databases of their own for tests, on the ``WORKBENCH_TEST_DB`` server.

    ``create`` hands out an empty database or one at the newest schema. Copying
    a template costs ~0.4 s on PostgreSQL, so a migrated database goes back to
    a pool after its test, emptied (rows deleted, id sequences restarted): the
    next test gets it as good as new for a few ms. One whose schema or revision
    the test changed, or that started empty, is dropped instead. Names carry
    the pid, so pytest-xdist workers never share one.
    """

    def __init__(self, server_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        self.server = make_url(server_url)
        self.admin = create_engine(self.server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.prefix = f"wbt_{os.getpid()}"
        self._numbers = itertools.count(1)
        self._free: list[str] = []  # migrated and emptied, ready for another test
        self._migrated: set[str] = set()
        self.template = f"{self.prefix}_template"
        self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{self.template}" TEMPLATE template0')
        from workbench.store import open_store

        open_store(self.url_of(self.template)).close()  # leaves no connection behind
        self._fingerprint = self._schema_fingerprint(self.template)

    def url_of(self, name: str) -> str:
        return self.server.set(database=name).render_as_string(hide_password=False)

    def create(self, *, migrated: bool) -> str:
        """A database of its own: empty, or at the newest schema. Its URL."""
        if migrated and self._free:
            name = self._free.pop()
        else:
            name = f"{self.prefix}_{next(self._numbers)}"
            template = self.template if migrated else "template0"
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        if migrated:
            self._migrated.add(name)
        return self.url_of(name)

    def release(self, url: str) -> None:
        """The test is over: empty its database for the next one, or drop it."""
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        assert name is not None
        # Connections the test left (a killed writer, an unclosed store) go first.
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        if name in self._migrated and self._empty(name):
            self._free.append(name)
            return
        self._migrated.discard(name)
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in [*self._free, self.template]:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()

    def _empty(self, name: str) -> bool:
        """Delete every row and restart the id sequences, if the schema is still the
        template's; False (leave it to be dropped) if not, or if anything fails."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        from workbench.store import Base

        if self._schema_fingerprint(name) != self._fingerprint:
            return False
        engine = create_engine(self.url_of(name), poolclass=NullPool)
        try:
            with engine.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '2s'"))
                for table in reversed(Base.metadata.sorted_tables):
                    connection.execute(table.delete())
                sequences = connection.scalars(
                    text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
                ).all()
                for sequence in sequences:
                    connection.execute(text("SELECT setval(:s, 1, false)"), {"s": sequence})
            return True
        except Exception:
            return False
        finally:
            engine.dispose()

    def _schema_fingerprint(self, name: str) -> str | None:
        """Tables, columns, types, indexes, constraints and the Alembic revision, hashed."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url_of(name), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                return connection.scalar(text(_SCHEMA_FINGERPRINT))
        except Exception:
            return None
        finally:
            engine.dispose()

    def _admin(self, sql: str) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(sql)


_SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
    SELECT c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
           || ':' || a.attnotnull AS item
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || conname FROM pg_constraint c
    JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'revision ' || version_num FROM alembic_version
) AS schema
"""


@pytest.fixture(scope="session")
def _postgres() -> Iterator[PostgresDatabases | None]:
    url = store_server_url()
    if url is None:
        yield None
        return
    databases = PostgresDatabases(url)
    yield databases
    databases.close()


@pytest.fixture
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, _postgres: PostgresDatabases | None
) -> Iterator[str]:
    """URL of this test's store: a SQLite file in its temp dir that does not exist
    yet, or (``WORKBENCH_TEST_DB``) an empty PostgreSQL database of its own."""
    if _postgres is None:
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    # Copying the migrated template at once saves a second CREATE DATABASE
    # for the tests that want it (through ``migrated_store_url``).
    url = _postgres.create(migrated="migrated_store_url" in request.fixturenames)
    yield url
    _postgres.release(url)


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store file at the newest schema, to copy (SQLite only)."""
    # Migrating costs a few hundred ms; do it once per session and copy the file.
    from workbench.store import open_store

    path = tmp_path_factory.mktemp("template") / "store.db"
    open_store(f"sqlite:///{path}").close()  # the last close folds the WAL in
    return path


@pytest.fixture
def migrated_store_url(
    request: pytest.FixtureRequest, store_url: str, tmp_path: Path, _postgres: Any
) -> str:
    """``store_url``, holding an empty store already at the newest schema."""
    if _postgres is None:
        template = request.getfixturevalue("_migrated_template")
        shutil.copyfile(template, tmp_path / "store.db")
    return store_url  # on PostgreSQL, created from the migrated template


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


class DemoStore:
    """A store the demo built once (4 samples, 1 iteration), through the CLI at 80 columns."""

    def __init__(self, cli: CliRunner, files: Path, output: str, runs: list[dict[str, Any]]):
        self.cli, self.files, self.output, self.runs = cli, files, output, runs

    def run(self, width: int, *args: str) -> str:
        """``workbench --project demo ARGS`` at ``width`` columns; its stdout (it must succeed)."""
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("COLUMNS", str(width))
            result = self.cli("--project", "demo", *args)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    @property
    def experiment(self) -> str:
        """The demo's own experiment (other tests add advise experiments to this store)."""
        import json

        listed = json.loads(self.run(80, "--json", "experiment", "list"))
        return next(e["name"] for e in listed if e["name"].startswith("demo "))


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """The demo's store and files, shared by the tests that only read them."""
    import json

    base = tmp_path_factory.mktemp("demo-store")
    cli = CliRunner(f"sqlite:///{base / 'store.db'}")
    files = base / "files"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLUMNS", "80")
        mp.setenv("XDG_DATA_HOME", str(base / "user-data"))
        result = cli("demo", "--workdir", str(files), "--samples", "4", "--iterations", "1")
    assert result.exit_code == 0, result.stderr
    listed = cli("--json", "--project", "demo", "runs", "list", "--limit", "100")
    return DemoStore(cli, files, result.stdout, json.loads(listed.stdout)["runs"])
