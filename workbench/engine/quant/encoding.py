"""Encodings: the TF / AIMET fixed-point arithmetic, small enough to check by hand.

The rules (SPEC §3)::

    levels = 2**bitwidth - 1
    delta  = (max - min) / levels               the scale
    offset = round(min / delta)                 an integer, <= 0
    q      = clamp(round(x / delta) - offset, 0, levels)
    x_hat  = (q + offset) * delta

``round`` is a **rounding mode**, recorded in a quantized container (its manifest's
``rounding``): ``half-away`` (ties away from zero, ``round_half_away``; the default) or
``half-even`` (ties to even, ``round_half_even``: what ONNX ``QuantizeLinear``, so ONNX
Runtime, does). Half away from zero is the rule of the vendor's fixed-point quantizer:
the TF-style quantization library SNPE's ``snpe-dlc-quantize`` and AIMET share rounds
with C ``round()`` (AIMET ``ModelOptimizations/DlQuantization/src/trim_functions.cpp``,
``quantizeValueCpu``, ``ROUND_NEAREST``); the SNPE and QNN documentation do not state a
tie rule. The mode decides how values are quantized (``quantize``, ``fake_quantize``);
an encoding's own ``offset = round(min / delta)`` is always computed half away.

Conventions decided here:

* **Minimum range.** A tf range is first extended to include 0, then made at
  least ``MIN_RANGE`` (0.01) wide by raising ``max`` (AIMET's
  ``max = max(max, min + 0.01)``): all-zero data gives ``[0, 0.01]``.
  A symmetric range is made at least 0.01 wide too: ``absmax >= 0.005``.
* **Zero is exact.** ``offset`` is an integer, so ``min' = offset * delta`` and
  ``max' = min' + levels * delta`` put 0 on the grid (q = -offset).
* **Symmetric storage.** Symmetric encodings use ``delta = absmax / (2**(bw-1) - 1)``
  and ``offset = -2**(bw-1)`` (8-bit: ``/127`` and ``-128``). Integers are stored
  unsigned like every other encoding (q in [0, 255], zero at 128); ``to_signed``
  gives the equivalent two's-complement view ``q - 128`` (int8) whose offset is 0.
* **32-bit bias** is the one signed storage: int32, offset 0,
  ``delta = in_delta * w_delta``. It must fit: with 16-bit activations and weights that
  scale is so fine (``2**-32`` of the two ranges) that a bias of ordinary size lands past
  ``2**31``, and clamping it would be a wrong bias. ``fit_weight_for_bias`` widens the
  weight's delta (per channel where the weight is per channel) just enough that
  ``|bias| / (in_delta * w_delta) <= BIAS32_LIMIT``: a 16-bit weight loses a fraction of
  one of its 65536 steps, the bias keeps its value.
* **Precision.** quantize / dequantize / fake_quantize compute in float32 with
  ``float32(delta)`` (whole activation tensors run through them); 32-bit bias in
  float64 because its integers need more than float32's 24 bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import BadInput
from workbench.vocabulary import DEFAULT_ROUNDING, HALF_AWAY, HALF_EVEN, ROUNDING_MODES

MIN_RANGE = 0.01
# Encodings are used in float32: deltas must be normal float32 numbers, ranges finite.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)
FLOAT32_MAX = float(np.finfo(np.float32).max)
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
BIAS32_LIMIT = INT32_MAX - 2**8  # |bias / delta| a 32-bit bias may reach (float64 margin)


def check_rounding(mode: str) -> str:
    """``mode`` if it is one of ``ROUNDING_MODES``, else ``BadInput``."""
    if mode not in ROUNDING_MODES:
        raise BadInput(f"rounding must be one of {', '.join(ROUNDING_MODES)}, got {mode!r}")
    return mode


def round_half_away(v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (2.5 -> 3, -2.5 -> -3).

    Exact for every float: ``v - trunc(v)`` and its double are exact, and their
    truncation is -1, 0 or +1 (``floor(x + 0.5)`` would turn 0.49999997 into 1).
    """
    v = np.asarray(v)
    if v.ndim == 0:  # numpy ufuncs hand back scalars, not arrays, for 0-d input
        return round_half_away(v.reshape(1))[0]
    t = np.trunc(v)
    frac = np.subtract(v, t)
    frac += frac
    np.trunc(frac, out=frac)
    return np.add(t, frac, out=out)


