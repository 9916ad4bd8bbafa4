"""Data movement on the codes themselves: the float kernels run unchanged on integers.

Reshape, Transpose, Slice, Gather, MaxPool and friends only move, pick or compare
values, and dequantization is increasing, so they commute with it: the float kernel
runs on the uint8 / uint16 codes. The quantizer gives their output the input's encoding;
if an output's encoding differs anyway, a rescale table follows. Constant Pad fills with
the code of its value (the zero point for 0); Concat rescales each input that is not
already in the output encoding.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from workbench.engine.ops.registry import Kernel, prepare
from workbench.engine.quant.encoding import Encoding, quantize
from workbench.engine.quant.int_ops import (
    IntContext,
    NotInteger,
    code_range,
    register_int,
    zero_point,
)
from workbench.engine.quant.requant import rescale_table, tflite_half_up
from workbench.vocabulary import DEFAULT_ROUNDING, TFLITE_ROUNDING

MOVEMENT_OPS = (
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
    "Slice",
    "Split",
    "Gather",
    "GatherElements",
    "Expand",
    "Tile",
    "DepthToSpace",
    "SpaceToDepth",
    "MaxPool",
    "GlobalMaxPool",
    "ReduceMax",
    "ReduceMin",
    "TopK",
)
# Outputs that are not float at all; the codes give the same answer.
INDEX_OPS = ("Shape", "Size", "ArgMax", "ArgMin")


def rescale(enc: Encoding, out: Encoding, rounding: str = DEFAULT_ROUNDING) -> np.ndarray | None:
    """A table taking every code of ``enc`` to the code of ``out`` for the same value (None if
    equal). In a ``tflite`` container, as TFLite's int8 QUANTIZE requantizes (half up)."""
    if enc == out:
        return None
    codes = code_range(enc)
    return rescale_table(
        zero_point(enc),
        int(codes[0]),
        int(codes[-1]),
        enc.delta / out.delta,
        zero_point(out),
        out.qmin,
        out.qmax,
        rounding=tflite_half_up(rounding),
    )


def _with_rescaled_outputs(ictx: IntContext, enc: Encoding, kernel: Kernel) -> Kernel:
    fixes = []
    for j, name in enumerate(ictx.node.outputs):
        out = ictx.out_encs[j] if j < len(ictx.out_encs) else None
        if name and out is not None:
            table = rescale(enc, out, ictx.rounding)
            if table is not None:
                fixes.append((j, table))
    if not fixes:
        return kernel

    def run(*args: np.ndarray | None) -> tuple[np.ndarray, ...]:
        results = list(kernel(*args))
        for j, table in fixes:
            results[j] = np.take(table, results[j])
        return tuple(results)

    return run


@register_int(*MOVEMENT_OPS)
def movement(ictx: IntContext) -> Kernel:
    return _with_rescaled_outputs(ictx, ictx.act(0), prepare(ictx.op))


