"""Browsing and annotating runs: list, show, tags, notes, star, baseline.

Runs are addressed by their id, which is unique across projects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from workbench.errors import BadInput
from workbench.jobs.projects import ensure_project
from workbench.store import (
    BenchmarkRun,
    Experiment,
    ExperimentRun,
    Model,
    Project,
    QuantizationRun,
    Run,
    RunTag,
    Store,
)
from workbench.store.queries import (
    RunFilter,
    get_model,
    get_project,
    get_run,
    page_of_run_ids,
    tags_by_run,
)
from workbench.textsafe import MAX_NOTE_CHARS

MAX_PAGE = 10_000
# Built once: a new alias per call costs more than the query (writers hold the
# store's write lock while they summarize what they changed).
_BENCH, _QUANT = aliased(BenchmarkRun), aliased(QuantizationRun)
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,63}")


@dataclass(frozen=True)
class RunSummary:
    """One row of ``runs list``: what every kind of run has, plus headline numbers."""

    id: int
    project: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    model: str | None
    model_id: int | None
    container_id: int | None
    runtime: str | None  # bench runs only
    sqnr_db: float | None
    tags: tuple[str, ...]
    starred: bool
    baseline: bool
    notes: str
    error: str | None


@dataclass(frozen=True)
class RunDetail(RunSummary):
    """Everything recorded about one run (``runs show``)."""

    host: str
    pid: int
    command: str | None
    peak_memory_bytes: int | None
    details: dict[str, Any]  # the kind's own columns (options, results)
    layers: tuple[dict[str, Any], ...]
    log: str
    experiments: tuple[str, ...]


@dataclass(frozen=True)
class RunPage:
    runs: list[RunSummary]
    total: int  # how many match the filters, over all pages
    limit: int
    offset: int


def check_note(text: str, what: str = "a note") -> str:
    """``text`` if it may be stored as free text (notes), else ``BadInput``."""
    if len(text) > MAX_NOTE_CHARS:
        raise BadInput(
            f"{what} holds at most {MAX_NOTE_CHARS:,} characters; this one has {len(text):,}"
        )
    return text


def check_tag(tag: str) -> str:
    """``tag`` if it is a valid tag, else ``BadInput``."""
    if not _TAG.fullmatch(tag):
        raise BadInput(
            f"invalid tag {tag!r}: use up to 64 letters, digits and . _ : / + = -, "
            "starting with a letter or digit"
        )
    return tag


def list_runs(
    store: Store,
    project: str,
    *,
    status: str | None = None,
    kind: str | None = None,
    runtime: str | None = None,
    tags: Sequence[str] = (),
    model: str | None = None,
    starred: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> RunPage:
    """One page of a project's runs, newest first, narrowed by the filters."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"--limit must be between 1 and {MAX_PAGE}, not {limit}")
    if offset < 0:
        raise BadInput(f"--offset must be 0 or more, not {offset}")
    ensure_project(store, project)
    with store.read() as session:
        project_row = get_project(session, project, create_default=False)
        model_id = get_model(session, project_row, model).id if model else None
        run_filter = RunFilter(
            status=status,
            kind=kind,
            runtime=runtime,
            tags=tuple(check_tag(t) for t in tags),
            model_id=model_id,
            starred=starred,
        )
        ids, total = page_of_run_ids(
            session, project_row.id, run_filter, limit=limit, offset=offset
        )
        return RunPage(runs=summarize_runs(session, ids), total=total, limit=limit, offset=offset)


def show_run(store: Store, run_id: int) -> RunDetail:
    with store.read() as session:
        run = get_run(session, run_id)
        summary = summarize_runs(session, [run_id])[0]
        detail_row = run.quantization if run.kind == "quantize" else run.benchmark
        experiments = session.scalars(
            select(Experiment.name)
            .join(ExperimentRun, ExperimentRun.experiment_id == Experiment.id)
            .where(ExperimentRun.run_id == run_id)
            .order_by(Experiment.name)
        )
        return RunDetail(
            **summary.__dict__,
            host=run.host,
            pid=run.pid,
            command=run.command,
            peak_memory_bytes=run.peak_memory_bytes,
            details=_columns(detail_row, skip={"run_id"}) if detail_row is not None else {},
            layers=tuple(_columns(s, skip={"id", "run_id"}) for s in run.layer_stats),
            log=run.log,
            experiments=tuple(experiments),
        )


