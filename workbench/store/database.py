"""Where the store lives, how connections are made, and units of work.

``open_store()`` is the one way in: it resolves the URL, connects, upgrades the
schema to the newest migration and marks runs orphaned by dead processes as
``interrupted``. Then ``store.read()`` and ``store.write()`` hand out one
session per unit of work.

Writers take the store's write lock when their transaction begins, on both
backends: SQLite with ``BEGIN IMMEDIATE``, PostgreSQL with a transaction-level
advisory lock. Units of work are short, so serializing them costs little, and
every read-modify-write in the jobs (tag a run, set the one baseline, create
the default project) is safe against other processes without per-query
locking. Readers never wait (WAL on SQLite, MVCC on PostgreSQL).
"""

from __future__ import annotations

import json
import math
import os
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DataError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from workbench.errors import BadInput, StoreError

APP_NAME = "workbench"
ENV_VAR = "WORKBENCH_DB"
BUSY_TIMEOUT_S = 30.0
# Set to 1 to open a SQLite store on a network filesystem anyway (see README).
ALLOW_NETWORK_FS_VAR = "WORKBENCH_ALLOW_NETWORK_FS"
# Where Linux lists mounted filesystems (tests point it at a fake table).
MOUNTS_FILE = Path("/proc/mounts")
# Filesystems whose locking or shared memory SQLite's WAL cannot rely on.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "coda",
        "9p", "sshfs", "fuse.sshfs", "glusterfs", "fuse.glusterfs", "ceph", "fuse.ceph",
        "fuse.ceph-fuse", "lustre", "gpfs", "beegfs", "ocfs2", "gfs2", "davfs",
        "fuse.davfs2", "fuse.s3fs", "fuse.rclone", "fuse.gcsfuse", "fuse.juicefs",
        "fuse.mfs", "fuse.moosefs", "fuse.lizardfs", "fuse.cvmfs",
    }
)  # fmt: skip

# Execution option that marks a connection as about to write: its transaction
# takes the store's write lock at once (see the module doc), so two writers
# queue on the busy timeout instead of failing on a lock upgrade.
_WRITE = "workbench_write"
# PostgreSQL advisory lock held by every write transaction ("WBWR"); advisory
# locks are per database, so stores on one server do not contend.
PG_WRITE_LOCK_KEY = 0x5742_5752
# PostgreSQL SQLSTATEs that mean "you cannot change this store", not a bug:
# insufficient privilege, read-only transaction (a hot standby).
_PG_REFUSALS = {"42501": "permission denied", "25006": "the server is read-only"}
# Engines of SQLite stores opened read-only, and why.
_READ_ONLY: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def data_dir() -> Path:
    """The user data directory: the default store, the demo's files."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_url() -> str:
    """The default store: ``workbench.db`` in the user data directory."""
    return f"sqlite:///{data_dir() / 'workbench.db'}"


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


def store_files(db: str | None = None) -> tuple[Path, ...]:
    """``Store.files`` of the store ``db`` names (as ``resolve_url``), without opening it:
    for commands that write files but need no store."""
    try:
        return _database_files(make_url(resolve_url(db)))
    except (ArgumentError, ValueError):
        return ()


def _database_files(url: URL) -> tuple[Path, ...]:
    path = sqlite_path(url)
    if path is None:
        return ()
    return (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for other backends and in-memory."""
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return Path(url.database)


def _same_file(info: os.stat_result, path: Path) -> bool:
    try:
        mine = os.stat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == (mine.st_dev, mine.st_ino)


