"""Small inline SVG charts for the report: a histogram with marked values, a scatter with a
front line, lines over categories, horizontal bars. Plain functions from numbers to an
``<svg>`` string: no script, no external reference, deterministic output, styled by the
page's CSS classes (``chart``, ``axis``, ``grid``, ``s0``..``s6``, ``mark``, ``front``).

Why not a charting library: the ones that fit (pygal) add ~17 KB of CSS and script to
every chart and random element ids; leather draws no numeric bars. A report holds dozens
of charts, so these stay a few KB each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

SERIES = 7  # CSS classes s0..s6 colour the series


@dataclass(frozen=True)
class Box:
    """The plot area inside an SVG of ``width`` x ``height``, and the data ranges it shows."""

    width: int
    height: int
    x0: float
    x1: float
    y0: float
    y1: float
    left: int = 56
    right: int = 16
    top: int = 28
    bottom: int = 40

    def x(self, v: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.left + (v - self.x0) / span * (self.width - self.left - self.right)

    def y(self, v: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return (
            self.height
            - self.bottom
            - (v - self.y0) / span * (self.height - self.top - self.bottom)
        )


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else round(v, 12))
        v += step
    return ticks


def number(v: float) -> str:
    """A tick or value label: 1.5k, 0.25, 1e-05."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if a < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4g}"


def _legend_width(series: Sequence[tuple[str, object]]) -> int:
    """Room right of the plot for a legend of these series' names."""
    return 30 + 6 * max((len(name) for name, _ in series), default=0)


def _f(v: float) -> str:
    return f"{v:.1f}"


def _open(box: Box, title: str, label: str) -> list[str]:
    return [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{box.width}" height="{box.height}" viewBox="0 0 {box.width} {box.height}" '
        f'aria-label="{escape(label or title)}">',
        f"<title>{escape(label or title)}</title>",
        f'<text class="title" x="{box.left}" y="16">{escape(title)}</text>',
    ]


def _axes(box: Box, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[float],
          x_label: str, y_label: str) -> list[str]:  # fmt: skip
    out = []
    bottom, top = box.height - box.bottom, box.top
    for t in y_ticks:
        y = _f(box.y(t))
        out.append(f'<line class="grid" x1="{box.left}" x2="{box.width - box.right}" '
                   f'y1="{y}" y2="{y}"/>')  # fmt: skip
        out.append(f'<text class="tick" x="{box.left - 6}" y="{y}" text-anchor="end" '
                   f'dominant-baseline="middle">{number(t)}</text>')  # fmt: skip
    for value, text in x_ticks:
        x = _f(box.x(value))
        out.append(f'<line class="axis" x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 4}"/>')
        out.append(f'<text class="tick" x="{x}" y="{bottom + 16}" text-anchor="middle">'
                   f"{escape(text)}</text>")  # fmt: skip
    out.append(f'<line class="axis" x1="{box.left}" x2="{box.width - box.right}" '
               f'y1="{bottom}" y2="{bottom}"/>')  # fmt: skip
    out.append(f'<line class="axis" x1="{box.left}" x2="{box.left}" y1="{top}" y2="{bottom}"/>')
    if x_label:
        out.append(f'<text class="label" x="{(box.left + box.width - box.right) / 2:.1f}" '
                   f'y="{box.height - 6}" text-anchor="middle">{escape(x_label)}</text>')  # fmt: skip
    if y_label:
        out.append(f'<text class="label" transform="translate(12,{(top + bottom) / 2:.1f}) '
                   f'rotate(-90)" text-anchor="middle">{escape(y_label)}</text>')  # fmt: skip
    return out


def histogram(
    lo: float,
    hi: float,
    counts: Sequence[int],
    *,
    marks: Sequence[tuple[float, str]] = (),
    title: str = "",
    x_label: str = "value",
    width: int = 420,
    height: int = 220,
) -> str:
    """Bars of ``counts`` over equal bins from ``lo`` to ``hi``; a dashed line and a label
    at each ``marks`` value (the encoding's min and max)."""
    top = max(counts, default=0) or 1
    box = Box(width, height, lo, hi, 0.0, top * 1.05)
    out = _open(box, title, f"{title}: histogram of {sum(counts)} values")
    ticks = [(t, number(t)) for t in nice_ticks(lo, hi, 5) if lo <= t <= hi]
    out += _axes(box, ticks, nice_ticks(0, top, 4), x_label, "values")
    step = (hi - lo) / max(1, len(counts))
    for i, c in enumerate(counts):
        if c <= 0:
            continue
        x0, x1 = box.x(lo + i * step), box.x(lo + (i + 1) * step)
        y = box.y(c)
        out.append(f'<rect class="bar s0" x="{_f(x0)}" y="{_f(y)}" width="{_f(max(x1 - x0 - 0.5, 0.5))}" '
                   f'height="{_f(box.y(0) - y)}"><title>{c}</title></rect>')  # fmt: skip
    for value, text in marks:
        x = _f(box.x(min(max(value, lo), hi)))
        out.append(
            f'<line class="mark" x1="{x}" x2="{x}" y1="{box.top}" y2="{box.height - box.bottom}"/>'
        )
        out.append(f'<text class="mark-label" x="{x}" y="{box.top - 2}" text-anchor="middle">'
                   f"{escape(text)}</text>")  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)


