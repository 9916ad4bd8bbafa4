"""A benchmark run: init time and its breakdown, init peak memory, latency, accuracy."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Header, Label, Static, TabbedContent, TabPane

from workbench.jobs.browse import RunView
from workbench.tui import format as fmt
from workbench.tui.screens.run_base import RunScreen
from workbench.tui.widgets.bar_chart import BarChart, ChartData
from workbench.tui.widgets.fields import FieldList
from workbench.tui.widgets.job_panel import JobPanel
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.long_text import LongText


class BenchRunScreen(RunScreen):
    HELP = """\
One benchmark: a container measured on one runtime. **Summary**: settings,
init time and peak memory, latency, accuracy against the float reference;
**Charts**: the init phases and the latency distribution; **Log**.
"""
    BINDINGS = [
        *RunScreen.BINDINGS,
        Binding("1", "tab('summary')", "Summary", show=False),
        Binding("2", "tab('charts')", "Charts", show=False),
        Binding("3", "tab('log')", "Log", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("loading…", classes="title-line")
        with TabbedContent(initial="summary"):
            with TabPane("1 Summary", id="summary"), VerticalScroll(classes="detail-scroll"):
                yield FieldList(id="summary-fields")
            with TabPane("2 Charts", id="charts"), VerticalScroll(classes="detail-scroll"):
                yield Label("Init phases (ms)", classes="hint")
                yield BarChart(id="init-chart")
                yield Label("Latency per inference (ms)", classes="hint")
                yield BarChart(id="latency-chart")
            with TabPane("3 Log", id="log"):
                yield LongText(id="log-text")
        yield JobPanel()
        yield KeyFooter()

    def show(self, view: RunView) -> None:
        d = view.detail
        det = d.details
        options = det.get("options") or {}
        self.set_title_line(self.title_line(view, f"{det.get('runtime')} benchmark"))
        breakdown = det.get("init_breakdown") or {}
        container = view.container
        reference = view.reference_container
        self.query_one("#summary-fields", FieldList).set_sections([
            ("", [("status", fmt.status(d.status)),
                  ("error", Text(d.error, style="red") if d.error else None),
                  ("model", d.model),
                  ("container", container.path if container else None),
                  ("quantized", container.quantized if container else None),
                  ("size", fmt.size(det.get("container_size_bytes")
                                    or (container.size_bytes if container else None)))]),
            ("Settings", [("runtime", det.get("runtime")), ("mode", options.get("mode")),
                          ("CPU fixed point", det.get("cpu_fxp")), ("batch", det.get("batch")),
                          ("iterations", det.get("iterations")),
                          ("measured on", "device" if det.get("device_measured") else "emulator")]),
            ("Initialisation", [("init time", _ms(det.get("init_time_ms"))),
                                *((f"  {phase}", _ms(ms)) for phase, ms in breakdown.items()),
                                ("init peak memory", fmt.size(det.get("init_peak_bytes")))]),
            ("Latency", [("mean", _ms(det.get("latency_mean_ms"))),
                         ("p50", _ms(det.get("latency_p50_ms"))),
                         ("p90", _ms(det.get("latency_p90_ms"))),
                         ("min", _ms(det.get("latency_min_ms")))]),
            ("Accuracy vs float", [("reference", reference.path if reference else None),
                                   ("SQNR", None if det.get("sqnr_db") is None else f"{det['sqnr_db']:.2f} dB"),
                                   ("cosine", det.get("cosine")),
                                   ("max abs error", det.get("max_abs_err")),
                                   ("top-1 agreement", fmt.percent(det.get("top1_agreement"))),
                                   ("label accuracy", fmt.percent(det.get("label_accuracy")))]),
            ("Run", [("took", fmt.seconds(d.duration_s)), ("started", fmt.when_full(d.started_at)),
                     ("host / pid", f"{d.host} / {d.pid}"), ("command", d.command),
                     ("tags", " ".join(d.tags) or None), ("notes", d.notes or None),
                     ("experiments", ", ".join(d.experiments) or None)]),
        ])  # fmt: skip
        self.query_one("#init-chart", BarChart).set_data(
            ChartData(tuple(breakdown), ("init",), tuple((float(v),) for v in breakdown.values()), "ms")
            if breakdown else None
        )  # fmt: skip
        latency = [("min", det.get("latency_min_ms")), ("p50", det.get("latency_p50_ms")),
                   ("mean", det.get("latency_mean_ms")), ("p90", det.get("latency_p90_ms"))]  # fmt: skip
        latency = [(k, v) for k, v in latency if v is not None]
        self.query_one("#latency-chart", BarChart).set_data(
            ChartData(tuple(k for k, _ in latency), ("latency",), tuple((v,) for _, v in latency),
                      "ms", decimals=3) if latency else None
        )  # fmt: skip
        self.query_one("#log-text", LongText).show(d.log or "(empty log)")


def _ms(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f} ms"
