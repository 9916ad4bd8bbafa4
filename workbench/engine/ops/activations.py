"""Activations and the softmax family.

Attributes become Python floats at plan time: numpy treats Python scalars as
"weak", so ``x * alpha`` keeps the tensor's float32 (or float16) dtype. Kernels
work in place on their own temporaries to keep the number of passes low, and
clamp exponent arguments instead of letting ``exp`` overflow.

Speed notes (numpy 2 on AVX2): the clip ufunc runs a SIMD loop while
``np.maximum(x, scalar)`` does not (about 3x slower), so float kernels clamp with
``ndarray.clip`` (the method skips ``np.clip``'s wrapper, ~2 us) and ±inf, except
for tiny Relu inputs; ``expm1``/``log1p`` have no float32 SIMD loop (about 8x slower
than ``exp``/``log``), so the ELU family uses ``exp(x) - 1`` like ORT does.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register
from workbench.engine.ops.shape import select

_F32 = np.float32
_INF = float("inf")
# ufuncs return numpy scalars for 0-d operands; temporaries updated in place with
# ``out=`` and kernel results must be arrays (asarray of an array is the array itself).
_array = np.asarray


_SMALL = 4096  # elements: below this, per-call overhead outweighs clip's faster loop


def _positive_part(x: np.ndarray) -> np.ndarray:
    """max(x, 0), on the fast path for floats."""
    if x.dtype.kind == "f" and x.size >= _SMALL:
        return _array(x.clip(0.0, _INF))
    return _array(np.maximum(x, 0))


def _negative_part(x: np.ndarray) -> np.ndarray:
    """min(x, 0) for a float tensor."""
    return _array(x.clip(-_INF, 0.0))


def _exp_limit(dtype: np.dtype) -> float:
    """The largest argument whose exp is finite in ``dtype``."""
    return _EXP_LIMITS.get(dtype.type, 88.0)


_EXP_LIMITS = {np.float16: 11.0, np.float32: 88.0, np.float64: 709.0}


@register("Relu")
def relu(ctx: OpContext) -> Kernel:
    return lambda x: (_positive_part(x),)


@register("LeakyRelu")
def leaky_relu(ctx: OpContext) -> Kernel:
    alpha = float(ctx.attr("alpha", 0.01))
    if 0.0 <= alpha <= 1.0:
        # max(x, alpha * x) is the same function for 0 <= alpha <= 1, without a select.
        def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
            y = _array(np.multiply(x, alpha))
            return (np.maximum(x, y, out=y),)

        return kernel
    return lambda x: (_scaled_negative_part(x, alpha),)


def _scaled_negative_part(x: np.ndarray, slope: float | np.ndarray) -> np.ndarray:
    """where(x < 0, x * slope, x) as min(x, 0) * slope + max(x, 0): no select."""
    y = _negative_part(x)
    y *= slope
    y += _positive_part(x)
    return y


@register("PRelu")
def prelu(ctx: OpContext) -> Kernel:
    def kernel(x: np.ndarray, slope: np.ndarray) -> tuple[np.ndarray, ...]:
        if x.dtype.kind != "f":
            return (np.where(x < 0, x * slope, x),)
        return (_scaled_negative_part(x, slope.astype(x.dtype, copy=False)),)

    return kernel


def _scalar(value: np.ndarray | None) -> float | int | None:
    return None if value is None else value.reshape(()).item()


@register("Clip")
def clip(ctx: OpContext) -> Kernel:
    if ctx.opset < 11:
        lo: float | int | None = float(ctx.attr("min", -np.inf))
        hi: float | int | None = float(ctx.attr("max", np.inf))
        return _clip_kernel(lo, hi)
    dynamic = [i for i in (1, 2) if ctx.has_input(i) and ctx.const(i) is None]
    if not dynamic:
        lo = _scalar(ctx.const(1)) if ctx.has_input(1) else None
        hi = _scalar(ctx.const(2)) if ctx.has_input(2) else None
        return _clip_kernel(lo, hi)

    def kernel(
        x: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        return _clip_kernel(_scalar(lo), _scalar(hi))(x)

    return kernel


def _clip_kernel(lo: float | int | None, hi: float | int | None) -> Kernel:
    if lo is None and hi is None:
        return lambda x, *_: (x,)

    def kernel(x: np.ndarray, *_: np.ndarray | None) -> tuple[np.ndarray, ...]:
        if x.dtype.kind == "f":
            a = -_INF if lo is None else lo
            b = _INF if hi is None else hi
            if a <= b:
                return (_array(x.clip(a, b)),)
        # min(max(x, lo), hi): when lo > hi every value becomes hi, as ONNX specifies.
        y = x if lo is None else np.maximum(x, lo)
        return (_array(y if hi is None else np.minimum(y, hi)),)

    return kernel


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-x)); clamping keeps exp finite (sigmoid(-88) already underflows).
    y = _array(x.clip(-_exp_limit(x.dtype), _INF))
    np.negative(y, out=y)
    np.exp(y, out=y)
    y += 1.0
    return np.reciprocal(y, out=y)


@register("Sigmoid")
def sigmoid(ctx: OpContext) -> Kernel:
    return lambda x: (_sigmoid(x),)


@register("HardSigmoid")
def hard_sigmoid(ctx: OpContext) -> Kernel:
    alpha = float(ctx.attr("alpha", 0.2))
    beta = float(ctx.attr("beta", 0.5))

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = _array(np.multiply(x, alpha))
        y += beta
        return (y.clip(0.0, 1.0, out=y),)

    return kernel


@register("HardSwish")
def hard_swish(ctx: OpContext) -> Kernel:
    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = _array(np.multiply(x, 1.0 / 6.0))
        y += 0.5
        y.clip(0.0, 1.0, out=y)
        return (np.multiply(y, x, out=y),)

    return kernel


@register("Tanh")
def tanh(ctx: OpContext) -> Kernel:
    return lambda x: (_array(np.tanh(x)),)


# erf as in njuffa's faithfully rounded erff (the algorithm ONNX Runtime's MLAS uses):
# an odd polynomial below the split, 1 - exp(-poly) above it, saturated past 3.925.
_ERF_SPLIT = 0.921875
_ERF_SATURATION = 3.925
_ERF_SMALL = tuple(
    _F32(c)
    for c in (
        -5.99104969e-4,
        4.99339588e-3,
        -2.67667342e-2,
        1.12818025e-1,
        -3.76124859e-1,
        1.28379151e-1,
    )
)
# Negated, so the polynomial comes out as the exponent -(t + t * p(t)) directly.
_ERF_BIG_NEGATED = tuple(
    -_F32(c)
    for c in (
        1.72948930e-5,
        -3.83208680e-4,
        3.88393435e-3,
        -2.42545605e-2,
        1.06777847e-1,
        6.34846687e-1,
        1.28717512e-1,
    )
)
_SIGN_BIT = np.uint32(0x80000000)


def _horner(
    t: np.ndarray, coefficients: tuple[np.float32, ...], out: np.ndarray | None = None
) -> np.ndarray:
    r = _array(np.multiply(t, coefficients[0], out=out))
    r += coefficients[1]
    for c in coefficients[2:]:
        r *= t
        r += c
    return r


def _erf_tail(t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """exp(-(t + t * p(t))), i.e. 1 - erf(t) for split <= t <= saturation."""
    r = _horner(t, _ERF_BIG_NEGATED, out)
    r *= t
    r -= t
    return np.exp(r, out=r)


_ERF_TAIL_AT_SPLIT = _erf_tail(np.array([_ERF_SPLIT], _F32))[0]


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorized float32 erf, accurate to about one ulp (no scipy).

    Both branches run on the whole tensor with clamped arguments and are added, which
    is several times faster than masking: below the split the tail term is exactly 0;
    above it the small branch is the constant erf(split) that the tail term completes.
    Three buffers are reused throughout (large fresh allocations cost page faults).
    """
    dtype = x.dtype
    x = _array(x.astype(_F32, copy=False))
    xs = _array(x.clip(-_ERF_SPLIT, _ERF_SPLIT))
    work = _array(np.square(xs))
    small = _horner(work, _ERF_SMALL)
    small *= xs
    small += xs
    t = np.abs(x, out=work)
    t.clip(_ERF_SPLIT, _ERF_SATURATION, out=t)
    tail = _erf_tail(t, out=xs)
    # (1 - tail) - (1 - tail(split)), exact by Sterbenz' lemma, given the sign of x.
    np.subtract(_ERF_TAIL_AT_SPLIT, tail, out=tail)
    sign = np.bitwise_and(x.view(np.uint32), _SIGN_BIT, out=t.view(np.uint32))
    np.bitwise_or(tail.view(np.uint32), sign, out=tail.view(np.uint32))
    small += tail
    return small.astype(dtype, copy=False)


