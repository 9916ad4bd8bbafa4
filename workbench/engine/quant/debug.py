"""The first-divergence debugger: float vs fake-quant vs integer-true, layer by layer.

``debug_layers`` runs the same samples through the prepared float graph (the one the
encodings were calibrated on, ``analysis.prepared_float_graph``), the fake-quant plan
(``FakeQuantPlan``) and the target runtime's network (integer-true on the DSP, the AIP
and ``cpu --cpu-fxp``), and for every layer in execution order compares its output:

* in **LSBs of the layer's output encoding** (``|y - float| / delta``): mean and max, for
  fake-quant and for integer-true, and integer-true against fake-quant (the emulator's
  own error: 0 where the integer kernel computes what fake-quant models);
* the share of float values **clipped** outside the encoding's range;
* the **SQNR** of fake-quant and of integer-true against float (energies summed over
  samples), and the SQNR of the encoding alone on the float values (``encoding_sqnr_db``:
  the float tensor quantize-dequantized; no upstream error in it);
* its **metric contribution**: the model's decision metric (``metric``, by the one
  evaluator) with only this layer quantized (its weights and outputs; every other layer
  float), as the sensitivity analysis measures a layer (``sensitivity.layer_alone``).
  Each layer measured is one fake-quant pass over the first ``contribution_samples``
  samples, so the cost is layers × those samples (0 skips it); layers that quantize
  nothing of their own (kept in float, data movement, unencoded) are not measured.

A layer **diverges** when its integer-true error passes ``threshold_lsb`` (mean LSBs,
counted in 8-bit steps: a 16-bit layer's error divided by 256)
or its SQNR falls more than ``drop_db`` below its worst input's; the first such layer
is named with its likely cause (``CAUSES``), judged from its own measurements:

* ``range clipping``: more than ``CLIP_SHARE`` of its float values lie outside the range;
* ``rounding noise``: the range fits but its step is coarse for the values (the encoding
  alone keeps less than ``COARSE_DB`` of SQNR: a range far wider than the data);
* ``requantization multiplier``: integer-true departs from fake-quant here (mean over
  ``EMULATOR_LSB``) and integer-true's SQNR falls ``GAP_DROP_DB`` further below
  fake-quant's here than at any of its inputs: the integer kernel's rescale or
  accumulator, not noise both paths carry from upstream and this layer amplifies;
* ``8-bit bias saturation``: its 8-bit bias, as stored, is off by more than an output
  LSB somewhere (a bias range too wide for 8 bits, or clamped);
* ``float fallback boundary``: the layer is kept in float, or reads a float layer's
  output, and pays a convert there;
* ``input noise amplified``: none of the above, yet its SQNR falls ``drop_db`` below its
  input's: its own encoding and weights are fine, but it amplifies the small error its
  input carries (a high noise gain: outputs that cancel, a large fan-in); the fix is
  more bits on the input (``--layer-precision PRODUCER=int16``);
* ``weight quantization``: its weights, as stored, keep less than ``COARSE_DB`` of SQNR
  in their worst output channel (4-bit weights, a per-tensor range that one channel's
  outliers stretch: try ``--per-channel``).

Pure numpy: the runtime network is built by the caller (``runtimes.load_network``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from workbench.engine.container import Container
from workbench.engine.executor import Plan, TensorHook
from workbench.engine.graph import Graph
from workbench.engine.inputs import InputList
from workbench.engine.metrics import get_metric
from workbench.engine.quant.calibrate import FeedSource
from workbench.engine.quant.encoding import (
    Encoding,
    dequantize,
    encoding_from_dict,
    fake_quantize,
)
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.layer_precision import float_layers
from workbench.engine.quant.propagation import fused_activation_inputs, propagates
from workbench.engine.quant.roles import param_roles
from workbench.engine.quant.sensitivity import Setup, layer_alone
from workbench.errors import BadInput
from workbench.vocabulary import FLOAT_LAYER, LAYER_PRECISION_BITS, SQNR, finite_db

Feeds = Mapping[str, np.ndarray]

DEFAULT_THRESHOLD_LSB = 2.0  # mean integer-true error, in LSBs of the output, that diverges
DEFAULT_DROP_DB = 12.0  # SQNR this far below the worst input's diverges
CLIP_SHARE = 0.001  # more than 0.1 % of values clipped: range clipping
COARSE_DB = 25.0  # an encoding alone keeping less than this: rounding noise
EMULATOR_LSB = 0.5  # integer-true this far (mean) from fake-quant: the integer kernel
GAP_DROP_DB = 3.0  # ... and integer-true this much further below fake-quant than upstream

RANGE_CLIPPING = "range clipping"
ROUNDING_NOISE = "rounding noise"
REQUANT_MULTIPLIER = "requantization multiplier"
BIAS_SATURATION = "8-bit bias saturation"
FLOAT_BOUNDARY = "float fallback boundary"
WEIGHT_QUANTIZATION = "weight quantization"
NOISE_GAIN = "input noise amplified"
UPSTREAM = "upstream error"
CAUSES = (
    RANGE_CLIPPING,
    ROUNDING_NOISE,
    REQUANT_MULTIPLIER,
    BIAS_SATURATION,
    FLOAT_BOUNDARY,
    WEIGHT_QUANTIZATION,
    NOISE_GAIN,
    UPSTREAM,
)


class Runner(Protocol):
    def run(self, feeds: Feeds, hook: TensorHook | None = None) -> dict[str, np.ndarray]: ...


def _db(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


class _Stats:
    """Running comparisons of one tensor (fixed size: sums and maxima only)."""

    def __init__(self, delta: float | None, lo: float | None, hi: float | None) -> None:
        self.delta, self.lo, self.hi = delta, lo, hi
        self.count = 0
        self.signal = 0.0
        self.noise = {"fq": 0.0, "int": 0.0, "enc": 0.0, "gap": 0.0}
        self.abs_sum = {"fq": 0.0, "int": 0.0, "gap": 0.0}
        self.abs_max = {"fq": 0.0, "int": 0.0, "gap": 0.0}
        self.clipped = 0

    def add(self, ref: np.ndarray, fq: np.ndarray | None, it: np.ndarray | None, enc) -> None:
        r = np.asarray(ref, dtype=np.float64)
        self.count += r.size
        self.signal += float(np.square(r).sum())
        scale = self.delta or 1.0
        for key, y in (("fq", fq), ("int", it)):
            if y is None or np.shape(y) != r.shape:
                continue
            d = np.abs(np.asarray(y, dtype=np.float64) - r)
            self.noise[key] += float(np.square(d).sum())
            self.abs_sum[key] += float(d.sum()) / scale
            self.abs_max[key] = max(self.abs_max[key], float(d.max(initial=0.0)) / scale)
        if fq is not None and it is not None and np.shape(fq) == np.shape(it) == r.shape:
            g = np.abs(np.asarray(it, dtype=np.float64) - np.asarray(fq, dtype=np.float64))
            self.noise["gap"] += float(np.square(g).sum())
            self.abs_sum["gap"] += float(g.sum()) / scale
            self.abs_max["gap"] = max(self.abs_max["gap"], float(g.max(initial=0.0)) / scale)
        if isinstance(enc, Encoding):  # beyond half a step past either end: clipped
            half = 0.5 * enc.delta
            self.clipped += int(np.count_nonzero((r < self.lo - half) | (r > self.hi + half)))
            e = fake_quantize(np.asarray(ref, dtype=np.float32), enc).astype(np.float64) - r
            self.noise["enc"] += float(np.square(e).sum())

    def mean(self, key: str) -> float:
        return self.abs_sum[key] / self.count if self.count else 0.0

    def sqnr(self, key: str) -> float:
        return _db(self.signal, self.noise[key])


@dataclass(frozen=True)
class LayerDebug:
    """One layer's output compared three ways (see the module doc)."""

    index: int  # execution order
    node: str
    op_type: str
    tensor: str
    precision: str  # int8 | int16 | float (kept in float) | "-" (unencoded, not float)
    bitwidth: int | None
    delta: float | None
    fake_quant_mean_lsb: float
    fake_quant_max_lsb: float
    integer_mean_lsb: float
    integer_max_lsb: float
    integer_vs_fake_quant_mean_lsb: float
    integer_vs_fake_quant_max_lsb: float
    clipped_pct: float
    fake_quant_sqnr_db: float
    integer_sqnr_db: float
    encoding_sqnr_db: float | None
    input_sqnr_db: float | None  # the worst input's integer-true SQNR (None: graph input)
    diverges: bool
    causes: tuple[str, ...] = ()
    weight_sqnr_db: float | None = None  # its stored weights, worst output channel
    # The layer on its float inputs with its stored weights vs float: the SQNR its
    # weights alone cost on the real data (None: no quantized weights).
    weight_only_sqnr_db: float | None = None
    suggestion: str = ""  # what to try, for a divergent layer
    # The decision metric with only this layer quantized (None: not measured), for people
    # ("97.5%", "31.2 dB"; "unusable" for non-finite outputs), and the output SQNR then.
    contribution: float | None = None
    contribution_shown: str = ""
    contribution_sqnr_db: float | None = None
    nodes: tuple[str, ...] = ()  # the layer's nodes (two for a fused Conv+Relu)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for k, v in self.__dict__.items():
            if isinstance(v, float):
                v = finite_db(v) if k.endswith("_db") or math.isinf(v) else v
                v = None if v is None or math.isnan(v) else v
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class DebugReport:
    runtime: str
    samples: int
    threshold_lsb: float
    drop_db: float
    layers: tuple[LayerDebug, ...]
    first: LayerDebug | None  # the first divergent layer
    why: str  # one sentence: the cause and the numbers that show it
    output_fake_quant_sqnr_db: float
    output_integer_sqnr_db: float
    notes: tuple[str, ...] = field(default=())
    metric: str = SQNR  # what the contributions are measured by
    output: str = ""  # the output it is evaluated on
    contribution_samples: int = 0  # samples each contribution ran on (0: none measured)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "samples": self.samples,
            "metric": self.metric,
            "output": self.output,
            "contribution_samples": self.contribution_samples,
            "threshold_lsb": self.threshold_lsb,
            "drop_db": self.drop_db,
            "first_divergent_layer": self.first.node if self.first else None,
            "first_divergent_tensor": self.first.tensor if self.first else None,
            "suggestion": self.first.suggestion if self.first else None,
            "cause": self.first.causes[0] if self.first and self.first.causes else None,
            "why": self.why,
            "output_fake_quant_sqnr_db": finite_db(self.output_fake_quant_sqnr_db),
            "output_integer_sqnr_db": finite_db(self.output_integer_sqnr_db),
            "layers": [layer.to_dict() for layer in self.layers],
            "notes": list(self.notes),
        }


