"""Elementwise integer kernels: arithmetic by integer rescaling, everything else by table.

* **Add / Sub / Sum** follow TFLite's quantized Add: each input, centered and shifted
  left by ``L`` bits (20 for 8-bit), is rescaled by ``delta_i / (2 * max delta)`` (at most
  1/2), the terms are summed exactly, and the sum is rescaled to the output by
  ``2 * max delta / (2**L * delta_out)`` — every rescale with ``requant``'s multiplier,
  shift and rounding rule. Each term's rounding costs ``2**-L * ratio / 2`` of an output
  step (``ratio = 2 * max delta / delta_out``): 8-bit keeps TFLite's ``L`` (its sums stay
  below ``2**30``); wider operands take int64 terms and ``L = log2(ratio) + 12`` (at most
  ``2**-13`` of a step per term), so an input far coarser than the output (a 4-bit
  constant minus a 16-bit activation) is still added to within one step.
* **Mul**: ``(q1 - zp1) * (q2 - zp2)`` requantized by ``delta1 * delta2 / delta_out``; the
  product is below ``2**16`` for two 8-bit operands and ``2**32`` for two 16-bit ones (an
  int64, requantized by ``requant``'s wide rule: exact).
* For two 8-bit operands the whole function of the two codes is tabulated at plan time
  (256 x 256 entries, computed by the formula above) and run as one lookup per element;
  with a constant scalar operand it is a 256-entry table. Same numbers, fewer passes.
* **Relu / Clip**: an integer rescale to the output encoding, then an integer clamp at
  the output codes of the bounds (the zero point for Relu) — tabulated over every code.
* **Any other one-input function** (Sigmoid, Tanh, HardSwish, Gelu, Exp, Div or Pow by a
  constant...) is a lookup table over all ``2**bw`` input codes computed at plan time
  from the float kernel: ``table[c] = quantize(f(dequantize(c)))``, as fixed-point
  hardware does it (a ``tflite`` container: TFLite's own table rule, ``tflite_lut_codes``,
  and its integer LeakyRelu). With per-channel constants (a PRelu slope, an unfolded
  BatchNormalization, Add or Mul by a per-channel vector) there is one table per channel,
  looked up at ``channel * 2**bw + code``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from workbench.engine.ops.registry import Kernel, prepare
from workbench.engine.quant.encoding import Encoding, dequantize, quantize, round_half_away
from workbench.engine.quant.int_ops import (
    IntContext,
    NotInteger,
    code_range,
    register_int,
    table_kernel,
    zero_point,
)
from workbench.engine.quant.requant import (
    INT32_MAX,
    INT32_MIN,
    quantize_multiplier,
    requantize,
    rescale_table,
)
from workbench.vocabulary import DEFAULT_ROUNDING, TFLITE_ROUNDING

Codes = Callable[..., np.ndarray]


def _left_shift(bitwidth: int, n_inputs: int, ratio: float = 1.0) -> int:
    """Headroom bits ``L`` for the Add formula (module doc).

    Up to 8 bits, TFLite's: the sum of n shifted terms stays below 2**30. Wider: enough
    that a term's rounding is at most ``2**-13`` of an output step, within int64.
    """
    spread = max(1, math.ceil(math.log2(n_inputs)))
    base = min(20, 29 - bitwidth - spread)
    if bitwidth <= 8:
        return base
    need = math.ceil(math.log2(max(ratio, 1.0))) + 12
    return min(max(base, need), 61 - bitwidth - spread)


def add_codes(
    codes: Sequence[np.ndarray],
    encs: Sequence[Encoding],
    signs: Sequence[int],
    out: Encoding,
    rounding: str = DEFAULT_ROUNDING,
) -> np.ndarray:
    """``sum sign_i * x_i`` of quantized inputs, as codes of ``out`` (TFLite's formula)."""
    twice_max = 2.0 * max(e.delta for e in encs)
    bits = max(e.bitwidth for e in encs)
    shift_in = _left_shift(bits, len(encs), twice_max / out.delta)
    lo, hi = (INT32_MIN, INT32_MAX) if bits <= 8 else (-(2**62), 2**62)
    acc: np.ndarray | None = None
    for q, enc, sign in zip(codes, encs, signs, strict=True):
        a = np.asarray(q, dtype=np.int64) - zero_point(enc)
        a <<= shift_in
        m, shift = quantize_multiplier(enc.delta / twice_max)
        term = requantize(a, m, shift, 0, lo, hi, np.int64, rounding)
        if sign < 0:
            np.negative(term, out=term)
        acc = term if acc is None else acc + term
    m, shift = quantize_multiplier(twice_max / (2.0**shift_in * out.delta))
    return requantize(acc, m, shift, zero_point(out), out.qmin, out.qmax, out.dtype, rounding)


def mul_codes(
    q1: np.ndarray,
    e1: Encoding,
    q2: np.ndarray,
    e2: Encoding,
    out: Encoding,
    rounding: str = DEFAULT_ROUNDING,
) -> np.ndarray:
    """``x1 * x2`` of quantized inputs, as codes of ``out``."""
    acc = (np.asarray(q1, dtype=np.int64) - zero_point(e1)) * (
        np.asarray(q2, dtype=np.int64) - zero_point(e2)
    )
    m, shift = quantize_multiplier(e1.delta * e2.delta / out.delta)
    return requantize(acc, m, shift, zero_point(out), out.qmin, out.qmax, out.dtype, rounding)


def _is_byte(enc: Encoding) -> bool:
    return enc.dtype == np.uint8


def _rank(ictx: IntContext, i: int) -> int | None:
    info = ictx.op.inputs[i] if i < len(ictx.op.inputs) else None
    return None if info is None else len(info.shape)


def _channel_axis(shape: tuple[int, ...], rank: int) -> tuple[int, int] | None:
    """``(axis, length)`` when a constant of ``shape``, broadcast against a rank-``rank``
    tensor, varies along exactly one axis (a per-channel constant)."""
    if len(shape) > rank:
        return None
    aligned = (1,) * (rank - len(shape)) + tuple(shape)
    varying = [i for i, d in enumerate(aligned) if d != 1]
    return (varying[0], aligned[varying[0]]) if len(varying) == 1 else None


def channel_table_kernel(table: np.ndarray, axis: int, rank: int, arg: int = 0) -> Kernel:
    """Look code ``c`` of channel ``k`` (along ``axis``) up in ``table[k, c]``; input ``arg``."""
    n, ncodes = table.shape
    shape = [1] * rank
    shape[axis] = n
    base = (np.arange(n, dtype=np.int32) * ncodes).reshape(shape)
    flat = np.ascontiguousarray(table).reshape(-1)

    def run(*args: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.take(flat, np.add(args[arg], base, dtype=np.int32)),)

    return run


_MAX_TABLE = 1 << 22  # entries of a per-channel table


def _binary_kernel(ictx: IntContext, fn: Codes, e1: Encoding, e2: Encoding) -> Kernel:
    """Run ``fn(codes1, codes2)`` as a table when the operands allow it, else directly.

    A constant scalar operand makes a one-input table; a per-channel constant, one table
    per channel; two 8-bit activations, a 256 x 256 table.
    """
    consts = (ictx.const(0), ictx.const(1))
    encs = (e1, e2)
    for k in (0, 1):  # k: the constant operand, 1 - k: the activation
        const, act = consts[k], 1 - k
        if const is None or consts[act] is not None:
            continue
        codes = code_range(encs[act])
        if const.size == 1:
            c = const.reshape(-1)
            table = fn(codes, c) if k == 1 else fn(c, codes)
            return _scalar_table_kernel(table, const.shape, act)
        rank = _rank(ictx, act)
        found = None if rank is None else _channel_axis(const.shape, rank)
        if found is not None and found[1] * codes.size <= _MAX_TABLE:
            axis, n = found
            c = const.reshape(n, 1)
            table = fn(codes[None, :], c) if k == 1 else fn(c, codes[None, :])
            return channel_table_kernel(table, axis, rank, act)
    if _is_byte(e1) and _is_byte(e2):
        table = fn(np.arange(256)[:, None], np.arange(256)[None, :]).reshape(-1)

        def run_table(q1: np.ndarray, q2: np.ndarray) -> tuple[np.ndarray, ...]:
            idx = q1.astype(np.uint16)
            idx <<= 8
            return (np.take(table, np.bitwise_or(idx, q2)),)

        return run_table
    return lambda q1, q2: (fn(q1, q2),)


def _scalar_table_kernel(table: np.ndarray, const_shape: tuple[int, ...], arg: int) -> Kernel:
    def run(*args: np.ndarray) -> tuple[np.ndarray, ...]:
        q = args[arg]
        y = np.take(table, q)
        # A (1, 1, 1) constant may add dimensions, never elements.
        if len(const_shape) > q.ndim:
            y = y.reshape(np.broadcast_shapes(q.shape, const_shape))
        return (y,)

    return run


def _add_like(signs: tuple[int, int]) -> Callable[[IntContext], Kernel]:
    def prepare_add(ictx: IntContext) -> Kernel:
        e1, e2, out = ictx.act(0), ictx.act(1), ictx.out(0)

        def fn(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
            return add_codes((q1, q2), (e1, e2), signs, out, ictx.rounding)

        return _binary_kernel(ictx, fn, e1, e2)

    return prepare_add


register_int("Add")(_add_like((1, 1)))
register_int("Sub")(_add_like((1, -1)))


@register_int("Mul")
def mul(ictx: IntContext) -> Kernel:
    e1, e2, out = ictx.act(0), ictx.act(1), ictx.out(0)

    def fn(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
        return mul_codes(q1, e1, q2, e2, out, ictx.rounding)

    return _binary_kernel(ictx, fn, e1, e2)


@register_int("Sum")
def sum_(ictx: IntContext) -> Kernel:
    n = len(ictx.node.inputs)
    encs = [ictx.act(i) for i in range(n)]
    out = ictx.out(0)
    if n == 2:
        return _add_like((1, 1))(ictx)
    signs = (1,) * n
    if n == 1:
        return table_kernel(add_codes((code_range(encs[0]),), encs, signs, out, ictx.rounding))
    return lambda *qs: (add_codes(qs, encs, signs, out, ictx.rounding),)


# -- clamps ---------------------------------------------------------------------------


def _clamp_table(
    enc: Encoding,
    out: Encoding,
    lo: float | None,
    hi: float | None,
    rounding: str = DEFAULT_ROUNDING,
) -> np.ndarray:
    """Every input code rescaled to ``out``, then clamped at the output codes of the bounds.

    Clamping after the rescale is exact: quantization is monotone, so
    ``quantize(clip(x, lo, hi)) == clip(quantize(x), quantize(lo), quantize(hi))``.
    """
    codes = code_range(enc)
    table = rescale_table(
        zero_point(enc),
        int(codes[0]),
        int(codes[-1]),
        enc.delta / out.delta,
        zero_point(out),
        out.qmin,
        out.qmax,
        rounding=rounding,
    )
    bounds = [None if v is None else int(quantize(np.float32(v), out, rounding)) for v in (lo, hi)]
    if bounds != [None, None]:
        table = np.clip(table, *bounds).astype(table.dtype)
    return table


@register_int("Relu")
def relu(ictx: IntContext) -> Kernel:
    return table_kernel(_clamp_table(ictx.act(0), ictx.out(0), 0.0, None, ictx.rounding))


def _bound(value: np.ndarray | float | None) -> float | None:
    if value is None:
        return None
    v = float(np.asarray(value, dtype=np.float64).reshape(-1)[0])
    return None if math.isinf(v) else v


@register_int("Clip")
def clip(ictx: IntContext) -> Kernel:
    enc, out = ictx.act(0), ictx.out(0)
    if ictx.op.opset < 11:
        lo, hi = ictx.attr("min", None), ictx.attr("max", None)
    else:
        bounds = []
        for i in (1, 2):
            if ictx.has_input(i) and ictx.float_op.const(i) is None:
                raise NotInteger("Clip bounds are not constant")
            bounds.append(ictx.float_op.const(i) if ictx.has_input(i) else None)
        lo, hi = bounds
    lo, hi = _bound(lo), _bound(hi)
    if lo is not None and hi is not None and lo > hi:
        lo = hi  # ONNX: min(max(x, lo), hi) is hi everywhere
    return table_kernel(_clamp_table(enc, out, lo, hi, ictx.rounding))


# -- lookup tables from float functions -------------------------------------------------

_TABLE_OPS = (
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Gelu",
    "Erf",
    "Elu",
    "Celu",
    "Selu",
    "Softplus",
    "Softsign",
    "Mish",
    "LeakyRelu",
    "ThresholdedRelu",
    "PRelu",
    "Exp",
    "Log",
    "Sqrt",
    "Reciprocal",
    "Neg",
    "Abs",
    "Floor",
    "Ceil",
    "Round",
    "Sign",
    "Sin",
    "Cos",
    "Div",
    "Pow",
)


def _constant_inputs(ictx: IntContext) -> list[np.ndarray | None]:
    """Inputs 1.. as float constants (``None`` where omitted); ``NotInteger`` if one is not."""
    if ictx.in_enc(0) is None or ictx.const(0) is not None:
        raise NotInteger("the first input is not a quantized activation")
    values = []
    for i in range(1, len(ictx.node.inputs)):
        value = ictx.float_op.const(i) if ictx.has_input(i) else None
        if ictx.has_input(i) and value is None:
            raise NotInteger(f"input {i} is not a constant")
        values.append(value)
    return values


def float_table(
    ictx: IntContext, enc: Encoding, out: Encoding, channels: tuple[int, int, int] | None = None
) -> np.ndarray:
    """``quantize(f(dequantize(c)))`` for every code ``c``, with the node's float kernel as f.

    ``channels = (axis, n, rank)`` evaluates f once per channel (per-channel constants):
    the result is then ``(n, codes)``.
    """
    extra = _constant_inputs(ictx)
    kernel = prepare(ictx.float_op)
    x = dequantize(code_range(enc).astype(enc.dtype), enc)
    ncodes = x.shape[0]
    if channels is not None:
        axis, n, rank = channels
        free = 0 if axis != 0 else rank - 1  # codes run along another axis
        shape = [1] * rank
        shape[free] = ncodes
        grid = np.broadcast_to(
            x.reshape(shape), [n if i == axis else d for i, d in enumerate(shape)]
        )
        x = np.ascontiguousarray(grid)
    with np.errstate(all="ignore"):
        y = np.asarray(kernel(x, *extra)[0], dtype=np.float64)
    if y.shape != x.shape:
        raise NotInteger("not an elementwise function of its input")
    if channels is not None:
        y = np.moveaxis(y, (axis, free), (0, 1)).reshape(n, ncodes)
    big = 2.0 * max(abs(out.min), abs(out.max)) + 1.0
    y = np.nan_to_num(y, nan=0.0, posinf=big, neginf=-big).clip(-big, big)
    if ictx.rounding == TFLITE_ROUNDING:
        return tflite_lut_codes(y, out)
    return quantize(y.astype(np.float32), out, ictx.rounding)


def tflite_lut_codes(y: np.ndarray, out: Encoding) -> np.ndarray:
    """TFLite's lookup-table entries (``LUTPopulate``): ``round(y * (1 / scale))`` in float32,
    half away, plus the zero point, clamped: a multiplication by the float32 reciprocal
    where ``quantize`` divides (the two part at some codes)."""
    inverse = np.float32(1.0) / np.float32(out.delta)
    v = round_half_away(np.multiply(y.astype(np.float32), inverse, dtype=np.float32))
    v -= out.offset
    np.clip(v, out.qmin, out.qmax, out=v)
    return v.astype(out.dtype)


def tflite_leaky_relu_table(enc: Encoding, out: Encoding, alpha: float) -> np.ndarray:
    """TFLite's int8 LEAKY_RELU over every code: ``x - zp`` requantized by the identity
    multiplier where it is not negative, by the alpha one where it is (each computed in
    float32, as TFLite's Prepare does), both rounded twice (``requant.tflite_multiply``)."""
    f32 = np.float32
    centered = code_range(enc) - zero_point(enc)
    identity = float(f32(enc.delta) / f32(out.delta))
    scaled = float(f32(f32(enc.delta) * f32(alpha)) / f32(out.delta))
    bounds = (zero_point(out), out.qmin, out.qmax, out.dtype, TFLITE_ROUNDING)
    up = requantize(centered, *quantize_multiplier(identity), *bounds)
    down = requantize(centered, *quantize_multiplier(scaled), *bounds)
    return np.where(centered >= 0, up, down)


@register_int(*_TABLE_OPS)
def lookup(ictx: IntContext) -> Kernel:
    enc, out = ictx.act(0), ictx.out(0)
    extra = _constant_inputs(ictx)
    if ictx.node.op_type == "LeakyRelu" and ictx.rounding == TFLITE_ROUNDING:
        return table_kernel(tflite_leaky_relu_table(enc, out, float(ictx.attr("alpha", 0.01))))
    if all(v is None or v.size == 1 for v in extra):
        return table_kernel(float_table(ictx, enc, out))
    # Per-channel constants (a PRelu slope, Div by a per-channel scale): one table each.
    rank = _rank(ictx, 0)
    axes = {
        None if rank is None else _channel_axis(v.shape, rank)
        for v in extra
        if v is not None and v.size > 1
    }
    if len(axes) != 1 or None in axes:
        raise NotInteger("constant inputs vary along more than one axis")
    axis, n = axes.pop()
    if n * (enc.qmax + 1) > _MAX_TABLE:
        raise NotInteger("too many channels for per-channel tables")
    return channel_table_kernel(float_table(ictx, enc, out, (axis, n, rank)), axis, rank)


@register_int("BatchNormalization")
def batch_norm(ictx: IntContext) -> Kernel:
    """An unfolded BatchNormalization (inference): a per-channel affine map, one table per channel."""
    enc, out = ictx.act(0), ictx.out(0)
    if sum(1 for o in ictx.node.outputs if o) > 1:
        raise NotInteger("BatchNormalization in training mode")
    _constant_inputs(ictx)
    rank = _rank(ictx, 0)
    if rank is None or rank < 2:
        raise NotInteger("BatchNormalization input rank unknown")
    n = int(ictx.op.inputs[0].shape[1])
    if n * (enc.qmax + 1) > _MAX_TABLE:
        raise NotInteger("too many channels for per-channel tables")
    return channel_table_kernel(float_table(ictx, enc, out, (1, n, rank)), 1, rank)
