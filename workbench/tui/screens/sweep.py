"""One sweep: a model's cells as a grid (rows: settings, columns: runtimes), each cell
coloured by the sweep's metric from the model's worst (red) to its best (green), ★ on
the Pareto front (metric, size, init); and the trade-off plot of its benchmark runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from workbench.jobs.plots import INIT, SIZE
from workbench.jobs.sweep.spec import METRIC_COLUMNS
from workbench.tui import format as fmt
from workbench.tui import keys
from workbench.tui.screens.loading import LoadingScreen
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.plots import TradeoffPlot
from workbench.vocabulary import REFUSED, SUCCEEDED

if TYPE_CHECKING:
    from workbench.jobs.plots import Tradeoff
    from workbench.jobs.sweep.results import CellResult, SweepDetail

PARETO = "★"
# Worst to best: the cell's background, its text black.
_SCALE = ((190, 60, 60), (200, 170, 60), (70, 160, 80))
_STATUS_STYLE = {"failed": "bold red", "interrupted": "yellow", "refused": "yellow",
                 "running": "cyan", "pending": "dim"}  # fmt: skip


def metric_text(value: float | None, metric: str) -> str:
    if value is None:
        return fmt.DASH
    if metric in ("top1", "label-accuracy"):
        return f"{value:.1%}"
    if metric == "sqnr":
        return fmt.db(value)
    return f"{value:.3g}"


def shade(fraction: float) -> str:
    """A background from red (0: the model's worst) through yellow to green (1: its best)."""
    f = min(1.0, max(0.0, fraction)) * (len(_SCALE) - 1)
    i = min(int(f), len(_SCALE) - 2)
    t = f - i
    r, g, b = (round(a + (c - a) * t) for a, c in zip(_SCALE[i], _SCALE[i + 1], strict=True))
    return f"black on rgb({r},{g},{b})"


def cell_text(cell: CellResult | None, metric: str, span: tuple[float, float] | None) -> Text:
    """A grid cell: the metric on its colour (★ on the Pareto front), or the status."""
    if cell is None:
        return Text(fmt.DASH, style="dim")
    if cell.status != SUCCEEDED or cell.metric_value is None:
        return Text(cell.status, style=_STATUS_STYLE.get(cell.status, ""))
    text = metric_text(cell.metric_value, metric) + (f" {PARETO}" if cell.pareto else "")
    if span is None:
        return Text(text)
    lo, hi = span
    fraction = 1.0 if hi == lo else (cell.metric_value - lo) / (hi - lo)
    higher_is_better = METRIC_COLUMNS[metric][1]
    return Text(f" {text} ", style=shade(fraction if higher_is_better else 1.0 - fraction))


class SweepScreen(LoadingScreen["SweepDetail"]):
    AUTO_FOCUS = "#sweep-grid"
    HELP = """\
One sweep, one model at a time (`m` shows the next model): a row per setting
(the options the grid varies), a column per runtime. Each cell shows the
sweep's metric, coloured from the model's worst cell (red) to its best
(green); ★ marks the Pareto front (no other cell of the model is at least as
accurate, as small and as quick to initialise). Cells not measured show their
status. `enter` opens the cell's benchmark run.

`2` shows the trade-off plot of the model's benchmark runs (accuracy against
file size; `s` switches to init time) with its Pareto front. `r` reloads (a
sweep still running fills in).
"""
    BINDINGS = [
        keys.HELP,
        keys.BACK,
        Binding("1", "tab('grid')", "Grid", show=False),
        Binding("2", "tab('pareto')", "Pareto"),
        Binding("m", "next_model", "Next model"),
        Binding("s", "switch_axis", "Size/init", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self, project: str, name: str) -> None:
        super().__init__()
        self.project, self.sweep_name = project, name
        self.detail: SweepDetail | None = None
        self.model = 0  # index into the sweep's models
        self.axis = SIZE
        self.tradeoff: Tradeoff | None = None
        self.help_title = f"sweep {name}"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("loading…", classes="title-line")
        with TabbedContent(initial="grid"):
            with TabPane("1 Grid", id="grid"):
                yield DataTable(id="sweep-grid", cursor_type="cell", fixed_columns=1)
            with TabPane("2 Pareto", id="pareto"):
                yield TradeoffPlot(id="sweep-tradeoff")
        yield Static("", classes="status-line")
        yield KeyFooter()

    def subtitle(self) -> str:
        return f"project {self.project} · sweep {self.sweep_name}"

    def fetch(self) -> SweepDetail:
        from workbench.jobs.sweep.results import show_sweep

        return show_sweep(self.wb.store, self.project, self.sweep_name)

    def show_view(self, detail: SweepDetail) -> None:
        self.detail = detail
        self.model %= max(1, len(self.models))
        self._fill()

    # -- the grid -------------------------------------------------------------------------

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(c.model for c in self.detail.cells)) if self.detail else []

    def _cells(self) -> list[CellResult]:
        if self.detail is None or not self.models:
            return []
        model = self.models[self.model]
        return [c for c in self.detail.cells if c.model == model]

    def _fill(self) -> None:
        detail = self.detail
        if detail is None:
            return
        info, metric = detail.info, detail.info.metric
        cells = self._cells()
        models = self.models
        where = (
            f"model {self.model + 1}/{len(models)} {models[self.model]}" if models else "no cells"
        )
        self.query_one(".title-line", Static).update(
            Text(f"sweep {info.name} · {info.status} · {where} · {metric}", style="bold")
        )
        table = self.query_one("#sweep-grid", DataTable)
        table.clear(columns=True)
        measured = [
            c.metric_value for c in cells if c.status == SUCCEEDED and c.metric_value is not None
        ]
        span = (min(measured), max(measured)) if measured else None
        settings = list(dict.fromkeys(c.setting_label for c in cells))
        runtimes = [r for r in detail.runtimes if any(c.runtime == r for c in cells)]
        by_place = {(c.setting_label, c.runtime): c for c in cells}
        table.add_column("setting", key="setting", width=min(28, max([7, *map(len, settings)])))
        for runtime in runtimes:
            table.add_column(runtime, key=runtime, width=12)
        for setting in settings:
            row = [cell_text(by_place.get((setting, r)), metric, span) for r in runtimes]
            table.add_row(Text(setting, style="bold"), *row, key=setting)
        if runtimes:
            table.move_cursor(row=0, column=1)  # the first cell, not the setting's name
        done = sum(c.status in (SUCCEEDED, REFUSED) for c in cells)
        self.query_one(".status-line", Static).update(
            f"{done}/{len(cells)} cells done · red worst, green best · {PARETO} Pareto front · "
            "m: next model"
        )
        self.tradeoff = None
        if self.query_one(TabbedContent).active == "pareto":
            self._load_tradeoff()

    def _cell_at_cursor(self) -> CellResult | None:
        table = self.query_one("#sweep-grid", DataTable)
        if not table.row_count:
            return None
        row_key, column_key = table.coordinate_to_cell_key(table.cursor_coordinate)
        place = (row_key.value, column_key.value)
        return next(((c for c in self._cells() if (c.setting_label, c.runtime) == place)), None)

    @on(DataTable.CellSelected, "#sweep-grid")
    def _open_cell(self, event: DataTable.CellSelected) -> None:
        cell = self._cell_at_cursor()
        if cell is None or cell.bench_run_id is None:
            if cell is not None:
                self.notify(f"{cell.status}: {cell.error or 'not measured'}", severity="warning")
            return
        from workbench.tui.screens.bench_run import BenchRunScreen

        self.app.push_screen(BenchRunScreen(self.project, cell.bench_run_id))

    # -- actions --------------------------------------------------------------------------

    def action_next_model(self) -> None:
        if len(self.models) > 1:
            self.model = (self.model + 1) % len(self.models)
            self._fill()

    def action_reload(self) -> None:
        self.load()

    def action_switch_axis(self) -> None:
        self.axis = INIT if self.axis == SIZE else SIZE
        self.action_tab("pareto")
        if self.tradeoff is not None:
            self.query_one(TradeoffPlot).show(self.tradeoff, self.axis)

    # -- the trade-off plot ---------------------------------------------------------------

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "pareto" and self.tradeoff is None:
            self._load_tradeoff()
        if event.pane.id == "grid":
            self.query_one("#sweep-grid", DataTable).focus()

    def _load_tradeoff(self) -> None:
        if self.detail is not None:
            self.tradeoff = cells_tradeoff(self._cells(), self.detail.info.metric)
            self.query_one(TradeoffPlot).show(self.tradeoff, self.axis)


def cells_tradeoff(cells: list[CellResult], metric: str) -> Tradeoff:
    """The measured cells as the trade-off plot's points: the sweep's metric (negated when
    lower is better, so up is better) against size or init."""
    from workbench.jobs.plots import Point, Tradeoff

    sign = 1.0 if METRIC_COLUMNS[metric][1] else -1.0
    points = tuple(
        Point(
            run_id=c.bench_run_id or 0,
            container=c.setting_label,
            runtime=c.runtime,
            quantized=True,
            size_bytes=c.size_bytes,
            init_ms=c.init_for_ranking,
            accuracy=None if c.metric_value is None else sign * c.metric_value,
        )  # fmt: skip
        for c in cells
        if c.status == SUCCEEDED
    )
    label = metric if sign > 0 else f"-{metric} (up is better)"
    init = "device init (ms)" if any(c.device_init_ms is not None for c in cells) else "init (ms)"
    return Tradeoff(label, init, points)