def _lag(fq_db: float, int_db: float) -> float:
    """How far (dB) integer-true's SQNR is below fake-quant's (capped; 0 when not)."""
    cap = 200.0
    return max(0.0, min(fq_db, cap) - min(int_db, cap)) if not math.isnan(fq_db + int_db) else 0.0


def _bias_error_lsb(graph: Graph, q: Container, node_index: int, out_delta: float) -> float:
    """The worst error of a node's 8-bit bias as stored, in LSBs of its output."""
    node = graph.nodes[node_index]
    if len(node.inputs) < 3 or not node.inputs[2]:
        return 0.0
    name = node.inputs[2]
    enc_d = q.param_encodings.get(name)
    if enc_d is None or enc_d.get("bitwidth") != 8 or name not in graph.params:
        return 0.0
    enc = encoding_from_dict(dict(enc_d))
    stored = dequantize(q.graph.params[name], enc).astype(np.float64)
    err = np.abs(stored - np.asarray(graph.params[name], dtype=np.float64))
    return float(err.max(initial=0.0)) / out_delta


def _weight_sqnr(graph: Graph, q: Container, node_index: int, axis: int | None) -> float | None:
    """The SQNR of a node's stored weights in their worst output channel (``axis``)."""
    node = graph.nodes[node_index]
    name = node.inputs[1] if len(node.inputs) > 1 else ""
    if name not in q.param_encodings or name not in graph.params:
        return None
    w = np.asarray(graph.params[name], dtype=np.float64)
    enc = encoding_from_dict(dict(q.param_encodings[name]))
    w_hat = dequantize(q.graph.params[name], enc).astype(np.float64)
    if w.shape != w_hat.shape:
        return None
    if axis is None or w.ndim == 0:
        return _db(float(np.square(w).sum()), float(np.square(w - w_hat).sum()))
    rest = tuple(a for a in range(w.ndim) if a != axis % w.ndim)
    signal = np.square(w).sum(axis=rest)
    noise = np.square(w - w_hat).sum(axis=rest)
    return min(_db(float(a), float(b)) for a, b in zip(signal, noise, strict=True) if a > 0)


