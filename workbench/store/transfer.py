"""Finished runs copied from one store to another (a Ray worker's scratch store to the
sweep driver's): every column, the detail row, per-layer stats and tags, with the
containers they refer to matched by content (sha256) in the destination project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench.store.models import (
    DETAIL_TABLES,
    BenchmarkRun,
    Container,
    DebugRun,
    LayerStat,
    Project,
    QuantizationRun,
    Run,
    RunTag,
)
from workbench.store.queries import find_container_by_sha256

# Foreign keys to containers, carried as the container's sha256.
_CONTAINER_REFS = {
    Run: ("container_id",),
    QuantizationRun: ("output_container_id",),
    BenchmarkRun: ("reference_container_id",),
    DebugRun: ("float_container_id",),
}
# Keys the destination gives (its own ids) or that are the destination's to set.
_RUN_SKIP = {"id", "project_id", "model_id", "container_id", "starred", "baseline"}
_DETAIL_SKIP = {
    "run_id",
    "calibration_set_id",
    "output_container_id",
    "reference_container_id",
    "float_container_id",
}


@dataclass(frozen=True)
class RunCopy:
    """A finished run as plain values, with its containers by content."""

    kind: str
    run: dict[str, Any]
    detail: dict[str, Any]
    containers: dict[str, str | None]  # foreign key column -> the container's sha256
    layer_stats: list[dict[str, Any]]
    tags: list[str]


def export_runs(session: Session) -> list[RunCopy]:
    """Every run of the store, oldest first (a scratch store holds one job's)."""
    return [_export(session, run) for run in session.scalars(select(Run).order_by(Run.id))]


def _export(session: Session, run: Run) -> RunCopy:
    detail = run.detail
    table = DETAIL_TABLES[run.kind]
    containers = {
        key: _sha(session, getattr(owner, key))
        for owner in (run, detail)
        if owner is not None
        for key in _CONTAINER_REFS[type(owner)]
    }
    return RunCopy(
        kind=run.kind,
        run=_columns(run, Run, _RUN_SKIP),
        detail=_columns(detail, table, _DETAIL_SKIP) if detail is not None else {},
        containers=containers,
        layer_stats=[_columns(s, LayerStat, {"id", "run_id"}) for s in run.layer_stats],
        tags=[t.tag for t in run.tags],
    )


def import_run(
    session: Session,
    project: Project,
    copy: RunCopy,
    *,
    model_id: int | None,
    calibration_set_id: int | None = None,
) -> int:
    """Add ``copy`` to ``project``; its new id. Containers it names must be recorded in
    the project already (else the reference is left empty)."""
    refs = {key: _container_id(session, project, sha) for key, sha in copy.containers.items()}
    run = Run(
        **copy.run,
        project_id=project.id,
        model_id=model_id,
        container_id=refs.get("container_id"),
        tags=[RunTag(tag=t) for t in copy.tags],
        layer_stats=[LayerStat(**s) for s in copy.layer_stats],
    )
    table = DETAIL_TABLES[copy.kind]
    values = dict(copy.detail)
    for key in _CONTAINER_REFS[table]:
        values[key] = refs.get(key)
    if table is QuantizationRun:
        values["calibration_set_id"] = calibration_set_id
    run.detail = table(**values)
    session.add(run)
    session.flush()
    return run.id


def _columns(row: Any, table: type[Any], skip: set[str]) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in table.__table__.columns if c.key not in skip}


def _sha(session: Session, container_id: int | None) -> str | None:
    if container_id is None:
        return None
    row = session.get(Container, container_id)
    return row.sha256 if row is not None else None


def _container_id(session: Session, project: Project, sha: str | None) -> int | None:
    if sha is None:
        return None
    row = find_container_by_sha256(session, project, sha)
    return row.id if row is not None else None