def tag_run(store: Store, run_id: int, tags: Iterable[str]) -> RunSummary:
    """Add tags to a run (tags it already has are kept once)."""
    wanted = {check_tag(t) for t in tags}
    with store.write() as session:
        run = get_run(session, run_id)
        have = {t.tag for t in run.tags}
        run.tags.extend(RunTag(tag=t) for t in sorted(wanted - have))
        session.flush()
        return summarize_runs(session, [run_id])[0]


def untag_run(store: Store, run_id: int, tags: Iterable[str]) -> RunSummary:
    """Remove tags from a run (tags it does not have are ignored)."""
    unwanted = set(tags)
    with store.write() as session:
        run = get_run(session, run_id)
        run.tags[:] = [t for t in run.tags if t.tag not in unwanted]
        session.flush()
        return summarize_runs(session, [run_id])[0]


def set_note(store: Store, run_id: int, text: str) -> RunSummary:
    """Replace a run's notes (an empty text clears them; at most ``MAX_NOTE_CHARS``)."""
    check_note(text)
    with store.write() as session:
        get_run(session, run_id).notes = text
        session.flush()
        return summarize_runs(session, [run_id])[0]


def set_starred(store: Store, run_id: int, starred: bool = True) -> RunSummary:
    with store.write() as session:
        get_run(session, run_id).starred = starred
        session.flush()
        return summarize_runs(session, [run_id])[0]


def set_baseline(store: Store, run_id: int, baseline: bool = True) -> RunSummary:
    """Make a run the baseline of its project for its kind (or clear it).

    There is at most one baseline per project and kind: comparisons measure
    the other runs against it.
    """
    with store.write() as session:
        run = get_run(session, run_id)
        if baseline:
            session.execute(
                update(Run)
                .where(Run.project_id == run.project_id, Run.kind == run.kind, Run.baseline)
                .values(baseline=False)
            )
        run.baseline = baseline
        session.flush()
        return summarize_runs(session, [run_id])[0]


def summaries(store: Store, run_ids: Sequence[int]) -> list[RunSummary]:
    """Summaries of the given runs, in the given order (missing ids are skipped)."""
    with store.read() as session:
        return summarize_runs(session, run_ids)


def summarize_runs(session: Session, run_ids: Sequence[int]) -> list[RunSummary]:
    if not run_ids:
        return []
    bench, quant = _BENCH, _QUANT
    rows = session.execute(
        select(
            Run,
            Project.name,
            Model.name,
            bench.runtime,
            bench.sqnr_db,
            quant.sqnr_db,
        )
        .join(Project, Project.id == Run.project_id)
        .outerjoin(Model, Model.id == Run.model_id)
        .outerjoin(bench, bench.run_id == Run.id)
        .outerjoin(quant, quant.run_id == Run.id)
        .where(Run.id.in_(run_ids))
    ).all()
    tags = tags_by_run(session, run_ids)
    by_id = {}
    for run, project, model, runtime, bench_sqnr, quant_sqnr in rows:
        by_id[run.id] = RunSummary(
            id=run.id,
            project=project,
            kind=run.kind,
            status=run.status,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_s=run.duration_s,
            model=model,
            model_id=run.model_id,
            container_id=run.container_id,
            runtime=runtime,
            sqnr_db=bench_sqnr if run.kind == "bench" else quant_sqnr,
            tags=tuple(tags[run.id]),
            starred=run.starred,
            baseline=run.baseline,
            notes=run.notes,
            error=run.error,
        )
    return [by_id[i] for i in run_ids if i in by_id]


def _columns(row: Any, skip: set[str]) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}