def debug_layers(
    prepared: Graph,
    quant: Container,
    samples: InputList | Iterable[Feeds],
    integer: Runner,
    *,
    runtime: str = "",
    threshold_lsb: float = DEFAULT_THRESHOLD_LSB,
    drop_db: float = DEFAULT_DROP_DB,
    metric: str = SQNR,
    output: str | None = None,
    contribution_samples: int = 0,
    progress=None,
) -> DebugReport:
    """Compare every layer three ways and name the first that diverges (module doc).

    ``prepared`` is the float graph the encodings describe; ``integer`` the runtime's
    network (its hook must see tensors as floats). Each layer's contribution is
    ``metric`` on ``output`` (default: the first) over the first ``contribution_samples``."""
    if not quant.quantized:
        raise BadInput("debug needs a quantized container")
    if not threshold_lsb > 0 or not drop_db > 0:
        raise BadInput("the divergence thresholds must be positive")
    output = output or (prepared.output_names[0] if prepared.output_names else "")
    if contribution_samples and output not in prepared.output_names:
        raise BadInput(f"{output!r} is not an output of the model")
    encs = {n: encoding_from_dict(dict(d)) for n, d in quant.encodings.items()}
    kept_float = float_layers(quant.manifest)
    recorded = (quant.manifest.get("quantizer") or {}).get("layer_precision") or {}
    settings = recorded.get("activations") or {}
    float_plan = Plan(prepared)
    fq_plan = FakeQuantPlan(quant)
    graph = quant.graph
    outputs = graph.output_names
    # One row per node output; a layer fused with its activation (Conv+Relu) is one row,
    # at the activation's output, as the runtime sees it (its own output is not clipped
    # by the Relu's range: the Relu is).
    fused = fused_activation_inputs(graph)
    order: list[tuple[int, str]] = [
        (k, o) for k, n in enumerate(graph.nodes) for o in n.outputs if o and o not in fused
    ]
    fused_into = {act: t for t, act in fused.items()}
    stats: dict[str, _Stats] = {}
    out_energy = {"signal": 0.0, "fq": 0.0, "int": 0.0}
    count = 0
    floats: dict[str, np.ndarray] = {}  # one sample's tensors, float and fake-quant
    fqs: dict[str, np.ndarray] = {}

    def keep_float(name: str, value: np.ndarray) -> None:
        if value.dtype.kind == "f":
            floats[name] = value

    def keep_fq(name: str, value: np.ndarray) -> None:
        if name in floats and value.dtype.kind == "f":
            fqs[name] = value

    def compare(name: str, value: np.ndarray) -> None:
        ref = floats.get(name)
        if ref is None or np.asarray(value).dtype.kind != "f":
            return
        enc = encs.get(name)
        s = stats.get(name)
        if s is None:
            if isinstance(enc, Encoding):
                s = _Stats(enc.delta, enc.min, enc.max)
            else:
                s = _Stats(None, None, None)
            stats[name] = s
        s.add(ref, fqs.get(name), value, enc)

    weighted = _weight_kernels(prepared, quant)
    w_energy: dict[str, list[float]] = {}
    kept_feeds: list[dict[str, np.ndarray]] = []  # the contribution's samples
    kept_refs: list[dict[str, np.ndarray]] = []

    for _, feeds in FeedSource(samples, prepared):
        floats.clear()
        fqs.clear()
        ref_out = float_plan.run(feeds, hook=keep_float)
        if count < contribution_samples:
            kept_feeds.append({k: np.array(v) for k, v in feeds.items()})
            kept_refs.append({output: np.array(ref_out[output])})
        for node, kernel, params in weighted:
            ref = floats.get(node.outputs[0])
            args = [floats.get(i, params.get(i)) if i else None for i in node.inputs]
            if ref is None or any(a is None for a, i in zip(args, node.inputs, strict=True) if i):
                continue
            y = np.asarray(kernel(*args)[0], dtype=np.float64)
            r = np.asarray(ref, dtype=np.float64)
            e = w_energy.setdefault(node.name, [0.0, 0.0])
            e[0] += float(np.square(r).sum())
            e[1] += float(np.square(y - r).sum())
        fq_out = fq_plan.run(feeds, hook=keep_fq)
        int_out = integer.run(feeds, hook=compare)
        for name in outputs:
            r = np.asarray(ref_out[name], dtype=np.float64)
            if r.dtype.kind != "f":
                continue
            out_energy["signal"] += float(np.square(r).sum())
            out_energy["fq"] += float(np.square(r - fq_out[name]).sum())
            out_energy["int"] += float(np.square(r - int_out[name]).sum())
        count += 1
        if progress:
            progress("debug", count, count)
    if count == 0:
        raise BadInput("debug needs at least one sample")

    producers = {o: k for k, n in enumerate(graph.nodes) for o in n.outputs if o}
    roles = param_roles(prepared)
    bias_of = {r.node_index for r in roles.values() if r.kind == "bias"}
    weight_axis = {r.node_index: r.axis for r in roles.values() if r.kind == "weight"}
    layers: list[LayerDebug] = []
    int_sqnr: dict[str, float] = {}
    gap_sqnr: dict[str, float] = {}
    for k, tensor in order:
        s = stats.get(tensor)
        if s is None or s.count == 0:
            continue
        node = graph.nodes[k]
        op_type = node.op_type
        nodes = (node.name,)
        head = producers.get(fused_into.get(tensor, ""))
        if head is not None:  # Conv+Relu: the Conv's row, at the Relu's output
            k, node = head, graph.nodes[head]
            op_type = f"{node.op_type}+{op_type}"
            nodes = (node.name, *nodes)
        enc = encs.get(tensor)
        inputs = [i for i in node.inputs if i in int_sqnr]
        in_db = min((int_sqnr[i] for i in inputs), default=None)
        sq_int = s.sqnr("int")
        int_sqnr[tensor] = sq_int
        gap_sqnr[tensor] = _lag(s.sqnr("fq"), sq_int)  # integer-true behind fake-quant
        gap_in = max((gap_sqnr[i] for i in inputs), default=0.0)
        bits = enc.bitwidth if isinstance(enc, Encoding) else None
        if node.name in kept_float:
            precision = FLOAT_LAYER
        elif bits is not None:
            precision = next((p for p, b in LAYER_PRECISION_BITS.items() if b == bits), f"{bits}")
        else:
            precision = "-"
        if settings.get(node.name) == FLOAT_LAYER:
            precision = FLOAT_LAYER
        enc_db = s.sqnr("enc") if isinstance(enc, Encoding) else None
        clipped = 100.0 * s.clipped / s.count if isinstance(enc, Encoding) else 0.0
        diverges = bool(
            # in 8-bit steps: a 16-bit tensor's LSB is 256 times finer
            (s.delta is not None and s.mean("int") / 2 ** ((bits or 8) - 8) > threshold_lsb)
            or (in_db is not None and math.isfinite(in_db) and sq_int < in_db - drop_db)
            or (in_db is None and s.delta is not None and sq_int < COARSE_DB)
        )
        row = LayerDebug(
            index=k,
            node=node.name,
            op_type=op_type,
            tensor=tensor,
            precision=precision,
            bitwidth=bits,
            delta=s.delta,
            fake_quant_mean_lsb=s.mean("fq"),
            fake_quant_max_lsb=s.abs_max["fq"],
            integer_mean_lsb=s.mean("int"),
            integer_max_lsb=s.abs_max["int"],
            integer_vs_fake_quant_mean_lsb=s.mean("gap"),
            integer_vs_fake_quant_max_lsb=s.abs_max["gap"],
            clipped_pct=clipped,
            fake_quant_sqnr_db=s.sqnr("fq"),
            integer_sqnr_db=sq_int,
            encoding_sqnr_db=enc_db,
            input_sqnr_db=in_db,
            diverges=diverges,
            nodes=nodes,
        )
        we = w_energy.get(node.name)
        if we is not None:
            row = replace(row, weight_only_sqnr_db=_db(we[0], we[1]))
        if diverges:
            kernel = s.mean("gap") > EMULATOR_LSB and gap_sqnr[tensor] > gap_in + GAP_DROP_DB
            w_db = (
                _weight_sqnr(prepared, quant, k, weight_axis.get(k)) if k in weight_axis else None
            )
            row = _with_causes(
                row, node, prepared, quant, k in bias_of, kept_float, producers, kernel, w_db
            )
        layers.append(row)
    if kept_feeds:
        setup = Setup(quant, prepared.params, kept_feeds, kept_refs, output, metric)
        layers = _with_contributions(setup, layers, kept_float, progress)
    first = next((r for r in layers if r.diverges), None)
    if first is not None and first.causes[:1] == (UPSTREAM,):
        k = layers.index(first)
        first = layers[k] = _upstream_culprit(first, layers[:k], graph, metric)
    why = _why(first, threshold_lsb, drop_db)
    return DebugReport(
        runtime=runtime,
        samples=count,
        threshold_lsb=threshold_lsb,
        drop_db=drop_db,
        layers=tuple(layers),
        first=first,
        why=why,
        output_fake_quant_sqnr_db=_db(out_energy["signal"], out_energy["fq"]),
        output_integer_sqnr_db=_db(out_energy["signal"], out_energy["int"]),
        metric=metric,
        output=output,
        contribution_samples=len(kept_feeds),
    )


