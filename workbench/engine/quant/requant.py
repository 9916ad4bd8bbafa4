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

**The rounding rule: one rounding, half away from zero** (the rule of every encoding in
the workbench)::

    s   = 31 + shift                                     (1 <= s <= 93)
    out = clamp(zp + RHA(acc * M / 2**s), qmin, qmax)
    RHA(p / 2**s) = (p + 2**(s-1) - [p < 0]) >> s        (>> is the arithmetic shift, floor)

computed exactly in int64. An int32 accumulator (``|acc| < 2**31``) times ``M < 2**31``
stays below ``2**62``: one product, one shift. **Wide accumulators** (16-bit activations
times 16-bit weights reach ``2**47`` and more; see ``int_ops.linear``) and shifts past 62
take the same rule through a split product (``requantize_wide``): ``acc = h * 2**31 + l``
with ``0 <= l < 2**31``, then ``acc * M = (h * M) * 2**31 + l * M`` with both products
below ``2**62``, carried and shifted without ever forming the 93-bit whole; exact for
``|acc| < 2**62``. This is TFLite's single-rounding ``MultiplyByQuantizedMultiplier``
with ties away from zero instead of upward. TFLite's older double rounding
(``SaturatingRoundingDoublingHighMul`` then ``RoundingDivideByPOT``) rounds twice and can
be one off on rare values; single rounding is exactly ``RHA(acc * real_q)``, which equals
``round(acc * real)`` except when ``acc * real`` lies within ``|acc * real| * 2**-31`` of a
half, and is never more than 1 LSB from ``acc * real``.

**The fast path** (``Requantizer``): the same numbers from four float64 passes instead of
ten int64 ones, used only where a plan-time proof says it is bit-identical:

    y = acc * real_q + (zp + 0.5);  clip(y, qmin, qmax);  truncate

* exact product: for outputs that can land inside ``[qmin, qmax]`` (``|z| <= R``, z the
  rescaled value, R the distance from zp to the far clip end plus 2), ``|acc * M| <=
  R * 2**s`` and ``y * 2**s`` are integers below ``2**53``, so float64 holds them exactly;
  values beyond are at least 2 codes outside the clip range and a relative error of
  ``2**-53`` cannot bring them back;
* no ties: ``floor(z + 0.5)`` differs from ``RHA(z)`` only at a negative exact half, and
  ``acc * M / 2**s`` is a half only if ``2**(s - 1 - v2(M))`` divides ``acc`` (``v2``: the
  power of two in M); a known accumulator bound below that power rules ties out;
* after the clip ``y >= qmin >= 0``, so truncation is floor.

