"""AveragePool and GlobalAveragePool: exact integer window sums, then one requantization.

The sum of ``q - zp`` over each window is exact (zero padding is ``q - zp = 0``, the real
zero). Its bound is ``window elements * R`` (``R = max |q - zp|``: 255 at 8 bits, 65535 at
16): int32 below ``2**31`` (every 8-bit window; a 16-bit one up to 32768 elements),
int64 beyond; a global pool always sums in int64 (``H * W * 65535`` passes ``2**31`` from
a 182 x 182 map at 16 bits). Dividing by the window's element count is folded into the multiplier,
``in_delta / (out_delta * count)``: one multiplier per output position, since border
windows count fewer elements unless ``count_include_pad``.

In a ``tflite`` container an AveragePool whose input and output share their encoding
(TFLite's AVERAGE_POOL_2D requires it) is TFLite's int8 kernel: the sum of the signed
int8 codes themselves (``code - 128``, zero point included) divided by the count of
taps inside the map, rounded half away from zero (``(s + n/2) / n`` in C's truncating
division): the sign is the raw sum's, not the real value's.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.engine.ops.conv import Padding, pad_spatial, resolve_padding
from workbench.engine.ops.registry import Kernel
from workbench.engine.quant.int_ops import IntContext, reach, register_int, zero_point
from workbench.engine.quant.requant import Requantizer
from workbench.vocabulary import TFLITE_ROUNDING


def _axis_counts(k: int, s: int, d: int, o: int, lo: int, hi: int, begin: int) -> np.ndarray:
    """Per output position along one axis, how many taps land in ``[lo, hi)``."""
    pos = np.arange(o)[:, None] * s - begin + np.arange(k)[None, :] * d
    return ((pos >= lo) & (pos < hi)).sum(axis=1)


def _window_sum(
    xp: np.ndarray, kernel: list[int], strides: list[int], dilations: list[int], geo: Padding
) -> np.ndarray:
    """Sum every window of the padded ``xp``, one spatial axis at a time."""
    y = xp
    nd = len(kernel)
    for a in range(nd):
        axis = y.ndim - nd + a
        k, s, d, o = kernel[a], strides[a], dilations[a], geo.out[a]

        def tap(t: int, y: np.ndarray = y, axis: int = axis, s: int = s, d: int = d, o: int = o):
            idx = [slice(None)] * y.ndim
            idx[axis] = slice(t * d, t * d + s * (o - 1) + 1, s)
            return y[tuple(idx)]

        acc = np.array(tap(0))
        for t in range(1, k):
            acc += tap(t)
        y = acc
    return y


@register_int("AveragePool")
def average_pool(ictx: IntContext) -> Kernel:
    enc, out = ictx.act(0), ictx.out(0)
    kernel = [int(k) for k in ictx.attr("kernel_shape")]
    nd = len(kernel)
    strides = list(ictx.attr("strides", None) or [1] * nd)
    dilations = list(ictx.attr("dilations", None) or [1] * nd)
    auto_pad = ictx.attr("auto_pad", "NOTSET") or "NOTSET"
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    pads = ictx.attr("pads", None)
    ceil_mode = bool(ictx.attr("ceil_mode", 0))
    include_pad = bool(ictx.attr("count_include_pad", 0))
    zp = zero_point(enc)
    bound = math.prod(kernel) * reach(enc)
    sum_dtype = np.int32 if bound < 2**31 else np.int64
    plans: dict[tuple[int, ...], tuple[Padding, list[int], Requantizer, np.ndarray]] = {}
    tflite_int8 = (
        ictx.rounding == TFLITE_ROUNDING
        and not include_pad
        and enc.bitwidth == out.bitwidth == 8
        and (enc.delta, enc.offset) == (out.delta, out.offset)
    )

    def plan_for(spatial: tuple[int, ...]) -> tuple[Padding, list[int], Requantizer, np.ndarray]:
        geo = resolve_padding(spatial, kernel, strides, dilations, pads, auto_pad, ceil_mode)
        counts = np.ones((), dtype=np.int64)
        for i in range(nd):
            lo, hi = (-geo.begin[i], spatial[i] + geo.end[i]) if include_pad else (0, spatial[i])
            c = _axis_counts(kernel[i], strides[i], dilations[i], geo.out[i], lo, hi, geo.begin[i])
            counts = np.multiply.outer(counts, c)
        real = enc.delta / (out.delta * np.maximum(counts, 1))
        extent = [
            (o - 1) * s + (k - 1) * d + 1
            for o, s, k, d in zip(geo.out, strides, kernel, dilations, strict=True)
        ]
        req = Requantizer.build(
            real, zero_point(out), out.qmin, out.qmax, acc_bound=bound, rounding=ictx.rounding
        )
        return geo, extent, req, np.maximum(counts, 1)

    def run(q: np.ndarray) -> tuple[np.ndarray, ...]:
        spatial = q.shape[2:]
        plan = plans.get(spatial)
        if plan is None:
            plan = plans[spatial] = plan_for(spatial)
        geo, extent, req, counts = plan
        if tflite_int8:
            return (_tflite_average(q, geo, extent, kernel, strides, dilations, counts),)
        x = q.astype(sum_dtype)
        if zp:
            x -= zp
        xp = pad_spatial(x, geo.begin, extent, 0)
        return (req(_window_sum(xp, kernel, strides, dilations, geo)),)

    return run


def _tflite_average(
    q: np.ndarray,
    geo: Padding,
    extent: list[int],
    kernel: list[int],
    strides: list[int],
    dilations: list[int],
    counts: np.ndarray,
) -> np.ndarray:
    """TFLite's int8 AveragePool on uint8 codes (module doc): same encoding in and out."""
    x = q.astype(np.int32)
    x -= 128  # the int8 codes TFLite sums
    s = _window_sum(pad_spatial(x, geo.begin, extent, 0), kernel, strides, dilations, geo)
    half = counts // 2
    y = np.where(s > 0, (s + half) // counts, -((half - s) // counts))
    y += 128
    np.clip(y, 0, 255, out=y)
    return y.astype(np.uint8)


@register_int("GlobalAveragePool")
def global_average_pool(ictx: IntContext) -> Kernel:
    enc, out = ictx.act(0), ictx.out(0)
    zp = zero_point(enc)
    requantizers: dict[int, Requantizer] = {}

    def requantizer(count: int) -> Requantizer:
        req = requantizers.get(count)
        if req is None:
            req = requantizers[count] = Requantizer.build(
                enc.delta / (out.delta * count),
                zero_point(out),
                out.qmin,
                out.qmax,
                acc_bound=count * reach(enc),
                rounding=ictx.rounding,
            )
        return req

    def run(q: np.ndarray) -> tuple[np.ndarray, ...]:
        n, c = q.shape[:2]
        count = math.prod(q.shape[2:])
        s = np.add.reduce(q.reshape(n, c, -1), axis=-1, dtype=np.int64)
        if zp:
            s -= count * zp
        y = requantizer(max(count, 1))(s)
        return (y.reshape((n, c) + (1,) * (q.ndim - 2)),)

    return run