def _upstream_culprit(
    first: LayerDebug, before: list[LayerDebug], graph: Graph, metric: str
) -> LayerDebug:
    """The first divergent layer has no cause of its own: the error it carries comes from
    above. Its suggestion names the ancestor that costs most: the worst metric with only
    it quantized, then the largest SQNR drop from its input, else the nearest one."""
    producers = {o: n for n in graph.nodes for o in n.outputs if o}
    upstream: set[str] = set()
    stack = [i for n in first.nodes for i in graph.nodes[_node_index(graph, n)].inputs if i]
    while stack:
        t = stack.pop()
        if t in upstream or t not in producers:
            continue
        upstream.add(t)
        stack.extend(i for i in producers[t].inputs if i)
    rows = [r for r in before if r.tensor in upstream]
    if not rows:
        return first
    better = get_metric(metric).higher_is_better

    def cost(r: LayerDebug) -> tuple[float, float, int]:
        c = r.contribution
        metric_cost = -math.inf if c is None else (-c if better else c)
        drop = -math.inf
        if r.input_sqnr_db is not None and math.isfinite(r.input_sqnr_db + r.integer_sqnr_db):
            drop = r.input_sqnr_db - r.integer_sqnr_db
        return (metric_cost, drop, r.index)

    culprit = max(rows, key=cost)
    if culprit.input_sqnr_db is not None:
        where = f"SQNR {_fmt(culprit.input_sqnr_db)} → {_fmt(culprit.integer_sqnr_db)}"
    else:
        where = f"SQNR {_fmt(culprit.integer_sqnr_db)}"
    if culprit.contribution_shown and culprit.contribution is not None:
        where += f", {metric} {culprit.contribution_shown} with only it quantized"
    return replace(
        first,
        suggestion=f"--layer-precision {culprit.node}=int16: the error comes from above, "
        f"most from {culprit.node} ({where})",
    )


