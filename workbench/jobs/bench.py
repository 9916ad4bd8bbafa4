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

Every row carries every metric of the registry (``workbench.engine.metrics``) and the
value of the model's decision metric (``jobs.metric_choice``); non-finite outputs are
counted (``nonfinite_values``), noted, and leave the row's accuracy unusable (no
metric). Init time is split into the device-equivalent phases (``device_init_ms``,
``device_init_peak_bytes``) and the emulator's own setup (``emulator_setup_ms``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.container import Container, file_sha256, read_container
from workbench.engine.files import read_regular_text, refuse_overwriting, write_atomically
from workbench.engine.graph import StateVar
from workbench.engine.inputs import IntegerInput, integer_inputs, load_tensor, parse_input_list
from workbench.engine.limits import available_memory, check_container_fits, io_bytes
from workbench.engine.measure import Measurement, measure, reference_outputs
from workbench.engine.metrics import reference_scale
from workbench.engine.runtimes import get_runtime
from workbench.engine.runtimes.load import check_runtime
from workbench.engine.state import fill_initial, internal_inputs, state_for
from workbench.errors import BadInput, InputListError, RuntimeRefused, WorkbenchError
from workbench.jobs.artifacts import model_id_of_container, record_container
from workbench.jobs.compute import use_threads
from workbench.jobs.convert import workbench_command
from workbench.jobs.lifecycle import error_text, tracked_run
from workbench.jobs.metric_choice import MetricChoice, decision_metric
from workbench.options import BenchOptions
from workbench.store import Store
from workbench.store.queries import (
    find_container,
    find_container_by_sha256,
    get_project,
    quantize_runs_writing,
)
from workbench.textsafe import visible
from workbench.vocabulary import (
    BENCH,
    COSINE,
    FAILED,
    IOU,
    LABEL_ACCURACY,
    MAE,
    MAX_ABS,
    REFUSED,
    SQNR,
    SUCCEEDED,
    TOP1,
    finite_db,
)

# Largest class index a labels file may hold (a class index fits an int32).
MAX_LABEL = 2**31 - 1

Progress = Callable[[str, int, int], None]


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
    # The init phases a device also performs (file, conversions, HTA records, resize),
    # their peak memory, and the emulator's own setup (planning, BLAS weight layouts).
    device_init_ms: float | None = None
    device_init_peak_bytes: int | None = None
    emulator_setup_ms: float | None = None
    nonfinite_values: int | None = None  # outputs NaN/inf where float's are finite
    metric: str | None = None  # the model's decision metric
    metric_value: float | None = None  # ... its value here (None: unusable or unmeasured)
    samples: int | None = None  # input-list lines evaluated
    init_peak_breakdown_bytes: dict[str, int] | None = None  # each init phase's traced peak
    reference_absmax: float | None = None  # the float output's largest |value|
    reference_scale: float | None = None  # what default error budgets are a percent of
    # Float layers falling back to the CPU: {"float_layers", "boundaries", "convert_ms"}.
    cpu_fallback: dict[str, float] | None = None

    @property
    def usable(self) -> bool:
        """Is the accuracy a number to decide by (measured, no non-finite output)?"""
        return bool(self.accuracy.get("usable"))


@dataclass(frozen=True)
class BenchResult:
    rows: tuple[BenchRow, ...]
    samples: int
    input_list: str
    labels: str | None
    metric: str | None = None  # the decision metric, and why
    metric_reason: str | None = None

    @property
    def run_ids(self) -> tuple[int, ...]:
        return tuple(r.run_id for r in self.rows if r.run_id is not None)


# Each metric's field in a row's ``accuracy`` (and column of the store's benchmark runs).
ACCURACY_FIELD = {
    SQNR: "sqnr_db",
    COSINE: "cosine",
    MAX_ABS: "max_abs_err",
    TOP1: "top1_agreement",
    LABEL_ACCURACY: "label_accuracy",
    MAE: "mae",
    IOU: "iou",
}
_ACCURACY_KEYS = tuple(ACCURACY_FIELD.values())


def read_labels(path: str | Path, count: int | None = None) -> list[int]:
    """A labels file: one integer class per line (blank lines and ``#`` comments skipped)."""
    path = Path(path)
    text = read_regular_text(path, what="labels file")  # a FIFO or /dev/zero is refused
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


