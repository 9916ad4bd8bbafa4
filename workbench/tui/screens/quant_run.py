"""A quantization run: options, timings, memory, status, per-layer SQNR, report, log."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from workbench.jobs.browse import RunView
from workbench.jobs.compare import worst_layers
from workbench.jobs.plots import layer_histograms
from workbench.tui import format as fmt
from workbench.tui.screens.run_base import RunScreen
from workbench.tui.widgets.bar_chart import BarChart, ChartData
from workbench.tui.widgets.fields import FieldList
from workbench.tui.widgets.job_panel import JobPanel
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.long_text import LongText
from workbench.tui.widgets.plots import HistogramPanel

WORST = 5


class QuantRunScreen(RunScreen):
    HELP = """\
One quantization run. **Summary**: what it was asked and how it went;
**SQNR**: each layer's output SQNR against float (the worst in red);
**Encodings**: per-layer encodings; **Report**: sensitivity analysis,
float-fallback layers, CLE / bias-correction effects; **Log**; **Histograms**:
each layer's float values (its output's and its weights') against its
encoding's range, with the share the encoding clips (`w` switches between
output and weights when both do not fit).
`Q` quantizes again with these settings (edit them first), `B` benchmarks
the quantized container.
"""
    BINDINGS = [
        *RunScreen.BINDINGS,
        Binding("1", "tab('summary')", "Summary", show=False),
        Binding("2", "tab('sqnr')", "SQNR chart", show=False),
        Binding("3", "tab('encodings')", "Encodings", show=False),
        Binding("4", "tab('report')", "Report", show=False),
        Binding("5", "tab('log')", "Log", show=False),
        Binding("6", "tab('histograms')", "Histograms", show=False),
        Binding("w", "toggle_weights", "Weights/output"),
        Binding("Q", "requantize", "Quantize again"),
        Binding("B", "bench", "Bench output"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("loading…", classes="title-line")
        with TabbedContent(initial="summary"):
            with TabPane("1 Summary", id="summary"), VerticalScroll(classes="detail-scroll"):
                yield FieldList(id="summary-fields")
            with TabPane("2 SQNR", id="sqnr"), VerticalScroll(classes="detail-scroll"):
                yield Static("", id="worst", classes="hint")
                yield BarChart(id="sqnr-chart")
            with TabPane("3 Encodings", id="encodings"):
                yield DataTable(id="layers-table", cursor_type="row")
            with TabPane("4 Report", id="report"), VerticalScroll(classes="detail-scroll"):
                yield FieldList(id="report-fields")
            with TabPane("5 Log", id="log"):
                yield LongText(id="log-text")
            with TabPane("6 Histograms", id="histograms"):
                yield HistogramPanel(id="histograms-panel")
        yield JobPanel()
        yield KeyFooter()

    def show(self, view: RunView) -> None:
        d = view.detail
        det = d.details
        self.set_title_line(self.title_line(view, "quantization"))
        report = view.report
        timings = report.get("timings_s") or {}
        out = view.output_container
        src = view.container
        ratio = None
        if out is not None and src is not None and src.size_bytes:
            ratio = f"{fmt.size(out.size_bytes)} ({out.size_bytes / src.size_bytes:.2f}x the float)"
        error = Text(d.error, style="red") if d.error else None
        options = view.options
        algorithms = det.get("algorithms") or "none"
        self.query_one("#summary-fields", FieldList).set_sections([
            ("", [("status", fmt.status(d.status)), ("error", error),
                  ("model", d.model), ("SQNR vs float", _db(det.get("sqnr_db")))]),
            ("Containers", [("input (float)", src.path if src else None),
                            ("output", out.path if out else None),
                            ("output size", ratio or (fmt.size(out.size_bytes) if out else None)),
                            ("calibration", _calibration(view.calibration))]),
            ("Options", [("param quantizer", det.get("param_quantizer")),
                         ("act quantizer", det.get("act_quantizer")),
                         ("bitwidths w/a/b", "/".join(str(det.get(k)) for k in
                                                      ("weights_bitwidth", "act_bitwidth", "bias_bitwidth"))),
                         ("per-channel", det.get("per_channel")),
                         ("algorithms", algorithms),
                         ("percentile", options.get("percentile")),
                         ("HTA records", det.get("enable_hta")),
                         ("override params", det.get("override_params_path"))]),
            ("Timings", [("started", fmt.when_full(d.started_at)),
                         ("finished", fmt.when_full(d.finished_at)),
                         ("took", fmt.seconds(d.duration_s)),
                         *((f"  {stage}", fmt.seconds(s)) for stage, s in timings.items()),
                         ("peak memory", fmt.size(d.peak_memory_bytes))]),
            ("Run", [("host / pid", f"{d.host} / {d.pid}"), ("command", d.command),
                     ("tags", " ".join(d.tags) or None), ("notes", d.notes or None),
                     ("experiments", ", ".join(d.experiments) or None)]),
        ])  # fmt: skip

        worst = worst_layers(view.layers, WORST)
        chart = self.query_one("#sqnr-chart", BarChart)
        if view.layers:
            worst_names = {p.name for p in worst}
            chart.set_data(ChartData(
                labels=tuple(p.name for p in view.layers),
                series=(f"#{d.id}",),
                values=tuple((p.sqnr_db,) for p in view.layers),
                unit="dB",
                highlight=frozenset(i for i, p in enumerate(view.layers) if p.name in worst_names),
            ))  # fmt: skip
            listed = ", ".join(f"{p.name} ({p.op_type}) {p.sqnr_db:.2f} dB" for p in worst)
            self.query_one("#worst", Static).update(f"worst layers: {listed}")
        else:
            chart.set_data(None)
            self.query_one("#worst", Static).update(
                "no per-layer stats (the run failed, was interrupted, or ran with --no-analysis)"
            )

        table = self.query_one("#layers-table", DataTable)
        table.clear(columns=True)
        table.add_columns("#", "layer", "type", "bits", "min", "max", "scale", "offset", "SQNR dB")
        for layer in d.layers:
            table.add_row(
                layer["layer_index"], fmt.cell(layer["layer_name"]), fmt.cell(layer["op_type"]),
                fmt.number(layer["bitwidth"]), fmt.number(layer["encoding_min"]),
                fmt.number(layer["encoding_max"]), fmt.number(layer["scale"]),
                fmt.number(layer["offset"]), fmt.db(layer["sqnr_db"]),
            )  # fmt: skip

        self.query_one("#report-fields", FieldList).set_sections(_report_sections(report))
        self.query_one("#log-text", LongText).show(d.log or "(empty log)")
        self.query_one(HistogramPanel).show(layer_histograms(d.layers))

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "histograms":
            self.query_one("#histogram-layers").focus()

    def action_toggle_weights(self) -> None:
        self.action_tab("histograms")
        self.query_one(HistogramPanel).toggle_kind()

    def action_requantize(self) -> None:
        from workbench.tui.screens.forms import launch
        from workbench.tui.screens.quantize_form import QuantizeForm

        form = QuantizeForm(self.project, prefill_from=("run", self.run_id))
        self.app.push_screen(form, lambda request: launch(self.wb, self.project, request))

    def action_bench(self) -> None:
        from workbench.tui.screens.bench_form import BenchForm
        from workbench.tui.screens.forms import launch

        form = BenchForm(self.project, prefill_from=("run", self.run_id))
        self.app.push_screen(form, lambda request: launch(self.wb, self.project, request))


def _db(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f} dB"


def _calibration(cal: dict[str, Any] | None) -> str | None:
    if not cal:
        return None
    return f"{cal['path']} ({cal['samples']} samples)"


def _report_sections(report: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    if not report:
        return [("", [("report", "nothing stored for this run")])]
    sections: list[tuple[str, list[tuple[str, Any]]]] = []
    sens = report.get("sensitivity") or {}
    if sens:
        rows: list[tuple[str, Any]] = [
            ("full SQNR", _db(sens.get("full_sqnr_db"))),
            ("weights only", _db(sens.get("weights_only_sqnr_db"))),
            ("activations only", _db(sens.get("activations_only_sqnr_db"))),
            ("samples", sens.get("samples")),
        ]
        for layer in sens.get("layers") or ():
            rows.append((f"  {layer.get('node')}", f"{layer.get('op_type')}: output "
                         f"{_db(layer.get('output_sqnr_db'))} if only it is quantized"))  # fmt: skip
        sections.append(("Sensitivity", rows))
    fallback = report.get("float_fallback")
    if fallback is not None:
        sections.append(
            ("Float fallback (integer executor)", [("layers", ", ".join(fallback) or "none")])
        )
    known = {"sensitivity", "float_fallback"}
    other = [(key, _short(value)) for key, value in report.items() if key not in known]
    if other:
        sections.append(("Other", other))
    return sections


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 400 else text[:397] + "..."
