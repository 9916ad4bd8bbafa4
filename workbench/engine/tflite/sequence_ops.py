"""TFLite recurrent, batch/space and comparison operators as IR nodes.

* ``UNIDIRECTIONAL_SEQUENCE_LSTM`` / ``BIDIRECTIONAL_SEQUENCE_LSTM`` become one ONNX
  ``LSTM`` (``forward`` / ``bidirectional``): TFLite's per-gate tensors (i, f, c, o) are
  stacked in ONNX's i, o, f, c order; a CIFG layer (no input gate, ``i = 1 - f``) gets
  the negated forget-gate weights as its input gate (``sigmoid(-z) = 1 - sigmoid(z)``);
  peepholes become ``P``. A batch-major sequence is transposed in and out (ONNX
  Runtime's LSTM takes ``layout = 0`` only). The state tensors are TFLite variables
  whose first value is zero: each inference starts from zero state, as a first
  invocation does. Projection, layer normalization and cell/projection clipping have no
  ONNX form and are refused by name.
* ``UNIDIRECTIONAL_SEQUENCE_RNN`` becomes ONNX ``RNN`` the same way.
* ``SPACE_TO_BATCH_ND`` / ``BATCH_TO_SPACE_ND``: Pad / Reshape / Transpose (/ Slice), the
  tensor read as TFLite has it.
* Comparisons, logical operators, ``SELECT`` / ``SELECT_V2``, ``FLOOR_DIV`` and
  ``FLOOR_MOD``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.engine.tflite import layout
from workbench.engine.tflite.builder import Builder, Unsupported
from workbench.engine.tflite.ops import (
    _NONE,
    _RELU,
    _TANH,
    _arg,
    _binary,
    _common_layout,
    _ints_param,
    _unary,
    converter,
)
from workbench.engine.tflite.reader import Operator

# -- comparisons and selection ------------------------------------------------------------

for _tfl, _onnx in (
    ("EQUAL", "Equal"),
    ("GREATER", "Greater"),
    ("GREATER_EQUAL", "GreaterOrEqual"),
    ("LESS", "Less"),
    ("LESS_EQUAL", "LessOrEqual"),
    ("LOGICAL_AND", "And"),
    ("LOGICAL_OR", "Or"),
):
    converter(_tfl)(_binary(_onnx))
converter("LOGICAL_NOT")(_unary("Not"))


@converter("NOT_EQUAL")
def not_equal(b: Builder, op: Operator) -> None:
    a, c = _arg(op, 0), _arg(op, 1)
    rank = max(b.rank(a), b.rank(c))
    perm = _common_layout(b, [a, c], rank)
    same = b.temp(f"{b.name_of(op.outputs[0])}__equal")
    b.emit("Equal", [b.broadcast(t, rank, perm) for t in (a, c)], outputs=[same])
    b.emit("Not", [same], outputs=[(op.outputs[0], perm)])


@converter("SELECT", "SELECT_V2")
def select(b: Builder, op: Operator) -> None:
    args = [_arg(op, i) for i in range(3)]
    rank = max(b.rank(t) for t in args)
    perm = _common_layout(b, args, rank)
    inputs = [b.broadcast(t, rank, perm) for t in args]
    b.emit("Where", inputs, outputs=[(op.outputs[0], perm)])


def _floor_parts(b: Builder, op: Operator) -> tuple[list[str], Any, str]:
    a, c = _arg(op, 0), _arg(op, 1)
    rank = max(b.rank(a), b.rank(c))
    perm = _common_layout(b, [a, c], rank)
    return [b.broadcast(t, rank, perm) for t in (a, c)], perm, b.name_of(op.outputs[0])


def _is_float(b: Builder, op: Operator) -> bool:
    return b.ir_dtype(b.tensor(op.outputs[0])).startswith("float")


@converter("FLOOR_DIV")
def floor_div(b: Builder, op: Operator) -> None:
    (x, y), perm, base = _floor_parts(b, op)
    out = (op.outputs[0], perm)
    if _is_float(b, op):
        q = b.temp(f"{base}__div")
        b.emit("Div", [x, y], outputs=[q])
        b.emit("Floor", [q], outputs=[out])
        return
    # Integers: (x - x mod y) / y divides exactly, with the remainder taking y's sign.
    mod = b.temp(f"{base}__mod")
    b.emit("Mod", [x, y], {"fmod": 0}, outputs=[mod])
    diff = b.temp(f"{base}__diff")
    b.emit("Sub", [x, mod], outputs=[diff])
    b.emit("Div", [diff, y], outputs=[out])


@converter("FLOOR_MOD")
def floor_mod(b: Builder, op: Operator) -> None:
    (x, y), perm, base = _floor_parts(b, op)
    out = (op.outputs[0], perm)
    if not _is_float(b, op):
        b.emit("Mod", [x, y], {"fmod": 0}, outputs=[out])
        return
    q = b.temp(f"{base}__div")
    b.emit("Div", [x, y], outputs=[q])
    fq = b.temp(f"{base}__floor")
    b.emit("Floor", [q], outputs=[fq])
    prod = b.temp(f"{base}__mul")
    b.emit("Mul", [fq, y], outputs=[prod])
    b.emit("Sub", [x, prod], outputs=[out])


# -- space and batch --------------------------------------------------------------------------


@converter("SPACE_TO_BATCH_ND")
def space_to_batch_nd(b: Builder, op: Operator) -> None:
    x, block_t, pads_t = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    shape = b.shape(x)
    block = b.ints(block_t)
    m = len(block)
    pads = np.asarray(b.ints(pads_t), dtype=np.int64).reshape(m, 2)
    if (pads < 0).any() or any(k < 1 for k in block):
        raise Unsupported(f"block {block} with paddings {pads.tolist()}")
    rank = len(shape)
    name = b.name_of(op.outputs[0])
    src = b.input(x)
    if pads.any():
        begin = [0] * rank
        end = [0] * rank
        for i in range(m):
            begin[1 + i], end[1 + i] = int(pads[i, 0]), int(pads[i, 1])
        padded = b.temp(f"{name}__pad")
        b.emit("Pad", [src, _ints_param(b, begin + end, "pads")], outputs=[padded])
        b.share_encoding(padded, src)
        src = padded
    spatial = [shape[1 + i] + int(pads[i].sum()) for i in range(m)]
    if any(s % k for s, k in zip(spatial, block, strict=True)):
        raise Unsupported(f"padded spatial size {spatial} not divisible by block {block}")
    batch, rest = shape[0], list(shape[1 + m :])
    split = [batch]
    for s, k in zip(spatial, block, strict=True):
        split += [s // k, k]
    split += rest
    # (B, S1/k1, k1, S2/k2, k2, rest) -> (k1, k2, B, S1/k1, S2/k2, rest)
    perm = [2 + 2 * i for i in range(m)] + [0] + [1 + 2 * i for i in range(m)]
    perm += list(range(1 + 2 * m, 1 + 2 * m + len(rest)))
    out_shape = [batch * int(np.prod(block))] + [
        s // k for s, k in zip(spatial, block, strict=True)
    ]
    _reshape_transpose_reshape(b, op, src, split, perm, out_shape + rest)


@converter("BATCH_TO_SPACE_ND")
def batch_to_space_nd(b: Builder, op: Operator) -> None:
    x, block_t, crops_t = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    shape = b.shape(x)
    block = b.ints(block_t)
    m = len(block)
    crops = np.asarray(b.ints(crops_t), dtype=np.int64).reshape(m, 2)
    prod = int(np.prod(block))
    if prod < 1 or shape[0] % prod or (crops < 0).any():
        raise Unsupported(f"batch {shape[0]} for block {block}, crops {crops.tolist()}")
    batch = shape[0] // prod
    spatial = list(shape[1 : 1 + m])
    rest = list(shape[1 + m :])
    split = [*block, batch, *spatial, *rest]
    # (k1, k2, B, S1, S2, rest) -> (B, S1, k1, S2, k2, rest)
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    full = [batch] + [s * k for s, k in zip(spatial, block, strict=True)] + rest
    name = b.name_of(op.outputs[0])
    if not crops.any():
        _reshape_transpose_reshape(b, op, b.input(x), split, perm, full)
        return
    uncropped = b.temp(f"{name}__uncropped")
    _reshape_transpose_reshape(b, op, b.input(x), split, perm, full, target=uncropped)
    starts = [int(c) for c in crops[:, 0]]
    ends = [full[1 + i] - int(crops[i, 1]) for i in range(m)]
    inputs = [
        uncropped,
        _ints_param(b, starts, "crop_starts"),
        _ints_param(b, ends, "crop_ends"),
        _ints_param(b, list(range(1, 1 + m)), "crop_axes"),
    ]
    b.emit("Slice", inputs, outputs=[(op.outputs[0], layout.identity(len(full)))])


def _reshape_transpose_reshape(
    b: Builder,
    op: Operator,
    src: str,
    split: list[int],
    perm: list[int],
    final: list[int],
    target: str | None = None,
) -> None:
    name = b.name_of(op.outputs[0])
    blocks = b.temp(f"{name}__blocks")
    b.emit("Reshape", [src, _ints_param(b, split, "blocks_shape")], outputs=[blocks])
    b.share_encoding(blocks, src)
    moved = b.temp(f"{name}__moved")
    b.emit("Transpose", [blocks], {"perm": perm}, outputs=[moved])
    b.share_encoding(moved, src)
    out = target or (op.outputs[0], layout.identity(len(final)))
    b.emit("Reshape", [moved, _ints_param(b, final, "batch_space_shape")], outputs=[out])
    if target is not None:
        b.share_encoding(target, src)


# -- recurrent layers -------------------------------------------------------------------------

_CELL_ACTIVATIONS = {_TANH: "Tanh", _RELU: "Relu"}


def _const_or_none(b: Builder, t: int) -> np.ndarray | None:
    if t < 0:
        return None
    value = b.const(t)
    if value is None:
        raise Unsupported(f"tensor {t} ({b.tensor(t).name!r}) is not a constant")
    return np.asarray(value, dtype=np.float32)


def _lstm_direction(b: Builder, op: Operator, first: int, hidden_in: int) -> dict[str, np.ndarray]:
    """ONNX W (4H, I), R (4H, H), B (8H,), P (3H,) of one direction whose weights start
    at input ``first`` (1 for the forward / only direction, 18 for the backward one)."""
    w = [_const_or_none(b, _arg(op, first + k)) for k in range(4)]  # i, f, c, o
    r = [_const_or_none(b, _arg(op, first + 4 + k)) for k in range(4)]
    peep = [_const_or_none(b, _arg(op, first + 8 + k)) for k in range(3)]  # i, f, o
    bias = [_const_or_none(b, _arg(op, first + 11 + k)) for k in range(4)]
    if _arg(op, first + 15) >= 0:
        raise Unsupported("a projection layer")
    if any(x is None for x in (w[1], w[2], w[3], r[1], r[2], r[3])):
        raise Unsupported("missing forget, cell or output weights")
    hidden = w[1].shape[0]
    zeros = np.zeros(hidden, np.float32)
    bias = [zeros if x is None else x.reshape(-1) for x in bias]
    if w[0] is None:  # CIFG: i = 1 - f = sigmoid(-z_f)
        if r[0] is not None:
            raise Unsupported("recurrent input-gate weights without input weights")
        w[0], r[0], bias[0] = -w[1], -r[1], -bias[1]
        if peep[1] is not None:
            peep[0] = -peep[1]
    has_peep = any(p is not None for p in peep)
    peep = [zeros if p is None else p.reshape(-1) for p in peep]
    order = (0, 3, 1, 2)  # TFLite i, f, c, o -> ONNX i, o, f, c
    out = {
        "W": np.concatenate([w[k].reshape(hidden, hidden_in) for k in order])[None],
        "R": np.concatenate([r[k].reshape(hidden, hidden) for k in order])[None],
        "B": np.concatenate([*(bias[k] for k in order), np.zeros(4 * hidden, np.float32)])[None],
    }
    if has_peep:
        out["P"] = np.concatenate([peep[0], peep[2], peep[1]])[None]  # i, o, f
    return out


def _check_lstm_options(op: Operator, layer_norm_inputs: range) -> tuple[str, bool]:
    o = op.options
    if float(o.get("cell_clip", 0.0) or 0.0) or float(o.get("proj_clip", 0.0) or 0.0):
        raise Unsupported("cell or projection clipping")
    if any(_arg(op, i) >= 0 for i in layer_norm_inputs):
        raise Unsupported("layer normalization")
    act = int(o.get("fused_activation_function", _TANH))
    if act not in _CELL_ACTIVATIONS:
        raise Unsupported(f"cell activation {act}")
    return _CELL_ACTIVATIONS[act], bool(o.get("time_major", True))


def _sequence_in(b: Builder, op: Operator, x: int, time_major: bool) -> tuple[str, int, int]:
    """The input as ONNX wants it, (T, B, I); returns its name, T and B."""
    shape = b.shape(x)
    if len(shape) != 3:
        raise Unsupported(f"a sequence of rank {len(shape)}")
    src = b.input(x)
    if time_major:
        return src, shape[0], shape[1]
    moved = b.temp(f"{b.name_of(x)}__time_major")
    b.emit("Transpose", [src], {"perm": [1, 0, 2]}, outputs=[moved])
    b.share_encoding(moved, src)
    return moved, shape[1], shape[0]


def _emit_recurrent(
    b: Builder,
    op: Operator,
    kind: str,
    seq: str,
    weights: dict[str, np.ndarray],
    attrs: dict[str, Any],
    directions: int,
) -> str:
    """The ONNX node; returns its Y (T, dirs, B, H)."""
    name = b.name_of(op.outputs[0])
    inputs = [seq] + [b.value_param(weights[k], f"{name}__{k}") for k in ("W", "R", "B")]
    if "P" in weights:
        inputs += ["", "", "", b.value_param(weights["P"], f"{name}__P")]
    y = b.temp(f"{name}__{kind.lower()}")
    b.emit(kind, inputs, attrs, outputs=[y])
    return y


@converter("UNIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_sequence_lstm(b: Builder, op: Operator) -> None:
    act, time_major = _check_lstm_options(op, range(20, 24))
    seq, _, _ = _sequence_in(b, op, _arg(op, 0), time_major)
    hidden_in = b.shape(_arg(op, 0))[-1]
    weights = _lstm_direction(b, op, 1, hidden_in)
    hidden = weights["R"].shape[-1]
    attrs = {"hidden_size": hidden, "activations": ["Sigmoid", act, act]}
    y = _emit_recurrent(b, op, "LSTM", seq, weights, attrs, 1)
    _finish_single(b, op, y, time_major)


def _finish_single(b: Builder, op: Operator, y: str, time_major: bool) -> None:
    """Y (T, 1, B, H) -> the TFLite output (T, B, H) or (B, T, H)."""
    name = b.name_of(op.outputs[0])
    out = (op.outputs[0], layout.identity(3))
    target = out if time_major else b.temp(f"{name}__time_major")
    b.emit("Squeeze", [y, _ints_param(b, [1], "squeeze_axes")], outputs=[target])
    if not time_major:
        b.set_encoding_of(target, op.outputs[0])
        b.emit("Transpose", [target], {"perm": [1, 0, 2]}, outputs=[out])


@converter("BIDIRECTIONAL_SEQUENCE_LSTM")
def bidirectional_sequence_lstm(b: Builder, op: Operator) -> None:
    act, time_major = _check_lstm_options(op, range(0))
    if any(_arg(op, i) >= 0 for i in range(39, 48)):
        raise Unsupported("an auxiliary input")
    seq, _, _ = _sequence_in(b, op, _arg(op, 0), time_major)
    hidden_in = b.shape(_arg(op, 0))[-1]
    fw = _lstm_direction(b, op, 1, hidden_in)
    bw = _lstm_direction(b, op, 18, hidden_in)
    if ("P" in fw) != ("P" in bw):
        zeros = np.zeros((1, 3 * fw["R"].shape[-1]), np.float32)
        fw.setdefault("P", zeros)
        bw.setdefault("P", zeros)
    weights = {k: np.concatenate([fw[k], bw[k]]) for k in fw}
    hidden = weights["R"].shape[-1]
    attrs = {
        "hidden_size": hidden,
        "direction": "bidirectional",
        "activations": ["Sigmoid", act, act] * 2,
    }
    y = _emit_recurrent(b, op, "LSTM", seq, weights, attrs, 2)  # (T, 2, B, H)
    name = b.name_of(op.outputs[0])
    steps, batch = (b.shape(_arg(op, 0))[i] for i in ((0, 1) if time_major else (1, 0)))
    merge = bool(op.options.get("merge_outputs", False))
    if merge:
        moved = b.temp(f"{name}__dirs_last")
        b.emit("Transpose", [y], {"perm": [0, 2, 1, 3] if time_major else [2, 0, 1, 3]},
               outputs=[moved])  # fmt: skip
        b.set_encoding_of(moved, op.outputs[0])
        shape = [steps, batch, 2 * hidden] if time_major else [batch, steps, 2 * hidden]
        b.emit("Reshape", [moved, _ints_param(b, shape, "merged_shape")],
               outputs=[(op.outputs[0], layout.identity(3))])  # fmt: skip
        return
    parts = [b.temp(f"{name}__fw"), b.temp(f"{name}__bw")]
    b.emit("Split", [y, _ints_param(b, [1, 1], "dir_split")], {"axis": 1}, outputs=parts)
    for part, out in zip(parts, op.outputs[:2], strict=True):
        b.set_encoding_of(part, out)
        squeezed = b.temp(f"{b.name_of(out)}__squeezed")
        target = (out, layout.identity(3)) if time_major else squeezed
        b.emit("Squeeze", [part, _ints_param(b, [1], "squeeze_axes")], outputs=[target])
        if not time_major:
            b.set_encoding_of(squeezed, out)
            b.emit("Transpose", [squeezed], {"perm": [1, 0, 2]},
                   outputs=[(out, layout.identity(3))])  # fmt: skip


@converter("UNIDIRECTIONAL_SEQUENCE_RNN")
def unidirectional_sequence_rnn(b: Builder, op: Operator) -> None:
    o = op.options
    act = int(o.get("fused_activation_function", _NONE))
    names = {_NONE: "Affine", _RELU: "Relu", _TANH: "Tanh"}
    if act not in names:
        raise Unsupported(f"activation {act}")
    time_major = bool(o.get("time_major", False))
    seq, _, _ = _sequence_in(b, op, _arg(op, 0), time_major)
    w, r = _const_or_none(b, _arg(op, 1)), _const_or_none(b, _arg(op, 2))
    bias = _const_or_none(b, _arg(op, 3))
    if w is None or r is None:
        raise Unsupported("missing weights")
    hidden = w.shape[0]
    bias = np.zeros(hidden, np.float32) if bias is None else bias.reshape(-1)
    weights = {
        "W": w[None],
        "R": r[None],
        "B": np.concatenate([bias, np.zeros(hidden, np.float32)])[None],
    }
    attrs: dict[str, Any] = {"hidden_size": hidden, "activations": [names[act]]}
    if act == _NONE:
        attrs["activation_alpha"] = [1.0]
        attrs["activation_beta"] = [0.0]
    y = _emit_recurrent(b, op, "RNN", seq, weights, attrs, 1)
    _finish_single(b, op, y, time_major)
