"""Fixed-point requantization: an integer accumulator to 8/16-bit codes by multiply and shift.

A real rescale factor (``in_delta * w_delta / out_delta`` for a Conv, ``in_delta /
out_delta`` for a rescale) becomes an int32 multiplier and a right shift, the
gemmlowp / TFLite form::

    real  ~=  M * 2**-(31 + shift),    M in [2**30, 2**31),   shift = -e  where
    real  =   f * 2**e,  f in [0.5, 1)  (frexp),   M = round(f * 2**31)

``shift`` is negative (a left shift) for ``real >= 1``: 1.7 is ``M = round(0.85 * 2**31)``,
``shift = -1``. ``real == 0`` and ``real < 2**-63`` (whose products with any accumulator
below ``2**62`` round to 0) give ``M = 0, shift = 0``. ``real >= 2**30`` is refused. With
``real_q = M * 2**-(31+shift)``, ``|real - real_q| <= real * 2**-31``.

**The rounding rule: one rounding, by the container's rounding mode** (``half-away``, the
default, or ``half-even``; ``vocabulary.ROUNDING_MODES``)::

    s   = 31 + shift                                     (1 <= s <= 93)
    out = clamp(zp + R(acc * M / 2**s), qmin, qmax)
    RHA(p / 2**s) = (p + 2**(s-1) - [p < 0]) >> s        (>> is the arithmetic shift, floor)
    RHE(p / 2**s) = f + [r > 2**(s-1) or (r == 2**(s-1) and f odd)],
                    f = p >> s, r = p - (f << s)

computed exactly in int64. An int32 accumulator (``|acc| < 2**31``) times ``M < 2**31``
stays below ``2**62``: one product, one shift. **Wide accumulators** (16-bit activations
times 16-bit weights reach ``2**47`` and more; see ``int_ops.linear``) and shifts past 62
take the same rule through a split product (``requantize_wide``): ``acc = h * 2**31 + l``
with ``0 <= l < 2**31``, then ``acc * M = (h * M) * 2**31 + l * M`` with both products
below ``2**62``, carried and shifted without ever forming the 93-bit whole; exact for
``|acc| < 2**62``. This is TFLite's single-rounding ``MultiplyByQuantizedMultiplier``
(its ``TFLITE_SINGLE_ROUNDING`` build) with ties away from zero (or to even) instead of
upward. TFLite's default build rounds twice (``SaturatingRoundingDoublingHighMul`` then
``RoundingDivideByPOT``; the ``tflite`` mode below) and can be one off on rare values;
single rounding is exactly ``R(acc * real_q)``, which equals
``round(acc * real)`` except when ``acc * real`` lies within ``|acc * real| * 2**-31`` of a
half, and is never more than 1 LSB from ``acc * real``. The multiplier itself is a
plan-time approximation of a real number (``M = floor(f * 2**31 + 1/2)``), whatever the mode.

**TFLite's arithmetic** (rounding mode ``tflite``): TFLite's int8 kernels requantize an
int32 accumulator with ``MultiplyByQuantizedMultiplier`` (``tflite_multiply``), the same
``M`` and shift (its ``QuantizeMultiplier`` is ``quantize_multiplier``, except that a
right shift past 31 zeroes the multiplier) but rounded twice::

    x = acc * 2**left                                    (left = max(-shift, 0), int32)
    h = (x * M + nudge) / 2**31,  nudge = 2**30 (x*M >= 0) or 1 - 2**30, truncated
                                                         (SaturatingRoundingDoublingHighMul)
    out = RHA(h / 2**right)                              (right = max(shift, 0), RoundingDivideByPOT)

For ``acc * M >= 0`` and ``right >= 1`` this is ``floor(z + 1/2 + 2**-(right + 1))``
(``z = acc * M / 2**s``): one LSB above the single rounding wherever ``z`` lies within
``2**-(right+1)`` below a half, so never the fast path. Accumulators past int32 (16-bit
activations) have no int32 kernel to copy: they take the single rounding, half away.

TFLite's convolutions and matrix products (CONV_2D and FULLY_CONNECTED through
``cpu_backend_gemm``, i.e. ruy's x86 kernels; DEPTHWISE_CONV_2D's and int8 QUANTIZE's
vector kernels, ``vqrdmulh`` then ``vrshl``) round twice too, but both times half up::

    h = (acc * 2**left * M + 2**30) >> 31,   out = (h + 2**(right-1)) >> right   (right >= 1)

which is ``(acc * M + 2**30 + 2**(s-1)) >> s`` for ``right >= 1`` and ``(acc * M +
2**(s-1)) >> s`` otherwise: ``tflite_multiply`` except at negative ties. Being floors
only, it is ``floor(z + 1/2 + c)`` with ``c = 2**-(right+1)`` (0 when ``right = 0``) for
every sign: the fast path below with ``zp + 0.5 + c`` added, exact under the same
product bound and with no tie to rule out. Measured layer by
layer against the interpreter (``tests/perf/tflite_exact.py``): every CONV_2D,
DEPTHWISE_CONV_2D and FULLY_CONNECTED output of the committed fixtures and of
microWakeWord equal to the bit, where ``tflite_multiply`` misses a few negative ties.
The kernels that copy them ask for ``TFLITE_HALF_UP`` (not a container's mode: the
container says ``tflite``, the kernel knows which TFLite kernel it stands for).

**The fast path** (``Requantizer``): the same numbers from four float64 passes instead of
ten int64 ones, used only where a plan-time proof says it is bit-identical:

    y = acc * real_q + (zp + 0.5);  clip(y, qmin, qmax);  truncate

* exact product: for outputs that can land inside ``[qmin, qmax]`` (``|z| <= R``, z the
  rescaled value, R the distance from zp to the far clip end plus 2), ``|acc * M| <=
  R * 2**s`` and ``y * 2**s`` are integers below ``2**53``, so float64 holds them exactly;
  values beyond are at least 2 codes outside the clip range and a relative error of
  ``2**-53`` cannot bring them back;
* no ties: ``floor(z + 0.5)`` differs from ``RHA(z)`` only at a negative exact half (and
  from ``RHE(z)`` only at an exact half), and
  ``acc * M / 2**s`` is a half only if ``2**(s - 1 - v2(M))`` divides ``acc`` (``v2``: the
  power of two in M); a known accumulator bound below that power rules ties out;
* after the clip ``y >= qmin >= 0``, so truncation is floor.

**The wide fast path** (accumulators past ``2**31`` but below ``2**53``, held exactly by
float64): the same float64 passes, whose product is no longer exact (``acc * M`` needs up
to 84 bits). Its error is at most ``2**-52 * (|z| + |zp| + 1)``, so the floor can only be
wrong where ``y`` lies that close to an integer (``z`` that close to a half, ties
included): those elements, and only those that can land inside ``[qmin, qmax]``, are
recomputed with ``requantize`` in the rounding mode. With real data that is about one
element in ``2**30``; the result is bit-identical to ``requantize`` by construction (and
by test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.engine.quant.encoding import check_rounding
from workbench.errors import BadInput
from workbench.vocabulary import DEFAULT_ROUNDING, HALF_EVEN, TFLITE_ROUNDING

# The clip ufunc itself: ``np.clip`` is a Python wrapper around it whose argument handling
# costs more than the pass on the small tensors of a phone-sized layer.
try:
    _clip = np._core.umath.clip  # numpy 2
except AttributeError:  # numpy 1.26
    _clip = np.core.umath.clip

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Multipliers are Q31: real = M * 2**-(31 + shift).
_Q = 31
_MAX_SHIFT_TOTAL = 93  # s = 31 + shift; beyond it every product (|acc| < 2**62) rounds to 0
WIDE_LIMIT = 2**62  # accumulators requantize_wide takes exactly
# TFLite's convolution and matrix-product requantization: two roundings, both half up
# (module doc). Kernels pass it for their container's ``tflite`` mode; no container records it.
TFLITE_HALF_UP = "tflite-half-up"


def quantize_multiplier(real: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(M, shift)`` with ``real ~= M * 2**-(31 + shift)``, ``M`` in ``[2**30, 2**31)`` (vectorized).

    Scalars in, 0-d arrays out (``int(M)`` works); arrays in, int64 arrays of the same shape out.
    """
    r = np.asarray(real, dtype=np.float64)
    if not np.isfinite(r).all() or (r < 0).any():
        raise BadInput(f"requantization scale must be finite and >= 0, got {real!r}")
    if (r >= 2.0**30).any():
        raise BadInput(f"requantization scale {float(r.max())} is too large (>= 2**30)")
    f, e = np.frexp(r)
    m = np.floor(np.ldexp(f, _Q) + 0.5).astype(np.int64)  # f * 2**31 is exact: plain half-up
    carry = m == (1 << _Q)
    m = np.where(carry, 1 << (_Q - 1), m)
    shift = (-e - carry).astype(np.int64)
    dead = (r == 0) | (_Q + shift > _MAX_SHIFT_TOTAL)
    m = np.where(dead, 0, m).astype(np.int64)
    shift = np.where(dead, 0, shift).astype(np.int64)
    return m, shift


