"""Measure a container on a runtime: what the guide describes, in numbers.

``measure`` initialises the container on the runtime from its file, as an application
would, and reports:

* **init time** and its breakdown: ``load`` (read the file's bytes), ``deserialize``
  (parse and verify the archive into a container), then the runtime's own phases
  (``dequantize`` / ``quantize`` / ``cast_fp16`` / ``hta_records``, ``resize``, ``plan``;
  see ``runtimes``), which together are the runtime's own init, ``create_ms`` (the
  vendor benchmark's "Create"). With ``init_repeats`` above 1 the fastest init is kept.
* **init peak memory**: the peak of traced allocations during a separate, identical
  init, with ``tracemalloc`` started just before it; also the peak of what the
  runtime itself allocates once the container is deserialized (``create``). numpy reports every array buffer
  it allocates to ``tracemalloc`` (its own tracing domain), so the peak counts
  parameters, conversions and plan layouts as well as Python objects. The traced init
  is not the timed one: tracing slows Python allocations down.
* **container size** (bytes on disk);
* **latency** of one inference (one batch) over ``iterations`` runs after ``warmup``:
  mean, p50, p90 and min, in ms; optionally the mean time per layer;
* **accuracy** against reference outputs (the float container on the CPU runtime,
  ``reference_outputs``): SQNR (dB), cosine similarity and max abs error over every
  sample of the primary output (the first output, or the one named), top-1 agreement
  of the arg-max over its last axis, and label accuracy when labels are given.

Feeds are per sample (batch 1); with a batch N the samples are grouped N at a time (a
short last group is padded by repeating its last sample, whose rows are dropped).
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.engine.container import read_container
from workbench.engine.graph import StateVar
from workbench.engine.quant.sqnr import cosine, max_abs_err, sqnr_db
from workbench.engine.runtimes.load import load_network
from workbench.engine.runtimes.network import Network
from workbench.engine.state import StateCarrier
from workbench.errors import BadInput
from workbench.vocabulary import REFERENCE_RUNTIME

Feeds = Mapping[str, np.ndarray]
_CHUNK = 1 << 18
_FILE_PHASES = ("load", "deserialize")


@dataclass(frozen=True)
class Latency:
    mean: float
    p50: float
    p90: float
    min: float


@dataclass(frozen=True)
class Accuracy:
    output: str
    samples: int
    sqnr_db: float
    cosine: float
    max_abs_err: float
    top1_agreement: float | None
    label_accuracy: float | None


@dataclass(frozen=True)
class Measurement:
    container: str
    runtime: str
    quantized: bool
    cpu_fxp: bool
    batch: int
    mode: str
    size_bytes: int
    init_ms: float
    init_breakdown_ms: dict[str, float]
    init_peak_bytes: int | None
    create_ms: float  # the runtime's own init: everything after load and deserialize
    create_peak_bytes: int | None
    iterations: int
    latency_ms: Latency | None
    accuracy: Accuracy | None
    label_accuracy: float | None = None  # also without a reference (labels only)
    layer_ms: dict[str, float] | None = None
    notes: tuple[str, ...] = field(default=())
    # Float layers on a fixed-point runtime: {"float_layers", "boundaries", "convert_ms"}
    # (convert_ms: the mean per timed inference spent converting at the boundaries).
    cpu_fallback: dict[str, float] | None = None


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_file(path: str | os.PathLike[str]) -> int:
    """Read every byte of the file (the ``load`` phase: storage to memory); returns the size."""
    buf = bytearray(_CHUNK)
    total = 0
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            total += n
    return total


def init_network(
    container_path: str | os.PathLike[str],
    runtime: str,
    *,
    batch: int = 1,
    cpu_fxp: bool = False,
    keep: tuple[str, ...] = (),
) -> Network:
    """Read the container from its file and initialise it; the breakdown starts with the file."""
    t0 = time.perf_counter()
    _read_file(container_path)
    t1 = time.perf_counter()
    container = read_container(container_path)
    t2 = time.perf_counter()
    network = load_network(container, runtime, batch=batch, cpu_fxp=cpu_fxp, keep=keep)
    network.init_breakdown_ms = {
        "load": (t1 - t0) * 1e3,
        "deserialize": (t2 - t1) * 1e3,
        **network.init_breakdown_ms,
    }
    return network


def init_peak_bytes(
    container_path: str | os.PathLike[str], runtime: str, *, batch: int = 1, cpu_fxp: bool = False
) -> tuple[int, int]:
    """``(whole, create)``: peaks of traced allocations (numpy buffers included) during one init.

    ``whole`` counts from opening the file; ``create`` only what the runtime allocates
    beyond the deserialized container (its conversions and plan).
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        container = read_container(container_path)  # reads the file: no separate load pass
        loaded, load_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        network = load_network(container, runtime, batch=batch, cpu_fxp=cpu_fxp)
        create_peak = tracemalloc.get_traced_memory()[1]
        del network, container
    finally:
        if started:
            tracemalloc.stop()
    return max(0, max(load_peak, create_peak) - base), max(0, create_peak - loaded)


