"""Pad: constant, reflect, edge and wrap modes; negative pads crop.

Before opset 11 ``pads`` and ``value`` are attributes; from 11 they are inputs, and
opset 18 adds an optional ``axes`` input naming the padded axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workbench.engine.ops.conv import pad_spatial
from workbench.engine.ops.registry import Kernel, OpContext, register

_NUMPY_MODES = {"reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def _per_axis(rank: int, pads: Sequence[int], axes: Sequence[int] | None) -> list[tuple[int, int]]:
    axes = [a % rank for a in axes] if axes is not None else list(range(rank))
    k = len(axes)
    widths = [(0, 0)] * rank
    for i, a in enumerate(axes):
        widths[a] = (int(pads[i]), int(pads[i + k]))
    return widths


def _pad(x: np.ndarray, widths: list[tuple[int, int]], mode: str, value) -> np.ndarray:
    if any(b < 0 or e < 0 for b, e in widths):
        crop = tuple(
            slice(max(0, -b), n - max(0, -e)) for (b, e), n in zip(widths, x.shape, strict=True)
        )
        x = x[crop]
        widths = [(max(0, b), max(0, e)) for b, e in widths]
    if mode == "constant":
        extent = [n + b + e for (b, e), n in zip(widths, x.shape, strict=True)]
        out = pad_spatial(x, [b for b, _ in widths], extent, value)
        return out if out is not x else x.copy()
    if mode not in _NUMPY_MODES:
        raise ValueError(f"unsupported Pad mode {mode!r}")
    return np.pad(x, widths, mode=_NUMPY_MODES[mode])


@register("Pad")
def pad(ctx: OpContext) -> Kernel:
    mode = ctx.attr("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if ctx.opset < 11:
        pads = ctx.attr("pads", None) or ctx.attr("paddings")
        value = float(ctx.attr("value", 0.0))

        def run_attr(x: np.ndarray):
            return (_pad(x, _per_axis(x.ndim, pads, None), mode, x.dtype.type(value)),)

        return run_attr

    const_pads = ctx.const(1)
    const_value = ctx.const(2) if ctx.has_input(2) else None
    const_axes = ctx.const(3) if ctx.has_input(3) else None
    has_value, has_axes = ctx.has_input(2), ctx.has_input(3)

    def run(x: np.ndarray, pads: np.ndarray, value=None, axes=None):
        if const_pads is not None:
            pads = const_pads
        if has_value and const_value is not None:
            value = const_value
        if has_axes and const_axes is not None:
            axes = const_axes
        fill = (
            x.dtype.type(0)
            if value is None or value.size == 0
            else x.dtype.type(value.reshape(-1)[0])
        )
        axes_list = None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]
        widths = _per_axis(x.ndim, np.asarray(pads).reshape(-1).tolist(), axes_list)
        return (_pad(x, widths, mode, fill),)

    return run
