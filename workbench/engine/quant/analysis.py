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

the distribution of its float values against its encoding range, and of its weights
against theirs (``histogram.RangeHistogram``: fixed bins, clipped share); and a
sensitivity report on the model's decision metric (``sensitivity.py``): the
whole model with only its weights or only its activations quantized, and the same two
halves per layer for the ``top`` layers whose own quantization noise is largest,
ranked by cost, with the knob that helps.

Fake quantization. ``fake_quant_runner(container)`` may supply the full fake-quant
executor (``workbench.engine.quant.fakequant.FakeQuantPlan``: ``.run(feeds, hook)``);
without one, and always for the partial configurations, ``SimulatedQuantPlan`` here
does it: parameters dequantized at plan time, each output (and graph input)
quantize-dequantized with its encoding by a wrapped float kernel.

The integer-true check (``check_integer_path``): the same samples through the float
container, the fake-quant path and the integer-true emulator; when the integer output's
SQNR against float is more than ``INTEGER_GAP_DB`` (3 dB) below fake-quant's, the check
carries a warning. Both paths execute the same container, so a gap that size is an
emulator defect (an overflowing accumulator, a wrong multiplier), never a quantization
result: every quantize runs it and records it. Unless the two paths agree at the
outputs' own resolution: an SQNR compares with the float signal's energy, and an output
whose float values sit below one step of its encoding turns single-step rounding
differences into tens of dB (MediaPipe's selfie segmentation on noise: a sigmoid mask
peaking at 1.5e-3 with steps of 9.4e-4; fake-quant rounds it all to 0, 0.0 dB, the
integer path has a few codes at 14 steps, -21.7 dB). So the check also takes the RMS of
integer-true minus fake-quant in steps of each output's encoding (``lsb_rms``, the worst
output) and warns only when that is above ``INTEGER_LSB_RMS`` as well: the noise of
rounding to the output's own steps, 1/sqrt(12) ≈ 0.29 step (that mask: 0.08 step); a
defect moves codes by many steps.

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
from workbench.engine.quant.histogram import RangeHistogram, histogram_of
from workbench.engine.quant.propagation import fused_activation_inputs, propagates
from workbench.engine.quant.quantizer import normalize_gemms
from workbench.engine.quant.roles import param_roles
from workbench.engine.quant.sensitivity import (
    Candidate,
    LayerSensitivity,
    Sensitivity,
    Setup,
    measure_sensitivity,
)
from workbench.engine.quant.simulate import SimulatedQuantPlan
from workbench.errors import BadInput
from workbench.vocabulary import CLE, SQNR, finite_db, format_db

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
    # {"output": histogram, "weights": histogram} (``histogram.RangeHistogram.to_dict``)
    histograms: dict[str, Any] | None = None


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
    histograms: dict[str, RangeHistogram] = {}
    reference: list[dict[str, np.ndarray]] = []
    floats: dict[str, np.ndarray] = {}  # one sample's float tensors, dropped as compared

    def keep(name: str, value: np.ndarray) -> None:
        enc = encs.get(name)
        if enc is not None and value.dtype.kind == "f":
            floats[name] = value
            local.setdefault(name, _Energy()).add(value, fake_quantize(value, enc, rounding))
            if name not in histograms:
                histograms[name] = RangeHistogram(enc)
            histograms[name].add(value)

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

    layers = _layer_reports(quant_container, energies, encs, prepared, histograms)
    setup = Setup(quant_container, prepared.params, feeds, reference, output, metric, labels)
    candidates = _candidates(layers, local, quant_container, prepared)
    full_eval = evaluator.result()
    sens = measure_sensitivity(setup, full_eval, candidates, limit=top, progress=progress)
    return AnalysisReport(tuple(layers), sens, len(feeds), full_eval)


