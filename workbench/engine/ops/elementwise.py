"""Elementwise arithmetic, math and logic: numpy ufuncs with ONNX Runtime's dtype rules.

numpy broadcasting is ONNX multidirectional broadcasting, so binary and variadic
ops are plain ufunc calls; the work here is in the places where numpy and ORT
disagree (integer Div truncates, integer Pow goes through double).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register

Ufunc = Callable[..., np.ndarray]

# ufuncs return numpy scalars for 0-d operands (shape arithmetic is full of them);
# kernels promise arrays, and asarray of an array is the array itself.
_array = np.asarray


def _unary(fn: Ufunc) -> Callable[[OpContext], Kernel]:
    def prepare(ctx: OpContext) -> Kernel:
        return lambda x: (_array(fn(x)),)

    return prepare


def _binary(fn: Ufunc) -> Callable[[OpContext], Kernel]:
    def prepare(ctx: OpContext) -> Kernel:
        return lambda a, b: (_array(fn(a, b)),)

    return prepare


def _variadic(fn: Ufunc) -> Callable[[OpContext], Kernel]:
    def prepare(ctx: OpContext) -> Kernel:
        def kernel(*xs: np.ndarray) -> tuple[np.ndarray, ...]:
            result = xs[0]
            for x in xs[1:]:
                result = fn(result, x)
            return (_array(result),)

        return kernel

    return prepare


_UNARY: dict[str, Ufunc] = {
    "Sqrt": np.sqrt,
    "Reciprocal": np.reciprocal,
    "Exp": np.exp,
    "Log": np.log,
    "Neg": np.negative,
    "Abs": np.absolute,
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Round": np.rint,  # half to even, like ONNX
    "Sign": np.sign,
    "Sin": np.sin,
    "Cos": np.cos,
    "Not": np.logical_not,
}
_BINARY: dict[str, Ufunc] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "And": np.logical_and,
    "Or": np.logical_or,
    "Xor": np.logical_xor,
}
_VARIADIC: dict[str, Ufunc] = {
    "Max": np.maximum,  # propagates NaN, like ORT
    "Min": np.minimum,
    "Sum": np.add,
}

for _op, _fn in _UNARY.items():
    register(_op)(_unary(_fn))
for _op, _fn in _BINARY.items():
    register(_op)(_binary(_fn))
for _op, _fn in _VARIADIC.items():
    register(_op)(_variadic(_fn))


@register("Mean")
def mean(ctx: OpContext) -> Kernel:
    add = _variadic(np.add)(ctx)
    n = len([i for i in ctx.node.inputs if i])

    def kernel(*xs: np.ndarray) -> tuple[np.ndarray, ...]:
        (total,) = add(*xs)
        return (_array(total / n),)

    return kernel


def _truncating_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # C integer division rounds toward zero; a - fmod(a, b) is an exact multiple of b.
    return np.floor_divide(a - np.fmod(a, b), b)


@register("Div")
def div(ctx: OpContext) -> Kernel:
    def kernel(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        if a.dtype.kind == "i":
            return (_array(_truncating_divide(a, b)),)
        if a.dtype.kind == "u":
            return (_array(np.floor_divide(a, b)),)
        return (_array(np.divide(a, b)),)

    return kernel


@register("Mod")
def mod(ctx: OpContext) -> Kernel:
    # fmod=1: C fmod (sign of the dividend); fmod=0: sign of the divisor (Python's %).
    fn = np.fmod if ctx.attr("fmod", 0) else np.remainder
    return lambda a, b: (_array(fn(a, b)),)


def _integer_power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # ORT computes std::pow in double and casts back, so 2 ** -1 == 0 and 3 ** 2.5 == 15.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.power(x.astype(np.float64), y.astype(np.float64)).astype(x.dtype)


@register("Pow")
def pow_(ctx: OpContext) -> Kernel:
    def kernel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        if x.dtype.kind == "f":
            return (_array(np.power(x, y.astype(x.dtype, copy=False))),)
        return (_array(_integer_power(x, y)),)

    exponent = ctx.const(1)
    if exponent is not None and exponent.size == 1 and float(exponent.reshape(())) == 2.0:
        # The hot case (variance, squared error): one multiply instead of pow.
        def square(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
            if x.dtype.kind == "f" and x.ndim >= y.ndim:
                return (_array(np.square(x)),)
            return kernel(x, y)

        return square
    return kernel