class Store:
    """An open project store: an engine and the sessions made from it.

    ``read_only`` is set when a SQLite store can be read but not written (the
    file or its directory is not writable): ``write()`` then refuses at once.
    """

    def __init__(self, engine: Engine, read_only: str | None = None):
        self.engine = engine
        self.url = engine.url
        self.read_only = read_only  # why it cannot be written, or None
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(
            bind=engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )

    def __repr__(self) -> str:
        return f"Store({describe_url(self.url)!r})"

    @property
    def description(self) -> str:
        return describe_url(self.url)

    @property
    def files(self) -> tuple[Path, ...]:
        """The files that hold this store (a SQLite database and its journals), which no
        command may write over."""
        return _database_files(self.url)

    def is_named_by(self, url: str) -> bool:
        """Whether another tool's database ``url`` is this store's own database: the same
        SQLite file (links resolved) or the same server database."""
        try:
            other = make_url(url)
        except (ArgumentError, ValueError):
            return False
        if other.get_backend_name() != self.url.get_backend_name():
            return False
        path = sqlite_path(other)
        if path is not None:
            try:
                theirs = os.stat(path)
            except (OSError, ValueError):
                return False
            return any(_same_file(theirs, mine) for mine in self.files)
        if other.get_backend_name() == "sqlite":
            return False  # in memory: nobody else's
        return (other.host or "localhost", other.port, other.database) == (
            self.url.host or "localhost",
            self.url.port,
            self.url.database,
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; on SQLite it never blocks writers (WAL)."""
        with translate_errors(self.url), self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back on error."""
        if self.read_only:
            raise StoreError(self.read_only)
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
    store = Store(engine, read_only=read_only_reason(engine))
    try:
        with translate_errors(engine.url):
            if upgrade and not _at_head(engine):
                if store.read_only:
                    raise StoreError(f"{store.read_only}; it needs a schema upgrade first")
                from workbench.store.migrate import upgrade_to_head

                upgrade_to_head(engine)
            if recover and not store.read_only:
                from workbench.store.recovery import recover_orphaned_runs, recover_orphaned_sweeps

                recover_orphaned_runs(store)
                recover_orphaned_sweeps(store)
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
    read_only = None
    if path is not None:
        _check_sqlite_path(path, url_text)
        _check_local_filesystem(path)
        read_only = _sqlite_read_only(path)
    # Standard JSON on every backend: PostgreSQL refuses NaN and Infinity.
    kwargs: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": json_loads}
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
    elif url.get_backend_name() == "postgresql":
        # Writers serialize on a lock, then read what the previous one committed:
        # that needs each statement's own snapshot, whatever the server's default.
        kwargs["isolation_level"] = "READ COMMITTED"
        kwargs["pool_pre_ping"] = True  # a team server may drop idle connections
        if url.get_driver_name() in ("psycopg", "psycopg2"):
            kwargs["connect_args"] = {"connect_timeout": int(BUSY_TIMEOUT_S)}
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
        _configure_sqlite(engine, read_only is not None)
        if read_only is not None:
            _READ_ONLY[engine] = read_only
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    return engine


def read_only_reason(engine: Engine) -> str | None:
    """Why ``engine`` was opened read-only (see ``_sqlite_read_only``), or None."""
    return _READ_ONLY.get(engine)


def json_dumps(value: Any) -> str:
    """JSON text for a JSON column: non-finite floats (NaN, ±Infinity) become null.

    Python writes them as bare ``NaN``/``Infinity``, which is not JSON:
    PostgreSQL refuses it, SQLite would store it. Both now store the same.
    """
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def json_loads(text: str | bytes | None) -> Any:
    """A JSON column's value; text that is not JSON (a tampered row) reads as null, so
    one bad row never keeps the rest of the store from being read."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError, TypeError):
        return None


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


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


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem holding ``path`` (``ext4``, ``nfs4``…), from the
    mount table; None where there is no ``/proc/mounts`` (not Linux)."""
    try:
        table = MOUNTS_FILE.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = _unescape_mount(fields[1])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fields[2]
    return best_type


def _unescape_mount(field: str) -> str:
    # The mount table writes blanks, tabs, newlines and backslashes in octal (\040).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _check_local_filesystem(path: Path) -> None:
    """Refuse a SQLite store on a network filesystem: WAL needs local shared memory
    and locks that NFS, SMB and the like do not give, and corruption follows."""
    if os.environ.get(ALLOW_NETWORK_FS_VAR) == "1":
        return
    fstype = filesystem_type(path if path.exists() else path.parent)
    if fstype is not None and fstype.lower() in NETWORK_FILESYSTEMS:
        raise StoreError(
            f"store {path} is on a network filesystem ({fstype}), where SQLite is unsafe: "
            "use PostgreSQL (--db postgresql+psycopg://USER@HOST/DB) or a local disk "
            f"({ALLOW_NETWORK_FS_VAR}=1 overrides)"
        )


def _sqlite_read_only(path: Path) -> str | None:
    """Why the store file cannot be written (it is then opened read-only), or None."""
    if not path.exists():
        return None
    if _on_read_only_filesystem(path):
        return f"store {path} is read-only (its filesystem is mounted read-only)"
    if not os.access(path, os.W_OK):
        return f"store {path} is read-only (the file is not writable)"
    sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    if not os.access(path.parent, os.W_OK) and not all(
        p.exists() and os.access(p, os.W_OK) for p in sidecars
    ):
        return (
            f"store {path} is read-only (its directory is not writable, and SQLite "
            f"needs to create {sidecars[0].name} and {sidecars[1].name} there)"
        )
    return None


def _on_read_only_filesystem(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False


def _read_only_uri(path: Path) -> str:
    """A URI that opens ``path`` read-only; ``immutable`` when SQLite could not
    create the WAL's side files (and there is no write-ahead log to read)."""
    uri = path.absolute().as_uri() + "?mode=ro"
    wal = path.with_name(path.name + "-wal")
    shm = path.with_name(path.name + "-shm")
    can_share = os.access(path.parent, os.W_OK) or shm.exists()
    if not can_share and not (wal.exists() and wal.stat().st_size):
        uri += "&immutable=1"
    return uri


def _configure_sqlite(engine: Engine, read_only: bool) -> None:
    busy_ms = int(BUSY_TIMEOUT_S * 1000)

    if read_only:
        path = sqlite_path(engine.url)
        assert path is not None

        @event.listens_for(engine, "do_connect")
        def _open_read_only(_dialect: Any, _record: Any, _cargs: Any, cparams: Any) -> Any:
            import sqlite3

            return sqlite3.connect(_read_only_uri(path), **{**cparams, "uri": True})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN: the driver's own
        # implicit transactions can neither take the write lock early nor
        # wrap DDL, which the migrations need.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not read_only:  # a read-only store keeps its mode (ours are all WAL)
                cursor.execute("PRAGMA journal_mode = WAL")
                # Readers that overlap all the time keep a checkpoint from
                # restarting the log; once one can, the file shrinks back.
                cursor.execute("PRAGMA journal_size_limit = 67108864")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    busy_ms = int(BUSY_TIMEOUT_S * 1000)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_WRITE, False):
            # As SQLite's busy timeout: wait for the write lock, then give up
            # with "lock timeout" (a StoreError) rather than hang.
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {busy_ms}")
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK_KEY})")


