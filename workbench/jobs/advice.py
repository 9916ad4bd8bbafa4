"""The advisor's table and recommendations, built from bench rows of two containers.

One row per runtime (and ``cpu --cpu-fxp``), one cell per container: compatibility, the
device-equivalent init time and peak (what the device also does: read and deserialize
the file, convert parameters, load HTA records; the emulator's own setup is shown
apart), file size and accuracy against the float container on the model's decision
metric. Then one recommendation per runtime, with its reasons:

* a runtime that refuses float containers (AIP): the quantized container, the only one;
* a runtime whose native format is quantized (DSP): the quantized container (a float one
  is converted at init), with a warning when it misses the accuracy threshold;
* a float-native runtime with a fixed-point mode (CPU, ``--cpu-fxp``): the quantized
  container in that mode when it meets the threshold on the decision metric; otherwise
  the float one;
* any other float-native runtime (GPU, GPU fp16): the float container; the quantized
  one is converted at init and only buys a smaller file.

A runtime whose outputs are not finite (fp16 overflow) has no usable accuracy: the
advisor says so and refuses it when neither container is usable there. Where a
measurement disagrees with the guide's init statements (a float file read on the CPU
can cost more than dequantizing), the advisor names the phase that decided it.

The decision metric is the model's (``jobs.metric_choice``); with labels, a
classification model is judged by its label accuracy. The threshold
(``--max-accuracy-drop``) is in that metric's unit, or the metric's own default. Rows,
compatibility, conversion phases and policy come from the runtimes' declarations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine.container import read_container
from workbench.engine.metrics import Metric, get_metric, propose_metric
from workbench.engine.runtimes import KindRule, Runtime, get_runtime, runtimes
from workbench.engine.runtimes.spec import FILE_PHASES, QUANTIZED, REFUSE
from workbench.errors import BadInput
from workbench.jobs.bench import ACCURACY_FIELD, BenchResult, BenchRow
from workbench.vocabulary import (
    FAILED,
    LABEL_ACCURACY,
    REFERENCE_RUNTIME,
    REFUSED,
    SQNR,
    SUCCEEDED,
    TOP1,
    format_bytes,
    is_exact_db,
)

FLOAT, QUANTIZED_CHOICE, REFUSED_CHOICE = "float", "quantized", "refused"
DEVICE_FIGURES = (
    "init figures are device-equivalent: reading and deserializing the file, converting "
    "parameters, loading HTA records (the emulator's own setup shown apart)"
)
DEQUANTIZED_FROM = "dequantized_from"  # converter entry of a float container made by advise


def table_rows() -> tuple[tuple[str, str, bool], ...]:
    """Rows of the table: (label, runtime, cpu_fxp for the quantized cell), per runtime."""
    return tuple(
        (rule.label or rt.label, rt.name, fxp) for rt in runtimes() for fxp, rule in rt.modes()
    )


@dataclass(frozen=True)
class Cell:
    """One container on one runtime, as the table shows it."""

    status: str  # succeeded | failed | refused | n/a
    compatibility: str
    mode: str | None = None
    init_ms: float | None = None  # the whole init, emulator setup included
    create_ms: float | None = None
    conversion_ms: float | None = None  # dequantize / quantize / cast_fp16 at init
    init_peak_bytes: int | None = None
    size_bytes: int | None = None
    size_without_records: int | None = None
    sqnr_db: float | None = None
    top1_agreement: float | None = None
    label_accuracy: float | None = None
    latency_ms: float | None = None
    error: str | None = None
    run_id: int | None = None
    device_init_ms: float | None = None  # what the device also does (file, conversions)
    device_init_peak_bytes: int | None = None
    emulator_setup_ms: float | None = None
    accuracy: dict[str, Any] = field(default_factory=dict)  # every metric, as bench's row
    nonfinite_values: int | None = None
    finding: str | None = None  # non-finite outputs, in the runtime's words
    init_breakdown_ms: dict[str, float] = field(default_factory=dict)
    init_peak_breakdown_bytes: dict[str, int] | None = None
    reference_absmax: float | None = None
    reference_scale: float | None = None  # default error budgets are a percent of this

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def unusable(self) -> bool:
        """It ran, but some outputs were not finite: no accuracy to decide by."""
        return self.ok and bool(self.nonfinite_values)

    def value(self, metric: str) -> float | None:
        return self.accuracy.get(ACCURACY_FIELD[metric]) if self.ok else None

    def lines(self, metric: str | None = None) -> list[str]:
        """The cell as short lines of text (CLI and TUI); ``metric`` first among accuracies."""
        out = [self.compatibility]
        if not self.ok:
            if self.error and self.status == FAILED:
                out.append(self.error)
            return out
        device = self.device_init_ms if self.device_init_ms is not None else self.init_ms
        init = f"device init {_ms(device)}"
        if self.emulator_setup_ms is not None:
            init += f" (+{_ms(self.emulator_setup_ms)} emulator setup)"
        out.append(init)
        peak = self.device_init_peak_bytes
        out.append(
            f"device init peak {format_bytes(peak if peak is not None else self.init_peak_bytes)}"
        )
        size = f"file {format_bytes(self.size_bytes)}"
        if self.size_without_records is not None and self.size_without_records != self.size_bytes:
            size += f" ({format_bytes(self.size_without_records)} without HTA records)"
        out.append(size)
        if self.unusable:
            out.append(f"accuracy unusable: {self.finding or 'non-finite outputs'}")
            return out
        acc = []
        if metric is not None and metric != SQNR and self.value(metric) is not None:
            m = get_metric(metric)
            acc.append(f"{m.label} {m.show(self.value(metric))}")
        if self.sqnr_db is not None:
            acc.append("SQNR exact" if is_exact_db(self.sqnr_db) else f"SQNR {self.sqnr_db:.1f} dB")
        if metric is None and self.top1_agreement is not None:
            acc.append(f"top-1 agree {self.top1_agreement:.1%}")
        if self.label_accuracy is not None and metric != LABEL_ACCURACY:
            acc.append(f"accuracy {self.label_accuracy:.1%}")
        if acc:
            out.append(", ".join(acc))
        return out


@dataclass(frozen=True)
class AdviceRow:
    label: str
    runtime: str
    cpu_fxp: bool
    quantized: Cell
    float: Cell


@dataclass(frozen=True)
class Recommendation:
    runtime: str
    choice: str  # "float" | "quantized" | "refused"
    reasons: tuple[str, ...]
    cpu_fxp: bool = False  # the quantized container in fixed-point mode (--cpu-fxp)
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "quantized --cpu-fxp" if self.cpu_fxp else self.choice


@dataclass(frozen=True)
class Advice:
    """The table and the recommendations; ``metric`` is what they were decided by."""

    metric: str
    threshold: float
    float_container: str
    quantized_container: str
    rows: tuple[AdviceRow, ...]
    recommendations: tuple[Recommendation, ...]
    max_accuracy_drop: float | None = None  # as asked (None: the metric's default)
    threshold_rule: str = ""  # "top-1 agreement loss <= 1.0 pts"
    model_metric: str | None = None  # the model's decision metric, and why
    metric_reason: str = ""
    reference_note: str | None = None  # the float reference is the dequantized network
    init_figures: str = DEVICE_FIGURES

    def lines(self, cell: Cell) -> list[str]:
        return cell.lines(self.metric)

    def header(self) -> list[str]:
        """What the table was decided by, for people (CLI and TUI)."""
        why = f" ({self.metric_reason})" if self.metric_reason else ""
        out = [f"decided by {self.metric}{why}; threshold: {self.threshold_rule}"]
        if self.reference_note:
            out.append(self.reference_note)
        out.append(self.init_figures)
        return out


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class _Judge:
    """The decision metric, its threshold, and the float reference cell."""

    metric: Metric
    threshold: float
    reference: Cell

    def loss(self, cell: Cell) -> float | None:
        if cell.unusable:
            return None
        value = cell.value(self.metric.name)
        if value is None:
            return None
        return self.metric.loss(value, self.reference.value(self.metric.name))

    def passes(self, cell: Cell) -> bool | None:
        return self.metric.passes(self.loss(cell), self.threshold)

    def text(self, cell: Cell) -> str:
        """``top-1 agreement 98.4% (loss 1.6 pts)``; ``SQNR 23.10 dB``."""
        m = self.metric
        value = cell.value(m.name)
        if cell.unusable:
            return f"accuracy unusable ({cell.finding or 'non-finite outputs'})"
        if value is None:
            return f"{m.label} not measured"
        if m.minimum:
            return f"{m.label} {m.show(value)}"
        loss = self.loss(cell)
        lost = (
            f" (loss {m.show_loss(loss)})"
            if loss is not None and m.show(value) != m.show_loss(loss)
            else ""
        )
        return f"{m.label} {m.show(value)}{lost}"


def build_advice(
    bench: BenchResult,
    float_path: str | Path,
    quantized_path: str | Path,
    max_accuracy_drop: float | None = None,
    *,
    metric: str | None = None,
    metric_reason: str | None = None,
) -> Advice:
    """The table and the recommendations from bench rows of the two containers."""
    if max_accuracy_drop is not None and not max_accuracy_drop >= 0:
        raise BadInput(f"--max-accuracy-drop must be >= 0, got {max_accuracy_drop}")
    fpath, qpath = str(Path(float_path)), str(Path(quantized_path))
    records = _records_bytes(qpath)
    by_key = {(r.container, r.runtime, r.cpu_fxp): r for r in bench.rows}
    rows = []
    for label, runtime, fxp in table_rows():
        q = _cell(by_key.get((qpath, runtime, fxp)), records)
        if fxp:
            f = Cell(
                status="n/a", compatibility="n/a: fixed-point mode is for quantized containers"
            )
        else:
            f = _cell(by_key.get((fpath, runtime, False)), 0)
        rows.append(AdviceRow(label, runtime, fxp, q, f))
    cells = {(r.runtime, r.cpu_fxp): r for r in rows}
    model_metric = metric or bench.metric or _row_metric(bench.rows) or _proposed(fpath, rows)
    reason = metric_reason if metric_reason is not None else (bench.metric_reason or "")
    reference = cells[(REFERENCE_RUNTIME, False)].float
    deciding, why = _deciding_metric(model_metric, reason, reference)
    m = get_metric(deciding)
    threshold = (
        max_accuracy_drop
        if max_accuracy_drop is not None
        else m.default_threshold(
            reference.reference_scale
            if reference.reference_scale is not None
            else reference.reference_absmax or 0.0
        )
    )
    judge = _Judge(m, threshold, reference)
    recs = tuple(_recommend(rt, cells, judge) for rt in runtimes())
    return Advice(
        metric=deciding,
        threshold=threshold,
        float_container=fpath,
        quantized_container=qpath,
        rows=tuple(rows),
        recommendations=recs,
        max_accuracy_drop=max_accuracy_drop,
        threshold_rule=m.rule(threshold),
        model_metric=model_metric,
        metric_reason=why,
        reference_note=_reference_note(fpath),
    )


def _row_metric(rows: tuple[BenchRow, ...]) -> str | None:
    return next((r.metric for r in rows if r.metric), None)


def _proposed(float_path: str, rows: list[AdviceRow]) -> str:
    """Rows stored before models had a decision metric: propose one from the float
    container's outputs, else (file gone) top-1 when it was measured, else SQNR."""
    try:
        graph = read_container(float_path, load_params=False).graph
    except Exception:  # noqa: BLE001 - a missing file: judge by what was measured
        measured = any(r.float.top1_agreement is not None for r in rows)
        return TOP1 if measured else SQNR
    return propose_metric(graph).metric


