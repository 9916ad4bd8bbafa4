"""Horizontal bars drawn with block characters: per-layer SQNR, init phases, latency.

Several series (runs) can be overlaid: each label gets one bar per series, in
the series' colour. Rendered as text for the current width; no animation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

_EIGHTHS = " ▏▎▍▌▋▊▉█"
SERIES_STYLES = ("cyan", "magenta", "yellow", "green", "blue", "red", "bright_white")


@dataclass(frozen=True)
class ChartData:
    labels: tuple[str, ...]
    series: tuple[str, ...]  # names, shown in the legend when more than one
    values: tuple[tuple[float | None, ...], ...]  # values[label][series]
    unit: str = ""
    highlight: frozenset[int] = frozenset()  # label indices drawn in red (worst layers)
    decimals: int = 2


def bar(value: float, top: float, width: int) -> str:
    """``value`` as a bar of ``width`` cells at most, ``top`` filling them all."""
    if width <= 0 or top <= 0 or not math.isfinite(value) or value <= 0:
        return ""
    eighths = round(min(value, top) / top * width * 8)
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


class BarChart(Widget):
    """A bar chart sized to its widget's width (height: one line per bar)."""

    DEFAULT_CSS = "BarChart { height: auto; padding: 0 1; }"

    def __init__(self, data: ChartData | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = data

    def set_data(self, data: ChartData | None) -> None:
        self.data = data
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[override]
        return len(self._lines(max(width, 20)))

    def render(self) -> Text:
        return Text("\n").join(self._lines(max(self.content_size.width, 20)))

    def _lines(self, width: int) -> list[Text]:
        data = self.data
        if data is None or not data.labels:
            return [Text("no data", style="dim")]
        lines: list[Text] = []
        many = len(data.series) > 1
        if many:
            legend = Text()
            for i, name in enumerate(data.series):
                legend.append("■ ", style=SERIES_STYLES[i % len(SERIES_STYLES)])
                legend.append(f"{name}  ")
            lines.append(legend)
        finite = [v for row in data.values for v in row if v is not None and math.isfinite(v)]
        top = max(finite, default=0.0)
        label_w = min(max(len(label) for label in data.labels), max(8, width // 3))
        value_w = max((len(f"{v:.{data.decimals}f}") for v in finite), default=1) + (
            len(data.unit) + 1 if data.unit else 0
        )
        bar_w = max(4, width - label_w - value_w - 3)
        for i, (label, row) in enumerate(zip(data.labels, data.values, strict=True)):
            for s, value in enumerate(row):
                line = Text()
                name = label if s == 0 else ""
                name = name if len(name) <= label_w else name[: label_w - 1] + "…"
                line.append(f"{name:<{label_w}} ", style="bold red" if i in data.highlight else "")
                style = SERIES_STYLES[s % len(SERIES_STYLES)] if many else "cyan"
                drawn = bar(value, top, bar_w) if value is not None else ""
                line.append(f"{drawn:<{bar_w}}", style=style)
                if value is None:
                    shown = "-"
                else:
                    shown = f"{value:.{data.decimals}f}" + (f" {data.unit}" if data.unit else "")
                line.append(f" {shown:>{value_w}}")
                lines.append(line)
        return lines
