"""The quantizer (the analogue of snpe-dlc-quantize): a float container in, a quantized one out.

``quantize_container`` runs, in order:

1. checks: the container is float (not already quantized), its parameters are loaded,
   and its batch is 1 (the guide's rule: quantize at batch 1, resize at run time);
2. Gemm normalization: ``alpha`` folded into a constant B and ``beta`` into a
   constant C (attributes dropped), so a Gemm's bias is ``C`` exactly;
3. ``cle`` (optional): cross-layer equalization, weights and biases only (``cle.py``);
4. weight encodings (they depend on the weights alone), then one streaming
   calibration pass over the samples (``calibrate.py``) giving every float activation
   an encoding; with ``bc`` the same pass sums each layer's input for bias correction
   (``bias_correction.py``), applied right after;
5. overrides (``--override-params``, AIMET JSON, ``aimet.py``) replace any computed
   activation or parameter encoding;
6. data-movement propagation, then bias encodings (a 32-bit bias needs its layer's
   input encoding) and quantization of every data parameter;
7. HTA records with ``--enable-hta`` (see ``build_hta_records``).

The quantized container (the contract the integer and fake-quant executors read)
--------------------------------------------------------------------------------

* **Graph**: the float container's topology: same nodes, op types, attributes and
  activation tensors. What may differ: weight and bias *values* (CLE, bias
  correction), a bias input added to a Conv/ConvTranspose/Gemm that had none (bias
  correction; named ``<node>.bias``), and Gemm ``alpha``/``beta`` folded into B and C.
  ``graph.tensors`` keeps the logical (float32) info of every tensor, parameters
  included; the stored dtype is the parameter array's own.
* **manifest**: ``quantized: true``; ``quantizer = {"command", "options",
  "calibration_samples", "added_params", "version"}`` where ``options`` is
  ``QuantOptions.to_dict()`` (every option, defaults included) and ``added_params``
  maps a parameter the quantizer created to ``null``.
* **params** and **param_encodings** — every float32 parameter in a *data role* is
  stored as integers ``q`` with ``param_encodings[name] = enc.to_dict()``
  (``Encoding`` or, with an ``"axis"`` key, ``ChannelEncoding``); ``x_hat = (q +
  offset) * delta``:

  ============  ==========================================  =========================
  role          which parameters                            encoding and storage
  ============  ==========================================  =========================
  weight        input 1 of Conv / ConvTranspose / Gemm;     ``--weights-bitwidth`` (4,
                a constant input of MatMul                  8, 16) with
                                                            ``--param-quantizer``;
                                                            uint8 (4/8-bit) or uint16.
                                                            ``--per-channel``:
                                                            symmetric per output
                                                            channel, axis (of the
                                                            weight): Conv 0,
                                                            ConvTranspose 1, Gemm 0 if
                                                            transB else 1, MatMul
                                                            input 1: last, input 0:
                                                            second to last
  bias          input 2 of Conv / ConvTranspose, input 2    ``--bias-bitwidth 8``: its
                (C) of Gemm                                 own tf encoding, uint8;
                                                            ``32``: int32, offset 0,
                                                            ``delta = in_delta *
                                                            w_delta`` (per channel
                                                            when the weight is, axis
                                                            = the bias's last axis)
  data          the inputs listed in ``DATA_PARAM_INPUTS``  per tensor,
                (Add/Mul/... constants, LayerNorm scale     ``--weights-bitwidth``
                and bias, PRelu slope, Gather table, ...)   with
                                                            ``--param-quantizer``
  ============  ==========================================  =========================

  Everything else keeps its float32 / integer value and has no encoding: shape-like
  and control inputs (Reshape/Expand/Tile shapes, Slice starts, Resize/Upsample scales
  and roi, Pad pads and value, Clip min/max, Pow exponent, BatchNorm mean/var, ...),
  integer parameters (shapes, indices), and empty arrays. A parameter with several
  uses takes the first of weight > bias > data.
* **encodings**: ``encodings[tensor] = Encoding.to_dict()`` for every float activation:
  each float graph input and each float node output, ``--act-bitwidth`` with
  ``--act-quantizer``. The outputs of the data-movement ops in ``PROPAGATED_OPS``
  (Pad only with mode reflect/edge or a zero constant; MaxPool's first output) take
  the encoding of their data input (input 0) instead of their own, so they run in
  integers without requantization; chains propagate. *Fused activations*: a tensor
  whose only consumer is a ``Relu`` or ``Clip`` in ``FUSED_ACTIVATIONS`` (and which is
  not a graph output) takes that activation's output encoding, as the vendor runtime
  fuses Conv+ReLU into one layer: clamping to the ReLU's range *is* the ReLU, so no
  quantization step is spent on values the ReLU discards, and the activation then
  runs without requantization. The activation's own output keeps its own calibrated
  range (the pair shares it).
* **records**: empty, or with ``--enable-hta`` the HTA records (``build_hta_records``):
  ``subnets.json`` (the partition: subnet 0 ``hta`` is the run of ``HTA_OPS`` layers
  from the first layer, the rest one ``hnn`` subnet; boundaries as node index ranges,
  input/output tensors with encodings) and ``hta_0.bin`` (packed integer weights, int32
  biases, per-layer requantization multipliers and shifts from
  ``requant.quantize_multiplier``).
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from workbench.engine.batch import graph_batch
from workbench.engine.container import Container, make_manifest
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node
from workbench.engine.inputs import InputList
from workbench.engine.quant.bias_correction import (
    BiasCorrection,
    InputSums,
    correct_biases,
    correctable_layers,
)
from workbench.engine.quant.calibrate import FeedSource, calibrate
from workbench.engine.quant.cle import CleReport, equalize
from workbench.engine.quant.encoding import (
    AnyEncoding,
    ChannelEncoding,
    Encoding,
    bias_encoding_8bit,
    bias_encoding_32bit,
    fake_quantize,
    fit_weight_for_bias,
    per_channel_symmetric,
    quantize,
)
from workbench.engine.quant.observers import make_observer
from workbench.errors import BadInput

Progress = Callable[[str, int, int], None]

SCHEMES = ("tf", "enhanced", "symmetric", "percentile")
WEIGHT_BITWIDTHS = (4, 8, 16)
ACT_BITWIDTHS = (8, 16)
BIAS_BITWIDTHS = (8, 32)
ALGORITHMS = ("cle", "bc")

# Ops whose output encoding is their data input's (values are moved, never computed).
PROPAGATED_OPS = frozenset(
    {
        "Reshape",
        "Flatten",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Identity",
        "Dropout",
        "Slice",
        "Split",
        "Gather",
        "Expand",
        "Tile",
        "DepthToSpace",
        "SpaceToDepth",
        "MaxPool",
        "GlobalMaxPool",
        "Pad",
    }
)
# Activations fused into their producer: the producer's output takes their encoding.
FUSED_ACTIVATIONS = frozenset({"Relu", "Clip"})
# Ops whose every output is propagated (the others: only output 0).
_ALL_OUTPUTS_PROPAGATED = frozenset({"Split"})

WEIGHT_OPS = frozenset({"Conv", "ConvTranspose", "Gemm"})
# (op type) -> parameter input indices that carry data and are quantized (None: all).
DATA_PARAM_INPUTS: dict[str, tuple[int, ...] | None] = {
    "Add": None,
    "Sub": None,
    "Mul": None,
    "Div": None,
    "Max": None,
    "Min": None,
    "Sum": None,
    "Mean": None,
    "Concat": None,
    "Einsum": None,
    "Where": (1, 2),
    "Gemm": (0,),
    "PRelu": (1,),
    "LayerNormalization": (1, 2),
    "InstanceNormalization": (1, 2),
    "BatchNormalization": (1, 2),
    "Gather": (0,),
    "Pow": (0,),
}


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class QuantOptions:
    """Every option of ``workbench quantize``; invalid values raise ``BadInput``."""

    param_quantizer: str = "tf"
    act_quantizer: str = "tf"
    weights_bitwidth: int = 8
    act_bitwidth: int = 8
    bias_bitwidth: int = 8
    per_channel: bool = False
    algorithms: tuple[str, ...] = ()
    percentile: float = 99.99
    enable_hta: bool = False
    override_params: str | None = None

    def __post_init__(self) -> None:
        for name in ("param_quantizer", "act_quantizer"):
            value = getattr(self, name)
            if value not in SCHEMES:
                raise BadInput(
                    f"--{name.replace('_', '-')} must be one of {', '.join(SCHEMES)}, got {value!r}"
                )
        for name, allowed in (
            ("weights_bitwidth", WEIGHT_BITWIDTHS),
            ("act_bitwidth", ACT_BITWIDTHS),
            ("bias_bitwidth", BIAS_BITWIDTHS),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or value not in allowed:
                choices = ", ".join(str(a) for a in allowed)
                raise BadInput(f"--{name.replace('_', '-')} must be {choices}, got {value!r}")
            object.__setattr__(self, name, int(value))
        algorithms = self.algorithms
        if isinstance(algorithms, str):
            algorithms = tuple(a for a in algorithms.replace(" ", "").split(",") if a)
        algorithms = tuple(str(a).strip().lower() for a in algorithms)
        unknown = [a for a in algorithms if a not in ALGORITHMS]
        if unknown:
            raise BadInput(
                f"--algorithms takes a comma-separated subset of {', '.join(ALGORITHMS)}, "
                f"got {', '.join(unknown)}"
            )
        object.__setattr__(self, "algorithms", tuple(a for a in ALGORITHMS if a in algorithms))
        try:
            percentile = float(self.percentile)
        except (TypeError, ValueError):
            raise BadInput(f"--percentile must be a number, got {self.percentile!r}") from None
        if not 50.0 < percentile <= 100.0:
            raise BadInput(f"--percentile must be in (50, 100], got {self.percentile!r}")
        object.__setattr__(self, "percentile", percentile)
        object.__setattr__(self, "per_channel", bool(self.per_channel))
        object.__setattr__(self, "enable_hta", bool(self.enable_hta))
        if self.override_params is not None:
            object.__setattr__(self, "override_params", str(self.override_params))

    @property
    def cle(self) -> bool:
        return "cle" in self.algorithms

    @property
    def bc(self) -> bool:
        return "bc" in self.algorithms

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["algorithms"] = list(self.algorithms)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantOptions:
        known = {f for f in cls.__dataclass_fields__}
        extra = sorted(set(data) - known)
        if extra:
            raise BadInput(f"unknown quantizer option(s): {', '.join(extra)}")
        values = dict(data)
        if "algorithms" in values and isinstance(values["algorithms"], list):
            values["algorithms"] = tuple(values["algorithms"])
        return cls(**values)

    def observer_options(self, scheme: str) -> dict[str, Any]:
        return {"percentile": self.percentile} if scheme == "percentile" else {}


# --------------------------------------------------------------------------- roles


@dataclass(frozen=True)
class ParamRole:
    """How a parameter is quantized: as a layer's ``weight`` or ``bias``, or as ``data``."""

    kind: str
    node_index: int
    input_index: int
    axis: int | None = None  # per-channel axis of a weight


