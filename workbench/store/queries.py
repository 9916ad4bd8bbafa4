"""Every read of the store, as plain ``select()`` on the caller's session, grouped by noun.

Jobs open the unit of work (``store.read()`` / ``store.write()``) and call these
functions; they build no SQL of their own. Lookups (``get_*``) raise ``NotFound``
naming what is missing; ``find_*`` return ``None`` instead. A listing returns one
``Page`` of frozen rows. There is one run listing, ``page_runs``: the CLI's flags
(``runs list --status ...``) and the TUI's filter text both become a ``RunFilter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from workbench.errors import BadInput, NotFound
from workbench.store.models import (
    BenchmarkRun,
    CalibrationSet,
    Container,
    DebugRun,
    Experiment,
    ExperimentRun,
    LayerStat,
    Model,
    Project,
    QuantizationRun,
    Run,
    RunTag,
)
from workbench.vocabulary import BENCH, DEBUG, QUANTIZE, RUN_KINDS, RUN_STATUSES, RUNNING

T = TypeVar("T")

# -- ids and pages ---------------------------------------------------------------------------

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


@dataclass(frozen=True)
class PageSpec:
    """Which page of a listing: sort key, direction, offset and size (checked by the caller)."""

    sort: str = "id"
    descending: bool = True
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its rows and how many rows match over all pages."""

    rows: list[T]
    total: int
    offset: int
    limit: int

    @property
    def last_offset(self) -> int:
        """The offset of the last page."""
        return max(0, (self.total - 1) // self.limit * self.limit)


def looks_like_id(word: str) -> bool:
    """Whether ``word`` is typed as an id: ASCII digits (``str.isdigit`` takes ``²``, which
    ``int`` refuses), few enough to parse."""
    return word.isascii() and word.isdigit() and len(word) <= 20


def _id_is(column: Any, value: int) -> Any:
    """``column`` equals ``value`` (never true for an impossible id)."""
    return column == value if is_valid_id(value) else false()


def _ordered(column: ColumnElement[Any], descending: bool) -> Any:
    return column.desc().nulls_last() if descending else column.asc().nulls_last()


def _check_sort(noun: str, sort: str, sorts: dict[str, Any]) -> None:
    if sort not in sorts:
        raise BadInput(f"cannot sort {noun} by {sort!r} (one of {', '.join(sorts)})")


# -- projects --------------------------------------------------------------------------------

DEFAULT_PROJECT = "default"


def get_project(session: Session, name: str, *, create_default: bool = True) -> Project:
    """The project called ``name``; the default project is created on first use."""
    project = find_project(session, name)
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


def all_projects(session: Session, *, include_archived: bool) -> list[Project]:
    """Projects by name; archived ones only when asked."""
    query = select(Project).order_by(Project.name)
    if not include_archived:
        query = query.where(Project.archived.is_(False))
    return list(session.scalars(query))


def last_used_project(session: Session) -> str | None:
    """The unarchived project used last (a run started in it, or the TUI opened it)."""
    return session.scalar(
        select(Project.name)
        .where(Project.archived.is_(False), Project.last_used_at.is_not(None))
        .order_by(Project.last_used_at.desc())
        .limit(1)
    )


# What a project holds, counted per project: runs, models, containers, experiments.
_COUNTED = {"runs": Run, "models": Model, "containers": Container, "experiments": Experiment}


def project_counts(session: Session, project_id: int) -> dict[str, int]:
    """How many runs, models, containers and experiments one project holds."""
    return {
        noun: session.scalar(
            select(func.count()).select_from(table).where(table.project_id == project_id)  # type: ignore[attr-defined]
        )
        or 0
        for noun, table in _COUNTED.items()
    }


def counts_by_project(session: Session) -> dict[int, dict[str, int]]:
    """``project_counts`` of every project at once (a project holding nothing is absent)."""
    counts: dict[int, dict[str, int]] = {}
    for noun, table in _COUNTED.items():
        rows = session.execute(
            select(table.project_id, func.count()).group_by(table.project_id)  # type: ignore[attr-defined]
        )
        for project_id, count in rows:
            counts.setdefault(project_id, dict.fromkeys(_COUNTED, 0))[noun] = count
    return counts


# -- models ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRow:
    id: int
    name: str
    format: str
    opset: int | None
    param_count: int | None
    macs: int | None
    containers: int
    quantized_containers: int
    runs: int
    source_path: str
    created_at: datetime
    metric: str | None = None  # the decision metric (jobs.metric_choice), and why
    metric_reason: str | None = None


def get_model(session: Session, project: Project, name_or_id: str) -> Model:
    """A model of ``project`` by id (digits) or by name (the newest of that name)."""
    query = select(Model).where(Model.project_id == project.id)
    if looks_like_id(name_or_id):
        query = query.where(_id_is(Model.id, int(name_or_id)))
    else:
        query = query.where(Model.name == name_or_id).order_by(Model.id.desc()).limit(1)
    model = session.scalar(query)
    if model is None:
        raise NotFound(f"no model {name_or_id!r} in project {project.name!r}")
    return model


def find_model(session: Session, model_id: int) -> Model | None:
    return session.get(Model, model_id) if is_valid_id(model_id) else None


def find_model_by_sha256(session: Session, project: Project, sha256: str) -> Model | None:
    """The newest model of ``project`` with this content hash, to reuse on re-import."""
    return session.scalar(
        select(Model)
        .where(Model.project_id == project.id, Model.sha256 == sha256)
        .order_by(Model.id.desc())
        .limit(1)
    )


_CONTAINER_COUNT = (
    select(func.count(Container.id))
    .where(Container.model_id == Model.id)
    .correlate(Model)
    .scalar_subquery()
)
_QUANTIZED_COUNT = (
    select(func.count(Container.id))
    .where(Container.model_id == Model.id, Container.quantized)
    .correlate(Model)
    .scalar_subquery()
)
_RUN_COUNT = (
    select(func.count(Run.id)).where(Run.model_id == Model.id).correlate(Model).scalar_subquery()
)

MODEL_SORTS: dict[str, ColumnElement[Any]] = {
    "id": Model.id,
    "name": Model.name,
    "format": Model.format,
    "opset": Model.opset,
    "params": Model.param_count,
    "macs": Model.macs,
    "containers": _CONTAINER_COUNT,
    "runs": _RUN_COUNT,
    "created": Model.created_at,
}


def page_models(
    session: Session, project_id: int, words: Sequence[str], spec: PageSpec
) -> Page[ModelRow]:
    """One page of a project's models with their container and run counts.

    Each word must be part of the name, the source path or the format, or be the id.
    """
    _check_sort("models", spec.sort, MODEL_SORTS)
    conds: list[Any] = [Model.project_id == project_id]
    for word in words:
        matches = [
            Model.name.icontains(word, autoescape=True),
            Model.source_path.icontains(word, autoescape=True),
            Model.format.icontains(word, autoescape=True),
        ]
        if looks_like_id(word):
            matches.append(_id_is(Model.id, int(word)))
        conds.append(or_(*matches))
    total = session.scalar(select(func.count(Model.id)).where(*conds)) or 0
    order = (
        _ordered(MODEL_SORTS[spec.sort], spec.descending),
        Model.id.desc() if spec.descending else Model.id.asc(),
    )
    rows = _model_rows(session, conds, order, spec.limit, spec.offset)
    return Page(rows, total, spec.offset, spec.limit)


def model_row(session: Session, model_id: int) -> ModelRow | None:
    rows = _model_rows(session, [_id_is(Model.id, model_id)], (Model.id,), 1, 0)
    return rows[0] if rows else None


def _model_rows(
    session: Session, conds: list[Any], order: Sequence[Any], limit: int, offset: int
) -> list[ModelRow]:
    rows = session.execute(
        select(Model, _CONTAINER_COUNT, _QUANTIZED_COUNT, _RUN_COUNT)
        .where(*conds)
        .order_by(*order)
        .limit(limit)
        .offset(sql_offset(offset))
    ).all()
    return [
        ModelRow(
            id=m.id,
            name=m.name,
            format=m.format,
            opset=m.opset,
            param_count=m.param_count,
            macs=m.macs,
            containers=containers,
            quantized_containers=quantized,
            runs=runs,
            source_path=m.source_path,
            created_at=m.created_at,
            metric=m.decision_metric,
            metric_reason=m.metric_reason,
        )
        for m, containers, quantized, runs in rows
    ]


# -- containers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerRow:
    id: int
    path: str
    size_bytes: int
    quantized: bool
    model_id: int | None
    model: str | None
    created_at: datetime

    @property
    def file_name(self) -> str:
        return Path(self.path).name


def container_row(container: Container, model: str | None) -> ContainerRow:
    """A container record as a row, with the name of its model."""
    return ContainerRow(
        id=container.id,
        path=container.path,
        size_bytes=container.size_bytes,
        quantized=container.quantized,
        model_id=container.model_id,
        model=model,
        created_at=container.created_at,
    )


def find_container(session: Session, container_id: int) -> Container | None:
    return session.get(Container, container_id) if is_valid_id(container_id) else None


def find_container_by_sha256(session: Session, project: Project, sha256: str) -> Container | None:
    """The newest container record of ``project`` with this content hash."""
    return session.scalar(
        select(Container)
        .where(Container.project_id == project.id, Container.sha256 == sha256)
        .order_by(Container.id.desc())
        .limit(1)
    )


def project_containers(
    session: Session, project_id: int, *, quantized: bool | None, limit: int
) -> list[ContainerRow]:
    """A project's containers (only quantized or float ones, if asked), newest first."""
    query = (
        select(Container, Model.name)
        .outerjoin(Model, Model.id == Container.model_id)
        .where(Container.project_id == project_id)
    )
    if quantized is not None:
        query = query.where(Container.quantized.is_(quantized))
    rows = session.execute(query.order_by(Container.id.desc()).limit(limit)).all()
    return [container_row(c, name) for c, name in rows]


def model_containers(session: Session, model: Model) -> list[ContainerRow]:
    """Every container made from ``model``, newest first."""
    containers = session.scalars(
        select(Container).where(Container.model_id == model.id).order_by(Container.id.desc())
    )
    return [container_row(c, model.name) for c in containers]


# -- calibration sets ------------------------------------------------------------------------


def find_calibration_set(session: Session, calibration_id: int) -> CalibrationSet | None:
    return session.get(CalibrationSet, calibration_id) if is_valid_id(calibration_id) else None


def find_calibration_set_by_sha256(
    session: Session, project: Project, sha256: str
) -> CalibrationSet | None:
    """A calibration set of ``project`` with this input list's content hash."""
    return session.scalars(
        select(CalibrationSet).where(
            CalibrationSet.project_id == project.id, CalibrationSet.sha256 == sha256
        )
    ).first()


# -- runs ------------------------------------------------------------------------------------


def get_run(session: Session, run_id: int) -> Run:
    run = find_run(session, run_id)
    if run is None:
        raise NotFound(f"no run with id {run_id}")
    return run


def find_run(session: Session, run_id: int) -> Run | None:
    return session.get(Run, run_id) if is_valid_id(run_id) else None


@dataclass(frozen=True)
class RunFilter:
    """Which of a project's runs a listing shows: every field set narrows it.

    ``runs list --status failed --tag x`` and the TUI's ``status:failed #x`` are the
    same filter. ``model_id`` is one model; ``model_name`` every model of exactly that
    name. Each of ``words`` must be part of the model name, the notes, the command, the
    error, the status, the runtime, the quantizer, the algorithms, a debug run's first
    divergent layer or its cause, or a tag, or be the id.
    """

    kind: str | None = None
    status: str | None = None
    runtime: str | None = None  # benchmark (and debug) runs on this runtime
    model_id: int | None = None
    model_name: str | None = None
    tags: tuple[str, ...] = ()  # a run must carry all of them
    starred: bool | None = None
    baseline: bool | None = None
    words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in RUN_STATUSES:
            raise BadInput(f"unknown status {self.status!r} (one of {', '.join(RUN_STATUSES)})")
        if self.kind is not None and self.kind not in RUN_KINDS:
            raise BadInput(f"unknown run kind {self.kind!r} (one of {', '.join(RUN_KINDS)})")


@dataclass(frozen=True)
class RunRow:
    """One run as every listing shows it: what all runs have, then each kind's columns
    (``None`` for a run of the other kind)."""

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
    runtime: str | None  # bench and debug runs
    sqnr_db: float | None  # the run's headline accuracy
    tags: tuple[str, ...]
    starred: bool
    baseline: bool
    notes: str
    error: str | None
    peak_memory_bytes: int | None
    container_quantized: bool | None
    # quantize
    param_quantizer: str | None
    act_quantizer: str | None
    weights_bitwidth: int | None
    act_bitwidth: int | None
    bias_bitwidth: int | None
    per_channel: bool | None
    algorithms: str | None
    enable_hta: bool | None
    output_size_bytes: int | None
    # bench
    cpu_fxp: bool | None
    batch: int | None
    iterations: int | None
    init_time_ms: float | None
    init_peak_bytes: int | None
    latency_mean_ms: float | None
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    cosine: float | None
    top1_agreement: float | None
    container_size_bytes: int | None
    container_path: str | None  # the run's container (quantize: the input; bench: measured;
    # debug: the quantized one compared)
    output_path: str | None  # quantize: the container written
    # debug
    first_divergent_layer: str | None
    cause: str | None  # why it diverges (engine.quant.debug.CAUSES)

    @property
    def container_name(self) -> str | None:
        """The file name of the container the run is about (quantize: the one written,
        else its input)."""
        path = self.output_path or self.container_path
        return None if path is None else PurePath(path).name


# Built once: a new alias per call costs more than the query (writers hold the
# store's write lock while they summarize what they changed).
_Q = aliased(QuantizationRun)
_B = aliased(BenchmarkRun)
_D = aliased(DebugRun)
_RUNTIME = func.coalesce(_B.runtime, _D.runtime)  # the runtime a bench or debug run ran on
_SRC = aliased(Container)
_OUT = aliased(Container)
_FIRST_TAG = (
    select(func.min(RunTag.tag)).where(RunTag.run_id == Run.id).correlate(Run).scalar_subquery()
)
_PROJECT_NAME = (
    select(Project.name).where(Project.id == Run.project_id).correlate(Run).scalar_subquery()
)

RUN_SORTS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "id": (Run.id,),
    "kind": (Run.kind,),
    "status": (Run.status,),
    "started": (Run.started_at,),
    "took": (Run.duration_s,),
    "peak": (Run.peak_memory_bytes,),
    "model": (Model.name,),
    "starred": (Run.starred,),
    "tags": (_FIRST_TAG,),
    "notes": (Run.notes,),
    "sqnr": (func.coalesce(_Q.sqnr_db, _B.sqnr_db, _D.sqnr_db),),
    # quantize
    "scheme": (_Q.param_quantizer, _Q.act_quantizer),
    "bits": (_Q.weights_bitwidth, _Q.act_bitwidth, _Q.bias_bitwidth),
    "options": (_Q.per_channel, _Q.algorithms, _Q.enable_hta),
    "out_size": (_OUT.size_bytes,),
    # bench
    "runtime": (_RUNTIME, func.coalesce(_B.cpu_fxp, _D.cpu_fxp)),
    "quantized": (_SRC.quantized,),
    "container": (func.coalesce(_OUT.path, _SRC.path),),
    "batch": (_B.batch,),
    "init": (_B.init_time_ms,),
    "init_peak": (_B.init_peak_bytes,),
    "latency": (_B.latency_mean_ms,),
    "p90": (_B.latency_p90_ms,),
    "cosine": (_B.cosine,),
    "top1": (_B.top1_agreement,),
    "size": (_B.container_size_bytes,),
    # debug
    "first": (_D.first_divergent_layer,),
    "cause": (_D.cause,),
}

