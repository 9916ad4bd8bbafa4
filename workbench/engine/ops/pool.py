"""Pooling: MaxPool, AveragePool, LpPool and their global forms.

Window reductions are separable: one axis at a time, each a few shifted strided
slices combined in place (``k_h + k_w`` passes rather than ``k_h * k_w``). Nothing
is padded: each tap only touches the outputs whose window position for that tap
lies inside the input. Geometry (pads, output size, average divisors) is resolved
once per input shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

from workbench.engine.ops.conv import Padding, pad_spatial, resolve_padding
from workbench.engine.ops.registry import Kernel, OpContext, register


class _Window:
    """Pooling window attributes of one node, with per-input-shape geometry."""

    def __init__(self, ctx: OpContext):
        self.kernel = list(ctx.attr("kernel_shape"))
        nd = self.nd = len(self.kernel)
        self.strides = list(ctx.attr("strides", None) or [1] * nd)
        self.dilations = list(ctx.attr("dilations", None) or [1] * nd)
        auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
        self.auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        self.pads = ctx.attr("pads", None)
        self.ceil_mode = bool(ctx.attr("ceil_mode", 0))
        self._cache: dict[tuple[int, ...], Padding] = {}

    def geometry(self, spatial: tuple[int, ...]) -> Padding:
        geo = self._cache.get(spatial)
        if geo is None:
            geo = self._cache[spatial] = resolve_padding(
                spatial,
                self.kernel,
                self.strides,
                self.dilations,
                self.pads,
                self.auto_pad,
                self.ceil_mode,
            )
        return geo

    def extent(self, geo: Padding) -> list[int]:
        """Padded spatial size the windows read."""
        return [
            (o - 1) * s + (k - 1) * d + 1
            for o, s, k, d in zip(geo.out, self.strides, self.kernel, self.dilations, strict=True)
        ]

    def reduce(self, x: np.ndarray, geo: Padding, combine: np.ufunc, fill) -> np.ndarray:
        """Combine every window of ``x`` (padding counts as ``fill``), one axis at a time.

        Nothing is padded: each tap combines into the range of outputs whose window
        position for that tap lies inside the input.
        """
        y = x
        for a in range(self.nd):
            y = self._reduce_axis(y, y.ndim - self.nd + a, a, geo, combine, fill)
        return y if y is not x and y.flags.c_contiguous else np.ascontiguousarray(y)

    def _reduce_axis(
        self, y: np.ndarray, axis: int, a: int, geo: Padding, combine: np.ufunc, fill
    ) -> np.ndarray:
        k, s, d, o, b = self.kernel[a], self.strides[a], self.dilations[a], geo.out[a], geo.begin[a]
        size = y.shape[axis]
        taps = []  # (first output, output count, first input position)
        for t in range(k):
            lo = max(0, -(-(b - t * d) // s))
            hi = min(o, (size - 1 + b - t * d) // s + 1)
            if hi > lo:
                taps.append((lo, hi - lo, lo * s + t * d - b))

        def src(lo: int, n: int, start: int) -> np.ndarray:
            idx = [slice(None)] * y.ndim
            idx[axis] = slice(start, start + s * (n - 1) + 1, s)
            return y[tuple(idx)]

        def dst(acc: np.ndarray, lo: int, n: int) -> np.ndarray:
            idx = [slice(None)] * acc.ndim
            idx[axis] = slice(lo, lo + n)
            return acc[tuple(idx)]

        full = [tap for tap in taps if tap[0] == 0 and tap[1] == o]
        rest = sorted((tap for tap in taps if tap not in full), key=lambda tap: -tap[1])
        shape = list(y.shape)
        shape[axis] = o
        if len(full) >= 2:
            acc = combine(src(*full[0]), src(*full[1]))
            full = full[2:]
        elif full and rest:
            # The one full tap meets the widest partial tap where both exist and is
            # copied elsewhere: one pass fewer than copying it first.
            (_, _, f_start), (lo, n, start) = full.pop(), rest.pop(0)
            acc = np.empty(shape, dtype=y.dtype)
            combine(src(lo, n, f_start + lo * s), src(lo, n, start), out=dst(acc, lo, n))
            if lo > 0:
                dst(acc, 0, lo)[...] = src(0, lo, f_start)
            if lo + n < o:
                dst(acc, lo + n, o - lo - n)[...] = src(lo + n, o - lo - n, f_start + (lo + n) * s)
        elif full:
            return np.array(src(*full.pop()), copy=True)
        else:
            acc = np.full(shape, fill, dtype=y.dtype)
        for lo, n, start in full + rest:
            view = dst(acc, lo, n)
            combine(view, src(lo, n, start), out=view)
        return acc


def _lowest(dtype: np.dtype) -> float | int:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _axis_counts(k: int, s: int, d: int, o: int, lo: int, hi: int, begin: int) -> np.ndarray:
    """Per output position, how many window taps land in ``[lo, hi)`` of the input axis."""
    pos = np.arange(o)[:, None] * s - begin + np.arange(k)[None, :] * d
    return ((pos >= lo) & (pos < hi)).sum(axis=1)


def _max_indices(
    x: np.ndarray, xp: np.ndarray, win: _Window, geo: Padding, storage_order: int
) -> np.ndarray:
    """Flat input index of each window's maximum (first one on ties), as ORT reports it."""
    n, c = x.shape[:2]
    nd, spatial = win.nd, x.shape[2:]
    st = xp.strides
    view = as_strided(
        xp,
        shape=(n, c, *geo.out, *win.kernel),
        strides=(
            st[0],
            st[1],
            *(st[2 + i] * win.strides[i] for i in range(nd)),
            *(st[2 + i] * win.dilations[i] for i in range(nd)),
        ),
        writeable=False,
    )
    flat = view.reshape(n, c, *geo.out, -1)
    arg = np.argmax(flat, axis=-1)
    taps = np.unravel_index(arg, win.kernel)
    coords = []
    for i in range(nd):
        shape = [1] * nd
        shape[i] = geo.out[i]
        base = (np.arange(geo.out[i]) * win.strides[i] - geo.begin[i]).reshape(shape)
        coords.append(base + taps[i] * win.dilations[i])
    if storage_order == 1:
        # Column-major within an image: the first spatial axis varies fastest.
        index, scale = np.zeros_like(arg), 1
        for i in range(nd):
            index = index + coords[i] * scale
            scale *= spatial[i]
    else:
        index = np.ravel_multi_index(tuple(coords), spatial, mode="clip")
    image = math.prod(spatial)
    plane = (np.arange(n * c, dtype=np.int64) * image).reshape(n, c, *([1] * nd))
    return np.ascontiguousarray(index + plane, dtype=np.int64)


