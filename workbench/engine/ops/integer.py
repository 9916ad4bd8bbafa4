"""ONNX's integer operators of dynamically quantized models (ONNX Runtime's
``quantize_dynamic`` output): DynamicQuantizeLinear, ConvInteger, MatMulInteger and
com.microsoft.DynamicQuantizeLSTM.

The integer products are exact: codes minus zero points are at most 9 bits, their sums
stay far below 2**53, so the float64 BLAS (and the float convolution kernel run in
float64) give the int32 result ONNX defines. DynamicQuantizeLinear follows the ONNX
definition (and ONNX Runtime): the range widened to include 0, scale (max - min) / 255
in float32, zero point and codes rounded half to even. DynamicQuantizeLSTM is ONNX
Runtime's: each GEMM quantizes its float operand (all the sequence's inputs at once,
then the hidden state at every step) to uint8 the same way, multiplies the codes with
the quantized weights in integers and scales the sum by input scale x weight scale.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from workbench.engine.ops.conv import conv
from workbench.engine.ops.recurrent import Weights, cell_from, run_layer
from workbench.engine.ops.registry import CONTRIB_DOMAIN, Kernel, OpContext, register


def dynamic_quantize(x: np.ndarray) -> tuple[np.ndarray, np.float32, np.uint8]:
    """uint8 codes, scale and zero point of ``x`` (ONNX DynamicQuantizeLinear)."""
    x = np.asarray(x, dtype=np.float32)
    lo = np.float32(min(float(x.min()), 0.0)) if x.size else np.float32(0)
    hi = np.float32(max(float(x.max()), 0.0)) if x.size else np.float32(0)
    if hi == lo:  # all zeros: ONNX Runtime's scale is 1, its codes and zero point 0
        return np.zeros(x.shape, np.uint8), np.float32(1), np.uint8(0)
    scale = np.float32((hi - lo) / np.float32(255))
    zp = np.uint8(np.clip(np.rint(np.float32(0) - lo / scale), 0, 255))
    with np.errstate(invalid="ignore"):
        codes = np.clip(np.rint(x / scale) + np.float32(zp), 0, 255)
    return codes.astype(np.uint8), scale, zp


@register("DynamicQuantizeLinear")
def dynamic_quantize_linear(ctx: OpContext) -> Kernel:
    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        codes, scale, zp = dynamic_quantize(x)
        return codes, np.asarray(scale, np.float32), np.asarray(zp, np.uint8)

    return run


def _centred(codes: np.ndarray, zp: np.ndarray | None, axis_shape: tuple[int, ...] = ()):
    """Codes minus their zero point (scalar, or per index along a broadcast shape), float64."""
    out = codes.astype(np.float64)
    if zp is not None:
        z = np.asarray(zp).astype(np.float64)
        out -= z.reshape(axis_shape) if z.size > 1 and axis_shape else z.reshape(())
    return out


@register("MatMulInteger")
def matmul_integer(ctx: OpContext) -> Kernel:
    def run(
        a: np.ndarray,
        b: np.ndarray,
        a_zp: np.ndarray | None = None,
        b_zp: np.ndarray | None = None,
    ) -> tuple[np.ndarray, ...]:
        # A's zero point may be per row (M), B's per column (N).
        ac = _centred(a, a_zp, (-1, 1))
        bc = _centred(b, b_zp, (-1,))
        return (np.matmul(ac, bc).astype(np.int32),)

    return run


@register("ConvInteger")
def conv_integer(ctx: OpContext) -> Kernel:
    w_const, wzp_const = ctx.const(1), ctx.const(3) if ctx.has_input(3) else None
    # The float convolution of (x, w) without a bias, run on centred codes in float64.
    node = dataclasses.replace(ctx.node, inputs=ctx.node.inputs[:2])
    float_ctx = dataclasses.replace(ctx, node=node, consts={}, chain=None, jit=None)

    def weights(w: np.ndarray, w_zp: np.ndarray | None) -> np.ndarray:
        # W's zero point may be per output channel (axis 0).
        return _centred(w, w_zp, (-1,) + (1,) * (w.ndim - 1))

    ready = None
    if w_const is not None and (wzp_const is not None or not ctx.has_input(3)):
        ready = conv(dataclasses.replace(float_ctx, consts={1: weights(w_const, wzp_const)}))
    dynamic = conv(float_ctx)

    def run(
        x: np.ndarray,
        w: np.ndarray,
        x_zp: np.ndarray | None = None,
        w_zp: np.ndarray | None = None,
    ) -> tuple[np.ndarray, ...]:
        # Padding is the input's zero point in ONNX Runtime: 0 once it is subtracted.
        xc = _centred(x, x_zp)
        (y,) = ready(xc) if ready is not None else dynamic(xc, weights(w, w_zp))
        return (np.rint(y).astype(np.int32),)

    return run


class _DynamicGemm:
    """Quantized weights ``(K, N)`` that ``a @ self`` multiplies as ONNX Runtime's
    dynamically quantized GEMM does (``a`` to uint8 codes per call)."""

    __array_ufunc__ = None  # ``ndarray @ self`` calls ``__rmatmul__``

    def __init__(self, codes: np.ndarray, scale: np.ndarray, zp: np.ndarray):
        n = codes.shape[1]
        self.centred = _centred(codes, zp, (1, -1) if np.size(zp) > 1 else ())
        self.scale = np.broadcast_to(np.asarray(scale, np.float32).reshape(-1), (n,))

    def __rmatmul__(self, a: np.ndarray) -> np.ndarray:
        codes, a_scale, a_zp = dynamic_quantize(a)
        acc = (codes.astype(np.float64) - float(a_zp)) @ self.centred
        return (acc.astype(np.float32) * (a_scale * self.scale)).astype(a.dtype, copy=False)


@register("DynamicQuantizeLSTM", domain=CONTRIB_DOMAIN)
def dynamic_quantize_lstm(ctx: OpContext) -> Kernel:
    cell = cell_from(ctx, "LSTM")
    hs = cell.hidden

    def layer(w, r, b, p, w_scale, w_zp, r_scale, r_zp) -> list[Weights]:
        out = []
        for d in range(len(cell.directions)):
            # W (dirs, I, 4H) and R (dirs, H, 4H) are stored transposed already.
            bias = np.zeros(4 * hs, np.float32) if b is None else b[d][: 4 * hs] + b[d][4 * hs :]
            peep = None if p is None else np.asarray(p[d], np.float32).reshape(3, hs)
            out.append(
                Weights(
                    _DynamicGemm(w[d], np.asarray(w_scale)[d], np.asarray(w_zp)[d]),
                    _DynamicGemm(r[d], np.asarray(r_scale)[d], np.asarray(r_zp)[d]),
                    np.asarray(bias, np.float32),
                    None,
                    peep,
                )
            )
        return out

    def run(x, w, r, b=None, seq_lens=None, h0=None, c0=None, p=None, *quant):
        if len(quant) != 4:
            raise ctx.fail("needs W_scale, W_zero_point, R_scale and R_zero_point")
        weights = layer(w, r, b, p, *quant)
        return run_layer(cell, weights, x, seq_lens, h0, c0, len(ctx.node.outputs))

    return run