def _deciding_metric(metric: str, reason: str, reference: Cell) -> tuple[str, str]:
    """The metric to decide by: the model's; with labels, label accuracy for a classifier."""
    has_labels = reference.label_accuracy is not None
    if metric == TOP1 and has_labels:
        return LABEL_ACCURACY, f"{reason}; labels given → label-accuracy".lstrip("; ")
    if metric == LABEL_ACCURACY and not has_labels:
        return TOP1, f"{reason}; no labels → top1".lstrip("; ")
    return metric, reason


def _reference_note(float_path: str) -> str | None:
    try:
        head = read_container(float_path, load_params=False)
    except Exception:  # noqa: BLE001 - a missing file only loses the note
        return None
    source = (head.manifest.get("converter") or {}).get(DEQUANTIZED_FROM)
    if not source:
        return None
    return (
        f"no float twin given: the float reference is {Path(source).name}'s own dequantized "
        f"network ({Path(float_path).name}), so accuracy is measured against the quantized "
        "model itself (give the float model with --float to measure the quantization loss)"
    )


def _records_bytes(path: str) -> int:
    try:
        head = read_container(path, load_params=False, load_records=False)
    except Exception:  # noqa: BLE001 - a missing file only loses the size detail
        return 0
    return sum(head.record_sizes.values())


