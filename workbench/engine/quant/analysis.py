"""Per-layer quantization analysis: where a quantized model loses accuracy, and why.

``analyze`` runs the float container and a fake-quant run of the quantized one on the
same samples and reports, for every float node output:

* its encoding (a layer fused with its activation, Conv+Relu, is one row: the
  activation's output, as the vendor runtime sees it);
* the SQNR of the quantized run's tensor against the float one (signal and noise
  energies accumulated over samples, never arrays), which includes everything
  upstream;
* ``rmse / delta`` (the RMS error in steps of its own encoding): ≈ 0.29 is healthy
  rounding noise, far above means clipping, drift from upstream or a bad range.

and a sensitivity report on the model's decision metric (``sensitivity.py``): the
whole model with only its weights or only its activations quantized, and the same two
halves per layer for the ``top`` layers whose own quantization noise is largest,
ranked by cost, with the knob that helps.

Fake quantization. ``fake_quant_runner(container)`` may supply the full fake-quant
executor (``workbench.engine.quant.fakequant.FakeQuantPlan``: ``.run(feeds, hook)``);
without one, and always for the partial configurations, ``SimulatedQuantPlan`` here
does it: parameters dequantized at plan time, each output (and graph input)
quantize-dequantized with its encoding by a wrapped float kernel.

The float reference, and "weights float", mean the *prepared* float weights the encodings were computed on:
after Gemm folding and CLE, before bias correction (``QuantizeResult.prepared_graph``;
rebuilt from the float container when not given, CLE being deterministic). A bias that
bias correction created is zero in float.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from workbench.engine.container import Container
from workbench.engine.evaluate import Evaluation, Evaluator
from workbench.engine.executor import Plan, TensorHook
from workbench.engine.graph import Graph
from workbench.engine.inputs import InputList
from workbench.engine.quant.calibrate import FeedSource
from workbench.engine.quant.cle import equalize
from workbench.engine.quant.encoding import (
    AnyEncoding,
    Encoding,
    dequantize,
    encoding_from_dict,
    fake_quantize,
)
from workbench.engine.quant.propagation import fused_activation_inputs, propagates
from workbench.engine.quant.quantizer import normalize_gemms
from workbench.engine.quant.sensitivity import (
    Candidate,
    LayerSensitivity,
    Sensitivity,
    Setup,
    measure_sensitivity,
)
from workbench.engine.quant.simulate import SimulatedQuantPlan
from workbench.errors import BadInput
from workbench.vocabulary import CLE, SQNR

Feeds = Mapping[str, np.ndarray]


class Runner(Protocol):
    def run(self, feeds: Feeds, hook: TensorHook | None = None) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class LayerReport:
    """One layer's output. A layer fused with its activation (Conv+Relu) is one row."""

    node: str
    op_type: str  # "Conv+Relu" for a fused pair
    tensor: str  # the layer's output (the activation's for a fused pair)
    encoding: dict[str, Any] | None
    sqnr_db: float
    rmse_over_scale: float | None
    propagated: bool = False  # a data-movement output (its input's encoding)
    nodes: tuple[str, ...] = ()  # every node in the layer (two for a fused pair)


@dataclass(frozen=True)
class AnalysisReport:
    layers: tuple[LayerReport, ...]
    sensitivity: Sensitivity
    samples: int
    full: Evaluation  # the fake-quant run on the evaluated output, by the evaluator


class _Energy:
    """Running signal and noise energies of one tensor (and its element count)."""

    __slots__ = ("signal", "noise", "count")

    def __init__(self) -> None:
        self.signal = 0.0
        self.noise = 0.0
        self.count = 0

    def add(self, ref: np.ndarray, test: np.ndarray) -> None:
        r = np.asarray(ref, dtype=np.float64)
        t = np.asarray(test, dtype=np.float64)
        if not np.isfinite(r).all():  # a mask's -inf: compared where the float value is finite
            keep = np.isfinite(r)
            r, t = r[keep], t[keep]
        d = r - t
        # Plain reductions, not a BLAS dot: an OpenBLAS thread pool spins on a busy machine.
        self.signal += float(np.square(r).sum())
        self.noise += float(np.square(d).sum())
        self.count += r.size

    @property
    def sqnr_db(self) -> float:
        if self.noise == 0.0:
            return math.inf
        if self.signal == 0.0:
            return -math.inf
        return 10.0 * math.log10(self.signal / self.noise)

    def rmse(self) -> float:
        return math.sqrt(self.noise / self.count) if self.count else 0.0


# --------------------------------------------------------------------------- analysis


def prepared_float_graph(float_container: Container, quant_container: Container) -> Graph:
    """The float graph the quantizer calibrated: Gemm folding, then CLE if it ran."""
    options = ((quant_container.manifest.get("quantizer") or {}).get("options")) or {}
    graph = normalize_gemms(float_container.graph)
    if CLE in (options.get("algorithms") or ()):
        graph, _ = equalize(graph)
    return graph


def _output_sqnr(
    reference: list[dict[str, np.ndarray]], runner: Runner, feeds: list[Feeds]
) -> float:
    energy = _Energy()
    for ref, f in zip(reference, feeds, strict=True):
        out = runner.run(f)
        for name, r in ref.items():
            energy.add(r, out[name])
    return energy.sqnr_db


