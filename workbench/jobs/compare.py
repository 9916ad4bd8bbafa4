"""Comparing runs side by side: metrics, their directions, deltas, Markdown and CSV.

Pure: takes plain records (``RunRecord``), returns values; no store, no UI. The
first record is the baseline: every other run is measured against it. A metric
has a direction (``lower`` or ``higher`` is better) or none (a setting such as
the runtime or the quantizer, which is only ever "changed"). The TUI's compare
screen and ``workbench runs compare`` both render a ``Comparison``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.textsafe import visible
from workbench.vocabulary import format_bytes, format_db

LOWER, HIGHER = "lower", "higher"
BETTER, WORSE, SAME, CHANGED = "better", "worse", "same", "changed"
_REL_TOL = 1e-9


@dataclass(frozen=True)
class Metric:
    """One compared quantity. ``unit`` picks the formatting (see ``format_value``)."""

    key: str
    label: str
    unit: str = "text"  # text, bool, int, float, ms, s, bytes, db, fraction
    better: str | None = None  # LOWER, HIGHER, or None for settings

    @property
    def relative_delta(self) -> bool:
        """Times, memory and sizes compare as ratios; dB, fractions and counts absolutely."""
        return self.unit in ("ms", "s", "bytes")


METRICS: tuple[Metric, ...] = (
    Metric("kind", "kind"),
    Metric("status", "status"),
    Metric("model", "model"),
    Metric("container", "container"),
    Metric("quantized", "quantized container", "bool"),
    # quantization settings
    Metric("param_quantizer", "param quantizer"),
    Metric("act_quantizer", "act quantizer"),
    Metric("weights_bitwidth", "weights bitwidth", "int"),
    Metric("act_bitwidth", "act bitwidth", "int"),
    Metric("bias_bitwidth", "bias bitwidth", "int"),
    Metric("per_channel", "per-channel", "bool"),
    Metric("algorithms", "algorithms"),
    Metric("percentile", "percentile", "float"),
    Metric("enable_hta", "HTA records", "bool"),
    Metric("calibration_samples", "calibration samples", "int"),
    # benchmark settings
    Metric("runtime", "runtime"),
    Metric("mode", "mode"),
    Metric("cpu_fxp", "CPU fixed point", "bool"),
    Metric("batch", "batch", "int"),
    Metric("iterations", "iterations", "int"),
    # debug settings and findings
    Metric("samples", "samples compared", "int"),
    Metric("metric", "contribution metric"),
    Metric("first_divergent_layer", "first divergent layer"),
    Metric("cause", "its cause"),
    # results
    Metric("sqnr_db", "SQNR vs float", "db", HIGHER),
    Metric("weights_only_sqnr_db", "SQNR weights only", "db", HIGHER),
    Metric("activations_only_sqnr_db", "SQNR activations only", "db", HIGHER),
    Metric("fake_quant_sqnr_db", "SQNR fake-quant", "db", HIGHER),
    Metric("cosine", "cosine", "float", HIGHER),
    Metric("max_abs_err", "max abs error", "float", LOWER),
    Metric("top1_agreement", "top-1 agreement", "fraction", HIGHER),
    Metric("label_accuracy", "label accuracy", "fraction", HIGHER),
    Metric("init_time_ms", "init time", "ms", LOWER),
    Metric("init_peak_bytes", "init peak memory", "bytes", LOWER),
    Metric("latency_mean_ms", "latency mean", "ms", LOWER),
    Metric("latency_p50_ms", "latency p50", "ms", LOWER),
    Metric("latency_p90_ms", "latency p90", "ms", LOWER),
    Metric("latency_min_ms", "latency min", "ms", LOWER),
    Metric("size_bytes", "container size", "bytes", LOWER),
    Metric("duration_s", "run time", "s", LOWER),
    Metric("peak_memory_bytes", "peak memory", "bytes", LOWER),
)
METRICS_BY_KEY = {m.key: m for m in METRICS}


@dataclass(frozen=True)
class LayerPoint:
    """A layer's output SQNR in one quantization run."""

    index: int
    name: str
    op_type: str
    sqnr_db: float | None


@dataclass(frozen=True)
class RunRecord:
    """What is compared of one run: metric key -> value, and its per-layer SQNR."""

    id: int
    label: str
    values: Mapping[str, Any]
    layers: tuple[LayerPoint, ...] = ()


@dataclass(frozen=True)
class Delta:
    value: float  # this run minus the baseline
    relative: float | None  # value / |baseline|; None when the baseline is 0
    verdict: str  # BETTER, WORSE, SAME or CHANGED (no direction)


@dataclass(frozen=True)
class Cell:
    value: Any
    text: str
    changed: bool  # differs from the baseline (never for the baseline itself)
    delta: Delta | None = None


