"""Project use cases."""

from __future__ import annotations

import pytest

from workbench.errors import BadInput, NotFound
from workbench.jobs.projects import (
    create_project,
    delete_project,
    ensure_project,
    list_projects,
    rename_project,
    set_archived,
    show_project,
)


def test_create_list_show(store, make_run) -> None:
    created = create_project(store, "vision")
    assert created.name == "vision" and created.runs == 0 and not created.archived
    make_run(project="vision")
    make_run(project="vision")
    assert [p.name for p in list_projects(store)] == ["vision"]
    assert list_projects(store)[0].runs == 2
    assert show_project(store, "vision").runs == 2


def test_the_default_project_appears_on_first_use(store) -> None:
    assert list_projects(store) == []
    assert show_project(store, "default").name == "default"
    ensure_project(store, "default")  # twice is fine
    assert [p.name for p in list_projects(store)] == ["default"]


@pytest.mark.parametrize("name", ["", " x", "a b", "-lead", "x" * 101, "ü", "a/b"])
def test_invalid_names_are_refused(store, name: str) -> None:
    with pytest.raises(BadInput, match="invalid project name"):
        create_project(store, name)


def test_duplicates_are_refused(store) -> None:
    create_project(store, "a")
    create_project(store, "b")
    with pytest.raises(BadInput, match="already exists"):
        create_project(store, "a")
    with pytest.raises(BadInput, match="already exists"):
        rename_project(store, "b", "a")


def test_rename(store) -> None:
    create_project(store, "a")
    assert rename_project(store, "a", "a2").name == "a2"
    with pytest.raises(NotFound):
        show_project(store, "a")


def test_archive_hides_and_unarchive_restores(store) -> None:
    create_project(store, "a")
    assert set_archived(store, "a").archived
    assert list_projects(store) == []
    assert [p.name for p in list_projects(store, include_archived=True)] == ["a"]
    assert not set_archived(store, "a", archived=False).archived
    assert [p.name for p in list_projects(store)] == ["a"]


def test_delete_removes_the_project_and_its_runs(store, make_run) -> None:
    create_project(store, "a")
    make_run(project="a")
    keep = make_run(project="default")
    deleted = delete_project(store, "a")
    assert deleted.name == "a" and deleted.runs == 1
    assert [p.name for p in list_projects(store)] == ["default"]
    assert list_projects(store)[0].runs == 1 and keep


def test_unknown_projects_are_not_found(store) -> None:
    for action in (
        lambda: show_project(store, "nope"),
        lambda: rename_project(store, "nope", "x"),
        lambda: set_archived(store, "nope"),
        lambda: delete_project(store, "nope"),
    ):
        with pytest.raises(NotFound, match="no project named 'nope'"):
            action()


def test_the_tui_opens_the_project_used_last(store, make_run) -> None:
    from workbench.jobs.projects import (
        create_project,
        list_projects,
        mark_used,
        set_archived,
        start_project,
    )

    # An empty store: the default project, made.
    assert start_project(store) == "default"
    assert [p.name for p in list_projects(store)] == ["default"]
    # Several, none used: the list (None).
    create_project(store, "a")
    create_project(store, "b")
    assert start_project(store) is None
    # A run started in one makes it the one used last; opening another in the TUI too.
    make_run(project="a")
    from workbench.jobs.lifecycle import tracked_run

    with tracked_run(store, project="b", kind="bench", runtime="cpu"):
        pass
    assert start_project(store) == "b"
    mark_used(store, "a")
    assert start_project(store) == "a"
    set_archived(store, "a")  # archived: not opened
    assert start_project(store) == "b"