def analyze(
    float_container: Container,
    quant_container: Container,
    samples: InputList | Iterable[Feeds],
    fake_quant_runner: Callable[[Container], Runner] | None = None,
    *,
    prepared_graph: Graph | None = None,
    top: int = 10,
    progress: Callable[[str, int, int], None] | None = None,
    metric: str = SQNR,
    output: str | None = None,
    labels: Sequence[int] | None = None,
) -> AnalysisReport:
    """Per-layer SQNR and RMSE/scale, and the sensitivity report (see module doc).

    ``metric`` and ``output`` (default: the first) say what the sensitivity is judged by;
    ``top`` is how many layers are measured alone.
    """
    if not quant_container.quantized:
        raise BadInput("the second container must be the quantized one")
    if float_container.quantized:
        raise BadInput("the first container must be the float one")
    if not (float_container.params_loaded and quant_container.params_loaded):
        raise BadInput("analysis needs both containers' parameters loaded")
    feeds = [f for _, f in FeedSource(samples, float_container.graph)]
    if not feeds:
        raise BadInput("analysis needs at least one sample")
    encs = {n: encoding_from_dict(d) for n, d in quant_container.encodings.items()}
    rounding = quant_container.rounding
    # The reference is the prepared float graph: after CLE its intermediate tensors are
    # the quantized graph's (channels rescaled), and its outputs are the float model's.
    prepared = prepared_graph or prepared_float_graph(float_container, quant_container)
    fgraph = float_container.graph
    float_plan = Plan(prepared)
    full: Runner = (
        fake_quant_runner(quant_container)
        if fake_quant_runner is not None
        else SimulatedQuantPlan(quant_container)
    )
    outputs = fgraph.output_names
    output = output or outputs[0]
    evaluator = Evaluator(output, labels=labels)

    energies: dict[str, _Energy] = {}
    local: dict[str, _Energy] = {}  # each output's own quantization noise, on float data
    reference: list[dict[str, np.ndarray]] = []
    floats: dict[str, np.ndarray] = {}  # one sample's float tensors, dropped as compared

    def keep(name: str, value: np.ndarray) -> None:
        enc = encs.get(name)
        if enc is not None and value.dtype.kind == "f":
            floats[name] = value
            local.setdefault(name, _Energy()).add(value, fake_quantize(value, enc, rounding))

    def compare(name: str, value: np.ndarray) -> None:
        ref = floats.pop(name, None)
        if ref is not None and ref.shape == value.shape:
            energies.setdefault(name, _Energy()).add(ref, value)

    for k, f in enumerate(feeds, start=1):
        ref_out = float_plan.run(f, hook=keep)
        reference.append({o: ref_out[o] for o in outputs})
        evaluator.add(ref_out[output], full.run(f, hook=compare)[output])
        floats.clear()
        if progress:
            progress("analyze", k, len(feeds))

    layers = _layer_reports(quant_container, energies, encs)
    setup = Setup(quant_container, prepared.params, feeds, reference, output, metric, labels)
    candidates = _candidates(layers, local, quant_container, prepared)
    full_eval = evaluator.result()
    sens = measure_sensitivity(setup, full_eval, candidates, limit=top, progress=progress)
    return AnalysisReport(tuple(layers), sens, len(feeds), full_eval)


def _layer_reports(
    quant_container: Container, energies: Mapping[str, _Energy], encs: Mapping[str, AnyEncoding]
) -> list[LayerReport]:
    """One row per layer output compared (a fused Conv+Relu is one row)."""
    qgraph = quant_container.graph
    fused = fused_activation_inputs(qgraph)  # producer output -> activation output
    producers = qgraph.producers()
    fused_acts = {producers[a].name for a in fused.values() if a in producers}
    layers = []
    for n in qgraph.nodes:
        if n.name in fused_acts:
            continue  # reported with its producer
        moved = propagates(n, qgraph)
        for o in n.outputs:
            nodes: tuple[str, ...] = (n.name,)
            op_type = n.op_type
            if o in fused and fused[o] in producers:
                act = producers[fused[o]]
                o, nodes, op_type = fused[o], (n.name, act.name), f"{n.op_type}+{act.op_type}"
            e = energies.get(o)
            if e is None:
                continue
            enc = encs.get(o)
            ratio = e.rmse() / enc.delta if isinstance(enc, Encoding) else None
            row = LayerReport(
                n.name, op_type, o, quant_container.encodings.get(o), e.sqnr_db, ratio, moved, nodes
            )
            layers.append(row)
    return layers


def _candidates(
    layers: Sequence[LayerReport],
    local: Mapping[str, _Energy],
    quant_container: Container,
    prepared: Graph,
) -> list[Candidate]:
    """Each layer with its own weights' and outputs' quantization noise (SQNR, dB)."""
    penc = quant_container.param_encodings
    nodes = {n.name: n for n in quant_container.graph.nodes}
    out = []
    for r in layers:
        if r.propagated:
            continue
        weights = _Energy()
        for name in (i for node in r.nodes for i in nodes[node].inputs if i in penc):
            fp = prepared.params.get(name)
            if fp is not None and fp.dtype.kind == "f":
                deq = dequantize(quant_container.graph.params[name], encoding_from_dict(penc[name]))
                weights.add(fp, deq)
        act = local.get(r.tensor)
        out.append(
            Candidate(
                r.node,
                r.op_type,
                r.nodes,
                weights.sqnr_db if weights.count else None,
                act.sqnr_db if act is not None and act.count else None,
            )
        )
    return out


def output_sqnr(
    float_container: Container,
    runner: Runner,
    samples: InputList | Iterable[Feeds],
) -> float:
    """The SQNR (dB) of ``runner``'s outputs against the float container's, over ``samples``."""
    plan = Plan(float_container.graph)
    energy = _Energy()
    for _, f in FeedSource(samples, float_container.graph):
        ref = plan.run(f)
        out = runner.run(f)
        for name in float_container.graph.output_names:
            energy.add(ref[name], out[name])
    return energy.sqnr_db


__all__ = [
    "AnalysisReport",
    "LayerReport",
    "LayerSensitivity",
    "Sensitivity",
    "SimulatedQuantPlan",
    "analyze",
    "output_sqnr",
    "prepared_float_graph",
]