@dataclass(frozen=True)
class ScatterPoint:
    x: float
    y: float
    label: str = ""


def scatter(
    series: Sequence[tuple[str, Sequence[ScatterPoint]]],
    *,
    front: Sequence[ScatterPoint] = (),
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = 560,
    height: int = 300,
) -> str:
    """Points, one colour per series (with a legend); ``front`` joined by a line."""
    points = [p for _, ps in series for p in ps]
    if not points:
        return ""
    xs, ys = [p.x for p in points], [p.y for p in points]
    x_pad = (max(xs) - min(xs)) * 0.06 or abs(max(xs)) * 0.1 or 1.0
    y_pad = (max(ys) - min(ys)) * 0.1 or 0.5
    box = Box(width, height, min(xs) - x_pad, max(xs) + x_pad, min(ys) - y_pad,
              max(ys) + y_pad, right=_legend_width(series))  # fmt: skip
    out = _open(box, title, f"{title}: {len(points)} points")
    ticks = [(t, number(t)) for t in nice_ticks(box.x0, box.x1, 5)]
    out += _axes(box, ticks, nice_ticks(box.y0, box.y1, 5), x_label, y_label)
    if len(front) > 1:
        path = " ".join(f"{_f(box.x(p.x))},{_f(box.y(p.y))}" for p in front)
        out.append(f'<polyline class="front" points="{path}"/>')
    for i, (name, ps) in enumerate(series):
        cls = f"s{i % SERIES}"
        for p in ps:
            tip = escape(f"{p.label}: {number(p.x)}, {number(p.y)}" if p.label else name)
            out.append(f'<circle class="dot {cls}" cx="{_f(box.x(p.x))}" cy="{_f(box.y(p.y))}" '
                       f'r="4"><title>{tip}</title></circle>')  # fmt: skip
        ly = box.top + 6 + i * 16
        lx = box.width - box.right + 12
        out.append(f'<circle class="dot {cls}" cx="{lx}" cy="{ly}" r="4"/>')
        out.append(f'<text class="legend" x="{lx + 8}" y="{ly}" dominant-baseline="middle">'
                   f"{escape(name)}</text>")  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)


def lines(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 280,
) -> str:
    """One line per series over the ``categories`` (layer names along x, slanted)."""
    values = [v for _, vs in series for v in vs if v is not None and math.isfinite(v)]
    if not categories or not values:
        return ""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 1.0
    box = Box(width + _legend_width(series) - 110, height, -0.5, len(categories) - 0.5,
              lo - pad, hi + pad, bottom=84, right=_legend_width(series))  # fmt: skip
    out = _open(box, title, f"{title}: {len(series)} series over {len(categories)} layers")
    out += _axes(box, [], nice_ticks(box.y0, box.y1, 5), "", y_label)
    every = max(1, math.ceil(len(categories) / 40))
    base = box.height - box.bottom
    for i, name in enumerate(categories):
        if i % every:
            continue
        x = _f(box.x(i))
        out.append(f'<text class="tick" transform="translate({x},{base + 8}) rotate(40)">'
                   f"{escape(name[:24])}</text>")  # fmt: skip
    for s, (name, vs) in enumerate(series):
        cls = f"s{s % SERIES}"
        pts = [(i, v) for i, v in enumerate(vs) if v is not None and math.isfinite(v)]
        path = " ".join(f"{_f(box.x(i))},{_f(box.y(v))}" for i, v in pts)
        out.append(f'<polyline class="line {cls}" points="{path}"/>')
        for i, v in pts:
            out.append(f'<circle class="dot {cls}" cx="{_f(box.x(i))}" cy="{_f(box.y(v))}" r="2.5">'
                       f"<title>{escape(f'{name} · {categories[i]}: {number(v)}')}</title></circle>")  # fmt: skip
        ly = box.top + 6 + s * 16
        lx = box.width - box.right + 12
        out.append(f'<line class="line {cls}" x1="{lx - 6}" x2="{lx + 6}" y1="{ly}" y2="{ly}"/>')
        out.append(f'<text class="legend" x="{lx + 10}" y="{ly}" dominant-baseline="middle">'
                   f"{escape(name)}</text>")  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str = "",
    title: str = "",
    width: int = 420,
) -> str:
    """Horizontal bars, one per label, the value written after each."""
    if not labels:
        return ""
    row = 20
    height = 28 + row * len(labels) + 8
    top = max(values, default=0) or 1.0
    left = 8 + 7 * min(24, max(len(label) for label in labels))
    room = width - left - 80
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="title" x="8" y="16">{escape(title)}</text>',
    ]
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = 28 + i * row
        w = max(0.0, v) / top * room
        out.append(f'<text class="tick" x="{left - 6}" y="{y + 8}" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(label[:24])}</text>')  # fmt: skip
        out.append(f'<rect class="bar s0" x="{left}" y="{y}" width="{_f(w)}" height="{row - 6}"/>')
        out.append(f'<text class="value" x="{_f(left + w + 4)}" y="{y + 8}" '
                   f'dominant-baseline="middle">{number(v)}{escape(unit)}</text>')  # fmt: skip
    out.append("</svg>")
    return "\n".join(out)
