"""Read-only views of the store for browsing: paged, sorted, filtered tables and details.

The TUI pages every table from here (10,000 runs stay instant: one indexed
count and one ``LIMIT``/``OFFSET`` select per page) and the CLI can reuse it.
A ``TableQuery`` says which page, sorted by which column, narrowed by a filter
text. The filter text is free words (each must match somewhere: model, tags,
notes, command, error, runtime, quantizer, or the id) plus tokens:

``tag:NAME`` (or ``#NAME``), ``status:failed``, ``runtime:dsp``, ``model:NAME``,
``is:starred``, ``is:baseline``, ``is:marked`` is left to the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import aliased

from workbench.errors import BadInput, NotFound
from workbench.jobs.compare import Comparison, LayerPoint, RunRecord, build_comparison
from workbench.jobs.experiments import list_experiments
from workbench.jobs.projects import ProjectInfo, ensure_project, list_projects
from workbench.jobs.runs import RunDetail, show_run
from workbench.store import (
    RUN_STATUSES,
    BenchmarkRun,
    CalibrationSet,
    Container,
    LayerStat,
    Model,
    QuantizationRun,
    Run,
    RunTag,
    Store,
)
from workbench.store.queries import get_project, get_run, is_valid_id, sql_offset, tags_by_run

T = TypeVar("T")
PAGE_SIZE = 100
MAX_LIMIT = 10_000
MAX_COMPARED = 50


@dataclass(frozen=True)
class TableQuery:
    """Which page of a table: sort column, direction, filter text, offset and size."""

    sort: str = "id"
    descending: bool = True
    text: str = ""
    offset: int = 0
    limit: int = PAGE_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise BadInput(f"page size must be between 1 and {MAX_LIMIT}, not {self.limit}")
        if self.offset < 0:
            raise BadInput(f"offset must be 0 or more, not {self.offset}")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int  # rows matching the filter, over all pages
    offset: int
    limit: int

    @property
    def last_offset(self) -> int:
        """The offset of the last page."""
        return max(0, (self.total - 1) // self.limit * self.limit)


@dataclass(frozen=True)
class RunFilterText:
    """A filter text, parsed (see the module doc)."""

    words: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    status: str | None = None
    runtime: str | None = None
    model: str | None = None
    starred: bool = False
    baseline: bool = False


def parse_filter(text: str) -> RunFilterText:
    """Split a filter text into free words and ``key:value`` tokens."""
    words: list[str] = []
    tags: list[str] = []
    found: dict[str, Any] = {}
    for token in text.split():
        key, sep, value = token.partition(":")
        key = key.lower()
        if token.startswith("#") and len(token) > 1:
            tags.append(token[1:])
        elif sep and key == "tag" and value:
            tags.append(value)
        elif sep and key == "status" and value:
            if value.lower() not in RUN_STATUSES:
                raise BadInput(f"unknown status {value!r} (one of {', '.join(RUN_STATUSES)})")
            found["status"] = value.lower()
        elif sep and key in ("runtime", "rt") and value:
            found["runtime"] = value.lower()
        elif sep and key == "model" and value:
            found["model"] = value
        elif sep and key == "is" and value.lower() in ("starred", "star"):
            found["starred"] = True
        elif sep and key == "is" and value.lower() == "baseline":
            found["baseline"] = True
        elif sep and key == "is" and value.lower() in RUN_STATUSES:
            found["status"] = value.lower()
        else:
            words.append(token)
    return RunFilterText(words=tuple(words), tags=tuple(tags), **found)


# -- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    """One row of a project's run tables (columns of both kinds; the other kind's are None)."""

    id: int
    kind: str
    status: str
    started_at: datetime
    duration_s: float | None
    peak_memory_bytes: int | None
    model: str | None
    model_id: int | None
    container_id: int | None
    container_quantized: bool | None
    tags: tuple[str, ...]
    starred: bool
    baseline: bool
    notes: str
    error: str | None
    sqnr_db: float | None
    # quantize
    param_quantizer: str | None = None
    act_quantizer: str | None = None
    weights_bitwidth: int | None = None
    act_bitwidth: int | None = None
    bias_bitwidth: int | None = None
    per_channel: bool | None = None
    algorithms: str | None = None
    enable_hta: bool | None = None
    output_size_bytes: int | None = None
    # bench
    runtime: str | None = None
    cpu_fxp: bool | None = None
    batch: int | None = None
    iterations: int | None = None
    init_time_ms: float | None = None
    init_peak_bytes: int | None = None
    latency_mean_ms: float | None = None
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    cosine: float | None = None
    top1_agreement: float | None = None
    container_size_bytes: int | None = None


_Q = aliased(QuantizationRun)
_B = aliased(BenchmarkRun)
_SRC = aliased(Container)
_OUT = aliased(Container)
_FIRST_TAG = (
    select(func.min(RunTag.tag)).where(RunTag.run_id == Run.id).correlate(Run).scalar_subquery()
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
    "sqnr": (func.coalesce(_Q.sqnr_db, _B.sqnr_db),),
    # quantize
    "scheme": (_Q.param_quantizer, _Q.act_quantizer),
    "bits": (_Q.weights_bitwidth, _Q.act_bitwidth, _Q.bias_bitwidth),
    "options": (_Q.per_channel, _Q.algorithms, _Q.enable_hta),
    "out_size": (_OUT.size_bytes,),
    # bench
    "runtime": (_B.runtime, _B.cpu_fxp),
    "quantized": (_SRC.quantized,),
    "batch": (_B.batch,),
    "init": (_B.init_time_ms,),
    "init_peak": (_B.init_peak_bytes,),
    "latency": (_B.latency_mean_ms,),
    "p90": (_B.latency_p90_ms,),
    "cosine": (_B.cosine,),
    "top1": (_B.top1_agreement,),
    "size": (_B.container_size_bytes,),
}


def _run_select(columns: Sequence[Any], kind: str | None) -> Select[Any]:
    query = (
        select(*columns)
        .select_from(Run)
        .outerjoin(Model, Model.id == Run.model_id)
        .outerjoin(_SRC, _SRC.id == Run.container_id)
    )
    if kind == "quantize":
        query = query.join(_Q, _Q.run_id == Run.id)
    else:
        query = query.outerjoin(_Q, _Q.run_id == Run.id)
    if kind == "bench":
        query = query.join(_B, _B.run_id == Run.id)
    else:
        query = query.outerjoin(_B, _B.run_id == Run.id)
    return query.outerjoin(_OUT, _OUT.id == _Q.output_container_id)


def _run_conditions(project_id: int, kind: str | None, flt: RunFilterText) -> list[Any]:
    conds: list[Any] = [Run.project_id == project_id]
    if kind is not None:
        conds.append(Run.kind == kind)
    if flt.status:
        conds.append(Run.status == flt.status)
    if flt.runtime:
        conds.append(_B.runtime == flt.runtime)
    if flt.model:
        conds.append(
            _id_is(Model.id, flt.model) if _looks_like_id(flt.model) else Model.name == flt.model
        )
    if flt.starred:
        conds.append(Run.starred)
    if flt.baseline:
        conds.append(Run.baseline)
    for tag in flt.tags:
        conds.append(
            select(RunTag.run_id).where(RunTag.run_id == Run.id, RunTag.tag == tag).exists()
        )
    for word in flt.words:
        matches = [
            Model.name.icontains(word, autoescape=True),
            Run.notes.icontains(word, autoescape=True),
            Run.command.icontains(word, autoescape=True),
            Run.error.icontains(word, autoescape=True),
            Run.status.icontains(word, autoescape=True),
            _B.runtime.icontains(word, autoescape=True),
            _Q.param_quantizer.icontains(word, autoescape=True),
            _Q.algorithms.icontains(word, autoescape=True),
            select(RunTag.run_id)
            .where(RunTag.run_id == Run.id, RunTag.tag.icontains(word, autoescape=True))
            .exists(),
        ]
        if _looks_like_id(word):
            matches.append(_id_is(Run.id, word))
        conds.append(or_(*matches))
    return conds


# Plain columns, not ORM entities: a page never loads the runs' logs.
_RUN_COLUMNS = (
    Run.id, Run.kind, Run.status, Run.started_at, Run.duration_s, Run.peak_memory_bytes,
    Run.model_id, Run.container_id, Run.starred, Run.baseline, Run.notes, Run.error,
    Model.name.label("model"), _SRC.quantized.label("container_quantized"),
    _OUT.size_bytes.label("output_size_bytes"),
    _Q.sqnr_db.label("q_sqnr_db"), _Q.param_quantizer, _Q.act_quantizer, _Q.weights_bitwidth,
    _Q.act_bitwidth, _Q.bias_bitwidth, _Q.per_channel, _Q.algorithms, _Q.enable_hta,
    _B.sqnr_db.label("b_sqnr_db"), _B.runtime, _B.cpu_fxp, _B.batch, _B.iterations,
    _B.init_time_ms, _B.init_peak_bytes, _B.latency_mean_ms, _B.latency_p50_ms,
    _B.latency_p90_ms, _B.cosine, _B.top1_agreement, _B.container_size_bytes,
)  # fmt: skip
_ROW_FIELDS = frozenset(f.name for f in fields(RunRow)) - {"tags", "sqnr_db"}


def page_runs(
    store: Store, project: str, query: TableQuery, *, kind: str | None = None
) -> Page[RunRow]:
    """One page of a project's runs (of one ``kind``, or all), sorted and filtered."""
    if query.sort not in RUN_SORTS:
        raise BadInput(f"cannot sort runs by {query.sort!r} (one of {', '.join(RUN_SORTS)})")
    flt = parse_filter(query.text)
    ensure_project(store, project)
    with store.read() as session:
        project_id = get_project(session, project, create_default=False).id
        conds = _run_conditions(project_id, kind, flt)
        if flt.words or flt.runtime or flt.model:
            ids = _run_select([Run.id], kind).where(and_(*conds))
        else:  # no condition on the joined tables: count on the runs index alone
            ids = select(Run.id).where(and_(*conds))
        total = session.scalar(select(func.count()).select_from(ids.subquery())) or 0
        order = [_ordered(c, query.descending) for c in RUN_SORTS[query.sort]]
        order.append(Run.id.desc() if query.descending else Run.id.asc())
        rows = session.execute(
            _run_select(_RUN_COLUMNS, kind)
            .where(and_(*conds))
            .order_by(*order)
            .limit(query.limit)
            .offset(sql_offset(query.offset))
        ).all()
        tags = tags_by_run(session, [r.id for r in rows])
        return Page([_run_row(r, tags) for r in rows], total, query.offset, query.limit)