def weight_axis(node: Node, input_index: int, ndim: int) -> int:
    """The output-channel axis of a weight (the ``--per-channel`` axis)."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        return 1
    if node.op_type == "Gemm":
        return 0 if int(node.attr("transB", 0)) else 1
    # MatMul: B's columns, or A's rows when the constant is A.
    return ndim - 1 if input_index == 1 else max(ndim - 2, 0)


def param_roles(graph: Graph) -> dict[str, ParamRole]:
    """The role of every float32 parameter that is quantized (others are absent)."""
    roles: dict[str, ParamRole] = {}
    rank = {"weight": 0, "bias": 1, "data": 2}

    def offer(name: str, role: ParamRole) -> None:
        p = graph.params.get(name)
        if p is None or p.dtype != np.float32 or p.size == 0:
            return
        old = roles.get(name)
        if old is None or rank[role.kind] < rank[old.kind]:
            roles[name] = role

    for idx, n in enumerate(graph.nodes):
        if n.domain:
            continue
        for i, name in enumerate(n.inputs):
            if not name or name not in graph.params:
                continue
            ndim = graph.params[name].ndim
            if n.op_type in WEIGHT_OPS and i == 1:
                offer(name, ParamRole("weight", idx, i, weight_axis(n, i, ndim)))
            elif n.op_type in WEIGHT_OPS and i == 2:
                offer(name, ParamRole("bias", idx, i))
            elif n.op_type == "MatMul" and i in (0, 1) and ndim >= 2:
                other = n.inputs[1 - i]
                if other not in graph.params:
                    offer(name, ParamRole("weight", idx, i, weight_axis(n, i, ndim)))
            elif n.op_type in DATA_PARAM_INPUTS:
                data = DATA_PARAM_INPUTS[n.op_type]
                if data is None or i in data:
                    offer(name, ParamRole("data", idx, i))
    return roles


def _pad_is_data_movement(node: Node, graph: Graph) -> bool:
    mode = node.attr("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode != "constant":
        return True
    if len(node.inputs) > 2 and node.inputs[2]:
        value = graph.params.get(node.inputs[2])
        return (
            value is not None
            and value.size <= 1
            and float(np.asarray(value).reshape(-1)[0] if value.size else 0.0) == 0.0
        )
    return float(node.attr("value", 0.0)) == 0.0


def propagates(node: Node, graph: Graph) -> bool:
    """Does ``node``'s output take its data input's encoding (``PROPAGATED_OPS``)?"""
    if node.domain or node.op_type not in PROPAGATED_OPS or not node.inputs or not node.inputs[0]:
        return False
    if node.inputs[0] in graph.params:
        return False  # constant data (an embedding table): the output is calibrated
    if node.op_type == "Pad":
        return _pad_is_data_movement(node, graph)
    return True


def _propagated_outputs(node: Node) -> tuple[str, ...]:
    outs = node.outputs if node.op_type in _ALL_OUTPUTS_PROPAGATED else node.outputs[:1]
    return tuple(o for o in outs if o)


def fused_activation_inputs(graph: Graph) -> dict[str, str]:
    """``{tensor: activation output}`` for tensors whose only consumer is a fused activation."""
    consumers = graph.consumers()
    outputs = set(graph.output_names) | set(graph.input_names)
    fused = {}
    for n in graph.nodes:
        if n.domain or n.op_type not in FUSED_ACTIVATIONS or not n.inputs or not n.outputs:
            continue
        t = n.inputs[0]
        if t and t not in outputs and t not in graph.params and consumers.get(t) == [n]:
            fused[t] = n.outputs[0]
    return fused


def propagate_encodings(
    graph: Graph, encodings: dict[str, AnyEncoding], keep: Iterable[str] = ()
) -> None:
    """Fill the derived encodings in place (fused activations, then data movement).

    A tensor fused into a following activation takes the activation's output encoding;
    data-movement outputs take their input's, in graph order. Tensors in ``keep``
    (overrides) keep their own encoding and propagate it onwards.
    """
    pinned = set(keep)
    for t, act_out in fused_activation_inputs(graph).items():
        if t not in pinned and act_out in encodings:
            encodings[t] = encodings[act_out]
    for n in graph.nodes:
        if not propagates(n, graph):
            continue
        source = encodings.get(n.inputs[0])
        if source is None:
            continue  # integer data: no encoding
        for o in _propagated_outputs(n):
            if o not in pinned:
                encodings[o] = source


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class LayerQuantization:
    """One node's encodings: its outputs' and its quantized parameters'."""

    node: str
    op_type: str
    outputs: dict[str, dict[str, Any]]
    params: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class QuantizeResult:
    container: Container
    layers: tuple[LayerQuantization, ...]
    timings: dict[str, float]
    samples: int
    cle: CleReport | None = None
    bias_corrections: tuple[BiasCorrection, ...] = ()
    # The float graph the encodings describe: after Gemm folding and CLE, before bias
    # correction (float weights with this graph's encodings = "weights not quantized").
    prepared_graph: Graph | None = field(default=None, repr=False)
    # Weights whose encoding was widened so their layer's 32-bit bias fits int32.
    widened_weights: tuple[str, ...] = ()