@dataclass(frozen=True)
class Row:
    metric: Metric
    cells: tuple[Cell, ...]  # one per run, the baseline first

    @property
    def changed(self) -> bool:
        return any(c.changed for c in self.cells[1:])


@dataclass(frozen=True)
class LayerOverlay:
    """Per-layer SQNR of several runs, aligned by layer name."""

    run_ids: tuple[int, ...]  # the runs that have layer stats, baseline first if it has
    layers: tuple[tuple[str, str], ...]  # (name, op type) in network order
    values: tuple[tuple[float | None, ...], ...]  # values[layer][run]


@dataclass(frozen=True)
class Comparison:
    runs: tuple[RunRecord, ...]  # the baseline first
    rows: tuple[Row, ...]  # metrics that at least one run has
    layers: LayerOverlay | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def baseline(self) -> RunRecord:
        return self.runs[0]

    def visible_rows(self, diff_only: bool) -> tuple[Row, ...]:
        """All rows, or only those where some run differs from the baseline."""
        return tuple(r for r in self.rows if r.changed) if diff_only else self.rows


# -- building --------------------------------------------------------------------------------


def build_comparison(records: Sequence[RunRecord], baseline_id: int | None = None) -> Comparison:
    """Compare ``records`` against the one with ``baseline_id`` (default: the first).

    The baseline comes first in the result; the others keep their order.
    """
    if not records:
        raise ValueError("nothing to compare")
    ids = [r.id for r in records]
    if baseline_id is None:
        baseline_id = ids[0]
    if baseline_id not in ids:
        raise ValueError(f"baseline {baseline_id} is not among the compared runs")
    ordered = [r for r in records if r.id == baseline_id]
    ordered += [r for r in records if r.id != baseline_id]
    base = ordered[0]
    rows = []
    for metric in METRICS:
        values = [r.values.get(metric.key) for r in ordered]
        if all(v is None for v in values):
            continue
        ref = values[0]
        cells = [Cell(ref, format_value(metric, ref), False)]
        for value in values[1:]:
            delta = compute_delta(metric, ref, value)
            changed = delta.verdict != SAME if delta is not None else not _equal(ref, value)
            cells.append(Cell(value, format_value(metric, value), changed, delta))
        rows.append(Row(metric, tuple(cells)))
    return Comparison(
        runs=tuple(ordered),
        rows=tuple(rows),
        layers=layer_overlay(ordered),
        notes=(f"baseline: run {base.id}",),
    )


def compute_delta(metric: Metric, baseline: Any, value: Any) -> Delta | None:
    """The difference of a numeric ``value`` from ``baseline``; None if not both numbers."""
    if not (_is_number(baseline) and _is_number(value)):
        return None
    diff = float(value) - float(baseline)
    scale = max(abs(float(baseline)), abs(float(value)), 1e-300)
    if abs(diff) <= _REL_TOL * scale:
        return Delta(0.0, 0.0, SAME)
    relative = diff / abs(float(baseline)) if baseline != 0 else None
    if metric.better == LOWER:
        verdict = BETTER if diff < 0 else WORSE
    elif metric.better == HIGHER:
        verdict = BETTER if diff > 0 else WORSE
    else:
        verdict = CHANGED
    return Delta(diff, relative, verdict)


def layer_overlay(records: Sequence[RunRecord]) -> LayerOverlay | None:
    """The per-layer SQNR of the runs that have it, aligned by layer name."""
    with_layers = [r for r in records if r.layers]
    if not with_layers:
        return None
    order: dict[str, str] = {}
    for record in with_layers:
        for point in sorted(record.layers, key=lambda p: p.index):
            order.setdefault(point.name, point.op_type)
    by_run = [{p.name: p.sqnr_db for p in r.layers} for r in with_layers]
    return LayerOverlay(
        run_ids=tuple(r.id for r in with_layers),
        layers=tuple(order.items()),
        values=tuple(tuple(m.get(name) for m in by_run) for name in order),
    )


def worst_layers(layers: Sequence[LayerPoint], count: int = 5) -> list[LayerPoint]:
    """The ``count`` layers with the lowest SQNR (layers without one are skipped)."""
    measured = [p for p in layers if p.sqnr_db is not None]
    return sorted(measured, key=lambda p: (p.sqnr_db, p.index))[:count]


# -- formatting ------------------------------------------------------------------------------


def format_value(metric: Metric, value: Any) -> str:
    """A value as a person reads it: units, sizes in KiB/MiB, fractions in %."""
    if value is None:
        return "-"
    unit = metric.unit
    if isinstance(value, bool) or unit == "bool":
        return "yes" if value else "no"
    if not _is_number(value):
        return str(value) if value != "" else "-"
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if unit == "ms":
        return f"{v:.3g} ms" if v < 10 else f"{v:.1f} ms"
    if unit == "s":
        return f"{v:.2f} s" if v < 60 else f"{int(v // 60)}m{v % 60:02.0f}s"
    if unit == "bytes":
        return format_bytes(int(v))
    if unit == "db":
        return format_db(v)
    if unit == "fraction":
        return f"{v * 100:.1f}%"
    if unit == "int":
        return f"{int(v)}"
    return f"{v:.4g}"


