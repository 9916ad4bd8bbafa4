"""The run listing: filters, newest first, paging, and index use at 10,000 runs."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from workbench.errors import BadInput, NotFound
from workbench.store import BenchmarkRun, Project, Run, RunTag, utcnow
from workbench.store.queries import (
    RunFilter,
    filtered_runs,
    get_project,
    get_run,
    page_of_run_ids,
)


def test_default_project_is_created_on_first_use_only(store) -> None:
    with store.write() as s:
        assert get_project(s, "default").name == "default"
        with pytest.raises(NotFound, match="no project named 'other'"):
            get_project(s, "other")


def test_get_run_names_the_missing_id(store) -> None:
    with store.read() as s, pytest.raises(NotFound, match="no run with id 42"):
        get_run(s, 42)


def test_filter_refuses_unknown_values() -> None:
    with pytest.raises(BadInput, match="unknown status"):
        RunFilter(status="done")
    with pytest.raises(BadInput, match="unknown run kind"):
        RunFilter(kind="convert")


def test_filters_combine(store, make_run) -> None:
    a = make_run(kind="bench", runtime="dsp", tags=["x", "y"])
    make_run(kind="bench", runtime="cpu", tags=["x"])
    c = make_run(kind="quantize", status="failed", tags=["y"])
    with store.read() as s:
        pid = get_project(s, "default", create_default=False).id

        def ids(**kw) -> list[int]:
            return page_of_run_ids(s, pid, RunFilter(**kw), limit=100, offset=0)[0]

        assert ids(runtime="dsp") == [a]
        assert ids(tags=("x", "y")) == [a]
        assert ids(tags=("y",)) == [c, a]
        assert ids(status="failed") == [c]
        assert ids(kind="bench", tags=("y",)) == [a]


def _bulk_runs(store, count: int) -> int:
    with store.write() as s:
        project = Project(name="big")
        s.add(project)
        s.flush()
        now = utcnow()
        s.execute(
            insert(Run),
            [
                dict(
                    project_id=project.id,
                    kind="bench" if i % 2 else "quantize",
                    status=("succeeded", "failed")[i % 7 == 0],
                    host="h",
                    pid=1,
                    started_at=now,
                )
                for i in range(count)
            ],
        )
        bench_ids = s.scalars(
            Run.__table__.select().with_only_columns(Run.id).where(Run.kind == "bench")
        )
        bench_ids = list(bench_ids)
        s.execute(
            insert(BenchmarkRun),
            [dict(run_id=r, runtime=("cpu", "dsp")[r % 2]) for r in bench_ids],
        )
        s.execute(insert(RunTag), [dict(run_id=r, tag="nightly") for r in bench_ids[::10]])
        return project.id


def test_ten_thousand_runs_page_newest_first(store) -> None:
    project_id = _bulk_runs(store, 10_000)
    with store.read() as s:
        ids, total = page_of_run_ids(s, project_id, RunFilter(), limit=50, offset=0)
        assert total == 10_000
        assert ids == sorted(ids, reverse=True) and len(ids) == 50
        later, _ = page_of_run_ids(s, project_id, RunFilter(), limit=50, offset=50)
        assert max(later) < min(ids)
        _, failed = page_of_run_ids(s, project_id, RunFilter(status="failed"), limit=1, offset=0)
        assert failed == len([i for i in range(10_000) if i % 7 == 0])


@pytest.mark.sqlite_only  # reads SQLite's EXPLAIN QUERY PLAN
@pytest.mark.parametrize(
    "run_filter",
    [
        RunFilter(),
        RunFilter(status="failed"),
        RunFilter(kind="bench"),
        RunFilter(tags=("nightly",)),
    ],
)
def test_listing_pages_through_an_index(store, run_filter: RunFilter) -> None:
    # Timings belong in benchmarks; what keeps 10,000 runs instant is that the
    # listing walks an index instead of scanning and sorting the table.
    project_id = _bulk_runs(store, 200)
    query = filtered_runs(project_id, run_filter).order_by(Run.id.desc()).limit(50)
    with store.read() as s:
        compiled = query.compile(s.bind, compile_kwargs={"literal_binds": True})
        plan = " | ".join(
            str(row[-1]) for row in s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "USING" in plan and "INDEX" in plan, plan
    assert "SCAN runs" not in plan.replace("SCAN runs USING", ""), plan
    assert "TEMP B-TREE" not in plan, plan