def round_half_even(v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Round to the nearest integer, halves to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2)."""
    v = np.asarray(v)
    if v.ndim == 0:
        return np.rint(v.reshape(1))[0]
    return np.rint(v, out=out)


def round_to_int(v: np.ndarray, rounding: str, out: np.ndarray | None = None) -> np.ndarray:
    """``round_half_away`` or ``round_half_even`` by ``rounding`` (``ROUNDING_MODES``; TFLite
    rounds onto a grid with ``std::round``: half away)."""
    if rounding == HALF_EVEN:
        return round_half_even(v, out=out)
    if rounding != HALF_AWAY:
        check_rounding(rounding)
    return round_half_away(v, out=out)


def _label(name: str | None) -> str:
    return f"tensor '{name}'" if name else "tensor"


def check_bitwidth(bitwidth: int) -> int:
    if isinstance(bitwidth, bool) or int(bitwidth) != bitwidth or not 2 <= bitwidth <= 16:
        raise BadInput(f"bitwidth must be an integer from 2 to 16 (4, 8 or 16), got {bitwidth!r}")
    return int(bitwidth)


def _storage_dtype(bitwidth: int) -> type[np.integer]:
    if bitwidth == 32:
        return np.int32
    return np.uint8 if bitwidth <= 8 else np.uint16


def _storage_bounds(bitwidth: int) -> tuple[int, int]:
    if bitwidth == 32:
        return INT32_MIN, INT32_MAX
    return 0, 2**bitwidth - 1


@dataclass(frozen=True)
class Encoding:
    """One tensor's fixed-point format: ``x_hat = (q + offset) * delta``."""

    min: float
    max: float
    delta: float
    offset: int
    bitwidth: int = 8
    symmetric: bool = False

    def __post_init__(self) -> None:
        # Plain Python numbers only, so the value is hashable and JSON-able.
        object.__setattr__(self, "min", float(self.min))
        object.__setattr__(self, "max", float(self.max))
        object.__setattr__(self, "delta", float(self.delta))
        object.__setattr__(self, "offset", int(self.offset))
        object.__setattr__(self, "bitwidth", int(self.bitwidth))
        object.__setattr__(self, "symmetric", bool(self.symmetric))
        check_float32_grid(self.min, self.max, self.delta)

    @property
    def scale(self) -> float:
        return self.delta

    @property
    def zero_point(self) -> int:
        """The ONNX QuantizeLinear zero point of the stored integers (``-offset``)."""
        return -self.offset

    @property
    def levels(self) -> int:
        return 2**self.bitwidth - 1

    @property
    def qmin(self) -> int:
        return _storage_bounds(self.bitwidth)[0]

    @property
    def qmax(self) -> int:
        return _storage_bounds(self.bitwidth)[1]

    @property
    def dtype(self) -> np.dtype:
        """The storage dtype of quantized values (uint8 also holds 4-bit values)."""
        return np.dtype(_storage_dtype(self.bitwidth))

    def to_dict(self) -> dict[str, Any]:
        return {
            "min": self.min,
            "max": self.max,
            "delta": self.delta,
            "offset": self.offset,
            "bitwidth": self.bitwidth,
            "symmetric": self.symmetric,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Encoding:
        """Read ``to_dict()`` output back, checking it (stored encodings come from files)."""
        if not isinstance(data, dict):
            raise BadInput(f"malformed encoding: expected an object, got {type(data).__name__}")
        missing = [k for k in ("min", "max", "delta", "offset") if k not in data]
        if missing:
            raise BadInput(f"malformed encoding: missing {', '.join(missing)}")
        bitwidth = _stored_bitwidth(data.get("bitwidth", 8))
        values = [_stored_number(data[k], k) for k in ("min", "max", "delta")]
        offset = _stored_offset(data["offset"], bitwidth)
        _check_scalar_grid(*values)  # plain floats: containers hold hundreds of these
        symmetric = data.get("symmetric", False)
        if not isinstance(symmetric, bool):
            raise BadInput(
                f"malformed encoding: 'symmetric' must be true or false, got {symmetric!r}"
            )
        return cls(*values, offset, bitwidth, symmetric)


@dataclass(frozen=True, eq=False)
class ChannelEncoding:
    """Per-channel encodings along ``axis``: one (min, max, delta, offset) per channel."""

    axis: int
    min: np.ndarray
    max: np.ndarray
    delta: np.ndarray
    offset: np.ndarray
    bitwidth: int = 8
    symmetric: bool = True

    def __post_init__(self) -> None:
        for field, dtype in (("min", np.float64), ("max", np.float64), ("delta", np.float64)):
            object.__setattr__(self, field, _frozen(getattr(self, field), dtype))
        object.__setattr__(self, "offset", _frozen(self.offset, np.int64))
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "bitwidth", int(self.bitwidth))
        object.__setattr__(self, "symmetric", bool(self.symmetric))
        sizes = {a.shape for a in (self.min, self.max, self.delta, self.offset)}
        if len(sizes) != 1 or len(next(iter(sizes))) != 1:
            raise BadInput("per-channel encoding arrays must be 1-D and of one length")
        check_float32_grid(self.min, self.max, self.delta)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChannelEncoding):
            return NotImplemented
        return (self.axis, self.bitwidth, self.symmetric) == (
            other.axis,
            other.bitwidth,
            other.symmetric,
        ) and all(
            np.array_equal(getattr(self, f), getattr(other, f))
            for f in ("min", "max", "delta", "offset")
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays

    def __len__(self) -> int:
        return int(self.delta.shape[0])

    @property
    def scale(self) -> np.ndarray:
        return self.delta

    @property
    def zero_point(self) -> np.ndarray:
        return -self.offset

    @property
    def levels(self) -> int:
        return 2**self.bitwidth - 1

    @property
    def qmin(self) -> int:
        return _storage_bounds(self.bitwidth)[0]

    @property
    def qmax(self) -> int:
        return _storage_bounds(self.bitwidth)[1]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_storage_dtype(self.bitwidth))

    def channel(self, i: int) -> Encoding:
        """The encoding of channel ``i`` alone."""
        return Encoding(
            self.min[i], self.max[i], self.delta[i], self.offset[i], self.bitwidth, self.symmetric
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "min": self.min.tolist(),
            "max": self.max.tolist(),
            "delta": self.delta.tolist(),
            "offset": self.offset.tolist(),
            "bitwidth": self.bitwidth,
            "symmetric": self.symmetric,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelEncoding:
        """Read ``to_dict()`` output back, checking it (stored encodings come from files)."""
        where = "malformed per-channel encoding"
        if not isinstance(data, dict):
            raise BadInput(f"{where}: expected an object, got {type(data).__name__}")
        missing = [k for k in ("axis", "min", "max", "delta", "offset") if k not in data]
        if missing:
            raise BadInput(f"{where}: missing {', '.join(missing)}")
        axis = data["axis"]
        if not _is_int(axis) or axis < 0:
            raise BadInput(f"{where}: 'axis' must be a non-negative integer, got {axis!r}")
        bitwidth = _stored_bitwidth(data.get("bitwidth", 8))
        lists = {k: data[k] for k in ("min", "max", "delta", "offset")}
        if not all(isinstance(v, list) and v for v in lists.values()):
            raise BadInput(f"{where}: min, max, delta and offset must be non-empty lists")
        if len({len(v) for v in lists.values()}) != 1:
            raise BadInput(f"{where}: min, max, delta and offset differ in length")
        mn, mx, delta = (_stored_numbers(lists[k], k) for k in ("min", "max", "delta"))
        offset = _stored_offsets(lists["offset"], bitwidth)
        _check_grid(mn, mx, delta)
        symmetric = data.get("symmetric", True)
        if not isinstance(symmetric, bool):
            raise BadInput(f"{where}: 'symmetric' must be true or false, got {symmetric!r}")
        return cls(int(axis), mn, mx, delta, offset, bitwidth, symmetric)


AnyEncoding = Encoding | ChannelEncoding


def _frozen(values: Any, dtype: type) -> np.ndarray:
    arr = np.array(values, dtype=dtype).reshape(-1)
    arr.flags.writeable = False
    return arr


def encoding_from_dict(data: dict[str, Any]) -> AnyEncoding:
    """Read either form back from ``to_dict()`` output (``BadInput`` if it is malformed)."""
    if not isinstance(data, dict):
        raise BadInput(f"malformed encoding: expected an object, got {type(data).__name__}")
    return ChannelEncoding.from_dict(data) if "axis" in data else Encoding.from_dict(data)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_float32_grid(min_: Any, max_: Any, delta: Any) -> None:
    """``BadInput`` unless every delta is positive and within float32's normal range and
    every min/max is finite in float32: the runtimes compute in float32, where a delta
    of 1e300 is infinity (all-NaN outputs) and one of 5e-324 is zero."""
    d = np.asarray(delta, dtype=np.float64)
    ends = np.abs(np.concatenate([np.ravel(min_), np.ravel(max_)]).astype(np.float64))
    if not ((d >= FLOAT32_TINY) & (d <= FLOAT32_MAX)).all():
        bad = d.ravel()[~((d.ravel() >= FLOAT32_TINY) & (d.ravel() <= FLOAT32_MAX))][0]
        raise BadInput(
            f"malformed encoding: delta {bad:.6g} is not a positive number within float32's "
            f"normal range [{FLOAT32_TINY:.6g}, {FLOAT32_MAX:.6g}]"
        )
    if not (ends <= FLOAT32_MAX).all():
        bad = ends[~(ends <= FLOAT32_MAX)][0]
        raise BadInput(f"malformed encoding: range end {bad:.6g} is beyond float32's range")


def _stored_number(value: Any, key: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise BadInput(f"malformed encoding: {key!r} must be a number, got {_short(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise BadInput(
            f"malformed encoding: {key!r} is out of range, got {_short(value)}"
        ) from None
    if not math.isfinite(number):
        raise BadInput(f"malformed encoding: {key!r} must be finite, got {_short(value)}")
    return number


def _plain_array(values: list[Any], kinds: str) -> np.ndarray | None:
    """``values`` as one array when they are all plain numbers of ``kinds`` (else None:
    the element-wise checks then name the bad one). Containers hold thousands of these."""
    if not set(map(type, values)) <= {int, float}:  # as JSON gives them; no bool
        return None
    try:
        arr = np.array(values)
    except (ValueError, TypeError):
        return None
    return arr if arr.ndim == 1 and arr.dtype.kind in kinds else None


def _stored_numbers(values: list[Any], key: str) -> np.ndarray:
    arr = _plain_array(values, "iuf")
    if arr is not None:
        arr = arr.astype(np.float64)
        if np.isfinite(arr).all():
            return arr
    return np.array([_stored_number(x, key) for x in values], dtype=np.float64)


def _stored_offsets(values: list[Any], bitwidth: int) -> np.ndarray:
    arr = _plain_array(values, "iu")
    low = INT32_MIN if bitwidth == 32 else -(2**bitwidth - 1)
    high = INT32_MAX if bitwidth == 32 else 0
    if arr is not None and arr.size and low <= arr.min() and arr.max() <= high:
        return arr.astype(np.int64)
    return np.array([_stored_offset(x, bitwidth) for x in values], dtype=np.int64)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _stored_bitwidth(value: Any) -> int:
    if not _is_int(value) or not (2 <= value <= 16 or value == 32):
        raise BadInput(f"malformed encoding: bitwidth must be 2 to 16 or 32, got {_short(value)}")
    return int(value)


def _stored_offset(value: Any, bitwidth: int) -> int:
    low = INT32_MIN if bitwidth == 32 else -(2**bitwidth - 1)
    high = INT32_MAX if bitwidth == 32 else 0
    if not _is_int(value) or not low <= value <= high:
        raise BadInput(
            f"malformed encoding: offset must be an integer in [{low}, {high}] for "
            f"{bitwidth} bits, got {_short(value)}"
        )
    return int(value)


def _check_scalar_grid(mn: float, mx: float, delta: float) -> None:
    if not delta > 0:
        raise BadInput("malformed encoding: delta must be positive")
    if not mn <= mx:
        raise BadInput("malformed encoding: min is above max")


def _check_grid(mn: np.ndarray, mx: np.ndarray, delta: np.ndarray) -> None:
    if not (delta > 0).all():
        raise BadInput("malformed encoding: delta must be positive")
    if not (mn <= mx).all():
        raise BadInput("malformed encoding: min is above max")


# ---------------------------------------------------------------- the tf rule


def tf_rule(
    min_: np.ndarray, max_: np.ndarray, bitwidth: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tf rule on arrays of ranges: ``(min', max', delta, offset)``, vectorized.

    Include 0; make the range at least ``MIN_RANGE`` by raising max; delta is
    ``range / levels``; ``offset = round(min / delta)``; shift both ends onto the grid.
    """
    levels = 2**bitwidth - 1
    lo = np.minimum(np.asarray(min_, dtype=np.float64), 0.0)
    hi = np.maximum(np.asarray(max_, dtype=np.float64), 0.0)
    hi = np.maximum(hi, lo + MIN_RANGE)
    delta = (hi - lo) / levels
    offset = np.clip(round_half_away(lo / delta), -levels, 0).astype(np.int64)
    new_min = offset * delta
    return new_min, (offset + levels) * delta, delta, offset


def tf_encoding(min: float, max: float, bitwidth: int = 8, name: str | None = None) -> Encoding:
    """The TF / AIMET asymmetric encoding of the observed range [min, max]."""
    bitwidth = check_bitwidth(bitwidth)
    if not (math.isfinite(min) and math.isfinite(max)):
        raise BadInput(f"{_label(name)} has NaN or Inf values (range [{min}, {max}])")
    if min > max:
        raise BadInput(f"{_label(name)}: encoding range min {min} is above max {max}")
    lo, hi, delta, offset = tf_rule(min, max, bitwidth)
    return Encoding(lo, hi, delta, offset, bitwidth, symmetric=False)


def tf_encoding_of(x: np.ndarray, bitwidth: int = 8, name: str | None = None) -> Encoding:
    """The tf encoding of a whole tensor's min/max (of its finite values: ±inf, a mask,
    is clamped to the range when quantized; NaN is refused)."""
    x = np.asarray(x)
    if x.size and x.dtype.kind == "f" and not np.isfinite(x).all():
        if np.isnan(x).any():
            raise BadInput(f"{_label(name)} has NaN values")
        x = x[np.isfinite(x)]
    if x.size == 0:
        raise BadInput(f"{_label(name)} is empty: no range to encode")
    return tf_encoding(float(x.min()), float(x.max()), bitwidth, name)


def symmetric_encoding(absmax: float, bitwidth: int = 8, name: str | None = None) -> Encoding:
    """Symmetric: ``delta = absmax / (2**(bw-1) - 1)``, ``offset = -2**(bw-1)``."""
    bitwidth = check_bitwidth(bitwidth)
    if not math.isfinite(absmax):
        raise BadInput(f"{_label(name)} has NaN or Inf values (absmax {absmax})")
    half = 2 ** (bitwidth - 1)
    delta = max(abs(absmax), MIN_RANGE / 2) / (half - 1)
    return Encoding(-half * delta, (half - 1) * delta, delta, -half, bitwidth, symmetric=True)


def per_channel_symmetric(
    weights: np.ndarray, axis: int = 0, bitwidth: int = 8, name: str | None = None
) -> ChannelEncoding:
    """One symmetric encoding per slice along ``axis`` (the output channels of a weight)."""
    bitwidth = check_bitwidth(bitwidth)
    w = np.asarray(weights)
    if w.ndim == 0 or not -w.ndim <= axis < w.ndim:
        raise BadInput(f"{_label(name)}: no axis {axis} in a tensor of shape {w.shape}")
    axis %= w.ndim
    others = tuple(i for i in range(w.ndim) if i != axis)
    if w.size == 0:
        raise BadInput(f"{_label(name)} is empty: no range to encode")
    absmax = np.maximum(np.max(w, axis=others), -np.min(w, axis=others)).astype(np.float64)
    if not np.isfinite(absmax).all():
        bad = int(np.flatnonzero(~np.isfinite(absmax))[0])
        raise BadInput(f"{_label(name)} has NaN or Inf values (channel {bad})")
    half = 2 ** (bitwidth - 1)
    delta = np.maximum(absmax, MIN_RANGE / 2) / (half - 1)
    return ChannelEncoding(
        axis=axis,
        min=-half * delta,
        max=(half - 1) * delta,
        delta=delta,
        offset=np.full(delta.shape, -half, dtype=np.int64),
        bitwidth=bitwidth,
        symmetric=True,
    )


def bias_encoding_32bit(in_delta: float, w_delta: float | np.ndarray) -> AnyEncoding:
    """32-bit bias: ``delta = in_delta * w_delta`` (per channel when w is), offset 0, int32."""
    delta = np.float64(in_delta) * np.asarray(w_delta, dtype=np.float64)
    if not (np.isfinite(delta).all() and (delta > 0).all()):
        raise BadInput(f"32-bit bias needs positive finite scales, got {in_delta} x {w_delta}")
    if delta.ndim == 0:
        d = float(delta)
        return Encoding(INT32_MIN * d, INT32_MAX * d, d, 0, 32, symmetric=True)
    return ChannelEncoding(
        axis=0,
        min=INT32_MIN * delta,
        max=INT32_MAX * delta,
        delta=delta,
        offset=np.zeros(delta.shape, dtype=np.int64),
        bitwidth=32,
        symmetric=True,
    )


def fit_weight_for_bias(
    w_enc: AnyEncoding, bias_absmax: np.ndarray | float, in_delta: float
) -> AnyEncoding:
    """``w_enc``, widened where a 32-bit bias of magnitude ``bias_absmax`` would not fit int32.

    ``bias_absmax`` is one value (per-tensor weight: the bias's largest magnitude) or one
    per channel of a ``ChannelEncoding``. A channel needs ``w_delta >= |b| / (in_delta *
    BIAS32_LIMIT)``; where it already has it, nothing changes (the same object comes
    back when no channel needs widening). A per-channel (symmetric) channel takes that
    delta; a per-tensor encoding is scaled by the largest factor needed (symmetric
    stays symmetric, an asymmetric one keeps its offset, the tf rule on ``k * [min, max]``).
    """
    need = np.asarray(bias_absmax, dtype=np.float64) / (float(in_delta) * BIAS32_LIMIT)
    if isinstance(w_enc, ChannelEncoding):
        need = np.broadcast_to(need, w_enc.delta.shape)
        if not np.any(need > w_enc.delta):
            return w_enc
        delta = np.where(need > w_enc.delta, need * (1.0 + 2.0**-40), w_enc.delta)
        lo, hi = w_enc.offset * delta, (w_enc.offset + w_enc.levels) * delta
        return ChannelEncoding(
            w_enc.axis, lo, hi, delta, w_enc.offset, w_enc.bitwidth, w_enc.symmetric
        )
    k = float(np.max(need)) / w_enc.delta
    if not k > 1.0:
        return w_enc
    k *= 1.0 + 2.0**-40  # the rules below recompute delta in float64: stay on the safe side
    if w_enc.symmetric:
        half = 2 ** (w_enc.bitwidth - 1)
        return symmetric_encoding(w_enc.delta * (half - 1) * k, w_enc.bitwidth)
    return tf_encoding(w_enc.min * k, w_enc.max * k, w_enc.bitwidth)


def bias_encoding_8bit(bias: np.ndarray, name: str | None = None) -> Encoding:
    """8-bit bias: its own tf encoding of its min/max."""
    return tf_encoding_of(bias, 8, name)


# ----------------------------------------------------------- the arithmetic


def _params(
    enc: AnyEncoding, x: np.ndarray, dtype: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """delta, offset and the clamp bounds in the ``round(x / delta)`` domain, broadcastable."""
    if isinstance(enc, ChannelEncoding):
        axis = enc.axis
        if x.ndim <= axis or x.shape[axis] != len(enc):
            raise BadInput(
                f"per-channel encoding has {len(enc)} channels on axis {axis}, "
                f"tensor shape is {x.shape}"
            )
        shape = [1] * x.ndim
        shape[axis] = len(enc)
        delta = enc.delta.astype(dtype).reshape(shape)
        offset = enc.offset.astype(dtype).reshape(shape)
    else:
        delta = np.asarray(enc.delta, dtype=dtype)
        offset = np.asarray(enc.offset, dtype=dtype)
    lo = offset + dtype(enc.qmin)
    hi = offset + dtype(enc.qmax)
    return delta, offset, lo, hi


def _work_dtype(enc: AnyEncoding) -> type:
    return np.float64 if enc.bitwidth > 16 else np.float32


def _rounded_levels(
    x: np.ndarray, enc: AnyEncoding, rounding: str = DEFAULT_ROUNDING
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``clamp(round(x / delta), offset + qmin, offset + qmax)`` as floats, plus delta, offset."""
    dtype = _work_dtype(enc)
    x = np.asarray(x, dtype=dtype)
    delta, offset, lo, hi = _params(enc, x, dtype)
    v = np.divide(x.reshape(-1) if x.ndim == 0 else x, delta)  # 0-d would give a scalar
    # Clamped before rounding (the same for finite values: the bounds are integers), so
    # that ±inf (a mask constant) lands on the range's ends rather than becoming NaN.
    # fmax, not clip: NaN takes the lowest level, as ONNX Runtime's QuantizeLinear (and
    # any integer runtime: a code is never NaN) gives it.
    np.fmax(v, lo, out=v)
    np.minimum(v, hi, out=v)
    round_to_int(v, rounding, out=v)
    return v.reshape(x.shape), delta, offset


def quantize(x: np.ndarray, enc: AnyEncoding, rounding: str = DEFAULT_ROUNDING) -> np.ndarray:
    """``q = clamp(round(x / delta) - offset, qmin, qmax)`` in the encoding's storage dtype.

    ``round`` by ``rounding`` (``ROUNDING_MODES``). NaN takes the lowest code (``qmin``),
    as ONNX Runtime's QuantizeLinear gives it.
    """
    v, _, offset = _rounded_levels(x, enc, rounding)
    v -= offset
    return v.astype(_storage_dtype(enc.bitwidth))


def dequantize(q: np.ndarray, enc: AnyEncoding) -> np.ndarray:
    """``x_hat = (q + offset) * delta`` as float32."""
    dtype = _work_dtype(enc)
    q = np.asarray(q)
    delta, offset, _, _ = _params(enc, q, dtype)
    v = q.astype(dtype).reshape(q.shape or (1,))
    v += offset
    v *= delta
    _keep_finite(v, enc)
    return v.astype(np.float32, copy=False).reshape(q.shape)


def fake_quantize(x: np.ndarray, enc: AnyEncoding, rounding: str = DEFAULT_ROUNDING) -> np.ndarray:
    """``dequantize(quantize(x))`` in one float32 pass, bit-identical to the two steps."""
    v, delta, _ = _rounded_levels(x, enc, rounding)
    v *= delta
    _keep_finite(v, enc)
    return v.astype(np.float32, copy=False)


_F32_MAX = float(np.finfo(np.float32).max)


def _keep_finite(v: np.ndarray, enc: AnyEncoding) -> None:
    """An encoding reaching the float32 limit (a ``-FLT_MAX`` attention mask) has an end
    code whose value ``float32(delta) * level`` rounds past it to inf: it is that limit."""
    if v.dtype == np.float32 and max(np.max(np.abs(enc.min)), np.max(np.abs(enc.max))) > 1e38:
        np.clip(v, -_F32_MAX, _F32_MAX, out=v)


def to_signed(q: np.ndarray, enc: AnyEncoding) -> np.ndarray:
    """The two's-complement view of stored integers: ``q - 2**(bw-1)`` (int8 for 8-bit).

    With it the offset becomes ``offset + 2**(bw-1)``: 0 for a symmetric encoding,
    so ``x_hat = s * delta``. 32-bit values are already signed and come back as is.
    """
    q = np.asarray(q)
    if enc.bitwidth == 32:
        return q.astype(np.int32, copy=False)
    signed = np.int8 if enc.bitwidth <= 8 else np.int16
    return (q.astype(np.int32) - 2 ** (enc.bitwidth - 1)).astype(signed)


def from_signed(s: np.ndarray, enc: AnyEncoding) -> np.ndarray:
    """Back from ``to_signed``: the stored unsigned integers."""
    s = np.asarray(s)
    if enc.bitwidth == 32:
        return s.astype(np.int32, copy=False)
    return (s.astype(np.int32) + 2 ** (enc.bitwidth - 1)).astype(_storage_dtype(enc.bitwidth))


def check_finite(x: np.ndarray, name: str | None = None) -> None:
    """BadInput if ``x`` holds NaN or Inf (calibration data, weights)."""
    x = np.asarray(x)
    if x.size and not np.isfinite(x).all():
        n = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise BadInput(f"{_label(name)} has {n} NaN or Inf value(s)")
