"""Resize (opsets 10 to 19) and Upsample (opsets 7 and 9).

Every mode is separable, so a resize is a sequence of 1-D resamplings, one per
axis whose size or coordinates change. For each axis the source indices and
interpolation weights are computed once per input shape (and scales/sizes value)
in float32 with ONNX Runtime's formulas, so nearest-neighbour ties round the way
it does. Integer nearest upsampling (x2 in FPN/YOLO necks) is one broadcast copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register

_F = np.float32


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """``std::round``: halves away from zero (``floor(|v| + 0.5)`` is off by one
    just below a half, where the addition rounds up)."""
    a = np.abs(v)
    whole = np.floor(a)
    return np.sign(v) * (whole + (a - whole >= 0.5))


def _source_coords(
    mode: str, out_len: int, in_len: int, scale: float, roi: tuple[float, float]
) -> np.ndarray:
    """Input coordinate of every output position (float32, like ORT)."""
    x = np.arange(out_len, dtype=_F)
    s = _F(scale)
    if mode == "half_pixel":
        return (x + _F(0.5)) / s - _F(0.5)
    if mode == "half_pixel_symmetric":
        # ORT mixes float and double here; mirror it so ties round alike.
        adjustment = _F(out_len) / (s * _F(in_len))
        offset = _F(_F(in_len) / _F(2) * (_F(1) - adjustment))
        return (np.float64(offset) + (x.astype(np.float64) + 0.5) / np.float64(s) - 0.5).astype(_F)
    if mode == "pytorch_half_pixel":
        return (x + _F(0.5)) / s - _F(0.5) if out_len > 1 else np.zeros(out_len, _F)
    if mode == "align_corners":
        if out_len == 1:
            return np.zeros(1, _F)
        return x * _F(in_len - 1) / _F(out_len - 1)
    if mode == "asymmetric":
        return x / s
    if mode == "tf_half_pixel_for_nn":
        return (x + _F(0.5)) / s
    if mode == "tf_crop_and_resize":
        start, end = _F(roi[0]), _F(roi[1])
        if out_len > 1:
            return start * _F(in_len - 1) + x * (end - start) * _F(in_len - 1) / _F(out_len - 1)
        return np.full(out_len, 0.5 * (float(start) + float(end)) * (in_len - 1), _F)
    raise ValueError(f"unsupported coordinate_transformation_mode {mode!r}")


def _nearest_index(coords: np.ndarray, rule: str, downsampling: bool) -> np.ndarray:
    if rule == "round_prefer_floor":
        tie = coords == np.trunc(coords) + _F(0.5)
        idx = np.where(tie, np.floor(coords), _round_half_away(coords))
    elif rule == "round_prefer_ceil":
        idx = _round_half_away(coords)
    elif rule == "floor":
        idx = np.floor(coords)
    elif rule == "ceil":
        idx = np.ceil(coords)
    elif rule == "simple":  # Resize-10 and Upsample
        idx = np.ceil(coords) if downsampling else np.trunc(coords)
    else:
        raise ValueError(f"unsupported nearest_mode {rule!r}")
    return idx.astype(np.int64)


def _cubic_coeffs(s: np.ndarray, a: float) -> np.ndarray:
    s = np.abs(s.astype(np.float64))
    t = [s + 1, s, 1 - s, 2 - s]
    return np.stack(
        [
            ((a * t[0] - 5 * a) * t[0] + 8 * a) * t[0] - 4 * a,
            ((a + 2) * t[1] - (a + 3)) * t[1] * t[1] + 1,
            ((a + 2) * t[2] - (a + 3)) * t[2] * t[2] + 1,
            ((a * t[3] - 5 * a) * t[3] + 8 * a) * t[3] - 4 * a,
        ],
        axis=1,
    )


@dataclass(frozen=True)
class _AxisResample:
    """Output along one axis = sum over taps of weight * input[index]; masked = constant."""

    axis: int
    index: np.ndarray  # (out, taps) int64
    weight: np.ndarray | None  # (out, taps) float32; None for nearest
    outside: np.ndarray | None  # (out,) bool: positions that take the extrapolation value
    repeat: int = 0  # nearest only: index == arange(out) // repeat

    def apply(self, x: np.ndarray, extrapolation: float) -> np.ndarray:
        ax = self.axis
        if self.weight is None:
            y = np.take(x, self.index[:, 0], axis=ax)
        else:
            wshape = [1] * x.ndim
            wshape[ax] = -1
            taps = self.index.shape[1]
            y = None
            for t in range(taps):
                part = np.take(x, self.index[:, t], axis=ax)
                np.multiply(part, self.weight[:, t].reshape(wshape).astype(x.dtype), out=part)
                if y is None:
                    y = part
                else:
                    np.add(y, part, out=y)
        if self.outside is not None:
            sel = [slice(None)] * x.ndim
            sel[ax] = self.outside
            y[tuple(sel)] = extrapolation
        return y


@dataclass(frozen=True)
class _Attrs:
    mode: str
    coord_mode: str
    nearest_mode: str
    cubic_a: float
    exclude_outside: bool
    extrapolation: float


def _plan_axis(
    attrs: _Attrs, axis: int, in_len: int, out_len: int, scale: float, roi: tuple[float, float]
) -> _AxisResample | None:
    if out_len == in_len and _F(scale) == 1:
        return None  # ORT leaves unscaled axes alone, whatever the coordinate mode
    coords = _source_coords(attrs.coord_mode, out_len, in_len, scale, roi)
    if out_len == in_len and np.array_equal(coords, np.arange(in_len, dtype=_F)):
        return None  # identity along this axis
    outside = None
    if attrs.coord_mode == "tf_crop_and_resize":
        out_mask = (coords < 0) | (coords > _F(in_len - 1))
        outside = out_mask if out_mask.any() else None
    last = in_len - 1
    if attrs.mode == "nearest":
        idx = np.clip(_nearest_index(coords, attrs.nearest_mode, scale < 1), 0, last)
        repeat = 0
        if out_len % in_len == 0 and outside is None:
            r = out_len // in_len
            if np.array_equal(idx, np.arange(out_len) // r):
                repeat = r
        return _AxisResample(axis, idx[:, None], None, outside, repeat)
    if attrs.mode == "linear":
        c = np.clip(coords, _F(0), _F(last))
        i0 = np.minimum(c.astype(np.int64), last)
        i1 = np.minimum(i0 + 1, last)
        d0 = np.abs(c - i0.astype(_F))
        d1 = np.abs(c - i1.astype(_F))
        same = i0 == i1
        d0[same], d1[same] = _F(0.5), _F(0.5)
        weight = np.stack([d1, d0], axis=1).astype(_F)
        return _AxisResample(axis, np.stack([i0, i1], axis=1), weight, outside)
    if attrs.mode == "cubic":
        base = np.floor(coords).astype(np.int64)
        coeffs = _cubic_coeffs(coords - np.floor(coords), attrs.cubic_a)
        idx = base[:, None] + np.arange(-1, 3)[None, :]
        if attrs.exclude_outside:
            coeffs = np.where((idx < 0) | (idx > last), 0.0, coeffs)
            coeffs = coeffs / coeffs.sum(axis=1, keepdims=True)
        return _AxisResample(axis, np.clip(idx, 0, last), coeffs.astype(_F), outside)
    raise ValueError(f"unsupported Resize mode {attrs.mode!r}")


def _output_sizes(
    in_shape: Sequence[int],
    axes: Sequence[int],
    scales: np.ndarray | None,
    sizes: np.ndarray | None,
    policy: str,
) -> tuple[list[int], list[float]]:
    rank = len(in_shape)
    out = list(in_shape)
    scale_all = [1.0] * rank
    if sizes is not None:
        sizes = [int(v) for v in sizes]
        if policy in ("not_larger", "not_smaller"):
            ratios = [_F(sizes[i]) / _F(in_shape[a]) for i, a in enumerate(axes)]
            s = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                scale_all[a] = float(s)
                out[a] = int(_round_half_away(np.array(s * _F(in_shape[a]), _F)))
        else:
            for i, a in enumerate(axes):
                out[a] = sizes[i]
                scale_all[a] = float(_F(sizes[i]) / _F(in_shape[a]))
    else:
        for i, a in enumerate(axes):
            scale_all[a] = float(_F(scales[i]))
            out[a] = int(_F(scales[i]) * _F(in_shape[a]))
    return out, scale_all


class _Resizer:
    """Axis plans per (input shape, scales, sizes, roi), built once and reused."""

    def __init__(self, attrs: _Attrs, axes: Sequence[int] | None, policy: str):
        self.attrs = attrs
        self.axes = axes
        self.policy = policy
        self.cache: dict[tuple, tuple[tuple[int, ...], list[_AxisResample]]] = {}

    def plan(
        self,
        shape: tuple[int, ...],
        scales: np.ndarray | None,
        sizes: np.ndarray | None,
        roi: np.ndarray | None,
    ) -> tuple[tuple[int, ...], list[_AxisResample]]:
        key = (
            shape,
            None if scales is None else scales.tobytes(),
            None if sizes is None else sizes.tobytes(),
            None if roi is None else roi.tobytes(),
        )
        found = self.cache.get(key)
        if found is not None:
            return found
        rank = len(shape)
        axes = [a % rank for a in self.axes] if self.axes is not None else list(range(rank))
        out, scale_all = _output_sizes(shape, axes, scales, sizes, self.policy)
        roi_pairs = [(0.0, 1.0)] * rank
        if roi is not None and roi.size:
            k = roi.size // 2
            roi_axes = axes if k == len(axes) else list(range(rank))
            for i, a in enumerate(roi_axes):
                roi_pairs[a] = (float(roi[i]), float(roi[i + k]))
        plans = []
        # ORT copies the input whenever the output shape equals it, whatever the scales.
        for a in range(rank if tuple(out) != tuple(shape) else 0):
            p = _plan_axis(self.attrs, a, shape[a], out[a], scale_all[a], roi_pairs[a])
            if p is not None:
                plans.append(p)
        # Shrinking axes first keeps the intermediates small; on ties the innermost
        # axis goes first, so its element-wise gathers run on the smaller tensor.
        plans.sort(key=lambda p: (out[p.axis] / max(shape[p.axis], 1), -p.axis))
        found = self.cache[key] = (tuple(out), plans)
        return found

    def __call__(self, x: np.ndarray, scales, sizes, roi) -> np.ndarray:
        out_shape, plans = self.plan(x.shape, scales, sizes, roi)
        if plans and all(p.repeat for p in plans):
            return _repeat_nearest(x, out_shape, plans)
        # Interpolation weights need a float working type; integers round back.
        blends = x.dtype.kind in "iub" and any(p.weight is not None for p in plans)
        y = x.astype(_F) if blends else x
        for p in plans:
            y = p.apply(y, self.attrs.extrapolation)
        if blends:
            info = np.iinfo(x.dtype)
            y = np.clip(np.trunc(y), info.min, info.max).astype(x.dtype)
        if y is x:
            y = x.copy()
        return np.ascontiguousarray(y)


def _repeat_nearest(
    x: np.ndarray, out_shape: tuple[int, ...], plans: list[_AxisResample]
) -> np.ndarray:
    """Integer nearest upsampling: gather the last axis, broadcast-copy the others."""
    reps = {p.axis: p for p in plans}
    last = x.ndim - 1
    if last in reps:
        # A broadcast copy with a short innermost run is slow; a gather is not.
        x = np.take(x, reps.pop(last).index[:, 0], axis=last)
        if not reps:
            return x
    split, src = [], []
    for a, n in enumerate(x.shape):
        split.append(n)
        src.append(n)
        if a in reps:
            split.append(reps[a].repeat)
            src.append(1)
    out = np.empty(out_shape, dtype=x.dtype)
    out.reshape(split)[...] = x.reshape(src)
    return out


def _text(value, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


def _nonempty(a: np.ndarray | None) -> np.ndarray | None:
    return a if a is not None and np.asarray(a).size else None


@register("Resize")
def resize(ctx: OpContext) -> Kernel:
    legacy = ctx.opset < 11
    if int(ctx.attr("antialias", 0)):
        raise ctx.fail("antialias=1 is not supported")
    mode = _text(ctx.attr("mode"), "nearest")
    attrs = _Attrs(
        mode=mode,
        coord_mode="asymmetric"
        if legacy
        else _text(ctx.attr("coordinate_transformation_mode"), "half_pixel"),
        nearest_mode="simple" if legacy else _text(ctx.attr("nearest_mode"), "round_prefer_floor"),
        cubic_a=float(ctx.attr("cubic_coeff_a", -0.75)),
        exclude_outside=bool(ctx.attr("exclude_outside", 0)),
        extrapolation=float(ctx.attr("extrapolation_value", 0.0)),
    )
    axes = ctx.attr("axes", None)
    resizer = _Resizer(attrs, axes, _text(ctx.attr("keep_aspect_ratio_policy"), "stretch"))
    # Input positions: Resize-10 is (X, scales); later (X, roi, scales, sizes).
    pos = {"scales": 1} if legacy else {"roi": 1, "scales": 2, "sizes": 3}
    consts = {k: (_nonempty(ctx.const(i)) if ctx.has_input(i) else None) for k, i in pos.items()}
    dynamic = {k for k, i in pos.items() if ctx.has_input(i) and ctx.const(i) is None}

    def gather(args: Sequence[np.ndarray | None]) -> dict[str, np.ndarray | None]:
        values = dict(consts)
        for k in dynamic:
            i = pos[k]
            values[k] = _nonempty(args[i]) if i < len(args) else None
        return values

    info = ctx.inputs[0] if ctx.inputs else None
    if info is not None and not dynamic:
        resizer.plan(
            tuple(info.shape), consts.get("scales"), consts.get("sizes"), consts.get("roi")
        )

    def run(*args: np.ndarray | None):
        v = gather(args)
        scales, sizes = v.get("scales"), v.get("sizes")
        roi = v.get("roi") if attrs.coord_mode == "tf_crop_and_resize" else None
        if scales is not None:
            scales = np.asarray(scales, dtype=_F)
        if sizes is not None:
            sizes = np.asarray(sizes, dtype=np.int64)
            scales = None
        if roi is not None:
            roi = np.asarray(roi, dtype=_F)
        return (resizer(args[0], scales, sizes, roi),)

    return run


@register("Upsample")
def upsample(ctx: OpContext) -> Kernel:
    mode = _text(ctx.attr("mode"), "nearest")
    mode = "linear" if mode == "bilinear" else mode
    attrs = _Attrs(mode, "asymmetric", "simple", -0.75, False, 0.0)
    resizer = _Resizer(attrs, None, "stretch")
    attr_scales = ctx.attr("scales", None)
    const_scales = ctx.const(1) if ctx.has_input(1) else None
    if attr_scales is not None:
        const_scales = np.asarray(attr_scales, dtype=_F)

    def run(x: np.ndarray, scales: np.ndarray | None = None):
        s = const_scales if const_scales is not None else scales
        return (resizer(x, np.asarray(s, dtype=_F), None, None),)

    return run
