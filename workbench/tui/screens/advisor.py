"""The runtime advisor: the guide's quantized-vs-float table for a model, filled with the
measured numbers, and the recommendation per runtime, as ``workbench advise`` prints it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Header, Static

from workbench.textsafe import visible
from workbench.tui import format as fmt
from workbench.tui import keys
from workbench.tui.screens.loading import LoadingScreen
from workbench.tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from workbench.jobs.advise import AdviseResult

CHOICE_STYLE = {"float": "cyan", "none": "red"}


def advice_table(advice: Any) -> Table:
    """One row per runtime: the quantized and the float container's cells."""
    table = Table(
        box=box.SIMPLE_HEAD,
        show_lines=True,
        title_justify="left",
        title=escape(  # a str keeps the table's title style; never markup, never controls
            fmt.safe(
                f"{Path(advice.quantized_container).name} (quantized) vs "
                f"{Path(advice.float_container).name} (non-quantized)"
            )
        ),
        expand=True,
    )
    table.add_column("runtime", no_wrap=True, style="bold")
    table.add_column("quantized container", overflow="fold", ratio=1)
    table.add_column("non-quantized container", overflow="fold", ratio=1)
    for row in advice.rows:
        table.add_row(row.label, *(Text(visible("\n".join(c.lines()), keep_lines=True))
                                   for c in (row.quantized, row.float)))  # fmt: skip
    return table


def recommendations(advice: Any) -> Text:
    text = Text()
    for rec in advice.recommendations:
        text.append(f"{rec.runtime.upper()}: ", style="bold")
        text.append(f"{rec.choice}\n", style=CHOICE_STYLE.get(rec.choice, "green"))
        for reason in rec.reasons:
            text.append(f"  - {reason}\n")
    return text


class AdvisorScreen(LoadingScreen["AdviseResult"]):
    HELP = """\
The guide's table for one model, measured: for each runtime, the quantized
and the non-quantized container (compatibility, init time, init peak memory,
file size, accuracy against float), then the recommendation and its reasons.
The runs are saved as an experiment (see the experiments tab).
"""
    BINDINGS = [keys.HELP, keys.BACK]

    def __init__(
        self, project: str, result: AdviseResult | None = None, *, experiment: str | None = None
    ) -> None:
        super().__init__()
        self.project = project
        self.result = result  # from a job just run; else rebuilt from the experiment's runs
        self.experiment = experiment if result is None else result.experiment
        self.help_title = "advisor"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("loading…", classes="title-line")
        with VerticalScroll(classes="detail-scroll"):
            yield Static("", id="advice")
        yield KeyFooter()

    def subtitle(self) -> str:
        return f"project {self.project} · advisor"

    def fetch(self) -> AdviseResult:
        if self.result is not None:
            return self.result
        from workbench.jobs.advise import saved_advice

        return saved_advice(self.wb.store, self.project, str(self.experiment))

    def failed(self, message: str) -> None:
        self.query_one(".title-line", Static).update(Text(fmt.safe(message), style="red"))
        super().failed(message)

    def show_view(self, result: AdviseResult) -> None:
        self.result = result
        self.query_one(".title-line", Static).update(
            Text(fmt.safe(f"advice · experiment {result.experiment} · {result.samples} input(s)"),
                 style="bold")
        )  # fmt: skip
        notes = (
            Text(visible("\n".join(result.notes), keep_lines=True), style="dim")
            if result.notes
            else Text("")
        )
        self.query_one("#advice", Static).update(
            Group(notes, advice_table(result.advice), recommendations(result.advice))
        )
