"""Reductions (Reduce*) and ArgMax/ArgMin.

``axes`` is an attribute before opset 18 (13 for ReduceSum) and an optional input
after; both forms are accepted at any opset. An empty ``axes`` reduces everything,
unless ``noop_with_empty_axes`` asks to reduce nothing (ReduceL1 is then Abs,
ReduceSumSquare is Square, as in ORT). Integer inputs keep their
dtype (numpy would widen int32 sums to int64), and integer results of float math
(mean, L2) truncate like ORT's casts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register

Axes = tuple[int, ...] | None  # None: every axis; (): none
Reducer = Callable[[np.ndarray, Axes, bool], np.ndarray]


def _int_dtype(x: np.ndarray) -> np.dtype | None:
    """The accumulator dtype to force, so integer reductions keep the input dtype."""
    return x.dtype if x.dtype.kind in "iu" else None


def _sum(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    return np.sum(x, axis=axes, dtype=_int_dtype(x), keepdims=keepdims)


def _mean(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    if x.dtype.kind == "f":
        return np.mean(x, axis=axes, keepdims=keepdims)
    # Integer mean: an integer sum divided with C truncation, like ORT.
    total = np.sum(x, axis=axes, dtype=np.int64, keepdims=keepdims)
    count = max(x.size // max(total.size, 1), 1)
    return ((total - np.fmod(total, count)) // count).astype(x.dtype)


def _lowest(dtype: np.dtype) -> float | int | bool:
    if dtype.kind == "b":
        return False
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype: np.dtype) -> float | int | bool:
    if dtype.kind == "b":
        return True
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


def _max(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    if x.size == 0:  # the max of nothing is the lowest value, as ORT returns
        return np.max(x, axis=axes, keepdims=keepdims, initial=_lowest(x.dtype))
    return np.max(x, axis=axes, keepdims=keepdims)


def _min(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    if x.size == 0:
        return np.min(x, axis=axes, keepdims=keepdims, initial=_highest(x.dtype))
    return np.min(x, axis=axes, keepdims=keepdims)


def _prod(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    return np.prod(x, axis=axes, dtype=_int_dtype(x), keepdims=keepdims)


def _l1(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    return _sum(np.abs(x), axes, keepdims)


def _sum_square(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    return _sum(np.square(x), axes, keepdims)


def _l2(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    s = np.sqrt(_sum_square(x, axes, keepdims))
    return s if x.dtype.kind == "f" else s.astype(x.dtype)


def _log_sum_exp(x: np.ndarray, axes: Axes, keepdims: bool) -> np.ndarray:
    if x.size == 0:
        return np.log(_sum(np.exp(x), axes, keepdims))
    m = np.max(x, axis=axes, keepdims=True)
    # An all -inf (or inf) slice would give inf - inf; shift it by 0 instead.
    m[~np.isfinite(m)] = 0
    e = np.subtract(x, m)
    np.exp(e, out=e)
    s = np.log(_sum(e, axes, keepdims=True))
    s += m
    return s if keepdims else s.reshape(_reduced_shape(x.shape, axes))


def _reduced_shape(shape: tuple[int, ...], axes: Axes) -> tuple[int, ...]:
    if axes is None:
        return ()
    drop = {a % len(shape) for a in axes}
    return tuple(d for i, d in enumerate(shape) if i not in drop)


_REDUCERS: dict[str, Reducer] = {
    "ReduceSum": _sum,
    "ReduceMean": _mean,
    "ReduceMax": _max,
    "ReduceMin": _min,
    "ReduceProd": _prod,
    "ReduceL1": _l1,
    "ReduceL2": _l2,
    "ReduceSumSquare": _sum_square,
    "ReduceLogSumExp": _log_sum_exp,
}


def _reduce_prepare(reducer: Reducer) -> Callable[[OpContext], Kernel]:
    def prepare(ctx: OpContext) -> Kernel:
        keepdims = bool(ctx.attr("keepdims", 1))
        noop = bool(ctx.attr("noop_with_empty_axes", 0))

        def make(axes_value: list[int] | np.ndarray | None) -> Kernel:
            axes = tuple(int(a) for a in np.asarray(axes_value, dtype=np.int64).ravel())
            # No axes with noop_with_empty_axes reduces over nothing: still |x| for L1,
            # x * x for SumSquare (numpy's axis=() does exactly that).
            resolved = axes if axes or noop else None
            return lambda x, *_: (np.asarray(reducer(x, resolved, keepdims)),)

        if ctx.attr("axes") is not None:
            return make(ctx.attr("axes"))
        if not ctx.has_input(1):
            return make([])
        if ctx.const(1) is not None:
            return make(ctx.const(1))
        return lambda x, axes: make(axes)(x)

    return prepare


for _op, _reducer in _REDUCERS.items():
    register(_op)(_reduce_prepare(_reducer))


def _arg_prepare(fn: Callable[..., np.ndarray]) -> Callable[[OpContext], Kernel]:
    def prepare(ctx: OpContext) -> Kernel:
        axis = int(ctx.attr("axis", 0))
        keepdims = bool(ctx.attr("keepdims", 1))
        if not ctx.attr("select_last_index", 0):
            return lambda x: (np.asarray(fn(x, axis=axis, keepdims=keepdims), dtype=np.int64),)

        def last(x: np.ndarray) -> tuple[np.ndarray, ...]:
            # The first hit in the reversed axis is the last hit in the original one.
            idx = fn(np.flip(x, axis), axis=axis, keepdims=keepdims)
            return (np.asarray(x.shape[axis] - 1 - idx, dtype=np.int64),)

        return last

    return prepare


register("ArgMax")(_arg_prepare(np.argmax))
register("ArgMin")(_arg_prepare(np.argmin))
