"""The TUI and four CLI writers on one store for a sustained period: nothing locked, nothing lost.

Spec §9: "Several processes (TUI plus CLI jobs) can write the store at once."
Separate processes, so separate connections and locks (roles in
``concurrency_roles.py``): four writers doing what CLI commands do; the real
TUI app driven headless by key presses, paging and annotating; and long read
transactions that starve SQLite's checkpoints. Then: every counted write is
in the store, no write failed ("database is locked" or otherwise), no run is
left ``running``, and SQLite's integrity check passes. The figures appear in
the terminal summary (``tests/reliability/concurrency_report.py``).

``WORKBENCH_SOAK=SECONDS`` soaks longer (default 20 s). Runs on SQLite, and on
PostgreSQL with ``WORKBENCH_TEST_DB``. tests/store/test_concurrency.py keeps
the quick two-writer check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests.conftest import store_server_url
from tests.reliability.concurrency_report import PROPERTY, format_figures
from tests.reliability.concurrency_roles import SOAK_PROJECT, TUI_TAG
from workbench.jobs.experiments import create_experiment
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.projects import create_project
from workbench.store import Experiment, ExperimentRun, Run, RunTag, open_store

WRITERS = 4
SOAK_S = float(os.environ.get("WORKBENCH_SOAK", "20"))
REPO = Path(__file__).resolve().parents[2]
LOCKED = ("locked", "lock timeout", "busy")

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                store_server_url() is None, reason="PostgreSQL: set WORKBENCH_TEST_DB"
            ),
        ),
    ]
)
def soak_url(request: pytest.FixtureRequest, tmp_path: Path, _postgres: Any) -> Iterator[str]:
    """An empty store at the newest schema on the backend of the parameter."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'soak.db'}"
        open_store(url).close()
        yield url
        return
    url = _postgres.create(migrated=True)
    yield url
    _postgres.release(url)


def _seed(url: str, folder: Path) -> None:
    with open_store(url) as store:
        create_project(store, SOAK_PROJECT)
        for name in [f"w{k}" for k in range(WRITERS)]:
            create_experiment(store, SOAK_PROJECT, f"exp-{name}")
        for i in range(130):  # more than a TUI page of benchmark runs
            with tracked_run(store, project=SOAK_PROJECT, kind="bench", runtime="dsp") as run:
                run.record(latency_mean_ms=float(i))
        for _ in range(8):
            with tracked_run(store, project=SOAK_PROJECT, kind="quantize", tags=[TUI_TAG]):
                pass
        (folder / "shared-run").write_text(str(run.id))


def _start(role: str, url: str, folder: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.concurrency_roles", role, url, str(folder),
         str(SOAK_S), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TZ": "UTC"},
    )  # fmt: skip


def _result(proc: subprocess.Popen[str], name: str) -> dict[str, Any]:
    out, err = proc.communicate(timeout=SOAK_S + 180)
    assert proc.returncode == 0, f"{name} failed:\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


