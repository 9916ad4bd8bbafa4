"""A sweep's cells with their numbers, the best setting per model and runtime, and the
Pareto front (no other cell of the model is at least as accurate, as small and as
quick to initialise, and better in one of them).

Accuracy is the sweep's metric, read from the cell's benchmark run; init is the
device-equivalent init when bench records one, else the whole init.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from workbench.errors import NotFound
from workbench.jobs.projects import ensure_project
from workbench.jobs.sweep.spec import METRIC_COLUMNS, setting_label
from workbench.store import Store
from workbench.store.queries import get_project
from workbench.store.sweeps import CellView, cell_counts, cell_views, find_sweep, project_sweeps
from workbench.vocabulary import CELL_STATUSES, DONE_CELL_STATUSES, SUCCEEDED


@dataclass(frozen=True)
class CellResult:
    """One cell as ``sweep --json`` prints it."""

    key: str
    model: str
    model_id: int | None
    setting: dict[str, Any]
    setting_label: str
    runtime: str
    status: str
    error: str | None
    skipped: bool  # done before this run of the sweep
    quantize_run_id: int | None
    bench_run_id: int | None
    attempts: int
    host: str | None
    duration_s: float | None
    metric: str
    metric_value: float | None
    sqnr_db: float | None
    cosine: float | None
    top1_agreement: float | None
    label_accuracy: float | None
    size_bytes: int | None
    init_ms: float | None
    device_init_ms: float | None
    init_peak_bytes: int | None
    latency_ms: float | None
    pareto: bool = False

    @property
    def init_for_ranking(self) -> float | None:
        return self.device_init_ms if self.device_init_ms is not None else self.init_ms


@dataclass(frozen=True)
class Best:
    """The best setting of a model on a runtime, on the sweep's metric."""

    model: str
    runtime: str
    setting_label: str
    metric_value: float | None
    size_bytes: int | None
    init_ms: float | None
    device_init_ms: float | None
    key: str
    bench_run_id: int | None


@dataclass(frozen=True)
class SweepInfo:
    id: int
    project: str
    name: str
    experiment: str | None
    status: str
    executor: str
    metric: str
    spec_path: str
    created_at: datetime
    started_at: datetime
    finished_at: datetime | None
    cells: int
    counts: dict[str, int]  # cells per status


@dataclass(frozen=True)
class SweepDetail:
    info: SweepInfo
    runtimes: tuple[str, ...]
    cells: tuple[CellResult, ...]
    best: tuple[Best, ...]


def cell_result(view: CellView, metric: str, skipped: bool = False) -> CellResult:
    column, _ = METRIC_COLUMNS[metric]
    m = view.measured
    return CellResult(
        key=view.key,
        model=view.model,
        model_id=view.model_id,
        setting=view.setting,
        setting_label=setting_label(view.setting),
        runtime=view.runtime,
        status=view.status,
        error=view.error,
        skipped=skipped,
        quantize_run_id=view.quantize_run_id,
        bench_run_id=view.bench_run_id,
        attempts=view.attempts,
        host=view.host,
        duration_s=view.duration_s,
        metric=metric,
        metric_value=m.get(column) if view.status == SUCCEEDED else None,
        sqnr_db=m.get("sqnr_db"),
        cosine=m.get("cosine"),
        top1_agreement=m.get("top1_agreement"),
        label_accuracy=m.get("label_accuracy"),
        size_bytes=m.get("container_size_bytes"),
        init_ms=m.get("init_time_ms"),
        device_init_ms=m.get("device_init_ms"),
        init_peak_bytes=m.get("init_peak_bytes"),
        latency_ms=m.get("latency_mean_ms"),
    )


def ranked(
    cells: Sequence[CellResult], metric: str
) -> tuple[tuple[CellResult, ...], tuple[Best, ...]]:
    """The cells with their Pareto flags, and the best setting per (model, runtime)."""
    front = set()
    for model in dict.fromkeys(c.model for c in cells):
        front |= pareto_keys([c for c in cells if c.model == model], metric)
    flagged = tuple(replace(c, pareto=c.key in front) for c in cells)
    best = []
    for model in dict.fromkeys(c.model for c in flagged):
        for runtime in dict.fromkeys(c.runtime for c in flagged if c.model == model):
            pick = best_cell(
                [c for c in flagged if c.model == model and c.runtime == runtime], metric
            )
            if pick is not None:
                best.append(
                    Best(model, runtime, pick.setting_label, pick.metric_value, pick.size_bytes,
                         pick.init_ms, pick.device_init_ms, pick.key, pick.bench_run_id)
                )  # fmt: skip
    return flagged, tuple(best)


