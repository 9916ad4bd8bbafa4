"""Integer convolutions on the compiled kernels: accumulate, requantize, clamp in one pass.

Used by ``linear.conv`` when the plan has the compiled kernels (``workbench.engine.jit``)
and the accumulator is exact in float32 (``linear``'s bound below ``2**24``). The
numbers are ``linear``'s: the same centered integers, the same exact float32
accumulation (every partial sum is an integer float32 holds, in any order), the same
``Requantizer`` (fast float64 path or int64 formula, chosen by the same proof), only
computed row by row while the row is in cache:

* depthwise 2-D convolutions (stride 1 or 2, any kernel size, no dilation): codes are
  centered while they are copied into a padded plane, taps accumulate, each output row
  is requantized and stored as codes;
* pointwise (1x1, no padding, one group): codes centered in one pass, GEMM blocks on
  the engine's pool, each block requantized as soon as it is computed;
* any other convolution: the float kernel's accumulator, requantized in one pass.

A lookup table from a fused chain (``IntegerPlan``: Relu, Clip, HardSwish... after the
Conv, tabulated over every code) is applied to each code before it is stored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from workbench.engine.ops.conv import conv_attributes, resolve_padding
from workbench.engine.ops.registry import Kernel
from workbench.engine.quant.encoding import Encoding
from workbench.engine.quant.int_ops import IntContext, zero_point
from workbench.engine.quant.requant import Requantizer
from workbench.engine.threads import chunk_count, gemm_blocks, parallel_chunks, split_range
from workbench.vocabulary import HALF_AWAY


class _Requant:
    """A ``Requantizer``'s constants as the compiled kernels take them (one per channel)."""

    def __init__(self, rq: Requantizer, m: int, table: np.ndarray | None):
        def per_channel(a: np.ndarray, dtype: type) -> np.ndarray:
            a = np.asarray(a, dtype=dtype).reshape(-1)
            return np.ascontiguousarray(np.broadcast_to(a, (m,)) if a.size == 1 else a)

        self.real_q = per_channel(rq.real_q, np.float64)
        self.mult = per_channel(rq.multiplier, np.int64)
        self.shift = per_channel(rq.shift, np.int64)
        self.zp, self.qmin, self.qmax, self.fast = rq.zero_point, rq.qmin, rq.qmax, rq.fast
        self.has_table = table is not None
        self.table = table if table is not None else np.zeros(1, rq.dtype)
        self.dtype = table.dtype if table is not None else rq.dtype

    def args(self) -> tuple[Any, ...]:
        return (self.real_q, self.mult, self.shift, self.zp, self.qmin, self.qmax, self.fast,
                self.table, self.has_table)  # fmt: skip


def compiled_conv(
    ictx: IntContext,
    wc: np.ndarray,
    bias: np.ndarray,
    requant: Requantizer,
    x_enc: Encoding,
    accumulate: Kernel,
) -> Kernel | None:
    """The compiled integer Conv kernel, or None without compiled kernels.

    ``wc`` are the centered integer weights, ``bias`` the accumulator-scale bias (int64
    per channel), ``accumulate`` the float32 kernel of ``linear`` over centered codes.
    """
    jit = ictx.op.jit
    if jit is None or wc.ndim != 4:
        return None
    if not requant.fast and getattr(requant, "rounding", HALF_AWAY) != HALF_AWAY:
        return None  # the compiled int64 formula rounds ties away from zero only
    if np.any(np.asarray(getattr(requant, "nudge", 0.5)) != 0.5):
        return None  # TFLite's half-up rounding adds more than a half (requant.py)
    table = getattr(ictx.op.chain, "table", None)
    m, cg, kh, kw = wc.shape
    group = int(ictx.attr("group", 1))
    rq = _Requant(requant, m, table)
    strides, dilations, pads, auto_pad = conv_attributes(ictx, 2)
    kernel_shape = tuple(ictx.attr("kernel_shape", None) or (kh, kw))
    zp_in = zero_point(x_enc)
    bias32 = np.ascontiguousarray(bias, dtype=np.float32)
    w32 = np.ascontiguousarray(wc, dtype=np.float32)
    cache: dict[tuple[int, ...], Any] = {}

    def geometry(shape: tuple[int, ...]):
        geo = cache.get(shape)
        if geo is None:
            geo = cache[shape] = resolve_padding(
                shape, kernel_shape, strides, dilations, pads, auto_pad
            )
        return geo

    depthwise = (
        group == m and cg == 1 and group > 1 and strides[0] == strides[1] in (1, 2)
        and list(dilations) == [1, 1]
    )  # fmt: skip
    pointwise = group == 1 and (kh, kw) == (1, 1) and list(dilations) == [1, 1]

    def run(q: np.ndarray, *_: np.ndarray | None) -> tuple[np.ndarray, ...]:
        geo = geometry(q.shape[2:])
        if min(geo.begin) >= 0 and min(geo.end) >= 0 and q.dtype.kind == "u":
            if depthwise and q.shape[1] == m:
                return (_depthwise(jit, q, zp_in, w32, bias32, strides[0], geo, rq),)
            if pointwise and not any(geo.begin) and not any(geo.end):
                return (_pointwise(jit, q, zp_in, w32, bias32, strides, geo, rq),)
        acc = accumulate(_centered(jit, q, zp_in))[0]
        return (_requantize(jit, np.ascontiguousarray(acc), rq),)

    run.applies_table = True  # type: ignore[attr-defined]
    return run


