"""Less common operators: NaN/Inf tests, group / RMS / Lp / mean-variance
normalization, ReduceLogSum, Shrink, bitwise logic, EyeLike, the inverse and
hyperbolic trigonometric functions, QuantizeLinear / DequantizeLinear (so QDQ
models run as float emulation, exactly as ONNX Runtime without QDQ fusion) and
GridSample (2-D and N-D; every mode and padding).

The normalizations compute their statistics in float32 (ONNX's default
``stash_type``), even for float16 inputs, and cast the result back.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from workbench.engine.ops.reduce import _reduce_prepare, _sum
from workbench.engine.ops.registry import Kernel, OpContext, register
from workbench.engine.ops.shape import TENSOR_DTYPES

_array = np.asarray  # ufuncs give numpy scalars for 0-d operands; kernels return arrays


def _stash(x: np.ndarray) -> np.ndarray:
    """``x`` in the precision its statistics are computed in (float32 at least)."""
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)


# -- tests on values --------------------------------------------------------------------


@register("IsNaN")
def is_nan(ctx: OpContext) -> Kernel:
    return lambda x: (_array(np.isnan(x)),)


@register("IsInf")
def is_inf(ctx: OpContext) -> Kernel:
    negative = bool(ctx.attr("detect_negative", 1))
    positive = bool(ctx.attr("detect_positive", 1))
    if negative and positive:
        return lambda x: (_array(np.isinf(x)),)
    if positive:
        return lambda x: (_array(np.isposinf(x)),)
    if negative:
        return lambda x: (_array(np.isneginf(x)),)
    return lambda x: (np.zeros(x.shape, np.bool_),)


# -- normalizations ---------------------------------------------------------------------


@register("GroupNormalization")
def group_norm(ctx: OpContext) -> Kernel:
    groups = int(ctx.attr("num_groups"))
    eps = float(ctx.attr("epsilon", 1e-5))

    def run(x: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, ...]:
        n, c = x.shape[:2]
        if c % groups:
            raise ValueError(f"{c} channels do not split into {groups} groups")
        rows = _stash(x).reshape(n * groups, -1)
        d = rows - rows.mean(axis=1, keepdims=True)
        var = np.einsum("ij,ij->i", d, d) / d.shape[1]
        d *= (1.0 / np.sqrt(var + eps)).astype(d.dtype)[:, None]
        # Opset 18 scales per group ([num_groups]); opset 21 per channel ([C]). The
        # size tells them apart (they agree when every channel is its own group).
        if scale.size == groups and groups != c:
            scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
        y = d.reshape(n, c, -1) * scale.reshape(1, c, 1) + bias.reshape(1, c, 1)
        return (y.reshape(x.shape).astype(x.dtype, copy=False),)

    return run


@register("RMSNormalization")
def rms_norm(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", -1))
    eps = float(ctx.attr("epsilon", 1e-5))

    def run(x: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, ...]:
        a = axis % x.ndim
        rows = _stash(x).reshape(math.prod(x.shape[:a]), -1)
        mean_square = np.einsum("ij,ij->i", rows, rows) / rows.shape[1]
        inv = (1.0 / np.sqrt(mean_square + eps)).astype(rows.dtype)
        y = (rows * inv[:, None]).reshape(x.shape) * scale
        return (y.astype(x.dtype, copy=False),)

    return run


@register("LpNormalization")
def lp_norm(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", -1))
    p = int(ctx.attr("p", 2))
    if p not in (1, 2):
        raise ctx.fail(f"p={p}; only 1 and 2 are defined")

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        if p == 1:
            norm = np.sum(np.abs(x), axis=axis, keepdims=True)
        else:
            norm = np.sqrt(np.sum(np.square(x), axis=axis, keepdims=True))
        # A zero vector stays zero (ORT does not divide by a zero norm).
        return (_array(np.divide(x, np.where(norm == 0, 1, norm))),)

    return run


@register("MeanVarianceNormalization")
def mean_variance_norm(ctx: OpContext) -> Kernel:
    axes = tuple(int(a) for a in ctx.attr("axes", [0, 2, 3]))

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        d = _array(x - np.mean(x, axis=axes, keepdims=True))
        std = np.sqrt(np.mean(np.square(d), axis=axes, keepdims=True))
        std += x.dtype.type(1e-9)  # ONNX adds it to the deviation, not the variance
        return (_array(np.divide(d, std, out=d)),)

    return run


def _log_sum(x: np.ndarray, axes: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    return np.log(_sum(x, axes, keepdims))


register("ReduceLogSum")(_reduce_prepare(_log_sum))


# -- elementwise ------------------------------------------------------------------------


@register("Shrink")
def shrink(ctx: OpContext) -> Kernel:
    bias = float(ctx.attr("bias", 0.0))
    lambd = float(ctx.attr("lambd", 0.5))

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        b = x.dtype.type(bias)
        y = np.where(x < -lambd, x + b, np.where(x > lambd, x - b, x.dtype.type(0)))
        return (y.astype(x.dtype, copy=False),)

    return run


def _elementwise(fn: Callable[..., np.ndarray]) -> Callable[[OpContext], Kernel]:
    def prepare(ctx: OpContext) -> Kernel:
        return lambda *xs: (_array(fn(*xs)),)

    return prepare


_ELEMENTWISE: dict[str, Callable[..., np.ndarray]] = {
    "BitwiseAnd": np.bitwise_and,
    "BitwiseOr": np.bitwise_or,
    "BitwiseXor": np.bitwise_xor,
    "BitwiseNot": np.invert,
    "Tan": np.tan,
    "Asin": np.arcsin,
    "Acos": np.arccos,
    "Atan": np.arctan,
    "Sinh": np.sinh,
    "Cosh": np.cosh,
    "Asinh": np.arcsinh,
    "Acosh": np.arccosh,
    "Atanh": np.arctanh,
}

for _op, _fn in _ELEMENTWISE.items():
    register(_op)(_elementwise(_fn))


@register("BitShift")
def bit_shift(ctx: OpContext) -> Kernel:
    direction = ctx.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise ctx.fail(f"direction must be LEFT or RIGHT, got {direction!r}")
    fn = np.left_shift if direction == "LEFT" else np.right_shift
    return lambda x, y: (_array(fn(x, y.astype(x.dtype, copy=False))),)


# -- constants from shapes --------------------------------------------------------------


@register("EyeLike")
def eye_like(ctx: OpContext) -> Kernel:
    k = int(ctx.attr("k", 0))
    to = ctx.attr("dtype")
    if to is not None and int(to) not in TENSOR_DTYPES:
        raise ctx.fail(f"dtype {to} is not supported")
    dtype = TENSOR_DTYPES[int(to)] if to is not None else None

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        rows, cols = x.shape
        return (np.eye(rows, cols, k, dtype=dtype or x.dtype),)

    return run


# -- quantize / dequantize (QDQ models) -------------------------------------------------------


def _along(param: np.ndarray, x: np.ndarray, axis: int, block: int) -> np.ndarray:
    """A scale or zero point shaped to broadcast against ``x``: per tensor (scalar),
    per ``axis`` (1-D), or per block of ``block`` elements along ``axis`` (same rank)."""
    if param.ndim == 0 or param.size == 1 and block == 0:
        return param.reshape(())
    a = axis % x.ndim
    if block:
        return np.repeat(param, block, axis=a)[_leading(a, x.shape[a])]
    return param.reshape((-1,) + (1,) * (x.ndim - a - 1))


def _leading(axis: int, n: int) -> tuple[slice, ...]:
    return (slice(None),) * axis + (slice(0, n),)


@register("DequantizeLinear")
def dequantize_linear(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", 1))
    block = int(ctx.attr("block_size", 0))
    to = ctx.attr("output_dtype", 0)
    out_dtype = TENSOR_DTYPES.get(int(to)) if to else None

    def run(
        x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        s = _along(scale, x, axis, block)
        if zero_point is None:
            diff = x.astype(np.int64) if x.dtype.kind in "iu" else x
        else:
            diff = x.astype(np.int64) - _along(zero_point, x, axis, block).astype(np.int64)
        y = diff.astype(scale.dtype) * s
        return (np.asarray(y, dtype=out_dtype or scale.dtype),)

    return run


@register("QuantizeLinear")
def quantize_linear(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", 1))
    block = int(ctx.attr("block_size", 0))
    to = ctx.attr("output_dtype", 0)
    if to and int(to) not in TENSOR_DTYPES:
        raise ctx.fail(f"output_dtype {to} is not supported")

    def run(
        x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        dtype = (
            TENSOR_DTYPES[int(to)]
            if to
            else (zero_point.dtype if zero_point is not None else np.dtype(np.uint8))
        )
        if dtype.kind not in "iu":
            raise ValueError(f"quantizing to {dtype} is not supported")
        work = np.result_type(x.dtype, np.float32)  # float16 inputs: float32 math, as ORT
        s = _along(scale, x, axis, block).astype(work)
        q = np.rint(np.divide(x.astype(work, copy=False), s))  # half to even
        if zero_point is not None:
            q += _along(zero_point, x, axis, block).astype(q.dtype)
        info = np.iinfo(dtype)
        return (np.clip(q, info.min, info.max).astype(dtype),)

    return run


# -- GridSample ---------------------------------------------------------------------------------

_GRID_MODES = {"bilinear": "linear", "linear": "linear", "bicubic": "cubic", "cubic": "cubic"}


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold coordinates outside [lo, hi] back in, mirroring at the nearer border each time."""
    span = hi - lo
    below, above = lo - x, x - hi
    n_below, n_above = np.floor(below / span), np.floor(above / span)
    r_below, r_above = below - n_below * span, above - n_above * span
    from_below = np.where(n_below % 2 == 0, lo + r_below, hi - r_below)
    from_above = np.where(n_above % 2 == 0, hi - r_above, lo + r_above)
    return np.where(x < lo, from_below, np.where(x > hi, from_above, x)).astype(x.dtype)