# --------------------------------------------------------------------------- the steps


def normalize_gemms(graph: Graph) -> Graph:
    """Fold Gemm ``alpha`` into a constant B and ``beta`` into a constant C (same function)."""
    uses: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            if i:
                uses[i] = uses.get(i, 0) + 1
    out = graph.copy()
    for idx, n in enumerate(out.nodes):
        if n.op_type != "Gemm" or n.domain:
            continue
        alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
        attrs = dict(n.attrs)
        inputs = list(n.inputs)
        if alpha != 1.0 and len(inputs) > 1 and inputs[1] in out.params and uses[inputs[1]] == 1:
            b = out.params[inputs[1]]
            if b.dtype == np.float32:
                out.params[inputs[1]] = (b.astype(np.float64) * alpha).astype(np.float32)
                attrs.pop("alpha", None)
        has_c = len(inputs) > 2 and inputs[2]
        if beta != 1.0 and has_c and inputs[2] in out.params and uses[inputs[2]] == 1:
            c = out.params[inputs[2]]
            if c.dtype == np.float32:
                out.params[inputs[2]] = (c.astype(np.float64) * beta).astype(np.float32)
                attrs.pop("beta", None)
        elif beta != 1.0 and not has_c:
            attrs.pop("beta", None)
        if attrs != dict(n.attrs):
            out.nodes[idx] = replace(n, attrs=attrs)
    return out


