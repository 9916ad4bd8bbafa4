"""One project: tabs for its models, quantization runs, benchmark runs, experiments,
sweeps and debug runs.

Runs are starred, tagged, annotated and marked for comparison from the
keyboard; jobs (import, quantize, bench) are launched from here and their
results appear in the tables when they finish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Header, TabbedContent, TabPane

from workbench.errors import WorkbenchError
from workbench.jobs import runs as run_jobs
from workbench.jobs.browse import (
    ExperimentRow,
    ModelRow,
    RunRow,
    page_experiments,
    page_models,
    page_runs,
    page_sweeps,
    run_row,
)
from workbench.tui import keys
from workbench.tui.columns import (
    bench_columns,
    debug_columns,
    experiment_columns,
    model_columns,
    quantize_columns,
    sweep_columns,
)
from workbench.tui.job_runner import JobChanged
from workbench.tui.widgets.job_panel import JobPanel
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.paged_table import PagedTable
from workbench.vocabulary import BENCH, DEBUG, QUANTIZE

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

TABS = (
    "models",
    "quantize",
    "bench",
    "experiments",
    "sweeps",
    "debug",
)  # also what a JobOutcome's refresh names
RUN_TABS = ("quantize", "bench", "debug")  # named as the kinds of runs they list
RUN_FILTER_HINT = "words tag:NAME status:failed runtime:dsp model:NAME is:starred"


class ProjectScreen(Screen[None]):
    AUTO_FOCUS = "#quantize-table RowTable"
    HELP = """\
A project's **models**, **quantization runs**, **benchmark runs**,
**experiments**, **sweeps** and **debug runs** (`1`-`6`). `enter` opens the
row under the cursor; a sweep opens as its grid of settings by runtimes, a
debug run as its layers in execution order.

Mark runs with `space` (on either run tab), then `c` compares them; on the
experiments tab `c` (or `enter`) compares the experiment's runs, and `a` shows
an advise experiment's table again (rebuilt from its stored runs); `enter` or
`a` opens an autoquant experiment as its candidates and Pareto front. Filter runs
with words and `tag:NAME`, `#NAME`, `status:failed`, `runtime:dsp`,
`model:NAME`, `is:starred`, `is:baseline`.

On the models tab, `m` changes the model's decision metric (what quantize,
bench and the advisor judge accuracy by).