def _cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    """Keys' cubic convolution weights (a = -0.75) of the four taps around ``t`` in [0, 1)."""
    a = -0.75

    def near(d: np.ndarray) -> np.ndarray:  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: np.ndarray) -> np.ndarray:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


@register("GridSample")
def grid_sample(ctx: OpContext) -> Kernel:
    mode = str(ctx.attr("mode", "linear" if ctx.opset >= 20 else "bilinear"))
    mode = _GRID_MODES.get(mode, mode)
    if mode not in ("nearest", "linear", "cubic"):
        raise ctx.fail(f"unknown mode {mode!r}")
    padding = str(ctx.attr("padding_mode", "zeros"))
    if padding not in ("zeros", "border", "reflection"):
        raise ctx.fail(f"unknown padding_mode {padding!r}")
    align = bool(ctx.attr("align_corners", 0))

    def taps_along(x: np.ndarray, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(index, weight) pairs of one spatial axis; weight 0 marks a zero-padded tap."""
        lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
        if mode == "nearest":
            x = np.rint(x)
        if padding == "border" and mode != "cubic":
            # Cubic clamps each tap instead (as PyTorch and ORT do), not the coordinate.
            x = np.clip(x, 0, size - 1)
        elif padding == "reflection":
            x = _reflect(x, lo, hi)
        if mode == "nearest":
            starts, weights = np.floor(x), [np.ones_like(x)]
            offsets = [0]
        else:
            starts = np.floor(x)
            t = x - starts
            weights = [1 - t, t] if mode == "linear" else _cubic_weights(t)
            offsets = [0, 1] if mode == "linear" else [-1, 0, 1, 2]
        taps = []
        for offset, w in zip(offsets, weights, strict=True):
            i = starts + offset
            if padding == "zeros":
                w = np.where((i >= 0) & (i < size), w, 0)
            elif padding == "border":
                i = np.clip(i, 0, size - 1)
            else:
                i = np.trunc(_reflect(i, lo, hi))
            taps.append((np.clip(i, 0, size - 1).astype(np.intp), w.astype(x.dtype)))
        return taps

    def run(x: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, ...]:
        n, c, *spatial = x.shape
        out_spatial = grid.shape[1:-1]
        work = np.result_type(grid.dtype, np.float32)
        g = grid.astype(work).reshape(n, -1, len(spatial))
        axes = []
        for d, size in enumerate(spatial):
            coord = g[..., len(spatial) - 1 - d]  # the grid lists x (the last axis) first
            if align:
                coord = (coord + 1) / 2 * (size - 1)
            else:
                coord = ((coord + 1) * size - 1) / 2
            axes.append(taps_along(coord.astype(work), size))
        flat = x.reshape(n, c, -1)
        strides = np.cumprod([1, *spatial[::-1]])[:-1][::-1]
        y = np.zeros((n, c, g.shape[1]), np.result_type(x.dtype, work))
        for combo in np.ndindex(*(len(a) for a in axes)):
            index = sum(axes[d][k][0] * int(strides[d]) for d, k in enumerate(combo))
            weight = math.prod(axes[d][k][1] for d, k in enumerate(combo))
            y += np.take_along_axis(flat, index[:, None, :], axis=2) * weight[:, None, :]
        return (y.astype(x.dtype, copy=False).reshape(n, c, *out_spatial),)

    return run


@register("ImageScaler")
def image_scaler(ctx: OpContext) -> Kernel:
    # An experimental op (Tiny YOLOv2 in the model zoo): scale, then a per-channel bias.
    scale = float(ctx.attr("scale", 1.0))
    bias = np.asarray(ctx.attr("bias", []), np.float32)

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = x * x.dtype.type(scale)
        if bias.size:
            y += bias.astype(x.dtype).reshape((1, -1) + (1,) * (x.ndim - 2))
        return (y,)

    return run
