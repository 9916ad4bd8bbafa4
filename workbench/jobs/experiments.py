"""Experiments: named, annotated sets of runs (of either kind) to compare."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from workbench.errors import BadInput
from workbench.jobs.projects import ensure_project
from workbench.jobs.runs import check_note
from workbench.store import Experiment, ExperimentRun, Store, on_duplicate
from workbench.store.queries import (
    RunRow,
    experiment_members,
    find_experiment,
    get_experiment,
    get_project,
    get_run,
    project_experiments,
    run_rows,
)
from workbench.textsafe import check_name


@dataclass(frozen=True)
class ExperimentInfo:
    id: int
    project: str
    name: str
    note: str
    created_at: datetime
    run_ids: tuple[int, ...]


@dataclass(frozen=True)
class ExperimentDetail(ExperimentInfo):
    runs: tuple[RunRow, ...]


def _check_name(name: str) -> str:
    if not name.strip() or len(name) > 200 or name != name.strip():
        raise BadInput(f"invalid experiment name {name!r}: 1-200 characters, no outer spaces")
    return check_name(name, "experiment name")


def create_experiment(
    store: Store, project: str, name: str, note: str = "", *, unique: bool = False
) -> ExperimentInfo:
    """A new experiment; a taken ``name`` is refused, or with ``unique`` (a name the
    product made up, such as a timestamp) numbered on: ``name (2)``, ``name (3)``..."""
    _check_name(name)
    check_note(note, "an experiment's note")
    ensure_project(store, project)
    exists = f"experiment {name!r} already exists in project {project!r}"
    with on_duplicate(exists), store.write() as session:
        project_row = get_project(session, project, create_default=False)
        base, n = name, 1
        while find_experiment(session, project_row.id, name) is not None:
            if not unique:
                raise BadInput(exists)
            n += 1
            name = f"{base} ({n})"
        experiment = Experiment(project_id=project_row.id, name=name, note=note)
        session.add(experiment)
        session.flush()
        return _info(experiment, project)


def add_runs(store: Store, project: str, name: str, run_ids: Iterable[int]) -> ExperimentInfo:
    """Add runs of the same project to an experiment (already present: kept once)."""
    with store.write() as session:
        project_row = get_project(session, project, create_default=False)
        experiment = get_experiment(session, project_row, name)
        present = {m.run_id for m in experiment.members}
        for run_id in dict.fromkeys(run_ids):
            run = get_run(session, run_id)
            if run.project_id != project_row.id:
                raise BadInput(
                    f"run {run_id} belongs to another project; "
                    f"an experiment holds runs of its own project ({project!r})"
                )
            if run_id not in present:
                experiment.members.append(ExperimentRun(run_id=run_id))
                present.add(run_id)
        session.flush()
        return _info(experiment, project)


def remove_runs(store: Store, project: str, name: str, run_ids: Iterable[int]) -> ExperimentInfo:
    """Take runs out of an experiment (runs not in it are ignored)."""
    unwanted = set(run_ids)
    with store.write() as session:
        experiment = get_experiment(session, get_project(session, project), name)
        experiment.members[:] = [m for m in experiment.members if m.run_id not in unwanted]
        session.flush()
        return _info(experiment, project)


def show_experiment(store: Store, project: str, name: str) -> ExperimentDetail:
    ensure_project(store, project)
    with store.read() as session:
        experiment = get_experiment(session, get_project(session, project), name)
        info = _info(experiment, project)
        runs = run_rows(session, sorted(info.run_ids, reverse=True))
        return ExperimentDetail(**info.__dict__, runs=tuple(runs))


def list_experiments(store: Store, project: str) -> list[ExperimentInfo]:
    ensure_project(store, project)
    with store.read() as session:
        project_id = get_project(session, project, create_default=False).id
        members = experiment_members(session, project_id)
        return [
            ExperimentInfo(
                id=e.id,
                project=project,
                name=e.name,
                note=e.note,
                created_at=e.created_at,
                run_ids=tuple(members.get(e.id, ())),
            )
            for e in project_experiments(session, project_id)
        ]


def set_experiment_note(store: Store, project: str, name: str, note: str) -> ExperimentInfo:
    check_note(note, "an experiment's note")
    with store.write() as session:
        experiment = get_experiment(session, get_project(session, project), name)
        experiment.note = note
        session.flush()
        return _info(experiment, project)


def _info(experiment: Experiment, project: str) -> ExperimentInfo:
    return ExperimentInfo(
        id=experiment.id,
        project=project,
        name=experiment.name,
        note=experiment.note,
        created_at=experiment.created_at,
        run_ids=tuple(sorted(m.run_id for m in experiment.members)),
    )
