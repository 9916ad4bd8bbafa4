"""Advise: the guide's quantized-vs-float table, filled with measured numbers, and a choice.

``advise_job`` quantizes the float container (``quantize --enable-hta``, so that AIP can
be measured too) unless a quantized container is given, benches both on every runtime
(the CPU also in fixed-point mode), and builds one row per runtime: a cell for the
quantized container and one for the float container (compatibility, init time and the
runtime's own share of it, init peak memory, file size, accuracy against the float
container on the CPU runtime), with a recommendation and its reasons. The runs are
saved as an experiment.

The recommendation follows the guide, checked against the measurements:

* a runtime that refuses float containers (AIP): the quantized container, the only one;
* a runtime whose native format is quantized (DSP): the quantized container (a float
  one is converted at init);
* a float-native runtime with a fixed-point mode (CPU, ``--cpu-fxp``): the quantized
  container in that mode when its accuracy loss is within ``max_accuracy_drop``
  (percentage points of label accuracy when labels are given, else of top-1 agreement
  with the float container); otherwise the float one;
* any other float-native runtime (GPU, GPU fp16): the float container; the quantized
  one is converted at init and only buys a smaller file.

The rows, the cells' compatibility and conversion time, and the policy all come from
the runtimes' declarations (``workbench.engine.runtimes``): a runtime registered there
is a row here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from workbench.engine.container import read_container
from workbench.engine.files import refuse_overwriting
from workbench.engine.runtimes import KindRule, Runtime, get_runtime, runtimes
from workbench.engine.runtimes.spec import QUANTIZED, REFUSE
from workbench.errors import BadInput
from workbench.jobs.bench import _ACCURACY_KEYS, BenchRequest, BenchResult, BenchRow, bench_job
from workbench.jobs.convert import workbench_command
from workbench.jobs.experiments import add_runs, create_experiment
from workbench.jobs.projects import ensure_project
from workbench.jobs.quantize import QuantizeRequest, quantize_job
from workbench.options import (
    DEFAULT_MAX_ACCURACY_DROP,
    AdviseOptions,
    BenchOptions,
    QuantOptions,
)
from workbench.store import BenchmarkRun, Run, Store
from workbench.store import Container as ContainerRow
from workbench.store.queries import finished_bench_runs, get_experiment, get_project, quantize_runs
from workbench.vocabulary import (
    DSP,
    FAILED,
    INTERRUPTED,
    REFERENCE_RUNTIME,
    REFUSED,
    SUCCEEDED,
    format_bytes,
    is_exact_db,
)

Progress = Callable[[str, int, int], None]


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
    init_ms: float | None = None
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

    def lines(self) -> list[str]:
        """The cell as short lines of text (CLI and TUI)."""
        out = [self.compatibility]
        if self.status != SUCCEEDED:
            if self.error and self.status == "failed":
                out.append(self.error)
            return out
        init = f"init {_ms(self.init_ms)}"
        if self.create_ms is not None:
            init += f" (create {_ms(self.create_ms)})"
        out.append(init)
        out.append(f"init peak {format_bytes(self.init_peak_bytes)}")
        size = f"file {format_bytes(self.size_bytes)}"
        if self.size_without_records is not None and self.size_without_records != self.size_bytes:
            size += f" ({format_bytes(self.size_without_records)} without HTA records)"
        out.append(size)
        acc = []
        if self.sqnr_db is not None:
            acc.append("SQNR exact" if is_exact_db(self.sqnr_db) else f"SQNR {self.sqnr_db:.1f} dB")
        if self.top1_agreement is not None:
            acc.append(f"top-1 agree {self.top1_agreement:.1%}")
        if self.label_accuracy is not None:
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
    choice: str  # "quantized" | "quantized --cpu-fxp" | "float" | "none"
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Advice:
    float_container: str
    quantized_container: str
    rows: tuple[AdviceRow, ...]
    recommendations: tuple[Recommendation, ...]
    max_accuracy_drop: float


@dataclass(frozen=True)
class AdviseResult:
    advice: Advice
    quantize_run_id: int | None
    run_ids: tuple[int, ...]
    experiment: str | None
    samples: int
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class AdviseRequest:
    """What ``advise_job`` is asked: the float container, the input list, the advise options
    (or a mapping of them), the quantizer's options when it quantizes, the command line."""

    container: str | Path
    input_list: str | Path
    options: AdviseOptions = field(default_factory=AdviseOptions)
    quantize: QuantOptions = field(default_factory=lambda: QuantOptions(enable_hta=True))
    command: str | None = None

    kind = "advise"

    def __post_init__(self) -> None:
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", AdviseOptions(**self.options))

    def command_line(self, project: str) -> str:
        return workbench_command(
            project, "advise", self.container, "--input-list", self.input_list,
            *self.options.argv(),
        )  # fmt: skip


