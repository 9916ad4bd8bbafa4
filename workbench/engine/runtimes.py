"""Runtime emulators: what each runtime does with a container at initialisation.

``load_network`` takes a container (already read from disk) and returns a
``Network`` ready to run, having done the runtime's real initialisation work
(SPEC §2, the vendor guide's table), timed phase by phase. Nothing is slept or
faked: every conversion touches every parameter.

======== =========================================== ==========================================
runtime  quantized container                         float (non-quantized) container
======== =========================================== ==========================================
cpu      ``cpu_fxp``: integer-true (``IntegerPlan``)  native: float32 (``Plan``)
         with the container's encodings; phases
         ``plan``. Without it: ``dequantize`` every
         parameter, then float32; ``dequantize``,
         ``plan``
gpu      ``dequantize``, then float32                 native: float32
gpu_fp16 ``dequantize``, ``cast_fp16``, then          ``cast_fp16``, then float16 storage
         float16 storage / float32 math
dsp      native: integer-true with the container's   ``quantize``: every data parameter gets
         encodings                                   the tf encoding of its own min/max;
                                                     activations quantized dynamically (below)
aip      ``hta_records``: the HTA records are read   refused: AIP does not support
         and checked; HTA subnets run from them,     non-quantized containers
         HNN subnets with DSP semantics
======== =========================================== ==========================================

Batch resizing (``batch``) happens at init on every runtime (phase ``resize``). AIP
accepts a batch above 1 only when every layer is in an HTA subnet.

**gpu_fp16** (float16 storage, float32 math): at init the data parameters (weights,
biases, data constants; not shapes or settings such as Resize scales) are cast to
float16. Between layers every float activation is stored as float16: each kernel is
wrapped so that its float16 inputs are cast up to float32, the float kernel computes
in float32, and its float32 outputs are rounded to float16. Graph inputs are rounded
to float16 on entry; outputs are returned as float32.

**dsp with a float container**: activation ranges are not known offline, so the
emulator quantizes activations *dynamically, per inference*: every float activation
(graph inputs and node outputs) is quantized to 8 bits with the tf encoding of its own
min/max in that inference (per sample when the network runs a batch). Outputs of
data-movement layers keep their input's grid and a tensor fused into a following
ReLU/Clip takes that activation's grid, as the offline quantizer does. The integer
arithmetic is emulated by float kernels over the quantized parameters' grid values
(``(q + offset) * delta``) with every activation fake-quantized to its dynamic
encoding, so accuracy differs from the offline-quantized container, as the guide says.

**aip**: ``subnets.json`` (written by ``quantize --enable-hta``) must cover the graph
node for node; each ``hta_<i>.bin`` is parsed and its packed weights checked against
the container's. HTA Conv and Gemm layers then run from the record: its weights, its
int32 biases (in the accumulator's scale) and its requantization multipliers and
shifts, with exact integer accumulation and the integer requantization rule. The
other HTA layers and every HNN layer run with the integer kernels and the container's
encodings (the DSP's semantics).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from workbench.engine.batch import graph_batch, resize_batch
from workbench.engine.container import Container
from workbench.engine.executor import Plan, TensorHook
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.engine.ops.registry import Kernel, OpContext, check_supported, prepare
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.errors import BadInput, RuntimeRefused

RUNTIMES = ("cpu", "gpu", "gpu_fp16", "dsp", "aip")
DYNAMIC_BITWIDTH = 8  # the DSP's activations for a float container

Run = Callable[..., dict[str, np.ndarray]]  # run(feeds, hook=None)


@dataclass
class Network:
    """An initialised network: run it with float feeds, get float outputs."""

    runtime: str
    mode: str  # what runs: "float32", "integer (fixed point)", ...
    inputs: list[TensorInfo]  # per sample (batch 1)
    outputs: list[str]
    batch: int
    run: Run
    quantized: bool = False  # the container's kind, whatever runs
    init_breakdown_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # run_raw(feeds, hook): like run, but the hook sees tensors as stored (integers,
    # float16) at no conversion cost, for per-layer timing.
    run_raw: Run | None = None
    producers: dict[str, str] = field(default_factory=dict)  # tensor -> node name


class _Phases:
    """Times consecutive init phases in ms."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.ms[phase] = self.ms.get(phase, 0.0) + (now - self._t) * 1e3
        self._t = now


