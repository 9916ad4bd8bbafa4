"""The DSP with a float container: parameters quantized at init, activations per inference.

Activation ranges are not known offline, so activations are quantized *dynamically, per
inference*: every float activation (graph inputs and node outputs) is quantized to 8
bits with the tf encoding of its own min/max in that inference (per sample when the
network runs a batch). Outputs of data-movement layers keep their input's grid and a
tensor fused into a following ReLU/Clip takes that activation's grid, as the offline
quantizer does. The integer arithmetic is emulated by float kernels over the quantized
parameters' grid values (``(q + offset) * delta``) with every activation fake-quantized
to its dynamic encoding, so accuracy differs from the offline-quantized container, as
the guide says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from workbench.engine.container import Container
from workbench.engine.executor import Plan, TensorHook
from workbench.engine.graph import Graph
from workbench.engine.ops.registry import Kernel, OpContext, check_supported, prepare
from workbench.engine.quant.dequant import quantize_float_params_for_dsp
from workbench.engine.quant.encoding import (
    Encoding,
    dequantize,
    encoding_from_dict,
    round_half_away,
    tf_rule,
)
from workbench.engine.quant.int_ops import IntContext, NotInteger, prepare_int
from workbench.engine.quant.propagation import fused_activation_inputs, propagates
from workbench.engine.quant.requant import INT32_MAX, INT32_MIN
from workbench.engine.runtimes.network import InitRequest, Network, Phases, network, resized

DYNAMIC_BITWIDTH = 8  # the DSP's activations for a float container


def dynamic_init(container: Container, request: InitRequest) -> Network:
    """A float container: phases ``quantize``, (``resize``), ``plan``."""
    return _dsp_dynamic(container.graph, request.batch, request.keep, request.phases)


def dynamic_encoding(x: np.ndarray, batch: int = 1, bitwidth: int = DYNAMIC_BITWIDTH):
    """``(delta, offset)`` of the tf encoding of ``x``'s own min/max, as float32.

    Per sample (arrays shaped to broadcast along axis 0) when ``x`` holds a batch of
    ``batch`` samples, else scalars. ``None`` for empty or non-finite data.
    """
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
    delta, offset = enc
    v = np.asarray(np.divide(x, delta, dtype=np.float32))  # a 0-d x gives a scalar
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

    def __init__(self, graph: Graph, batch: int, keep, phases: Phases):
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
        quantized = resized(quantized, batch, phases)
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


def _dsp_dynamic(graph: Graph, batch: int, keep, phases: Phases) -> Network:
    dsp = _DynamicDsp(graph, batch, keep, phases)
    net = network("dynamic 8-bit (parameters quantized at init)", dsp.run, dsp.run)
    net.notes.append(
        f"{len(dsp.param_encodings)} parameters quantized at init; {dsp.weight_layers} weight "
        "layer(s) in integers; activations quantized per inference from their own min/max"
    )
    return net