def _rule(row: BenchRow) -> KindRule | None:
    """What the row's runtime declares for its container (None: a runtime not registered)."""
    try:
        return get_runtime(row.runtime).rule(row.quantized, row.cpu_fxp)
    except BadInput:
        return None


def _compatibility(row: BenchRow) -> str:
    if row.status == REFUSED:
        return f"refused: {row.error}"
    if row.status == FAILED:
        return FAILED
    rule = _rule(row)
    return rule.compatibility if rule is not None else "compatible"


def _conversion_ms(row: BenchRow) -> float | None:
    rule = _rule(row)
    conversion = rule.conversion if rule is not None else ()
    phases = [row.init_breakdown_ms[p] for p in conversion if p in row.init_breakdown_ms]
    return sum(phases) if phases else None


def _finding(row: BenchRow) -> str | None:
    if not row.nonfinite_values:
        return None
    note = next((n for n in row.notes if n.endswith(_UNUSABLE)), None)
    # The note without its ending: the cell and the reasons say "accuracy unusable" themselves.
    return (
        note[: -len(_UNUSABLE)]
        if note
        else (f"{row.nonfinite_values} non-finite output values on {row.runtime}")
    )


_UNUSABLE = ": accuracy unusable"  # how measure ends a non-finite finding's note


def _cell(row: BenchRow | None, records: int) -> Cell:
    if row is None:
        return Cell(status="n/a", compatibility="not measured")
    lat = row.latency_ms or {}
    acc = row.accuracy or {}
    return Cell(
        status=row.status,
        compatibility=_compatibility(row),
        mode=row.mode,
        init_ms=row.init_ms,
        create_ms=row.create_ms,
        conversion_ms=_conversion_ms(row),
        init_peak_bytes=row.init_peak_bytes,
        size_bytes=row.size_bytes,
        size_without_records=(row.size_bytes - records) if records and row.quantized else None,
        sqnr_db=acc.get("sqnr_db"),
        top1_agreement=acc.get("top1_agreement"),
        label_accuracy=acc.get("label_accuracy"),
        latency_ms=lat.get("mean"),
        error=row.error,
        run_id=row.run_id,
        device_init_ms=row.device_init_ms,
        device_init_peak_bytes=row.device_init_peak_bytes,
        emulator_setup_ms=row.emulator_setup_ms,
        accuracy=dict(acc),
        nonfinite_values=row.nonfinite_values,
        finding=_finding(row),
        init_breakdown_ms=dict(row.init_breakdown_ms or {}),
        init_peak_breakdown_bytes=row.init_peak_breakdown_bytes,
        reference_absmax=row.reference_absmax,
        reference_scale=row.reference_scale,
    )