def format_delta(metric: Metric, delta: Delta | None) -> str:
    """``+1.20 dB``, ``-8.1%``, ``+2.0 pp``; empty when there is no numeric delta."""
    if delta is None or delta.verdict == SAME:
        return ""
    if metric.relative_delta:
        if delta.relative is None:
            return _signed(delta.value, metric)
        return f"{delta.relative * 100:+.1f}%"
    return _signed(delta.value, metric)


def _signed(diff: float, metric: Metric) -> str:
    if metric.unit == "db":
        return f"{diff:+.2f} dB"
    if metric.unit == "fraction":
        return f"{diff * 100:+.1f} pp"
    if metric.unit == "int":
        return f"{int(round(diff)):+d}"
    if metric.unit == "bytes":
        sign = "+" if diff >= 0 else "-"
        return sign + format_bytes(int(abs(diff)))
    if metric.unit == "ms":
        return f"{diff:+.3g} ms"
    if metric.unit == "s":
        return f"{diff:+.2f} s"
    return f"{diff:+.4g}"


def cell_text(row: Row, index: int) -> str:
    """A cell with its delta and verdict, as plain text (Markdown, terminals)."""
    cell = row.cells[index]
    delta = format_delta(row.metric, cell.delta)
    if not delta:
        return cell.text
    verdict = cell.delta.verdict if cell.delta else ""
    if verdict in (BETTER, WORSE):
        return f"{cell.text} ({delta}, {verdict})"
    return f"{cell.text} ({delta})"


def run_heading(record: RunRecord, baseline: bool) -> str:
    head = f"#{record.id} {record.label}".strip()
    return f"{head} (baseline)" if baseline else head


# -- export ----------------------------------------------------------------------------------


def to_markdown(comparison: Comparison, *, diff_only: bool = True) -> str:
    """The comparison as Markdown tables (metrics, then per-layer SQNR if any)."""
    runs = comparison.runs
    headers = ["metric", *(run_heading(r, i == 0) for i, r in enumerate(runs))]
    lines = [
        f"## Comparison against run {comparison.baseline.id}",
        "",
        _md_row(headers),
        _md_row(["---", *("---:" for _ in runs)]),
    ]
    rows = comparison.visible_rows(diff_only)
    for row in rows:
        lines.append(_md_row([row.metric.label, *(cell_text(row, i) for i in range(len(runs)))]))
    if not rows:
        lines.append(_md_row(["(no differences)", *("" for _ in runs)]))
    overlay = comparison.layers
    if overlay is not None:
        lines += ["", "### Per-layer SQNR (dB)", ""]
        lines.append(_md_row(["layer", "type", *(f"#{i}" for i in overlay.run_ids)]))
        lines.append(_md_row(["---", "---", *("---:" for _ in overlay.run_ids)]))
        for (name, op), values in zip(overlay.layers, overlay.values, strict=True):
            cells = ["-" if v is None else f"{v:.2f}" for v in values]
            lines.append(_md_row([name, op, *cells]))
    if diff_only:
        lines += ["", "Only metrics that differ from the baseline are shown."]
    return "\n".join(lines) + "\n"


def to_csv(comparison: Comparison, *, diff_only: bool = True) -> str:
    """One row per metric: raw values per run, then each run's delta and verdict."""
    out = io.StringIO()
    writer = _VisibleWriter(csv.writer(out, lineterminator="\n"))
    runs = comparison.runs
    header = ["metric", "unit", "better"]
    header += [f"run {r.id}" for r in runs]
    for r in runs[1:]:
        header += [f"run {r.id} delta", f"run {r.id} verdict"]
    writer.writerow(header)
    for row in comparison.visible_rows(diff_only):
        line: list[Any] = [row.metric.key, row.metric.unit, row.metric.better or ""]
        line += [_csv_value(c.value) for c in row.cells]
        for cell in row.cells[1:]:
            if cell.delta is not None:
                line += [f"{cell.delta.value:.10g}", cell.delta.verdict]
            else:
                line += ["", CHANGED if cell.changed else SAME]
        writer.writerow(line)
    return out.getvalue()


class _VisibleWriter:
    """A csv writer whose text cells have their control characters shown escaped."""

    def __init__(self, writer: Any):
        self._writer = writer

    def writerow(self, row: Sequence[Any]) -> None:
        self._writer.writerow([visible(c) if isinstance(c, str) else c for c in row])


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.10g}"
    return value


def _md_row(cells: Sequence[str]) -> str:
    # Names come from the store: control characters are shown escaped, never emitted.
    return "| " + " | ".join(visible(str(c)).replace("|", "\\|") for c in cells) + " |"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    return a == b
