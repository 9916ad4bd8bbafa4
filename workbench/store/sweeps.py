"""Sweeps and their cells in the store: lookups, the cells' measurements, recovery.

A cell row holds its identity (key), its status and the ids of the runs that measured
it; the numbers are the benchmark run's, read through ``cell_views``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workbench.store.base import utcnow
from workbench.store.models import (
    BenchmarkRun,
    QuantizationRun,
    Run,
    Sweep,
    SweepCell,
)
from workbench.store.recovery import ORPHANED_CELL
from workbench.vocabulary import (
    CELL_STATUSES,
    DONE_CELL_STATUSES,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
)


def find_sweep(session: Session, project_id: int, name: str) -> Sweep | None:
    return session.scalar(select(Sweep).where(Sweep.project_id == project_id, Sweep.name == name))


def project_sweeps(session: Session, project_id: int) -> list[Sweep]:
    """The project's sweeps, newest first."""
    return list(
        session.scalars(
            select(Sweep).where(Sweep.project_id == project_id).order_by(Sweep.id.desc())
        )
    )


def cell_counts(session: Session, sweep_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Cells per status of each sweep (every status present, 0 when none)."""
    counts = {sid: dict.fromkeys(CELL_STATUSES, 0) for sid in sweep_ids}
    if sweep_ids:
        rows = session.execute(
            select(SweepCell.sweep_id, SweepCell.status, func.count())
            .where(SweepCell.sweep_id.in_(sweep_ids))
            .group_by(SweepCell.sweep_id, SweepCell.status)
        )
        for sweep_id, status, n in rows:
            counts[sweep_id][status] = n
    return counts


def done_cells(session: Session, project_id: int, keys: Iterable[str]) -> dict[str, SweepCell]:
    """The newest finished-for-good cell of each key, in any sweep of the project."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, SweepCell] = {}
    for start in range(0, len(wanted), 500):  # bound the IN list
        rows = session.scalars(
            select(SweepCell)
            .join(Sweep, Sweep.id == SweepCell.sweep_id)
            .where(
                Sweep.project_id == project_id,
                SweepCell.key.in_(wanted[start : start + 500]),
                SweepCell.status.in_(DONE_CELL_STATUSES),
                SweepCell.bench_run_id.is_not(None),
            )
            .order_by(SweepCell.id)
        )
        for cell in rows:
            found[cell.key] = cell
    return found


def succeeded_quantize_run(session: Session, container_id: int) -> int | None:
    """The newest succeeded quantization run that wrote this container."""
    return session.scalar(
        select(Run.id)
        .join(QuantizationRun, QuantizationRun.run_id == Run.id)
        .where(QuantizationRun.output_container_id == container_id, Run.status == SUCCEEDED)
        .order_by(Run.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class CellView:
    """A cell with its benchmark run's numbers (None until measured)."""

    id: int
    key: str
    model: str
    model_id: int | None
    model_sha256: str
    setting: dict[str, Any]
    setting_key: str
    runtime: str
    status: str
    error: str | None
    quantize_run_id: int | None
    bench_run_id: int | None
    attempts: int
    host: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    measured: dict[str, Any]  # bench columns: sqnr_db, init_time_ms, container_size_bytes...


# Bench columns a cell shows, read by name: a column added later shows when present.
MEASURED = (
    "sqnr_db", "cosine", "max_abs_err", "top1_agreement", "label_accuracy", "mae", "iou",
    "init_time_ms", "device_init_ms", "init_peak_bytes", "device_init_peak_bytes",
    "latency_mean_ms", "container_size_bytes",
)  # fmt: skip


def cell_views(session: Session, sweep_id: int) -> list[CellView]:
    """Every cell of the sweep in its order, with its measurements."""
    rows = session.execute(
        select(SweepCell, BenchmarkRun)
        .outerjoin(BenchmarkRun, BenchmarkRun.run_id == SweepCell.bench_run_id)
        .where(SweepCell.sweep_id == sweep_id)
        .order_by(SweepCell.id)
    )
    return [_view(cell, bench) for cell, bench in rows]


def _view(cell: SweepCell, bench: BenchmarkRun | None) -> CellView:
    measured = {name: getattr(bench, name, None) for name in MEASURED} if bench else {}
    return CellView(
        id=cell.id,
        key=cell.key,
        model=cell.model_name,
        model_id=cell.model_id,
        model_sha256=cell.model_sha256,
        setting=cell.setting if isinstance(cell.setting, dict) else {},  # tampered: none
        setting_key=cell.setting_key,
        runtime=cell.runtime,
        status=cell.status,
        error=cell.error,
        quantize_run_id=cell.quantize_run_id,
        bench_run_id=cell.bench_run_id,
        attempts=cell.attempts,
        host=cell.host,
        started_at=cell.started_at,
        finished_at=cell.finished_at,
        duration_s=cell.duration_s,
        measured=measured,
    )


def set_cells(session: Session, cell_ids: Sequence[int], **values: Any) -> None:
    """Set columns of several cells at once."""
    if cell_ids:
        session.execute(update(SweepCell).where(SweepCell.id.in_(cell_ids)).values(**values))


def reset_unfinished(session: Session, sweep_id: int, reason: str = ORPHANED_CELL) -> None:
    """Cells a driver left running (it died, or stopped before their end): interrupted."""
    session.execute(
        update(SweepCell)
        .where(SweepCell.sweep_id == sweep_id, SweepCell.status == RUNNING)
        .values(status=INTERRUPTED, error=reason, finished_at=utcnow())
    )
