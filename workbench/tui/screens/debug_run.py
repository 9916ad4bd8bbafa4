"""A debug run: its layers in execution order, walked one at a time, the first divergent
one highlighted; its summary (options, containers, the verdict) and its log."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from workbench.jobs.browse import RunView
from workbench.options import DEBUG_OPTIONS
from workbench.tui import format as fmt
from workbench.tui.screens.run_base import RunScreen
from workbench.tui.widgets.fields import FieldList
from workbench.tui.widgets.job_panel import JobPanel
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.long_text import LongText
from workbench.vocabulary import counted

FIRST_STYLE = "bold red"  # the first divergent layer's row
DIVERGES_STYLE = "yellow"  # a later layer past the thresholds (often upstream error)


class DebugRunScreen(RunScreen):
    HELP = """\
One debug run: a quantized container compared with its float model on one
runtime, layer by layer. **Layers**: every layer in execution order with
its integer-true error in LSBs of its output encoding (mean and max), the
share of its float values clipped by its range, its SQNR against float,
the model's metric with only that layer quantized (its contribution), and
the likely cause where it diverges. The first divergent layer is in red
(`f` jumps to it); `!` marks later layers past the thresholds. The panel
below the table tells the highlighted layer's story.
**Summary**: containers, options and the verdict; **Log**.
"""
    BINDINGS = [
        *RunScreen.BINDINGS,
        Binding("1", "tab('layers')", "Layers", show=False),
        Binding("2", "tab('summary')", "Summary", show=False),
        Binding("3", "tab('log')", "Log", show=False),
        Binding("f", "first", "First divergent"),
    ]
    metric = "metric"  # what a layer's contribution ("alone") is measured by

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("loading…", classes="title-line")
        with TabbedContent(initial="layers"):
            with TabPane("1 Layers", id="layers"):
                yield DataTable(id="debug-layers", cursor_type="row", zebra_stripes=False)
                yield Static("", id="layer-story", classes="layer-story")
            with TabPane("2 Summary", id="summary"), VerticalScroll(classes="detail-scroll"):
                yield FieldList(id="summary-fields")
            with TabPane("3 Log", id="log"):
                yield LongText(id="log-text")
        yield JobPanel()
        yield KeyFooter()

    @property
    def layer_rows(self) -> list[dict[str, Any]]:
        if self.view is None:
            return []
        return [la["debug"] for la in self.view.detail.layers if la.get("debug")]

    @property
    def first_row(self) -> int | None:
        """The first divergent layer's row in the table."""
        first = self.view.detail.details.get("first_divergent_layer") if self.view else None
        return next((i for i, la in enumerate(self.layer_rows) if la["node"] == first), None)

    def show(self, view: RunView) -> None:
        d = view.detail
        det = d.details
        runtime = det.get("runtime") + (" --cpu-fxp" if det.get("cpu_fxp") else "")
        self.set_title_line(self.title_line(view, f"{runtime} debug"))
        self.metric = det.get("metric") or "metric"
        self._fill_table()
        self.query_one("#summary-fields", FieldList).set_sections(_summary(view))
        self.query_one("#log-text", LongText).show(d.log or "(empty log)")
        if self.first_row is not None:
            self.action_first()
        elif self.layer_rows:
            self._tell(0)
        else:  # failed or interrupted: what happened is on the summary
            self.action_tab("summary")

    def _fill_table(self) -> None:
        table = self.query_one("#debug-layers", DataTable)
        table.clear(columns=True)
        first = self.first_row
        table.add_column("#", key="index")
        table.add_column("layer", key="layer")
        for label in ("LSB", "max", "clip%", "SQNR", "alone"):
            table.add_column(Text(label, justify="right"), key=label)
        table.add_column("cause", key="cause")
        for i, la in enumerate(self.layer_rows):
            style = FIRST_STYLE if i == first else DIVERGES_STYLE if la["diverges"] else ""
            mark = "▶" if i == first else "!" if la["diverges"] else " "
            causes = la.get("causes") or ()
            cells = (
                Text(f"{mark}{i}", style=style),
                Text(fmt.middle(fmt.safe(la["node"]), 14), style=style),
                _right(f"{la['integer_mean_lsb']:.2f}", style),
                _right(f"{la['integer_max_lsb']:.1f}", style),
                _right(f"{la['clipped_pct']:.2f}", style),
                _right(fmt.db(la["integer_sqnr_db"]), style),
                _right(la.get("contribution_shown") or fmt.DASH, style),
                Text(fmt.safe(causes[0]) if causes else "", style=style),
            )
            table.add_row(*cells, key=str(i))
        if not self.layer_rows:
            self.query_one("#layer-story", Static).update(
                "no per-layer rows (the run failed or was interrupted)"
            )

    def action_first(self) -> None:
        """Jump to the first divergent layer."""
        row = self.first_row
        if row is None:
            status = self.view.detail.status if self.view else "loading"
            self.notify("no layer diverges in this run" if self.layer_rows
                        else f"this run has no layers ({status})")  # fmt: skip
            return
        self.action_tab("layers")
        table = self.query_one("#debug-layers", DataTable)
        table.move_cursor(row=row, scroll=True)
        table.focus()
        self._tell(row)

    @on(DataTable.RowHighlighted, "#debug-layers")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._tell(event.cursor_row)

    def _tell(self, row: int) -> None:
        """The highlighted layer's story, under the table."""
        layers = self.layer_rows
        if not 0 <= row < len(layers):
            return
        self.query_one("#layer-story", Static).update(_story(layers[row], self.metric))