def reference_outputs(
    container_path: str | os.PathLike[str],
    samples: Sequence[Feeds],
    state: Sequence[StateVar] = (),
) -> list[dict[str, np.ndarray]]:
    """Each sample's outputs from the container on the CPU runtime (float32 when float);
    with ``state``, the samples run in order with that state carried."""
    network = load_network(
        read_container(container_path), REFERENCE_RUNTIME, keep=_state_keep(state)
    )
    run = _carrying(network, state)
    return [run(feeds) for feeds in samples]


def _state_keep(state: Sequence[StateVar]) -> tuple[str, ...]:
    return tuple(s.output for s in state)


def _carrying(network: Network, state: Sequence[StateVar]):
    """``network.run``, carrying ``state`` from each call to the next (``--stateful``)."""
    if not state:
        return network.run
    carrier = StateCarrier(state, network.inputs)

    def run(feeds: Feeds, hook=None) -> dict[str, np.ndarray]:
        results = network.run(carrier.fill(feeds), hook=hook)
        carrier.update(results)
        return results

    return run


def measure(
    container_path: str | os.PathLike[str],
    runtime: str,
    samples: Sequence[Feeds],
    *,
    iterations: int = 10,
    warmup: int = 1,
    batch: int = 1,
    cpu_fxp: bool = False,
    reference: Sequence[Mapping[str, np.ndarray]] | None = None,
    labels: Sequence[int] | None = None,
    output: str | None = None,
    per_layer: bool = False,
    init_repeats: int = 1,
    trace_memory: bool = True,
    state: Sequence[StateVar] = (),
) -> Measurement:
    """Initialise ``container_path`` on ``runtime`` and measure it (see the module doc).

    Raises ``RuntimeRefused`` when the runtime refuses the container.
    """
    if not samples:
        raise BadInput("no samples to run")
    if iterations < 1:
        raise BadInput(f"--iterations must be at least 1, got {iterations}")
    if state and batch != 1:
        raise BadInput("--stateful runs the input list line after line: --batch must be 1")
    if reference is not None and len(reference) != len(samples):
        raise BadInput("one reference output per sample is needed")
    if labels is not None and len(labels) != len(samples):
        raise BadInput(
            f"the labels file has {len(labels)} labels for {len(samples)} input-list lines"
        )
    path = Path(container_path)
    size = path.stat().st_size
    # Inits run with the collector paused (no collection pauses in the timings); a full
    # collection here would cost more than the init of a small model in a busy process.
    gc.collect(0)
    peak = create_peak = None
    if trace_memory:
        with _no_gc():
            peak, create_peak = init_peak_bytes(path, runtime, batch=batch, cpu_fxp=cpu_fxp)

    network: Network | None = None
    best: dict[str, float] = {}
    for _ in range(max(1, init_repeats)):
        network = None
        with _no_gc():
            candidate = init_network(
                path, runtime, batch=batch, cpu_fxp=cpu_fxp, keep=_state_keep(state)
            )
        if not best or sum(candidate.init_breakdown_ms.values()) < sum(best.values()):
            best = candidate.init_breakdown_ms
        network = candidate
    assert network is not None

    batches = list(_batches(samples, network, batch))
    needs_outputs = reference is not None or labels is not None
    outputs: list[dict[str, np.ndarray]] = []
    # With state, the accuracy pass runs the lines in order from the initial state (as
    # the reference did); the timed runs go on from there.
    run = _carrying(network, state)
    if needs_outputs:
        for rows, feeds in batches:
            outputs.extend(_split(run(feeds), rows, batch))
    # The accuracy pass, when there is one, warms the network up.
    for k in range(max(0, warmup) if not needs_outputs else 0):
        run(batches[k % len(batches)][1])
    clock = network.convert_seconds
    converted = clock() if clock is not None else 0.0
    times = []
    for k in range(iterations):
        feeds = batches[k % len(batches)][1]
        t = time.perf_counter()
        run(feeds)
        times.append((time.perf_counter() - t) * 1e3)
    fallback = None
    if clock is not None:
        fallback = {
            "float_layers": network.float_layers,
            "boundaries": network.boundaries,
            "convert_ms": (clock() - converted) * 1e3 / iterations,
        }
    layer_ms = _layer_times(network, batches, iterations) if per_layer else None

    name = output or network.outputs[0]
    notes = list(network.notes)
    accuracy = None
    label_acc = None
    if outputs:
        if name not in outputs[0]:
            raise BadInput(f"{name!r} is not an output of {path.name}")
        test = [o[name] for o in outputs]
        if labels is not None:
            label_acc = _label_accuracy(test, labels)
        if reference is not None:
            ref = [r[name] for r in reference]
            accuracy = _accuracy(name, ref, test, labels)
    return Measurement(
        container=str(path),
        runtime=runtime,
        quantized=network.quantized,
        cpu_fxp=cpu_fxp,
        batch=batch,
        mode=network.mode,
        size_bytes=size,
        init_ms=sum(best.values()),
        init_breakdown_ms=best,
        init_peak_bytes=peak,
        create_ms=sum(v for k, v in best.items() if k not in _FILE_PHASES),
        create_peak_bytes=create_peak,
        iterations=iterations,
        latency_ms=_latency(times),
        accuracy=accuracy,
        label_accuracy=label_acc,
        layer_ms=layer_ms,
        notes=tuple(notes),
        cpu_fallback=fallback,
    )


