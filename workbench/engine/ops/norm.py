"""Normalizations: BatchNormalization (inference), LayerNormalization,
InstanceNormalization and LRN.

BatchNormalization with constant statistics folds into one multiply-add per
element: ``y = x * a + b`` with ``a = scale / sqrt(var + eps)``, ``b = bias - mean * a``
computed once in float64.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register


def _channel_shape(x_ndim: int, param: np.ndarray) -> tuple[int, ...]:
    # Per-channel vectors broadcast over axis 1; the pre-opset-9 ``spatial=0`` form
    # has parameters shaped like one sample (C, D1, ...).
    if param.ndim <= 1:
        return (1, param.size) + (1,) * (x_ndim - 2)
    return (1, *param.shape)


def _fold_batch_norm(
    scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    a = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    b = bias.astype(np.float64) - mean.astype(np.float64) * a
    return a, b


@register("BatchNormalization")
def batch_norm(ctx: OpContext) -> Kernel:
    eps = float(ctx.attr("epsilon", 1e-5))
    params = [ctx.const(i) for i in range(1, 5)]

    def affine(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray]:
        shape = _channel_shape(x.ndim, a)
        y = np.multiply(x, a.reshape(shape).astype(x.dtype, copy=False))
        np.add(y, b.reshape(shape).astype(x.dtype, copy=False), out=y)
        return (y,)

    if all(p is not None for p in params):
        a, b = _fold_batch_norm(*params, eps)
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
        return lambda x, *_: affine(x, a32, b32)

    def run(x: np.ndarray, scale, bias, mean, var, *_):
        return affine(x, *_fold_batch_norm(scale, bias, mean, var, eps))

    return run


@register("LayerNormalization")
def layer_norm(ctx: OpContext) -> Kernel:
    eps = float(ctx.attr("epsilon", 1e-5))
    axis_attr = int(ctx.attr("axis", -1))
    outputs = ctx.node.outputs
    want_stats = len(outputs) > 1 and any(outputs[1:])
    averagers: dict[tuple[int, np.dtype], np.ndarray] = {}

    def run(x: np.ndarray, scale: np.ndarray, bias: np.ndarray | None = None):
        axis = axis_attr % x.ndim
        lead = x.shape[:axis]
        n = math.prod(x.shape[axis:])
        rows = x.reshape(-1, n)
        # Row means as one GEMV and variances as row dot products: no temporaries
        # beyond the centred copy, which becomes the output.
        averager = averagers.get((n, x.dtype))
        if averager is None:
            averager = averagers[(n, x.dtype)] = np.full(n, 1.0 / n, dtype=x.dtype)
        mean = np.matmul(rows, averager)
        d = np.subtract(rows, mean[:, None])
        var = np.einsum("ij,ij->i", d, d)
        var *= x.dtype.type(1.0 / n)
        var += x.dtype.type(eps)
        inv = np.sqrt(var, out=var)
        np.divide(x.dtype.type(1), inv, out=inv)
        np.multiply(d, inv[:, None], out=d)
        if scale.size == n and (bias is None or bias.size == n):
            np.multiply(d, scale.reshape(n), out=d)
            if bias is not None:
                np.add(d, bias.reshape(n), out=d)
            y = d.reshape(x.shape)
        else:
            y = d.reshape(x.shape) * scale
            if bias is not None:
                y += bias
        if want_stats:
            stats_shape = lead + (1,) * (x.ndim - axis)
            return y, mean.reshape(stats_shape), inv.reshape(stats_shape)
        return (y,)

    return run


@register("InstanceNormalization")
def instance_norm(ctx: OpContext) -> Kernel:
    eps = float(ctx.attr("epsilon", 1e-5))

    def run(x: np.ndarray, scale: np.ndarray, bias: np.ndarray):
        n, c = x.shape[:2]
        flat = x.reshape(n, c, -1)
        mean = np.mean(flat, axis=-1, keepdims=True)
        d = np.subtract(flat, mean)
        var = np.mean(np.square(d), axis=-1, keepdims=True)
        a = scale.reshape(1, c, 1) / np.sqrt(var + x.dtype.type(eps))
        np.multiply(d, a, out=d)
        np.add(d, bias.reshape(1, c, 1), out=d)
        return (d.reshape(x.shape),)

    return run


@register("LRN")
def lrn(ctx: OpContext) -> Kernel:
    size = int(ctx.attr("size"))
    alpha = float(ctx.attr("alpha", 1e-4))
    beta = float(ctx.attr("beta", 0.75))
    bias = float(ctx.attr("bias", 1.0))
    before = (size - 1) // 2  # the window is [c - before, c + size - 1 - before]

    def run(x: np.ndarray):
        c = x.shape[1]
        sq = np.square(x)
        padded = np.zeros((x.shape[0], c + size - 1, *x.shape[2:]), dtype=x.dtype)
        padded[:, before : before + c] = sq
        total = padded[:, 0:c].copy()
        for i in range(1, size):
            np.add(total, padded[:, i : i + c], out=total)
        np.multiply(total, x.dtype.type(alpha / size), out=total)
        np.add(total, x.dtype.type(bias), out=total)
        np.power(total, x.dtype.type(-beta), out=total)
        np.multiply(total, x, out=total)
        return (total,)

    return run