@register("MaxPool")
def max_pool(ctx: OpContext) -> Kernel:
    win = _Window(ctx)
    storage_order = int(ctx.attr("storage_order", 0))
    want_indices = len(ctx.node.outputs) > 1 and bool(ctx.node.outputs[1])

    def run(x: np.ndarray) -> tuple[np.ndarray, ...]:
        geo = win.geometry(x.shape[2:])
        y = win.reduce(x, geo, np.maximum, _lowest(x.dtype))
        if want_indices:
            xp = pad_spatial(x, geo.begin, win.extent(geo), _lowest(x.dtype))
            return y, _max_indices(x, xp, win, geo, storage_order)
        return (y,)

    return run


@register("AveragePool")
def average_pool(ctx: OpContext) -> Kernel:
    win = _Window(ctx)
    include_pad = bool(ctx.attr("count_include_pad", 0))
    scales: dict[tuple[int, ...], np.ndarray] = {}

    def reciprocal(spatial: tuple[int, ...], geo: Padding) -> np.ndarray:
        r = scales.get(spatial)
        if r is None:
            r = np.ones((), dtype=np.float64)
            for i in range(win.nd):
                lo, hi = (
                    (-geo.begin[i], spatial[i] + geo.end[i]) if include_pad else (0, spatial[i])
                )
                counts = _axis_counts(
                    win.kernel[i],
                    win.strides[i],
                    win.dilations[i],
                    geo.out[i],
                    lo,
                    hi,
                    geo.begin[i],
                )
                r = np.multiply.outer(r, counts)
            r = scales[spatial] = (1.0 / np.maximum(r, 1)).astype(np.float32)
        return r

    def run(x: np.ndarray) -> tuple[np.ndarray]:
        spatial = x.shape[2:]
        geo = win.geometry(spatial)
        y = win.reduce(x, geo, np.add, 0)
        np.multiply(y, reciprocal(spatial, geo).astype(y.dtype, copy=False), out=y)
        return (y,)

    return run


@register("LpPool")
def lp_pool(ctx: OpContext) -> Kernel:
    win = _Window(ctx)
    p = float(ctx.attr("p", 2))

    def run(x: np.ndarray) -> tuple[np.ndarray]:
        geo = win.geometry(x.shape[2:])
        powered = np.square(x) if p == 2 else np.power(np.abs(x), x.dtype.type(p))
        y = win.reduce(powered, geo, np.add, 0)
        if p == 2:
            np.sqrt(y, out=y)
        else:
            np.power(y, y.dtype.type(1.0 / p), out=y)
        return (y,)

    return run


def _global(reduce: Callable[..., np.ndarray]) -> Callable[[OpContext], Kernel]:
    def prepare(ctx: OpContext) -> Kernel:
        def run(x: np.ndarray) -> tuple[np.ndarray]:
            n, c = x.shape[:2]
            flat = x.reshape(n, c, -1)
            y = reduce(flat, axis=-1)
            return (y.reshape((n, c) + (1,) * (x.ndim - 2)),)

        return run

    return prepare


def _mean(x: np.ndarray, axis: int) -> np.ndarray:
    return np.add.reduce(x, axis=axis) * x.dtype.type(1.0 / x.shape[axis])


def _lp_global(ctx: OpContext) -> Kernel:
    p = float(ctx.attr("p", 2))

    def reduce(x: np.ndarray, axis: int) -> np.ndarray:
        if p == 2:
            return np.sqrt(np.einsum("ncl,ncl->nc", x, x))
        s = np.add.reduce(np.power(np.abs(x), x.dtype.type(p)), axis=axis)
        return np.power(s, x.dtype.type(1.0 / p))

    return _global(reduce)(ctx)


register("GlobalAveragePool")(_global(_mean))
register("GlobalMaxPool")(_global(np.maximum.reduce))
register("GlobalLpPool")(_lp_global)
