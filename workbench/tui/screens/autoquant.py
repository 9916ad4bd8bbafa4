"""One autoquant experiment: its candidates in search order (▶ the chosen one, ★ the
Pareto front on the goal's metric, file size and device init, ✓ those meeting the goal)
and the trade-off plot of the candidates with the front, rebuilt from the stored runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from workbench.jobs.plots import INIT, SIZE
from workbench.options import Goal
from workbench.tui import format as fmt
from workbench.tui import keys
from workbench.tui.screens.loading import LoadingScreen
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.plots import TradeoffPlot
from workbench.vocabulary import format_bytes

if TYPE_CHECKING:
    from workbench.jobs.autoquant import AutoquantResult, Candidate
    from workbench.jobs.plots import Tradeoff

CHOSEN, PARETO, MEETS = "▶", "★", "✓"


class AutoquantScreen(LoadingScreen["AutoquantResult"]):
    AUTO_FOCUS = "#autoquant-candidates"
    HELP = """\
An autoquant experiment: every candidate the search tried, in its order (the
order of cost: scheme, per-channel, CLE/BC, AdaRound, then 16-bit and float
layers). ▶ marks the chosen candidate, ✓ those that meet the goal, ★ the
Pareto front (no other candidate is at least as good on the goal's metric, as
small and as quick to initialise). `>8 bit` counts the layers with 16-bit
outputs or weights. `enter` opens the candidate's benchmark run on the target.

`2` shows the trade-off plot of the candidates (the goal's metric against file
size; `s` switches to device init) with its Pareto front.
"""
    BINDINGS = [
        keys.HELP,
        keys.BACK,
        Binding("1", "tab('candidates')", "Candidates", show=False),
        Binding("2", "tab('pareto')", "Pareto"),
        Binding("s", "switch_axis", "Size/init", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self, project: str, experiment: str) -> None:
        super().__init__()
        self.project, self.experiment = project, experiment
        self.result: AutoquantResult | None = None
        self.axis = SIZE
        self.help_title = f"autoquant {experiment}"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("loading…", classes="title-line")
        with TabbedContent(initial="candidates"):
            with TabPane("1 Candidates", id="candidates"):
                yield DataTable(id="autoquant-candidates", cursor_type="row")
            with TabPane("2 Pareto", id="pareto"):
                yield TradeoffPlot(id="autoquant-tradeoff")
        yield Static("", classes="status-line")
        yield KeyFooter()

    def subtitle(self) -> str:
        return f"project {self.project} · autoquant {self.experiment}"

    def fetch(self) -> AutoquantResult:
        from workbench.jobs.autoquant import saved_autoquant

        return saved_autoquant(self.wb.store, self.project, self.experiment)

    def show_view(self, result: AutoquantResult) -> None:
        self.result = result
        met = "goal met" if result.met else "goal NOT met"
        self.query_one(".title-line", Static).update(
            Text(
                f"autoquant {result.goal} on {result.runtime} · {met} · "
                f"{len(result.candidates)} candidates",
                style="bold",
            )  # fmt: skip
        )
        table = self.query_one("#autoquant-candidates", DataTable)
        table.clear(columns=True)
        for name, width in (("#", 5), ("candidate", 30), ("goal", 11), ("size", 9),
                            ("init", 8), (">8 bit", 8)):  # fmt: skip
            table.add_column(name, key=name, width=width)
        goal = Goal.parse(result.goal)
        for c in result.candidates:
            table.add_row(*candidate_cells(c, goal, result.chosen), key=str(c.index))
        self.query_one(".status-line", Static).update(result.why or "")
        if self.query_one(TabbedContent).active == "pareto":
            self._plot()

    # -- actions --------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#autoquant-candidates")
    def _open(self, event: DataTable.RowSelected) -> None:
        c = self.result.candidate(int(event.row_key.value)) if self.result else None
        if c is None or c.bench_run_id is None:
            if c is not None:
                self.notify(f"{c.status}: {c.error or 'not measured'}", severity="warning")
            return
        from workbench.tui.screens.bench_run import BenchRunScreen

        self.app.push_screen(BenchRunScreen(self.project, c.bench_run_id))

    def action_reload(self) -> None:
        self.load()

    def action_switch_axis(self) -> None:
        self.axis = INIT if self.axis == SIZE else SIZE
        self.action_tab("pareto")
        self._plot()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "pareto":
            self._plot()
        else:
            self.query_one("#autoquant-candidates", DataTable).focus()

    def _plot(self) -> None:
        if self.result is not None:
            self.query_one(TradeoffPlot).show(candidates_tradeoff(self.result), self.axis)


def candidate_cells(c: Candidate, goal: Goal, chosen: int | None) -> tuple[Text, ...]:
    """One candidate's row: marks and number, label, goal value, size, init, wide layers."""
    from workbench.jobs.autoquant import shown

    marks = (CHOSEN if c.index == chosen else "") + (PARETO if c.pareto else "")
    wide = "-" if not c.layers else f"{c.wide_layers} {c.wide_share:.0%}"
    if c.float_layers:
        wide += f" +{c.float_layers}f"
    value = (f"{MEETS} " if c.meets else "") + shown(goal, c)
    style = "bold" if c.index == chosen else ""
    return (
        Text(f"{marks}{c.index}", style=style),
        Text(c.label, style=style),
        Text(value, style="green" if c.meets else ("" if c.measured else "yellow")),
        Text(format_bytes(c.size_bytes) if c.size_bytes else fmt.DASH),
        Text(fmt.DASH if c.device_init_ms is None else f"{c.device_init_ms:.1f}"),
        Text(wide),
    )


def candidates_tradeoff(result: AutoquantResult) -> Tradeoff:
    """The measured candidates as the trade-off plot's points: the goal's number (negated
    when lower is better, so up is better) against size or device init."""
    from workbench.jobs.plots import Point, Tradeoff

    goal = Goal.parse(result.goal)
    sign = 1.0 if goal.at_least else -1.0
    points = tuple(
        Point(
            run_id=c.bench_run_id or 0,
            container=f"#{c.index}",
            runtime=result.runtime,
            quantized=True,
            size_bytes=c.size_bytes,
            init_ms=c.device_init_ms,
            accuracy=sign * c.score,
        )
        for c in result.candidates
        if c.measured and c.score is not None
    )
    label = goal.text if sign > 0 else f"-{goal.text.split('<=')[0]} (up is better)"
    return Tradeoff(label, "device init (ms)", points)