# Plain columns, not ORM entities: a page never loads the runs' logs.
_RUN_COLUMNS = (
    Run.id, _PROJECT_NAME.label("project"), Run.kind, Run.status, Run.started_at,
    Run.finished_at, Run.duration_s, Run.peak_memory_bytes, Run.model_id, Run.container_id,
    Run.starred, Run.baseline, Run.notes, Run.error,
    Model.name.label("model"), _SRC.quantized.label("container_quantized"),
    _OUT.size_bytes.label("output_size_bytes"),
    _Q.sqnr_db.label("q_sqnr_db"), _Q.param_quantizer, _Q.act_quantizer, _Q.weights_bitwidth,
    _Q.act_bitwidth, _Q.bias_bitwidth, _Q.per_channel, _Q.algorithms, _Q.enable_hta,
    _B.sqnr_db.label("b_sqnr_db"), _RUNTIME.label("runtime"),
    func.coalesce(_B.cpu_fxp, _D.cpu_fxp).label("cpu_fxp"), _B.batch, _B.iterations,
    _B.init_time_ms, _B.init_peak_bytes, _B.latency_mean_ms, _B.latency_p50_ms,
    _B.latency_p90_ms, _B.cosine, _B.top1_agreement, _B.container_size_bytes,
    _SRC.path.label("container_path"), _OUT.path.label("output_path"),
    _D.sqnr_db.label("d_sqnr_db"), _D.first_divergent_layer, _D.cause,
)  # fmt: skip
_ROW_FIELDS = frozenset(f.name for f in fields(RunRow)) - {"tags", "sqnr_db"}