def run_row(store: Store, run_id: int) -> RunRow:
    """One run as a table row (to refresh it after starring or tagging)."""
    with store.read() as session:
        get_run(session, run_id)
        row = session.execute(_run_select(_RUN_COLUMNS, None).where(Run.id == run_id)).one()
        return _run_row(row, tags_by_run(session, [run_id]))


def _looks_like_id(word: str) -> bool:
    """ASCII digits only (``str.isdigit`` takes ``²``, which ``int`` refuses), and few
    enough to parse."""
    return word.isascii() and word.isdigit() and len(word) <= 20


def _id_is(column: Any, digits: str) -> Any:
    """``column`` equals the id typed as ``digits`` (never true for an impossible id)."""
    value = int(digits)
    return column == value if is_valid_id(value) else false()


def _ordered(column: ColumnElement[Any], descending: bool) -> Any:
    return column.desc().nulls_last() if descending else column.asc().nulls_last()


def _run_row(row: Any, tags: dict[int, list[str]]) -> RunRow:
    values = row._mapping
    return RunRow(
        **{k: values[k] for k in _ROW_FIELDS},
        tags=tuple(tags.get(row.id, ())),
        sqnr_db=values["q_sqnr_db"] if row.kind == "quantize" else values["b_sqnr_db"],
    )