def advise_job(
    store: Store, project: str, request: AdviseRequest, *, progress: Progress | None = None
) -> AdviseResult:
    """Quantize (or take ``--quantized``), bench both everywhere, advise, save an experiment."""
    options = request.options
    container_path = Path(request.container)
    head = read_container(container_path, load_params=False, load_records=False)
    if head.quantized:
        raise BadInput(
            f"{container_path} is quantized; advise takes the float container "
            "(give the quantized one with --quantized)"
        )
    notes: list[str] = []
    quantize_run_id = None
    if options.quantized is None:
        output = Path(
            options.output or container_path.with_name(f"{container_path.stem}_quantized.dlc")
        )
        refuse_overwriting(output, [options.labels])  # quantize_job checks its own inputs
        quantize = QuantizeRequest(
            container_path, request.input_list, output, request.quantize, command=request.command
        )
        result = quantize_job(store, project, quantize, progress=progress)
        quantize_run_id = result.run_id
        quantized_path = output
        notes.append(f"quantized {container_path.name} into {output} (run {result.run_id})")
    else:
        quantized_path = Path(options.quantized)
        if not read_container(quantized_path, load_params=False, load_records=False).quantized:
            raise BadInput(f"--quantized {quantized_path} is not a quantized container")

    measure = BenchOptions(iterations=options.iterations, cpu_fxp=True, labels=options.labels)
    bench_request = BenchRequest(
        [container_path, quantized_path], request.input_list, measure, command=request.command
    )
    bench = bench_job(store, project, bench_request, progress=progress)
    advice = build_advice(bench, container_path, quantized_path, options.max_accuracy_drop)
    run_ids = tuple(
        ([quantize_run_id] if quantize_run_id is not None else [])
        + [r.run_id for r in bench.rows if r.run_id is not None]
    )
    saved = save_advice(
        store, project, options.experiment, advice, run_ids, f"advise {container_path.stem}"
    )
    return AdviseResult(
        advice=advice,
        quantize_run_id=quantize_run_id,
        run_ids=run_ids,
        experiment=saved,
        samples=bench.samples,
        notes=tuple(notes),
    )


def save_advice(
    store: Store,
    project: str,
    name: str | None,
    advice: Advice,
    run_ids: Sequence[int],
    generated: str = "advise",
) -> str:
    """Save the runs as an experiment whose note is the recommendation; without a
    ``name``, one made of ``generated`` and the time (numbered on if already taken)."""
    note = "; ".join(
        f"{r.runtime}: {r.choice}" + (f" ({r.reasons[0]})" if r.reasons else "")
        for r in advice.recommendations
    )
    made = f"{generated} {datetime.now():%Y-%m-%d %H:%M:%S}"
    name = create_experiment(store, project, name or made, note, unique=name is None).name
    add_runs(store, project, name, run_ids)
    return name