def _batches(samples: Sequence[Feeds], network: Network, batch: int):
    names = [t.name for t in network.inputs]
    for start in range(0, len(samples), batch):
        rows = list(range(start, min(start + batch, len(samples))))
        group = [samples[i] for i in rows]
        group += [group[-1]] * (batch - len(group))
        feeds = {}
        for n in names:
            if n not in group[0]:
                raise BadInput(f"no value for model input {n!r}")
            feeds[n] = group[0][n] if batch == 1 else np.concatenate([g[n] for g in group])
        yield rows, feeds


def _split(results: Mapping[str, np.ndarray], rows: list[int], batch: int):
    """Per-sample outputs (batch 1) from one batch's outputs."""
    if batch == 1:
        return [dict(results)]
    out = []
    for r in range(len(rows)):
        sample = {}
        for k, v in results.items():
            v = np.asarray(v)
            sample[k] = v[r : r + 1] if v.ndim and v.shape[0] == batch else v
        out.append(sample)
    return out


def _latency(times: list[float]) -> Latency:
    return Latency(
        mean=statistics.fmean(times),
        p50=float(np.percentile(times, 50)),
        p90=float(np.percentile(times, 90)),
        min=min(times),
    )


def _layer_times(network: Network, batches, iterations: int) -> dict[str, float] | None:
    """Mean ms per layer: time between consecutive tensors as the plan produces them."""
    if network.run_raw is None:
        return None
    totals: dict[str, float] = {}
    last = [0.0]

    def hook(name: str, _value: np.ndarray) -> None:
        now = time.perf_counter()
        node = network.producers.get(name, name)
        totals[node] = totals.get(node, 0.0) + (now - last[0]) * 1e3
        last[0] = now

    for k in range(iterations):
        last[0] = time.perf_counter()
        network.run_raw(batches[k % len(batches)][1], hook)
    return {node: ms / iterations for node, ms in totals.items()}


def _top1(arrays: Sequence[np.ndarray]) -> np.ndarray | None:
    if not arrays or arrays[0].ndim == 0 or arrays[0].shape[-1] < 2:
        return None
    return np.array([int(np.argmax(np.asarray(a).reshape(-1, a.shape[-1])[0])) for a in arrays])


def _label_accuracy(test: Sequence[np.ndarray], labels: Sequence[int]) -> float | None:
    top = _top1(test)
    if top is None:
        return None
    return float(np.mean(top == np.asarray(labels, dtype=np.int64)))


def _accuracy(
    name: str,
    ref: Sequence[np.ndarray],
    test: Sequence[np.ndarray],
    labels: Sequence[int] | None,
) -> Accuracy:
    r = np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in ref])
    t = np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in test])
    if r.shape != t.shape:
        raise BadInput(f"output {name!r} has another shape than the reference's")
    top_ref, top_test = _top1(ref), _top1(test)
    agreement = None
    if top_ref is not None and top_test is not None:
        agreement = float(np.mean(top_ref == top_test))
    return Accuracy(
        output=name,
        samples=len(test),
        sqnr_db=sqnr_db(r, t),
        cosine=cosine(r, t),
        max_abs_err=max_abs_err(r, t),
        top1_agreement=agreement,
        label_accuracy=None if labels is None else _label_accuracy(test, labels),
    )