def _centered(jit: Any, q: np.ndarray, zp: int) -> np.ndarray:
    """``q - zp`` as float32, one pass."""
    q = np.ascontiguousarray(q)
    n, c = q.shape[:2]
    x = np.empty(q.shape, np.float32)
    q3, x3 = q.reshape(n, c, -1), x.reshape(n, c, -1)
    length = q3.shape[2]
    parts = split_range(length, chunk_count(q.size, 16))

    def run(i: int) -> None:
        jit.center_codes(q3, zp, x3, *parts[i])

    parallel_chunks(run, len(parts))
    return x


def _requantize(jit: Any, acc: np.ndarray, rq: _Requant) -> np.ndarray:
    n, m = acc.shape[:2]
    out = np.empty(acc.shape, rq.dtype)
    a3, o3 = acc.reshape(n, m, -1), out.reshape(n, m, -1)
    tasks = gemm_blocks(n, m, a3.shape[2], acc.size * 4)
    args = rq.args()
    zeros = np.zeros(m, a3.dtype)  # the accumulator holds the bias already

    def run(i: int) -> None:
        img, r0, r1, j0, j1 = tasks[i]
        jit.requantize(a3, zeros, *args, o3, img, img + 1, r0, r1, j0, j1)

    parallel_chunks(run, len(tasks))
    return out


def _depthwise(jit, q, zp_in, w32, bias32, stride, geo, rq: _Requant) -> np.ndarray:
    q = np.ascontiguousarray(q)
    n, m = q.shape[:2]
    out = np.empty((n, m, *geo.out), rq.dtype)
    planes = n * m
    chunks = split_range(planes, chunk_count(out.size * w32.shape[2] * w32.shape[3], planes))
    w3 = w32.reshape(m, w32.shape[2], w32.shape[3])
    ph, pw = geo.begin
    args = rq.args()

    def run(i: int) -> None:
        jit.depthwise_int(q, zp_in, w3, bias32, stride, ph, pw, *args, out, *chunks[i])

    parallel_chunks(run, len(chunks))
    return out


def _pointwise(jit, q, zp_in, w32, bias32, strides, geo, rq: _Requant) -> np.ndarray:
    n, c = q.shape[:2]
    m = w32.shape[0]
    picked = tuple(slice(0, s * (o - 1) + 1, s) for s, o in zip(strides, geo.out, strict=True))
    x = _centered(jit, q[(slice(None), slice(None), *picked)], zp_in)
    length = math.prod(geo.out)
    x3 = x.reshape(n, c, length)
    w2 = w32.reshape(m, c)
    acc = np.empty((n, m, length), np.float32)
    out = np.empty((n, m, *geo.out), rq.dtype)
    o3 = out.reshape(n, m, length)
    tasks = gemm_blocks(n, m, length, m * c * length)
    args = rq.args()

    def run(i: int) -> None:
        img, r0, r1, j0, j1 = tasks[i]
        np.matmul(w2[r0:r1], x3[img, :, j0:j1], out=acc[img, r0:r1, j0:j1])
        jit.requantize(acc, bias32, *args, o3, img, img + 1, r0, r1, j0, j1)

    parallel_chunks(run, len(tasks))
    return out
