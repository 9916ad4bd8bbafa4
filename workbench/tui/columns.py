"""The columns of every paged table: key (also the sort key), label, width, renderer.

The essential columns come first so that they fit in 80 columns; the rest
scroll into view to the right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich.text import Text

from workbench.jobs.browse import ExperimentRow, ModelRow, RunRow
from workbench.jobs.projects import ProjectInfo
from workbench.tui import format as fmt
from workbench.vocabulary import REFUSED, SUCCEEDED

T = TypeVar("T")
MARK, STAR, BASELINE = "●", "★", "◆"


@dataclass(frozen=True)
class Column(Generic[T]):
    key: str  # the sort key given to the browse query
    label: str
    render: Callable[[T], Any]
    width: int | None = None


def _flags(marked: Callable[[int], bool]) -> Callable[[RunRow], Text]:
    def render(row: RunRow) -> Text:
        text = Text()
        text.append(MARK if marked(row.id) else " ", style="bold magenta")
        text.append(STAR if row.starred else " ", style="bold yellow")
        text.append(BASELINE if row.baseline else " ", style="bold cyan")
        return text

    return render


def _tags(row: RunRow) -> str:
    return " ".join(row.tags) or fmt.DASH


def _scheme(row: RunRow) -> str:
    if row.param_quantizer is None:
        return fmt.DASH
    if row.act_quantizer in (None, row.param_quantizer):
        return row.param_quantizer
    return f"{row.param_quantizer}/{row.act_quantizer}"


def _bits(row: RunRow) -> str:
    parts = (row.weights_bitwidth, row.act_bitwidth, row.bias_bitwidth)
    return "/".join("?" if p is None else str(p) for p in parts)


def _options(row: RunRow) -> str:
    words = []
    if row.per_channel:
        words.append("pc")
    if row.algorithms:
        words.append(row.algorithms)
    if row.enable_hta:
        words.append("hta")
    return " ".join(words) or fmt.DASH


def _runtime(row: RunRow) -> str:
    return f"{row.runtime}{' fxp' if row.cpu_fxp else ''}" if row.runtime else fmt.DASH


def _container(width: int) -> Callable[[RunRow], str]:
    """The container's file name, cut in the middle to ``width``: the part that tells
    ``demo_tf_bias8.dlc`` from ``demo_tf_bias32.dlc`` stays."""

    def render(row: RunRow) -> str:
        name = row.container_name
        if name is None:
            return fmt.DASH
        stem = name[: -len(".dlc")] if name.endswith(".dlc") else name  # every one is a .dlc
        return fmt.middle(stem, width)

    return render


def quantize_columns(marked: Callable[[int], bool]) -> list[Column[RunRow]]:
    return [
        Column("starred", "", _flags(marked), 3),
        Column("id", "id", lambda r: r.id, 5),
        Column("status", "status", lambda r: fmt.status(r.status), 11),
        Column("container", "output", _container(18), 18),
        Column("scheme", "scheme", _scheme, 8),
        Column("bits", "w/a/b", _bits, 7),
        Column("sqnr", "SQNR", lambda r: fmt.db(r.sqnr_db), 6),
        Column("took", "took", lambda r: fmt.seconds(r.duration_s), 6),
        Column("model", "model", lambda r: r.model or fmt.DASH, 12),
        Column("started", "started", lambda r: fmt.when(r.started_at), 11),
        Column("tags", "tags", _tags, 16),
        Column("options", "options", _options, 12),
        Column("peak", "peak mem", lambda r: fmt.size(r.peak_memory_bytes), 10),
        Column("out_size", "size", lambda r: fmt.size(r.output_size_bytes), 10),
    ]


def bench_columns(marked: Callable[[int], bool]) -> list[Column[RunRow]]:
    return [
        Column("starred", "", _flags(marked), 3),
        Column("id", "id", lambda r: r.id, 5),
        Column("status", "status", lambda r: fmt.status(r.status), 11),
        Column("container", "container", _container(18), 18),
        Column("runtime", "runtime", _runtime, 8),
        Column("init", "init ms", lambda r: fmt.ms(r.init_time_ms), 7),
        Column("latency", "lat ms", lambda r: fmt.ms(r.latency_mean_ms), 6),
        Column("sqnr", "SQNR", lambda r: fmt.db(r.sqnr_db), 6),
        Column("model", "model", lambda r: r.model or fmt.DASH, 11),
        Column("p90", "p90 ms", lambda r: fmt.ms(r.latency_p90_ms), 6),
        Column("init_peak", "init peak", lambda r: fmt.size(r.init_peak_bytes), 10),
        Column("top1", "top-1", lambda r: fmt.percent(r.top1_agreement), 6),
        Column("batch", "batch", lambda r: fmt.number(r.batch), 5),
        Column("size", "size", lambda r: fmt.size(r.container_size_bytes), 10),
        Column("started", "started", lambda r: fmt.when(r.started_at), 11),
        Column("tags", "tags", _tags, 16),
    ]


def debug_columns(marked: Callable[[int], bool]) -> list[Column[RunRow]]:
    return [
        Column("starred", "", _flags(marked), 3),
        Column("id", "id", lambda r: r.id, 5),
        Column("status", "status", lambda r: fmt.status(r.status), 11),
        Column("container", "container", _container(12), 12),
        Column("runtime", "runtime", _runtime, 7),
        Column("first", "diverges first", lambda r: r.first_divergent_layer or fmt.DASH, 14),
        Column("cause", "cause", lambda r: r.cause or fmt.DASH, 14),
        Column("sqnr", "SQNR", lambda r: fmt.db(r.sqnr_db), 6),
        Column("model", "model", lambda r: r.model or fmt.DASH, 11),
        Column("started", "started", lambda r: fmt.when(r.started_at), 11),
        Column("tags", "tags", _tags, 16),
    ]


def model_columns() -> list[Column[ModelRow]]:
    return [
        Column("id", "id", lambda m: m.id, 4),
        Column("name", "name", lambda m: m.name, 18),
        Column("format", "format", lambda m: m.format, 6),
        Column("opset", "opset", lambda m: fmt.number(m.opset), 5),
        Column("params", "params", lambda m: fmt.count(m.param_count), 7),
        Column("macs", "MACs", lambda m: fmt.count(m.macs), 7),
        Column("containers", "ctrs q", lambda m: f"{m.containers} {m.quantized_containers}", 6),
        Column("runs", "runs", lambda m: m.runs, 5),
        Column("created", "created", lambda m: fmt.when(m.created_at), 11),
    ]


def experiment_columns() -> list[Column[ExperimentRow]]:
    return [
        Column("name", "name", lambda e: e.name, 24),
        Column("runs", "runs", lambda e: e.runs, 5),
        Column("created", "created", lambda e: fmt.when(e.created_at), 11),
        Column("note", "note", lambda e: e.note or fmt.DASH, 30),
    ]


def sweep_columns() -> list[Column[Any]]:
    """The sweeps tab (``SweepInfo`` rows)."""
    return [
        Column("name", "name", lambda s: s.name, 20),
        Column("status", "status", lambda s: fmt.status(s.status), 11),
        Column("cells", "cells", lambda s: s.cells, 5),
        Column("succeeded", "ok", lambda s: s.counts[SUCCEEDED], 4),
        Column("left", "left", lambda s: s.cells - s.counts[SUCCEEDED] - s.counts[REFUSED], 5),
        Column("metric", "metric", lambda s: s.metric, 7),
        Column("started", "started", lambda s: fmt.when(s.started_at), 11),
        Column("executor", "executor", lambda s: s.executor, 8),
    ]


def project_columns() -> list[Column[ProjectInfo]]:
    return [
        Column("name", "name", lambda p: p.name, 22),
        Column("runs", "runs", lambda p: f"{p.runs:,}", 7),
        Column("models", "models", lambda p: p.models, 6),
        Column("containers", "ctrs", lambda p: p.containers, 5),
        Column("experiments", "expts", lambda p: p.experiments, 5),
        Column("created", "created", lambda p: fmt.when(p.created_at), 11),
        Column("archived", "archived", lambda p: "archived" if p.archived else "", 8),
    ]