def _run_select(columns: Sequence[Any], kind: str | None) -> Select[Any]:
    """Runs with their model, containers and detail row (only those of ``kind``, if given)."""
    query = (
        select(*columns)
        .select_from(Run)
        .outerjoin(Model, Model.id == Run.model_id)
        .outerjoin(_SRC, _SRC.id == Run.container_id)
    )
    if kind == QUANTIZE:
        query = query.join(_Q, _Q.run_id == Run.id)
    else:
        query = query.outerjoin(_Q, _Q.run_id == Run.id)
    if kind == BENCH:
        query = query.join(_B, _B.run_id == Run.id)
    else:
        query = query.outerjoin(_B, _B.run_id == Run.id)
    if kind == DEBUG:
        query = query.join(_D, _D.run_id == Run.id)
    else:
        query = query.outerjoin(_D, _D.run_id == Run.id)
    return query.outerjoin(_OUT, _OUT.id == _Q.output_container_id)


def _has_tag(tag: str) -> Any:
    return select(RunTag.run_id).where(RunTag.run_id == Run.id, RunTag.tag == tag).exists()


def _word_matches(word: str) -> Any:
    matches = [
        Model.name.icontains(word, autoescape=True),
        Run.notes.icontains(word, autoescape=True),
        Run.command.icontains(word, autoescape=True),
        Run.error.icontains(word, autoescape=True),
        Run.status.icontains(word, autoescape=True),
        _RUNTIME.icontains(word, autoescape=True),
        _D.first_divergent_layer.icontains(word, autoescape=True),
        _D.cause.icontains(word, autoescape=True),
        _Q.param_quantizer.icontains(word, autoescape=True),
        _Q.algorithms.icontains(word, autoescape=True),
        select(RunTag.run_id)
        .where(RunTag.run_id == Run.id, RunTag.tag.icontains(word, autoescape=True))
        .exists(),
    ]
    if looks_like_id(word):
        matches.append(_id_is(Run.id, int(word)))
    return or_(*matches)