# --------------------------------------------------------------------------- recommendations


def _recommend(rt: Runtime, cells: dict, judge: _Judge) -> Recommendation:
    """The guide's choice for ``rt``, from what it declares and what was measured."""
    if rt.float.action == REFUSE:
        return _only_quantized(rt, cells, judge)
    if rt.native == QUANTIZED:
        return _prefer_quantized(rt, cells, judge)
    if rt.fixed_point is not None:
        return _fixed_point_if_accurate(rt, cells, judge)
    return _prefer_float(rt, cells, judge)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or a <= 0:
        return None
    return a / b


_WORDS = {
    "device init": ("faster", "slower"),
    "device init peak": ("lower", "higher"),
    "file": ("smaller", "larger"),
}


def _compare(what: str, q: float | None, f: float | None, unit: Callable) -> str | None:
    """'device init 3.1x faster (12 ms vs 37 ms)' from the quantized value q and float f."""
    r = _ratio(f, q)
    if r is None:
        return None
    better, worse = _WORDS[what]
    if 1 / 1.05 <= r <= 1.05:
        return f"{what} about the same ({unit(q)} vs {unit(f)})"
    if r >= 1:
        return f"{what} {r:.1f}x {better} ({unit(q)} vs {unit(f)})"
    return f"{what} {1 / r:.1f}x {worse} ({unit(q)} vs {unit(f)})"


