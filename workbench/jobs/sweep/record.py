"""A sweep in the store: its row, its cells, its experiment, written by the driver."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.errors import BadInput
from workbench.jobs.sweep.spec import Cell, SweepSpec
from workbench.store import Experiment, ExperimentRun, Store, Sweep, SweepCell, on_duplicate, utcnow
from workbench.store.queries import find_experiment, get_project
from workbench.store.recovery import current_process
from workbench.store.sweeps import done_cells, find_sweep, reset_unfinished, set_cells
from workbench.vocabulary import PENDING, RUNNING


@dataclass(frozen=True)
class OpenedSweep:
    id: int
    experiment: str
    cell_ids: dict[str, int]  # cell key -> its row in this sweep
    skipped: frozenset[str]  # keys done before (in this sweep or another of the project)


def open_sweep(store: Store, project: str, spec: SweepSpec, executor: str) -> OpenedSweep:
    """The sweep's row (created, or taken up again) with a cell row per cell of the spec;
    cells done before, here or in another sweep of the project, are done here too."""
    me = current_process()
    with on_duplicate(f"sweep {spec.name!r} was created meanwhile; run it again"):
        with store.write() as session:
            project_row = get_project(session, project)
            if project_row.archived:
                raise BadInput(f"project {project_row.name!r} is archived; unarchive it to sweep")
            sweep = find_sweep(session, project_row.id, spec.name)
            if sweep is None:
                sweep = Sweep(project_id=project_row.id, name=spec.name)
                session.add(sweep)
            elif sweep.status == RUNNING and sweep.pid != me.pid:
                raise BadInput(
                    f"sweep {spec.name!r} is running (pid {sweep.pid} on {sweep.host}); "
                    "wait for it or stop it first"
                )
            sweep.spec, sweep.spec_path, sweep.metric = spec.to_json(), str(spec.path), spec.metric
            sweep.executor, sweep.status, sweep.finished_at = executor, RUNNING, None
            sweep.host, sweep.pid, sweep.pid_started_at = me.host, me.pid, me.started_at
            sweep.started_at = utcnow()
            session.flush()
            experiment = _experiment(session, project_row.id, sweep)
            reset_unfinished(session, sweep.id)
            cell_ids, skipped = _cells(session, project_row.id, sweep, spec.cells)
            return OpenedSweep(sweep.id, experiment.name, cell_ids, frozenset(skipped))


def _experiment(session: Any, project_id: int, sweep: Sweep) -> Experiment:
    if sweep.experiment_id is not None:
        experiment = session.get(Experiment, sweep.experiment_id)
        if experiment is not None:
            return experiment
    if find_experiment(session, project_id, sweep.name) is not None:
        raise BadInput(
            f"an experiment named {sweep.name!r} exists and is not this sweep's: give the "
            'sweep another name (name = "..." in the spec)'
        )
    experiment = Experiment(
        project_id=project_id, name=sweep.name, note=f"runs of sweep {sweep.name}"
    )
    session.add(experiment)
    session.flush()
    sweep.experiment_id = experiment.id
    return experiment


def _cells(
    session: Any, project_id: int, sweep: Sweep, cells: Sequence[Cell]
) -> tuple[dict[str, int], list[str]]:
    rows = {c.key: c for c in sweep.cells}
    done = done_cells(session, project_id, (c.key for c in cells))
    skipped = []
    for cell in cells:
        row = rows.get(cell.key)
        if row is None:
            row = SweepCell(
                key=cell.key,
                model_name=cell.model.name[:200],
                model_sha256=cell.model.sha256,
                setting=dict(cell.setting.varying),
                setting_key=cell.setting.key,
                runtime=cell.runtime,
                status=PENDING,
                attempts=0,
            )
            sweep.cells.append(row)
            rows[cell.key] = row
        row.setting = dict(cell.setting.varying)  # as this spec names it
        earlier = done.get(cell.key)
        if earlier is not None:
            skipped.append(cell.key)
            if earlier is not row:  # done in another sweep: the same runs count here
                _copy_outcome(earlier, row)
                _add_members(session, sweep, (earlier.quantize_run_id, earlier.bench_run_id))
        elif row.status not in (PENDING,):
            row.status, row.error = PENDING, None
    session.flush()
    return {key: row.id for key, row in rows.items()}, skipped


def _copy_outcome(source: SweepCell, row: SweepCell) -> None:
    for name in ("status", "error", "model_id", "quantize_run_id", "bench_run_id", "attempts",
                 "host", "started_at", "finished_at", "duration_s"):  # fmt: skip
        setattr(row, name, getattr(source, name))


def _add_members(session: Any, sweep: Sweep, run_ids: Iterable[int | None]) -> None:
    if sweep.experiment_id is None:
        return
    experiment = session.get(Experiment, sweep.experiment_id)
    if experiment is None:
        return
    present = {m.run_id for m in experiment.members}
    for run_id in run_ids:
        if run_id is not None and run_id not in present:
            experiment.members.append(ExperimentRun(run_id=run_id))
            present.add(run_id)


def add_runs(store: Store, sweep_id: int, run_ids: Iterable[int | None]) -> None:
    """Make runs members of the sweep's experiment."""
    wanted = [r for r in run_ids if r is not None]
    if not wanted:
        return
    with store.write() as session:
        sweep = session.get(Sweep, sweep_id)
        if sweep is not None:
            _add_members(session, sweep, wanted)


def update_cells(store: Store, cell_ids: Sequence[int], **values: Any) -> None:
    with store.write() as session:
        set_cells(session, cell_ids, **values)


def start_cells(store: Store, cell_ids: Sequence[int], *, attempt: bool) -> None:
    """Cells whose work starts: running (a bench: one more attempt)."""
    with store.write() as session:
        for cell_id in cell_ids:
            cell = session.get(SweepCell, cell_id)
            if cell is None:
                continue
            if cell.status != RUNNING:
                cell.status, cell.error, cell.started_at = RUNNING, None, utcnow()
            if attempt:
                cell.attempts = (cell.attempts or 0) + 1


def end_sweep(store: Store, sweep_id: int, status: str, reason: str | None = None) -> None:
    """The sweep's invocation ends; cells still running are interrupted (``reason``)."""
    with store.write() as session:
        sweep = session.get(Sweep, sweep_id)
        if sweep is None:
            return
        reset_unfinished(session, sweep_id, reason or "interrupted: the sweep stopped")
        sweep.status, sweep.finished_at = status, utcnow()