def _run_conditions(project_id: int, flt: RunFilter) -> list[Any]:
    conds: list[Any] = [Run.project_id == project_id]
    if flt.kind is not None:
        conds.append(Run.kind == flt.kind)
    if flt.status is not None:
        conds.append(Run.status == flt.status)
    if flt.runtime is not None:
        conds.append(_RUNTIME == flt.runtime)
    if flt.model_id is not None:
        conds.append(_id_is(Run.model_id, flt.model_id))
    if flt.model_name is not None:
        conds.append(Model.name == flt.model_name)
    if flt.starred is not None:
        conds.append(Run.starred.is_(flt.starred))
    if flt.baseline is not None:
        conds.append(Run.baseline.is_(flt.baseline))
    conds.extend(_has_tag(tag) for tag in flt.tags)
    conds.extend(_word_matches(word) for word in flt.words)
    return conds


def _needs_joins(flt: RunFilter) -> bool:
    """Whether ``flt`` has a condition on a joined table (else it counts on the runs index)."""
    return bool(flt.words or flt.runtime is not None or flt.model_name is not None)


def run_page_query(project_id: int, run_filter: RunFilter, spec: PageSpec) -> Select[Any]:
    """The select of one page of ``page_runs`` (tags come separately)."""
    _check_sort("runs", spec.sort, RUN_SORTS)
    order = [_ordered(c, spec.descending) for c in RUN_SORTS[spec.sort]]
    order.append(Run.id.desc() if spec.descending else Run.id.asc())
    return (
        _run_select(_RUN_COLUMNS, run_filter.kind)
        .where(and_(*_run_conditions(project_id, run_filter)))
        .order_by(*order)
        .limit(spec.limit)
        .offset(sql_offset(spec.offset))
    )


