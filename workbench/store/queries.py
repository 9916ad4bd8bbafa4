"""Lookups and the run listing query, as plain ``select()`` on a session.

Every function takes the session of the caller's unit of work. Lookups raise
``NotFound`` with a message that names the missing thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from workbench.errors import BadInput, NotFound
from workbench.store.models import (
    RUN_KINDS,
    RUN_STATUSES,
    BenchmarkRun,
    CalibrationSet,
    Container,
    Experiment,
    Model,
    Project,
    QuantizationRun,
    Run,
    RunTag,
)

DEFAULT_PROJECT = "default"
# Ids are 32-bit on PostgreSQL (SERIAL); asking for a larger one is an error
# there, not "no such row". Offsets past the end are an empty page anywhere,
# but past 2**63 neither backend takes them.
MAX_ID = 2**31 - 1
MAX_OFFSET = 2**62


def is_valid_id(value: int) -> bool:
    """Whether ``value`` can be the id of a row (a query with it is valid SQL everywhere)."""
    return 0 < value <= MAX_ID


def sql_offset(offset: int) -> int:
    """``offset`` as every backend accepts it (an offset past the end selects nothing)."""
    return min(offset, MAX_OFFSET)


def get_project(session: Session, name: str, *, create_default: bool = True) -> Project:
    """The project called ``name``; the default project is created on first use."""
    project = session.scalar(select(Project).where(Project.name == name))
    if project is not None:
        return project
    if create_default and name == DEFAULT_PROJECT:
        project = Project(name=name)
        session.add(project)
        session.flush()
        return project
    raise NotFound(f"no project named {name!r} (see: workbench project list)")


def find_project(session: Session, name: str) -> Project | None:
    return session.scalar(select(Project).where(Project.name == name))


def get_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id) if is_valid_id(run_id) else None
    if run is None:
        raise NotFound(f"no run with id {run_id}")
    return run


def get_model(session: Session, project: Project, name_or_id: str) -> Model:
    """A model of ``project`` by id (digits) or by name (the newest of that name)."""
    query = select(Model).where(Model.project_id == project.id)
    if name_or_id.isascii() and name_or_id.isdigit() and len(name_or_id) <= 20:  # not "²"
        model_id = int(name_or_id)
        query = query.where(Model.id == model_id if is_valid_id(model_id) else false())
    else:
        query = query.where(Model.name == name_or_id).order_by(Model.id.desc()).limit(1)
    model = session.scalar(query)
    if model is None:
        raise NotFound(f"no model {name_or_id!r} in project {project.name!r}")
    return model


def get_experiment(session: Session, project: Project, name: str) -> Experiment:
    experiment = session.scalar(
        select(Experiment).where(Experiment.project_id == project.id, Experiment.name == name)
    )
    if experiment is None:
        raise NotFound(f"no experiment named {name!r} in project {project.name!r}")
    return experiment


@dataclass(frozen=True)
class RunFilter:
    """What ``runs list`` narrows to; every field is optional."""

    status: str | None = None
    kind: str | None = None
    runtime: str | None = None
    tags: tuple[str, ...] = ()  # a run must carry all of them
    model_id: int | None = None
    starred: bool | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in RUN_STATUSES:
            raise BadInput(f"unknown status {self.status!r} (one of {', '.join(RUN_STATUSES)})")
        if self.kind is not None and self.kind not in RUN_KINDS:
            raise BadInput(f"unknown run kind {self.kind!r} (one of {', '.join(RUN_KINDS)})")


def filtered_runs(project_id: int, run_filter: RunFilter) -> Select[tuple[int]]:
    """The ids of a project's runs matching ``run_filter`` (unordered)."""
    query = select(Run.id).where(Run.project_id == project_id)
    if run_filter.status is not None:
        query = query.where(Run.status == run_filter.status)
    if run_filter.kind is not None:
        query = query.where(Run.kind == run_filter.kind)
    if run_filter.model_id is not None:
        query = query.where(Run.model_id == run_filter.model_id)
    if run_filter.starred is not None:
        query = query.where(Run.starred == run_filter.starred)
    if run_filter.runtime is not None:
        query = query.join(BenchmarkRun, BenchmarkRun.run_id == Run.id).where(
            BenchmarkRun.runtime == run_filter.runtime
        )
    for tag in run_filter.tags:
        query = query.where(
            select(RunTag.run_id).where(RunTag.run_id == Run.id, RunTag.tag == tag).exists()
        )
    return query