# --------------------------------------------------------------------------- compatibility


def check_runtime(
    container: Container, runtime: str, *, batch: int = 1, cpu_fxp: bool = False
) -> None:
    """Refuse what the runtime refuses, before any init work (the guide's rules).

    ``RuntimeRefused`` for an incompatible pair (AIP with a float container, without HTA
    records, or a batch above 1 with HNN subnets); ``BadInput`` for bad options. Works on
    a container read with ``load_params=False``.
    """
    if runtime not in RUNTIMES:
        raise BadInput(f"unknown runtime {runtime!r} (available: {', '.join(RUNTIMES)})")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise BadInput(f"--batch must be a positive integer, got {batch!r}")
    if cpu_fxp and runtime != "cpu":
        raise BadInput(f"--cpu-fxp applies to the cpu runtime only, not {runtime}")
    old = graph_batch(container.graph)
    if old != 1:
        raise BadInput(
            f"the container's batch is {old}; runtimes resize from batch 1 only (convert "
            "with batch 1, then use --batch)"
        )
    if runtime == "aip":
        doc = _subnets_doc(container)
        if batch > 1 and not _all_hta(doc, container.graph):
            hnn = [s for s in doc["subnets"] if s.get("kind") != "hta"]
            first = hnn[0]["nodes"][0] if hnn and hnn[0].get("nodes") else "?"
            raise RuntimeRefused(
                f"AIP runs a batch above 1 only when every layer is in an HTA subnet; "
                f"layers from {first!r} on run as an HNN subnet (use --batch 1 or the dsp runtime)"
            )


def _imported_hint(container: Container) -> str:
    """For a container whose encodings came with the model (a quantized TFLite import)."""
    if (container.manifest.get("quantizer") or {}).get("encodings_from") == "tflite":
        return " (or, to keep the model's own encodings, convert it with --enable-hta)"
    return ""