**The wide fast path** (accumulators past ``2**31`` but below ``2**53``, held exactly by
float64): the same float64 passes, whose product is no longer exact (``acc * M`` needs up
to 84 bits). Its error is at most ``2**-52 * (|z| + |zp| + 1)``, so the floor can only be
wrong where ``y`` lies that close to an integer (``z`` that close to a half): those
elements, and only those that can land inside ``[qmin, qmax]``, are recomputed with
``requantize_wide``. With real data that is about one element in ``2**30``; the result is
bit-identical to ``requantize`` by construction (and by test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import BadInput

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Multipliers are Q31: real = M * 2**-(31 + shift).
_Q = 31
_MAX_SHIFT_TOTAL = 93  # s = 31 + shift; beyond it every product (|acc| < 2**62) rounds to 0
WIDE_LIMIT = 2**62  # accumulators requantize_wide takes exactly


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


def rounding_shift(p: np.ndarray, s: np.ndarray | int) -> np.ndarray:
    """``RHA(p / 2**s)`` for int64 ``p`` (in place when ``p`` is a fresh int64 array)."""
    s = np.asarray(s, dtype=np.int64)
    half = np.left_shift(np.int64(1), s - 1)
    negative = p < 0
    p += half
    p -= negative
    p >>= s
    return p


def requantize(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    out_zero_point: int,
    qmin: int,
    qmax: int,
    dtype: np.dtype | type | None = None,
) -> np.ndarray:
    """``clamp(zp + RHA(acc * M / 2**(31 + shift)), qmin, qmax)``, exactly, in int64.

    ``acc`` holds integers with ``|acc| < 2**62`` (any integer or integer-valued float
    dtype); ``multiplier`` and ``shift`` broadcast against it (per channel: shape them
    ``(C, 1, 1)``). The result has ``dtype`` (default: uint8, uint16 or int32 by range).
    An int32 accumulator with ``s <= 62`` takes one product and one shift; anything
    wider, ``requantize_wide`` (the same numbers).
    """
    p = np.array(acc, dtype=np.int64)  # a fresh array: worked on in place
    m = np.asarray(multiplier, dtype=np.int64)
    s = _Q + np.asarray(shift, dtype=np.int64)
    if p.size and (int(s.max(initial=0)) > 62 or int(np.abs(p).max()) >= 2**31):
        p = requantize_wide(p, m, shift)
    else:
        p *= m
        rounding_shift(p, s)
    p += int(out_zero_point)
    np.clip(p, qmin, qmax, out=p)
    return p.astype(dtype or storage_dtype(qmin, qmax))


def requantize_wide(
    acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """``RHA(acc * M / 2**(31 + shift))`` for int64 ``|acc| < 2**62``, any shift, exactly.

    No zero point and no clamp (``requantize`` adds them). ``acc * M`` can need 93 bits;
    it is never formed. With ``acc = h * 2**31 + l`` (``0 <= l < 2**31``), ``u = s - 1``
    and ``c = [acc < 0]`` (the half-away correction of ``rounding_shift``)::

        P = l * M - c                                       in [-1, 2**62)
        Q = h * M + (P >> 31),  L = P & (2**31 - 1)          acc * M - c = Q * 2**31 + L
        T = floor((Q * 2**31 + L) / 2**u)                   = Q >> (u - 31)  when u >= 31
                                                            = (Q << (31 - u)) + (L >> u) else
        RHA = (T + 1) >> 1

    ``floor((X + 2**u) / 2**s) == (floor(X / 2**u) + 1) >> 1`` for integers, so no term
    ever needs ``2**(s-1)`` itself. For ``u < 31``, ``|Q|`` is first clamped at
    ``2**(31 + u)`` so the shifted value stays below ``2**62``: results saturate at
    ``2**61`` (far past any code, or any accumulator a layer can hold).
    """
    a = np.asarray(acc, dtype=np.int64)
    if a.size and int(np.abs(a).max()) >= WIDE_LIMIT:
        raise ValueError("requantize_wide takes accumulators below 2**62")
    m = np.asarray(multiplier, dtype=np.int64)
    u = _Q - 1 + np.asarray(shift, dtype=np.int64)
    low_mask = np.int64((1 << _Q) - 1)
    p = np.bitwise_and(a, low_mask)
    p *= m
    p -= a < 0
    q = np.right_shift(a, _Q)
    q *= m
    q += np.right_shift(p, _Q)
    p &= low_mask
    big = u >= _Q
    if np.all(big):
        t = np.right_shift(q, np.minimum(u - _Q, 63))
    else:
        uu = np.clip(u, 0, _Q)
        limit = np.left_shift(np.int64(1), _Q + uu)
        small = np.clip(q, -limit, limit)
        small <<= _Q - uu
        small += np.right_shift(p, uu)
        t = small if not np.any(big) else np.where(big, q >> np.clip(u - _Q, 0, 63), small)
    t += 1
    t >>= 1
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
    (``fast``); for accumulators past ``2**31`` but below ``2**53`` the wide fast path
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

    @classmethod
    def build(
        cls,
        real: float | np.ndarray,
        zero_point: int,
        qmin: int,
        qmax: int,
        acc_bound: float | None = None,
        dtype: np.dtype | type | None = None,
    ) -> Requantizer:
        m, shift = quantize_multiplier(real)
        dt = np.dtype(dtype or storage_dtype(qmin, qmax))
        if acc_bound is not None and acc_bound >= WIDE_LIMIT:
            raise BadInput(f"accumulator bound {acc_bound:.3g} is past 2**62")
        fast = _fast_ok(m, shift, int(zero_point), int(qmin), int(qmax), acc_bound)
        wide_fast = not fast and acc_bound is not None and acc_bound < 2.0**53 and int(qmin) >= 0
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
        )

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        if self.fast:
            y = np.multiply(acc, self.real_q, dtype=np.float64)
            y += self.zero_point + 0.5
            np.clip(y, self.qmin, self.qmax, out=y)
            return y.astype(self.dtype)
        if self.wide_fast:
            return self._wide_fast(acc)
        return requantize(
            acc, self.multiplier, self.shift, self.zero_point, self.qmin, self.qmax, self.dtype
        )

    def _wide_fast(self, acc: np.ndarray) -> np.ndarray:
        """Float64 for every element, exact integers for the few near a rounding edge."""
        acc = np.asarray(acc)
        t = np.multiply(acc, self.real_q, dtype=np.float64)
        t += self.zero_point + 0.5  # floor(t) = zp + RHA(z) except near an integer t
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
            exact = requantize(acc[where], m, sh, self.zero_point, self.qmin, self.qmax, self.dtype)
            out[where] = exact
        return out


def _fast_ok(
    m: np.ndarray, shift: np.ndarray, zp: int, qmin: int, qmax: int, acc_bound: float | None
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
) -> np.ndarray:
    """For every input code ``c`` in ``[in_qmin, in_qmax]``: the output code of
    ``clamp(c, lo, hi) - in_zp`` rescaled by ``real`` (a lookup table, by the integer rule).
    """
    codes = np.arange(in_qmin, in_qmax + 1, dtype=np.int64)
    if lo is not None or hi is not None:
        codes = np.clip(codes, lo if lo is not None else in_qmin, hi if hi is not None else in_qmax)
    m, shift = quantize_multiplier(real)
    return requantize(codes - in_zero_point, m, shift, out_zero_point, out_qmin, out_qmax)
