"""Schema migrations: Alembic, configured in code (there is no alembic.ini).

The product never calls ``create_all``: ``upgrade_to_head`` brings any database,
empty or old, to the newest revision in ``migrations/versions``. The whole
upgrade is one transaction that holds the database's write lock (SQLite:
BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so two processes opening a
fresh store at once queue instead of both creating tables.

For developers (see README, "Adding a migration")::

    python -m workbench.store.migrate revision -m "add runs.priority"
    python -m workbench.store.migrate check
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text

from workbench.errors import StoreError
from workbench.store.database import create_store_engine, describe_url, write_options
from workbench.store.migrate_paths import script_location

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# Arbitrary constant naming the PostgreSQL advisory lock held while migrating.
_PG_LOCK_KEY = 0x5742_4D49  # "WBMI"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for our migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def upgrade_to_head(engine: Engine, target: str = "head") -> None:
    """Bring the database behind ``engine`` to the newest schema (idempotent).

    ``target`` names an older revision instead; tests use it to write data
    as an old release would, then upgrade over it.
    """
    script = ScriptDirectory.from_config(alembic_config())
    current = current_revisions(engine)
    if current == set(script.get_heads()) or (target != "head" and current == {target}):
        return
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            raise StoreError(
                f"store {describe_url(engine.url)} has schema revision {revision!r}, "
                "which this workbench does not know: it was written by a newer version"
            ) from None
    _upgrade_locked(engine, target)


def _upgrade_locked(engine: Engine, target: str) -> None:
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Batch migrations copy and drop tables; SQLite's own procedure for
            # that is foreign keys off, then a foreign_key_check before commit.
            # The pragma is ignored inside a transaction, so set it first.
            _dbapi(connection).execute("PRAGMA foreign_keys = OFF")
        try:
            connection.execution_options(**write_options())
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                    )
                # Re-checked under the lock: another process may have just done it.
                command.upgrade(alembic_config(connection), target)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(
                            f"migration left {len(broken)} broken foreign key(s), "
                            f"first in table {broken[0][0]!r}; nothing was changed"
                        )
        finally:
            if sqlite and not connection.invalidated:
                _dbapi(connection).execute("PRAGMA foreign_keys = ON")


def _dbapi(connection: Connection) -> Any:
    return connection.connection.dbapi_connection


def schema_differences(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    from alembic.autogenerate import compare_metadata

    from workbench.store import models  # noqa: F401  (registers the tables)
    from workbench.store.base import Base

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


# --- developer commands ---------------------------------------------------------------


def _scratch_engine(directory: str) -> Engine:
    engine = create_store_engine(f"sqlite:///{directory}/scratch.db")
    upgrade_to_head(engine)
    return engine


def _next_revision_id() -> str:
    versions = script_location() / "versions"
    return f"{len(list(versions.glob('[0-9]*.py'))) + 1:04d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.store.migrate",
        description="Developer tools for the store's Alembic migrations.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    revision = sub.add_parser("revision", help="write a new migration from the models")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument("--empty", action="store_true", help="do not autogenerate")
    sub.add_parser("check", help="exit 1 if the models differ from the migrations")
    sub.add_parser("heads", help="print the head revision(s)")
    args = parser.parse_args(argv)

    if args.cmd == "heads":
        print("\n".join(sorted(head_revisions())))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        engine = _scratch_engine(scratch)
        try:
            if args.cmd == "check":
                diffs = schema_differences(engine)
                for diff in diffs:
                    print(diff)
                print("models and migrations agree" if not diffs else "differences found")
                return 1 if diffs else 0
            with engine.connect() as connection:
                script = command.revision(
                    alembic_config(connection),
                    message=args.message,
                    autogenerate=not args.empty,
                    rev_id=_next_revision_id(),
                )
            for item in script if isinstance(script, list) else [script]:
                if item is not None:
                    print(f"wrote {item.path}: review it, then add a test (README)")
            return 0
        finally:
            engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