# -- models, containers ----------------------------------------------------------------------


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


def page_models(store: Store, project: str, query: TableQuery) -> Page[ModelRow]:
    """One page of a project's models with their container and run counts."""
    if query.sort not in MODEL_SORTS:
        raise BadInput(f"cannot sort models by {query.sort!r} (one of {', '.join(MODEL_SORTS)})")
    ensure_project(store, project)
    with store.read() as session:
        project_id = get_project(session, project, create_default=False).id
        conds: list[Any] = [Model.project_id == project_id]
        for word in query.text.split():
            matches = [
                Model.name.icontains(word, autoescape=True),
                Model.source_path.icontains(word, autoescape=True),
                Model.format.icontains(word, autoescape=True),
            ]
            if _looks_like_id(word):
                matches.append(_id_is(Model.id, word))
            conds.append(or_(*matches))
        total = session.scalar(select(func.count(Model.id)).where(*conds)) or 0
        order = (
            _ordered(MODEL_SORTS[query.sort], query.descending),
            Model.id.desc() if query.descending else Model.id.asc(),
        )
        rows = _model_rows(session, conds, order, query.limit, query.offset)
        return Page(rows, total, query.offset, query.limit)


def _model_rows(
    session: Any, conds: list[Any], order: Any, limit: int, offset: int
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
        )
        for m, containers, quantized, runs in rows
    ]


