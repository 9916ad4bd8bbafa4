"""Index arithmetic: GatherND, ScatterND, ScatterElements (and its opset-9 name Scatter),
OneHot, CumSum and Trilu.

The N-d index forms work on a flattened view: the indexed leading axes of ``data``
become one axis, an index tuple becomes one linear offset (a dot product with the
axis strides), and the gather or scatter is a single fancy-indexing or ``ufunc.at``
call. Negative indices count from the end of their axis, as ONNX allows; an index
out of range raises, as ONNX Runtime refuses it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register

# ScatterND / ScatterElements ``reduction`` attribute -> the ufunc that combines.
_REDUCTIONS: dict[str, Callable[..., np.ndarray] | None] = {
    "none": None,
    "add": np.add,
    "mul": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
}


def _reduction(ctx: OpContext) -> Callable[..., np.ndarray] | None:
    name = ctx.attr("reduction", "none")
    if name not in _REDUCTIONS:
        raise ctx.fail(f"unknown reduction {name!r}")
    return _REDUCTIONS[name]


def _wrapped(indices: np.ndarray, dims: np.ndarray | int) -> np.ndarray:
    """``indices`` as intp with negative values counted from the end; raises when out of range."""
    idx = indices.astype(np.intp, copy=True)
    idx[idx < 0] += np.broadcast_to(dims, idx.shape)[idx < 0]
    if idx.size and (np.any(idx < 0) or np.any(idx >= dims)):
        raise IndexError("index out of range")
    return idx


def _linear_offsets(index_tuples: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
    """Row-major offsets of ``index_tuples[..., k]`` into an array of shape ``dims``."""
    if not dims:
        return np.zeros(index_tuples.shape[:-1], np.intp)
    idx = _wrapped(index_tuples, np.asarray(dims, np.intp))
    strides = np.cumprod((*dims[1:], 1)[::-1])[::-1].astype(np.intp)
    return idx @ strides


@register("GatherND")
def gather_nd(ctx: OpContext) -> Kernel:
    batch_dims = int(ctx.attr("batch_dims", 0))

    def kernel(data: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        k = indices.shape[-1]
        batch = data.shape[:batch_dims]
        n_batch = math.prod(batch)
        inner = data.shape[batch_dims : batch_dims + k]
        rest = data.shape[batch_dims + k :]
        offsets = _linear_offsets(indices.reshape(n_batch, -1, k), inner)
        offsets += (np.arange(n_batch, dtype=np.intp) * math.prod(inner))[:, None]
        flat = data.reshape(n_batch * math.prod(inner), *rest)
        return (flat[offsets].reshape(indices.shape[:-1] + rest),)

    return kernel


@register("ScatterND")
def scatter_nd(ctx: OpContext) -> Kernel:
    combine = _reduction(ctx)

    def kernel(
        data: np.ndarray, indices: np.ndarray, updates: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        k = indices.shape[-1]
        lead, rest = data.shape[:k], data.shape[k:]
        out = data.copy()
        flat = out.reshape(math.prod(lead), *rest)  # a view of the fresh copy
        offsets = _linear_offsets(indices.reshape(-1, k), lead)
        values = updates.reshape(-1, *rest).astype(data.dtype, copy=False)
        if combine is None:
            flat[offsets] = values  # duplicates: the last update wins (ONNX leaves it open)
        else:
            combine.at(flat, offsets, values)
        return (out,)

    return kernel


@register("ScatterElements", "Scatter")
def scatter_elements(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", 0))
    combine = _reduction(ctx)

    def kernel(
        data: np.ndarray, indices: np.ndarray, updates: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        a = axis % data.ndim
        idx = _wrapped(indices, data.shape[a])
        out = data.copy()
        values = updates.astype(data.dtype, copy=False)
        # Not put_along_axis: ONNX indices may be shorter than data on every axis.
        key = list(np.indices(idx.shape, sparse=True))
        key[a] = idx
        if combine is None:
            out[tuple(key)] = values
        else:
            combine.at(out, tuple(key), values)
        return (out,)

    return kernel


@register("OneHot")
def one_hot(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", -1))

    def kernel(
        indices: np.ndarray, depth: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        d = int(np.asarray(depth).reshape(-1)[0])
        a = axis % (indices.ndim + 1)
        idx = indices.astype(np.int64)
        idx = np.where(idx < 0, idx + d, idx)  # out-of-range indices match no class
        classes = np.arange(d).reshape((d,) + (1,) * (indices.ndim - a))
        hot = np.expand_dims(idx, a) == classes
        off, on = values.reshape(-1)[:2]
        return (np.where(hot, on, off).astype(values.dtype, copy=False),)

    return kernel


@register("CumSum")
def cum_sum(ctx: OpContext) -> Kernel:
    exclusive = bool(ctx.attr("exclusive", 0))
    reverse = bool(ctx.attr("reverse", 0))

    def kernel(x: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, ...]:
        a = int(np.asarray(axis).reshape(-1)[0]) % x.ndim
        y = np.flip(x, a) if reverse else x
        # numpy's cumsum adds sequentially in the input's dtype, as ORT does.
        total = np.cumsum(y, axis=a, dtype=x.dtype)
        if exclusive:
            shifted = np.zeros_like(total)
            head = [slice(None)] * x.ndim
            tail = [slice(None)] * x.ndim
            head[a], tail[a] = slice(1, None), slice(None, -1)
            shifted[tuple(head)] = total[tuple(tail)]
            total = shifted
        return (np.flip(total, a) if reverse else total,)

    return kernel


@register("Trilu")
def trilu(ctx: OpContext) -> Kernel:
    upper = bool(ctx.attr("upper", 1))
    band = np.triu if upper else np.tril

    def kernel(x: np.ndarray, k: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        diagonal = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
        return (band(x, diagonal),)

    return kernel