def write_options() -> dict[str, Any]:
    """Execution options that make a connection's transaction a write transaction."""
    return {_WRITE: True}


@contextmanager
def translate_errors(url: URL) -> Iterator[None]:
    """Turn a database that cannot be opened, written or locked into a ``StoreError``,
    and so a value it refuses (out of range, malformed)."""
    try:
        yield
    except OperationalError as exc:
        raise StoreError(f"store {describe_url(url)}: {_first_line(exc)}") from exc
    except DataError as exc:
        raise StoreError(f"store {describe_url(url)} refused a value: {_first_line(exc)}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreError(f"store {describe_url(url)}: connection lost") from exc
        if type(exc) is DatabaseError:  # SQLite: "file is not a database", "...malformed"
            raise StoreError(f"store {describe_url(url)}: {_first_line(exc)}") from exc
        refusal = _PG_REFUSALS.get(getattr(exc.orig, "sqlstate", None) or "")
        if refusal is not None:
            raise StoreError(f"store {describe_url(url)}: {refusal}: {_first_line(exc)}") from exc
        raise


@contextmanager
def on_duplicate(message: str | None) -> Iterator[None]:
    """Around a ``write()`` that creates a uniquely named row: when another process
    created it first, ``BadInput(message)``, or nothing at all when ``message`` is None."""
    try:
        yield
    except IntegrityError:
        if message is not None:
            raise BadInput(message) from None


def _first_line(exc: DBAPIError) -> str:
    orig = exc.orig if exc.orig is not None else exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__