def project_containers(
    store: Store, project: str, *, quantized: bool | None = None, limit: int = 500
) -> list[ContainerRow]:
    """The project's containers, newest first (for pickers in job forms)."""
    ensure_project(store, project)
    with store.read() as session:
        project_id = get_project(session, project, create_default=False).id
        query = (
            select(Container, Model.name)
            .outerjoin(Model, Model.id == Container.model_id)
            .where(Container.project_id == project_id)
        )
        if quantized is not None:
            query = query.where(Container.quantized.is_(quantized))
        rows = session.execute(query.order_by(Container.id.desc()).limit(limit)).all()
        return [_container_row(c, name) for c, name in rows]


def _container_row(container: Container, model: str | None) -> ContainerRow:
    return ContainerRow(
        id=container.id,
        path=container.path,
        size_bytes=container.size_bytes,
        quantized=container.quantized,
        model_id=container.model_id,
        model=model,
        created_at=container.created_at,
    )


@dataclass(frozen=True)
class ModelDetail:
    model: ModelRow
    inputs: tuple[dict[str, Any], ...]
    sha256: str
    containers: tuple[ContainerRow, ...]  # newest first


def model_detail(store: Store, model_id: int) -> ModelDetail:
    """A model with every container made from it."""
    with store.read() as session:
        model = session.get(Model, model_id)
        if model is None:
            raise NotFound(f"no model with id {model_id}")
        row = _model_rows(session, [Model.id == model_id], (Model.id,), 1, 0)[0]
        containers = session.scalars(
            select(Container).where(Container.model_id == model_id).order_by(Container.id.desc())
        ).all()
        return ModelDetail(
            model=row,
            inputs=tuple(model.inputs or ()),
            sha256=model.sha256,
            containers=tuple(_container_row(c, model.name) for c in containers),
        )


@dataclass(frozen=True)
class ContainerView:
    """What ``workbench info`` shows of a container, plus its HTA subnets if any."""

    path: str
    summary: Any  # workbench.engine.summary.Summary
    subnets: tuple[dict[str, Any], ...] = ()
    all_layers_hta: bool | None = None


def container_view(path: str | Path) -> ContainerView:
    """Read a container: its layer table (as ``workbench info``) and its HTA subnets."""
    from workbench.engine.container import read_container
    from workbench.engine.summary import summarize

    container = read_container(path, load_records=("subnets.json",))
    summary = summarize(container)
    subnets: tuple[dict[str, Any], ...] = ()
    all_hta = None
    raw = container.records.get("subnets.json")
    if raw:
        try:
            doc = json.loads(raw)
            subnets = tuple(doc.get("subnets", ()))
            all_hta = doc.get("all_layers_hta")
        except (ValueError, AttributeError):
            subnets = ()
    return ContainerView(str(path), summary, subnets, all_hta)


