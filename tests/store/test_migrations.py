"""Migrations: a fresh store is an upgrade from empty, and models match them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from workbench.errors import StoreError
from workbench.store import Base, open_store
from workbench.store.database import create_store_engine
from workbench.store.migrate import (
    current_revisions,
    head_revisions,
    schema_differences,
    script_location,
    upgrade_to_head,
)


def test_fresh_store_is_upgraded_to_head(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_store_engine(store_url)
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert {version} == head_revisions()
    assert set(Base.metadata.tables) <= tables


def test_models_and_migrations_agree(store) -> None:
    assert schema_differences(store.engine) == []


def test_reopening_is_a_no_op(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_store_engine(store_url)
    before = current_revisions(engine)
    upgrade_to_head(engine)
    assert current_revisions(engine) == before == head_revisions()
    engine.dispose()


def test_every_constraint_and_index_has_a_stable_name(store) -> None:
    inspector = inspect(store.engine)
    for table in Base.metadata.tables:
        for fk in inspector.get_foreign_keys(table):
            assert fk["name"] and fk["name"].startswith("fk_"), (table, fk)
        for index in inspector.get_indexes(table):
            if index.get("duplicates_constraint"):  # PostgreSQL: a unique constraint's index
                continue
            assert index["name"].startswith("ix_"), (table, index)
        for unique in inspector.get_unique_constraints(table):
            assert unique["name"].startswith("uq_"), (table, unique)


def test_a_store_from_a_newer_workbench_is_refused(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_store_engine(store_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'from-the-future'")
    engine.dispose()
    with pytest.raises(StoreError, match="newer version"):
        open_store(store_url)


def test_migrations_ship_inside_the_package() -> None:
    location = script_location()
    assert (location / "env.py").is_file()
    assert (location / "script.py.mako").is_file()
    assert list((location / "versions").glob("0001_*.py"))


def test_revision_ids_are_sequential() -> None:
    files = sorted((script_location() / "versions").glob("[0-9]*.py"))
    numbers = [int(f.name.split("_")[0]) for f in files]
    assert numbers == list(range(1, len(files) + 1))


_OPEN = """
import sys, time
from pathlib import Path
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
from workbench.store import open_store
open_store(sys.argv[1]).close()
print("ok")
"""


def test_two_processes_opening_a_fresh_store_both_succeed(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN, store_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()  # release them together, all imports done
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    engine = create_store_engine(store_url)
    assert current_revisions(engine) == head_revisions()
    engine.dispose()


def test_data_written_at_the_first_revision_survives_every_upgrade(store_url: str) -> None:
    # Written with the schema of revision 0001, in raw SQL as that release
    # would have; every later migration must carry it over unchanged.
    engine = create_store_engine(store_url)
    upgrade_to_head(engine, target="0001")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO projects (id, name, archived, created_at) "
            "VALUES (1, 'old', false, '2025-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO runs (id, project_id, kind, status, started_at, host, pid, log, notes, "
            "starred, baseline) VALUES (7, 1, 'bench', 'succeeded', '2025-01-01 00:00:01', "
            "'h', 1, 'a log', 'a note', true, false)"
        )
        connection.exec_driver_sql(
            "INSERT INTO benchmark_runs (run_id, runtime, cpu_fxp, options, batch, "
            "init_breakdown, device_measured, sqnr_db) "
            "VALUES (7, 'dsp', false, '{}', 1, '{\"load\": 1.5}', false, 33.5)"
        )
        connection.exec_driver_sql("INSERT INTO run_tags (run_id, tag) VALUES (7, 'kept')")
    engine.dispose()

    from workbench.jobs.runs import show_run

    with open_store(store_url) as store:
        run = show_run(store, 7)
    assert (run.project, run.kind, run.status, run.notes, run.log) == (
        "old", "bench", "succeeded", "a note", "a log"
    )  # fmt: skip
    assert run.starred and run.tags == ("kept",)
    assert run.details["runtime"] == "dsp" and run.details["sqnr_db"] == 33.5
    assert run.details["init_breakdown"] == {"load": 1.5}


def test_quantize_runs_from_0001_gain_an_empty_report(store_url: str) -> None:
    engine = create_store_engine(store_url)
    upgrade_to_head(engine, target="0001")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO projects (id, name, archived, created_at) "
            "VALUES (1, 'old', false, '2025-01-01 00:00:00')"
        )
        connection.exec_driver_sql(
            "INSERT INTO runs (id, project_id, kind, status, started_at, host, pid, log, notes, "
            "starred, baseline) VALUES (3, 1, 'quantize', 'succeeded', '2025-01-01 00:00:01', "
            "'h', 1, '', '', false, false)"
        )
        connection.exec_driver_sql(
            "INSERT INTO quantization_runs (run_id, param_quantizer, per_channel, algorithms, "
            "enable_hta, options, sqnr_db) VALUES (3, 'enhanced', true, 'cle', false, '{}', 21.5)"
        )
    engine.dispose()

    from workbench.jobs.runs import show_run

    with open_store(store_url) as store:
        run = show_run(store, 3)
    assert run.details["param_quantizer"] == "enhanced" and run.details["sqnr_db"] == 21.5
    assert run.details["per_channel"] is True and run.details["report"] is None
