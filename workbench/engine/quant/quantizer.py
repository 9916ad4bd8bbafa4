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
7. HTA records with ``--enable-hta`` (``hta.build_hta_records``).

Per-layer precision (``--layer-precision PATTERN=int16|int8|float``,
``--weights-bitwidth-override PATTERN=4|8|16``; ``layer_precision.py``): matched layers'
output encodings are recomputed at their bitwidth from the same calibration observers,
their weights take the override; a ``float`` layer keeps its parameters float32 (no
encoding) and the tensors no fixed-point layer touches lose their encodings. The
resolved choice is the manifest's ``quantizer.layer_precision``.

The quantized container (the contract the integer and fake-quant executors read)
--------------------------------------------------------------------------------

* **Graph**: the float container's topology: same nodes, op types, attributes and
  activation tensors. What may differ: weight and bias *values* (CLE, bias
  correction), a bias input added to a Conv/ConvTranspose/Gemm that had none (bias
  correction; named ``<node>.bias``), and Gemm ``alpha``/``beta`` folded into B and C.
  ``graph.tensors`` keeps the logical (float32) info of every tensor, parameters
  included; the stored dtype is the parameter array's own.
* **manifest**: ``quantized: true``; ``rounding``: the rounding mode (``--rounding``,
  ``vocabulary.ROUNDING_MODES``) every parameter was quantized with and the executors
  quantize activations and requantize with; ``quantizer = {"command", "options",
  "calibration_samples", "added_params", "version"}`` where ``options`` is
  ``QuantOptions.to_dict()`` (every option, defaults included; ``workbench/options.py``;
  ``per_channel`` is true too when ``--override-params`` installed per-channel weights)
  and ``added_params`` maps a parameter the quantizer created to ``null``; with
  ``--override-params``, ``overrides = {"path", "version", "producer", "activations",
  "params"}`` (the file's AIMET version and ``producer``, and how many encodings it gave).
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
  data          the inputs in ``roles.DATA_PARAM_INPUTS``   per tensor,
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
  ``--act-quantizer``. The outputs of the data-movement ops in ``propagation.PROPAGATED_OPS``
  (Pad only with mode reflect/edge or a zero constant; MaxPool's first output) take
  the encoding of their data input (input 0) instead of their own, so they run in
  integers without requantization; chains propagate. *Fused activations*: a tensor
  whose only consumer is a ``Relu`` or ``Clip`` in ``FUSED_ACTIVATIONS`` (and which is
  not a graph output) takes that activation's output encoding, as the vendor runtime
  fuses Conv+ReLU into one layer: clamping to the ReLU's range *is* the ReLU, so no
  quantization step is spent on values the ReLU discards, and the activation then
  runs without requantization. The activation's own output keeps its own calibrated
  range (the pair shares it).
* **records**: empty, or with ``--enable-hta`` the HTA records (``hta.py``):
  ``subnets.json`` (the partition: subnet 0 ``hta`` is the run of ``HTA_OPS`` layers
  from the first layer, the rest one ``hnn`` subnet; boundaries as node index ranges,
  input/output tensors with encodings) and ``hta_0.bin`` (packed integer weights, int32
  biases, per-layer requantization multipliers and shifts from
  ``requant.quantize_multiplier``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from workbench.engine.batch import graph_batch
from workbench.engine.container import Container, make_manifest
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node
from workbench.engine.inputs import InputList
from workbench.engine.quant.adaround import LayerRounding
from workbench.engine.quant.aimet import load_encodings
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
from workbench.engine.quant.hta import build_hta_records
from workbench.engine.quant.layer_precision import (
    LayerPrecision,
    boundaries,
    resolve_rules,
    unencoded_tensors,
    with_overrides,
)
from workbench.engine.quant.observers import make_observer
from workbench.engine.quant.propagation import (
    fused_activation_inputs,
    propagate_encodings,
    propagated_outputs,
    propagates,
)
from workbench.engine.quant.roles import ParamRole, param_roles
from workbench.errors import BadInput
from workbench.options import QuantOptions

Progress = Callable[[str, int, int], None]


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
    adaround: tuple[LayerRounding, ...] = ()  # --algorithms adaround, per weight


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


def _infinite_constant_encoding(
    graph: Graph, name: str, role: ParamRole, act_encs: Mapping[str, AnyEncoding]
) -> Encoding:
    """A constant holding only ±inf (``Max(-inf, x)``, a jax2tf export's reduction start)
    has no range of its own: it takes its node's output encoding (else a float input's), so
    the infinities clamp to that range's ends, where ``Max``/``Min`` leave the other input
    unchanged."""
    node = graph.nodes[role.node_index]
    for t in (*node.outputs, *(i for i in node.inputs if i != name)):
        enc = act_encs.get(t)
        if isinstance(enc, Encoding):
            return enc
    raise BadInput(
        f"parameter {name!r} holds only infinite values and {node.name!r} ({node.op_type}) "
        "has no encoded input or output to clamp them to"
    )


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
    for name, p in container.graph.params.items():  # ±inf is a value (a mask); NaN never is
        if p.dtype.kind == "f" and p.size and np.isnan(p).any():
            raise BadInput(
                f"parameter {name!r} has {int(np.count_nonzero(np.isnan(p)))} NaN value(s); "
                "fix the model (±inf is accepted: it is clamped to the encoding's range)"
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
    overrides: dict[str, Any] | None = None
    read = None
    if options.override_params:
        read = load_encodings(options.override_params, graph)
        act_overrides, param_overrides = read.activations, read.params
        overrides = {
            "path": options.override_params,
            "excluded_layers": list(read.excluded_layers),
            "version": read.version,
            "producer": read.producer,
            "activations": len(act_overrides),
            "params": len(param_overrides),
        }
        t = tick("overrides", t)

    roles = param_roles(graph)
    precision = resolve_rules(graph, options.layer_precision, options.weights_bitwidth_override)
    if read is not None:  # an exported mix comes back: float layers and their bitwidths
        precision = with_overrides(
            graph, precision, read.excluded_layers,
            {n: e.bitwidth for n, e in act_overrides.items()},
            {n: e.bitwidth for n, e in param_overrides.items()},
            act_bitwidth=options.act_bitwidth, weights_bitwidth=options.weights_bitwidth,
        )  # fmt: skip
    kept_float = _float_params(graph, precision)
    param_encs: dict[str, AnyEncoding] = {}
    for name, role in roles.items():
        if role.kind == "weight" and name not in kept_float:
            override = param_overrides.get(name)
            param_encs[name] = (
                override
                if override is not None
                else weight_encoding(
                    graph.params[name], name, role.axis, _for_layer(options, precision, graph, role)
                )
            )
    t = tick("weights", t)

    # One calibration pass; bias correction's input sums ride along.
    skip = {o for n in graph.nodes if propagates(n, graph) for o in propagated_outputs(n)}
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
    roundings: tuple[LayerRounding, ...] = ()
    if options.adaround:
        from workbench.engine.quant.adaround import adaround

        learned, roundings = adaround(
            graph,
            FeedSource(input_list, graph),
            param_encs,
            [n for n in param_encs if n not in param_overrides],
            budget_s=options.adaround_seconds,
            progress=progress,
        )
        if learned:
            graph = graph.copy()
            graph.params.update(learned)
        t = tick("adaround", t)
    corrections: list[BiasCorrection] = []
    if sums is not None:

        def w_hat(name: str) -> np.ndarray | None:
            enc = param_encs.get(name)
            return None if enc is None else fake_quantize(graph.params[name], enc, options.rounding)

        graph, corrections = correct_biases(graph, sums, w_hat)
        if progress:
            progress("bias_correction", 1, 1)
        roles = param_roles(graph)  # a created bias is a new parameter
        t = tick("bias_correction", t)

    act_encs: dict[str, AnyEncoding] = dict(calib.encodings)
    _layer_bitwidths(graph, precision, calib.observers, act_encs)
    act_encs.update(act_overrides)
    propagate_encodings(graph, act_encs, keep=act_overrides)
    for tensor in unencoded_tensors(graph, precision.float_layers):
        act_encs.pop(tensor, None)
    widened: tuple[str, ...] = ()
    if options.bias_bitwidth == 32:
        widened = fit_32bit_biases(graph, roles, act_encs, param_encs, param_overrides)

    quantized_params: dict[str, np.ndarray] = dict(graph.params)
    total = len(roles)
    for k, (name, role) in enumerate(roles.items(), start=1):
        value = graph.params[name]
        if name in kept_float:
            continue  # a float layer's parameter: stays float32, no encoding
        enc = param_overrides.get(name)
        if enc is None:
            enc = param_encs.get(name)
        if enc is None and role.kind == "bias":
            node = graph.nodes[role.node_index]
            # A weight computed at run time (a generator too large to fold at import,
            # e.g. ConstantOfShape) is an activation with its calibrated encoding.
            w_enc = param_encs.get(node.inputs[1])
            if w_enc is None:
                w_enc = act_encs.get(node.inputs[1])
            enc = _bias_encoding(value, name, node, act_encs.get(node.inputs[0]), w_enc, options)
        elif enc is None and value.size and not np.isfinite(value).any():
            enc = _infinite_constant_encoding(graph, name, role, act_encs)
        elif enc is None:
            layer = _for_layer(options, precision, graph, role)
            enc = _observed(value, name, layer.param_quantizer, layer.weights_bitwidth, layer)
        param_encs[name] = enc
        quantized_params[name] = quantize(value, enc, options.rounding)
        if progress and (k == total or k % 64 == 0):
            progress("quantize_params", k, total)
    t = tick("params", t)

    qgraph = graph.copy()
    qgraph.params = quantized_params
    records: dict[str, bytes] = {}
    if options.enable_hta:
        records = build_hta_records(
            qgraph, act_encs, param_encs, options.rounding, float_layers=precision.float_layers
        )
        t = tick("hta", t)

    added = {c.bias: None for c in corrections if c.created}
    manifest = _manifest(container, options, command, calib.samples, added)
    if overrides is not None:
        manifest["quantizer"]["overrides"] = overrides
    if precision:
        manifest["quantizer"]["layer_precision"] = _precision_record(
            graph, precision, roles, kept_float, act_encs
        )
    weights = [n for n, r in roles.items() if r.kind == "weight" and n in param_encs]
    if not options.per_channel and any(isinstance(param_encs[n], ChannelEncoding) for n in weights):
        # Per-channel weights came with the overrides: the container is per channel.
        manifest["quantizer"]["options"]["per_channel"] = True
    quantized = Container(
        manifest=manifest,
        graph=qgraph,
        encodings={name: enc.to_dict() for name, enc in act_encs.items()},
        param_encodings={name: param_encs[name].to_dict() for name in roles if name in param_encs},
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
        adaround=roundings,
    )


def _float_params(graph: Graph, precision: LayerPrecision) -> set[str]:
    """Parameters only float layers use: they stay float32 (no encoding)."""
    floats = precision.float_layers
    if not floats:
        return set()
    users: dict[str, set[str]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            if i in graph.params:
                users.setdefault(i, set()).add(n.name)
    return {p for p, names in users.items() if names <= floats}


def _for_layer(
    options: QuantOptions, precision: LayerPrecision, graph: Graph, role: ParamRole
) -> QuantOptions:
    """The options a parameter is quantized with: its layer's weights bitwidth override."""
    bits = precision.weights.get(graph.nodes[role.node_index].name)
    if bits is None or bits == options.weights_bitwidth:
        return options
    return replace(options, weights_bitwidth=bits)


def _layer_bitwidths(
    graph: Graph,
    precision: LayerPrecision,
    observers: Mapping[str, Any],
    act_encs: dict[str, AnyEncoding],
) -> None:
    """Recompute, at their layer's bitwidth, the encodings of int8/int16 layers' outputs
    (a layer fused with its activation: the activation's output, which the pair shares)."""
    from workbench.vocabulary import LAYER_PRECISION_BITS

    fused = fused_activation_inputs(graph)
    for n in graph.nodes:
        bits = LAYER_PRECISION_BITS.get(precision.activations.get(n.name, ""))
        if bits is None:
            continue
        for o in n.outputs:
            target = fused.get(o, o)
            obs = observers.get(target)
            if obs is not None:
                act_encs[target] = obs.compute(bits)


def _precision_record(
    graph: Graph,
    precision: LayerPrecision,
    roles: Mapping[str, ParamRole],
    kept_float: set[str],
    act_encs: Mapping[str, AnyEncoding],
) -> dict[str, Any]:
    """The manifest's ``quantizer.layer_precision`` (``layer_precision.py``)."""
    weights = {}
    for name, role in roles.items():
        bits = precision.weights.get(graph.nodes[role.node_index].name)
        if bits is not None and name not in kept_float and role.kind != "bias":
            weights[name] = bits
    floats = [n.name for n in graph.nodes if n.name in precision.float_layers]
    return {
        "activations": dict(precision.activations),
        "weights": weights,
        "float_layers": floats,
        "float_params": sorted(kept_float),
        "boundaries": len(boundaries(graph, floats, act_encs)),
    }


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
    extra.pop("rounding", None)
    return make_manifest(
        converter=converter, quantizer=quantizer, rounding=options.rounding, **extra
    )


def _layers(graph: Graph, container: Container) -> list[LayerQuantization]:
    layers = []
    for n in graph.nodes:
        outs = {o: container.encodings[o] for o in n.outputs if o in container.encodings}
        params = {
            i: container.param_encodings[i] for i in n.inputs if i in container.param_encodings
        }
        layers.append(LayerQuantization(n.name, n.op_type, outs, params))
    return layers