def _subnets_doc(container: Container) -> dict[str, Any]:
    if not container.quantized:
        raise RuntimeRefused(
            "AIP does not support non-quantized containers: quantize it first "
            "(workbench quantize M.dlc --input-list LIST -o Q.dlc --enable-hta)"
        )
    raw = container.records.get("subnets.json")
    if raw is None:
        raise RuntimeRefused(
            "AIP needs the HTA subnet records that `workbench quantize --enable-hta` "
            "generates, and this container has none: quantize again with --enable-hta"
            + _imported_hint(container)
        )
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise RuntimeRefused(f"the container's HTA records are malformed ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("subnets"), list):
        raise RuntimeRefused("the container's HTA records are malformed (no subnets)")
    _check_partition(doc, container.graph)
    return doc


def _check_partition(doc: dict[str, Any], graph: Graph) -> None:
    """The subnets must cover the graph's nodes in order, by name."""
    stale = RuntimeRefused(
        "the container's HTA records do not match its graph; quantize again with --enable-hta"
    )
    at = 0
    for s in doc["subnets"]:
        if not isinstance(s, dict):
            raise stale
        layers, nodes = s.get("layers"), s.get("nodes")
        if (
            not isinstance(layers, list)
            or len(layers) != 2
            or layers[0] != at
            or not isinstance(nodes, list)
            or s.get("kind") not in ("hta", "hnn")
        ):
            raise stale
        start, end = layers
        if [n.name for n in graph.nodes[start:end]] != nodes or end <= start:
            raise stale
        at = end
    if at != len(graph.nodes):
        raise stale


def _all_hta(doc: dict[str, Any], graph: Graph) -> bool:
    return all(s["kind"] == "hta" for s in doc["subnets"]) and bool(graph.nodes)


# --------------------------------------------------------------------------- init


def load_network(
    container: Container,
    runtime: str,
    *,
    batch: int = 1,
    cpu_fxp: bool = False,
    keep: tuple[str, ...] = (),
) -> Network:
    """Initialise ``container`` on ``runtime`` (see the module doc for the rules)."""
    check_runtime(container, runtime, batch=batch, cpu_fxp=cpu_fxp)
    if not container.params_loaded:
        raise BadInput("the container was read without its parameters (load_params=False)")
    phases = _Phases()
    quantized = container.quantized
    notes: list[str] = []
    if runtime == "aip":
        net = _aip(container, batch, keep, phases)
    elif quantized and (runtime == "dsp" or (runtime == "cpu" and cpu_fxp)):
        net = _integer(container, batch, keep, phases)
    elif runtime == "dsp":
        net = _dsp_dynamic(container.graph, batch, keep, phases)
    else:
        if runtime == "cpu" and cpu_fxp:
            notes.append("--cpu-fxp has no effect on a non-quantized container: it runs in float")
        net = _float(container, runtime, batch, keep, phases)
    net.runtime = runtime
    net.batch = batch
    net.quantized = quantized
    net.inputs = list(container.graph.inputs)
    net.outputs = container.graph.output_names
    net.init_breakdown_ms = phases.ms
    net.notes = notes + net.notes
    net.producers = {o: n.name for n in container.graph.nodes for o in n.outputs if o}
    return net


def _network(mode: str, run: Run, run_raw: Run | None = None) -> Network:
    return Network(runtime="", mode=mode, inputs=[], outputs=[], batch=1, run=run, run_raw=run_raw)


def _resized(graph: Graph, batch: int, phases: _Phases) -> Graph:
    if batch == 1:
        return graph
    graph = resize_batch(graph, batch)
    phases.done("resize")
    return graph


def _float(container: Container, runtime: str, batch: int, keep, phases: _Phases) -> Network:
    """cpu / gpu / gpu_fp16: float execution, dequantizing a quantized container first."""
    graph = container.graph
    mode = "float32"
    if container.quantized:
        from workbench.engine.quant.dequant import dequantize_graph

        graph = dequantize_graph(container)
        phases.done("dequantize")
        mode = "float32, parameters dequantized at init"
    if runtime == "gpu_fp16":
        graph = _cast_fp16(graph)
        phases.done("cast_fp16")
        graph = _resized(graph, batch, phases)
        net = _fp16_network(graph, keep)
        phases.done("plan")
        net.mode = "float16 storage, float32 math" + mode.removeprefix("float32")
        return net
    graph = _resized(graph, batch, phases)
    plan = Plan(graph, keep=keep)
    phases.done("plan")
    return _network(mode, plan.run, plan.run)


def _integer(container: Container, batch: int, keep, phases: _Phases) -> Network:
    """dsp (and cpu --cpu-fxp) with a quantized container: integer-true, native."""
    if batch != 1:
        container = replace(container, graph=resize_batch(container.graph, batch))
        phases.done("resize")
    plan = IntegerPlan(container, keep=keep)
    phases.done("plan")
    net = _network("integer (fixed point)", plan.run, plan.run_integer)
    net.notes.extend(_fallback_notes(plan))
    return net


def _fallback_notes(plan: Any) -> list[str]:
    nodes = plan.float_fallback_nodes
    if not nodes:
        return []
    shown = ", ".join(f"{name} ({op})" for name, op in nodes[:5])
    more = f" and {len(nodes) - 5} more" if len(nodes) > 5 else ""
    return [f"{len(nodes)} layer(s) run in float inside the integer executor: {shown}{more}"]


# --------------------------------------------------------------------------- gpu_fp16


def _cast_fp16(graph: Graph) -> Graph:
    """A copy whose data parameters are stored in float16 (settings stay float32)."""
    from workbench.engine.quant.dequant import data_params

    out = graph.copy()
    for name in data_params(graph):
        out.params[name] = graph.params[name].astype(np.float16)
    return out


def _to32(a: np.ndarray | None) -> np.ndarray | None:
    return a.astype(np.float32) if a is not None and a.dtype == np.float16 else a


def _to16(a: np.ndarray | None) -> np.ndarray | None:
    return a.astype(np.float16) if a is not None and a.dtype == np.float32 else a


def _fp16_prepare(ctx: OpContext) -> Kernel:
    # Constants are cast up once, here; activations at every call.
    consts = {k: _to32(v) for k, v in ctx.consts.items()}
    kernel = prepare(replace(ctx, consts=consts))

    def run(*args: np.ndarray | None) -> tuple[np.ndarray, ...]:
        up = (consts[k] if k in consts else _to32(a) for k, a in enumerate(args))
        return tuple(_to16(r) for r in kernel(*up))

    return run


def _fp16_network(graph: Graph, keep) -> Network:
    check_supported(graph.nodes)
    plan = Plan(graph, keep=keep, prepare_fn=_fp16_prepare)

    def run_raw(feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None):
        return plan.run({k: _to16(np.asarray(v)) for k, v in feeds.items()}, hook)

    def run(feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None):
        return {k: _to32(v) for k, v in run_raw(feeds, hook).items()}

    return _network("float16 storage, float32 math", run, run_raw)


# --------------------------------------------------------------------------- dsp, float container


def dynamic_encoding(x: np.ndarray, batch: int = 1, bitwidth: int = DYNAMIC_BITWIDTH):
    """``(delta, offset)`` of the tf encoding of ``x``'s own min/max, as float32.

    Per sample (arrays shaped to broadcast along axis 0) when ``x`` holds a batch of
    ``batch`` samples, else scalars. ``None`` for empty or non-finite data.
    """
    from workbench.engine.quant.encoding import tf_rule

    if x.size == 0:
        return None
    per_sample = batch > 1 and x.ndim > 0 and x.shape[0] == batch
    flat = x.reshape(batch, -1) if per_sample else x.reshape(1, -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return None
    _, _, delta, offset = tf_rule(lo, hi, bitwidth)
    if per_sample:
        shape = (-1,) + (1,) * (x.ndim - 1)
        return delta.astype(np.float32).reshape(shape), offset.astype(np.float32).reshape(shape)
    return np.float32(delta[0]), np.float32(offset[0])


def _levels(x: np.ndarray, enc, bitwidth: int = DYNAMIC_BITWIDTH) -> np.ndarray:
    """``clamp(round(x / delta), offset, offset + levels)``: the centered codes, as float32."""
    from workbench.engine.quant.encoding import round_half_away

    delta, offset = enc
    v = np.divide(x, delta, dtype=np.float32)
    round_half_away(v, out=v)
    np.clip(v, offset, offset + np.float32(2**bitwidth - 1), out=v)
    return v


def dynamic_fake_quantize(x: np.ndarray, batch: int = 1):
    """``x`` on the grid of its own dynamic encoding, and that encoding (None: unchanged)."""
    enc = dynamic_encoding(x, batch)
    if enc is None:
        return x, None
    v = _levels(x, enc)
    v *= enc[0]
    return v, enc


class _DynamicDsp:
    """The DSP with a float container: parameters quantized at init, activations per inference.

    Weight layers (Conv, Gemm, MatMul with a constant weight) run on the integer kernels
    the native path uses (``int_ops``, the same plan-time weight preparation), fed with
    the input's centered codes under a unit encoding and asked for the exact int32
    accumulator; the accumulator is scaled by the input's dynamic delta times the weight
    delta, the bias added, and the result quantized to its own dynamic encoding. Every
    other layer runs its float kernel on dequantized constants, its outputs quantized
    likewise. ``state`` holds each tensor's encoding during one run (a network is run
    by one thread at a time).
    """

    def __init__(self, graph: Graph, batch: int, keep, phases: _Phases):
        from workbench.engine.quant.dequant import quantize_float_params_for_dsp
        from workbench.engine.quant.encoding import encoding_from_dict
        from workbench.engine.quant.quantizer import fused_activation_inputs, propagates

        codes, encodings = quantize_float_params_for_dsp(graph)
        self.param_encodings = {n: encoding_from_dict(e) for n, e in encodings.items()}
        quantized = graph.copy()
        quantized.params = codes
        phases.done("quantize")
        # Tensors that keep another tensor's grid: data movement, fused activations.
        self.fused = set(fused_activation_inputs(graph))
        self.moved: set[str] = set()
        for n in graph.nodes:
            if propagates(n, graph):
                outs = n.outputs if n.op_type == "Split" else n.outputs[:1]
                self.moved.update(o for o in outs if o)
        self.batch = batch
        self.state: dict[str, Any] = {}
        self.weight_layers = 0
        quantized = _resized(quantized, batch, phases)
        check_supported(quantized.nodes)
        self.float_inputs = [t.name for t in graph.inputs if t.dtype == "float32"]
        self.plan = Plan(quantized, keep=keep, prepare_fn=self._prepare)
        phases.done("plan")

    def run(self, feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None):
        self.state.clear()
        fed = dict(feeds)
        for name in self.float_inputs:
            if name in fed:
                fed[name], self.state[name] = dynamic_fake_quantize(
                    np.asarray(fed[name], np.float32), self.batch
                )
        try:
            return self.plan.run(fed, hook)
        finally:
            self.state.clear()

    # -- planning ----------------------------------------------------------------------

    def _prepare(self, ctx: OpContext) -> Kernel:
        from workbench.engine.quant.int_ops import NotInteger

        w = self._weight_index(ctx)
        if w is not None:
            try:
                kernel = self._linear(ctx, w)
                self.weight_layers += 1
                return kernel
            except NotInteger:
                pass
        return self._float(ctx)

    def _weight_index(self, ctx: OpContext) -> int | None:
        node, penc = ctx.node, self.param_encodings
        quantized = [i for i in (0, 1) if i in ctx.consts and node.inputs[i] in penc]
        if node.op_type in ("Conv", "Gemm") and quantized == [1] and 0 not in ctx.consts:
            return 1
        if node.op_type == "MatMul" and len(quantized) == 1 and len(ctx.consts) == 1:
            return quantized[0]
        return None

    def _store(self, name: str, value: np.ndarray, source: str | None):
        """An output as it is kept: quantized to its own encoding, or on another's grid."""
        if name in self.moved:
            enc = self.state.get(source) if source else None
            if enc is not None:
                self.state[name] = enc
            return value
        if name in self.fused or value.dtype != np.float32:
            return value
        value, self.state[name] = dynamic_fake_quantize(value, self.batch)
        return value

    def _float(self, ctx: OpContext) -> Kernel:
        from workbench.engine.quant.encoding import dequantize

        node = ctx.node
        deq = {
            k: dequantize(v, self.param_encodings[node.inputs[k]])
            for k, v in ctx.consts.items()
            if node.inputs[k] in self.param_encodings
        }
        kernel = prepare(replace(ctx, consts={**ctx.consts, **deq}))
        source = node.inputs[0] if node.inputs else None
        outs = node.outputs

        def run(*args: np.ndarray | None) -> tuple[np.ndarray, ...]:
            if deq:
                args = tuple(deq.get(k, a) for k, a in enumerate(args))
            results = kernel(*args)
            return tuple(
                self._store(o, r, source) if o and r is not None else r
                for r, o in zip(results, outs, strict=False)
            )

        return run

    def _linear(self, ctx: OpContext, w: int) -> Kernel:
        from workbench.engine.quant.encoding import Encoding, dequantize
        from workbench.engine.quant.int_ops import IntContext, NotInteger, prepare_int
        from workbench.engine.quant.requant import INT32_MAX, INT32_MIN

        node = ctx.node
        x = 1 - w if node.op_type == "MatMul" else 0
        w_enc = self.param_encodings[node.inputs[w]]
        if not isinstance(w_enc, Encoding):
            raise NotInteger("per-channel weights")
        gemm = node.op_type == "Gemm"
        if gemm and int(node.attr("transA", 0)):
            raise NotInteger("transposed Gemm input")
        alpha = float(node.attr("alpha", 1.0)) if gemm else 1.0
        # The input comes centered (codes minus zero point), so its encoding has zero point
        # 0 and delta 1; the output is the accumulator itself (a 32-bit encoding of scale 1).
        unit = Encoding(0.0, 255.0, 1.0, 0, 8)
        acc_delta = alpha * unit.delta * w_enc.delta
        acc = Encoding(INT32_MIN * acc_delta, INT32_MAX * acc_delta, acc_delta, 0, 32, True)
        sub = replace(node, inputs=node.inputs[:2])
        op = OpContext(
            sub, {w: ctx.consts[w]}, tuple(ctx.inputs[:2]), tuple(ctx.outputs[:1]), ctx.opset
        )
        in_encs = (unit, w_enc) if w == 1 else (w_enc, unit)
        kernel = prepare_int(IntContext(op, op, in_encs, (acc,)))

        bias = None
        if node.op_type in ("Conv", "Gemm") and len(node.inputs) > 2 and node.inputs[2]:
            b = ctx.consts.get(2)
            if b is None:
                raise NotInteger("dynamic bias")
            name = node.inputs[2]
            enc = self.param_encodings.get(name)
            bias = dequantize(b, enc) if enc is not None else b.astype(np.float32)
            if gemm:
                bias = bias * np.float32(node.attr("beta", 1.0))
            else:
                spatial = ctx.consts[1].ndim - 2
                bias = bias.reshape(-1, *([1] * spatial))
        x_name = node.inputs[x]
        out = node.outputs[0]
        scale = np.float32(acc_delta)

        fallback: list[Kernel] = []

        def float_kernel() -> Kernel:
            # Non-finite data has no encoding: the float kernel lets NaN/Inf through.
            if not fallback:
                fallback.append(self._float(ctx))
            return fallback[0]

        def run(*args: np.ndarray | None) -> tuple[np.ndarray, ...]:
            value = args[x]
            enc = _fit(self.state.get(x_name), value) or dynamic_encoding(value, self.batch)
            if enc is None:
                return float_kernel()(*args)
            centered = _levels(value, enc)
            ordered = [centered, args[w]] if x == 0 else [args[w], centered]
            y = kernel(*ordered)[0].astype(np.float32)
            y *= enc[0] * scale
            if bias is not None:
                y += bias
            return (self._store(out, y, None),)

        return run


def _fit(enc: Any, value: np.ndarray) -> Any:
    """A stored encoding shaped for ``value`` (per-sample deltas along axis 0), or None."""
    if enc is None or not np.ndim(enc[0]):
        return enc
    delta, offset = enc
    if value.ndim == 0 or value.shape[0] != delta.shape[0]:
        return None
    shape = (-1,) + (1,) * (value.ndim - 1)
    return delta.reshape(shape), offset.reshape(shape)


def _dsp_dynamic(graph: Graph, batch: int, keep, phases: _Phases) -> Network:
    dsp = _DynamicDsp(graph, batch, keep, phases)
    net = _network("dynamic 8-bit (parameters quantized at init)", dsp.run, dsp.run)
    net.notes.append(
        f"{len(dsp.param_encodings)} parameters quantized at init; {dsp.weight_layers} weight "
        "layer(s) in integers; activations quantized per inference from their own min/max"
    )
    return net


# --------------------------------------------------------------------------- aip


def _aip(container: Container, batch: int, keep, phases: _Phases) -> Network:
    doc = _subnets_doc(container)
    layers = _hta_layers(container, doc)
    phases.done("hta_records")
    if batch != 1:
        container = replace(container, graph=resize_batch(container.graph, batch))
        phases.done("resize")
    plan = _AipPlan(container, layers, keep)
    phases.done("plan")
    hta = sum(len(s["nodes"]) for s in doc["subnets"] if s["kind"] == "hta")
    n_hta = sum(1 for s in doc["subnets"] if s["kind"] == "hta")
    n_hnn = len(doc["subnets"]) - n_hta
    net = _network(
        f"integer: {n_hta} HTA subnet(s) with {hta} layer(s), {n_hnn} HNN subnet(s)",
        plan.run,
        plan.run_integer,
    )
    net.notes.append(
        f"{len(plan.from_records)} layer(s) run from the HTA records; "
        f"{len(container.graph.nodes) - hta} layer(s) in HNN subnets (DSP semantics)"
    )
    net.notes.extend(_fallback_notes(plan))
    return net


@dataclass(frozen=True)
class _HtaLayer:
    weight: np.ndarray  # centered integers (q + offset), float64
    bias: np.ndarray | None  # int32 in the accumulator's scale, as float64
    multiplier: np.ndarray
    shift: np.ndarray


def _hta_layers(container: Container, doc: dict[str, Any]) -> dict[str, _HtaLayer]:
    """Parse every HTA record; the Conv/Gemm layers that will run from them, by node name."""
    from workbench.engine.quant.quantizer import read_hta_record

    graph = container.graph
    by_name = {n.name: n for n in graph.nodes}
    stale = "quantize again with --enable-hta"
    layers: dict[str, _HtaLayer] = {}
    for s in doc["subnets"]:
        if s["kind"] != "hta":
            continue
        record = s.get("record")
        data = container.records.get(record) if isinstance(record, str) else None
        if data is None:
            raise RuntimeRefused(f"HTA subnet {s.get('index')} has no record {record!r}; {stale}")
        try:
            index, arrays = read_hta_record(data)
            if not isinstance(index, dict) or not all(
                isinstance(e, dict) for e in index.get("layers", [])
            ):
                raise ValueError("layers must be objects")
        except (BadInput, *_MALFORMED_RECORD) as exc:
            raise RuntimeRefused(f"HTA record {record!r} is malformed ({exc}); {stale}") from None
        members = set(s["nodes"])
        for entry in index.get("layers", []):
            name = entry.get("node")
            node = by_name.get(name)
            if node is None or name not in members:
                raise RuntimeRefused(f"HTA record {record!r} names unknown layer {name!r}; {stale}")
            if node.op_type not in ("Conv", "Gemm") or not _plain_linear(node):
                continue
            secs = arrays.get(name, {})
            stored = graph.params.get(node.inputs[1])
            weight = secs.get("weight")
            if weight is None or stored is None or not np.array_equal(weight, stored):
                raise RuntimeRefused(
                    f"HTA record {record!r}: the weights of layer {name!r} differ from the "
                    f"container's; {stale}"
                )
            try:
                layers[name] = _HtaLayer(
                    weight=_centered(
                        weight, entry.get("weight_offset", 0), entry.get("weight_axis")
                    ),
                    bias=secs["bias"].astype(np.float64) if "bias" in secs else None,
                    multiplier=np.asarray(secs["multiplier"], dtype=np.int64),
                    shift=np.asarray(secs["shift"], dtype=np.int64),
                )
            except _MALFORMED_RECORD as exc:
                raise RuntimeRefused(
                    f"HTA record {record!r}: layer {name!r} is malformed ({exc}); {stale}"
                ) from None
    return layers


# What parsing a hand-edited or corrupt HTA record raises (wrong types, missing keys).
_MALFORMED_RECORD = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


def _plain_linear(node: Node) -> bool:
    if node.op_type == "Gemm":
        return (
            float(node.attr("alpha", 1.0)) == 1.0
            and float(node.attr("beta", 1.0)) == 1.0
            and not int(node.attr("transA", 0))
        )
    return True


def _centered(q: np.ndarray, offset: Any, axis: int | None) -> np.ndarray:
    off = np.asarray(offset, dtype=np.float64)
    if off.ndim and axis is not None:
        shape = [1] * q.ndim
        shape[axis] = off.size
        off = off.reshape(shape)
    elif off.ndim:
        off = off.reshape(-1)[0]
    return q.astype(np.float64) + off


def _hta_kernel(ctx: OpContext, layer: _HtaLayer, in_enc: Any, out_enc: Any) -> Kernel:
    """An HTA Conv/Gemm: exact accumulation in float64, the record's requantization."""
    from workbench.engine.quant.requant import INT32_MAX, INT32_MIN, requantize

    node = ctx.node
    zp_in, zp_out = -in_enc.offset, -out_enc.offset
    qmin, qmax, dtype = out_enc.qmin, out_enc.qmax, out_enc.dtype
    if node.op_type == "Conv":
        m = layer.weight.shape[0]
        sub = Node(node.name, "Conv", ("x", "w", "b"), node.outputs, node.attrs)
        bias = layer.bias if layer.bias is not None else np.zeros(m)
        conv = prepare(OpContext(sub, {1: layer.weight, 2: bias.reshape(-1)}, opset=ctx.opset))
        spatial = (1,) * (layer.weight.ndim - 2)
        mult = layer.multiplier.reshape(-1, *spatial)
        shift = layer.shift.reshape(-1, *spatial)

        def accumulate(x: np.ndarray) -> np.ndarray:
            return conv(x)[0]
    else:
        w = layer.weight.T if int(node.attr("transB", 0)) else layer.weight  # (K, N)
        bias = layer.bias.reshape(-1) if layer.bias is not None else 0.0
        mult, shift = layer.multiplier.reshape(-1), layer.shift.reshape(-1)

        def accumulate(x: np.ndarray) -> np.ndarray:
            return x @ w + bias

    def run(q: np.ndarray, *_: np.ndarray | None) -> tuple[np.ndarray, ...]:
        acc = accumulate(q.astype(np.float64) - zp_in)
        np.clip(acc, INT32_MIN, INT32_MAX, out=acc)
        return (requantize(acc, mult, shift, zp_out, qmin, qmax, dtype),)

    return run


class _AipPlan(IntegerPlan):
    """The integer plan, with HTA Conv/Gemm layers running from their records."""

    def __init__(self, container: Container, layers: dict[str, _HtaLayer], keep) -> None:
        self._hta = layers
        self.from_records: list[str] = []
        super().__init__(container, keep=keep)

    def _prepare(self, ctx: OpContext) -> Kernel:
        layer = self._hta.get(ctx.node.name)
        in_enc = self.encodings.get(ctx.node.inputs[0]) if ctx.node.inputs else None
        out_enc = self.encodings.get(ctx.node.outputs[0]) if ctx.node.outputs else None
        w_enc = self.param_encodings.get(ctx.node.inputs[1]) if len(ctx.node.inputs) > 1 else None
        eight_bit = all(e is not None and e.bitwidth <= 8 for e in (in_enc, out_enc, w_enc))
        if layer is None or not eight_bit:  # the HTA is 8-bit only (SPEC 11): DSP semantics
            return super()._prepare(ctx)
        self.from_records.append(ctx.node.name)
        return _hta_kernel(ctx, layer, in_enc, out_enc)