def _layer_reports(
    quant_container: Container,
    energies: Mapping[str, _Energy],
    encs: Mapping[str, AnyEncoding],
    prepared: Graph,
    histograms: Mapping[str, RangeHistogram],
) -> list[LayerReport]:
    """One row per layer output compared (a fused Conv+Relu is one row)."""
    qgraph = quant_container.graph
    weights = _layer_weights(prepared, quant_container)
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
            hists = {"output": histograms[o].to_dict()} if o in histograms else {}
            if n.name in weights:
                hists["weights"] = weights[n.name]
            row = LayerReport(
                n.name,
                op_type,
                o,
                quant_container.encodings.get(o),
                e.sqnr_db,
                ratio,
                moved,
                nodes,
                hists or None,
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


def _layer_weights(prepared: Graph, quant_container: Container) -> dict[str, dict[str, Any]]:
    """Each weight layer's float weights (as calibrated) against their encoding, by node."""
    param_encs = quant_container.param_encodings
    nodes = prepared.nodes
    found: dict[str, dict[str, Any]] = {}
    for name, role in param_roles(prepared).items():
        if role.kind != "weight" or name not in param_encs:
            continue
        node = nodes[role.node_index].name
        if node not in found:
            enc = encoding_from_dict(param_encs[name])
            found[node] = histogram_of(prepared.params[name], enc)
    return found


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


# --------------------------------------------------------------------------- integer check

INTEGER_GAP_DB = 3.0  # integer-true this far below fake-quant: an emulator defect
# ... and further from it than one rounding's own noise (RMS, in steps of the output):
INTEGER_LSB_RMS = 12**-0.5  # delta / sqrt(12), the RMS error of rounding to a step
_SQNR_CAP_DB = 200.0  # exact (infinite) SQNRs compare as this


@dataclass(frozen=True)
class IntegerCheck:
    """The integer-true emulator against fake-quant on the same container and samples."""

    samples: int
    fake_quant_sqnr_db: float  # model outputs vs float
    integer_sqnr_db: float
    gap_db: float  # fake-quant minus integer-true (capped at 200 dB each)
    threshold_db: float
    warning: str | None  # set when gap_db > threshold_db (or a path is non-finite)
    lsb_rms: float | None = None  # RMS(integer - fake-quant) / delta, worst encoded output

    @property
    def ok(self) -> bool:
        return self.warning is None

    def line(self) -> str:
        """One line for a log or a terminal."""
        return (
            f"integer-true check over {self.samples} samples: SQNR vs float "
            f"{format_db(self.integer_sqnr_db)} integer-true, {format_db(self.fake_quant_sqnr_db)} "
            f"fake-quant ({'ok' if self.ok else 'FAILED'})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "fake_quant_sqnr_db": finite_db(self.fake_quant_sqnr_db),
            "integer_sqnr_db": finite_db(self.integer_sqnr_db),
            "gap_db": finite_db(self.gap_db),
            "threshold_db": self.threshold_db,
            "ok": self.ok,
            "warning": self.warning,
            "lsb_rms": None if self.lsb_rms is None else round(self.lsb_rms, 4),
        }


def check_integer_path(
    float_container: Container,
    quant_container: Container,
    samples: InputList | Iterable[Feeds],
    *,
    threshold_db: float = INTEGER_GAP_DB,
    fake_quant: Runner | None = None,
    integer: Runner | None = None,
) -> IntegerCheck:
    """Integer-true vs fake-quant SQNR against the float container, over ``samples``.

    ``fake_quant`` / ``integer`` may pass plans already built for ``quant_container``
    (``FakeQuantPlan``, ``IntegerPlan`` or a runtime's); otherwise they are built here.
    Energies over every graph output (as ``output_sqnr``). See the module doc.
    """
    from workbench.engine.quant.fakequant import FakeQuantPlan
    from workbench.engine.quant.int_exec import IntegerPlan

    fq = fake_quant if fake_quant is not None else FakeQuantPlan(quant_container)
    ip = integer if integer is not None else IntegerPlan(quant_container)
    graph = float_container.graph
    plan = Plan(graph)
    e_fq, e_int = _Energy(), _Energy()
    steps: dict[str, _Energy] = {}  # per encoded output: fake-quant vs integer-true
    compared: set[str] = set()
    deltas = {
        name: float(quant_container.encodings[name]["delta"])
        for name in graph.output_names
        if name in quant_container.encodings
    }
    n = 0
    for _, f in FeedSource(samples, graph):
        ref = plan.run(f)
        y_fq, y_int = fq.run(f), ip.run(f)
        for name in graph.output_names:
            r = ref[name]
            if np.asarray(r).dtype.kind != "f":
                continue
            e_fq.add(r, y_fq[name])
            e_int.add(r, y_int[name])
            compared.add(name)
            if deltas.get(name, 0.0) > 0:
                steps.setdefault(name, _Energy()).add(y_fq[name], y_int[name])
        n += 1
    if n == 0:
        raise BadInput("the integer check needs at least one sample")
    fq_db, int_db = e_fq.sqnr_db, e_int.sqnr_db
    gap = min(fq_db, _SQNR_CAP_DB) - min(int_db, _SQNR_CAP_DB)
    # Only a veto when every compared output is encoded (its steps are known).
    lsb_rms = max(e.rmse() / deltas[k] for k, e in steps.items()) if steps else None
    if set(steps) != compared:
        lsb_rms = None
    warning = None
    if math.isnan(int_db) and not math.isnan(fq_db):
        warning = (
            f"integer-true outputs are not finite where fake-quant's are (over {n} samples): "
            "an integer emulator defect, not a quantization result"
        )
    elif gap > threshold_db and (lsb_rms is None or lsb_rms > INTEGER_LSB_RMS):
        warning = (
            f"integer-true output is {gap:.1f} dB below fake-quant on the same container "
            f"({format_db(int_db)} vs {format_db(fq_db)} SQNR against float, {n} samples): the integer "
            "emulator (dsp, aip, cpu --cpu-fxp) disagrees with the quantization; that is an "
            "emulator defect, not a quantization result"
        )
    return IntegerCheck(n, fq_db, int_db, gap, threshold_db, warning, lsb_rms)


__all__ = [
    "INTEGER_GAP_DB",
    "INTEGER_LSB_RMS",
    "AnalysisReport",
    "IntegerCheck",
    "LayerReport",
    "LayerSensitivity",
    "Sensitivity",
    "SimulatedQuantPlan",
    "analyze",
    "check_integer_path",
    "output_sqnr",
    "prepared_float_graph",
]
