"""Gemm, MatMul and Einsum: each one BLAS call where the shapes allow it.

Constant operands are arranged at plan time: Gemm folds ``alpha`` into a constant
B and ``beta`` into a constant C; MatMul against a constant 2-D B flattens the
batch dimensions of A into one GEMM; Einsum computes its contraction path once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workbench.engine.ops import blas
from workbench.engine.ops.registry import Kernel, OpContext, register


@register("Gemm")
def gemm(ctx: OpContext) -> Kernel:
    alpha = float(ctx.attr("alpha", 1.0))
    beta = float(ctx.attr("beta", 1.0))
    trans_a = bool(ctx.attr("transA", 0))
    trans_b = bool(ctx.attr("transB", 0))
    b_const = ctx.const(1)
    c_const = ctx.const(2) if ctx.has_input(2) else None

    # Scaling a constant operand once changes rounding by at most one ulp per term.
    b_ready = None
    if b_const is not None:
        b_ready = b_const.T if trans_b else b_const
        if alpha != 1.0:
            b_ready = np.ascontiguousarray(b_ready * b_ready.dtype.type(alpha))
    c_ready = None
    if c_const is not None and beta != 0.0:
        c_ready = c_const if beta == 1.0 else (c_const * c_const.dtype.type(beta))

    def run(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None):
        a = a.T if trans_a else a
        if b_ready is not None:
            y = blas.matmul(a, b_ready)
        else:
            y = blas.matmul(a, b.T if trans_b else b)
            if alpha != 1.0:
                np.multiply(y, y.dtype.type(alpha), out=y)
        if c_ready is not None:
            cc = c_ready
        elif c is not None and c_const is None and beta != 0.0:
            cc = c if beta == 1.0 else c * c.dtype.type(beta)
        else:
            cc = None
        if cc is not None:
            if cc.ndim <= y.ndim and all(
                d == 1 or d == e for d, e in zip(cc.shape[::-1], y.shape[::-1], strict=False)
            ):
                np.add(y, cc, out=y)  # cc broadcasts to y's shape
            else:
                y = y + cc
        return (y,)

    return run


@register("MatMul")
def matmul(ctx: OpContext) -> Kernel:
    b_const = ctx.const(1)

    if b_const is not None and b_const.ndim == 2:
        n = b_const.shape[1]

        def run_const(a: np.ndarray, _b=None):
            if a.ndim <= 2:
                return (blas.matmul(a, b_const),)
            # One GEMM over every row of every batch instead of a loop of small ones.
            y = blas.matmul(a.reshape(-1, a.shape[-1]), b_const)
            return (y.reshape(*a.shape[:-1], n),)

        return run_const

    return lambda a, b: (blas.matmul(a, b),)


def _shapes_known(ctx: OpContext) -> list[tuple[int, ...]] | None:
    shapes = []
    for i in range(len(ctx.node.inputs)):
        const = ctx.const(i)
        info = ctx.inputs[i] if i < len(ctx.inputs) else None
        if const is not None:
            shapes.append(tuple(const.shape))
        elif info is not None:
            shapes.append(tuple(info.shape))
        else:
            return None
    return shapes


@register("Einsum")
def einsum(ctx: OpContext) -> Kernel:
    equation = ctx.attr("equation")
    equation = equation.decode() if isinstance(equation, bytes) else str(equation)
    equation = equation.replace(" ", "")
    paths: dict[tuple[tuple[int, ...], ...], list] = {}

    def path_for(shapes: Sequence[tuple[int, ...]]) -> list:
        key = tuple(shapes)
        path = paths.get(key)
        if path is None:
            dummies = [np.broadcast_to(np.float32(0), s) for s in shapes]
            path = paths[key] = np.einsum_path(equation, *dummies, optimize="greedy")[0]
        return path

    known = _shapes_known(ctx)
    if known is not None:
        path_for(known)

    def run(*operands: np.ndarray):
        path = path_for([op.shape for op in operands])
        y = np.asarray(np.einsum(equation, *operands, optimize=path), dtype=operands[0].dtype)
        return (y if y.flags.c_contiguous else y.copy(),)

    return run