def multiplier_value(m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The real number ``M * 2**-(31 + shift)`` that a multiplier stands for (exact in float64)."""
    return np.ldexp(np.asarray(m, dtype=np.float64), -(_Q + np.asarray(shift, dtype=np.int64)))


def rounding_shift(
    p: np.ndarray, s: np.ndarray | int, rounding: str = DEFAULT_ROUNDING
) -> np.ndarray:
    """``R(p / 2**s)`` for int64 ``p``, ties by ``rounding`` (in place when ``p`` is a fresh
    int64 array of the result's shape)."""
    s = np.asarray(s, dtype=np.int64)
    half = np.left_shift(np.int64(1), s - 1)
    if rounding == HALF_EVEN:
        floor = p >> s
        rest = p - (floor << s)
        floor += (rest > half) | ((rest == half) & (floor & 1 == 1))
        if floor.shape == p.shape:
            p[...] = floor
            return p
        return floor
    check_rounding(rounding)
    negative = p < 0
    p += half
    p -= negative
    p >>= s
    return p


def tflite_half_up(rounding: str) -> str:
    """The rounding of a requantization TFLite computes half up (convolutions, matrix
    products, int8 requantize): ``TFLITE_HALF_UP`` for a ``tflite`` container, else
    ``rounding`` itself."""
    return TFLITE_HALF_UP if rounding == TFLITE_ROUNDING else rounding


def tflite_multiply(
    acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLite's ``MultiplyByQuantizedMultiplier(acc, M, -shift)`` for int32 ``acc`` (int64 out).

    Bit for bit the reference and optimized kernels' double rounding (module doc),
    including the int32 wrap of ``acc << left`` and the zero multiplier of a right shift
    past 31. ``multiplier`` and ``shift`` broadcast against ``acc``.
    """
    x = np.array(acc, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(-shift, 0)
    if np.any(left):
        x <<= left
        x = x.astype(np.int32).astype(np.int64)  # int32 arithmetic wraps
    x *= m  # |x * M| < 2**62
    negative = x < 0
    x += np.where(negative, 1 - (1 << 30), 1 << 30)
    np.abs(x, out=x)
    x >>= _Q  # trunc toward zero = floor of the magnitude
    np.negative(x, out=x, where=negative)
    right = np.clip(shift, 0, _Q)
    mask = np.left_shift(np.int64(1), right) - 1
    threshold = (mask >> 1) + (x < 0)
    rest = x & mask
    x >>= right
    x += rest > threshold
    if np.any(shift > _Q):  # TFLite's QuantizeMultiplier: no multiplier below 2**-62
        x = np.where(shift > _Q, 0, x)
    return x


def requantize(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    out_zero_point: int,
    qmin: int,
    qmax: int,
    dtype: np.dtype | type | None = None,
    rounding: str = DEFAULT_ROUNDING,
) -> np.ndarray:
    """``clamp(zp + R(acc * M / 2**(31 + shift)), qmin, qmax)``, exactly, in int64.

    ``acc`` holds integers with ``|acc| < 2**62`` (any integer or integer-valued float
    dtype); ``multiplier`` and ``shift`` broadcast against it (per channel: shape them
    ``(C, 1, 1)``). ``R`` rounds ties by ``rounding`` (``tflite``: ``tflite_multiply``
    for int32 accumulators). The result has ``dtype`` (default:
    uint8, uint16 or int32 by range). An int32 accumulator with ``s <= 62`` takes one
    product and one shift; anything wider, ``requantize_wide`` (the same numbers).
    """
    p = np.array(acc, dtype=np.int64)  # a fresh array: worked on in place
    m = np.asarray(multiplier, dtype=np.int64)
    s = _Q + np.asarray(shift, dtype=np.int64)
    wide = p.size and int(np.abs(p).max()) >= 2**31
    if rounding == TFLITE_ROUNDING and not wide:
        p = tflite_multiply(p, m, shift)
    elif rounding == TFLITE_HALF_UP and not wide and int(s.max(initial=0)) <= 62:
        p *= m
        p += np.left_shift(np.int64(1), s - 1) + np.where(s > _Q, 1 << (_Q - 1), 0)
        p >>= s
    elif p.size and (int(s.max(initial=0)) > 62 or wide):
        p = requantize_wide(p, m, shift, rounding)
    else:
        p *= m
        p = rounding_shift(p, s, rounding)
    p += int(out_zero_point)
    np.clip(p, qmin, qmax, out=p)
    return p.astype(dtype or storage_dtype(qmin, qmax))


def requantize_wide(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    rounding: str = DEFAULT_ROUNDING,
) -> np.ndarray:
    """``R(acc * M / 2**(31 + shift))`` for int64 ``|acc| < 2**62``, any shift, exactly.

    No zero point and no clamp (``requantize`` adds them). ``X = acc * M`` can need 93
    bits; it is never formed. With ``acc = h * 2**31 + l`` (``0 <= l < 2**31``) and
    ``u = s - 1``::

        P = l * M                                           in [0, 2**62)
        Q = h * M + (P >> 31),  L = P & (2**31 - 1)          X = Q * 2**31 + L
        T = floor(X / 2**u)                                 = Q >> (u - 31)  when u >= 31
                                                            = (Q << (31 - u)) + (L >> u) else
        sticky = (X mod 2**u == 0)

    Then ``f = T >> 1`` is ``floor(X / 2**s)``, ``b = T & 1`` says the rest is at least a
    half and ``b and sticky`` that it is exactly one: half away from zero is ``f + b``
    (``X >= 0``) or ``f + (b and not sticky)`` (``X < 0``); half to even ``f + (b and
    (not sticky or f odd))``. For ``u < 31``, ``|Q|`` is first clamped at ``2**(31 + u)``
    so the shifted value stays below ``2**62``: results saturate at ``2**61`` (far past
    any code, or any accumulator a layer can hold).
    """
    a = np.asarray(acc, dtype=np.int64)
    if a.size and int(np.abs(a).max()) >= WIDE_LIMIT:
        raise ValueError("requantize_wide takes accumulators below 2**62")
    if rounding != TFLITE_HALF_UP:  # past int32 both TFLite modes round once, half away
        check_rounding(rounding)
    m = np.asarray(multiplier, dtype=np.int64)
    u = _Q - 1 + np.asarray(shift, dtype=np.int64)
    low_mask = np.int64((1 << _Q) - 1)
    p = np.bitwise_and(a, low_mask)
    p *= m
    q = np.right_shift(a, _Q)
    q *= m
    q += np.right_shift(p, _Q)
    p &= low_mask  # L
    big = u >= _Q
    hi_shift = np.clip(u - _Q, 0, 62)
    if np.all(big):
        t = np.right_shift(q, hi_shift)
        sticky = (p == 0) & ((q & (np.left_shift(np.int64(1), hi_shift) - 1)) == 0)
    else:
        uu = np.clip(u, 0, _Q)
        limit = np.left_shift(np.int64(1), _Q + uu)
        small = np.clip(q, -limit, limit)
        small <<= _Q - uu
        small += np.right_shift(p, uu)
        sticky = (p & (np.left_shift(np.int64(1), uu) - 1)) == 0
        if np.any(big):
            t = np.where(big, q >> hi_shift, small)
            q_sticky = (p == 0) & ((q & (np.left_shift(np.int64(1), hi_shift) - 1)) == 0)
            sticky = np.where(big, q_sticky, sticky)
        else:
            t = small
    b = (t & 1).astype(bool)
    t >>= 1  # f
    if rounding == HALF_EVEN:
        t += b & (~sticky | ((t & 1) == 1))
    else:
        t += b & ((a >= 0) | ~sticky)
    return t


def storage_dtype(qmin: int, qmax: int) -> np.dtype:
    """The smallest of uint8 / uint16 / int32 / int64 holding ``[qmin, qmax]``."""
    for dt in (np.uint8, np.uint16, np.int32):
        info = np.iinfo(dt)
        if info.min <= qmin and qmax <= info.max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def _v2(m: np.ndarray) -> np.ndarray:
    """The exponent of the largest power of two dividing each (positive) ``m``; 63 for 0."""
    m = np.asarray(m, dtype=np.int64)
    low = m & -m  # lowest set bit
    out = np.full(m.shape, 63, dtype=np.int64)
    nz = low != 0
    out[nz] = np.log2(low[nz].astype(np.float64)).astype(np.int64)
    return out


@dataclass(frozen=True, eq=False)
class Requantizer:
    """``requantize`` with its constants fixed at plan time, on the fastest exact path.

    ``acc_bound`` is what the caller guarantees about ``|acc|`` (``None``: nothing beyond
    int32). When the module docstring's conditions hold the float64 path runs
    (``fast``); for accumulators below ``2**53`` otherwise the wide fast path
    (``wide_fast``: float64, then the near-half elements recomputed exactly); otherwise
    the int64 one. All give identical results by construction (and by test). Nothing
    saturates: an accumulator past ``2**31`` is a wide (int64) accumulator, kept exact.
    """

    multiplier: np.ndarray
    shift: np.ndarray
    zero_point: int
    qmin: int
    qmax: int
    dtype: np.dtype
    fast: bool
    real_q: np.ndarray  # M * 2**-(31 + shift), float64, for the fast paths
    wide_fast: bool = False
    rounding: str = DEFAULT_ROUNDING  # ties; the fast path has none (module doc)
    nudge: np.ndarray | float = 0.5  # added before the floor: 0.5 (+ TFLite's c)

    def __post_init__(self) -> None:
        # The fast path's constants as the ufuncs take them (no conversion per call).
        object.__setattr__(self, "_offset", np.float64(self.zero_point) + self.nudge)
        object.__setattr__(self, "_lo", np.float64(self.qmin))
        object.__setattr__(self, "_hi", np.float64(self.qmax))

    @classmethod
    def build(
        cls,
        real: float | np.ndarray,
        zero_point: int,
        qmin: int,
        qmax: int,
        acc_bound: float | None = None,
        dtype: np.dtype | type | None = None,
        rounding: str = DEFAULT_ROUNDING,
    ) -> Requantizer:
        m, shift = quantize_multiplier(real)
        dt = np.dtype(dtype or storage_dtype(qmin, qmax))
        if acc_bound is not None and acc_bound >= WIDE_LIMIT:
            raise BadInput(f"accumulator bound {acc_bound:.3g} is past 2**62")
        half_up = rounding == TFLITE_HALF_UP  # floors only: no tie to rule out (module doc)
        fast = _fast_ok(m, shift, int(zero_point), int(qmin), int(qmax), acc_bound, half_up)
        wide_fast = not fast and acc_bound is not None and acc_bound < 2.0**53 and int(qmin) >= 0
        if half_up or check_rounding(rounding) == TFLITE_ROUNDING:
            wide_fast = False  # its near-half fix-up rounds once
        if rounding == TFLITE_ROUNDING:
            fast = False  # gemmlowp's double rounding is off near halves (module doc)
        nudge: np.ndarray | float = 0.5
        if half_up:
            nudge = 0.5 + np.where(shift > 0, np.ldexp(1.0, -(np.maximum(shift, 0) + 1)), 0.0)
        return cls(
            m,
            shift,
            int(zero_point),
            int(qmin),
            int(qmax),
            dt,
            fast,
            multiplier_value(m, shift),
            wide_fast,
            rounding,
            nudge,
        )

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        if self.fast:  # one conversion pass, then in place: the same float64 numbers
            y = acc.astype(np.float64) if isinstance(acc, np.ndarray) else np.array(acc, np.float64)
            y *= self.real_q  # constants broadcast to acc's shape (as in ``requantize``)
            y += self._offset
            _clip(y, self._lo, self._hi, out=y)
            return y.astype(self.dtype)
        if self.wide_fast:
            return self._wide_fast(acc)
        return self._exact(acc, self.multiplier, self.shift)

    def _exact(self, acc: np.ndarray, m: np.ndarray, shift: np.ndarray) -> np.ndarray:
        return requantize(
            acc, m, shift, self.zero_point, self.qmin, self.qmax, self.dtype, self.rounding
        )

    def _wide_fast(self, acc: np.ndarray) -> np.ndarray:
        """Float64 for every element, exact integers for the few near a rounding edge."""
        acc = np.asarray(acc)
        t = np.multiply(acc, self.real_q, dtype=np.float64)
        t += self.zero_point + 0.5  # floor(t) = zp + R(z) except near an integer t
        r = np.floor(t)
        frac = np.subtract(t, r)
        # |t - (z + zp + 0.5)| <= 2**-52 * (|z| + |zp| + 1); only |t| <= qmax + 2 matters.
        eps = 2.0**-50 * (abs(self.qmax) + 2 * abs(self.zero_point) + 4)
        edge = (frac < eps) | (frac > 1.0 - eps)
        edge &= t >= self.qmin - 1
        edge &= t <= self.qmax + 2
        np.clip(r, self.qmin, self.qmax, out=r)
        out = r.astype(self.dtype)
        idx = np.flatnonzero(edge)
        if idx.size:
            where = np.unravel_index(idx, acc.shape)
            m = np.broadcast_to(self.multiplier, acc.shape)[where]
            sh = np.broadcast_to(self.shift, acc.shape)[where]
            out[where] = self._exact(acc[where], m, sh)
        return out


def _fast_ok(
    m: np.ndarray,
    shift: np.ndarray,
    zp: int,
    qmin: int,
    qmax: int,
    acc_bound: float | None,
    ties_ok: bool = False,
) -> bool:
    if acc_bound is None or qmin < 0 or acc_bound >= 2**31:
        return False
    live = m != 0
    if not live.any():
        return True
    s = (_Q + shift)[live]
    reach = max(zp - qmin, qmax - zp) + 2  # |z| beyond this clips whatever the rounding
    top = qmax + reach + 2  # bound on |y| = |z + zp + 0.5| where it matters
    exact = bool(np.all(np.ldexp(float(top), s) < 2.0**53))
    if ties_ok:
        return exact
    # A tie needs 2**(s - 1 - v2(M)) to divide acc, impossible below that power.
    tie_free = bool(np.all(acc_bound < np.ldexp(1.0, s - 1 - _v2(m[live]))))
    return exact and tie_free


def rescale_table(
    in_zero_point: int,
    in_qmin: int,
    in_qmax: int,
    real: float,
    out_zero_point: int,
    out_qmin: int,
    out_qmax: int,
    lo: int | None = None,
    hi: int | None = None,
    rounding: str = DEFAULT_ROUNDING,
) -> np.ndarray:
    """For every input code ``c`` in ``[in_qmin, in_qmax]``: the output code of
    ``clamp(c, lo, hi) - in_zp`` rescaled by ``real`` (a lookup table, by the integer rule).
    """
    codes = np.arange(in_qmin, in_qmax + 1, dtype=np.int64)
    if lo is not None or hi is not None:
        codes = np.clip(codes, lo if lo is not None else in_qmin, hi if hi is not None else in_qmax)
    m, shift = quantize_multiplier(real)
    return requantize(
        codes - in_zero_point, m, shift, out_zero_point, out_qmin, out_qmax, rounding=rounding
    )
