"""Plots in the terminal, drawn by plotext (``textual-plotext``) from ``jobs.plots`` values:
a layer's histogram against its encoding range, accuracy against size or init with the
Pareto front, per-layer SQNR of several runs. Each widget takes its data with ``show``
and redraws at its size; no plot arithmetic lives in the screens."""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static
from textual_plotext import PlotextPlot

from workbench.jobs.plots import Histogram, LayerHistograms, Tradeoff

SERIES_COLORS = ("cyan", "magenta", "yellow", "green", "blue", "red", "white")
RANGE_COLOR = "red"


class _Plot(PlotextPlot):
    DEFAULT_CSS = "_Plot { height: 1fr; min-height: 8; }"

    def _start(self, title: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)

    def _ylim(self, ys: Sequence[float], legend: int = 0, least: float = 0.5) -> None:
        """A y range around ``ys`` with room above them for the legend plotext draws in
        the top-left corner (points under it would be hidden)."""
        lo, hi = min(ys), max(ys)
        pad = max(least, (hi - lo) * 0.08)
        lo, hi = lo - pad, hi + pad
        rows = self.size.height - 6  # the plot's rows, less title, axes and ticks
        free = rows - legend - 1
        if legend and free >= 3:  # else the plot is too short: the legend may cover points
            hi += (hi - lo) * (legend + 1) / free
        self.plt.ylim(lo, hi)

    def _empty(self, message: str) -> None:
        self._start(message)
        self.refresh()


class HistogramPlot(_Plot):
    """Bars of a layer's value counts; red lines at the encoding's min and max."""

    def show(self, histogram: Histogram | None) -> None:
        if histogram is None:
            self._empty("no histogram stored for this layer")
            return
        plt = self.plt
        self._start(f"{histogram.layer} {histogram.kind} · {histogram.clipped_text}")
        plt.bar(histogram.centers, list(histogram.counts), width=1.0, color="cyan")
        for edge in (histogram.enc_min, histogram.enc_max):
            plt.vline(edge, RANGE_COLOR)
        plt.xlim(histogram.lo, histogram.hi)
        ticks = [histogram.lo, histogram.enc_min, histogram.enc_max, histogram.hi]
        plt.xticks(ticks, [f"{t:.3g}" for t in ticks])
        self.refresh()


class TradeoffPlot(_Plot):
    """Benchmark runs as points (one colour per runtime) and the Pareto front as a line."""

    def show(self, tradeoff: Tradeoff | None, axis: str) -> None:
        points = tradeoff.usable(axis) if tradeoff is not None else []
        if tradeoff is None or not points:
            self._empty("no measured benchmark runs to plot")
            return
        plt = self.plt
        scale = 1024.0 if axis == "size" else 1.0
        self._start(f"{tradeoff.metric} vs {tradeoff.axis_label(axis)} · line: Pareto front")
        front = tradeoff.front(axis)  # drawn first: the points stay on top of it
        plt.plot([p.x(axis) / scale for p in front], [p.accuracy for p in front],
                 color="gray", marker="hd")  # fmt: skip
        for i, runtime in enumerate(tradeoff.runtimes):
            mine = [p for p in points if p.runtime == runtime]
            if mine:
                plt.scatter([p.x(axis) / scale for p in mine], [p.accuracy for p in mine],
                            label=runtime, color=SERIES_COLORS[i % len(SERIES_COLORS)],
                            marker="dot" if i else "+")  # fmt: skip
        self._ylim([p.accuracy for p in points], legend=len(tradeoff.runtimes))
        plt.xlabel(tradeoff.axis_label(axis))
        self.refresh()


class LayerSqnrPlot(_Plot):
    """Per-layer SQNR of several runs, one line each, layers by index."""

    def show(
        self,
        layers: Sequence[str],
        runs: Sequence[str],
        values: Sequence[Sequence[float | None]],  # values[layer][run]
    ) -> None:
        if not layers:
            self._empty("no per-layer SQNR stored for these runs")
            return
        plt = self.plt
        self._start("per-layer SQNR (dB) · x: layer index (names below)")
        for r, run in enumerate(runs):
            xs = [i for i, row in enumerate(values) if row[r] is not None]
            ys = [values[i][r] for i in xs]
            plt.plot(xs, ys, label=run, color=SERIES_COLORS[r % len(SERIES_COLORS)],
                     marker="dot")  # fmt: skip
        measured = [v for row in values for v in row if v is not None]
        if measured:
            self._ylim(measured, legend=len(runs) if len(runs) > 1 else 0)
        step = max(1, math.ceil(len(layers) / 8))
        plt.xticks(list(range(0, len(layers), step)))
        plt.xlabel("layer")
        self.refresh()


class HistogramPanel(Horizontal):
    """The layers of a run on the left; on the right, the selected layer's output
    histogram and its weights' (both when the panel is tall enough, else ``w`` switches)."""

    DEFAULT_CSS = """
    HistogramPanel { height: 1fr; }
    HistogramPanel > OptionList { width: 24; height: 1fr; }
    HistogramPanel > Vertical { width: 1fr; height: 1fr; }
    HistogramPanel .plot-hint { height: auto; max-height: 3; color: $text-muted; padding: 0 1; }
    """
    TALL = 28  # rows from which both histograms show at once

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[LayerHistograms] = []
        self.kind = "output"

    def compose(self) -> ComposeResult:
        yield OptionList(id="histogram-layers")
        with Vertical():
            yield Static("", classes="plot-hint")
            yield HistogramPlot(id="output-histogram")
            yield HistogramPlot(id="weights-histogram")

    def show(self, layers: Sequence[LayerHistograms]) -> None:
        self.entries = list(layers)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([_layer_option(la) for la in self.entries])
        if self.entries:
            options.highlighted = 0
        self._draw()

    def toggle_kind(self) -> None:
        self.kind = "weights" if self.kind == "output" else "output"
        self._draw()

    @on(OptionList.OptionHighlighted, "#histogram-layers")
    def _layer_changed(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        index = self.query_one(OptionList).highlighted
        layer = self.entries[index] if self.entries and index is not None else None
        both = self.size.height >= self.TALL
        output, weights = (
            self.query_one("#output-histogram", HistogramPlot),
            self.query_one("#weights-histogram", HistogramPlot),
        )
        output.display = both or self.kind == "output"
        weights.display = both or self.kind == "weights"
        shown = [h for h in ((layer.output, layer.weights) if layer else ()) if h is not None]
        if not both:
            shown = [h for h in shown if h.kind == self.kind]
        hint = " ".join(f"{h.kind}: {h.detail}." for h in shown) + " Red: the encoding's ends."
        self.query_one(".plot-hint", Static).update(
            hint
            if layer
            else "no value histograms stored for this run (quantized "
            "with --no-analysis, or before histograms were recorded)"
        )
        output.show(layer.output if layer else None)
        weights.show(layer.weights if layer else None)


def _layer_option(layer: LayerHistograms) -> str:
    """The layer's name, and the share of its output the encoding clips when any."""
    share = layer.output.clipped_share if layer.output else None
    if not share:
        return layer.layer
    return f"{layer.layer} {'<0.1%' if share < 0.001 else f'{share:.1%}'}"
