"""Runs side by side against a baseline (pinned leftmost): deltas coloured by better/worse,
changed values highlighted, only differences by default, per-layer SQNR overlaid,
exported to Markdown/CSV, copied over SSH (OSC 52), saved as an experiment."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from workbench.errors import BadInput, WorkbenchError
from workbench.jobs import experiments as experiment_jobs
from workbench.jobs.browse import compare_runs
from workbench.jobs.compare import (
    BETTER,
    WORSE,
    Comparison,
    Row,
    format_delta,
    run_heading,
    to_csv,
    to_markdown,
)
from workbench.jobs.plots import INIT, SIZE, Tradeoff, tradeoff
from workbench.tui import format as fmt
from workbench.tui import keys
from workbench.tui.screens.loading import LoadingScreen
from workbench.tui.widgets.bar_chart import BarChart, ChartData
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.plots import LayerSqnrPlot, TradeoffPlot

if TYPE_CHECKING:
    pass

VERDICT_STYLE = {BETTER: "green", WORSE: "red"}
MAX_WIDTH = 24  # a run's column; longer headings and values are cut


def render_cell(row: Row, index: int) -> Text:
    """A compared value: the baseline plain; others highlighted when changed, with the delta
    in green (better) or red (worse)."""
    cell = row.cells[index]
    if index == 0 or not cell.changed:
        return Text(fmt.safe(cell.text), style="" if index == 0 else "dim")
    delta = cell.delta
    text = Text(fmt.safe(cell.text), style="bold")
    shown = format_delta(row.metric, delta)
    if shown and delta is not None:
        text.append(f" {shown}", style=VERDICT_STYLE.get(delta.verdict, "yellow"))
    elif delta is None or delta.verdict not in VERDICT_STYLE:
        text.stylize("bold yellow")
    return text


class CompareScreen(LoadingScreen[Comparison]):
    HELP = """\
The runs side by side, the **baseline** pinned leftmost (◆). Numbers show
their difference from the baseline: **green** is better, **red** worse
(lower latency, init time, memory and size are better; higher SQNR, cosine
and accuracy are better). Changed settings are **yellow**. `d` switches
between only the differences (the default) and everything.

