"""Bench: every container on every runtime, measured and recorded (the snpe_bench.py analogue).

For each (container, runtime) pair one benchmark run is recorded in the store. A pair
the runtime refuses (AIP with a float container, or without HTA records) is a row with
status ``refused`` and the reason: in the store it is a ``failed`` run whose error is
the reason and whose ``options.refused`` is true. With ``cpu_fxp`` a quantized
container gets two CPU rows: dequantized at init (``cpu_fxp`` false) and fixed point.

Accuracy is measured against the float container a quantized one was made from: a
float container given in the same bench (the one whose sha256 the quantizer recorded,
else the first), else ``manifest["quantizer"]["source_container"]`` when that file
still has the recorded sha256, else the input container of the quantization run that
produced it (the store). A float container's reference is itself (on the CPU runtime).
Without a reference the row has no accuracy and says why.

Labels (``--labels``): one integer class per line, line i for input-list line i.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from workbench.engine.batch import MAX_BATCH
from workbench.engine.container import Container, file_sha256, read_container
from workbench.engine.files import read_regular_text, refuse_overwriting, write_atomically
from workbench.engine.inputs import load_tensor, parse_input_list
from workbench.engine.limits import available_memory, check_container_fits, io_bytes
from workbench.engine.measure import Measurement, finite_or, measure, reference_outputs
from workbench.engine.runtimes import RUNTIMES, check_runtime
from workbench.errors import BadInput, InputListError, RuntimeRefused, WorkbenchError
from workbench.jobs.artifacts import model_id_of_container, record_container
from workbench.jobs.lifecycle import error_text, tracked_run
from workbench.store import Container as ContainerRow
from workbench.store import QuantizationRun, Run, Store
from workbench.store.queries import find_container_by_sha256, get_project
from workbench.textsafe import visible

# Timed iterations per measurement (the CLI's limit too): more would run for hours and
# measure nothing new, and a count past 2**63 does not fit the store's integers.
MAX_ITERATIONS = 1_000_000
# Largest class index a labels file may hold (a class index fits an int32).
MAX_LABEL = 2**31 - 1

Progress = Callable[[str, int, int], None]

STATUSES = ("succeeded", "failed", "refused")


@dataclass(frozen=True)
class BenchRow:
    """One (container, runtime) measurement, as printed by ``bench --json``."""

    container: str
    quantized: bool
    runtime: str
    cpu_fxp: bool
    batch: int
    status: str  # succeeded | failed | refused
    error: str | None
    size_bytes: int
    mode: str | None = None
    iterations: int | None = None
    init_ms: float | None = None
    init_breakdown_ms: dict[str, float] = field(default_factory=dict)
    init_peak_bytes: int | None = None
    create_ms: float | None = None  # the runtime's own init: after the file is deserialized
    create_peak_bytes: int | None = None
    latency_ms: dict[str, float] | None = None  # mean, p50, p90, min
    accuracy: dict[str, float | None] = field(default_factory=dict)
    reference: str | None = None
    notes: tuple[str, ...] = ()
    layer_ms: dict[str, float] | None = None
    run_id: int | None = None


@dataclass(frozen=True)
class BenchResult:
    rows: tuple[BenchRow, ...]
    samples: int
    input_list: str
    labels: str | None

    @property
    def run_ids(self) -> tuple[int, ...]:
        return tuple(r.run_id for r in self.rows if r.run_id is not None)


_ACCURACY_KEYS = ("sqnr_db", "cosine", "max_abs_err", "top1_agreement", "label_accuracy")


def read_labels(path: str | Path, count: int | None = None) -> list[int]:
    """A labels file: one integer class per line (blank lines and ``#`` comments skipped)."""
    path = Path(path)
    text = read_regular_text(path, what="labels file")
    labels = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            label = int(line) if len(line) <= 24 else None
        except ValueError:
            label = None
        if label is None or not -MAX_LABEL <= label <= MAX_LABEL:
            raise BadInput(
                f"{path}:{lineno}: expected one integer class per line (at most "
                f"{MAX_LABEL:,}), got {visible(_cut(line))!r}"
            )
        labels.append(label)
    if count is not None and len(labels) != count:
        raise BadInput(
            f"{path} has {len(labels)} labels but the input list has {count} lines "
            "(one label per input-list line)"
        )
    return labels


def _cut(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


def parse_runtimes(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``cpu,gpu,dsp`` (or a list) as runtime names, checked; None means all of them."""
    if text is None:
        return RUNTIMES
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown or not names:
        raise BadInput(
            f"--runtimes takes a comma-separated list of {', '.join(RUNTIMES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return names


def load_samples(
    input_list_path: str | Path, container: Container
) -> tuple[list[dict[str, np.ndarray]], str | None]:
    """Every input-list line as feeds at batch 1, and the first output the list names."""
    listing = parse_input_list(input_list_path, container.graph.input_names)
    outputs = set(container.graph.output_names)
    wanted = None
    if listing.output_names:
        known = [o for o in listing.output_names if o in outputs]
        if not known:
            raise InputListError(
                f"{listing.path}: first line names no graph output of the container "
                f"(outputs: {', '.join(sorted(outputs))})"
            )
        wanted = known[0]
    infos = container.graph.inputs
    samples = [{t.name: load_tensor(line[t.name], t) for t in infos} for line in listing.lines]
    return samples, wanted


def bench_job(
    store: Store,
    project: str,
    container_paths: Sequence[str | Path],
    runtimes: Sequence[str] | str | None,
    input_list_path: str | Path,
    *,
    iterations: int = 10,
    cpu_fxp: bool = False,
    batch: int = 1,
    labels_path: str | Path | None = None,
    per_layer: bool = False,
    init_repeats: int = 3,
    command: str | None = None,
    tags: Sequence[str] = (),
    progress: Progress | None = None,
    csv_path: str | Path | None = None,
) -> BenchResult:
    """Measure every container on every runtime (None: all); one recorded benchmark run per row."""
    if not container_paths:
        raise BadInput("give at least one container to bench")
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise BadInput(f"--iterations must be between 1 and {MAX_ITERATIONS:,}, got {iterations}")
    if not 1 <= batch <= MAX_BATCH:
        raise BadInput(f"--batch must be between 1 and {MAX_BATCH}, got {batch}")
    names = parse_runtimes(runtimes)
    paths = [Path(p) for p in dict.fromkeys(str(Path(p)) for p in container_paths)]
    heads = {p: read_container(p, load_params=False, load_records=("subnets.json",)) for p in paths}
    available = available_memory()
    listing = parse_input_list(input_list_path, heads[paths[0]].graph.input_names)
    lines = len(listing)
    if csv_path is not None:
        refuse_overwriting(csv_path, [*paths, input_list_path, labels_path,
                                      *(p for line in listing.lines for p in line.values())],
                           option="--csv")  # fmt: skip
    for p in paths:  # one container is loaded at a time, with every sample and reference
        graph = heads[p].graph
        kept = lines * (io_bytes(graph.inputs) + 2 * io_bytes(graph.outputs))
        check_container_fits(p, "bench", available, head=heads[p], batch=batch, extra=kept)
    first = heads[paths[0]]
    for p in paths[1:]:
        if heads[p].graph.input_names != first.graph.input_names:
            raise BadInput(
                f"{p} has inputs {', '.join(heads[p].graph.input_names)} but {paths[0]} has "
                f"{', '.join(first.graph.input_names)}: bench containers of one model together"
            )
    samples, output = load_samples(input_list_path, first)
    labels = read_labels(labels_path, len(samples)) if labels_path is not None else None

    with store.read() as session:
        get_project(session, project)  # a missing project fails before any work
    ids = {p: record_container(store, project, p) for p in paths}
    references = {p: _reference_for(store, project, p, heads, paths) for p in paths}
    ref_outputs: dict[Path, list[dict[str, np.ndarray]]] = {}

    pairs = [
        (p, rt, fxp)
        for p in paths
        for rt in names
        for fxp in ((False, True) if rt == "cpu" and cpu_fxp and heads[p].quantized else (False,))
    ]
    rows: list[BenchRow] = []
    for done, (path, runtime, fxp) in enumerate(pairs):
        if progress:
            progress("bench", done, len(pairs))
        ref_path, ref_note = references[path]
        ref_id = None
        if ref_path is not None:
            if ref_path not in ref_outputs:
                ref_outputs[ref_path] = reference_outputs(ref_path, samples)
            ref_id = ids.get(ref_path) or record_container(store, project, ref_path)
        rows.append(
            _bench_pair(
                store,
                project,
                path,
                heads[path],
                ids[path],
                runtime,
                fxp,
                batch=batch,
                samples=samples,
                iterations=iterations,
                reference=ref_outputs.get(ref_path) if ref_path is not None else None,
                reference_path=ref_path,
                reference_id=ref_id,
                reference_note=ref_note,
                labels=labels,
                output=output,
                per_layer=per_layer,
                init_repeats=init_repeats,
                command=command,
                tags=tags,
                extra={
                    "input_list": str(Path(input_list_path).resolve()),
                    "labels": str(Path(labels_path).resolve()) if labels_path else None,
                },
            )
        )
    if progress:
        progress("bench", len(pairs), len(pairs))
    if csv_path is not None:
        write_csv(rows, csv_path)
    return BenchResult(
        rows=tuple(rows),
        samples=len(samples),
        input_list=str(input_list_path),
        labels=str(labels_path) if labels_path is not None else None,
    )


def _bench_pair(
    store: Store,
    project: str,
    path: Path,
    head: Container,
    container_id: int,
    runtime: str,
    cpu_fxp: bool,
    *,
    batch: int,
    samples: list[dict[str, np.ndarray]],
    iterations: int,
    reference: list[dict[str, np.ndarray]] | None,
    reference_path: Path | None,
    reference_id: int | None,
    reference_note: str | None,
    labels: list[int] | None,
    output: str | None,
    per_layer: bool,
    init_repeats: int,
    command: str | None,
    tags: Sequence[str],
    extra: dict[str, Any],
) -> BenchRow:
    size = path.stat().st_size
    base = {
        "container": str(path),
        "quantized": head.quantized,
        "runtime": runtime,
        "cpu_fxp": cpu_fxp,
        "batch": batch,
        "size_bytes": size,
        "reference": str(reference_path) if reference_path is not None else None,
    }
    options: dict[str, Any] = {"command": "bench", "samples": len(samples), **extra}
    refusal = None
    try:
        check_runtime(head, runtime, batch=batch, cpu_fxp=cpu_fxp)
    except RuntimeRefused as exc:
        refusal = exc
    run_args = {
        "project": project,
        "kind": "bench",
        "model_id": model_id_of_container(store, container_id),
        "container_id": container_id,
        "command": command,
        "tags": tags,
        "runtime": runtime,
        "cpu_fxp": cpu_fxp,
        "batch": batch,
        "iterations": iterations,
        "reference_container_id": reference_id,
    }
    if refusal is not None:
        run_id = None
        try:
            with tracked_run(store, options={**options, "refused": True}, **run_args) as run:
                run_id = run.id
                run.record(container_size_bytes=size)
                run.log(f"{runtime} refuses {path.name}: {refusal}")
                raise refusal
        except RuntimeRefused:
            pass
        return BenchRow(
            **base, status="refused", error=str(refusal), accuracy=_no_accuracy(), run_id=run_id
        )

    run_id = None
    try:
        with tracked_run(store, options=options, **run_args) as run:
            run_id = run.id
            m = measure(
                path,
                runtime,
                samples,
                iterations=iterations,
                batch=batch,
                cpu_fxp=cpu_fxp,
                reference=reference,
                labels=labels,
                output=output,
                per_layer=per_layer,
                init_repeats=init_repeats,
            )
            accuracy = _accuracy(m)
            notes = list(m.notes)
            if reference is None and reference_note:
                notes.append(reference_note)
            run.record(
                init_time_ms=m.init_ms,
                init_breakdown=m.init_breakdown_ms,
                init_peak_bytes=m.init_peak_bytes,
                peak_memory_bytes=m.init_peak_bytes,
                latency_mean_ms=m.latency_ms.mean if m.latency_ms else None,
                latency_p50_ms=m.latency_ms.p50 if m.latency_ms else None,
                latency_p90_ms=m.latency_ms.p90 if m.latency_ms else None,
                latency_min_ms=m.latency_ms.min if m.latency_ms else None,
                container_size_bytes=size,
                options={
                    **options,
                    "mode": m.mode,
                    "create_ms": m.create_ms,
                    "create_peak_bytes": m.create_peak_bytes,
                    "accuracy_output": m.accuracy.output if m.accuracy else output,
                    "notes": notes,
                    **({"layer_ms": m.layer_ms} if m.layer_ms else {}),
                },
                **accuracy,
            )
            run.log(_log_line(m, accuracy))
            for note in notes:
                run.log(note)
    except WorkbenchError as exc:
        return BenchRow(
            **base, status="failed", error=error_text(exc), accuracy=_no_accuracy(), run_id=run_id
        )
    return BenchRow(
        **base,
        status="succeeded",
        error=None,
        mode=m.mode,
        iterations=m.iterations,
        init_ms=m.init_ms,
        init_breakdown_ms=m.init_breakdown_ms,
        init_peak_bytes=m.init_peak_bytes,
        create_ms=m.create_ms,
        create_peak_bytes=m.create_peak_bytes,
        latency_ms=(
            {
                "mean": m.latency_ms.mean,
                "p50": m.latency_ms.p50,
                "p90": m.latency_ms.p90,
                "min": m.latency_ms.min,
            }
            if m.latency_ms
            else None
        ),
        accuracy=accuracy,
        notes=tuple(notes),
        layer_ms=m.layer_ms,
        run_id=run_id,
    )


def _no_accuracy() -> dict[str, float | None]:
    return dict.fromkeys(_ACCURACY_KEYS)


def _accuracy(m: Measurement) -> dict[str, float | None]:
    a = m.accuracy
    if a is None:
        return _no_accuracy() | {"label_accuracy": m.label_accuracy}
    return {
        "sqnr_db": finite_or(a.sqnr_db),
        "cosine": finite_or(a.cosine),
        "max_abs_err": finite_or(a.max_abs_err),
        "top1_agreement": a.top1_agreement,
        "label_accuracy": a.label_accuracy,
    }


def _log_line(m: Measurement, accuracy: dict[str, float | None]) -> str:
    parts = [f"{m.runtime} ({m.mode}): init {m.init_ms:.1f} ms"]
    if m.init_peak_bytes is not None:
        parts.append(f"init peak {m.init_peak_bytes / 2**20:.1f} MiB")
    if m.latency_ms:
        parts.append(f"latency mean {m.latency_ms.mean:.2f} ms over {m.iterations}")
    if accuracy.get("sqnr_db") is not None:
        parts.append(f"SQNR {accuracy['sqnr_db']:.1f} dB vs float")
    return ", ".join(parts)


# --------------------------------------------------------------------------- references


def _reference_for(
    store: Store,
    project: str,
    path: Path,
    heads: dict[Path, Container],
    paths: list[Path],
) -> tuple[Path | None, str | None]:
    """The float container to compare ``path`` against, or None and why not."""
    head = heads[path]
    if not head.quantized:
        return path, None
    quantizer = head.manifest.get("quantizer") or {}
    source_sha = quantizer.get("source_sha256")
    floats = [p for p in paths if not heads[p].quantized]
    if floats:
        if source_sha:
            for p in floats:
                if file_sha256(p) == source_sha:
                    return p, None
        return floats[0], None
    source = quantizer.get("source_container")
    if isinstance(source, str) and Path(source).is_file():
        try:
            ok = source_sha is None or file_sha256(source) == source_sha
        except OSError:
            ok = False
        if ok and not read_container(source, load_params=False, load_records=False).quantized:
            return Path(source), None
    found = _reference_from_store(store, project, path)
    if found is not None:
        return found, None
    return None, (
        "no float reference found for this quantized container: accuracy not measured "
        "(bench it together with its float container)"
    )


def _reference_from_store(store: Store, project: str, path: Path) -> Path | None:
    """The input container of the quantization run that wrote ``path``, if still on disk."""
    sha = file_sha256(path)
    with store.read() as session:
        proj = get_project(session, project)
        row = find_container_by_sha256(session, proj, sha)
        if row is None:
            return None
        runs = session.scalars(
            select(Run)
            .join(QuantizationRun, QuantizationRun.run_id == Run.id)
            .where(QuantizationRun.output_container_id == row.id, Run.container_id.is_not(None))
            .order_by(Run.id.desc())
        )
        for run in runs:
            source = session.get(ContainerRow, run.container_id)
            if source is not None and Path(source.path).is_file() and not source.quantized:
                if file_sha256(source.path) == source.sha256:
                    return Path(source.path)
    return None


# --------------------------------------------------------------------------- csv

CSV_COLUMNS = (
    "run_id",
    "container",
    "quantized",
    "runtime",
    "cpu_fxp",
    "batch",
    "status",
    "error",
    "mode",
    "size_bytes",
    "init_ms",
    "init_peak_bytes",
    "create_ms",
    "create_peak_bytes",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_min_ms",
    *_ACCURACY_KEYS,
    "init_breakdown_ms",
    "reference",
)


def csv_row(row: BenchRow) -> dict[str, Any]:
    lat = row.latency_ms or {}
    values: dict[str, Any] = {
        "run_id": row.run_id,
        "container": row.container,
        "quantized": row.quantized,
        "runtime": row.runtime,
        "cpu_fxp": row.cpu_fxp,
        "batch": row.batch,
        "status": row.status,
        "error": row.error,
        "mode": row.mode,
        "size_bytes": row.size_bytes,
        "init_ms": row.init_ms,
        "init_peak_bytes": row.init_peak_bytes,
        "create_ms": row.create_ms,
        "create_peak_bytes": row.create_peak_bytes,
        "latency_mean_ms": lat.get("mean"),
        "latency_p50_ms": lat.get("p50"),
        "latency_p90_ms": lat.get("p90"),
        "latency_min_ms": lat.get("min"),
        **{k: row.accuracy.get(k) for k in _ACCURACY_KEYS},
        "init_breakdown_ms": ";".join(f"{k}={v:.3f}" for k, v in row.init_breakdown_ms.items()),
        "reference": row.reference,
    }
    return {k: ("" if v is None else _plain(v)) for k, v in values.items()}


def _plain(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else ""
    return v


def write_csv(rows: Iterable[BenchRow], path: str | Path) -> Path:
    """The rows as CSV (one line per row, the columns of ``CSV_COLUMNS``)."""
    path = Path(path)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_row(row))
    write_atomically(path, text.getvalue().encode("utf-8"))
    return path