def _node_index(graph: Graph, name: str) -> int:
    return next(k for k, n in enumerate(graph.nodes) if n.name == name)


def _quantizes_something(quant: Container, row: LayerDebug, kept_float: frozenset[str]) -> bool:
    """Does the layer quantize anything of its own (weights, or an output it computes)?"""
    graph = quant.graph
    nodes = [n for n in graph.nodes if n.name in row.nodes]
    if not nodes or row.precision == FLOAT_LAYER or any(n.name in kept_float for n in nodes):
        return False
    if any(propagates(n, graph) for n in nodes):
        return False  # data movement: its output keeps its input's encoding
    own = {i for n in nodes for i in n.inputs if i in quant.param_encodings}
    return bool(own) or row.tensor in quant.encodings


def _with_contributions(
    setup: Setup, layers: list[LayerDebug], kept_float: frozenset[str], progress
) -> list[LayerDebug]:
    """Each layer's metric contribution (``sensitivity.layer_alone``; module doc)."""
    measured = [
        i for i, r in enumerate(layers) if _quantizes_something(setup.container, r, kept_float)
    ]
    out = list(layers)
    shown = get_metric(setup.metric).show
    for done, i in enumerate(measured, start=1):
        part = layer_alone(setup, out[i].nodes)
        out[i] = replace(
            out[i],
            contribution=part.value,
            contribution_shown=shown(part.value) if part.value is not None else part.shown,
            contribution_sqnr_db=part.sqnr_db,
        )
        if progress:
            progress("contribution", done, len(measured))
    return out