def page_of_run_ids(
    session: Session, project_id: int, run_filter: RunFilter, *, limit: int, offset: int
) -> tuple[list[int], int]:
    """One page of matching run ids, newest first, and the total number matching."""
    ids_query = filtered_runs(project_id, run_filter)
    total = session.scalar(select(func.count()).select_from(ids_query.subquery())) or 0
    ids = list(
        session.scalars(ids_query.order_by(Run.id.desc()).limit(limit).offset(sql_offset(offset)))
    )
    return ids, total


def tags_by_run(session: Session, run_ids: Sequence[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {run_id: [] for run_id in run_ids}
    if run_ids:
        rows = session.execute(
            select(RunTag.run_id, RunTag.tag)
            .where(RunTag.run_id.in_(run_ids))
            .order_by(RunTag.run_id, RunTag.tag)
        )
        for run_id, tag in rows:
            tags[run_id].append(tag)
    return tags


def find_model_by_sha256(session: Session, project: Project, sha256: str) -> Model | None:
    """The newest model of ``project`` with this content hash, to reuse on re-import."""
    return session.scalar(
        select(Model)
        .where(Model.project_id == project.id, Model.sha256 == sha256)
        .order_by(Model.id.desc())
        .limit(1)
    )


def find_container_by_sha256(session: Session, project: Project, sha256: str) -> Container | None:
    """The newest container record of ``project`` with this content hash."""
    return session.scalar(
        select(Container)
        .where(Container.project_id == project.id, Container.sha256 == sha256)
        .order_by(Container.id.desc())
        .limit(1)
    )


# --------------------------------------------------------------------------- jobs' lookups


def finished_bench_runs(
    session: Session, run_ids: Sequence[int]
) -> list[tuple[Run, BenchmarkRun, Container]]:
    """The benchmark runs among ``run_ids`` that have ended, with their containers, by id."""
    rows = session.execute(
        select(Run, BenchmarkRun, Container)
        .join(BenchmarkRun, BenchmarkRun.run_id == Run.id)
        .join(Container, Container.id == Run.container_id)
        .where(Run.id.in_(run_ids), Run.status != "running")
        .order_by(Run.id)
    )
    return [(run, bench, container) for run, bench, container in rows]


def quantize_runs(session: Session, run_ids: Sequence[int]) -> list[Run]:
    """The quantization runs among ``run_ids``, by id."""
    return list(
        session.scalars(
            select(Run).where(Run.id.in_(run_ids), Run.kind == "quantize").order_by(Run.id)
        )
    )


def quantize_runs_writing(session: Session, container: Container) -> list[Run]:
    """The quantization runs that wrote ``container``, newest first, with a known input."""
    return list(
        session.scalars(
            select(Run)
            .join(QuantizationRun, QuantizationRun.run_id == Run.id)
            .where(
                QuantizationRun.output_container_id == container.id,
                Run.container_id.is_not(None),
            )
            .order_by(Run.id.desc())
        )
    )


def find_calibration_set_by_sha256(
    session: Session, project: Project, sha256: str
) -> CalibrationSet | None:
    """A calibration set of ``project`` with this input list's content hash."""
    return session.scalars(
        select(CalibrationSet).where(
            CalibrationSet.project_id == project.id, CalibrationSet.sha256 == sha256
        )
    ).first()