def load_samples(
    input_list_path: str | Path,
    container: Container,
    state: Sequence[StateVar] = (),
    integer: Mapping[str, IntegerInput] | None = None,
) -> tuple[list[dict[str, np.ndarray]], str | None]:
    """Every input-list line as feeds at batch 1, and the first output the list names.

    State inputs (the container's own, and ``state``) may be left out of a line: they
    get their initial value (zeros for ``--state`` pairs). ``integer``: inputs that also
    take the model's own int8/uint8 files.
    """
    graph = container.graph
    all_state = [*graph.state, *(s for s in state if s not in graph.state)]
    optional = internal_inputs(graph) | {s.input for s in state}
    listing = parse_input_list(input_list_path, graph.input_names, optional)
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
    infos = {t.name: t for t in graph.inputs}
    kinds = integer or {}
    samples = [
        fill_initial(
            {
                name: load_tensor(path, infos[name], integer=kinds.get(name))
                for name, path in line.items()
            },
            all_state,
            infos,
        )
        for line in listing.lines
    ]
    return samples, wanted


@dataclass(frozen=True)
class BenchRequest:
    """What ``bench_job`` is asked: containers, the input list, the bench options (or a
    mapping of them) and what to record with the runs."""

    containers: Sequence[str | Path]
    input_list: str | Path
    options: BenchOptions = field(default_factory=BenchOptions)
    command: str | None = None
    tags: Sequence[str] = ()
    init_repeats: int = 3  # inits timed per measurement; the fastest is kept
    # The float container quantized ones are measured against (default: found as the
    # module doc says); a sweep names it, its workers may have the file elsewhere.
    reference: str | Path | None = None
    csv: str | Path | None = None  # the rows written there too (never over an input)

    kind = BENCH

    def __post_init__(self) -> None:
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", BenchOptions(**self.options))

    def command_line(self, project: str) -> str:
        return workbench_command(
            project, "bench", *self.containers, "--input-list", self.input_list,
            *self.options.argv(),
        )  # fmt: skip


@dataclass(frozen=True)
class _Pair:
    """One (container, runtime) measurement to make, with its float reference."""

    path: Path
    head: Container
    container_id: int
    runtime: str
    cpu_fxp: bool
    reference: list[dict[str, np.ndarray]] | None
    reference_path: Path | None
    reference_id: int | None
    reference_note: str | None


@dataclass(frozen=True)
class _Bench:
    """What every pair of one bench shares."""

    store: Store
    project: str
    request: BenchRequest
    samples: list[dict[str, np.ndarray]]
    labels: list[int] | None
    output: str | None  # the output accuracy is measured on
    metric: MetricChoice | None = None
    state: tuple[StateVar, ...] = ()  # carried line to line (``--stateful``)


def bench_job(
    store: Store, project: str, request: BenchRequest, *, progress: Progress | None = None
) -> BenchResult:
    """Measure every container on every runtime; one recorded benchmark run per row.

    ``options.stateful`` carries state from one input-list line to the next (the
    container's own, and the ``options.state`` ``INPUT=OUTPUT`` pairs); accuracy then
    compares the two sequences.
    """
    if not request.containers:
        raise BadInput("give at least one container to bench")
    options = request.options
    use_threads(options.threads)
    paths = [Path(p) for p in dict.fromkeys(str(Path(p)) for p in request.containers)]
    heads = {  # subnets.json says whether AIP takes it; no other record is inflated
        p: read_container(p, load_params=False, load_records=("subnets.json",)) for p in paths
    }
    first = heads[paths[0]]
    carried = state_for(first.graph, options.stateful, options.state)
    if carried and options.batch != 1:
        raise BadInput("--stateful runs the input list line after line: --batch must be 1")
    optional = internal_inputs(first.graph) | {s.input for s in carried}
    listing = parse_input_list(request.input_list, first.graph.input_names, optional)
    if request.csv is not None:
        refuse_overwriting(request.csv, [*paths, request.input_list, options.labels,
                                         *(p for line in listing.lines for p in line.values()),
                                         *store.files],
                           option="--csv")  # fmt: skip
    available = available_memory()
    for p in paths:  # one container is loaded at a time, with every sample and reference
        graph = heads[p].graph
        kept = len(listing) * (io_bytes(graph.inputs) + 2 * io_bytes(graph.outputs))
        check_container_fits(p, "bench", available, head=heads[p], batch=options.batch,
                             extra=kept)  # fmt: skip
    for p in paths[1:]:
        if heads[p].graph.input_names != first.graph.input_names:
            raise BadInput(
                f"{p} has inputs {', '.join(heads[p].graph.input_names)} but {paths[0]} has "
                f"{', '.join(first.graph.input_names)}: bench containers of one model together"
            )
    carried = state_for(first.graph, options.stateful, options.state)
    if carried and options.batch != 1:
        raise BadInput("--stateful runs the input list line after line: --batch must be 1")
    integer = next(
        (found for h in heads.values() if (found := integer_inputs(h.manifest, h.encodings))), {}
    )
    samples, output = load_samples(request.input_list, first, carried, integer)
    labels = read_labels(options.labels, len(samples)) if options.labels is not None else None

    with store.read() as session:
        get_project(session, project)  # a missing project fails before any work
    bench = _Bench(store, project, request, samples, labels, output, state=tuple(carried))
    pairs = [
        (path, runtime, fxp)
        for path in paths
        for runtime in options.runtimes
        for fxp in _modes(runtime, options.cpu_fxp and heads[path].quantized)
    ]
    references = _References(bench, paths, heads)
    bench = replace(bench, metric=_metric(bench, references, paths, heads))
    rows: list[BenchRow] = []
    for done, (path, runtime, fxp) in enumerate(pairs):
        if progress:
            progress("bench", done, len(pairs))
        rows.append(_bench_pair(bench, references.pair(path, runtime, fxp)))
    if progress:
        progress("bench", len(pairs), len(pairs))
    if request.csv is not None:
        write_csv(rows, request.csv)
    return BenchResult(
        rows=tuple(rows),
        samples=len(samples),
        input_list=str(request.input_list),
        labels=options.labels,
        metric=bench.metric.metric if bench.metric else None,
        metric_reason=bench.metric.reason if bench.metric else None,
    )