def test_tui_and_four_writers_lose_nothing(
    soak_url: str, tmp_path: Path, record_property: Any
) -> None:
    _seed(soak_url, tmp_path)
    names = [f"w{k}" for k in range(WRITERS)]
    procs = {name: _start("writer", soak_url, tmp_path, name) for name in names}
    procs["tui"] = _start("tui", soak_url, tmp_path)
    procs["reader"] = _start("reader", soak_url, tmp_path)
    started = time.monotonic()
    while not all((tmp_path / f"ready-{n}").exists() for n in procs):
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} died before starting: {proc.communicate()[1]}"
        assert time.monotonic() - started < 180, "the roles did not get ready"
        time.sleep(0.05)
    (tmp_path / "go").touch()
    began = time.monotonic()
    results = {name: _result(proc, name) for name, proc in procs.items()}
    elapsed = time.monotonic() - began

    errors = [f"{n}: {e}" for n, r in results.items() for e in r["errors"]]
    written, found = _check_every_write(soak_url, results, names)
    with open_store(soak_url) as store, store.read() as s:
        left_running = s.scalar(select(func.count()).where(Run.status == "running"))
        not_succeeded = s.scalar(select(func.count()).where(Run.status != "succeeded"))
        baselines = s.execute(
            select(Run.kind, func.count()).where(Run.baseline).group_by(Run.kind)
        ).all()
        integrity = "n/a (PostgreSQL)"
        if store.engine.dialect.name == "sqlite":
            integrity = s.execute(text("PRAGMA integrity_check")).scalar()
            assert s.execute(text("PRAGMA foreign_key_check")).all() == []
    if soak_url.startswith("sqlite"):
        # The starved WAL is only deferred work: with the readers gone, a
        # checkpoint gets through and the log starts over (journal_size_limit).
        wal = Path(soak_url.removeprefix("sqlite:///") + "-wal")
        with open_store(soak_url) as store, store.engine.connect() as connection:
            busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            assert busy == 0 and wal.stat().st_size == 0
    latencies = sorted(
        (t, f"{n} {op}") for n, r in results.items() for op, t in r.get("latencies", ())
    )
    figures = {
        "backend": "postgresql" if soak_url.startswith("postgresql") else "sqlite",
        "writers": WRITERS,
        "soak_s": SOAK_S,
        "duration_s": elapsed,
        "rows_written": sum(written.values()),
        "rows_found": sum(found.values()),
        "lost": sum(written.values()) - sum(found.values()),
        "lock_errors": sum(any(w in e.lower() for w in LOCKED) for e in errors),
        "errors": len(errors),
        "left_running": left_running,
        "tui_steps": results["tui"]["steps"],
        "tui_pages": len(results["tui"]["pages"]),
        "tui_writes": len(results["tui"]["latencies"]),
        "write_ops": len(latencies),
        "max_write_latency_s": latencies[-1][0] if latencies else 0.0,
        "slowest_write": latencies[-1][1] if latencies else "",
        "p99_write_latency_s": latencies[int(0.99 * (len(latencies) - 1))][0] if latencies else 0,
        "max_page_s": max((t for _, t in results["tui"]["pages"]), default=0.0),
        "long_reads": results["reader"]["transactions"],
        "max_wal_bytes": results["reader"]["max_wal_bytes"],
        "integrity": integrity,
    }
    record_property(PROPERTY, figures)
    print("\n" + format_figures(figures))

    assert errors == [], errors[:20]
    assert written == found, {k: (written[k], found.get(k)) for k in written}
    assert left_running == 0 and not_succeeded == 0
    assert all(count <= 1 for _, count in baselines), baselines  # one baseline per kind
    assert integrity in ("ok", "n/a (PostgreSQL)")
    assert all(results[n]["counts"]["runs"] > 0 for n in names), "a writer never wrote"
    assert results["tui"]["tags"] > 0 and figures["tui_pages"] > 0, "the TUI never worked"
    assert figures["long_reads"] > 0


def _check_every_write(
    url: str, results: dict[str, dict[str, Any]], names: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Per writer and kind of write: how many were counted, and how many are in the store."""
    written: dict[str, int] = {}
    found: dict[str, int] = {}
    shared = None
    with open_store(url) as store, store.read() as s:
        for name in names:
            counts = results[name]["counts"]
            own = select(RunTag.run_id).where(RunTag.tag == name)
            shared = shared or s.scalar(
                select(RunTag.run_id).where(RunTag.tag.like(f"{name}-s%")).limit(1)
            )
            checks = {
                "runs": s.scalar(
                    select(func.count()).where(Run.id.in_(own), Run.status == "succeeded")
                ),
                "tags": s.scalar(
                    select(func.count()).where(
                        RunTag.run_id.in_(own), RunTag.tag.like(f"{name}-t%")
                    )
                ),
                "shared_tags": s.scalar(select(func.count()).where(RunTag.tag.like(f"{name}-s%"))),
                "notes": s.scalar(
                    select(func.count()).where(Run.id.in_(own), Run.notes.like(f"{name}:%"))
                ),
                "stars": s.scalar(select(func.count()).where(Run.id.in_(own), Run.starred)),
                "members": s.scalar(
                    select(func.count())
                    .select_from(ExperimentRun)
                    .join(Experiment, Experiment.id == ExperimentRun.experiment_id)
                    .where(Experiment.name == f"exp-{name}")
                ),
            }
            for key, value in checks.items():
                written[f"{name}.{key}"] = counts[key]
                found[f"{name}.{key}"] = value or 0
        written["tui.tags"] = results["tui"]["tags"]
        found["tui.tags"] = s.scalar(
            select(func.count()).where(RunTag.tag.like("tui-%"))
        ) - s.scalar(select(func.count()).where(RunTag.tag == TUI_TAG))
    return written, found