# -- run details -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """Everything a run detail screen shows."""

    detail: RunDetail
    container: ContainerRow | None  # consumed (quantize: the float input; bench: measured)
    output_container: ContainerRow | None = None  # quantize: the one written
    reference_container: ContainerRow | None = None  # bench: the float reference
    calibration: dict[str, Any] | None = None  # name, path, samples
    layers: tuple[LayerPoint, ...] = ()

    @property
    def report(self) -> dict[str, Any]:
        return self.detail.details.get("report") or {}

    @property
    def options(self) -> dict[str, Any]:
        return self.detail.details.get("options") or {}


def run_view(store: Store, run_id: int) -> RunView:
    detail = show_run(store, run_id)
    details = detail.details
    with store.read() as session:

        def container(cid: int | None) -> ContainerRow | None:
            if cid is None:
                return None
            row = session.get(Container, cid)
            return _container_row(row, detail.model) if row is not None else None

        calibration = None
        cal_id = details.get("calibration_set_id")
        if cal_id is not None:
            cal = session.get(CalibrationSet, cal_id)
            if cal is not None:
                calibration = {"name": cal.name, "path": cal.path, "samples": cal.sample_count}
        return RunView(
            detail=detail,
            container=container(detail.container_id),
            output_container=container(details.get("output_container_id")),
            reference_container=container(details.get("reference_container_id")),
            calibration=calibration,
            layers=tuple(
                LayerPoint(
                    layer["layer_index"], layer["layer_name"], layer["op_type"], layer["sqnr_db"]
                )
                for layer in detail.layers
            ),
        )