def saved_advice(
    store: Store,
    project: str,
    experiment: str,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
) -> AdviseResult:
    """Rebuild the advice of an earlier ``advise`` from its experiment's stored bench runs."""
    if not max_accuracy_drop >= 0:
        raise BadInput(f"--max-accuracy-drop must be >= 0, got {max_accuracy_drop}")
    ensure_project(store, project)
    with store.read() as session:
        exp = get_experiment(session, get_project(session, project), experiment)
        run_ids = sorted(link.run_id for link in exp.members)
        found = finished_bench_runs(session, run_ids)
        rows = tuple(_stored_row(run, bench, container) for run, bench, container in found)
        samples = max((int((b.options or {}).get("samples") or 0) for _, b, _ in found), default=0)
        quantize_ids = [run.id for run in quantize_runs(session, run_ids)]
    paths = {q: sorted({r.container for r in rows if r.quantized == q}) for q in (False, True)}
    if len(paths[False]) != 1 or not paths[True]:
        raise BadInput(
            f"experiment {experiment!r} is not advice: it needs benchmark runs of exactly one "
            f"float and at least one quantized container "
            f"(has {len(paths[False])} and {len(paths[True])})"
        )
    notes = [f"rebuilt from {len(rows)} stored benchmark run(s)"]
    quantized = max(paths[True], key=lambda path: (dsp_accuracy(rows, path), path))
    if len(paths[True]) > 1:  # as the demo chooses: the best accuracy on the DSP
        notes.append(f"{Path(quantized).name} has the best DSP accuracy of {len(paths[True])}")
    bench = BenchResult(rows=rows, samples=samples, input_list="", labels=None)
    advice = build_advice(bench, paths[False][0], quantized, max_accuracy_drop)
    return AdviseResult(
        advice=advice,
        quantize_run_id=quantize_ids[0] if quantize_ids else None,
        run_ids=tuple(run_ids),
        experiment=experiment,
        samples=samples,
        notes=tuple(notes),
    )


def dsp_accuracy(rows: Sequence[BenchRow], path: str) -> tuple[float, float]:
    """How well ``path`` did on the DSP (label accuracy, then SQNR): the key the demo and
    saved advice use to pick the best of several quantized containers."""
    row = next((r for r in rows if r.container == path and r.runtime == DSP), None)
    if row is None or row.status != SUCCEEDED:
        return (-1.0, -1e9)
    return (row.accuracy.get("label_accuracy") or 0.0, row.accuracy.get("sqnr_db") or -1e9)


def _stored_row(run: Run, bench: BenchmarkRun, container: ContainerRow) -> BenchRow:
    """A bench row as ``bench_job`` returned it, from what it stored."""
    options = dict(bench.options or {})
    status = REFUSED if options.get("refused") else run.status
    if status == INTERRUPTED:
        status = FAILED
    latency = (
        {
            "mean": bench.latency_mean_ms,
            "p50": bench.latency_p50_ms,
            "p90": bench.latency_p90_ms,
            "min": bench.latency_min_ms,
        }
        if bench.latency_mean_ms is not None
        else None
    )
    return BenchRow(
        container=container.path,
        quantized=container.quantized,
        runtime=bench.runtime,
        cpu_fxp=bench.cpu_fxp,
        batch=bench.batch,
        status=status,
        error=run.error,
        size_bytes=bench.container_size_bytes or container.size_bytes,
        mode=options.get("mode"),
        iterations=bench.iterations,
        init_ms=bench.init_time_ms,
        init_breakdown_ms=dict(bench.init_breakdown or {}),
        init_peak_bytes=bench.init_peak_bytes,
        create_ms=options.get("create_ms"),
        create_peak_bytes=options.get("create_peak_bytes"),
        latency_ms=latency,
        accuracy={key: getattr(bench, key) for key in _ACCURACY_KEYS},
        notes=tuple(options.get("notes") or ()),
        run_id=run.id,
    )


# --------------------------------------------------------------------------- the table