def _metric(
    bench: _Bench, references: _References, paths: list[Path], heads: dict[Path, Container]
) -> MetricChoice:
    """The model's decision metric (of the first float container, else the first one)."""
    first = next((p for p in paths if not heads[p].quantized), paths[0])
    return decision_metric(
        bench.store,
        references.ids[first],
        heads[first].graph,
        output=bench.output,
        requested=bench.request.options.metric,
        command="bench",
    )


def _modes(runtime: str, fixed_point: bool) -> tuple[bool, ...]:
    """``cpu_fxp`` values to measure: also the fixed-point mode when asked and declared."""
    return (False, True) if fixed_point and get_runtime(runtime).fixed_point else (False,)


class _References:
    """The containers' store ids and float references; a reference's outputs are
    computed once, when a pair first needs them."""

    def __init__(self, bench: _Bench, paths: list[Path], heads: dict[Path, Container]):
        store, project = bench.store, bench.project
        self.bench, self.heads = bench, heads
        self.ids = {p: record_container(store, project, p) for p in paths}
        given = bench.request.reference
        self.references = {
            p: (Path(given), None)
            if given is not None and heads[p].quantized
            else _reference_for(store, project, p, heads, paths)
            for p in paths
        }
        self.outputs: dict[Path, list[dict[str, np.ndarray]]] = {}

    def pair(self, path: Path, runtime: str, fxp: bool) -> _Pair:
        ref_path, ref_note = self.references[path]
        ref_id, reference = None, None
        if ref_path is not None:
            if ref_path not in self.outputs:
                self.outputs[ref_path] = reference_outputs(
                    ref_path, self.bench.samples, self.bench.state
                )
            reference = self.outputs[ref_path]
            ref_id = self.ids.get(ref_path) or record_container(
                self.bench.store, self.bench.project, ref_path
            )
        head, cid = self.heads[path], self.ids[path]
        return _Pair(path, head, cid, runtime, fxp, reference, ref_path, ref_id, ref_note)


def _bench_pair(bench: _Bench, pair: _Pair) -> BenchRow:
    """Measure one pair (or record the runtime's refusal) as one benchmark run."""
    try:
        check_runtime(
            pair.head, pair.runtime, batch=bench.request.options.batch, cpu_fxp=pair.cpu_fxp
        )
    except RuntimeRefused as refusal:
        return _refused(bench, pair, refusal)
    return _measured(bench, pair)


def _row_base(bench: _Bench, pair: _Pair) -> dict[str, Any]:
    return {
        "container": str(pair.path),
        "quantized": pair.head.quantized,
        "runtime": pair.runtime,
        "cpu_fxp": pair.cpu_fxp,
        "batch": bench.request.options.batch,
        "size_bytes": pair.path.stat().st_size,
        "reference": str(pair.reference_path) if pair.reference_path is not None else None,
    }


def _run_options(bench: _Bench) -> dict[str, Any]:
    """The run's ``options``: what was asked, for the record."""
    labels = bench.request.options.labels
    return {
        "command": "bench",
        "samples": len(bench.samples),
        "input_list": str(Path(bench.request.input_list).resolve()),
        "labels": str(Path(labels).resolve()) if labels else None,
        "threads": use_threads(None),  # latency depends on it
        **(
            {"stateful": True, "state": [f"{v.input}={v.output}" for v in bench.state]}
            if bench.state
            else {}
        ),
    }


