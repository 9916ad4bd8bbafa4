"""The projects: list, open, create, rename, archive, delete (with confirmation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header

from workbench.errors import WorkbenchError
from workbench.jobs import projects as project_jobs
from workbench.jobs.browse import Page, TableQuery, page_projects
from workbench.jobs.projects import ProjectInfo
from workbench.tui import keys
from workbench.tui.columns import project_columns
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.paged_table import PagedTable

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp


class ProjectsScreen(Screen[None]):
    AUTO_FOCUS = "RowTable"
    help_title = "Projects"
    HELP = """\
Every project in the store, with its counts. `enter` opens one; archived
projects are listed too (`h` hides them) and can be browsed but take no new runs.
"""
    BINDINGS = [
        keys.HELP,
        Binding("enter", "open", "Open", show=False),
        Binding("n", "create", "New"),
        Binding("r", "rename", "Rename"),
        Binding("a", "archive", "Archive/unarchive"),
        Binding("d", "delete", "Delete"),
        Binding("h", "toggle_archived", "Hide/show archived"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.include_archived = True

    @property
    def wb(self) -> WorkbenchApp:
        return cast("WorkbenchApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield PagedTable(
            project_columns(),
            self._fetch,
            sort="name",
            descending=False,
            noun="projects",
            key_of=lambda p: p.name,
            filter_hint="part of a name",
            id="projects",
        )
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "projects"

    def on_screen_resume(self) -> None:
        self.table.reload()  # counts change while a project is open

    def _fetch(self, query: TableQuery) -> Page[ProjectInfo]:
        return page_projects(self.wb.store, query, include_archived=self.include_archived)

    @property
    def table(self) -> PagedTable[ProjectInfo]:
        return self.query_one("#projects", PagedTable)

    @property
    def current(self) -> ProjectInfo | None:
        return self.table.current

    @on(PagedTable.Opened)
    def _opened(self, event: PagedTable.Opened) -> None:
        self._open(event.row.name)

    def _open(self, name: str) -> None:
        from workbench.tui.screens.project import ProjectScreen

        self.app.push_screen(ProjectScreen(name))

    def action_open(self) -> None:
        if self.current is not None:
            self._open(self.current.name)

    def action_create(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        def done(values: list[str] | None) -> None:
            if values and values[0].strip():
                self._change(project_jobs.create_project, values[0].strip(),
                             message="created project {name}")  # fmt: skip

        self.app.push_screen(
            PromptScreen("New project", [("Name", "")],
                         help_text="letters, digits, '.', '_' or '-'"), done,
        )  # fmt: skip

    def action_rename(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        project = self.current
        if project is None:
            return

        def done(values: list[str] | None) -> None:
            if values and values[0].strip() and values[0].strip() != project.name:
                self._change(project_jobs.rename_project, project.name, values[0].strip(),
                             message=f"renamed {project.name} to {{name}}")  # fmt: skip

        self.app.push_screen(
            PromptScreen(f"Rename project {project.name}", [("New name", project.name)]), done
        )

    def action_archive(self) -> None:
        project = self.current
        if project is not None:
            self._change(project_jobs.set_archived, project.name, not project.archived,
                         message=("archived" if not project.archived else "unarchived")
                         + " project {name}")  # fmt: skip

    def action_delete(self) -> None:
        from workbench.tui.screens.confirm import ConfirmScreen

        project = self.current
        if project is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._change(project_jobs.delete_project, project.name,
                             message="deleted project {name}")  # fmt: skip

        self.app.push_screen(
            ConfirmScreen(
                f"Delete project {project.name}?",
                f"This deletes {project.runs} runs, {project.models} models, "
                f"{project.containers} containers and {project.experiments} experiments "
                "from the store (files on disk are kept). It cannot be undone.",
                yes="Delete",
            ),
            done,
        )

    def action_toggle_archived(self) -> None:
        self.include_archived = not self.include_archived
        self.notify("archived projects " + ("shown" if self.include_archived else "hidden"))
        self.table.reload()

    @work(thread=True, group="write", exit_on_error=False)
    def _change(self, change: Callable[..., ProjectInfo], *args: Any, message: str) -> None:
        try:
            info = change(self.wb.store, *args)
        except WorkbenchError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.notify, message.format(name=info.name))
        self.app.call_from_thread(self.table.reload)