def _usable(cells: Iterable[CellResult]) -> list[CellResult]:
    return [c for c in cells if c.status == SUCCEEDED and c.metric_value is not None]


def _score(cell: CellResult, metric: str) -> float:
    higher = METRIC_COLUMNS[metric][1]
    assert cell.metric_value is not None
    return cell.metric_value if higher else -cell.metric_value


def best_cell(cells: Sequence[CellResult], metric: str) -> CellResult | None:
    """The most accurate cell; ties go to the smaller, then the quicker to initialise."""
    usable = _usable(cells)
    if not usable:
        return None
    inf = float("inf")
    return min(
        usable,
        key=lambda c: (-_score(c, metric), c.size_bytes or inf, c.init_for_ranking or inf),
    )


def pareto_keys(cells: Sequence[CellResult], metric: str) -> set[str]:
    """Keys of the cells no other cell dominates on (metric, size, init)."""
    usable = [
        c for c in _usable(cells) if c.size_bytes is not None and c.init_for_ranking is not None
    ]
    points = {
        c.key: (_score(c, metric), -float(c.size_bytes), -float(c.init_for_ranking)) for c in usable
    }  # type: ignore[arg-type]

    def dominated(p: tuple[float, ...]) -> bool:
        return any(
            all(q_i >= p_i for q_i, p_i in zip(q, p, strict=True)) and q != p
            for q in points.values()
        )

    return {key for key, p in points.items() if not dominated(p)}


# --------------------------------------------------------------------------- listing


def list_sweeps(store: Store, project: str) -> list[SweepInfo]:
    ensure_project(store, project)
    with store.read() as session:
        project_row = get_project(session, project, create_default=False)
        sweeps = project_sweeps(session, project_row.id)
        counts = cell_counts(session, [s.id for s in sweeps])
        return [_info(s, project, counts[s.id]) for s in sweeps]


def show_sweep(store: Store, project: str, name: str) -> SweepDetail:
    """A sweep and every cell it holds, ranked on its metric."""
    ensure_project(store, project)
    with store.read() as session:
        project_row = get_project(session, project, create_default=False)
        sweep = find_sweep(session, project_row.id, name)
        if sweep is None:
            raise NotFound(f"no sweep named {name!r} in project {project!r}")
        info = _info(sweep, project, cell_counts(session, [sweep.id])[sweep.id])
        views = cell_views(session, sweep.id)
        runtimes = _spec_runtimes(sweep.spec)
    cells, best = ranked([cell_result(v, info.metric) for v in views], info.metric)
    runtimes += tuple(r for r in dict.fromkeys(c.runtime for c in cells) if r not in runtimes)
    return SweepDetail(info, runtimes, cells, best)


def _spec_runtimes(spec: Any) -> tuple[str, ...]:
    """The runtimes the stored spec names, in its order; nothing from a row that is not
    a spec (a tampered or foreign store): the cells still say theirs."""
    named = spec.get("runtimes") if isinstance(spec, dict) else None
    if not isinstance(named, list):
        return ()
    return tuple(dict.fromkeys(r for r in named if isinstance(r, str)))


def _info(sweep: Any, project: str, counts: dict[str, int]) -> SweepInfo:
    experiment = sweep.name if sweep.experiment_id is not None else None
    return SweepInfo(
        id=sweep.id,
        project=project,
        name=sweep.name,
        experiment=experiment,
        status=sweep.status,
        executor=sweep.executor,
        metric=sweep.metric,
        spec_path=sweep.spec_path,
        created_at=sweep.created_at,
        started_at=sweep.started_at,
        finished_at=sweep.finished_at,
        cells=sum(counts.values()),
        counts={s: counts.get(s, 0) for s in CELL_STATUSES},
    )


def finished(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in DONE_CELL_STATUSES)