def _with_causes(
    row: LayerDebug,
    node,
    prepared: Graph,
    quant: Container,
    has_bias: bool,
    kept_float: frozenset[str],
    producers: Mapping[str, int],
    kernel: bool,
    w_db: float | None,
) -> LayerDebug:

    causes = []
    graph = quant.graph
    reads_float = any(
        i in producers and graph.nodes[producers[i]].name in kept_float for i in node.inputs
    )
    if node.name in kept_float or reads_float:
        causes.append(FLOAT_BOUNDARY)
    if row.clipped_pct > 100 * CLIP_SHARE:
        causes.append(RANGE_CLIPPING)
    elif row.encoding_sqnr_db is not None and row.encoding_sqnr_db < COARSE_DB:
        causes.append(ROUNDING_NOISE)
    if kernel:
        causes.append(REQUANT_MULTIPLIER)
    index = row.index
    if has_bias and row.delta and _bias_error_lsb(prepared, quant, index, row.delta) > 1.0:
        causes.append(BIAS_SATURATION)
    # The weights dominate: alone, on float inputs, they cost more than its input carries.
    w_only = row.weight_only_sqnr_db
    dominant = (
        w_only is not None
        and (row.input_sqnr_db is None or w_only < row.input_sqnr_db)
        and w_only < row.integer_sqnr_db + 6.0
    )
    if (w_db is not None and w_db < COARSE_DB) or dominant:
        causes.append(WEIGHT_QUANTIZATION)
    drop = None if row.input_sqnr_db is None else row.input_sqnr_db - row.integer_sqnr_db
    sources = [graph.nodes[producers[i]].name for i in node.inputs if i in producers]
    if not causes:
        big_drop = drop is not None and math.isfinite(drop) and drop > 0.5 * DEFAULT_DROP_DB
        causes.append(NOISE_GAIN if big_drop and sources else UPSTREAM)
    return replace(
        row,
        causes=tuple(causes),
        weight_sqnr_db=w_db,
        suggestion=_suggestion(causes[0], node.name, sources, _per_channel(quant, node)),
    )


