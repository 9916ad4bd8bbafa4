"""Projects: create, list, show, rename, archive, delete."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from workbench.errors import BadInput, NotFound
from workbench.store import Project, Session, Store, on_duplicate, utcnow
from workbench.store.queries import (
    DEFAULT_PROJECT,
    all_projects,
    counts_by_project,
    find_project,
    get_project,
    last_used_project,
    project_counts,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    archived: bool
    created_at: datetime
    runs: int
    models: int
    containers: int
    experiments: int


def check_project_name(name: str) -> str:
    """``name`` if it is a valid project name, else ``BadInput``."""
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"invalid project name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def create_project(store: Store, name: str) -> ProjectInfo:
    check_project_name(name)
    exists = f"project {name!r} already exists"
    with on_duplicate(exists), store.write() as session:  # or made by another process meanwhile
        if find_project(session, name) is not None:
            raise BadInput(exists)
        project = Project(name=name)
        session.add(project)
        session.flush()
        return _info(session, project)


def list_projects(store: Store, *, include_archived: bool = False) -> list[ProjectInfo]:
    """Projects by name; archived ones only when asked."""
    with store.read() as session:
        projects = all_projects(session, include_archived=include_archived)
        counts = counts_by_project(session)
        return [_info_with(p, counts.get(p.id, {})) for p in projects]


def show_project(store: Store, name: str) -> ProjectInfo:
    ensure_project(store, name)
    with store.read() as session:
        return _info(session, get_project(session, name, create_default=False))


def ensure_project(store: Store, name: str) -> None:
    """Raise ``NotFound`` unless ``name`` exists; the default project is created."""
    with store.read() as session:
        if find_project(session, name) is not None:
            return
    if name != DEFAULT_PROJECT:
        raise NotFound(f"no project named {name!r} (see: workbench project list)")
    with on_duplicate(None), store.write() as session:  # None: another process created it first
        get_project(session, name)


def rename_project(store: Store, name: str, new_name: str) -> ProjectInfo:
    check_project_name(new_name)
    exists = f"project {new_name!r} already exists"
    with on_duplicate(exists), store.write() as session:
        project = get_project(session, name, create_default=False)
        if new_name != name and find_project(session, new_name) is not None:
            raise BadInput(exists)
        project.name = new_name
        session.flush()
        return _info(session, project)


def set_archived(store: Store, name: str, archived: bool = True) -> ProjectInfo:
    """Archive (hide from ``project list``, refuse new runs) or unarchive a project."""
    with store.write() as session:
        project = get_project(session, name, create_default=False)
        project.archived = archived
        session.flush()
        return _info(session, project)


def delete_project(store: Store, name: str) -> ProjectInfo:
    """Delete a project with everything recorded in it; what was deleted."""
    with store.write() as session:
        project = get_project(session, name, create_default=False)
        info = _info(session, project)
        session.delete(project)  # the database cascades to its rows
        return info


def _info(session: Session, project: Project) -> ProjectInfo:
    return _info_with(project, project_counts(session, project.id))


def _info_with(project: Project, counts: dict[str, int]) -> ProjectInfo:
    return ProjectInfo(
        id=project.id,
        name=project.name,
        archived=project.archived,
        created_at=project.created_at,
        runs=counts.get("runs", 0),
        models=counts.get("models", 0),
        containers=counts.get("containers", 0),
        experiments=counts.get("experiments", 0),
    )


# -- the project used last -----------------------------------------------------------------


def mark_used(store: Store, name: str) -> None:
    """Remember ``name`` as the project used last (the TUI opened it)."""
    with store.write() as session:
        project = find_project(session, name)
        if project is not None:
            project.last_used_at = utcnow()


def start_project(store: Store) -> str | None:
    """The project ``workbench tui`` opens without ``--project``: the one used last, else
    the only one (the default project, made if the store holds none); None when there
    are several and none was used (the TUI then opens on the project list)."""
    with store.read() as session:
        used = last_used_project(session)
        if used is not None:
            return used
        names = [p.name for p in all_projects(session, include_archived=False)]
    if len(names) > 1:
        return None
    if names:
        return names[0]
    ensure_project(store, DEFAULT_PROJECT)
    return DEFAULT_PROJECT