@register_int("Resize", "Upsample")
def resize_nearest(ictx: IntContext) -> Kernel:
    mode = ictx.attr("mode", "nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode == "linear" and ictx.rounding == TFLITE_ROUNDING:
        return _tflite_bilinear(ictx)
    if mode != "nearest":
        raise NotInteger(f"{mode} interpolation computes new values")
    return movement(ictx)


_TFLITE_COORDS = {"align_corners": (True, False), "half_pixel": (False, True),
                  "asymmetric": (False, False)}  # fmt: skip


def _tflite_bilinear(ictx: IntContext) -> Kernel:
    """TFLite's int8 RESIZE_BILINEAR (``ResizeBilinearInteger``): positions in 10-bit fixed
    point, the four taps weighted in int64 on the signed int8 codes, ``/ 2**20`` rounded
    half away from zero. Input and output share their encoding, as TFLite requires."""
    enc, out = ictx.act(0), ictx.out(0)
    coord = ictx.attr("coordinate_transformation_mode", "half_pixel")
    coord = coord.decode() if isinstance(coord, bytes) else str(coord)
    info = ictx.op.outputs[0] if ictx.op.outputs else None
    if (
        coord not in _TFLITE_COORDS
        or (enc.delta, enc.offset, enc.bitwidth) != (out.delta, out.offset, 8)
        or info is None
        or len(info.shape) != 4
    ):
        raise NotInteger("not a TFLite int8 bilinear resize")
    align, half = _TFLITE_COORDS[coord]
    out_h, out_w = (int(d) for d in info.shape[2:])

    def taps(size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if align and out_size > 1:
            scale = ((1 << 10) * (size - 1) + (out_size - 1) // 2) // (out_size - 1)
        else:
            scale = ((1 << 10) * size + out_size // 2) // out_size
        pos = np.arange(out_size, dtype=np.int64) * scale
        if half:
            pos += scale // 2 - (1 << 9)
        lo = np.maximum(np.trunc(pos / 1024).astype(np.int64), 0)  # C's division
        hi = np.minimum(np.trunc((pos + 1023) / 1024).astype(np.int64), size - 1)
        return lo, hi, pos - 1024 * lo

    def run(q: np.ndarray, *_: np.ndarray | None) -> tuple[np.ndarray, ...]:
        y0, y1, dy = taps(q.shape[2], out_h)
        x0, x1, dx = taps(q.shape[3], out_w)
        x = q.astype(np.int64) - 128  # the int8 codes TFLite interpolates
        dy, dx = dy[:, None], dx[None, :]
        acc = x[:, :, y0][:, :, :, x0] * ((1024 - dy) * (1024 - dx))
        acc += x[:, :, y1][:, :, :, x0] * (dy * (1024 - dx))
        acc += x[:, :, y0][:, :, :, x1] * ((1024 - dy) * dx)
        acc += x[:, :, y1][:, :, :, x1] * (dy * dx)
        half_step = np.where(acc > 0, 1 << 19, -(1 << 19))
        acc += half_step
        y = np.where(acc >= 0, acc >> 20, -((-acc) >> 20)) + 128  # truncating division
        return (np.clip(y, 0, 255).astype(np.uint8),)

    return run


@register_int(*INDEX_OPS)
def index(ictx: IntContext) -> Kernel:
    if ictx.node.op_type in ("ArgMax", "ArgMin"):
        ictx.act(0)
    return prepare(ictx.op)


@register_int("Pad")
def pad(ictx: IntContext) -> Kernel:
    enc = ictx.act(0)
    mode = ictx.attr("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode != "constant":
        return _with_rescaled_outputs(ictx, enc, prepare(ictx.op))
    # The fill value may lie outside the input's range (its code would clamp), so the
    # input is moved to the output encoding first and the fill is coded in that one.
    out = ictx.out(0)
    table = rescale(enc, out, ictx.rounding)
    op = ictx.op
    if op.opset < 11:
        fill = quantize(np.float32(float(ictx.attr("value", 0.0))), out, ictx.rounding)
        node = replace(op.node, attrs={**op.node.attrs, "value": float(fill)})
        kernel = prepare(replace(op, node=node))

        def run_old(x: np.ndarray) -> tuple[np.ndarray, ...]:
            return kernel(x if table is None else np.take(table, x))

        return run_old
    if ictx.has_input(2) and ictx.float_op.const(2) is None:
        raise NotInteger("Pad value is not constant")
    value = ictx.float_op.const(2) if ictx.has_input(2) else None
    v = 0.0 if value is None or value.size == 0 else float(value.reshape(-1)[0])
    fill = quantize(np.array([v], dtype=np.float32), out, ictx.rounding)
    inputs = list(op.node.inputs) + [""] * max(0, 3 - len(op.node.inputs))
    inputs[2] = inputs[2] or "__pad_value__"
    consts = {**op.consts, 2: fill}
    kernel = prepare(replace(op, node=replace(op.node, inputs=tuple(inputs)), consts=consts))

    def run(x: np.ndarray, pads=None, _value=None, axes=None) -> tuple[np.ndarray, ...]:
        return kernel(x if table is None else np.take(table, x), pads, fill, axes)

    return run


@register_int("Concat")
def concat(ictx: IntContext) -> Kernel:
    out = ictx.out(0)
    axis = int(ictx.attr("axis", 0))
    tables = [rescale(ictx.act(i), out, ictx.rounding) for i in range(len(ictx.node.inputs))]

    def run(*qs: np.ndarray) -> tuple[np.ndarray, ...]:
        parts = [q if t is None else np.take(t, q) for q, t in zip(qs, tables, strict=True)]
        return (np.concatenate(parts, axis=axis),)

    return run


__all__ = ["INDEX_OPS", "MOVEMENT_OPS", "rescale"]