def _per_channel(quant: Container, node) -> bool:
    w = node.inputs[1] if len(node.inputs) > 1 else ""
    return "axis" in (quant.param_encodings.get(w) or {})


def _weight_kernels(prepared: Graph, quant: Container) -> list[tuple[Any, Any, dict[str, Any]]]:
    """``(node, kernel, params)`` for every layer with quantized weights: its float kernel
    with the stored weights dequantized (other parameters as calibrated)."""
    from workbench.engine.ops.registry import OpContext, prepare

    found = []
    for name, role in param_roles(prepared).items():
        if role.kind != "weight" or name not in quant.param_encodings:
            continue
        node = prepared.nodes[role.node_index]
        if node.domain or node.inputs[1:2] != (name,):
            continue
        enc = encoding_from_dict(dict(quant.param_encodings[name]))
        params = {i: prepared.params[i] for i in node.inputs if i in prepared.params}
        params[name] = dequantize(quant.graph.params[name], enc).astype(np.float32)
        consts = {k: params[i] for k, i in enumerate(node.inputs) if i in params}
        ctx = OpContext(
            node,
            consts,
            tuple(prepared.info(i) if i else None for i in node.inputs),
            tuple(prepared.info(o) if o else None for o in node.outputs),
            prepared.opset,
        )
        try:
            found.append((node, prepare(ctx), params))
        except Exception:  # a kernel that cannot be prepared alone: no weight-only measure
            continue
    return found


