"""What the plots show, as plain values: the TUI draws them in the terminal
(``tui/widgets/plots.py``), the report as inline SVG (``workbench/report``).

* ``Histogram``: one layer's values (its output's, or its weights') against the
  encoding's range, from the histograms the analysis stored with the run's layers;
* ``Tradeoff``: benchmark runs as points of accuracy against file size or init time,
  with the Pareto front (no other point is smaller or faster and at least as accurate);
* per-layer SQNR of several runs comes from ``browse.layer_sqnr``.

Columns are read by name when present (a device-equivalent init when bench records it,
else the whole init), so new measurements show without changing the plots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from workbench.store import Store
from workbench.vocabulary import BENCH, IOU, LABEL_ACCURACY, SQNR, SUCCEEDED, TOP1

SIZE, INIT = "size", "init"
AXES = (SIZE, INIT)


@dataclass(frozen=True)
class Histogram:
    """A stored value histogram (``engine.quant.histogram``) of one layer."""

    layer: str
    op_type: str
    kind: str  # "output" or "weights"
    lo: float
    hi: float
    counts: tuple[int, ...]
    below: int
    above: int
    enc_min: float
    enc_max: float
    clipped: int
    count: int
    min: float | None
    max: float | None
    per_channel: bool = False

    @classmethod
    def from_dict(cls, layer: str, op_type: str, kind: str, d: Mapping[str, Any]) -> Histogram:
        return cls(
            layer, op_type, kind, float(d["lo"]), float(d["hi"]),
            tuple(int(c) for c in d["counts"]), int(d.get("below", 0)), int(d.get("above", 0)),
            float(d["enc_min"]), float(d["enc_max"]), int(d.get("clipped", 0)),
            int(d.get("count", 0)), d.get("min"), d.get("max"), bool(d.get("per_channel")),
        )  # fmt: skip

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / len(self.counts)

    @property
    def centers(self) -> list[float]:
        return [self.lo + (i + 0.5) * self.width for i in range(len(self.counts))]

    @property
    def clipped_share(self) -> float | None:
        return self.clipped / self.count if self.count else None

    @property
    def clipped_text(self) -> str:
        """``0.07% clipped``, ``<0.01% clipped``, ``none clipped``."""
        share = self.clipped_share
        if share is None:
            return "clipped: -"
        if share == 0:
            return "none clipped"
        return "<0.01% clipped" if share < 0.0001 else f"{share:.2%} clipped"

    @property
    def caption(self) -> str:
        """``conv1 output · 0.01% clipped · encoding [0, 7.13], values [0, 7.21]``."""
        return f"{self.layer} {self.kind} · {self.clipped_text} · {self.detail}"

    @property
    def detail(self) -> str:
        """The encoding's range, the values', and what falls outside the plot."""
        text = f"encoding [{self.enc_min:.4g}, {self.enc_max:.4g}]"
        if self.per_channel:
            text += " (per channel: the widest ends)"
        if self.min is not None and self.max is not None:
            text += f", values [{self.min:.4g}, {self.max:.4g}]"
        outside = [f"{n:,} below" for n in [self.below] if n]
        outside += [f"{n:,} above" for n in [self.above] if n]
        if outside:
            text += f" ({' and '.join(outside)} the plot)"
        return text


@dataclass(frozen=True)
class LayerHistograms:
    index: int
    layer: str
    op_type: str
    sqnr_db: float | None
    output: Histogram | None
    weights: Histogram | None


def layer_histograms(layers: Iterable[Mapping[str, Any]]) -> list[LayerHistograms]:
    """The histograms of a run's layers (``RunDetail.layers``); layers without any are left out."""
    found = []
    for la in layers:
        stored = la.get("histograms") or {}
        if not stored:
            continue
        name, op = la["layer_name"], la["op_type"]
        hists = {
            kind: Histogram.from_dict(name, op, kind, stored[kind])
            for kind in ("output", "weights")
            if stored.get(kind)
        }
        found.append(
            LayerHistograms(la["layer_index"], name, op, la.get("sqnr_db"),
                            hists.get("output"), hists.get("weights"))
        )  # fmt: skip
    return found


# --------------------------------------------------------------------------- trade-off


@dataclass(frozen=True)
class Point:
    """One benchmark run: a container on a runtime."""

    run_id: int
    container: str  # file name
    runtime: str  # "cpu fxp" for the CPU in fixed-point mode
    quantized: bool | None
    size_bytes: int | None
    init_ms: float | None
    accuracy: float | None

    @property
    def label(self) -> str:
        stem = self.container[:-4] if self.container.endswith(".dlc") else self.container
        return f"{stem} · {self.runtime}"

    def x(self, axis: str) -> float | None:
        return self.size_bytes if axis == SIZE else self.init_ms