def build_advice(
    bench: BenchResult,
    float_path: str | Path,
    quantized_path: str | Path,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
) -> Advice:
    """The table and the recommendations from bench rows of the two containers."""
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
    recs = tuple(_recommend(rt, cells, max_accuracy_drop) for rt in runtimes())
    return Advice(fpath, qpath, tuple(rows), recs, max_accuracy_drop)


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
        return "failed"
    rule = _rule(row)
    return rule.compatibility if rule is not None else "compatible"


def _conversion_ms(row: BenchRow) -> float | None:
    rule = _rule(row)
    conversion = rule.conversion if rule is not None else ()
    phases = [row.init_breakdown_ms[p] for p in conversion if p in row.init_breakdown_ms]
    return sum(phases) if phases else None


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
    )


# --------------------------------------------------------------------------- recommendations


def _ok(c: Cell) -> bool:
    return c.status == SUCCEEDED


def _accuracy_loss(q: Cell, f: Cell) -> tuple[float | None, str]:
    """Percentage points lost by ``q`` against ``f``, and what they are points of."""
    if q.label_accuracy is not None and f.label_accuracy is not None:
        return (f.label_accuracy - q.label_accuracy) * 100, "label accuracy"
    if q.top1_agreement is not None:
        return (1.0 - q.top1_agreement) * 100, "top-1 agreement with float"
    return None, ""


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or a <= 0:
        return None
    return a / b


def _compare(what: str, q: float | None, f: float | None, unit: Callable) -> str | None:
    """'init 3.1x faster (12 ms vs 37 ms)' from the quantized value q and float value f."""
    r = _ratio(f, q)
    if r is None:
        return None
    words = {
        "init": ("faster", "slower"),
        "peak": ("lower", "higher"),
        "file": ("smaller", "larger"),
    }
    better, worse = words[what]
    label = {"init": "init", "peak": "init peak", "file": "file"}[what]
    if 1 / 1.05 <= r <= 1.05:
        return f"{label} about the same ({unit(q)} vs {unit(f)})"
    if r >= 1:
        return f"{label} {r:.1f}x {better} ({unit(q)} vs {unit(f)})"
    return f"{label} {1 / r:.1f}x {worse} ({unit(q)} vs {unit(f)})"


def _size_q(q: Cell, use_records: bool) -> int | None:
    if not use_records and q.size_without_records is not None:
        return q.size_without_records
    return q.size_bytes


def _accuracy_text(q: Cell, f: Cell) -> str:
    loss, what = _accuracy_loss(q, f)
    if loss is None:
        return "accuracy not measured"
    sign = "-" if loss > 0.05 else "+" if loss < -0.05 else "±"
    parts = [f"{what} {sign}{abs(loss):.1f} pts"]
    if q.sqnr_db is not None and not is_exact_db(q.sqnr_db):
        parts.append(f"SQNR {q.sqnr_db:.1f} dB")
    return "accuracy vs float: " + ", ".join(parts)


def _recommend(rt: Runtime, cells: dict, max_drop: float) -> Recommendation:
    """The guide's choice for ``rt``, from what it declares and what was measured."""
    if rt.float.action == REFUSE:
        return _only_quantized(rt, cells)
    if rt.native == QUANTIZED:
        return _prefer_quantized(rt, cells)
    if rt.fixed_point is not None:
        return _fixed_point_if_accurate(rt, cells, max_drop)
    return _prefer_float(rt, cells)


def _reference(cells: dict) -> Cell:
    """The float container on the reference runtime: what accuracy is measured against."""
    return cells[(REFERENCE_RUNTIME, False)].float


