"""Every past schema revision, filled with data, upgrades to head without losing any of it.

The revisions come from Alembic's script directory and the tables and columns
from reflecting the database at that revision, so a new migration is covered
the day it is added: a store written at each older revision is filled with
generated rows (plain inserts, one value per column, derived from its type),
upgraded as ``open_store`` does, and compared row by row, value by value.
Runs on SQLite and, with WORKBENCH_TEST_DB, on PostgreSQL.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    inspect,
    select,
)
from sqlalchemy.engine import Connection, Engine

from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.projects import list_projects
from workbench.jobs.runs import show_run
from workbench.store import open_store
from workbench.store.database import create_store_engine
from workbench.store.migrate import alembic_config, upgrade_to_head

ROWS_PER_TABLE = 3


def _revisions() -> tuple[list[str], set[str]]:
    script = ScriptDirectory.from_config(alembic_config())
    oldest_first = [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]
    return oldest_first, set(script.get_heads())


ALL_REVISIONS, HEADS = _revisions()
PAST_REVISIONS = [r for r in ALL_REVISIONS if r not in HEADS]


def test_there_is_history_to_check() -> None:
    assert ALL_REVISIONS[0] == "0001" and HEADS == {ALL_REVISIONS[-1]}


@pytest.mark.parametrize("revision", PAST_REVISIONS)
def test_a_store_filled_at_a_past_revision_upgrades_without_loss(
    store_url: str, revision: str
) -> None:
    engine = create_store_engine(store_url)
    try:
        upgrade_to_head(engine, target=revision)
        with engine.begin() as connection:
            written = _fill(connection)
    finally:
        engine.dispose()
    assert written, f"revision {revision} has no tables to fill"

    with open_store(store_url) as store:  # upgrades, as the first command after an update would
        engine = store.engine
        _assert_everything_survived(engine, written)
        # The upgraded store still works through the models: every run reads
        # back whole, and new rows get fresh ids (sequences were kept).
        for row in written.get("runs", {}).values():
            assert show_run(store, row["id"]).id == row["id"]
        assert {p.name for p in list_projects(store, include_archived=True)} >= {
            row["name"] for row in written.get("projects", {}).values()
        }
        with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
            pass
        assert run.id not in written.get("runs", {})


# -- filling ---------------------------------------------------------------------------------


def _reflect(connection: Connection) -> MetaData:
    metadata = MetaData()
    metadata.reflect(bind=connection)
    metadata.remove(metadata.tables["alembic_version"])
    return metadata


def _fill(connection: Connection) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Insert ``ROWS_PER_TABLE`` rows into every table, parents first.

    Returns what was written: table -> primary key -> column -> value.
    """
    metadata = _reflect(connection)
    inspector = inspect(connection)
    written: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for table in metadata.sorted_tables:
        choices = _check_choices(inspector.get_check_constraints(table.name))
        parents = {name: list(rows.values()) for name, rows in written.items()}
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for i in range(ROWS_PER_TABLE):
            values = _row(table, i, choices, parents)
            result = connection.execute(table.insert().values(**values))
            key = tuple(result.inserted_primary_key or ())
            values.update(dict(zip([c.name for c in table.primary_key], key, strict=True)))
            rows[key] = values
        written[table.name] = rows
    return written


def _check_choices(constraints: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """The quoted literals of each CHECK constraint (``kind IN ('quantize', 'bench')``)."""
    found = []
    for constraint in constraints:
        text = constraint["sqltext"]
        literals = [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", text)]
        found.append((text, [v for v in literals if v not in ("text", "character varying")]))
    return found


def _row(
    table: Table,
    i: int,
    choices: list[tuple[str, list[str]]],
    parents: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.primary_key and column.autoincrement is True or _is_serial(column):
            continue  # the database numbers it, as the release of the time did
        if column.foreign_keys:
            (fk,) = column.foreign_keys
            referred = parents.get(fk.column.table.name)
            if not referred:
                assert column.nullable, f"{table.name}.{column.name} refers to an empty table"
                values[column.name] = None
            else:  # one-to-one detail tables need a parent each: row i -> parent i
                values[column.name] = referred[i % len(referred)][fk.column.name]
            continue
        allowed = [vals for text, vals in choices if re.search(rf"\b{column.name}\b", text)]
        if allowed and allowed[0]:
            values[column.name] = allowed[0][i % len(allowed[0])]
            continue
        values[column.name] = _value(table.name, column.name, column.type, i)
    return values


def _is_serial(column: Any) -> bool:
    return bool(
        column.primary_key
        and isinstance(column.type, Integer)
        and len(column.table.primary_key.columns) == 1
        and not column.foreign_keys
    )


def _value(table: str, column: str, type_: Any, i: int) -> Any:
    """A value for a column of this type, different per row and easy to recognize."""
    if isinstance(type_, Boolean):
        return i % 2 == 0
    if isinstance(type_, BigInteger):
        return 2**40 + i  # needs 64 bits
    if isinstance(type_, Integer):
        return -1000 + 7 * i
    if isinstance(type_, (Float, Numeric)):
        return 0.125 + i * 1.5
    if isinstance(type_, DateTime):
        return datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=timezone.utc) + timedelta(hours=i)
    if isinstance(type_, Date):
        return datetime(2025, 1, 2).date() + timedelta(days=i)
    if isinstance(type_, JSON):
        return {"row": i, "list": [1.5, "x", None], "nested": {"ünï": True}}
    if isinstance(type_, String):
        text = f"{table}.{column}.{i} ü✓"
        return text[: type_.length] if type_.length else text + " (some longer text)"
    pytest.fail(f"no value generator for {table}.{column} of type {type_!r}: add one here")


# -- checking --------------------------------------------------------------------------------


def _assert_everything_survived(
    engine: Engine, written: dict[str, dict[tuple[Any, ...], dict[str, Any]]]
) -> None:
    with engine.connect() as connection:
        metadata = _reflect(connection)
        for name, rows in written.items():
            assert name in metadata.tables, f"table {name} was dropped by a migration"
            table = metadata.tables[name]
            found = {
                tuple(r[c.name] for c in table.primary_key): dict(r)
                for r in connection.execute(select(table)).mappings()
            }
            assert len(found) == len(rows), f"{name}: {len(rows)} rows written, {len(found)} now"
            for key, expected in rows.items():
                assert key in found, f"{name}: row {key} is gone"
                for column, value in expected.items():
                    assert column in found[key], f"column {name}.{column} was dropped"
                    actual = found[key][column]
                    assert _same(value, actual), (
                        f"{name}{list(key)}.{column}: {value!r} → {actual!r}"
                    )


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, datetime) and isinstance(actual, datetime):
        if actual.tzinfo is None:  # SQLite keeps UTC without a zone
            actual = actual.replace(tzinfo=timezone.utc)
        return expected == actual
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=0, abs_tol=0)
    return bool(expected == actual)