def _size_q(q: Cell, use_records: bool) -> int | None:
    if not use_records and q.size_without_records is not None:
        return q.size_without_records
    return q.size_bytes


def _device_comparisons(q: Cell, f: Cell) -> list[str]:
    return [
        x
        for x in (
            _compare("device init", q.device_init_ms, f.device_init_ms, _ms),
            _compare(
                "device init peak", q.device_init_peak_bytes, f.device_init_peak_bytes, format_bytes
            ),
            _compare("file", _size_q(q, False), f.size_bytes, format_bytes),
        )
        if x
    ]


def _phase_verdict(rt: Runtime, q: Cell, f: Cell) -> list[str]:
    """Where the device figures disagree with the guide's init statement, the phase that
    decided it, with the numbers (the guide: the container converted at init has the
    longer init and the higher init peak)."""
    if not (q.ok and f.ok) or bool(rt.quantized.conversion) == bool(rt.float.conversion):
        return []
    converted_is_q = bool(rt.quantized.conversion)
    slow, fast = (q, f) if converted_is_q else (f, q)
    kind, other = ("quantized", "float") if converted_is_q else ("float", "quantized")
    rule = rt.quantized if converted_is_q else rt.float
    out = []
    if (
        slow.device_init_ms is not None
        and fast.device_init_ms is not None
        and slow.device_init_ms < fast.device_init_ms
    ):
        phase, a, b = _deciding_phase(slow.init_breakdown_ms, fast.init_breakdown_ms, rule)
        conv = slow.conversion_ms
        out.append(
            f"unlike the guide's longer init for the {kind} container, its device init is "
            f"shorter here ({_ms(slow.device_init_ms)} vs {_ms(fast.device_init_ms)}): "
            f"{phase} decided it ({_ms(a)} for the {kind} container vs {_ms(b)} for the "
            f"{other}{_size_note(phase, slow, fast)}), more than the "
            f"{_ms(conv)} spent {rule.converting}"
        )
    sp, fp = slow.device_init_peak_bytes, fast.device_init_peak_bytes
    if sp is not None and fp is not None and sp < fp:
        where = _peak_phase(fast.init_peak_breakdown_bytes)
        out.append(
            f"unlike the guide's higher init memory for the {kind} container, its device init "
            f"peak is lower here ({format_bytes(sp)} vs {format_bytes(fp)})"
            + (f": the {other} container peaks in {where}" if where else "")
            + _size_note(where or "", slow, fast)
        )
    return out


def _deciding_phase(
    slow: Mapping[str, float], fast: Mapping[str, float], rule: KindRule
) -> tuple[str, float, float]:
    """The device phase where the container expected to be slower gained the most."""
    phases = [
        p for p in dict.fromkeys([*slow, *fast]) if p in FILE_PHASES or rule.is_device_phase(p)
    ]
    return min(
        ((p, slow.get(p, 0.0), fast.get(p, 0.0)) for p in phases),
        key=lambda t: t[1] - t[2],
        default=("?", 0.0, 0.0),
    )


