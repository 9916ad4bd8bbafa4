"""Read-only views of the store for browsing: paged, sorted, filtered tables and details.

The TUI pages every table from here (10,000 runs stay instant: one indexed
count and one ``LIMIT``/``OFFSET`` select per page, in ``workbench.store.queries``).
A ``TableQuery`` says which page, sorted by which column, narrowed by a filter
text. A run table's filter text becomes the ``RunFilter`` that ``runs list``
uses too: free words (each must match somewhere: model, tags, notes, command,
error, status, runtime, quantizer, algorithms, or the id) plus tokens:

``tag:NAME`` (or ``#NAME``), ``status:failed`` (or ``is:failed``), ``runtime:dsp``
(or ``rt:dsp``), ``model:NAME`` (exactly that name; digits: that model id),
``is:starred``, ``is:baseline``. ``is:marked`` is left to the caller.

The row and page types the tables show (``RunRow``, ``ModelRow``, ``ContainerRow``,
``Page``) are those of ``workbench.store.queries``, imported here for the TUI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from workbench.errors import BadInput, NotFound
from workbench.jobs.compare import Comparison, LayerPoint, RunRecord, build_comparison
from workbench.jobs.experiments import list_experiments
from workbench.jobs.projects import ProjectInfo, ensure_project, list_projects
from workbench.jobs.runs import RunDetail, show_run
from workbench.store import Store
from workbench.store import queries as q
from workbench.store.queries import ContainerRow, ModelRow, Page, PageSpec, RunFilter, RunRow
from workbench.vocabulary import DEBUG, QUANTIZE, REFUSED, RUN_STATUSES, SUCCEEDED

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

    @property
    def spec(self) -> PageSpec:
        return PageSpec(self.sort, self.descending, self.offset, self.limit)


def parse_filter(text: str) -> RunFilter:
    """A run table's filter text (see the module doc) as the run listing's filter."""
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
            by_id = q.looks_like_id(value)  # ASCII digits: "model:¹" is a name
            found["model_id" if by_id else "model_name"] = int(value) if by_id else value
        elif sep and key == "is" and value.lower() in ("starred", "star"):
            found["starred"] = True
        elif sep and key == "is" and value.lower() == "baseline":
            found["baseline"] = True
        elif sep and key == "is" and value.lower() in RUN_STATUSES:
            found["status"] = value.lower()
        else:
            words.append(token)
    return RunFilter(words=tuple(words), tags=tuple(tags), **found)


# -- runs ------------------------------------------------------------------------------------


def page_runs(
    store: Store, project: str, query: TableQuery, *, kind: str | None = None
) -> Page[RunRow]:
    """One page of a project's runs (of one ``kind``, or all), sorted and filtered."""
    run_filter = replace(parse_filter(query.text), kind=kind)
    ensure_project(store, project)
    with store.read() as session:
        project_id = q.get_project(session, project, create_default=False).id
        return q.page_runs(session, project_id, run_filter, query.spec)


def run_row(store: Store, run_id: int) -> RunRow:
    """One run as a table row (to refresh it after starring or tagging)."""
    with store.read() as session:
        q.get_run(session, run_id)
        return q.run_rows(session, [run_id])[0]


# -- models, containers ----------------------------------------------------------------------


def page_models(store: Store, project: str, query: TableQuery) -> Page[ModelRow]:
    """One page of a project's models with their container and run counts."""
    ensure_project(store, project)
    with store.read() as session:
        project_id = q.get_project(session, project, create_default=False).id
        return q.page_models(session, project_id, query.text.split(), query.spec)


def project_containers(
    store: Store, project: str, *, quantized: bool | None = None, limit: int = 500
) -> list[ContainerRow]:
    """The project's containers, newest first (for pickers in job forms)."""
    ensure_project(store, project)
    with store.read() as session:
        project_id = q.get_project(session, project, create_default=False).id
        return q.project_containers(session, project_id, quantized=quantized, limit=limit)


@dataclass(frozen=True)
class ModelDetail:
    model: ModelRow
    inputs: tuple[dict[str, Any], ...]
    sha256: str
    containers: tuple[ContainerRow, ...]  # newest first


def model_detail(store: Store, model_id: int) -> ModelDetail:
    """A model with every container made from it."""
    with store.read() as session:
        model = q.find_model(session, model_id)
        row = q.model_row(session, model_id)
        if model is None or row is None:
            raise NotFound(f"no model with id {model_id}")
        return ModelDetail(
            model=row,
            inputs=tuple(model.inputs or ()),
            sha256=model.sha256,
            containers=tuple(q.model_containers(session, model)),
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
    float_container: ContainerRow | None = None  # debug: the float model compared with
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
            row = q.find_container(session, cid) if cid is not None else None
            return q.container_row(row, detail.model) if row is not None else None

        calibration = None
        cal_id = details.get("calibration_set_id")
        cal = q.find_calibration_set(session, cal_id) if cal_id is not None else None
        if cal is not None:
            calibration = {"name": cal.name, "path": cal.path, "samples": cal.sample_count}
        return RunView(
            detail=detail,
            container=container(detail.container_id),
            output_container=container(details.get("output_container_id")),
            reference_container=container(details.get("reference_container_id")),
            float_container=container(details.get("float_container_id")),
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
    with store.read() as session:
        for run_id, index, name, op, sqnr in q.layer_sqnr_rows(session, run_ids):
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
    if d.kind == QUANTIZE:
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
    elif d.kind == DEBUG:
        for key in ("runtime", "cpu_fxp", "samples", "metric", "first_divergent_layer", "cause",
                    "fake_quant_sqnr_db"):  # fmt: skip
            values[key] = det.get(key)
        values["size_bytes"] = view.container.size_bytes if view.container else None
        label = f"debug {det.get('runtime') or '?'}" + (" fxp" if det.get("cpu_fxp") else "")
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


SWEEP_SORTS: dict[str, Callable[[Any], Any]] = {
    "name": lambda s: s.name.lower(),
    "status": lambda s: s.status,
    "cells": lambda s: s.cells,
    "succeeded": lambda s: s.counts[SUCCEEDED],
    "left": lambda s: s.cells - s.counts[SUCCEEDED] - s.counts[REFUSED],
    "metric": lambda s: s.metric,
    "executor": lambda s: s.executor,
    "started": lambda s: s.started_at,
}


def page_sweeps(store: Store, project: str, query: TableQuery) -> Page[Any]:
    """A page of the project's sweeps (``SweepInfo``; few: sorted and filtered in memory)."""
    from workbench.jobs.sweep.results import list_sweeps

    if query.sort not in SWEEP_SORTS:
        raise BadInput(f"cannot sort sweeps by {query.sort!r}")
    rows = list_sweeps(store, project)
    return _page_in_memory(rows, query, SWEEP_SORTS, lambda s: f"{s.name} {s.status} {s.metric}")


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
