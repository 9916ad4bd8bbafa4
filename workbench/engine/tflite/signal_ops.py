"""TFLite signal operators as IR nodes: RFFT2D, COMPLEX_ABS, REAL, IMAG, RANGE, REVERSE_V2.

A complex tensor (RFFT2D's output) is an IR float tensor with a trailing (real,
imaginary) axis after its own axes, as ONNX's DFT writes it; the builder marks it in
``Builder.complex`` and refuses it to converters that do not read complex tensors
(SQUEEZE and CAST read them too: CAST to a real type keeps the real part, as TensorFlow's
does). RFFT2D is a one-sided DFT along the last axis and a full DFT along the one before
(skipped when both it and its FFT length are 1), ``fft_length`` cropping or zero-padding
each axis as TensorFlow does.
"""

from __future__ import annotations

import numpy as np

from workbench.engine.tflite import layout
from workbench.engine.tflite.builder import Builder, Unsupported
from workbench.engine.tflite.ops import _arg, _ints_param, converter
from workbench.engine.tflite.reader import Operator


def _length(b: Builder, n: int, base: str) -> str:
    return b.value_param(np.array(n, np.int64), base)


@converter("RFFT2D")
def rfft2d(b: Builder, op: Operator) -> None:
    x, length_t, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
    rank = b.rank(x)
    lengths = b.ints(length_t)
    if rank < 2 or len(lengths) != 2 or min(lengths) < 1:
        raise Unsupported(f"fft_length {lengths} of a rank-{rank} input")
    rows, cols = lengths
    base = b.name_of(out)
    signal = b.temp(f"{base}__signal")
    b.emit("Unsqueeze", [b.input(x), _ints_param(b, [rank], "real_axis")], outputs=[signal])
    b.complex.add(out)
    dft = {"axis": rank - 1, "onesided": 1}
    if rows == 1 and b.shape(x)[-2] == 1:  # the DFT of length 1 along rows is the identity
        b.emit("DFT", [signal, _length(b, cols, "fft_length")], dft,
               outputs=[(out, layout.identity(rank))])  # fmt: skip
        return
    half = b.temp(f"{base}__cols")
    b.emit("DFT", [signal, _length(b, cols, "fft_length")], dft, outputs=[half])
    b.emit("DFT", [half, _length(b, rows, "fft_length")], {"axis": rank - 2},
           outputs=[(out, layout.identity(rank))])  # fmt: skip


def _part(b: Builder, op: Operator, index: int) -> None:
    x, out = _arg(op, 0), op.outputs[0]
    v = b.complex_input(x)
    part = b.value_param(np.array(index, np.int64), "complex_part")
    b.emit("Gather", [v.name, part], {"axis": -1}, outputs=[(out, v.perm)])


@converter("REAL")
def real(b: Builder, op: Operator) -> None:
    _part(b, op, 0)


@converter("IMAG")
def imag(b: Builder, op: Operator) -> None:
    _part(b, op, 1)


@converter("COMPLEX_ABS")
def complex_abs(b: Builder, op: Operator) -> None:
    x, out = _arg(op, 0), op.outputs[0]
    v = b.complex_input(x)
    axes = _ints_param(b, [len(v.perm)], "complex_axis")
    b.emit("ReduceL2", [v.name, axes], {"keepdims": 0}, outputs=[(out, v.perm)])


@converter("RANGE")
def range_(b: Builder, op: Operator) -> None:
    inputs = [b.input(_arg(op, i)) for i in range(3)]
    b.emit("Range", inputs, outputs=[(op.outputs[0], layout.identity(1))])


@converter("REVERSE_V2")
def reverse_v2(b: Builder, op: Operator) -> None:
    x, axes_t, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
    rank = b.rank(x)
    axes = sorted({a % rank for a in b.ints(axes_t)})
    perm = b.layout_of(x)
    ir_axes = [layout.axis_in(perm, a) for a in axes]
    n = len(ir_axes)
    # Slice from the last element backwards past the first: ONNX's reversal.
    inputs = [
        b.input(x, perm),
        _ints_param(b, [-1] * n, "reverse_starts"),
        _ints_param(b, [np.iinfo(np.int64).min] * n, "reverse_ends"),
        _ints_param(b, ir_axes, "reverse_axes"),
        _ints_param(b, [-1] * n, "reverse_steps"),
    ]
    b.emit("Slice", inputs, outputs=[(out, perm)])
