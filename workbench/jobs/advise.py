"""Advise: the guide's quantized-vs-float table, filled with measured numbers, and a choice.

``advise_job`` quantizes the float container (``quantize --enable-hta``, so that AIP can
be measured too) unless a quantized container is given, benches both on every runtime
(the CPU also in fixed-point mode), and builds one row per runtime: a cell for the
quantized container and one for the float container (compatibility, init time and the
runtime's own share of it, init peak memory, file size, accuracy against the float
container on the CPU runtime), with a recommendation and its reasons. The runs are
saved as an experiment.

The recommendation follows the guide, checked against the measurements:

* **CPU**: the quantized container in fixed-point mode (``--cpu-fxp``) when its accuracy
  loss is within ``max_accuracy_drop`` (percentage points of label accuracy when labels
  are given, else of top-1 agreement with the float container); otherwise the float one.
* **GPU** (``gpu``, ``gpu_fp16``): the float container, its native format; the
  quantized one is dequantized at init and only buys a smaller file.
* **DSP**: the quantized container, its native format (a float one is quantized at
  init, with activations quantized per inference).
* **AIP**: the quantized container with HTA records (a float one is refused).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from workbench.engine.container import read_container
from workbench.engine.files import refuse_overwriting
from workbench.errors import BadInput
from workbench.jobs.bench import _ACCURACY_KEYS, BenchResult, BenchRow, bench_job
from workbench.jobs.experiments import add_runs, create_experiment
from workbench.jobs.projects import ensure_project
from workbench.store import BenchmarkRun, Run, Store
from workbench.store import Container as ContainerRow
from workbench.store.queries import get_experiment, get_project

Progress = Callable[[str, int, int], None]

# Rows of the table: (label, runtime, cpu_fxp for the quantized cell).
TABLE_ROWS = (
    ("CPU", "cpu", False),
    ("CPU --cpu-fxp", "cpu", True),
    ("GPU", "gpu", False),
    ("GPU fp16", "gpu_fp16", False),
    ("DSP", "dsp", False),
    ("AIP", "aip", False),
)
TARGETS = ("cpu", "gpu", "gpu_fp16", "dsp", "aip")
DEFAULT_MAX_ACCURACY_DROP = 1.0  # percentage points


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
        if self.status != "succeeded":
            if self.error and self.status == "failed":
                out.append(self.error)
            return out
        init = f"init {_ms(self.init_ms)}"
        if self.create_ms is not None:
            init += f" (create {_ms(self.create_ms)})"
        out.append(init)
        out.append(f"init peak {_bytes(self.init_peak_bytes)}")
        size = f"file {_bytes(self.size_bytes)}"
        if self.size_without_records is not None and self.size_without_records != self.size_bytes:
            size += f" ({_bytes(self.size_without_records)} without HTA records)"
        out.append(size)
        acc = []
        if self.sqnr_db is not None:
            acc.append("SQNR exact" if self.sqnr_db >= 999 else f"SQNR {self.sqnr_db:.1f} dB")
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


def advise_job(
    store: Store,
    project: str,
    container_path: str | Path,
    input_list_path: str | Path,
    *,
    labels_path: str | Path | None = None,
    quantized_path: str | Path | None = None,
    output_path: str | Path | None = None,
    options: object | None = None,
    iterations: int = 10,
    max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP,
    experiment: str | None = None,
    command: str | None = None,
    progress: Progress | None = None,
) -> AdviseResult:
    """Quantize (or take ``quantized_path``), bench both everywhere, advise, save an experiment."""
    from workbench.engine.quant.quantizer import QuantOptions
    from workbench.jobs.quantize import quantize_job

    container_path = Path(container_path)
    head = read_container(container_path, load_params=False, load_records=False)
    if head.quantized:
        raise BadInput(
            f"{container_path} is quantized; advise takes the float container "
            "(give the quantized one with --quantized)"
        )
    if not max_accuracy_drop >= 0:
        raise BadInput(f"--max-accuracy-drop must be >= 0, got {max_accuracy_drop}")
    notes: list[str] = []
    quantize_run_id = None
    if quantized_path is None:
        output = Path(
            output_path or container_path.with_name(f"{container_path.stem}_quantized.dlc")
        )
        refuse_overwriting(output, [labels_path])  # quantize_job checks its own inputs
        opts = options if isinstance(options, QuantOptions) else QuantOptions(enable_hta=True)
        result = quantize_job(
            store,
            project,
            container_path,
            input_list_path,
            output,
            opts,
            command=command,
            progress=progress,
        )
        quantize_run_id = result.run_id
        quantized_path = output
        notes.append(f"quantized {container_path.name} into {output} (run {result.run_id})")
    else:
        quantized_path = Path(quantized_path)
        if not read_container(quantized_path, load_params=False, load_records=False).quantized:
            raise BadInput(f"--quantized {quantized_path} is not a quantized container")

    bench = bench_job(
        store,
        project,
        [container_path, quantized_path],
        None,
        input_list_path,
        iterations=iterations,
        cpu_fxp=True,
        labels_path=labels_path,
        command=command,
        progress=progress,
    )
    advice = build_advice(bench, container_path, quantized_path, max_accuracy_drop)
    run_ids = tuple(
        ([quantize_run_id] if quantize_run_id is not None else [])
        + [r.run_id for r in bench.rows if r.run_id is not None]
    )
    name = experiment or f"advise {container_path.stem} {datetime.now():%Y-%m-%d %H:%M:%S}"
    saved = save_advice(store, project, name, advice, run_ids)
    return AdviseResult(
        advice=advice,
        quantize_run_id=quantize_run_id,
        run_ids=run_ids,
        experiment=saved,
        samples=bench.samples,
        notes=tuple(notes),
    )


def save_advice(
    store: Store, project: str, name: str, advice: Advice, run_ids: Sequence[int]
) -> str:
    """Save the runs as an experiment whose note is the recommendation."""
    note = "; ".join(
        f"{r.runtime}: {r.choice}" + (f" ({r.reasons[0]})" if r.reasons else "")
        for r in advice.recommendations
    )
    create_experiment(store, project, name, note)
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
        found = session.execute(
            select(Run, BenchmarkRun, ContainerRow)
            .join(BenchmarkRun, BenchmarkRun.run_id == Run.id)
            .join(ContainerRow, ContainerRow.id == Run.container_id)
            .where(Run.id.in_(run_ids), Run.status != "running")
            .order_by(Run.id)
        ).all()
        rows = tuple(_stored_row(run, bench, container) for run, bench, container in found)
        samples = max((int((b.options or {}).get("samples") or 0) for _, b, _ in found), default=0)
        quantize_ids = session.scalars(
            select(Run.id).where(Run.id.in_(run_ids), Run.kind == "quantize").order_by(Run.id)
        ).all()
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
    row = next((r for r in rows if r.container == path and r.runtime == "dsp"), None)
    if row is None or row.status != "succeeded":
        return (-1.0, -1e9)
    return (row.accuracy.get("label_accuracy") or 0.0, row.accuracy.get("sqnr_db") or -1e9)


def _stored_row(run: Run, bench: BenchmarkRun, container: ContainerRow) -> BenchRow:
    """A bench row as ``bench_job`` returned it, from what it stored."""
    options = dict(bench.options or {})
    status = "refused" if options.get("refused") else run.status
    if status == "interrupted":
        status = "failed"
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
    for label, runtime, fxp in TABLE_ROWS:
        q = _cell(by_key.get((qpath, runtime, fxp)), records)
        if fxp:
            f = Cell(
                status="n/a", compatibility="n/a: fixed-point mode is for quantized containers"
            )
        else:
            f = _cell(by_key.get((fpath, runtime, False)), 0)
        rows.append(AdviceRow(label, runtime, fxp, q, f))
    cells = {(r.runtime, r.cpu_fxp): r for r in rows}
    recs = tuple(
        _recommend(runtime, cells, max_accuracy_drop)
        for runtime in TARGETS
        if (runtime, False) in cells
    )
    return Advice(fpath, qpath, tuple(rows), recs, max_accuracy_drop)


def _records_bytes(path: str) -> int:
    try:
        head = read_container(path, load_params=False, load_records=False)
    except Exception:  # noqa: BLE001 - a missing file only loses the size detail
        return 0
    return sum(head.record_sizes.values())


def _compatibility(row: BenchRow) -> str:
    if row.status == "refused":
        return f"refused: {row.error}"
    if row.status == "failed":
        return "failed"
    phases = row.init_breakdown_ms
    if "dequantize" in phases and "cast_fp16" in phases:
        return "compatible: dequantized and cast to float16 at init"
    if "dequantize" in phases:
        return "compatible: dequantized at init"
    if "quantize" in phases:
        return "compatible: quantized at init (activations per inference)"
    if "cast_fp16" in phases:
        return "compatible: cast to float16 at init"
    if "hta_records" in phases:
        return "native: HTA records + HNN (fixed point)"
    if row.quantized:
        return "native: fixed point" + (" (--cpu-fxp)" if row.cpu_fxp else "")
    return "native: float32"


_CONVERSIONS = ("dequantize", "quantize", "cast_fp16")


def _conversion_ms(row: BenchRow) -> float | None:
    phases = [row.init_breakdown_ms[p] for p in _CONVERSIONS if p in row.init_breakdown_ms]
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
    return c.status == "succeeded"


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
    if q.sqnr_db is not None and q.sqnr_db < 999:
        parts.append(f"SQNR {q.sqnr_db:.1f} dB")
    return "accuracy vs float: " + ", ".join(parts)


def _recommend(runtime: str, cells: dict, max_drop: float) -> Recommendation:
    row = cells[(runtime, False)]
    q, f = row.quantized, row.float
    if runtime == "cpu":
        fxp = cells[("cpu", True)].quantized
        if not _ok(fxp):
            return Recommendation(
                "cpu", "float", ("the quantized container did not run in fixed point",)
            )
        if not _ok(f):
            return Recommendation(
                "cpu", "quantized --cpu-fxp", ("the float container did not run",)
            )
        loss, what = _accuracy_loss(fxp, f)
        size = _compare("file", _size_q(fxp, False), f.size_bytes, _bytes)
        init = _compare("init", fxp.init_ms, f.init_ms, _ms)
        if loss is not None and loss <= max_drop:
            reasons = [
                f"{what} loss {loss:.1f} pts is within {max_drop:g} pts",
                *(x for x in (size, init) if x),
            ]
            if _ok(q):
                deq = _compare("init", fxp.init_ms, q.init_ms, _ms)
                if deq:
                    reasons.append(f"vs dequantizing at init: {deq}")
            return Recommendation("cpu", "quantized --cpu-fxp", tuple(reasons))
        reasons = (
            [f"quantized loses {loss:.1f} pts of {what} (more than {max_drop:g})"]
            if loss is not None
            else ["accuracy of the quantized container unknown (no reference)"]
        )
        reasons.append("native format: runs in float32, nothing converted at init")
        if size:
            reasons.append(f"quantized would save: {size}")
        return Recommendation("cpu", "float", tuple(reasons))
    if runtime in ("gpu", "gpu_fp16"):
        if not _ok(f):
            return Recommendation(runtime, "quantized" if _ok(q) else "none", (f.compatibility,))
        reasons = ["native format: no dequantization at init"]
        if _ok(q) and q.conversion_ms is not None:
            reasons.append(
                f"the quantized container spends {_ms(q.conversion_ms)} converting at init"
            )
        if _ok(q):
            create = _compare("init", f.create_ms, q.create_ms, _ms)
            if create:
                reasons.append("create (the runtime's own init) " + create.removeprefix("init "))
            reasons.append(_accuracy_text(q, f).replace("accuracy vs float", "quantized accuracy"))
            size = _compare("file", _size_q(q, False), f.size_bytes, _bytes)
            if size:
                reasons.append(f"quantized only buys a smaller file: {size}")
        return Recommendation(runtime, "float", tuple(reasons))
    if runtime == "dsp":
        if not _ok(q):
            return Recommendation("dsp", "float" if _ok(f) else "none", (q.compatibility,))
        reasons = ["native format: runs in fixed point with the offline encodings"]
        if _ok(f) and f.conversion_ms is not None:
            reasons.append(
                f"the float container spends {_ms(f.conversion_ms)} quantizing its parameters at init"
            )
        if _ok(f):
            reasons += [
                x
                for x in (
                    _compare("init", q.init_ms, f.init_ms, _ms),
                    _compare("peak", q.init_peak_bytes, f.init_peak_bytes, _bytes),
                    _compare("file", _size_q(q, False), f.size_bytes, _bytes),
                )
                if x
            ]
            if q.sqnr_db is not None and f.sqnr_db is not None:
                reasons.append(
                    f"SQNR vs float {q.sqnr_db:.1f} dB "
                    f"(the float container quantized at init: {f.sqnr_db:.1f} dB)"
                )
        reasons.append(_accuracy_text(q, cells[("cpu", False)].float))
        return Recommendation("dsp", "quantized", tuple(reasons))
    # aip
    if not _ok(q):
        return Recommendation("aip", "none", (q.compatibility,))
    reasons = ["the only format AIP runs: it refuses non-quantized containers"]
    reasons.append(_accuracy_text(q, cells[("cpu", False)].float))
    return Recommendation("aip", "quantized", tuple(reasons))


# --------------------------------------------------------------------------- formatting


def _ms(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "-"