@register("Erf")
def erf_op(ctx: OpContext) -> Kernel:
    return lambda x: (erf(x),)


@register("Gelu")
def gelu(ctx: OpContext) -> Kernel:
    approximate = ctx.attr("approximate", "none")
    if approximate == "tanh":
        c = float(np.sqrt(2.0 / np.pi))

        def tanh_kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
            y = _array(np.square(x))
            y *= 0.044715 * c
            y += c
            y *= x
            np.tanh(y, out=y)
            y += 1.0
            y *= x
            return (np.multiply(y, 0.5, out=y),)

        return tanh_kernel
    if approximate != "none":
        raise ctx.fail(f"unknown approximate={approximate!r}")
    inv_sqrt2 = float(1.0 / np.sqrt(2.0))

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = erf(np.multiply(x, inv_sqrt2))
        y += 1.0
        y *= x
        return (np.multiply(y, 0.5, out=y),)

    return kernel


def _elu_negative_branch(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """exp(min(x, 0) * scale) - 1: the negative branch of the ELU family, no overflow."""
    y = _negative_part(x)
    if scale != 1.0:
        y *= scale
    np.exp(y, out=y)
    y -= 1.0
    return y


@register("Elu")
def elu(ctx: OpContext) -> Kernel:
    alpha = float(ctx.attr("alpha", 1.0))

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = _elu_negative_branch(x)
        y *= alpha
        return (np.add(y, _positive_part(x), out=y),)

    return kernel


@register("Celu")
def celu(ctx: OpContext) -> Kernel:
    alpha = float(ctx.attr("alpha", 1.0))

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = _elu_negative_branch(x, 1.0 / alpha)
        y *= alpha
        return (np.add(y, _positive_part(x), out=y),)

    return kernel


@register("Selu")
def selu(ctx: OpContext) -> Kernel:
    alpha = float(ctx.attr("alpha", 1.67326319217681884765625))
    gamma = float(ctx.attr("gamma", 1.05070102214813232421875))

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = _elu_negative_branch(x)
        y *= alpha
        y += _positive_part(x)
        return (np.multiply(y, gamma, out=y),)

    return kernel


def _softplus(x: np.ndarray) -> np.ndarray:
    # log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)), finite for every x.
    y = _array(np.abs(x))
    np.negative(y, out=y)
    np.exp(y, out=y)
    y += 1.0
    np.log(y, out=y)
    y += _positive_part(x)
    return y


@register("Softplus")
def softplus(ctx: OpContext) -> Kernel:
    return lambda x: (_softplus(x),)


@register("Softsign")
def softsign(ctx: OpContext) -> Kernel:
    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = _array(np.abs(x))
        y += 1.0
        return (np.divide(x, y, out=y),)

    return kernel


@register("Mish")
def mish(ctx: OpContext) -> Kernel:
    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        y = _softplus(x)
        np.tanh(y, out=y)
        return (np.multiply(y, x, out=y),)

    return kernel


@register("ThresholdedRelu")
def thresholded_relu(ctx: OpContext) -> Kernel:
    alpha = float(ctx.attr("alpha", 1.0))

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        return (select(x > alpha, x, np.zeros((), x.dtype)),)

    return kernel


def _softmax_axes(ctx: OpContext) -> tuple[int, bool]:
    """The reduction axis, and whether it is the pre-13 "flatten from axis" form."""
    if ctx.opset < 13:
        return int(ctx.attr("axis", 1)), True
    return int(ctx.attr("axis", -1)), False


def _coerced(axis: int, ndim: int, flatten: bool) -> int | tuple[int, ...]:
    # Before opset 13 the input is viewed as 2-D [prod(dims[:axis]), prod(dims[axis:])];
    # reducing over every axis from `axis` on is the same thing without a reshape.
    if not flatten:
        return axis
    return tuple(range(axis % ndim if ndim else 0, ndim))


@register("Softmax")
def softmax(ctx: OpContext) -> Kernel:
    axis, flatten = _softmax_axes(ctx)

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        ax = _coerced(axis, x.ndim, flatten)
        y = _array(np.subtract(x, x.max(axis=ax, keepdims=True)))
        np.exp(y, out=y)
        y /= y.sum(axis=ax, keepdims=True)
        return (y,)

    return kernel


@register("LogSoftmax")
def log_softmax(ctx: OpContext) -> Kernel:
    axis, flatten = _softmax_axes(ctx)

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        ax = _coerced(axis, x.ndim, flatten)
        shifted = _array(np.subtract(x, x.max(axis=ax, keepdims=True)))
        e = np.exp(shifted)
        shifted -= np.log(e.sum(axis=ax, keepdims=True))
        return (shifted,)

    return kernel


@register("Hardmax")
def hardmax(ctx: OpContext) -> Kernel:
    axis, flatten = _softmax_axes(ctx)

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        if flatten:
            ax = axis % x.ndim
            flat = x.reshape(math.prod(x.shape[:ax]), math.prod(x.shape[ax:]))
            y = np.zeros(flat.shape, x.dtype)
            np.put_along_axis(y, flat.argmax(axis=1)[:, None], 1, axis=1)
            return (y.reshape(x.shape),)
        y = np.zeros_like(x)
        np.put_along_axis(y, x.argmax(axis=axis, keepdims=True), 1, axis=axis)
        return (y,)

    return kernel
