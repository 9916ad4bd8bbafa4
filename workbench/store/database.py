"""Where the store lives, how connections are made, and units of work.

``open_store()`` is the one way in: it resolves the URL, connects, upgrades the
schema to the newest migration and marks runs orphaned by dead processes as
``interrupted``. Then ``store.read()`` and ``store.write()`` hand out one
session per unit of work.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from workbench.errors import BadInput, StoreError

APP_NAME = "workbench"
ENV_VAR = "WORKBENCH_DB"
BUSY_TIMEOUT_S = 30.0

# Execution option that marks a connection as about to write: on SQLite its
# transaction starts with BEGIN IMMEDIATE, taking the write lock up front, so
# two writers queue on the busy timeout instead of failing on lock upgrade.
_WRITE = "workbench_write"


def default_url() -> str:
    """The default store: ``workbench.db`` in the user data directory."""
    import platformdirs

    path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "workbench.db"
    return f"sqlite:///{path}"


def resolve_url(db: str | None = None) -> str:
    """The store URL: the ``--db`` value, else ``$WORKBENCH_DB``, else the default.

    A value without ``://`` is taken as the path of a SQLite file.
    """
    url = db or os.environ.get(ENV_VAR) or default_url()
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().absolute()}"
    return url


def describe_url(url: str | URL) -> str:
    """The URL as it can be shown to a user (password hidden)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for other backends and in-memory."""
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return Path(url.database)


class Store:
    """An open project store: an engine and the sessions made from it."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.url = engine.url
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(
            bind=engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )

    def __repr__(self) -> str:
        return f"Store({describe_url(self.url)!r})"

    @property
    def description(self) -> str:
        return describe_url(self.url)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; on SQLite it never blocks writers (WAL)."""
        with translate_errors(self.url), self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back on error."""
        with translate_errors(self.url), self._write() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(db: str | None = None, *, upgrade: bool = True, recover: bool = True) -> Store:
    """Open (creating if needed) the store at ``db`` (see ``resolve_url``).

    Upgrades the schema to head and marks runs of dead processes interrupted.
    Raises ``BadInput`` for a malformed URL and ``StoreError`` when the database
    cannot be opened or written.
    """
    url_text = resolve_url(db)
    engine = create_store_engine(url_text)
    store = Store(engine)
    try:
        with translate_errors(engine.url):
            if upgrade and not _at_head(engine):
                from workbench.store.migrate import upgrade_to_head

                upgrade_to_head(engine)
            if recover:
                from workbench.store.recovery import recover_orphaned_runs

                recover_orphaned_runs(store)
    except BaseException:
        engine.dispose()
        raise
    return store


def _newest_revision() -> str | None:
    """The newest migration's id, read from the file names (``0002_….py`` is ``0002``).

    Revision ids are the files' sequence numbers (a test keeps them so); this lets
    a store that is already at head open without importing Alembic.
    """
    from workbench.store.migrate_paths import versions_dir

    ids = [p.name.split("_", 1)[0] for p in versions_dir().glob("[0-9][0-9][0-9][0-9]_*.py")]
    return max(ids) if ids else None


def _at_head(engine: Engine) -> bool:
    from sqlalchemy import inspect, text

    head = _newest_revision()
    if head is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return [r[0] for r in rows] == [head]


def create_store_engine(url_text: str) -> Engine:
    """An engine for ``url_text`` with the workbench's connection settings."""
    try:
        url = make_url(url_text)
    except ArgumentError:
        raise BadInput(f"invalid database URL: {url_text!r}") from None
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_path(path, url_text)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise BadInput(
            f"unsupported database URL {describe_url(url)!r}: "
            f"unknown backend {url.drivername!r} (use sqlite:///PATH or postgresql+psycopg://...)"
        ) from None
    except ImportError as exc:
        raise StoreError(
            f"the database driver for {url.drivername!r} is not installed ({exc.name or exc})"
        ) from None
    except ArgumentError as exc:
        raise BadInput(f"invalid database URL {describe_url(url)!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _check_sqlite_path(path: Path, url_text: str) -> None:
    if path.is_dir():
        raise StoreError(f"cannot open store {path}: it is a directory")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise StoreError(f"cannot open store {path}: {parent} is not a directory")
    if not parent.exists():
        if url_text == default_url():
            parent.mkdir(parents=True, exist_ok=True)
        else:
            raise StoreError(f"cannot open store {path}: directory {parent} does not exist")
    if not path.exists() and not os.access(parent, os.W_OK):
        raise StoreError(f"cannot create store {path}: directory {parent} is not writable")


def _configure_sqlite(engine: Engine) -> None:
    busy_ms = int(BUSY_TIMEOUT_S * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN: the driver's own
        # implicit transactions can neither take the write lock early nor
        # wrap DDL, which the migrations need.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def write_options() -> dict[str, Any]:
    """Execution options that make a connection's transaction a write transaction."""
    return {_WRITE: True}


@contextmanager
def translate_errors(url: URL) -> Iterator[None]:
    """Turn a database that cannot be opened, written or locked into a ``StoreError``."""
    try:
        yield
    except OperationalError as exc:
        raise StoreError(f"store {describe_url(url)}: {_first_line(exc)}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreError(f"store {describe_url(url)}: connection lost") from exc
        raise


def _first_line(exc: DBAPIError) -> str:
    orig = exc.orig if exc.orig is not None else exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__