def layer_sqnr(store: Store, run_ids: Sequence[int]) -> dict[int, tuple[LayerPoint, ...]]:
    """Per-layer SQNR of several runs (runs without layer stats map to ``()``)."""
    result: dict[int, list[LayerPoint]] = {i: [] for i in run_ids}
    if run_ids:
        with store.read() as session:
            rows = session.execute(
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
            for run_id, index, name, op, sqnr in rows:
                result[run_id].append(LayerPoint(index, name, op, sqnr))
    return {k: tuple(v) for k, v in result.items()}


# -- comparing -------------------------------------------------------------------------------


def compare_record(view: RunView) -> RunRecord:
    """The compared values of one run (see ``workbench.jobs.compare.METRICS``)."""
    d = view.detail
    det = d.details
    values: dict[str, Any] = {
        "kind": d.kind,
        "status": d.status,
        "model": d.model,
        "container": view.container.file_name if view.container else None,
        "quantized": view.container.quantized if view.container else None,
        "duration_s": d.duration_s,
        "peak_memory_bytes": d.peak_memory_bytes,
        "sqnr_db": det.get("sqnr_db"),
    }
    if d.kind == "quantize":
        sens = view.report.get("sensitivity") or {}
        options = view.options
        for key in ("param_quantizer", "act_quantizer", "weights_bitwidth", "act_bitwidth",
                    "bias_bitwidth", "per_channel", "enable_hta"):  # fmt: skip
            values[key] = det.get(key)
        values["algorithms"] = det.get("algorithms") or "none"
        values["percentile"] = options.get("percentile")
        values["calibration_samples"] = (view.calibration or {}).get("samples") or view.report.get(
            "samples"
        )
        values["weights_only_sqnr_db"] = sens.get("weights_only_sqnr_db")
        values["activations_only_sqnr_db"] = sens.get("activations_only_sqnr_db")
        values["size_bytes"] = view.output_container.size_bytes if view.output_container else None
        label = f"{det.get('param_quantizer') or '?'} w{det.get('weights_bitwidth') or '?'}"
        label += f"a{det.get('act_bitwidth') or '?'}"
        if det.get("algorithms"):
            label += f" {det['algorithms']}"
    else:
        options = det.get("options") or {}
        for key in ("runtime", "cpu_fxp", "batch", "iterations", "init_time_ms",
                    "init_peak_bytes", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms",
                    "latency_min_ms", "cosine", "max_abs_err", "top1_agreement",
                    "label_accuracy"):  # fmt: skip
            values[key] = det.get(key)
        values["mode"] = options.get("mode")
        values["size_bytes"] = det.get("container_size_bytes") or (
            view.container.size_bytes if view.container else None
        )
        label = str(det.get("runtime") or "?")
        if det.get("cpu_fxp"):
            label += " fxp"
        if view.container is not None:
            label += " int8" if view.container.quantized else " fp32"
    return RunRecord(id=d.id, label=label, values=values, layers=view.layers)


def compare_runs(
    store: Store, run_ids: Sequence[int], baseline_id: int | None = None
) -> Comparison:
    """Compare runs side by side. The baseline is ``baseline_id``, else the run marked
    as baseline among them, else the first one."""
    ids = list(dict.fromkeys(run_ids))
    if len(ids) < 2:
        raise BadInput("pick at least two runs to compare")
    if len(ids) > MAX_COMPARED:
        raise BadInput(f"compare at most {MAX_COMPARED} runs at a time, not {len(ids)}")
    views = [run_view(store, i) for i in ids]
    if baseline_id is None:
        flagged = [v.detail.id for v in views if v.detail.baseline]
        baseline_id = flagged[0] if flagged else ids[0]
    elif baseline_id not in ids:
        raise BadInput(f"baseline {baseline_id} is not one of the compared runs")
    return build_comparison([compare_record(v) for v in views], baseline_id)


# -- experiments and projects as tables -------------------------------------------------------


@dataclass(frozen=True)
class ExperimentRow:
    id: int
    name: str
    note: str
    created_at: datetime
    run_ids: tuple[int, ...] = field(default=())

    @property
    def runs(self) -> int:
        return len(self.run_ids)


EXPERIMENT_SORTS: dict[str, Callable[[ExperimentRow], Any]] = {
    "name": lambda e: e.name.lower(),
    "runs": lambda e: e.runs,
    "created": lambda e: e.created_at,
    "note": lambda e: e.note.lower(),
}


def page_experiments(store: Store, project: str, query: TableQuery) -> Page[ExperimentRow]:
    """A page of the project's experiments (few: sorted and filtered in memory)."""
    if query.sort not in EXPERIMENT_SORTS:
        raise BadInput(f"cannot sort experiments by {query.sort!r}")
    rows = [
        ExperimentRow(e.id, e.name, e.note, e.created_at, e.run_ids)
        for e in list_experiments(store, project)
    ]
    return _page_in_memory(rows, query, EXPERIMENT_SORTS, lambda e: f"{e.name} {e.note}")


PROJECT_SORTS: dict[str, Callable[[ProjectInfo], Any]] = {
    "name": lambda p: p.name.lower(),
    "runs": lambda p: p.runs,
    "models": lambda p: p.models,
    "containers": lambda p: p.containers,
    "experiments": lambda p: p.experiments,
    "created": lambda p: p.created_at,
    "archived": lambda p: p.archived,
}


def page_projects(
    store: Store, query: TableQuery, *, include_archived: bool = True
) -> Page[ProjectInfo]:
    if query.sort not in PROJECT_SORTS:
        raise BadInput(f"cannot sort projects by {query.sort!r}")
    rows = list_projects(store, include_archived=include_archived)
    return _page_in_memory(rows, query, PROJECT_SORTS, lambda p: p.name)


def _page_in_memory(
    rows: list[T],
    query: TableQuery,
    sorts: dict[str, Callable[[T], Any]],
    text_of: Callable[[T], str],
) -> Page[T]:
    for word in query.text.lower().split():
        rows = [r for r in rows if word in text_of(r).lower()]
    rows.sort(key=sorts[query.sort], reverse=query.descending)
    return Page(
        rows[query.offset : query.offset + query.limit], len(rows), query.offset, query.limit
    )


def with_offset(query: TableQuery, offset: int) -> TableQuery:
    return replace(query, offset=max(0, offset))