def _peak_phase(peaks: Mapping[str, int] | None) -> str | None:
    if not peaks:
        return None
    return max(peaks, key=lambda p: peaks[p])


def _size_note(phase: str, a: Cell, b: Cell) -> str:
    """For a file phase: how much larger one file is than the other."""
    if phase not in FILE_PHASES or not a.size_bytes or not b.size_bytes:
        return ""
    r = b.size_bytes / a.size_bytes
    return f"; the files are {format_bytes(a.size_bytes)} vs {format_bytes(b.size_bytes)}, {r:.1f}x"


def _threshold_reason(judge: _Judge, cell: Cell, who: str = "quantized") -> str:
    """'quantized: top-1 agreement 99.0% (loss 1.0 pts) meets top-1 agreement loss <= ...'"""
    verdict = judge.passes(cell)
    text = f"{who}: {judge.text(cell)}"
    if verdict is None:
        return text
    rule = judge.metric.rule(judge.threshold)
    return f"{text} {'meets' if verdict else 'misses'} {rule}"


def _unusable_choice(rt: Runtime, q: Cell, f: Cell) -> Recommendation | None:
    """A runtime where the preferred container's outputs are not finite."""
    findings = tuple(dict.fromkeys(c.finding or "non-finite outputs" for c in (q, f) if c.unusable))
    if not findings:
        return None
    if q.ok and not q.unusable and q.accuracy.get("usable"):
        return Recommendation(rt.name, QUANTIZED_CHOICE, ("the float container's accuracy is "
                              f"unusable here: {findings[0]}",))  # fmt: skip
    if f.ok and not f.unusable and f.accuracy.get("usable"):
        return Recommendation(rt.name, FLOAT, ("the quantized container's accuracy is "
                              f"unusable here: {findings[0]}",))  # fmt: skip
    return Recommendation(
        rt.name, REFUSED_CHOICE, tuple(f"accuracy unusable: {x}" for x in findings)
    )


def _fixed_point_if_accurate(rt: Runtime, cells: dict, judge: _Judge) -> Recommendation:
    """Float-native with a fixed-point mode (the CPU): fixed point if accurate enough."""
    row = cells[(rt.name, False)]
    q, f = row.quantized, row.float
    fxp = cells[(rt.name, True)].quantized
    if not fxp.ok:
        return Recommendation(
            rt.name, FLOAT, ("the quantized container did not run in fixed point",)
        )
    if not f.ok:
        return Recommendation(rt.name, QUANTIZED_CHOICE, ("the float container did not run",),
                              cpu_fxp=True)  # fmt: skip
    if fxp.unusable:
        return Recommendation(rt.name, FLOAT, (f"fixed point: accuracy unusable ({fxp.finding})",
                                               rt.float.advice))  # fmt: skip
    verdict = judge.passes(fxp)
    size = _compare("file", _size_q(fxp, False), f.size_bytes, format_bytes)
    init = _compare("device init", fxp.device_init_ms, f.device_init_ms, _ms)
    if verdict:
        reasons = [_threshold_reason(judge, fxp, "fixed point"), *(x for x in (size, init) if x)]
        if q.ok:
            deq = _compare("device init", fxp.device_init_ms, q.device_init_ms, _ms)
            if deq:
                reasons.append(f"vs {rt.quantized.converting} at init: {deq}")
        reasons += _phase_verdict(rt, q, f)
        return Recommendation(rt.name, QUANTIZED_CHOICE, tuple(reasons), cpu_fxp=True)
    reasons = (
        [_threshold_reason(judge, fxp, "fixed point")]
        if verdict is not None
        else [f"accuracy of the quantized container unknown ({judge.text(fxp)})"]
    )
    reasons.append(rt.float.advice)
    if size:
        reasons.append(f"quantized would save: {size}")
    reasons += _phase_verdict(rt, q, f)
    return Recommendation(rt.name, FLOAT, tuple(reasons))