**Per-layer SQNR**: each run's SQNR layer by layer, as lines and as bars.
**Trade-off**: the benchmark runs as points, accuracy against file size or init
time (`x` switches), one colour per runtime; the line joins the Pareto front:
the runs no other run beats on both.
"""
    BINDINGS = [
        keys.HELP,
        keys.BACK,
        Binding("d", "toggle_diff", "Diff only"),
        Binding("b", "choose_baseline", "Baseline"),
        Binding("s", "save_experiment", "Save experiment"),
        Binding("y", "copy('markdown')", "Copy MD"),
        Binding("Y", "copy('csv')", "Copy CSV", show=False),
        Binding("w", "export('markdown')", "Write MD", show=False),
        Binding("W", "export('csv')", "Write CSV", show=False),
        Binding("1", "tab('metrics')", "Metrics", show=False),
        Binding("2", "tab('layers')", "Per-layer SQNR", show=False),
        Binding("3", "tab('tradeoff')", "Trade-off", show=False),
        Binding("x", "switch_axis", "Size/init", show=False),
    ]

    def __init__(
        self,
        project: str,
        run_ids: list[int],
        *,
        experiment: str | None = None,
        note: str = "",
        baseline: int | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.run_ids = list(run_ids)
        self.experiment = experiment
        self.note = note
        self.baseline = baseline
        self.diff_only = True
        self.comparison: Comparison | None = None
        self.tradeoff: Tradeoff | None = None
        self.axis = SIZE
        self.help_title = "compare"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("loading…", classes="title-line")
        with TabbedContent(initial="metrics"):
            with TabPane("1 Metrics", id="metrics"):
                yield DataTable(id="compare-table", cursor_type="row", fixed_columns=2)
            with TabPane("2 Per-layer SQNR", id="layers"), VerticalScroll(classes="detail-scroll"):
                yield LayerSqnrPlot(id="layers-plot")
                yield BarChart(id="layers-chart")
            with TabPane("3 Trade-off", id="tradeoff"):
                yield TradeoffPlot(id="tradeoff-plot")
        yield Static("", classes="status-line")
        yield KeyFooter()

    def subtitle(self) -> str:
        what = f"experiment {self.experiment}" if self.experiment else "compare"
        return f"project {self.project} · {what}"

    def fetch(self) -> Comparison:
        return compare_runs(self.wb.store, self.run_ids, self.baseline)

    def failed(self, message: str) -> None:
        self.query_one(".title-line", Static).update(Text(fmt.safe(message), style="red"))
        super().failed(message)

    def show_view(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.baseline = comparison.baseline.id
        title = Text(f"{len(comparison.runs)} runs against ", style="bold")
        title.append(fmt.safe(f"◆ #{comparison.baseline.id} {comparison.baseline.label}"),
                     style="bold cyan")  # fmt: skip
        if self.experiment:
            title.append(fmt.safe(f" · experiment {self.experiment}"))
            if self.note:
                title.append(fmt.safe(f": {self.note}"), style="italic")
        self.query_one(".title-line", Static).update(title)
        self._fill_table()
        overlay = comparison.layers
        chart = self.query_one("#layers-chart", BarChart)
        plot = self.query_one(LayerSqnrPlot)
        if overlay is None:
            chart.set_data(None)
            plot.show((), (), ())
        else:
            plot.show(
                [name for name, _ in overlay.layers],
                [f"#{i}" for i in overlay.run_ids],
                overlay.values,
            )
            chart.set_data(ChartData(
                labels=tuple(name for name, _ in overlay.layers),
                series=tuple(f"#{i}" for i in overlay.run_ids),
                values=overlay.values,
                unit="dB",
            ))  # fmt: skip

    def _fill_table(self) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)
        rows = comparison.visible_rows(self.diff_only)
        cells = [[render_cell(row, i) for i in range(len(comparison.runs))] for row in rows]
        table.add_column("metric", key="metric", width=21)
        for i, run in enumerate(comparison.runs):
            heading = ("◆ " if i == 0 else "") + run_heading(run, False)
            widest = max([len(heading), *(c[i].cell_len for c in cells)])
            table.add_column(heading, key=str(run.id), width=max(8, min(widest, MAX_WIDTH)))
        for row, row_cells in zip(rows, cells, strict=True):
            table.add_row(Text(row.metric.label, style="bold"), *row_cells, key=row.metric.key)
        if not rows:
            table.add_row("(no differences: d shows all)", *("" for _ in comparison.runs))
        mode = "differences" if self.diff_only else "all"
        self.query_one(".status-line", Static).update(
            f"{mode} (d): {len(rows)}/{len(comparison.rows)} metrics · "
            "green better, red worse, yellow changed"
        )

    # -- the trade-off plot: loaded when first shown ---------------------------------------

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tradeoff" and self.tradeoff is None:
            self._load_tradeoff()

    @work(thread=True, exclusive=True, group="tradeoff", exit_on_error=False)
    def _load_tradeoff(self) -> None:
        try:
            found = tradeoff(self.wb.store, self.run_ids)
        except WorkbenchError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._show_tradeoff, found)

    def _show_tradeoff(self, found: Tradeoff) -> None:
        self.tradeoff = found
        self.query_one(TradeoffPlot).show(found, self.axis)

    def action_switch_axis(self) -> None:
        self.axis = INIT if self.axis == SIZE else SIZE
        self.action_tab("tradeoff")
        if self.tradeoff is not None:
            self.query_one(TradeoffPlot).show(self.tradeoff, self.axis)

    # -- actions ------------------------------------------------------------------------

    def action_toggle_diff(self) -> None:
        self.diff_only = not self.diff_only
        self._fill_table()

    def action_choose_baseline(self) -> None:
        from workbench.tui.screens.choice import ChoiceScreen

        if self.comparison is None:
            return

        def chosen(run_id: int | None) -> None:
            if run_id is not None and run_id != self.baseline:
                self.baseline = run_id
                self.load()

        options = [(run_heading(r, i == 0), r.id) for i, r in enumerate(self.comparison.runs)]
        self.app.push_screen(ChoiceScreen("Baseline", options, current=self.baseline), chosen)

    def text(self, kind: str) -> str:
        assert self.comparison is not None
        if kind == "csv":
            return to_csv(self.comparison, diff_only=self.diff_only)
        return to_markdown(self.comparison, diff_only=self.diff_only)

    def action_copy(self, kind: str) -> None:
        if self.comparison is None:
            return
        text = self.text(kind)
        self.app.copy_to_clipboard(text)
        self.notify(
            f"copied {len(text.splitlines())} lines of {'CSV' if kind == 'csv' else 'Markdown'} "
            "to the clipboard (OSC 52: the terminal must allow it)"
        )

    def action_export(self, kind: str) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        if self.comparison is None:
            return
        suffix = ".csv" if kind == "csv" else ".md"
        default = f"compare-{'-'.join(str(r.id) for r in self.comparison.runs)}{suffix}"

        def done(values: list[str] | None) -> None:
            if values and values[0].strip():
                self.export_to(kind, values[0].strip())

        self.app.push_screen(
            PromptScreen(f"Write {'CSV' if kind == 'csv' else 'Markdown'} to", [("File", default)]),
            done,
        )

    def export_to(self, kind: str, path: str) -> None:
        """Save the comparison (through ``deliver_text``: a browser download on the web)."""
        target = Path(path).expanduser()
        if not target.parent.is_dir():
            self.notify(f"no folder {target.parent}", severity="error")
            return
        self.app.deliver_text(
            io.StringIO(self.text(kind)),
            save_directory=target.parent,
            save_filename=target.name,
            mime_type="text/csv" if kind == "csv" else "text/markdown",
        )

    def action_save_experiment(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        if self.comparison is None:
            return
        name = self.experiment or f"compare-{'-'.join(str(i) for i in self.run_ids)}"

        def done(values: list[str] | None) -> None:
            if values and values[0].strip():
                self._save(values[0].strip(), values[1])

        self.app.push_screen(
            PromptScreen("Save these runs as an experiment", [("Name", name), ("Note", self.note)],
                         help_text="An existing experiment of this name gets these runs and note."),
            done,
        )  # fmt: skip

    @work(thread=True, group="write", exit_on_error=False)
    def _save(self, name: str, note: str) -> None:
        store = self.wb.store
        try:
            try:
                experiment_jobs.create_experiment(store, self.project, name, note)
                verb = "saved"
            except BadInput:
                if name not in {
                    e.name for e in experiment_jobs.list_experiments(store, self.project)
                }:
                    raise
                experiment_jobs.set_experiment_note(store, self.project, name, note)
                verb = "updated"
            info = experiment_jobs.add_runs(store, self.project, name, self.run_ids)
        except WorkbenchError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.experiment, self.note = name, note
        self.app.call_from_thread(
            self.notify, f"{verb} experiment {name} ({len(info.run_ids)} runs)"
        )