@dataclass(frozen=True)
class Tradeoff:
    metric: str  # the accuracy shown, with its unit: "label accuracy (%)"
    init_label: str  # "device init (ms)" when recorded, else "init (ms)"
    points: tuple[Point, ...]

    def axis_label(self, axis: str) -> str:
        return "file size (KiB)" if axis == SIZE else self.init_label

    def usable(self, axis: str) -> list[Point]:
        return [p for p in self.points if p.accuracy is not None and p.x(axis) is not None]

    def front(self, axis: str) -> list[Point]:
        """The Pareto front over ``axis``: smaller and more accurate is better."""
        return pareto_front(self.usable(axis), lambda p: p.x(axis), lambda p: p.accuracy)

    @property
    def runtimes(self) -> list[str]:
        return list(dict.fromkeys(p.runtime for p in self.points))


def pareto_front(
    points: Sequence[Any], cost: Callable[[Any], Any], value: Callable[[Any], Any]
) -> list[Any]:
    """The points no other point beats (lower or equal cost with higher value, or lower cost
    with equal value), by increasing cost."""
    ordered = sorted(points, key=lambda p: (cost(p), -value(p)))
    front: list[Any] = []
    best = -math.inf
    for p in ordered:
        if value(p) > best:
            front.append(p)
            best = value(p)
    return front


# Accuracy metrics tried, best first, when the runs record no shared decision metric: the
# first one every measured point has is plotted.
_FALLBACK = (LABEL_ACCURACY, TOP1, SQNR)
_PERCENT = frozenset({LABEL_ACCURACY, TOP1, IOU})  # stored as [0, 1], plotted in %
_EXACT_DB = 900.0  # an exact match is stored at the dB cap: drawn at the best other value


def _plotted_metric(details: Sequence[Mapping[str, Any]]) -> tuple[str, str, float]:
    """(stored field, axis label, scale): the runs' own decision metric when they share one
    and have it measured, else the first of ``_FALLBACK`` they all (then any) have."""
    from workbench.engine.metrics import get_metric
    from workbench.jobs.bench import ACCURACY_FIELD

    chosen = {d.get("decision_metric") for d in details}
    candidates = [*chosen] if len(chosen) == 1 and None not in chosen else []
    candidates += [m for m in _FALLBACK if m not in candidates]
    has = [m for m in candidates if m in ACCURACY_FIELD]
    name = next(
        (m for m in has if details and all(d.get(ACCURACY_FIELD[m]) is not None for d in details)),
        next((m for m in has if any(d.get(ACCURACY_FIELD[m]) is not None for d in details)), SQNR),
    )
    metric = get_metric(name)
    if name in _PERCENT:
        return ACCURACY_FIELD[name], f"{metric.label} (%)", 100.0
    if not metric.higher_is_better:  # plotted negated, so up is better as on every plot
        return ACCURACY_FIELD[name], f"-{metric.label} (up is better)", -1.0
    unit = f" ({metric.loss_unit})" if metric.minimum else ""
    return ACCURACY_FIELD[name], f"{metric.label} vs float{unit}", 1.0


def tradeoff(store: Store, run_ids: Sequence[int]) -> Tradeoff:
    """The succeeded benchmark runs among ``run_ids`` as accuracy/size/init points."""
    from workbench.jobs.browse import run_view

    views = []
    for run_id in run_ids:
        view = run_view(store, run_id)
        if view.detail.kind == BENCH and view.detail.status == SUCCEEDED:
            views.append(view)
    return tradeoff_of(views)


def tradeoff_of(views: Sequence[Any]) -> Tradeoff:
    """``tradeoff`` from run views (``browse.RunView``) already loaded."""
    details = [v.detail.details for v in views]
    key, metric, scale = _plotted_metric(details)
    device = any(d.get("device_init_ms") is not None for d in details)
    points = []
    for view, d in zip(views, details, strict=True):
        init = d.get("device_init_ms") if device else d.get("init_time_ms")
        value = d.get(key)
        container = view.container
        points.append(
            Point(
                run_id=view.detail.id,
                container=PurePath(container.path).name if container else "?",
                runtime=f"{d.get('runtime')}{' fxp' if d.get('cpu_fxp') else ''}",
                quantized=container.quantized if container else None,
                size_bytes=d.get("container_size_bytes") or (container.size_bytes if container else None),
                init_ms=init,
                accuracy=None if value is None else value * scale,
            )
        )  # fmt: skip
    if key == "sqnr_db":  # "exact" (the float container on the CPU) is at the cap
        finite = [p.accuracy for p in points if p.accuracy is not None and p.accuracy < _EXACT_DB]
        top = max(finite, default=0.0) + 10.0
        points = [
            p if p.accuracy is None or p.accuracy < _EXACT_DB else _replace(p, accuracy=top)
            for p in points
        ]
    return Tradeoff(metric, "device init (ms)" if device else "init (ms)", tuple(points))


def _replace(p: Point, **changes: Any) -> Point:
    from dataclasses import replace

    return replace(p, **changes)