def _fixed_point_if_accurate(rt: Runtime, cells: dict, max_drop: float) -> Recommendation:
    """Float-native with a fixed-point mode (the CPU): fixed point if accurate enough."""
    row = cells[(rt.name, False)]
    q, f = row.quantized, row.float
    fxp = cells[(rt.name, True)].quantized
    if not _ok(fxp):
        return Recommendation(
            rt.name, "float", ("the quantized container did not run in fixed point",)
        )
    if not _ok(f):
        return Recommendation(rt.name, "quantized --cpu-fxp", ("the float container did not run",))
    loss, what = _accuracy_loss(fxp, f)
    size = _compare("file", _size_q(fxp, False), f.size_bytes, format_bytes)
    init = _compare("init", fxp.init_ms, f.init_ms, _ms)
    if loss is not None and loss <= max_drop:
        reasons = [
            f"{what} loss {loss:.1f} pts is within {max_drop:g} pts",
            *(x for x in (size, init) if x),
        ]
        if _ok(q):
            deq = _compare("init", fxp.init_ms, q.init_ms, _ms)
            if deq:
                reasons.append(f"vs {rt.quantized.converting} at init: {deq}")
        return Recommendation(rt.name, "quantized --cpu-fxp", tuple(reasons))
    reasons = (
        [f"quantized loses {loss:.1f} pts of {what} (more than {max_drop:g})"]
        if loss is not None
        else ["accuracy of the quantized container unknown (no reference)"]
    )
    reasons.append(rt.float.advice)
    if size:
        reasons.append(f"quantized would save: {size}")
    return Recommendation(rt.name, "float", tuple(reasons))


def _prefer_float(rt: Runtime, cells: dict) -> Recommendation:
    """Float-native (the GPU): the float container; the quantized one is converted at init."""
    row = cells[(rt.name, False)]
    q, f = row.quantized, row.float
    if not _ok(f):
        return Recommendation(rt.name, "quantized" if _ok(q) else "none", (f.compatibility,))
    reasons = [rt.float.advice]
    if _ok(q) and q.conversion_ms is not None:
        reasons.append(
            f"the quantized container spends {_ms(q.conversion_ms)} "
            f"{rt.quantized.converting} at init"
        )
    if _ok(q):
        create = _compare("init", f.create_ms, q.create_ms, _ms)
        if create:
            reasons.append("create (the runtime's own init) " + create.removeprefix("init "))
        reasons.append(_accuracy_text(q, f).replace("accuracy vs float", "quantized accuracy"))
        size = _compare("file", _size_q(q, False), f.size_bytes, format_bytes)
        if size:
            reasons.append(f"quantized only buys a smaller file: {size}")
    return Recommendation(rt.name, "float", tuple(reasons))


def _prefer_quantized(rt: Runtime, cells: dict) -> Recommendation:
    """Quantized-native (the DSP): the quantized container; a float one is converted at init."""
    row = cells[(rt.name, False)]
    q, f = row.quantized, row.float
    if not _ok(q):
        return Recommendation(rt.name, "float" if _ok(f) else "none", (q.compatibility,))
    reasons = [rt.quantized.advice]
    if _ok(f) and f.conversion_ms is not None:
        reasons.append(
            f"the float container spends {_ms(f.conversion_ms)} {rt.float.converting} at init"
        )
    if _ok(f):
        reasons += [
            x
            for x in (
                _compare("init", q.init_ms, f.init_ms, _ms),
                _compare("peak", q.init_peak_bytes, f.init_peak_bytes, format_bytes),
                _compare("file", _size_q(q, False), f.size_bytes, format_bytes),
            )
            if x
        ]
        if q.sqnr_db is not None and f.sqnr_db is not None:
            reasons.append(
                f"SQNR vs float {q.sqnr_db:.1f} dB "
                f"(the float container quantized at init: {f.sqnr_db:.1f} dB)"
            )
    reasons.append(_accuracy_text(q, _reference(cells)))
    return Recommendation(rt.name, "quantized", tuple(reasons))


def _only_quantized(rt: Runtime, cells: dict) -> Recommendation:
    """A runtime that refuses float containers (the AIP): the quantized one or nothing."""
    q = cells[(rt.name, False)].quantized
    if not _ok(q):
        return Recommendation(rt.name, "none", (q.compatibility,))
    reasons = [rt.quantized.advice, _accuracy_text(q, _reference(cells))]
    return Recommendation(rt.name, "quantized", tuple(reasons))


# --------------------------------------------------------------------------- formatting


def _ms(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"