def weight_encoding(
    w: np.ndarray, name: str, axis: int | None, options: QuantOptions
) -> AnyEncoding:
    """A weight's encoding: per-channel symmetric, or the param scheme over the whole tensor."""
    if options.per_channel and axis is not None:
        return per_channel_symmetric(w, axis, options.weights_bitwidth, name)
    return _observed(w, name, options.param_quantizer, options.weights_bitwidth, options)


def _observed(
    x: np.ndarray, name: str, scheme: str, bitwidth: int, options: QuantOptions
) -> Encoding:
    obs = make_observer(scheme, name, **options.observer_options(scheme))
    obs.update(x)
    return obs.compute(bitwidth)


def _bias_encoding(
    bias: np.ndarray,
    name: str,
    node: Node,
    in_enc: AnyEncoding | None,
    w_enc: AnyEncoding | None,
    options: QuantOptions,
) -> AnyEncoding:
    if options.bias_bitwidth == 8:
        return bias_encoding_8bit(bias, name)
    if not isinstance(in_enc, Encoding) or w_enc is None:
        raise BadInput(
            f"32-bit bias {name!r} of {node.op_type} node {node.name!r} needs encodings of "
            "the layer's input and weight"
        )
    w_delta: float | np.ndarray = w_enc.delta
    if isinstance(w_enc, ChannelEncoding):
        w_delta = np.asarray(w_enc.delta, dtype=np.float64)
        channels = bias.shape[-1] if bias.ndim else 1
        if w_delta.size != channels and channels % w_delta.size == 0:
            w_delta = np.tile(w_delta, channels // w_delta.size)  # grouped ConvTranspose
        if w_delta.size != channels:
            raise BadInput(
                f"bias {name!r} has {channels} channels but the weight encoding of node "
                f"{node.name!r} has {w_delta.size}"
            )
    enc = bias_encoding_32bit(in_enc.delta, w_delta)
    if isinstance(enc, ChannelEncoding) and bias.ndim != 1:
        enc = replace(enc, axis=bias.ndim - 1)
    return enc


def fit_32bit_biases(
    graph: Graph,
    roles: Mapping[str, ParamRole],
    act_encs: Mapping[str, AnyEncoding],
    param_encs: dict[str, AnyEncoding],
    fixed: Iterable[str] = (),
) -> tuple[str, ...]:
    """Widen weight encodings (in ``param_encs``) so every 32-bit bias fits int32.

    A 32-bit bias is stored in units of ``in_delta * w_delta``; where that would pass
    ``2**31`` (16-bit activations with 16-bit weights, a per-channel weight with a tiny
    channel), the weight's delta grows just enough (``encoding.fit_weight_for_bias``).
    Encodings in ``fixed`` (overrides) are left as given. Returns the widened weights.
    """
    pinned = set(fixed)
    widened = []
    for name, role in roles.items():
        if role.kind != "bias" or name in pinned:
            continue
        node = graph.nodes[role.node_index]
        wname = node.inputs[1] if len(node.inputs) > 1 else ""
        in_enc = act_encs.get(node.inputs[0])
        w_enc = param_encs.get(wname)
        if wname in pinned or w_enc is None or not isinstance(in_enc, Encoding):
            continue
        absb = np.abs(np.asarray(graph.params[name], dtype=np.float64)).reshape(-1)
        if isinstance(w_enc, ChannelEncoding):
            n = len(w_enc)
            if absb.size == 1:
                absb = np.broadcast_to(absb, (n,))
            elif absb.size % n == 0:
                absb = absb.reshape(-1, n).max(axis=0)  # grouped ConvTranspose: tiled
            else:
                continue  # refused later by _bias_encoding, naming the mismatch
        else:
            absb = absb.max(initial=0.0)
        fitted = fit_weight_for_bias(w_enc, absb, in_enc.delta)
        if fitted is not w_enc:
            param_encs[wname] = fitted
            widened.append(wname)
    return tuple(widened)


def _check_container(container: Container) -> None:
    if container.quantized:
        raise BadInput(
            "this container is already quantized; quantize the float container it came from"
        )
    if not container.params_loaded:
        raise BadInput("the container's parameters were not loaded (read it with load_params=True)")
    batch = graph_batch(container.graph)
    if batch != 1:
        raise BadInput(
            f"quantization requires batch size 1 (the container's batch is {batch}); convert "
            "with batch 1 — other batches can be used at run time with --batch"
        )


def quantize_container(
    container: Container,
    input_list: InputList | Iterable[Mapping[str, np.ndarray]],
    options: QuantOptions | None = None,
    progress: Progress | None = None,
    *,
    command: str = "",
) -> QuantizeResult:
    """Calibrate ``container`` on ``input_list`` and return its quantized form (see module doc).

    ``input_list`` is a parsed ``InputList`` (files read lazily, one line at a time) or an
    iterable of feed dicts ``{input name: array}`` at batch 1. ``progress(stage, done,
    total)`` is called with stages ``cle``, ``calibrate``, ``bias_correction``,
    ``quantize_params``.
    """
    from workbench.engine.quant.aimet import load_overrides

    options = options or QuantOptions()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def tick(stage: str, since: float) -> float:
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - since
        return now

    _check_container(container)
    original = container.graph
    graph = normalize_gemms(original)
    t = time.perf_counter()

    cle_report = None
    if options.cle:
        if progress:
            progress("cle", 0, 1)
        graph, cle_report = equalize(graph)
        if progress:
            progress("cle", 1, 1)
        t = tick("cle", t)

    act_overrides: dict[str, Encoding] = {}
    param_overrides: dict[str, AnyEncoding] = {}
    if options.override_params:
        act_overrides, param_overrides = load_overrides(options.override_params, graph)
        t = tick("overrides", t)

    roles = param_roles(graph)
    param_encs: dict[str, AnyEncoding] = {}
    for name, role in roles.items():
        if role.kind == "weight":
            override = param_overrides.get(name)
            param_encs[name] = (
                override
                if override is not None
                else weight_encoding(graph.params[name], name, role.axis, options)
            )
    t = tick("weights", t)

    # One calibration pass; bias correction's input sums ride along.
    skip = {o for n in graph.nodes if propagates(n, graph) for o in _propagated_outputs(n)}
    skip |= set(fused_activation_inputs(graph))
    skip |= set(act_overrides)
    sums = None
    bc_layers = correctable_layers(graph) if options.bc else []
    if bc_layers:
        sums = InputSums.for_layers(graph, bc_layers)
    source = FeedSource(input_list, graph)
    calib = calibrate(
        graph,
        source,
        options.act_quantizer,
        options.act_bitwidth,
        skip=skip,
        observer_options=options.observer_options(options.act_quantizer),
        collectors=[sums] if sums is not None else [],
        plan=Plan(graph),
        progress=progress,
    )
    t = tick("calibration", t)

    prepared = graph
    corrections: list[BiasCorrection] = []
    if sums is not None:

        def w_hat(name: str) -> np.ndarray | None:
            enc = param_encs.get(name)
            return None if enc is None else fake_quantize(graph.params[name], enc)

        graph, corrections = correct_biases(graph, sums, w_hat)
        if progress:
            progress("bias_correction", 1, 1)
        roles = param_roles(graph)  # a created bias is a new parameter
        t = tick("bias_correction", t)

    act_encs: dict[str, AnyEncoding] = dict(calib.encodings)
    act_encs.update(act_overrides)
    propagate_encodings(graph, act_encs, keep=act_overrides)
    widened: tuple[str, ...] = ()
    if options.bias_bitwidth == 32:
        widened = fit_32bit_biases(graph, roles, act_encs, param_encs, param_overrides)

    quantized_params: dict[str, np.ndarray] = dict(graph.params)
    total = len(roles)
    for k, (name, role) in enumerate(roles.items(), start=1):
        value = graph.params[name]
        enc = param_overrides.get(name)
        if enc is None:
            enc = param_encs.get(name)
        if enc is None and role.kind == "bias":
            node = graph.nodes[role.node_index]
            enc = _bias_encoding(
                value,
                name,
                node,
                act_encs.get(node.inputs[0]),
                param_encs.get(node.inputs[1]),
                options,
            )
        elif enc is None:
            enc = _observed(value, name, options.param_quantizer, options.weights_bitwidth, options)
        param_encs[name] = enc
        quantized_params[name] = quantize(value, enc)
        if progress and (k == total or k % 64 == 0):
            progress("quantize_params", k, total)
    t = tick("params", t)

    qgraph = graph.copy()
    qgraph.params = quantized_params
    records: dict[str, bytes] = {}
    if options.enable_hta:
        records = build_hta_records(qgraph, act_encs, param_encs)
        t = tick("hta", t)

    added = {c.bias: None for c in corrections if c.created}
    manifest = _manifest(container, options, command, calib.samples, added)
    quantized = Container(
        manifest=manifest,
        graph=qgraph,
        encodings={name: enc.to_dict() for name, enc in act_encs.items()},
        param_encodings={name: param_encs[name].to_dict() for name in roles},
        records=records,
    )
    timings["total"] = time.perf_counter() - t_start
    return QuantizeResult(
        container=quantized,
        layers=tuple(_layers(qgraph, quantized)),
        timings=timings,
        samples=calib.samples,
        cle=cle_report,
        bias_corrections=tuple(corrections),
        prepared_graph=prepared,
        widened_weights=widened,
    )


_MANIFEST_OWN = ("format", "format_version", "created", "producer", "entries")


def _manifest(
    container: Container,
    options: QuantOptions,
    command: str,
    samples: int,
    added: Mapping[str, None],
) -> dict[str, Any]:
    extra = {
        k: v
        for k, v in container.manifest.items()
        if k not in _MANIFEST_OWN and k not in ("converter", "quantizer", "quantized")
    }
    quantizer = {
        "command": command,
        "options": options.to_dict(),
        "calibration_samples": samples,
        "added_params": dict(added),
    }
    converter = container.manifest.get("converter")
    return make_manifest(converter=converter, quantizer=quantizer, **extra)


def _layers(graph: Graph, container: Container) -> list[LayerQuantization]:
    layers = []
    for n in graph.nodes:
        outs = {o: container.encodings[o] for o in n.outputs if o in container.encodings}
        params = {
            i: container.param_encodings[i] for i in n.inputs if i in container.param_encodings
        }
        layers.append(LayerQuantization(n.name, n.op_type, outs, params))
    return layers


# --------------------------------------------------------------------------- HTA

# Ops an HTA subnet may hold (Conv: group 1 or depthwise).
HTA_OPS = frozenset(
    {
        "Conv",
        "Relu",
        "Clip",
        "MaxPool",
        "AveragePool",
        "Add",
        "Concat",
        "Reshape",
        "Flatten",
        "Transpose",  # data movement: the NHWC-to-NCHW entry of an imported TFLite model
        "Gemm",
    }
)
HTA_MAGIC = b"WBHTA\x00\x01\x00"  # format 1
_HTA_ALIGN = 16


def hta_supported(node: Node, graph: Graph) -> bool:
    """Can ``node`` run on the HTA (``HTA_OPS``; a Conv must be plain or depthwise)?"""
    if node.domain or node.op_type not in HTA_OPS:
        return False
    if node.op_type == "Conv":
        group = int(node.attr("group", 1))
        w = graph.params.get(node.inputs[1]) if len(node.inputs) > 1 else None
        if w is None:
            return False
        return group == 1 or (w.shape[1] == 1 and group == w.shape[0])
    if node.op_type == "Gemm":
        return len(node.inputs) > 1 and node.inputs[1] in graph.params
    return True


def hta_partition(graph: Graph) -> list[tuple[str, int, int]]:
    """``[(kind, start, end)]`` node ranges: the supported run from the first node is
    subnet 0 ``"hta"``; everything after it is one ``"hnn"`` subnet."""
    k = 0
    while k < len(graph.nodes) and hta_supported(graph.nodes[k], graph):
        k += 1
    parts = []
    if k:
        parts.append(("hta", 0, k))
    if k < len(graph.nodes):
        parts.append(("hnn", k, len(graph.nodes)))
    return parts


def _boundary(graph: Graph, start: int, end: int) -> tuple[list[str], list[str]]:
    inside = graph.nodes[start:end]
    produced = {o for n in inside for o in n.outputs if o}
    inputs: list[str] = []
    for n in inside:
        for i in n.inputs:
            if i and i not in produced and i not in graph.params and i not in inputs:
                inputs.append(i)
    later = {i for n in graph.nodes[end:] for i in n.inputs if i}
    outputs = [
        o for n in inside for o in n.outputs if o and (o in later or o in graph.output_names)
    ]
    return inputs, outputs


class _Packer:
    """Data sections of an HTA record: little-endian arrays, each 16-byte aligned."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.offset = 0

    def section(self, array: np.ndarray) -> dict[str, Any]:
        a = np.ascontiguousarray(array)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        data = a.tobytes()
        pad = (-len(data)) % _HTA_ALIGN
        info = {
            "offset": self.offset,
            "nbytes": len(data),
            "dtype": a.dtype.name,
            "shape": list(a.shape),
        }
        self.blobs.append(data + b"\x00" * pad)
        self.offset += len(data) + pad
        return info


def build_hta_records(
    graph: Graph, act_encs: Mapping[str, AnyEncoding], param_encs: Mapping[str, AnyEncoding]
) -> dict[str, bytes]:
    """HTA subnet records for ``--enable-hta``: ``subnets.json`` and ``hta_<i>.bin``.

    ``graph`` is the quantized graph (integer parameters). ``subnets.json``::

        {"format": 1, "supported_ops": [...], "all_layers_hta": bool,
         "subnets": [{"index", "kind": "hta" | "hnn", "layers": [start, end),
                      "nodes": [names], "inputs": [{"name", "encoding"}],
                      "outputs": [{"name", "encoding"}], "record": "hta_0.bin" | null}]}

    ``hta_<i>.bin``: ``HTA_MAGIC`` (8 bytes), the index length (uint32 LE), the index
    (UTF-8 JSON), zero padding to 16 bytes, then the data sections, each 16-byte
    aligned, at offsets relative to the start of the data. The index lists one entry
    per layer: ``{"node", "op_type", "inputs", "outputs", "sections": {name: {"offset",
    "nbytes", "dtype", "shape"}}, ...}``. Sections (little-endian):

    * ``weight``: the stored integers as in the container (uint8/uint16), with
      ``weight_offset`` (per channel list or one int) and ``weight_axis``;
    * ``bias``: int32 in units of ``in_delta * w_delta`` (the 32-bit bias itself, or an
      8-bit bias re-expressed at that scale with round half away from zero);
    * ``multiplier`` / ``shift``: int32 requantization of the accumulator to the output,
      ``real = in_delta * w_delta / out_delta`` (per channel when the weight is) through
      ``requant.quantize_multiplier``, the integer executor's function;
    * ``multiplier_<k>`` / ``shift_<k>`` for the inputs of Add / Concat and the input of
      pooling, activation and reshape layers: ``real = in_k_delta / out_delta``.
    """
    from workbench.engine.quant.encoding import dequantize, round_half_away
    from workbench.engine.quant.requant import quantize_multiplier

    parts = hta_partition(graph)
    subnets = []
    records: dict[str, bytes] = {}

    def enc_dict(name: str) -> dict[str, Any] | None:
        e = act_encs.get(name)
        return None if e is None else e.to_dict()

    for idx, (kind, start, end) in enumerate(parts):
        inputs, outputs = _boundary(graph, start, end)
        record = f"hta_{idx}.bin" if kind == "hta" else None
        subnets.append(
            {
                "index": idx,
                "kind": kind,
                "layers": [start, end],
                "nodes": [n.name for n in graph.nodes[start:end]],
                "inputs": [{"name": t, "encoding": enc_dict(t)} for t in inputs],
                "outputs": [{"name": t, "encoding": enc_dict(t)} for t in outputs],
                "record": record,
            }
        )
        if record is None:
            continue
        layers = []
        packer = _Packer()
        section = packer.section
        for n in graph.nodes[start:end]:
            entry: dict[str, Any] = {
                "node": n.name,
                "op_type": n.op_type,
                "inputs": [i for i in n.inputs if i],
                "outputs": [o for o in n.outputs if o],
                "sections": {},
            }
            out_enc = act_encs.get(n.outputs[0])
            secs = entry["sections"]
            if n.op_type in ("Conv", "Gemm"):
                in_enc = act_encs.get(n.inputs[0])
                wname = n.inputs[1]
                w_enc = param_encs.get(wname)
                if not isinstance(in_enc, Encoding) or w_enc is None or out_enc is None:
                    raise BadInput(
                        f"HTA layer {n.name!r} lacks encodings for its input, weight or output"
                    )
                w_delta = np.atleast_1d(np.asarray(w_enc.delta, dtype=np.float64))
                acc_delta = in_enc.delta * w_delta
                secs["weight"] = section(graph.params[wname])
                entry["weight_offset"] = np.asarray(w_enc.offset).tolist()
                entry["weight_axis"] = w_enc.axis if isinstance(w_enc, ChannelEncoding) else None
                m, sh = quantize_multiplier(acc_delta / out_enc.delta)
                secs["multiplier"] = section(np.asarray(m, dtype=np.int32).reshape(-1))
                secs["shift"] = section(np.asarray(sh, dtype=np.int32).reshape(-1))
                if len(n.inputs) > 2 and n.inputs[2]:
                    bname = n.inputs[2]
                    b_enc = param_encs[bname]
                    b_hat = dequantize(graph.params[bname], b_enc).astype(np.float64).reshape(-1)
                    scale = (
                        acc_delta
                        if acc_delta.size == b_hat.size
                        else np.resize(acc_delta, b_hat.size)
                    )
                    b32 = np.clip(round_half_away(b_hat / scale), -(2**31), 2**31 - 1)
                    secs["bias"] = section(b32.astype(np.int32))
            else:
                for k, i in enumerate(x for x in n.inputs if x and x not in graph.params):
                    in_enc = act_encs.get(i)
                    if isinstance(in_enc, Encoding) and isinstance(out_enc, Encoding):
                        m, sh = quantize_multiplier(in_enc.delta / out_enc.delta)
                        secs[f"multiplier_{k}"] = section(np.asarray(m, np.int32).reshape(-1))
                        secs[f"shift_{k}"] = section(np.asarray(sh, np.int32).reshape(-1))
            layers.append(entry)
        index = json.dumps({"format": 1, "subnet": idx, "layers": layers}).encode()
        head = HTA_MAGIC + struct.pack("<I", len(index)) + index
        head += b"\x00" * ((-len(head)) % _HTA_ALIGN)
        records[record] = head + b"".join(packer.blobs)

    doc = {
        "format": 1,
        "supported_ops": sorted(HTA_OPS),
        "all_layers_hta": len(parts) == 1 and parts[0][0] == "hta",
        "subnets": subnets,
    }
    records["subnets.json"] = json.dumps(doc, indent=1).encode()
    return records


def read_hta_record(data: bytes) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Parse ``hta_<i>.bin``: its index and, per layer, its sections as arrays."""
    if len(data) < 12 or data[:8] != HTA_MAGIC:
        raise BadInput("not an HTA record (bad magic)")
    (length,) = struct.unpack_from("<I", data, 8)
    if 12 + length > len(data):
        raise BadInput("truncated HTA record index")
    try:
        index = json.loads(data[12 : 12 + length])
    except ValueError as exc:
        raise BadInput(f"malformed HTA record index: {exc}") from None
    base = 12 + length + ((-(12 + length)) % _HTA_ALIGN)
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for layer in index["layers"]:
        got = {}
        for name, sec in layer["sections"].items():
            start = base + int(sec["offset"])
            end = start + int(sec["nbytes"])
            if end > len(data):
                raise BadInput(f"HTA record section {name!r} of {layer['node']!r} is truncated")
            dtype = np.dtype(sec["dtype"]).newbyteorder("<")
            got[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(sec["shape"])
        arrays[layer["node"]] = got
    return index, arrays
