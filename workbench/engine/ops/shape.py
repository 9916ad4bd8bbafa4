"""Shape, indexing, type and comparison operators.

Most of these move no data: Reshape, Transpose, Squeeze, Unsqueeze, Slice, Split,
Identity and a scalar Gather return numpy views, and Expand returns a read-only
broadcast view. Shape-like inputs (Reshape's shape, Slice's starts/ends, axes,
repeats, indices) are resolved at plan time when they are constants, so the kernel
is a single numpy call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register

# ONNX TensorProto.DataType -> numpy dtype, for the types the IR carries.
TENSOR_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.uint8),
    3: np.dtype(np.int8),
    4: np.dtype(np.uint16),
    5: np.dtype(np.int16),
    6: np.dtype(np.int32),
    7: np.dtype(np.int64),
    9: np.dtype(np.bool_),
    10: np.dtype(np.float16),
    11: np.dtype(np.float64),
    12: np.dtype(np.uint32),
    13: np.dtype(np.uint64),
}


def _ints(value: Sequence[int] | np.ndarray | None) -> tuple[int, ...]:
    if value is None:
        return ()
    return tuple(np.asarray(value, dtype=np.int64).ravel().tolist())


def _on_axis(axis: int, index: slice | int) -> tuple[Any, ...]:
    """An indexing key applying ``index`` on ``axis`` (negative counts from the end).

    The key always holds an Ellipsis, so an integer index still gives an array (a
    0-d view), never a numpy scalar.
    """
    if axis >= 0:
        return (slice(None),) * axis + (index, Ellipsis)
    return (Ellipsis, index) + (slice(None),) * (-axis - 1)


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only copy: constants are returned on every run and must never be mutated."""
    a = np.array(a)
    a.flags.writeable = False
    return a


def _with_optional_input(
    ctx: OpContext,
    index: int,
    build: Callable[[tuple[int, ...] | None], Kernel],
    attr: str | None = None,
) -> Kernel:
    """``build`` the kernel from the older attribute form, a constant input, or the input
    at run time (rebuilding on every call). ``build`` gets ``None`` when neither is given.
    """
    if attr is not None and ctx.attr(attr) is not None:
        return build(_ints(ctx.attr(attr)))
    if not ctx.has_input(index):
        return build(None)
    if ctx.const(index) is not None:
        return build(_ints(ctx.const(index)))

    def dynamic(*args: np.ndarray | None) -> tuple[np.ndarray, ...]:
        return build(_ints(args[index]))(*args)

    return dynamic


# -- reshaping ----------------------------------------------------------------------


@register("Reshape")
def reshape(ctx: OpContext) -> Kernel:
    allowzero = bool(ctx.attr("allowzero", 0))

    def build(shape: tuple[int, ...] | None) -> Kernel:
        if shape is None:
            raise ctx.fail("no target shape (input 1)")
        zeros = () if allowzero else tuple(i for i, s in enumerate(shape) if s == 0)
        if not zeros:
            return lambda x, *_: (x.reshape(shape),)

        def copy_dims(x: np.ndarray, *_: Any) -> tuple[np.ndarray, ...]:
            # A 0 keeps the input's dimension at that position.
            target = list(shape)
            for i in zeros:
                target[i] = x.shape[i]
            return (x.reshape(target),)

        return copy_dims

    return _with_optional_input(ctx, 1, build, attr="shape")  # an attribute in opset 1-4


@register("Flatten")
def flatten(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", 1))

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        a = axis % x.ndim if axis < 0 else axis
        return (x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:])),)

    return kernel


@register("Transpose")
def transpose(ctx: OpContext) -> Kernel:
    perm = ctx.attr("perm")
    if perm is None:
        return lambda x: (x.transpose(),)
    perm = tuple(int(p) for p in perm)
    return lambda x: (x.transpose(perm),)