def _run_args(bench: _Bench, pair: _Pair) -> dict[str, Any]:
    """``tracked_run``'s arguments for the pair's benchmark run."""
    request = bench.request
    return {
        "project": bench.project,
        "kind": BENCH,
        "model_id": model_id_of_container(bench.store, pair.container_id),
        "container_id": pair.container_id,
        "command": request.command,
        "tags": request.tags,
        "runtime": pair.runtime,
        "cpu_fxp": pair.cpu_fxp,
        "batch": request.options.batch,
        "iterations": request.options.iterations,
        "reference_container_id": pair.reference_id,
    }


def _refused(bench: _Bench, pair: _Pair, refusal: RuntimeRefused) -> BenchRow:
    """A refused pair: a failed run whose error is the reason and options say refused."""
    run_id = None
    options = {**_run_options(bench), "refused": True}
    try:
        with tracked_run(bench.store, options=options, **_run_args(bench, pair)) as run:
            run_id = run.id
            run.record(container_size_bytes=pair.path.stat().st_size)
            run.log(f"{pair.runtime} refuses {pair.path.name}: {refusal}")
            raise refusal
    except RuntimeRefused:
        pass
    base = _row_base(bench, pair)
    return BenchRow(
        **base, status=REFUSED, error=str(refusal), accuracy=_no_accuracy(), run_id=run_id
    )


def _measured(bench: _Bench, pair: _Pair) -> BenchRow:
    """Measure the pair and record it; a failure is a failed row, not an exception."""
    base = _row_base(bench, pair)
    run_id = None
    try:
        with tracked_run(bench.store, options=_run_options(bench), **_run_args(bench, pair)) as run:
            run_id = run.id
            m = _measure(bench, pair)
            accuracy = _accuracy(m, bench.labels is not None)
            notes = list(m.notes)
            if pair.reference is None and pair.reference_note:
                notes.append(pair.reference_note)
            if m.cpu_fallback:
                fb = m.cpu_fallback
                notes.append(
                    f"CPU fallback: {fb['float_layers']:g} float layer(s), "
                    f"{fb['boundaries']:g} convert(s) per inference taking "
                    f"{fb['convert_ms']:.3f} ms of the mean latency"
                )
            _record(run, bench, pair, m, accuracy, notes)
    except WorkbenchError as exc:
        return BenchRow(
            **base, status=FAILED, error=error_text(exc), accuracy=_no_accuracy(), run_id=run_id
        )
    return BenchRow(
        **base,
        status=SUCCEEDED,
        error=None,
        mode=m.mode,
        iterations=m.iterations,
        init_ms=m.init_ms,
        init_breakdown_ms=m.init_breakdown_ms,
        init_peak_bytes=m.init_peak_bytes,
        create_ms=m.create_ms,
        create_peak_bytes=m.create_peak_bytes,
        latency_ms=_latency(m),
        accuracy=accuracy,
        notes=tuple(notes),
        layer_ms=m.layer_ms,
        run_id=run_id,
        device_init_ms=m.device_init_ms,
        device_init_peak_bytes=m.device_init_peak_bytes,
        emulator_setup_ms=m.emulator_setup_ms,
        nonfinite_values=m.accuracy.nonfinite if m.accuracy else None,
        metric=bench.metric.metric if bench.metric else None,
        metric_value=_metric_value(bench, accuracy),
        samples=len(bench.samples),
        init_peak_breakdown_bytes=m.init_peak_breakdown_bytes,
        reference_absmax=m.accuracy.tally.ref_absmax if m.accuracy else None,
        reference_scale=reference_scale(m.accuracy.tally) if m.accuracy else None,
        cpu_fallback=m.cpu_fallback,
    )


def _metric_value(bench: _Bench, accuracy: dict[str, Any]) -> float | None:
    if bench.metric is None:
        return None
    return accuracy.get(ACCURACY_FIELD[bench.metric.metric])


def _measure(bench: _Bench, pair: _Pair) -> Measurement:
    options = bench.request.options
    return measure(
        pair.path,
        pair.runtime,
        bench.samples,
        iterations=options.iterations,
        batch=options.batch,
        cpu_fxp=pair.cpu_fxp,
        reference=pair.reference,
        labels=bench.labels,
        output=bench.output,
        per_layer=options.per_layer,
        init_repeats=bench.request.init_repeats,
        state=bench.state,
    )