def _prefer_float(rt: Runtime, cells: dict, judge: _Judge) -> Recommendation:
    """Float-native (the GPU): the float container; the quantized one is converted at init."""
    row = cells[(rt.name, False)]
    q, f = row.quantized, row.float
    if not f.ok:
        choice = QUANTIZED_CHOICE if q.ok else REFUSED_CHOICE
        return Recommendation(rt.name, choice, (f.compatibility,))
    unusable = _unusable_choice(rt, q, f)
    if unusable is not None:
        return unusable
    reasons = [rt.float.advice]
    if q.ok and q.conversion_ms is not None:
        reasons.append(
            f"the quantized container spends {_ms(q.conversion_ms)} "
            f"{rt.quantized.converting} at init"
        )
    if q.ok:
        init = _compare("device init", q.device_init_ms, f.device_init_ms, _ms)
        if init:
            reasons.append("quantized: " + init)
        reasons.append(_threshold_reason(judge, q))
        size = _compare("file", _size_q(q, False), f.size_bytes, format_bytes)
        if size:
            reasons.append(f"quantized only buys a smaller file: {size}")
    reasons += _phase_verdict(rt, q, f)
    return Recommendation(rt.name, FLOAT, tuple(reasons))


def _accuracy_warning(judge: _Judge, q: Cell, f: Cell | None = None) -> tuple[str, ...]:
    if judge.passes(q) is not False:
        return ()
    alternative = ""
    if f is not None and f.ok and not f.unusable and f.value(judge.metric.name) is not None:
        alternative = f"; the float container quantized at init gets {judge.text(f)}"
    return (
        f"the quantized container misses {judge.metric.rule(judge.threshold)} "
        f"({judge.text(q)}): check its accuracy before shipping it{alternative}",
    )


def _prefer_quantized(rt: Runtime, cells: dict, judge: _Judge) -> Recommendation:
    """Quantized-native (the DSP): the quantized container; a float one is converted at init."""
    row = cells[(rt.name, False)]
    q, f = row.quantized, row.float
    if not q.ok:
        return Recommendation(rt.name, FLOAT if f.ok else REFUSED_CHOICE, (q.compatibility,))
    if q.unusable:
        unusable = _unusable_choice(rt, q, f)
        if unusable is not None:
            return unusable
    reasons = [rt.quantized.advice]
    if f.ok and f.conversion_ms is not None:
        reasons.append(
            f"the float container spends {_ms(f.conversion_ms)} {rt.float.converting} at init"
        )
    if f.ok:
        reasons += _device_comparisons(q, f)
    reasons.append(_threshold_reason(judge, q))
    if f.ok and not f.unusable and judge.metric.name != SQNR:
        reasons.append(f"the float container quantized at init: {judge.text(f)}")
    if q.sqnr_db is not None and judge.metric.name != SQNR:
        reasons.append(f"SQNR vs float {_db(q.sqnr_db)}" + (
            f" (the float container quantized at init: {_db(f.sqnr_db)})"
            if f.ok and f.sqnr_db is not None else ""))  # fmt: skip
    reasons += _phase_verdict(rt, q, f)
    return Recommendation(
        rt.name, QUANTIZED_CHOICE, tuple(reasons), warnings=_accuracy_warning(judge, q, f)
    )


def _only_quantized(rt: Runtime, cells: dict, judge: _Judge) -> Recommendation:
    """A runtime that refuses float containers (the AIP): the quantized one or nothing."""
    q = cells[(rt.name, False)].quantized
    if not q.ok:
        return Recommendation(rt.name, REFUSED_CHOICE, (q.compatibility,))
    if q.unusable:
        return Recommendation(rt.name, REFUSED_CHOICE, (f"accuracy unusable: {q.finding}",))
    reasons = (rt.quantized.advice, _threshold_reason(judge, q))
    return Recommendation(rt.name, QUANTIZED_CHOICE, reasons, warnings=_accuracy_warning(judge, q))


# --------------------------------------------------------------------------- formatting


def _ms(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def _db(v: float | None) -> str:
    if v is None:
        return "-"
    return "exact" if is_exact_db(v) else f"{v:.1f} dB"