@register("Squeeze")
def squeeze(ctx: OpContext) -> Kernel:
    def build(axes: tuple[int, ...] | None) -> Kernel:
        if not axes:
            return lambda x, *_: (x.squeeze(),)
        return lambda x, *_: (x.squeeze(axis=axes),)

    return _with_optional_input(ctx, 1, build, attr="axes")


@register("Unsqueeze")
def unsqueeze(ctx: OpContext) -> Kernel:
    def build(axes: tuple[int, ...] | None) -> Kernel:
        axes = axes or ()
        positions: dict[int, list[int]] = {}  # per input rank: the new axes, ascending

        def kernel(x: np.ndarray, *_: Any) -> tuple[np.ndarray, ...]:
            at = positions.get(x.ndim)
            if at is None:
                rank = x.ndim + len(axes)
                at = positions[x.ndim] = sorted(a % rank for a in axes)
            shape = list(x.shape)
            for a in at:
                shape.insert(a, 1)
            return (x.reshape(shape),)

        return kernel

    return _with_optional_input(ctx, 1, build, attr="axes")


@register("Expand")
def expand(ctx: OpContext) -> Kernel:
    def build(shape: tuple[int, ...] | None) -> Kernel:
        targets: dict[tuple[int, ...], tuple[int, ...]] = {}  # per input shape

        def kernel(x: np.ndarray, *_: Any) -> tuple[np.ndarray, ...]:
            target = targets.get(x.shape)
            if target is None:
                target = targets[x.shape] = np.broadcast_shapes(x.shape, shape or ())
            # Read-only and zero-strided: consumers never write their inputs.
            return (np.broadcast_to(x, target),)

        return kernel

    return _with_optional_input(ctx, 1, build)