def _latency(m: Measurement) -> dict[str, float] | None:
    if not m.latency_ms:
        return None
    lat = m.latency_ms
    return {"mean": lat.mean, "p50": lat.p50, "p90": lat.p90, "min": lat.min}


def _record(
    run: Any, bench: _Bench, pair: _Pair, m: Measurement, accuracy: dict, notes: list[str]
) -> None:
    """Store the measurement in the run and its log."""
    latency = _latency(m) or {}
    run.record(
        init_time_ms=m.init_ms,
        init_breakdown=m.init_breakdown_ms,
        init_peak_bytes=m.init_peak_bytes,
        peak_memory_bytes=m.init_peak_bytes,
        device_init_ms=m.device_init_ms,
        device_init_peak_bytes=m.device_init_peak_bytes,
        emulator_setup_ms=m.emulator_setup_ms,
        nonfinite_values=m.accuracy.nonfinite if m.accuracy else None,
        decision_metric=bench.metric.metric if bench.metric else None,
        latency_mean_ms=latency.get("mean"),
        latency_p50_ms=latency.get("p50"),
        latency_p90_ms=latency.get("p90"),
        latency_min_ms=latency.get("min"),
        container_size_bytes=pair.path.stat().st_size,
        options={
            **_run_options(bench),
            "mode": m.mode,
            "create_ms": m.create_ms,
            "create_peak_bytes": m.create_peak_bytes,
            "accuracy_output": m.accuracy.output if m.accuracy else bench.output,
            "accuracy_usable": accuracy.get("usable"),
            "metric_reason": bench.metric.reason if bench.metric else None,
            "init_peak_breakdown_bytes": m.init_peak_breakdown_bytes,
            "reference_absmax": m.accuracy.tally.ref_absmax if m.accuracy else None,
            "reference_scale": reference_scale(m.accuracy.tally) if m.accuracy else None,
            "notes": notes,
            **({"layer_ms": m.layer_ms} if m.layer_ms else {}),
            **({"cpu_fallback": m.cpu_fallback} if m.cpu_fallback else {}),
        },
        **{k: accuracy.get(k) for k in _ACCURACY_KEYS},
    )
    run.log(_log_line(m, accuracy))
    for note in notes:
        run.log(note)


def _no_accuracy() -> dict[str, Any]:
    return dict.fromkeys(_ACCURACY_KEYS) | {"usable": False}


def _accuracy(m: Measurement, labelled: bool) -> dict[str, Any]:
    """Every metric's value (None where it does not apply or the outputs were not finite)."""
    a = m.accuracy
    if a is None:
        return _no_accuracy() | {"label_accuracy": m.label_accuracy}
    values = {field: a.value(metric) for metric, field in ACCURACY_FIELD.items()}
    if not labelled:
        values["label_accuracy"] = None
    return {k: finite_db(v) for k, v in values.items()} | {"usable": a.usable}


def _log_line(m: Measurement, accuracy: dict[str, float | None]) -> str:
    parts = [f"{m.runtime} ({m.mode}): init {m.init_ms:.1f} ms"]
    if m.init_peak_bytes is not None:
        parts.append(f"init peak {m.init_peak_bytes / 2**20:.1f} MiB")
    if m.latency_ms:
        parts.append(f"latency mean {m.latency_ms.mean:.2f} ms over {m.iterations}")
    if accuracy.get("sqnr_db") is not None:
        parts.append(f"SQNR {accuracy['sqnr_db']:.1f} dB vs float")
    if m.device_init_ms is not None:
        parts.append(f"device init {m.device_init_ms:.1f} ms")
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
        if ok and not read_container(source, load_params=False).quantized:
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
        for run in quantize_runs_writing(session, row):
            source = find_container(session, run.container_id)
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
    "device_init_ms",
    "device_init_peak_bytes",
    "emulator_setup_ms",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_min_ms",
    *_ACCURACY_KEYS,
    "nonfinite_values",
    "metric",
    "metric_value",
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
        "device_init_ms": row.device_init_ms,
        "device_init_peak_bytes": row.device_init_peak_bytes,
        "emulator_setup_ms": row.emulator_setup_ms,
        "latency_mean_ms": lat.get("mean"),
        "latency_p50_ms": lat.get("p50"),
        "latency_p90_ms": lat.get("p90"),
        "latency_min_ms": lat.get("min"),
        **{k: row.accuracy.get(k) for k in _ACCURACY_KEYS},
        "nonfinite_values": row.nonfinite_values,
        "metric": row.metric,
        "metric_value": row.metric_value,
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
