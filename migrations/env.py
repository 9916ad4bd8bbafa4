"""Alembic environment for the workbench store.

The product runs migrations through ``workbench.store.migrate`` with an open
connection (``config.attributes["connection"]``). Run by hand from the project
root (``alembic -c pyproject.toml current``), it connects to the store that
``--db``/``$WORKBENCH_DB``/the default names.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from workbench.store import models  # noqa: F401  (registers every table)
from workbench.store.base import Base, UTCDateTime

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations spell our column types in plain SQLAlchemy, so that an old
    # revision never depends on the models module as it is today.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copy-and-move
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from workbench.store.database import create_store_engine, resolve_url

    engine = create_store_engine(resolve_url())
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def run_migrations_offline() -> None:
    from workbench.store.database import resolve_url

    _configure(url=resolve_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
