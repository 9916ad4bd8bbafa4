"""Conv, ConvTranspose, Gemm and MatMul with exact integer accumulation, then per-channel requantization.

The accumulator is ``sum (q_x - zp_x) * (q_w + offset_w)`` plus the bias in the
accumulator's scale (``in_delta * w_delta``). It is exact, always: an int32 where the
bound below allows, a wide (int64) accumulator past ``2**31``, as 16-bit MAC arrays
accumulate in 48 or 64 bits. Nothing saturates.

**The accumulator bound.** Each layer computes at plan time, from its stored integers,

    bound = max over outputs m of  sum_k |w_mk| * R_x  +  |bias_m|      (R_x = max |q_x - zp_x|)

(MatMul of two activations: ``K * R_a * R_b``). What it can reach for given bitwidths
and reduction length ``K`` (``R_x <= 2**A - 1``; ``|w| <= 2**(W-1)`` symmetric, ``2**W - 1``
asymmetric), before the bias:

    ==========  ===================  ============================  =====================
    W x A       largest |acc|        float32 BLAS exact (< 2**24)  float64 exact (< 2**53)
    ==========  ===================  ============================  =====================
    4 x 8       K * 15 * 255         K < 4386                      K < 2**41
    8 x 8       K * 255 * 255        K < 258                       K < 2**37
    8 x 16      K * 255 * 65535      K = 1 only                    K < 2**29
    16 x 8      K * 65535 * 255      K = 1 only                    K < 2**29
    16 x 16     K * 65535 * 65535    never                         K < 2**21
    ==========  ===================  ============================  =====================

int32 holds 8 x 8 up to ``K < 33026``; 8 x 16 and 16 x 8 pass ``2**31`` from ``K = 129``,
16 x 16 from ``K = 1``: the accumulator is wide there (int64: exact up to ``2**62``,
``K < 2**30`` at 16 x 16). A 32-bit bias adds at most ``2**31``; an 8-bit bias, rescaled
to the accumulator's scale (``bias_to_accumulator``), whatever it is, and the bound
counts it. The real bound of a layer (its actual weights) is usually far below these.

**The arithmetic** follows the layer's bound, the fastest that is provably exact,
because BLAS is where the speed is:

* **float32 BLAS** below ``2**24``: every partial sum, in any order, is then an integer
  float32 holds exactly (fused multiply-adds included). The float kernels' layouts
  (pointwise GEMM, depthwise taps, im2col) run unchanged on the centered integers;
  their zero padding is ``x - zp = 0``, the real zero.
* **float32 in input-channel chunks**, summed in float64, when the whole sum may pass
  ``2**24`` but each input channel's share stays below it (deep 3x3 convolutions after
  a ReLU, 8-bit). Float64 BLAS would be exact too but runs at half the speed here.
* **float64 BLAS** below ``2**53`` (16-bit layers, grouped convolutions past ``2**24``,
  MatMul of two activations with a long inner dimension).
* **int64** below ``2**62``: a Conv sums float64 input-channel chunks (each below
  ``2**53``) in int64; Gemm and MatMul multiply in int64. A grouped Conv or a
  ConvTranspose past ``2**53`` has no exact path and runs as a float fallback (recorded).

``accumulator_arithmetic(bound)`` names the choice. Requantization is
``requant.Requantizer`` (in a ``tflite`` container, TFLite's half-up double rounding of
its convolution and GEMM kernels: ``requant.tflite_half_up``) with that same bound: its float64 fast path only where proven
bit-identical to the integer formula, its wide path (float64, near-half elements
recomputed exactly) for accumulators past ``2**31``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.engine.graph import Node
from workbench.engine.ops.conv import constant_conv
from workbench.engine.ops.registry import Kernel, OpContext, prepare
from workbench.engine.quant.encoding import ChannelEncoding
from workbench.engine.quant.int_ops import (
    IntContext,
    NotInteger,
    centered,
    centered_param,
    channel_deltas,
    reach,
    register_int,
    zero_point,
)
from workbench.engine.quant.int_ops.compiled import compiled_conv
from workbench.engine.quant.requant import (
    Requantizer,
    quantize_multiplier,
    requantize,
    tflite_half_up,
)
from workbench.vocabulary import DEFAULT_ROUNDING

F32_EXACT = 2**24  # integers below this are exact in float32
F64_EXACT = 2**53  # ... in float64
I64_EXACT = 2**62  # accumulators the int64 paths and requant.requantize_wide take


def accumulator_arithmetic(bound: float) -> str:
    """The arithmetic that sums integers of total magnitude ``<= bound`` exactly (module doc):
    ``"float32"``, ``"float64"`` or ``"int64"``; ``NotInteger`` past ``2**62``."""
    if bound < F32_EXACT:
        return "float32"
    if bound < F64_EXACT:
        return "float64"
    if bound < I64_EXACT:
        return "int64"
    raise NotInteger("the accumulator could exceed 2**62")


def bias_to_accumulator(
    q: np.ndarray, enc, acc_delta: np.ndarray, rounding: str = DEFAULT_ROUNDING
) -> np.ndarray:
    """A quantized bias re-expressed in the accumulator's scale, as int64 (one per channel).

    A 32-bit bias whose delta is ``in_delta * w_delta`` (the contract) is used as is; any
    other (an 8-bit bias with its own encoding) is rescaled by the integer rule with
    multiplier ``bias_delta / acc_delta``, never saturating: at 16 x 16 bits the
    accumulator's scale is so fine that an 8-bit bias lands far past ``2**31`` in it (the
    accumulator is wide there). A ratio of ``2**30`` or more (``s <= 0`` in the rule) is
    an exact left shift, ``b * M << (e - 31)`` with ``ratio = M * 2**(e - 31)``.
    """
    n = acc_delta.shape[0]
    bc = centered_param(q, enc).reshape(-1)
    if bc.shape[0] == 1 and n > 1:
        bc = np.broadcast_to(bc, (n,))
    if bc.shape[0] != n:
        raise NotInteger(f"bias has {bc.shape[0]} values for {n} channels")
    ratio = channel_deltas(enc, n) if isinstance(enc, ChannelEncoding) else np.full(n, enc.delta)
    ratio = ratio / acc_delta
    if np.all(ratio == 1.0):
        return np.array(bc, dtype=np.int64)
    out = np.zeros(n, dtype=np.int64)
    small = ratio < 2.0**30
    if small.any():
        m, shift = quantize_multiplier(ratio[small])
        out[small] = requantize(bc[small], m, shift, 0, -I64_EXACT, I64_EXACT, np.int64, rounding)
    if not small.all():
        f, e = np.frexp(ratio[~small])
        m = np.floor(np.ldexp(f, 31) + 0.5).astype(np.int64)  # in [2**30, 2**31]
        b = bc[~small].astype(np.int64)
        if np.any(np.abs(b).astype(np.float64) * np.ldexp(m.astype(np.float64), e - 31) >= 2.0**61):
            raise NotInteger("the bias is past 2**61 in the accumulator's scale")
        out[~small] = np.left_shift(b * m, e - 31)
    return out


def _check_bound(bound: float) -> None:
    accumulator_arithmetic(bound)  # NotInteger past 2**62 (module docstring)


def _float_conv(ictx: IntContext, w: np.ndarray, bias: np.ndarray | None) -> Any:
    """The float convolution over given (integer-valued) weights: ``(x) -> y``, and
    ``.centered(q, zp, dtype)`` for codes."""
    node = ictx.node
    sub = Node(
        node.name, "Conv", ("x", "w", "b" if bias is not None else ""), node.outputs, node.attrs
    )
    return constant_conv(OpContext(sub, opset=ictx.op.opset), w, bias)


def _channel_chunks(contrib: np.ndarray, limit: float) -> list[tuple[int, int]] | None:
    """Split input channels so each chunk's per-row bound stays below ``limit``.

    ``contrib[m, c]`` is ``sum |w|`` of output channel m over input channel c's taps.
    """
    chunks, start = [], 0
    running = np.zeros(contrib.shape[0], dtype=np.int64)
    for c in range(contrib.shape[1]):
        col = contrib[:, c]
        if col.max() > limit:
            return None
        if (running + col).max() > limit:
            chunks.append((start, c))
            start, running = c, np.zeros_like(running)
        running += col
    chunks.append((start, contrib.shape[1]))
    return chunks


@register_int("Conv")
def conv(ictx: IntContext) -> Kernel:
    x_enc, out_enc = ictx.act(0), ictx.out(0)
    w_q, w_enc = ictx.weight(1)
    if isinstance(w_enc, ChannelEncoding) and w_enc.axis != 0:
        raise NotInteger("per-channel Conv weights must be encoded along axis 0")
    group = int(ictx.attr("group", 1))
    m = w_q.shape[0]
    wc = centered_param(w_q, w_enc)
    acc_delta = x_enc.delta * channel_deltas(w_enc, m)
    bias = np.zeros(m, dtype=np.int64)
    if ictx.has_input(2):
        bias = bias_to_accumulator(*ictx.weight(2), acc_delta, ictx.rounding)
    x_reach = reach(x_enc)
    contrib = np.abs(wc).reshape(m, w_q.shape[1], -1).sum(axis=2)  # (M, C/g)
    rows = contrib.sum(axis=1) * x_reach
    bound = float((rows + np.abs(bias)).max())
    _check_bound(bound)
    spatial = (1,) * (w_q.ndim - 2)
    requant = Requantizer.build(
        (acc_delta / out_enc.delta).reshape(m, *spatial),
        zero_point(out_enc),
        out_enc.qmin,
        out_enc.qmax,
        acc_bound=bound,
        rounding=tflite_half_up(ictx.rounding),
    )

    arithmetic = accumulator_arithmetic(bound)
    zp = zero_point(x_enc)
    if arithmetic == "float32":
        impl = _float_conv(ictx, wc.astype(np.float32), bias.astype(np.float32))
        fused = compiled_conv(ictx, wc, bias, requant, x_enc, lambda x: (impl(x),))
        if fused is not None:
            return fused

        def run_f32(q: np.ndarray, *_: np.ndarray) -> tuple[np.ndarray, ...]:
            return (requant(impl.centered(q, zp)),)

        return run_f32

    # Input-channel chunks: float32 ones summed in float64, or float64 ones in int64.
    part_dtype, sum_dtype, limit = np.float32, np.float64, F32_EXACT
    if arithmetic == "int64":
        part_dtype, sum_dtype, limit = np.float64, np.int64, F64_EXACT
    chunks = _channel_chunks(contrib, (limit - 1) / max(x_reach, 1)) if group == 1 else None
    if chunks is None:
        if arithmetic == "int64":
            raise NotInteger("a grouped convolution whose accumulator could pass 2**53")
        impl64 = _float_conv(ictx, wc.astype(np.float64), bias.astype(np.float64))

        def run_f64(q: np.ndarray, *_: np.ndarray) -> tuple[np.ndarray, ...]:
            return (requant(impl64.centered(q, zp, np.float64)),)

        return run_f64

    parts = [
        (c0, c1, _float_conv(ictx, np.ascontiguousarray(wc[:, c0:c1], dtype=part_dtype), None))
        for c0, c1 in chunks
    ]
    bias_acc = bias.astype(sum_dtype).reshape(m, *spatial)

    def run_chunked(q: np.ndarray, *_: np.ndarray) -> tuple[np.ndarray, ...]:
        x = centered(q, x_enc, part_dtype)
        acc = None
        for c0, c1, k in parts:
            part = k(x[:, c0:c1])
            if acc is None:
                acc = part.astype(sum_dtype)
            elif sum_dtype is np.int64:
                acc += part.astype(np.int64)
            else:
                acc += part
        acc += bias_acc
        return (requant(acc),)

    return run_chunked


@register_int("ConvTranspose")
def conv_transpose(ictx: IntContext) -> Kernel:
    x_enc, out_enc = ictx.act(0), ictx.out(0)
    w_q, w_enc = ictx.weight(1)  # (C, M/g, k...)
    if isinstance(w_enc, ChannelEncoding) and w_enc.axis != 1:
        raise NotInteger("per-channel ConvTranspose weights must be encoded along axis 1")
    group = int(ictx.attr("group", 1))
    c, mg = w_q.shape[:2]
    m = mg * group
    wc = centered_param(w_q, w_enc)
    acc_delta = x_enc.delta * np.tile(channel_deltas(w_enc, mg), group)
    bias = np.zeros(m, dtype=np.int64)
    if ictx.has_input(2):
        bias = bias_to_accumulator(*ictx.weight(2), acc_delta, ictx.rounding)
    # Each output element takes at most one product per (input channel of its group, tap).
    contrib = np.abs(wc).reshape(group, c // group, mg, -1).sum(axis=(1, 3)).reshape(m)
    bound = float((contrib * reach(x_enc) + np.abs(bias)).max())
    dtype = _product_dtype(bound)
    if dtype is np.int64:
        raise NotInteger("a transposed convolution whose accumulator could pass 2**53")
    node = ictx.node
    sub = Node(node.name, "ConvTranspose", ("x", "w", "b"), node.outputs, node.attrs)
    impl = prepare(
        OpContext(sub, {1: wc.astype(dtype), 2: bias.astype(dtype)}, opset=ictx.op.opset)
    )
    spatial = (1,) * (w_q.ndim - 2)
    requant = Requantizer.build(
        (acc_delta / out_enc.delta).reshape(m, *spatial),
        zero_point(out_enc),
        out_enc.qmin,
        out_enc.qmax,
        acc_bound=bound,
        rounding=ictx.rounding,
    )

    def run(q: np.ndarray, *_: np.ndarray) -> tuple[np.ndarray, ...]:
        return (requant(impl(centered(q, x_enc, dtype))[0]),)

    return run


# -- Gemm / MatMul -----------------------------------------------------------------------


class _Operand:
    """One side of a product: a runtime activation (centered at run time) or a constant."""

    def __init__(self, ictx: IntContext, i: int):
        self.const = ictx.const(i)
        if self.const is None:
            self.enc = ictx.act(i)
            self.reach = reach(self.enc)
        else:
            q, enc = ictx.weight(i)
            self.enc = enc
            self.centered = centered_param(q, enc)
            self.reach = int(np.abs(self.centered).max()) if q.size else 0

    def value(self, q: np.ndarray, dtype: type) -> np.ndarray:
        return centered(q, self.enc, dtype)


def _per_channel(*sides: _Operand) -> bool:
    return any(isinstance(side.enc, ChannelEncoding) for side in sides)


def _product_dtype(bound: float) -> type:
    """float32, float64 or int64: the dtype whose products and sums are exact up to ``bound``."""
    return {"float32": np.float32, "float64": np.float64, "int64": np.int64}[
        accumulator_arithmetic(bound)
    ]


@register_int("Gemm")
def gemm(ictx: IntContext) -> Kernel:
    out_enc = ictx.out(0)
    alpha = float(ictx.attr("alpha", 1.0))
    beta = float(ictx.attr("beta", 1.0))
    if alpha <= 0:
        raise NotInteger("Gemm alpha must be positive for integer execution")
    trans_a, trans_b = bool(ictx.attr("transA", 0)), bool(ictx.attr("transB", 0))
    x_enc = ictx.act(0)
    w_q, w_enc = ictx.weight(1)
    if w_q.ndim != 2:
        raise NotInteger("Gemm weight must be 2-D")
    n_axis = 0 if trans_b else 1
    if isinstance(w_enc, ChannelEncoding) and w_enc.axis != n_axis:
        raise NotInteger("per-channel Gemm weights must be encoded along the output axis")
    wc = centered_param(w_q, w_enc)
    wc = wc.T if trans_b else wc  # (K, N)
    n = wc.shape[1]
    acc_delta = alpha * x_enc.delta * channel_deltas(w_enc, n)
    bias = np.zeros(n, dtype=np.int64)
    if ictx.has_input(2) and beta != 0.0:
        c_q, c_enc = ictx.weight(2)
        if c_q.size not in (1, n) or (c_q.ndim == 2 and c_q.shape[0] != 1):
            raise NotInteger("Gemm C must be a scalar or one row")
        bias = bias_to_accumulator(c_q, c_enc, acc_delta / abs(beta), ictx.rounding)
        if beta < 0:
            bias = -bias
    bound = float((np.abs(wc).sum(axis=0) * reach(x_enc) + np.abs(bias)).max())
    dtype = _product_dtype(bound)
    w = np.ascontiguousarray(wc, dtype=dtype)
    b = bias.astype(dtype)
    requant = Requantizer.build(
        acc_delta / out_enc.delta,
        zero_point(out_enc),
        out_enc.qmin,
        out_enc.qmax,
        bound,
        rounding=tflite_half_up(ictx.rounding),
    )

    def run(q: np.ndarray, *_: np.ndarray) -> tuple[np.ndarray, ...]:
        x = centered(q.T if trans_a else q, x_enc, dtype)
        acc = np.matmul(x, w)
        acc += b
        return (requant(acc),)

    return run


@register_int("MatMul")
def matmul(ictx: IntContext) -> Kernel:
    out_enc = ictx.out(0)
    a, b = _Operand(ictx, 0), _Operand(ictx, 1)
    if a.const is not None and b.const is not None:
        raise NotInteger("MatMul of two constants")
    real = a.enc.delta * b.enc.delta if not _per_channel(a, b) else None
    if b.const is not None:
        # B (..., K, N): per channel along its last axis (the output columns).
        if b.const.ndim == 1:
            col_abs = np.abs(b.centered).sum(keepdims=True)
        else:
            col_abs = np.abs(b.centered).sum(axis=-2).reshape(-1, b.const.shape[-1]).max(axis=0)
        if isinstance(b.enc, ChannelEncoding):
            if b.const.ndim < 2 or b.enc.axis != b.const.ndim - 1:
                raise NotInteger("per-channel MatMul weights must be on the output axis of B")
            real = a.enc.delta * channel_deltas(b.enc, b.const.shape[-1])
        bound = float(col_abs.max() * a.reach)
    elif a.const is not None:
        # A (..., M, K): per channel along its rows.
        if a.const.ndim == 1:
            row_abs = np.abs(a.centered).sum(keepdims=True)
        else:
            row_abs = np.abs(a.centered).sum(axis=-1).reshape(-1, a.const.shape[-2]).max(axis=0)
        if isinstance(a.enc, ChannelEncoding):
            if a.const.ndim < 2 or a.enc.axis != a.const.ndim - 2:
                raise NotInteger("per-channel MatMul weights must be on the output axis of A")
            real = (channel_deltas(a.enc, a.const.shape[-2]) * b.enc.delta).reshape(-1, 1)
        bound = float(row_abs.max() * b.reach)
    else:
        info = ictx.op.inputs[0] if ictx.op.inputs else None
        if info is None or not info.shape:
            raise NotInteger("MatMul inner dimension unknown at plan time")
        bound = float(info.shape[-1]) * a.reach * b.reach
    dtype = _product_dtype(bound)
    real = np.asarray(real) / out_enc.delta
    requant = Requantizer.build(
        real,
        zero_point(out_enc),
        out_enc.qmin,
        out_enc.qmax,
        bound,
        rounding=tflite_half_up(ictx.rounding),
    )
    a_const = None if a.const is None else a.centered.astype(dtype)
    b_const = None if b.const is None else b.centered.astype(dtype)

    def run(qa: np.ndarray, qb: np.ndarray) -> tuple[np.ndarray, ...]:
        xa = a_const if a_const is not None else a.value(qa, dtype)
        xb = b_const if b_const is not None else b.value(qb, dtype)
        if b_const is not None and b_const.ndim == 2 and xa.ndim > 2:
            # One GEMM over every row of every batch instead of a loop of small ones.
            acc = np.matmul(xa.reshape(-1, xa.shape[-1]), xb).reshape(*xa.shape[:-1], -1)
        else:
            acc = np.matmul(xa, xb)
        return (requant(acc),)

    return run


__all__ = ["bias_to_accumulator", "conv", "conv_transpose", "gemm", "matmul"]