def count_runs(session: Session, project_id: int, run_filter: RunFilter) -> int:
    """How many of a project's runs match ``run_filter``."""
    conds = and_(*_run_conditions(project_id, run_filter))
    if _needs_joins(run_filter):
        ids = _run_select([Run.id], run_filter.kind).where(conds)
    else:  # no condition on the joined tables: count on the runs index alone
        ids = select(Run.id).where(conds)
    return session.scalar(select(func.count()).select_from(ids.subquery())) or 0


def page_runs(
    session: Session, project_id: int, run_filter: RunFilter, spec: PageSpec
) -> Page[RunRow]:
    """One page of a project's runs matching ``run_filter``, sorted as ``spec`` says."""
    rows = session.execute(run_page_query(project_id, run_filter, spec)).all()
    total = count_runs(session, project_id, run_filter)
    tags = tags_by_run(session, [r.id for r in rows])
    return Page([_run_row(r, tags) for r in rows], total, spec.offset, spec.limit)


def run_rows(session: Session, run_ids: Sequence[int]) -> list[RunRow]:
    """The given runs as rows, in the given order (ids of no run are skipped)."""
    wanted = [i for i in dict.fromkeys(run_ids) if is_valid_id(i)]
    if not wanted:
        return []
    rows = session.execute(_run_select(_RUN_COLUMNS, None).where(Run.id.in_(wanted))).all()
    tags = tags_by_run(session, wanted)
    by_id = {r.id: _run_row(r, tags) for r in rows}
    return [by_id[i] for i in run_ids if i in by_id]