def _suggestion(cause: str, node: str, sources: list[str], per_channel: bool = False) -> str:
    """What to try first for a cause (flags of ``workbench quantize``)."""
    inputs = " ".join(f"--layer-precision {s}=int16" for s in dict.fromkeys(sources))
    own = f"--layer-precision {node}=int16"
    return {
        RANGE_CLIPPING: f"--layer-precision {node}=int16, or a wider range (another "
        "--act-quantizer or percentile)",
        ROUNDING_NOISE: f"--layer-precision {node}=int16, or a tighter range "
        "(--act-quantizer enhanced)",
        REQUANT_MULTIPLIER: "the integer kernel disagrees with fake-quant here: an emulator "
        "defect to report, not a quantization choice",
        BIAS_SATURATION: "--bias-bitwidth 32",
        FLOAT_BOUNDARY: "move the boundary: keep its neighbours in float too, or "
        f"--layer-precision {node}=int16 instead of float",
        WEIGHT_QUANTIZATION: (
            f"--weights-bitwidth-override {node}=16 {inputs} {own}".strip()
            if per_channel
            else "--per-channel"
        ),
        NOISE_GAIN: inputs or f"--layer-precision {node}=int16",
        UPSTREAM: "fix the first divergent layer above it",  # the first: _upstream_culprit
    }[cause]


def _why(first: LayerDebug | None, threshold_lsb: float, drop_db: float) -> str:
    if first is None:
        return (
            f"no layer diverges (integer-true error under {threshold_lsb:g} LSB mean, no "
            f"SQNR drop over {drop_db:g} dB)"
        )
    cause = first.causes[0] if first.causes else UPSTREAM
    facts = [
        f"integer-true error {first.integer_mean_lsb:.2f} LSB mean, "
        f"{first.integer_max_lsb:.1f} max",
        f"SQNR {_fmt(first.integer_sqnr_db)}"
        + (f" (its input: {_fmt(first.input_sqnr_db)})" if first.input_sqnr_db is not None else ""),
    ]
    if cause == RANGE_CLIPPING:
        facts.append(f"{first.clipped_pct:.2f}% of its float values lie outside its range")
    elif cause == ROUNDING_NOISE and first.encoding_sqnr_db is not None:
        facts.append(f"its encoding alone keeps {_fmt(first.encoding_sqnr_db)}")
    elif cause == REQUANT_MULTIPLIER:
        facts.append(
            f"integer-true is {first.integer_vs_fake_quant_mean_lsb:.2f} LSB from fake-quant"
        )
    elif cause == WEIGHT_QUANTIZATION and first.weight_only_sqnr_db is not None:
        facts.append(
            f"its weights alone keep {_fmt(first.weight_only_sqnr_db)} on its float inputs "
            f"({_fmt(first.weight_sqnr_db)} in their worst channel)"
        )
    text = f"{first.node} ({first.op_type}) diverges first: {cause}; " + ", ".join(facts)
    return text + (f"; try {first.suggestion}" if first.suggestion else "")


def _fmt(db: float | None) -> str:
    if db is None or math.isnan(db):
        return "-"
    return "exact" if math.isinf(db) and db > 0 else f"{db:.1f} dB"