def _right(text: str, style: str) -> Text:
    return Text(text, style=style, justify="right")


def _story(la: dict[str, Any], metric: str) -> Text:
    """A few lines: the layer, how its paths compare, and why it diverges."""
    text = Text()
    text.append(fmt.safe(la["node"]), style="bold")
    text.append(f" {fmt.safe(la['op_type'])} · {la['precision']} · out {fmt.safe(la['tensor'])}")
    if la.get("delta"):
        text.append(f" · Δ {la['delta']:.4g}")
    text.append(
        f"\nSQNR {fmt.db(la['input_sqnr_db'])} in → {fmt.db(la['integer_sqnr_db'])} dB out"
        f" · fake-quant {la['fake_quant_mean_lsb']:.2f} LSB"
        f" · int−fq {la['integer_vs_fake_quant_mean_lsb']:.2f} LSB"
        f" · {metric} alone {la.get('contribution_shown') or fmt.DASH}"
    )
    causes = la.get("causes") or ()
    if la["diverges"]:
        text.append("\ndiverges: ", style="bold red")
        text.append(fmt.safe(", ".join(causes) or "-"))
        if la.get("suggestion"):
            text.append(f"; try {fmt.safe(la['suggestion'])}")
    return text


def _summary(view: RunView) -> list[tuple[str, list[tuple[str, Any]]]]:
    d = view.detail
    det, report, options = d.details, view.report, view.options
    first = det.get("first_divergent_layer")
    verdict = Text(first, style=FIRST_STYLE) if first else ("none" if d.layers else None)
    return [
        ("", [("status", fmt.status(d.status)),
              ("error", Text(d.error, style="red") if d.error else None),
              ("model", d.model),
              ("first divergent", verdict), ("cause", det.get("cause")),
              ("why", det.get("why")), ("try", det.get("suggestion"))]),
        ("Containers", [("quantized", view.container.path if view.container else None),
                        ("float", view.float_container.path if view.float_container else None),
                        ("input list", det.get("input_list"))]),
        ("Result", [("output SQNR (int)", _db(det.get("sqnr_db"))),
                    ("output SQNR (fq)", _db(det.get("fake_quant_sqnr_db"))),
                    ("samples", det.get("samples")),
                    ("contribution", f"{det['metric']} with only that layer quantized, over "
                     f"{counted(report.get('contribution_samples', 0), 'sample')}"
                     if det.get("metric") and report else None),
                    ("notes", "; ".join(report.get("notes") or ()) or None)]),
        ("Options", _options(options)),
        ("Run", [("took", fmt.seconds(d.duration_s)), ("started", fmt.when_full(d.started_at)),
                 ("host / pid", f"{d.host} / {d.pid}"), ("command", d.command),
                 ("tags", " ".join(d.tags) or None), ("notes", d.notes or None),
                 ("experiments", ", ".join(d.experiments) or None)]),
    ]  # fmt: skip


def _options(options: dict[str, Any]) -> list[tuple[str, Any]]:
    """The run's options as the form labels them (a flag that is on by its flag)."""
    shown: list[tuple[str, Any]] = []
    for o in DEBUG_OPTIONS:
        value = options.get(o.name)
        if o.type is bool:
            shown.append((o.cli_flag, "yes" if value else None))
        elif value not in (None, "", [], ()):
            shown.append((o.label or o.name, fmt.plain(value)))
    return shown


def _db(value: float | None) -> str | None:
    return None if value is None else f"{fmt.db(value)} dB"