Jobs: `i` imports an ONNX model, `Q` quantizes, `B` benchmarks, `D` debugs a
quantized container against its float model, `G` searches for the cheapest
quantization meeting a goal (autoquant); they run in
the background (progress at the bottom, `x` cancels) and their runs appear
in the tables when they finish.
"""
    BINDINGS = [
        keys.HELP,
        Binding("escape", "projects", "Projects", show=False),
        Binding("1", "tab('models')", "Models", show=False),
        Binding("2", "tab('quantize')", "Quantization runs", show=False),
        Binding("3", "tab('bench')", "Benchmark runs", show=False),
        Binding("4", "tab('experiments')", "Experiments", show=False),
        Binding("5", "tab('sweeps')", "Sweeps", show=False),
        Binding("6", "tab('debug')", "Debug runs", show=False),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("asterisk", "star", "Star"),
        Binding("t", "tag", "Tag"),
        Binding("n", "note", "Note", show=False),
        Binding("b", "baseline", "Baseline", show=False),
        Binding("u", "unmark", "Unmark all", show=False),
        Binding("i", "import_model", "Import"),
        Binding("Q", "quantize", "Quantize"),
        Binding("B", "bench", "Bench"),
        Binding("D", "debug", "Debug", show=False),
        Binding("A", "advise", "Advisor"),
        Binding("G", "autoquant", "Autoquant", show=False),
        Binding("a", "saved_advice", "Advice", show=False),
        Binding("m", "metric", "Metric", show=False),
        Binding("x", "cancel_job", "Cancel job", show=False),
    ]

    def __init__(self, project: str, *, tab: str = "quantize") -> None:
        super().__init__()
        self.project = project
        self.initial_tab = tab
        self.marked: dict[int, str] = {}  # run id -> kind, in marking order
        self.help_title = f"project {project}"

    @property
    def wb(self) -> WorkbenchApp:
        return cast("WorkbenchApp", self.app)

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        is_marked = self.marked.__contains__
        store, project = self.wb.store, self.project
        yield Header(show_clock=False, icon="")
        with TabbedContent(initial=self.initial_tab):
            with TabPane("1 Models", id="models"):
                yield PagedTable(
                    model_columns(),
                    lambda q: page_models(store, project, q),
                    sort="id",
                    noun="models",
                    filter_hint="name, path or format",
                    autoload=self.initial_tab == "models",
                    id="models-table",
                )
            with TabPane("2 Quantizations", id="quantize"):
                yield PagedTable(
                    quantize_columns(is_marked),
                    lambda q: page_runs(store, project, q, kind=QUANTIZE),
                    sort="id",
                    noun="runs",
                    extra_status=self._marked_status,
                    filter_hint=RUN_FILTER_HINT,
                    autoload=self.initial_tab == "quantize",
                    id="quantize-table",
                )
            with TabPane("3 Benchmarks", id="bench"):
                yield PagedTable(
                    bench_columns(is_marked),
                    lambda q: page_runs(store, project, q, kind=BENCH),
                    sort="id",
                    noun="runs",
                    extra_status=self._marked_status,
                    filter_hint=RUN_FILTER_HINT,
                    autoload=self.initial_tab == "bench",
                    id="bench-table",
                )
            with TabPane("4 Experiments", id="experiments"):
                yield PagedTable(
                    experiment_columns(),
                    lambda q: page_experiments(store, project, q),
                    sort="name",
                    descending=False,
                    noun="experiments",
                    key_of=lambda e: e.name,
                    filter_hint="name or note",
                    autoload=self.initial_tab == "experiments",
                    id="experiments-table",
                )
            with TabPane("5 Sweeps", id="sweeps"):
                yield PagedTable(
                    sweep_columns(),
                    lambda q: page_sweeps(store, project, q),
                    sort="started",
                    noun="sweeps",
                    key_of=lambda s: s.name,
                    filter_hint="name, status or metric",
                    autoload=self.initial_tab == "sweeps",
                    id="sweeps-table",
                )
            with TabPane("6 Debug", id="debug"):
                yield PagedTable(
                    debug_columns(is_marked),
                    lambda q: page_runs(store, project, q, kind=DEBUG),
                    sort="id",
                    noun="runs",
                    extra_status=self._marked_status,
                    filter_hint=RUN_FILTER_HINT,
                    autoload=self.initial_tab == "debug",
                    id="debug-table",
                )
        yield JobPanel()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"project {self.project}"
        self.wb.job_signal.subscribe(self, self._job_changed)
        self.call_after_refresh(self._focus_tab_table)
        self._mark_used()

    @work(thread=True, group="write", exit_on_error=False)
    def _mark_used(self) -> None:
        """`workbench tui` opens this project next time."""
        from workbench.jobs.projects import mark_used

        try:
            mark_used(self.wb.store, self.project)
        except WorkbenchError:
            pass  # a read-only store: it opens as before

    def action_projects(self) -> None:
        """Back to the project list (made now if the app started on this project)."""
        from workbench.tui.screens.projects import ProjectsScreen

        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.switch_screen(ProjectsScreen())

    def _marked_status(self) -> str:
        return f"{len(self.marked)} marked" if self.marked else ""

    # -- tabs ---------------------------------------------------------------------------

    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active

    def table(self, tab: str | None = None) -> PagedTable[Any]:
        return self.query_one(f"#{tab or self.tab}-table", PagedTable)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._focus_tab_table()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab_table()

    def _focus_tab_table(self) -> None:
        if self.tab:
            table = self.table()
            table.ensure_loaded()  # tabs load their first page when first shown
            table.focus_table()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        run_only = {"mark", "star", "tag", "note", "baseline"}
        if action in run_only and self.is_mounted:
            try:
                return self.tab in RUN_TABS
            except Exception:
                return True
        if action == "cancel_job":
            return bool(self.wb.jobs.running)
        if action == "unmark":
            return bool(self.marked)
        return True

    # -- opening rows -------------------------------------------------------------------

    @on(PagedTable.Opened)
    def _opened(self, event: PagedTable.Opened) -> None:
        row = event.row
        if isinstance(row, ModelRow):
            from workbench.tui.screens.model_detail import ModelDetailScreen

            self.app.push_screen(ModelDetailScreen(self.project, row.id))
        elif isinstance(row, RunRow):
            self.open_run(row)
        elif isinstance(row, ExperimentRow) and self._autoquant(row):
            return
        elif isinstance(row, ExperimentRow):
            self._compare_experiment(row)
        elif self.tab == "sweeps":
            from workbench.tui.screens.sweep import SweepScreen

            self.app.push_screen(SweepScreen(self.project, row.name))

    def open_run(self, row: RunRow) -> None:
        if row.kind == QUANTIZE:
            from workbench.tui.screens.quant_run import QuantRunScreen

            self.app.push_screen(QuantRunScreen(self.project, row.id))
        elif row.kind == DEBUG:
            from workbench.tui.screens.debug_run import DebugRunScreen

            self.app.push_screen(DebugRunScreen(self.project, row.id))
        else:
            from workbench.tui.screens.bench_run import BenchRunScreen

            self.app.push_screen(BenchRunScreen(self.project, row.id))

    def _current_run(self) -> RunRow | None:
        if self.tab not in RUN_TABS:
            return None
        row = self.table().current
        return row if isinstance(row, RunRow) else None

    # -- marking and comparing ----------------------------------------------------------

    def action_mark(self) -> None:
        row = self._current_run()
        if row is None:
            return
        if row.id in self.marked:
            del self.marked[row.id]
        else:
            self.marked[row.id] = row.kind
        table = self.table()
        table.update_row(row)
        table.table.action_cursor_down()
        if len(self.marked) <= 1:  # "unmark all" comes or goes; spare the footer otherwise
            self.refresh_bindings()

    def action_unmark(self) -> None:
        self.marked.clear()
        for tab in RUN_TABS:
            self.table(tab).redraw()
        self.refresh_bindings()

    def action_compare(self) -> None:
        if self.tab == "experiments":
            row = self.table().current
            if isinstance(row, ExperimentRow):
                self._compare_experiment(row)
            return
        ids = list(self.marked)
        if len(ids) < 2:
            self.notify("mark two or more runs with space first (or pick an experiment)",
                        severity="warning")  # fmt: skip
            return
        from workbench.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(self.project, ids))

    def action_metric(self) -> None:
        row = self.table().current if self.tab == "models" else None
        if not isinstance(row, ModelRow):
            self.notify("pick a model (tab 1) to change its decision metric", severity="warning")
            return
        from workbench.tui.screens.metric_pick import pick_metric

        pick_metric(self, row.id, row.metric, self.table("models").reload)

    def action_saved_advice(self) -> None:
        row = self.table().current if self.tab == "experiments" else None
        if not isinstance(row, ExperimentRow):
            self.notify("pick an experiment made by the advisor (tab 4) first", severity="warning")
            return
        if self._autoquant(row):
            return
        from workbench.tui.screens.advisor import AdvisorScreen

        self.app.push_screen(AdvisorScreen(self.project, experiment=row.name))

    def _autoquant(self, row: ExperimentRow) -> bool:
        """An autoquant experiment opens as its candidates and Pareto front."""
        from workbench.jobs.autoquant import is_autoquant

        if not is_autoquant(row.note):
            return False
        from workbench.tui.screens.autoquant import AutoquantScreen

        self.app.push_screen(AutoquantScreen(self.project, row.name))
        return True

    def _compare_experiment(self, row: ExperimentRow) -> None:
        if len(row.run_ids) < 2:
            self.notify(f"experiment {row.name} holds {row.runs} run(s); compare needs two",
                        severity="warning")  # fmt: skip
            return
        from workbench.tui.screens.compare import CompareScreen

        self.app.push_screen(
            CompareScreen(self.project, list(row.run_ids), experiment=row.name, note=row.note)
        )

    # -- annotating ---------------------------------------------------------------------

    def action_star(self) -> None:
        row = self._current_run()
        if row is not None:
            self._annotate(
                row.id, lambda: run_jobs.set_starred(self.wb.store, row.id, not row.starred)
            )

    def action_baseline(self) -> None:
        row = self._current_run()
        if row is None:
            return
        self._annotate(
            row.id,
            lambda: run_jobs.set_baseline(self.wb.store, row.id, not row.baseline),
            reload=True,  # the previous baseline of this kind loses its flag
        )
        self.notify(
            f"run {row.id} "
            + (
                "is no longer the baseline" if row.baseline else f"is the {row.kind} baseline"
            )  # fmt: skip
        )

    def action_tag(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        row = self._current_run()
        if row is None:
            return

        def done(values: list[str] | None) -> None:
            if not values:
                return
            add = [w.lstrip("+") for w in values[0].split() if not w.startswith("-")]
            remove = [w[1:] for w in values[0].split() if w.startswith("-") and len(w) > 1]

            def change() -> None:
                if remove:
                    run_jobs.untag_run(self.wb.store, row.id, remove)
                if add:
                    run_jobs.tag_run(self.wb.store, row.id, add)

            self._annotate(row.id, change)

        current = " ".join(row.tags) or "none"
        self.app.push_screen(
            PromptScreen(
                f"Tags of run {row.id} (now: {current})",
                [("Tags to add; -tag removes one", "")],
                help_text="e.g.  v2 candidate -old",
            ),
            done,
        )

    def action_note(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        row = self._current_run()
        if row is None:
            return

        def done(values: list[str] | None) -> None:
            if values is not None:
                self._annotate(row.id, lambda: run_jobs.set_note(self.wb.store, row.id, values[0]))

        self.app.push_screen(PromptScreen(f"Note of run {row.id}", [("Note", row.notes)]), done)

    @work(thread=True, group="write", exit_on_error=False)
    def _annotate(self, run_id: int, change: Callable[[], Any], reload: bool = False) -> None:
        try:
            change()
            row = run_row(self.wb.store, run_id)
        except WorkbenchError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        tab = row.kind  # each kind of run has its tab
        if reload:
            self.app.call_from_thread(self.table(tab).reload)
        else:
            self.app.call_from_thread(self.table(tab).update_row, row)

    # -- jobs ---------------------------------------------------------------------------

    def action_import_model(self) -> None:
        from workbench.tui.screens.convert_form import ConvertForm

        self.app.push_screen(ConvertForm(self.project), self._launch)

    def action_quantize(self) -> None:
        from workbench.tui.screens.quantize_form import QuantizeForm

        self.app.push_screen(QuantizeForm.for_selection(self.wb.store, self.project,
                                                        self.table().current), self._launch)  # fmt: skip

    def action_bench(self) -> None:
        from workbench.tui.screens.bench_form import BenchForm

        self.app.push_screen(BenchForm.for_selection(self.wb.store, self.project,
                                                     self.table().current), self._launch)  # fmt: skip

    def action_debug(self) -> None:
        from workbench.tui.screens.debug_form import DebugForm

        self.app.push_screen(DebugForm.for_selection(self.project, self.table().current),
                             self._launch)  # fmt: skip

    def action_advise(self) -> None:
        from workbench.tui.screens.advise_form import AdviseForm

        self.app.push_screen(AdviseForm.for_selection(self.project, self.table().current),
                             self._launch)  # fmt: skip

    def action_autoquant(self) -> None:
        from workbench.tui.screens.autoquant_form import AutoquantForm

        self.app.push_screen(AutoquantForm.for_selection(self.project, self.table().current),
                             self._launch)  # fmt: skip

    def _launch(self, request: Any) -> None:
        from workbench.tui.screens.forms import launch

        launch(self.wb, self.project, request)

    def action_cancel_job(self) -> None:
        from workbench.tui.screens.forms import ask_cancel

        ask_cancel(self.wb)

    def _job_changed(self, message: JobChanged) -> None:
        job = message.job
        if not message.final or job.project != self.project:
            return
        # What the job says it wrote to; a failed or cancelled one may have written its
        # run, its containers or nothing: everything shown is reloaded.
        tabs = job.outcome.refresh if job.outcome is not None else TABS
        for tab in tabs:
            if self.table(tab).page is not None:
                self.table(tab).reload()
        if job.kind == "advise" and job.outcome is not None:
            from workbench.tui.screens.advisor import AdvisorScreen

            self.app.push_screen(AdvisorScreen(self.project, job.outcome.payload))

    def on_screen_suspend(self) -> None:
        self._left_for = self.app.screen  # a detail screen, or a dialog

    def on_screen_resume(self) -> None:
        # Back from a detail or compare screen: stars, tags, notes or experiments may
        # have changed there. (Dialogs report their own changes.)
        left_for, self._left_for = getattr(self, "_left_for", None), None
        if left_for is None or isinstance(left_for, ModalScreen):
            return
        for tab in TABS:
            table = self.table(tab)
            if table.page is not None:
                table.reload()
