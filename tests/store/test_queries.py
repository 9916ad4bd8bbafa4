"""The store's queries: lookups, and the one run listing with every filter, sort and page."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import insert

from workbench.errors import BadInput, NotFound
from workbench.store import BenchmarkRun, Model, Project, QuantizationRun, Run, RunTag, utcnow
from workbench.store.queries import (
    PageSpec,
    RunFilter,
    count_runs,
    get_project,
    get_run,
    page_runs,
    run_page_query,
    run_rows,
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


@dataclass(frozen=True)
class Runs:
    """Runs that each filter tells apart, and the project and models they belong to."""

    project_id: int
    old_mobilenet: int  # two models share the name "mobilenet"
    new_mobilenet: int
    dsp: int  # bench, dsp, old mobilenet, tags x y, notes "FastPath", starred
    cpu: int  # bench, cpu, new mobilenet, tag x, baseline
    fp16: int  # bench, gpu_fp16, resnet, tag nightly, interrupted
    failed: int  # quantize, enhanced, resnet, tag y, failed: "overflowed", command "--xyzzy"
    cle: int  # quantize, tf, cle+bc, new mobilenet, baseline
    elsewhere: int  # another project's run


def _model(session, project_id: int, name: str) -> int:
    model = Model(project_id=project_id, name=name, source_path=f"/m/{name}.onnx",
                  sha256="0" * 64, format="onnx")  # fmt: skip
    session.add(model)
    session.flush()
    return model.id


def _run(session, project_id: int, detail, **columns) -> int:
    tags = columns.pop("tags", ())
    run = Run(project_id=project_id, host="h", pid=1, started_at=utcnow(),
              tags=[RunTag(tag=t) for t in tags], **columns)  # fmt: skip
    if isinstance(detail, BenchmarkRun):
        run.benchmark = detail
    else:
        run.quantization = detail
    session.add(run)
    session.flush()
    return run.id


@pytest.fixture
def runs(store) -> Runs:
    with store.write() as s:
        pid = get_project(s, "default").id
        other = Project(name="other")
        s.add(other)
        s.flush()
        old, new = _model(s, pid, "mobilenet"), _model(s, pid, "mobilenet")
        resnet = _model(s, pid, "resnet18")
        return Runs(
            project_id=pid,
            old_mobilenet=old,
            new_mobilenet=new,
            dsp=_run(
                s,
                pid,
                BenchmarkRun(runtime="dsp", sqnr_db=30.0),
                kind="bench",
                status="succeeded",
                model_id=old,
                tags=["x", "y"],
                notes="FastPath",
                starred=True,
            ),
            cpu=_run(
                s,
                pid,
                BenchmarkRun(runtime="cpu"),
                kind="bench",
                status="succeeded",
                model_id=new,
                tags=["x"],
                baseline=True,
            ),
            fp16=_run(
                s,
                pid,
                BenchmarkRun(runtime="gpu_fp16"),
                kind="bench",
                status="interrupted",
                model_id=resnet,
                tags=["nightly"],
            ),
            failed=_run(
                s,
                pid,
                QuantizationRun(param_quantizer="enhanced"),
                kind="quantize",
                status="failed",
                model_id=resnet,
                tags=["y"],
                error="overflowed",
                command="workbench quantize --xyzzy",
            ),
            cle=_run(
                s,
                pid,
                QuantizationRun(param_quantizer="tf", algorithms="cle,bc", sqnr_db=25.0),
                kind="quantize",
                status="succeeded",
                model_id=new,
                baseline=True,
            ),
            elsewhere=_run(
                s,
                other.id,
                BenchmarkRun(runtime="dsp"),
                kind="bench",
                status="succeeded",
                tags=["x"],
            ),
        )


def _ids(store, runs: Runs, **kw) -> list[int]:
    """The matching run ids, newest first; the total must agree with the rows."""
    with store.read() as s:
        page = page_runs(s, runs.project_id, RunFilter(**kw), PageSpec(limit=100))
    ids = [r.id for r in page.rows]
    assert page.total == len(ids), kw
    return ids


def test_every_filter_field_narrows(store, runs: Runs) -> None:
    r = runs
    everything = [r.cle, r.failed, r.fp16, r.cpu, r.dsp]
    assert _ids(store, r) == everything  # newest first; not the other project's run
    assert _ids(store, r, kind="bench") == [r.fp16, r.cpu, r.dsp]
    assert _ids(store, r, kind="quantize") == [r.cle, r.failed]
    assert _ids(store, r, status="failed") == [r.failed]
    assert _ids(store, r, status="interrupted") == [r.fp16]
    assert _ids(store, r, runtime="dsp") == [r.dsp]
    assert _ids(store, r, runtime="gpu") == []  # exact: not gpu_fp16
    assert _ids(store, r, model_id=r.new_mobilenet) == [r.cle, r.cpu]
    assert _ids(store, r, model_id=3_000_000_000) == []  # no such id, and no SQL error
    # A name is every model of exactly that name, never a part of one.
    assert _ids(store, r, model_name="mobilenet") == [r.cle, r.cpu, r.dsp]
    assert _ids(store, r, model_name="mobile") == []
    assert _ids(store, r, tags=("x",)) == [r.cpu, r.dsp]
    assert _ids(store, r, tags=("x", "y")) == [r.dsp]  # all of them
    assert _ids(store, r, tags=("nightl",)) == []  # a tag is matched whole
    assert _ids(store, r, starred=True) == [r.dsp]
    assert _ids(store, r, starred=False) == [r.cle, r.failed, r.fp16, r.cpu]
    assert _ids(store, r, baseline=True) == [r.cle, r.cpu]
    assert _ids(store, r, kind="bench", baseline=True, tags=("x",)) == [r.cpu]


@pytest.mark.parametrize(
    ("word", "matches"),
    [
        ("MOBILE", ("cle", "cpu", "dsp")),  # the model name, in any case
        ("fastpath", ("dsp",)),  # the notes
        ("xyzzy", ("failed",)),  # the command
        ("overflow", ("failed",)),  # the error
        ("interrupt", ("fp16",)),  # the status
        ("fp16", ("fp16",)),  # the runtime
        ("enhan", ("failed",)),  # the quantizer
        ("bc", ("cle",)),  # the algorithms
        ("nightl", ("fp16",)),  # part of a tag
        ("%", ()),  # % and _ are plain characters, not wildcards
        ("_", ("fp16",)),
    ],
)
def test_each_word_matches_its_column(store, runs: Runs, word: str, matches) -> None:
    assert _ids(store, runs, words=(word,)) == sorted(
        (getattr(runs, m) for m in matches), reverse=True
    )


def test_words_match_the_id_and_must_all_match(store, runs: Runs) -> None:
    assert runs.failed in _ids(store, runs, words=(str(runs.failed),))
    assert _ids(store, runs, words=("mobilenet", "fastpath")) == [runs.dsp]
    assert _ids(store, runs, words=("3000000000",)) == []


def test_sorting_paging_and_rows(store, runs: Runs) -> None:
    with store.read() as s:
        by_sqnr = page_runs(s, runs.project_id, RunFilter(), PageSpec(sort="sqnr", limit=2))
        assert [r.id for r in by_sqnr.rows] == [runs.dsp, runs.cle]  # nulls last
        assert (by_sqnr.total, by_sqnr.offset, by_sqnr.limit, by_sqnr.last_offset) == (5, 0, 2, 4)
        later = page_runs(s, runs.project_id, RunFilter(), PageSpec(offset=4, limit=2))
        assert [r.id for r in later.rows] == [runs.dsp]
        with pytest.raises(BadInput, match="cannot sort runs by 'nope'"):
            page_runs(s, runs.project_id, RunFilter(), PageSpec(sort="nope"))
        dsp, cle = run_rows(s, [runs.dsp, 999_999, runs.cle])  # in order, unknown skipped
    assert (dsp.project, dsp.runtime, dsp.model, dsp.tags, dsp.sqnr_db) == (
        "default",
        "dsp",
        "mobilenet",
        ("x", "y"),
        30.0,
    )
    assert (cle.kind, cle.runtime, cle.param_quantizer, cle.algorithms, cle.sqnr_db) == (
        "quantize",
        None,
        "tf",
        "cle,bc",
        25.0,
    )


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
        first = page_runs(s, project_id, RunFilter(), PageSpec(limit=50))
        ids = [r.id for r in first.rows]
        assert first.total == 10_000
        assert ids == sorted(ids, reverse=True) and len(ids) == 50
        later = page_runs(s, project_id, RunFilter(), PageSpec(offset=50, limit=50))
        assert max(r.id for r in later.rows) < min(ids)
        failed = count_runs(s, project_id, RunFilter(status="failed"))
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
    query = run_page_query(project_id, run_filter, PageSpec(limit=50))
    with store.read() as s:
        compiled = query.compile(s.bind, compile_kwargs={"literal_binds": True})
        plan = " | ".join(
            str(row[-1]) for row in s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "USING" in plan and "INDEX" in plan, plan
    assert "SCAN runs" not in plan.replace("SCAN runs USING", ""), plan
    assert "TEMP B-TREE" not in plan, plan