_HEADLINE_SQNR = {QUANTIZE: "q_sqnr_db", BENCH: "b_sqnr_db", DEBUG: "d_sqnr_db"}


def _run_row(row: Any, tags: dict[int, list[str]]) -> RunRow:
    values = row._mapping
    return RunRow(
        **{k: values[k] for k in _ROW_FIELDS},
        tags=tuple(tags.get(row.id, ())),
        sqnr_db=values[_HEADLINE_SQNR[row.kind]],
    )


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


def clear_baseline(session: Session, project_id: int, kind: str) -> None:
    """No run of ``kind`` in the project is the baseline any more."""
    session.execute(
        update(Run)
        .where(Run.project_id == project_id, Run.kind == kind, Run.baseline)
        .values(baseline=False)
    )


def layer_sqnr_rows(session: Session, run_ids: Sequence[int]) -> list[Any]:
    """``(run_id, layer_index, layer_name, op_type, sqnr_db)`` of the runs' layers, in order."""
    if not run_ids:
        return []
    return list(
        session.execute(
            select(
                LayerStat.run_id,
                LayerStat.layer_index,
                LayerStat.layer_name,
                LayerStat.op_type,
                LayerStat.sqnr_db,
            )
            .where(LayerStat.run_id.in_(run_ids))
            .order_by(LayerStat.run_id, LayerStat.layer_index)
        )
    )


# -- experiments -----------------------------------------------------------------------------


def get_experiment(session: Session, project: Project, name: str) -> Experiment:
    experiment = find_experiment(session, project.id, name)
    if experiment is None:
        raise NotFound(f"no experiment named {name!r} in project {project.name!r}")
    return experiment


def find_experiment(session: Session, project_id: int, name: str) -> Experiment | None:
    return session.scalar(
        select(Experiment).where(Experiment.project_id == project_id, Experiment.name == name)
    )


def project_experiments(session: Session, project_id: int) -> list[Experiment]:
    """A project's experiments by name."""
    return list(
        session.scalars(
            select(Experiment).where(Experiment.project_id == project_id).order_by(Experiment.name)
        )
    )


def experiment_members(session: Session, project_id: int) -> dict[int, list[int]]:
    """The run ids of each of a project's experiments (that holds any), ascending."""
    members: dict[int, list[int]] = {}
    rows = session.execute(
        select(ExperimentRun.experiment_id, ExperimentRun.run_id)
        .join(Experiment, Experiment.id == ExperimentRun.experiment_id)
        .where(Experiment.project_id == project_id)
        .order_by(ExperimentRun.run_id)
    )
    for experiment_id, run_id in rows:
        members.setdefault(experiment_id, []).append(run_id)
    return members


def experiments_of_run(session: Session, run_id: int) -> list[str]:
    """The names of the experiments holding a run."""
    return list(
        session.scalars(
            select(Experiment.name)
            .join(ExperimentRun, ExperimentRun.experiment_id == Experiment.id)
            .where(ExperimentRun.run_id == run_id)
            .order_by(Experiment.name)
        )
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
        .where(Run.id.in_(run_ids), Run.status != RUNNING)
        .order_by(Run.id)
    )
    return [(run, bench, container) for run, bench, container in rows]


def quantize_runs(session: Session, run_ids: Sequence[int]) -> list[Run]:
    """The quantization runs among ``run_ids``, by id."""
    return list(
        session.scalars(
            select(Run).where(Run.id.in_(run_ids), Run.kind == QUANTIZE).order_by(Run.id)
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