@register("Concat")
def concat(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", 0))
    return lambda *xs: (np.concatenate(xs, axis=axis),)


@register("Split")
def split(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", 0))
    n_outputs = int(ctx.attr("num_outputs", len(ctx.node.outputs)))
    uneven = ctx.attr("num_outputs") is not None  # opset 18: the last chunk may be smaller

    def bounds(dim: int, sizes: tuple[int, ...] | None) -> list[tuple[int, int]]:
        if not sizes:
            chunk = -(-dim // n_outputs) if uneven else dim // n_outputs
            sizes = tuple(min(chunk, max(dim - i * chunk, 0)) for i in range(n_outputs))
        starts = np.cumsum((0, *sizes))
        return [(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True)]

    def build(sizes: tuple[int, ...] | None) -> Kernel:
        keys: dict[int, list[tuple[Any, ...]]] = {}  # per split-axis length

        def kernel(x: np.ndarray, *_: Any) -> tuple[np.ndarray, ...]:
            dim = x.shape[axis]
            if dim not in keys:
                keys[dim] = [_on_axis(axis, slice(a, b)) for a, b in bounds(dim, sizes)]
            return tuple(x[k] for k in keys[dim])

        return kernel

    return _with_optional_input(ctx, 1, build, attr="split")


_END_OF_AXIS = (2**31 - 1, 2**63 - 1)  # INT32_MAX / INT64_MAX ends: "to the end", like None


def _onnx_slice(start: int, end: int, step: int, dim: int) -> slice:
    """ONNX Slice bounds for one axis as a Python slice, clamped the way ORT does.

    Python's own clamping differs when stepping backwards: ONNX clamps a start before
    the axis to 0 (Python: empty) and reads an INT_MAX end as "through index 0".
    """
    if step == 0:
        raise ValueError("slice step cannot be zero")
    if start < 0:
        start += dim
    start = min(max(start, 0), dim - 1 if step < 0 else dim)
    if end in _END_OF_AXIS:
        end = -1 if step < 0 else dim
    else:
        if end < 0:
            end += dim
        end = min(max(end, -1 if step < 0 else 0), dim)
    # A resolved end of -1 means "past index 0", which only None can say in Python.
    return slice(start, None if end < 0 else end, step)


@register("Slice")
def slice_(ctx: OpContext) -> Kernel:
    def key_for(
        shape: tuple[int, ...],
        starts: tuple[int, ...],
        ends: tuple[int, ...],
        axes: tuple[int, ...],
        steps: tuple[int, ...],
    ) -> tuple[slice, ...]:
        axes = axes or tuple(range(len(starts)))
        steps = steps or (1,) * len(starts)
        key = [slice(None)] * len(shape)
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            a = axis % len(shape)
            key[a] = _onnx_slice(start, end, step, shape[a])
        return tuple(key)

    if ctx.opset < 10:
        spec = (_ints(ctx.attr("starts")), _ints(ctx.attr("ends")), _ints(ctx.attr("axes")), ())
        const = True
    else:
        values = [ctx.const(i) if ctx.has_input(i) else None for i in range(1, 5)]
        const = all(v is not None or not ctx.has_input(i + 1) for i, v in enumerate(values))
        spec = tuple(_ints(v) for v in values)

    if const:
        keys: dict[tuple[int, ...], tuple[slice, ...]] = {}  # per input shape

        def kernel(x: np.ndarray, *_: Any) -> tuple[np.ndarray, ...]:
            key = keys.get(x.shape)
            if key is None:
                key = keys[x.shape] = key_for(x.shape, *spec)
            return (x[key],)

        return kernel

    def dynamic(x: np.ndarray, *args: np.ndarray | None) -> tuple[np.ndarray, ...]:
        parts = [_ints(a) for a in (*args, None, None, None, None)[:4]]
        return (x[key_for(x.shape, *parts)],)

    return dynamic


@register("Tile")
def tile(ctx: OpContext) -> Kernel:
    def build(repeats: tuple[int, ...] | None) -> Kernel:
        return lambda x, *_: (np.tile(x, repeats),)

    return _with_optional_input(ctx, 1, build)


@register("DepthToSpace")
def depth_to_space(ctx: OpContext) -> Kernel:
    b = int(ctx.attr("blocksize"))
    crd = ctx.attr("mode", "DCR") == "CRD"

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        n, c, h, w = x.shape
        if crd:
            y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        else:
            y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        return (y.reshape(n, c // (b * b), h * b, w * b),)

    return kernel


@register("SpaceToDepth")
def space_to_depth(ctx: OpContext) -> Kernel:
    b = int(ctx.attr("blocksize"))
    # Output channels ordered (block row, block column, channel); CRD (opset 28):
    # (channel, block row, block column).
    perm = (0, 1, 3, 5, 2, 4) if ctx.attr("mode", "DCR") == "CRD" else (0, 3, 5, 1, 2, 4)

    def kernel(x: np.ndarray) -> tuple[np.ndarray, ...]:
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // b, b, w // b, b).transpose(perm)
        return (y.reshape(n, c * b * b, h // b, w // b),)

    return kernel


# -- indexing -------------------------------------------------------------------------


@register("Gather")
def gather(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", 0))
    indices = ctx.const(1)
    if indices is not None and indices.ndim == 0:
        # A scalar index is basic indexing: a view, no copy.
        key = _on_axis(axis, int(indices))
        return lambda x, _: (x[key],)
    if indices is not None:
        idx = indices.astype(np.intp)
        return lambda x, _: (np.take(x, idx, axis=axis),)
    # np.take gives a numpy scalar for a 0-d index into a vector.
    return lambda x, i: (np.asarray(np.take(x, i.astype(np.intp, copy=False), axis=axis)),)


@register("GatherElements")
def gather_elements(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", 0))
    return lambda x, i: (np.take_along_axis(x, i.astype(np.intp, copy=False), axis=axis),)


@register("TopK")
def top_k(ctx: OpContext) -> Kernel:
    axis = int(ctx.attr("axis", -1))
    largest = bool(ctx.attr("largest", 1))
    k_attr = ctx.attr("k")  # opset 1-9

    def kernel(x: np.ndarray, k_input: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        k = int(k_attr) if k_attr is not None else int(np.asarray(k_input).reshape(-1)[0])
        n = x.shape[axis]
        if largest:
            # Descending with ties in ascending index order (as ORT): a stable ascending
            # sort of the reversed axis, read backwards, mapped back to original indices.
            order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
            idx = (n - 1) - np.flip(order[_on_axis(axis, slice(n - k, n))], axis)
        else:
            idx = np.argsort(x, axis=axis, kind="stable")[_on_axis(axis, slice(0, k))]
        idx = idx.astype(np.int64, copy=False)
        return np.take_along_axis(x, idx, axis=axis), idx

    return kernel


@register("NonZero")
def non_zero(ctx: OpContext) -> Kernel:
    # A scalar counts as a one-element vector, as in ORT.
    return lambda x: (np.array(np.nonzero(np.atleast_1d(x)), dtype=np.int64),)


_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def select(condition: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.where(condition, a, b)`` as a bitwise blend, exact for every value.

    np.where branches per element and is 3-6x slower on unpredictable masks (attention
    masks); and-ing the raw bits with an all-ones/all-zeros mask is branch-free.
    """
    a, b, condition = np.asarray(a), np.asarray(b), np.asarray(condition)
    if a.dtype != b.dtype or condition.dtype != np.bool_ or a.dtype.itemsize not in _UNSIGNED:
        return np.where(condition, a, b)
    u = _UNSIGNED[a.dtype.itemsize]
    mask = np.asarray(np.negative(condition.view(np.uint8).astype(u)))  # True -> all ones
    out = np.empty(np.broadcast_shapes(condition.shape, a.shape, b.shape), u)
    np.bitwise_and(a.view(u), mask, out=out)
    np.invert(mask, out=mask)
    out |= np.bitwise_and(b.view(u), mask)
    return out.view(a.dtype)


@register("Where")
def where(ctx: OpContext) -> Kernel:
    return lambda c, a, b: (select(c, a, b),)


# -- shapes and constants -------------------------------------------------------------


@register("Shape")
def shape(ctx: OpContext) -> Kernel:
    start = int(ctx.attr("start", 0))
    end = ctx.attr("end")
    end = None if end is None else int(end)
    # Python slicing of the shape tuple clamps exactly as ONNX specifies.
    return lambda x: (np.array(x.shape[start:end], dtype=np.int64),)


@register("Size")
def size(ctx: OpContext) -> Kernel:
    return lambda x: (np.array(x.size, dtype=np.int64),)


@register("ConstantOfShape")
def constant_of_shape(ctx: OpContext) -> Kernel:
    value = ctx.attr("value")
    fill = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())

    def build(shape: tuple[int, ...] | None) -> Kernel:
        out = _frozen(np.full(shape or (), fill, dtype=fill.dtype))
        return lambda *_: (out,)

    if ctx.const(0) is not None:
        return build(_ints(ctx.const(0)))
    return lambda s: (np.full(_ints(s), fill, dtype=fill.dtype),)


@register("Constant")
def constant(ctx: OpContext) -> Kernel:
    attrs = ctx.node.attrs
    if "value" in attrs:
        value = np.asarray(attrs["value"])
    elif "value_float" in attrs:
        value = np.array(attrs["value_float"], dtype=np.float32)
    elif "value_floats" in attrs:
        value = np.array(attrs["value_floats"], dtype=np.float32).reshape(-1)
    elif "value_int" in attrs:
        value = np.array(attrs["value_int"], dtype=np.int64)
    elif "value_ints" in attrs:
        value = np.array(attrs["value_ints"], dtype=np.int64).reshape(-1)
    else:
        raise ctx.fail(f"unsupported attributes {sorted(attrs)} (string and sparse constants)")
    out = _frozen(value)
    return lambda: (out,)


def _range(start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> np.ndarray:
    dtype = np.asarray(start).dtype
    s, lim, d = (np.asarray(v).reshape(()) for v in (start, limit, delta))
    if dtype.kind == "f":
        # ORT: n = ceil((limit - start) / delta) in double, then accumulates
        # value += delta in the tensor's type; a float cumsum does the same additions.
        n = max(math.ceil(float((lim - s).astype(dtype)) / float(d)), 0)
        out = np.full(n, d, dtype=dtype)
        if n:
            out[0] = s
        return np.cumsum(out, out=out)
    return np.arange(int(s), int(lim), int(d), dtype=dtype)


@register("Range")
def range_(ctx: OpContext) -> Kernel:
    if all(ctx.const(i) is not None for i in range(3)):
        out = _frozen(_range(ctx.const(0), ctx.const(1), ctx.const(2)))
        return lambda *_: (out,)
    return lambda s, lim, d: (_range(s, lim, d),)


# -- types ----------------------------------------------------------------------------


def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if x.dtype.kind == "f" and dtype.kind in "iu":
        # Out-of-range and NaN values wrap as the C cast does in ORT; numpy only warns.
        with np.errstate(invalid="ignore"):
            return x.astype(dtype)
    return x.astype(dtype, copy=False)


@register("Cast")
def cast(ctx: OpContext) -> Kernel:
    to = int(ctx.attr("to"))
    if to not in TENSOR_DTYPES:
        raise ctx.fail(f"cast to TensorProto type {to} is not supported")
    dtype = TENSOR_DTYPES[to]
    return lambda x: (_cast(x, dtype),)


@register("CastLike")
def cast_like(ctx: OpContext) -> Kernel:
    return lambda x, like: (_cast(x, like.dtype),)


@register("Identity")
def identity(ctx: OpContext) -> Kernel:
    return lambda x: (x,)


@register("Dropout")
def dropout(ctx: OpContext) -> Kernel:
    want_mask = len(ctx.node.outputs) > 1 and bool(ctx.node.outputs[1])
    # Before opset 10 the mask has the input's type. Before opset 12 ORT runs Dropout as
    # an identity that zero-fills the mask; from 12 on, "nothing dropped" is all True.
    mask_dtype = np.dtype(np.bool_) if ctx.opset >= 10 else None
    mask_fill = ctx.opset >= 12

    def check_inference(ratio: np.ndarray | None, training: np.ndarray | None) -> None:
        # Training mode drops at random; with ratio 0 it still drops nothing.
        if training is not None and bool(np.asarray(training).reshape(())):
            if ratio is None or float(np.asarray(ratio).reshape(())) != 0.0:
                raise ValueError("training_mode=True with a ratio above 0 is not supported")

    training_const = ctx.const(2) if ctx.has_input(2) else None
    ratio_known = not ctx.has_input(1) or ctx.const(1) is not None
    if training_const is not None and ratio_known:  # refuse at plan time when we can
        try:
            check_inference(ctx.const(1), training_const)
        except ValueError as exc:
            raise ctx.fail(str(exc)) from exc

    def kernel(
        x: np.ndarray, ratio: np.ndarray | None = None, training: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        check_inference(ratio, training)
        if want_mask:
            return x, np.full(x.shape, mask_fill, dtype=mask_dtype or x.dtype)
        return (x,)

    return kernel


# -- comparisons ----------------------------------------------------------------------


def _comparison(fn: Callable[..., np.ndarray]) -> Callable[[OpContext], Kernel]:
    def prepare(ctx: OpContext) -> Kernel:
        # asarray: a comparison of 0-d tensors gives a numpy bool, not an array.
        return lambda a, b: (np.asarray(fn(a, b)),)

    return prepare


register("Equal")(_comparison(np.equal))
register("Less")(_comparison(np.less))
register("Greater")(_comparison(np.greater))
register("LessOrEqual")(_comparison(np.less_equal))
register("GreaterOrEqual")(_comparison(np.greater_equal))
