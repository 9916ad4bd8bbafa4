"""Projects: create, list, show, rename, archive, delete."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from workbench.errors import BadInput, NotFound
from workbench.store import Container, Experiment, Model, Project, Run, Store, utcnow
from workbench.store.queries import DEFAULT_PROJECT, find_project, get_project

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
    try:
        with store.write() as session:
            if find_project(session, name) is not None:
                raise BadInput(f"project {name!r} already exists")
            project = Project(name=name)
            session.add(project)
            session.flush()
            return _info(session, project)
    except IntegrityError:  # created by another process meanwhile
        raise BadInput(f"project {name!r} already exists") from None


def list_projects(store: Store, *, include_archived: bool = False) -> list[ProjectInfo]:
    """Projects by name; archived ones only when asked."""
    with store.read() as session:
        query = select(Project).order_by(Project.name)
        if not include_archived:
            query = query.where(Project.archived.is_(False))
        projects = list(session.scalars(query))
        counts = {
            table: _counts_by_project(session, table)
            for table in (Run, Model, Container, Experiment)
        }
        return [
            ProjectInfo(
                id=p.id,
                name=p.name,
                archived=p.archived,
                created_at=p.created_at,
                runs=counts[Run].get(p.id, 0),
                models=counts[Model].get(p.id, 0),
                containers=counts[Container].get(p.id, 0),
                experiments=counts[Experiment].get(p.id, 0),
            )
            for p in projects
        ]


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
    try:
        with store.write() as session:
            get_project(session, name)
    except IntegrityError:
        pass  # another process created it first


def rename_project(store: Store, name: str, new_name: str) -> ProjectInfo:
    check_project_name(new_name)
    try:
        with store.write() as session:
            project = get_project(session, name, create_default=False)
            if new_name != name and find_project(session, new_name) is not None:
                raise BadInput(f"project {new_name!r} already exists")
            project.name = new_name
            session.flush()
            return _info(session, project)
    except IntegrityError:
        raise BadInput(f"project {new_name!r} already exists") from None


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


def _counts_by_project(session: Session, table: type) -> dict[int, int]:
    rows = session.execute(
        select(table.project_id, func.count()).group_by(table.project_id)  # type: ignore[attr-defined]
    )
    return {project_id: count for project_id, count in rows}


def _info(session: Session, project: Project) -> ProjectInfo:
    def count(table: type) -> int:
        query = select(func.count()).select_from(table)
        return session.scalar(query.where(table.project_id == project.id)) or 0  # type: ignore[attr-defined]

    return ProjectInfo(
        id=project.id,
        name=project.name,
        archived=project.archived,
        created_at=project.created_at,
        runs=count(Run),
        models=count(Model),
        containers=count(Container),
        experiments=count(Experiment),
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
        used = session.scalar(
            select(Project.name)
            .where(Project.archived.is_(False), Project.last_used_at.is_not(None))
            .order_by(Project.last_used_at.desc())
            .limit(1)
        )
        if used is not None:
            return used
        names = session.scalars(select(Project.name).where(Project.archived.is_(False))).all()
    if len(names) > 1:
        return None
    if names:
        return names[0]
    ensure_project(store, DEFAULT_PROJECT)
    return DEFAULT_PROJECT
