"""Golden numbers for the requantization arithmetic (multiplier, shift, rounding)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.quant.requant import (
    TFLITE_HALF_UP,
    Requantizer,
    multiplier_value,
    quantize_multiplier,
    requantize,
    requantize_wide,
    rescale_table,
    storage_dtype,
)
from workbench.errors import BadInput


@pytest.mark.parametrize(
    ("real", "m", "shift"),
    [
        (0.5, 2**30, 0),  # 0.5 = 0.5 * 2**0: M = 0.5 * 2**31
        (0.75, 3 * 2**29, 0),
        (1.0, 2**30, -1),  # 1 = 0.5 * 2**1: a left shift by one
        # 0.0072 = 0.9216 * 2**-7; 0.9216 * 2**31 = 1979120929.9968 -> 1979120930
        (0.0072, 1979120930, 7),
        # 1.7 = 0.85 * 2**1; 0.85 * 2**31 = 1825361100.8 -> 1825361101
        (1.7, 1825361101, -1),
        # f * 2**31 rounds up to 2**31: carried into the exponent
        (1.0 - 2**-40, 2**30, -1),
        (0.0, 0, 0),
        # 2**-40 = 0.5 * 2**-39: tiny, but a wide (int64) accumulator can still reach a code
        (2.0**-40, 2**30, 39),
        (2.0**-64, 0, 0),  # every product with |acc| < 2**62 rounds to zero
        # 2**-63 = 0.5 * 2**-62: s = 93, the last shift a 2**62 accumulator can reach
        (2.0**-63, 2**30, 62),
        (2.0**-63 * 0.75, 0, 0),  # below 2**-63: dead
    ],
)
def test_quantize_multiplier_golden(real: float, m: int, shift: int) -> None:
    got_m, got_shift = quantize_multiplier(real)
    assert (int(got_m), int(got_shift)) == (m, shift)
    if m:
        assert 2**30 <= int(got_m) < 2**31
        assert abs(float(multiplier_value(got_m, got_shift)) - real) <= real * 2**-31


def test_quantize_multiplier_is_vectorized() -> None:
    reals = np.array([[0.5, 0.0072], [1.7, 3e-3]])
    m, shift = quantize_multiplier(reals)
    assert m.shape == shift.shape == (2, 2)
    for r, mm, ss in zip(reals.ravel(), m.ravel(), shift.ravel(), strict=True):
        assert (int(mm), int(ss)) == tuple(int(v) for v in quantize_multiplier(float(r)))


@pytest.mark.parametrize(
    ("real", "message"),
    [
        (-0.1, "requantization scale must be finite and >= 0, got -0.1"),
        (float("nan"), "requantization scale must be finite and >= 0, got nan"),
        (float("inf"), "requantization scale must be finite and >= 0, got inf"),
        (2.0**30, r"requantization scale 1073741824.0 is too large \(>= 2\*\*30\)"),
    ],
)
def test_quantize_multiplier_refuses(real: float, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        quantize_multiplier(real)


def test_requantize_rounds_half_away_from_zero() -> None:
    # real = 0.5 exactly: acc / 2, so odd accumulators are exact halves.
    m, s = quantize_multiplier(0.5)
    acc = np.array([-5, -3, -1, 0, 1, 3, 5, 100])
    out = requantize(acc, m, s, 0, -1000, 1000, np.int32)
    assert out.tolist() == [-3, -2, -1, 0, 1, 2, 3, 50]


def test_requantize_adds_zero_point_and_clamps() -> None:
    m, s = quantize_multiplier(0.25)
    out = requantize(np.array([-1000, -10, 0, 10, 1000]), m, s, 128, 0, 255)
    # -10/4 = -2.5 -> -3; 10/4 = 2.5 -> 3
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 125, 128, 131, 255]


def test_requantize_per_channel_broadcast() -> None:
    m, s = quantize_multiplier(np.array([0.5, 0.25]).reshape(2, 1))
    out = requantize(np.array([[8, -8], [8, -8]]), m, s, 0, -100, 100, np.int32)
    assert out.tolist() == [[4, -4], [2, -2]]


def _exact_rha(acc: np.ndarray, m: int, s: int) -> np.ndarray:
    """RHA(acc * M / 2**s) with Python's unbounded integers."""
    out = []
    for a in acc.tolist():
        p = a * m
        q, r = divmod(abs(p), 2**s)
        q += 2 * r >= 2**s
        out.append(q if p >= 0 else -q)
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize("real", [0.0072, 0.3, 0.9, 1.7, 1e-5])
def test_requantize_against_float64_on_a_million_accumulators(real: float) -> None:
    rng = np.random.default_rng(0)
    acc = rng.integers(-(2**31) + 1, 2**31, 10**6)
    m, s = quantize_multiplier(real)
    wide = 2**62
    out = requantize(acc, m, s, 0, -wide, wide, np.int64)
    ref = acc * np.float64(real)
    # Never more than 1 LSB from the real product, whatever the accumulator.
    assert np.abs(out - ref).max() <= 1.0
    # Exactly the documented rule, checked with unbounded integers on a sample.
    sample = slice(0, 2000)
    assert np.array_equal(out[sample], _exact_rha(acc[sample], int(m), 31 + int(s)))
    # And exactly round(acc * real) wherever the output is a code (|out| < 2**16), except
    # within the multiplier's relative error (2**-31) of a half: there real_q decides.
    small = (rng.integers(-(2**16), 2**16, 10**6) / real).astype(np.int64)
    small = small[np.abs(small) < 2**31]
    got = requantize(small, m, s, 0, -wide, wide, np.int64)
    prod = small * real
    exact = np.sign(prod) * np.floor(np.abs(prod) + 0.5)
    near_half = np.abs(np.abs(prod) % 1.0 - 0.5) < 1e-6
    assert np.array_equal(got[~near_half], exact[~near_half])
    assert np.abs(got - prod).max() <= 0.5 + 1e-6


@pytest.mark.parametrize(
    ("real", "zp", "qmax", "bound"),
    [
        (0.0072, 0, 255, 2**24),
        (0.003, 128, 255, 2**20),
        (1e-4, 17, 255, 2**22),
        (0.2, 3000, 65535, 2**16),
    ],
)
def test_requantizer_fast_path_is_bit_identical(
    real: float, zp: int, qmax: int, bound: int
) -> None:
    rng = np.random.default_rng(1)
    per_channel = real * rng.uniform(0.5, 2.0, size=(8, 1))
    acc = rng.integers(-bound + 1, bound, size=(8, 50_000)).astype(
        np.float32 if bound <= 2**24 else np.float64
    )
    r = Requantizer.build(per_channel, zp, 0, qmax, acc_bound=bound)
    assert r.fast
    m, s = quantize_multiplier(per_channel)
    assert np.array_equal(r(acc), requantize(acc, m, s, zp, 0, qmax))


def test_requantizer_fast_path_leaves_its_input_alone() -> None:
    # The fast path works in place on its own float64 copy: never on the caller's array,
    # even a float64 one.
    rng = np.random.default_rng(2)
    per_channel = 0.0072 * rng.uniform(0.5, 2.0, size=(4, 1, 1))
    r = Requantizer.build(per_channel, 3, 0, 255, acc_bound=2**20)
    assert r.fast
    m, s = quantize_multiplier(per_channel)
    acc = rng.integers(-(2**20) + 1, 2**20, size=(2, 4, 3, 5)).astype(np.float64)
    kept = acc.copy()
    assert np.array_equal(r(acc), requantize(acc, m, s, 3, 0, 255))
    assert np.array_equal(acc, kept)


def test_requantizer_takes_the_integer_path_when_ties_are_possible() -> None:
    # real = 0.5: M = 2**30, so acc * M / 2**31 is a half for every odd acc.
    r = Requantizer.build(0.5, 10, 0, 255, acc_bound=100)
    assert not r.fast
    assert r(np.array([-3, 3])).tolist() == [8, 12]  # -1.5 -> -2, 1.5 -> 2
    # Without a bound nothing is proven either.
    assert not Requantizer.build(0.0072, 0, 0, 255).fast


def test_rescale_table() -> None:
    # codes of delta 0.1 (zp 10) into delta 0.2 (zp 5), clamped at the input zero point
    table = rescale_table(10, 0, 255, 0.5, 5, 0, 255, lo=10)
    assert table.shape == (256,)
    assert table[:11].tolist() == [5] * 11  # everything <= 0 -> 0 -> code 5
    assert table[11] == 6  # 0.1 -> 0.5 of a 0.2 step -> rounds away to 1
    assert table[12] == 6 and table[13] == 7


def test_requantize_half_even_rounds_ties_to_even() -> None:
    m, s = quantize_multiplier(0.5)
    acc = np.array([-7, -5, -3, -1, 0, 1, 3, 5, 7, 100])
    out = requantize(acc, m, s, 0, -1000, 1000, np.int32, rounding="half-even")
    assert out.tolist() == [-4, -2, -2, 0, 0, 0, 2, 2, 4, 50]
    # quarter steps are not ties: both modes agree there
    m4, s4 = quantize_multiplier(0.25)
    q = np.array([-7, -6, -5, -3, -2, -1, 1, 2, 3, 5, 6, 7])
    even = requantize(q, m4, s4, 0, -99, 99, np.int32, rounding="half-even").tolist()
    away = requantize(q, m4, s4, 0, -99, 99, np.int32).tolist()
    assert even == [-2, -2, -1, -1, 0, 0, 0, 0, 1, 1, 2, 2]
    assert away == [-2, -2, -1, -1, -1, 0, 0, 1, 1, 1, 2, 2]


def _exact_rhe(acc: np.ndarray, m: int, s: int) -> np.ndarray:
    """RHE(acc * M / 2**s) with Python's unbounded integers (and fractions)."""
    from fractions import Fraction

    return np.array([round(Fraction(a * m, 2**s)) for a in acc.tolist()], dtype=np.int64)


@pytest.mark.parametrize("real", [0.5, 0.0072, 1.7, 0.25])
def test_half_even_requantize_is_the_documented_rule(real: float) -> None:
    rng = np.random.default_rng(5)
    acc = np.concatenate([rng.integers(-(2**31) + 1, 2**31, 2000), np.arange(-64, 65)])
    m, s = quantize_multiplier(real)
    wide = 2**62
    got = requantize(acc, m, s, 0, -wide, wide, np.int64, rounding="half-even")
    assert np.array_equal(got, _exact_rhe(acc, int(m), 31 + int(s)))  # Python's round: even


@pytest.mark.parametrize("rounding", ["half-away", "half-even"])
def test_requantizer_paths_agree_in_both_modes(rounding: str) -> None:
    rng = np.random.default_rng(2)
    acc = rng.integers(-(2**20), 2**20, size=(4, 20_000)).astype(np.float32)
    fast = Requantizer.build(
        0.003 * rng.uniform(0.5, 2, (4, 1)), 7, 0, 255, 2**20, rounding=rounding
    )
    assert fast.fast
    m, s = fast.multiplier, fast.shift
    assert np.array_equal(fast(acc), requantize(acc, m, s, 7, 0, 255, rounding=rounding))
    tie = Requantizer.build(0.5, 10, 0, 255, acc_bound=100, rounding=rounding)
    assert not tie.fast
    expected = [8, 12] if rounding == "half-away" else [8, 12]  # -1.5 and 1.5
    assert tie(np.array([-3, 3])).tolist() == expected
    assert tie(np.array([-5, 5])).tolist() == ([7, 13] if rounding == "half-away" else [8, 12])


def test_rescale_table_and_bad_modes() -> None:
    table = rescale_table(10, 0, 255, 0.5, 5, 0, 255, lo=10, rounding="half-even")
    assert table[11] == 5 and table[13] == 7  # 0.5 -> 0 (even), 1.5 -> 2
    with pytest.raises(BadInput, match="rounding must be one of"):
        Requantizer.build(0.5, 0, 0, 255, rounding="up")


# -- wide accumulators (16 x 16 bits): past int32, exact to 2**62 --------------------------


def _exact_rha_any(
    acc: np.ndarray, m: np.ndarray, s: np.ndarray, rounding: str = "half-away"
) -> list[int]:
    """R(acc * M / 2**s) element by element with Python's integers (M, s broadcast)."""
    from fractions import Fraction

    acc, m, s = np.broadcast_arrays(acc, m, s)
    out = []
    for a, mm, ss in zip(acc.ravel().tolist(), m.ravel().tolist(), s.ravel().tolist(), strict=True):
        p = a * mm
        if rounding == "half-even":
            out.append(round(Fraction(p, 2**ss)))  # Python's round: ties to even
            continue
        q, r = divmod(abs(p), 2**ss)
        q += 2 * r >= 2**ss
        out.append(q if p >= 0 else -q)
    return out


@pytest.mark.parametrize("rounding", ["half-away", "half-even"])
def test_requantize_wide_is_the_rule_for_any_accumulator_and_shift(rounding: str) -> None:
    rng = np.random.default_rng(5)
    for trial in range(400):
        m = np.int64(rng.integers(2**30, 2**31)) if trial % 9 else np.int64(2**30)
        shift = int(rng.integers(-30, 63))
        bits = int(rng.integers(1, 62))
        acc = rng.integers(-(2**bits), 2**bits, 40, dtype=np.int64)
        if trial % 4 == 0:  # exact halves: odd multiples of 2**(s - 1 - v2(M))
            k = min(max(31 + shift - 1 - (int(m) & -int(m)).bit_length() + 1, 0), 40)
            acc = (rng.integers(-(2**20), 2**20, 40, dtype=np.int64) | 1) << k
        got = requantize_wide(acc, m, shift, rounding)
        ref = _exact_rha_any(acc, m, np.int64(31 + shift), rounding)
        keep = np.abs(np.array(ref, dtype=object)) < 2**61  # beyond: saturated
        assert [g for g, k in zip(got.tolist(), keep, strict=True) if k] == [
            r for r, k in zip(ref, keep, strict=True) if k
        ]


def test_requantize_takes_wide_accumulators_exactly() -> None:
    # What 16 x 16-bit layers produce: sums near 2**40, a multiplier near 2**-30.
    rng = np.random.default_rng(6)
    real = rng.uniform(0.5, 2.0, (4, 1)) * 2.0**-26
    m, s = quantize_multiplier(real)
    acc = rng.integers(-(2**42), 2**42, (4, 500), dtype=np.int64)
    got = requantize(acc, m, s, 30000, 0, 65535)
    ref = np.clip(np.array(_exact_rha_any(acc, m, 31 + s)).reshape(4, 500) + 30000, 0, 65535)
    assert got.dtype == np.uint16
    assert np.array_equal(got, ref)
    # A single int64 product acc * M would have overflowed here.
    assert int(np.abs(acc).max()) * int(m.max()) > 2**63


@pytest.mark.parametrize("rounding", ["half-away", "half-even"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_requantizer_wide_fast_path_is_bit_identical(per_channel: bool, rounding: str) -> None:
    rng = np.random.default_rng(7)
    # real = 0.75 * 2**-19: M = 3 * 2**29, so acc * M / 2**50 is a half for every odd
    # multiple of 2**20. Negative halves are where floor(z + 0.5) and RHA part ways.
    real = np.float64(0.75 * 2**-19)
    if per_channel:
        real = real * np.array([1.0, 0.5, 2.0, 1.25]).reshape(4, 1)
    zp, bound = 32768, 2**47
    r = Requantizer.build(real, zp, 0, 65535, acc_bound=bound, rounding=rounding)
    assert not r.fast and r.wide_fast
    acc = rng.integers(-(2**35), 2**35, (4, 20_000)).astype(np.float64)
    ties = ((rng.integers(-(2**13), 2**13, (4, 2_000)) | 1) << 20).astype(np.float64)
    acc[:, :2_000] = ties
    acc[:, 2_000:2_100] = rng.integers(-bound + 1, bound, (4, 100))  # far outside: clipped
    m, s = quantize_multiplier(real)
    ref = requantize(acc, m, s, zp, 0, 65535, rounding=rounding)
    got = r(acc)
    assert got.dtype == np.uint16
    assert np.array_equal(got, ref)
    sample = acc[:, :300].astype(np.int64)
    exact = np.array(_exact_rha_any(sample, m, 31 + s, rounding)).reshape(sample.shape) + zp
    assert np.array_equal(got[:, :300], np.clip(exact, 0, 65535))


# -- edges of the paths: empty tensors, the int64 product's limit, saturation ------------


def test_requantize_takes_an_empty_accumulator() -> None:
    m, s = quantize_multiplier(0.5)
    out = requantize(np.zeros((0, 3), dtype=np.int64), m, s, 128, 0, 255)
    assert out.shape == (0, 3) and out.dtype == np.uint8


def test_an_accumulator_just_past_int32_takes_the_split_product() -> None:
    # (2**32 - 1) * (2**31 - 1) fits int64, but adding the half (2**61) for s = 62 would
    # not: such accumulators must take requantize_wide. acc * M / 2**62 = 1.99999999860
    acc = np.array([2**32 - 1, -(2**32 - 1), 2**31, -(2**31)])
    out = requantize(acc, 2**31 - 1, 31, 0, -1000, 1000, np.int32)
    assert out.tolist() == [2, -2, 1, -1]  # +-2**31 * M / 2**62 = +-0.49999999977 -> +-0


def test_requantize_wide_takes_accumulators_below_2_62_only() -> None:
    m, s = quantize_multiplier(0.5)
    assert requantize_wide(np.array([2**62 - 1, -(2**62 - 1)]), m, s).tolist() == [
        2**61,
        -(2**61),
    ]
    for acc in (2**62, -(2**62)):
        with pytest.raises(ValueError, match=r"^requantize_wide takes accumulators below 2\*\*62$"):
            requantize_wide(np.array([0, acc]), m, s)


def test_huge_products_saturate_with_their_sign() -> None:
    # real = 1.5 * 2**29 (shift -30): acc * real is far past 2**62; the split product
    # saturates near +-2**61 and never wraps around to the other sign.
    m, s = quantize_multiplier(1.5 * 2**29)
    assert (int(m), int(s)) == (3 * 2**29, -30)
    acc = np.array([2**40, -(2**40), 2**61 - 1, -(2**61), 1, -1])
    wide = requantize_wide(acc, m, s)
    assert (wide[:4] >= 2**61).tolist() == [True, False, True, False]
    assert (wide[:4] <= -(2**61)).tolist() == [False, True, False, True]
    assert wide[4:].tolist() == [3 * 2**28, -3 * 2**28]  # exact where it fits
    assert requantize(acc[:4], m, s, 128, 0, 255).tolist() == [255, 0, 255, 0]


def test_storage_dtype_by_range() -> None:
    assert storage_dtype(0, 255) == np.uint8
    assert storage_dtype(0, 65535) == np.uint16
    assert storage_dtype(-(2**31), 2**31 - 1) == np.int32
    assert storage_dtype(-(2**40), 2**40) == np.int64
    m, s = quantize_multiplier(0.5)
    out = requantize(np.array([2**40]), m, s, 0, -(2**40), 2**40)
    assert out.dtype == np.int64 and out.tolist() == [2**39]


def test_requantizer_exact_path_clamps_at_qmin_and_keeps_the_dtype() -> None:
    r = Requantizer.build(0.5, 10, 5, 250, dtype=np.int32)  # no bound: the int64 path
    assert not r.fast and not r.wide_fast
    out = r(np.array([-100, -9, 0, 7, 1000]))
    assert out.dtype == np.int32
    assert out.tolist() == [5, 5, 10, 14, 250]  # -9 / 2 = -4.5 -> -5 -> 5; 3.5 -> 4


@pytest.mark.parametrize(
    ("zp", "acc", "rounding", "expected"),
    [
        # z = acc * 3 / 2**21 = -1.5: half away gives -2, floor(z + 0.5) gives -1; the
        # float value t = zp + z + 0.5 = 254 sits one code under qmax: recomputed there too.
        (255, -(2**20), "half-away", 253),
        # z = 4.5: half even gives 4, floor(z + 0.5) gives 5; t = 254 again.
        (249, 3 * 2**20, "half-even", 253),
    ],
)
def test_wide_fast_path_recomputes_ties_just_under_qmax(zp, acc, rounding, expected) -> None:
    r = Requantizer.build(0.75 * 2**-19, zp, 0, 255, acc_bound=2**47, rounding=rounding)
    assert r.wide_fast
    assert r(np.array([acc, 0])).tolist() == [expected, zp]


def test_the_float_path_needs_exact_products() -> None:
    # 8 bits, zero point 0: |y| <= 255 + 257 + 2 = 514 where it matters, and y * 2**s must
    # stay below 2**53 for float64 to hold it exactly: s = 43 passes (514 * 2**43 < 2**53),
    # s = 44 does not; with qmax 254 the bound is 512 * 2**44 = 2**53 exactly: not below.
    rng = np.random.default_rng(8)
    acc = rng.integers(-(2**30) + 1, 2**30, 20_000)
    for real, qmax, fast in (
        (0.7 * 2**-12, 255, True),
        (0.7 * 2**-13, 255, False),
        (0.7 * 2**-12, 254, True),
        (0.7 * 2**-13, 254, False),
    ):
        r = Requantizer.build(real, 0, 0, qmax, acc_bound=2**30)
        assert 31 + int(r.shift) == (43 if real > 2**-13 else 44)
        assert r.fast is fast, (real, qmax)
        assert np.array_equal(r(acc), requantize(acc, r.multiplier, r.shift, 0, 0, qmax))


# -- TFLite's arithmetic (rounding mode "tflite") ------------------------------------------


def _gemmlowp(x: int, m: int, exponent: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier, line by line from gemmlowp (Python ints)."""
    left, right = max(exponent, 0), max(-exponent, 0)
    x = ((x << left) + 2**31) % 2**32 - 2**31  # int32 arithmetic wraps
    ab = x * m
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    high = abs(ab + nudge) // 2**31 * (1 if ab + nudge >= 0 else -1)  # C division truncates
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


def _ruy(x: int, m: int, exponent: int) -> int:
    """TFLite's convolution kernels: both roundings half up (floors after adding a half)."""
    left, right = max(exponent, 0), max(-exponent, 0)
    high = ((x << left) * m + 2**30) >> 31
    return (high + (1 << (right - 1))) >> right if right else high


def test_tflite_double_rounding_golden() -> None:
    # real 3/64 = 0.75 * 2**-4: M = 3 * 2**29, right shift 4 (ours: shift 4).
    m, s = quantize_multiplier(3 / 64)
    assert (int(m), int(s)) == (3 * 2**29, 4)
    acc = np.array([10, 11, -11, 32, -32, 21, -21])
    # 10 * 3/64 = 0.46875: the high multiply gives 10 * 0.75 = 7.5 -> 8 (half up), then
    # 8 / 16 = 0.5 -> 1 (half away): the double rounding is one above round(0.46875) = 0.
    # -11 * 3/64 = -0.515625: -8.25 -> -8, -8 / 16 = -0.5 -> -1, as single rounding says.
    got = requantize(acc, m, s, 0, -99, 99, np.int32, rounding="tflite").tolist()
    assert got == [1, 1, -1, 2, -2, 1, -1]
    assert requantize(acc, m, s, 0, -99, 99, np.int32).tolist() == [0, 1, -1, 2, -2, 1, -1]
    # the convolutions' variant rounds both halves up: -11: -8 / 16 = -0.5 -> 0;
    # -32 * 3/64 = -1.5 exactly: -24 / 16 = -1.5 -> -1
    half_up = requantize(acc, m, s, 0, -99, 99, np.int32, rounding=TFLITE_HALF_UP).tolist()
    assert half_up == [1, 1, 0, 2, -1, 1, -1]


@pytest.mark.parametrize("rounding", ["tflite", TFLITE_HALF_UP])
def test_tflite_roundings_are_the_kernels_line_by_line(rounding: str) -> None:
    rng = np.random.default_rng(11)
    reals = np.concatenate([10 ** rng.uniform(-10, 1.4, 300), [0.5, 1.0, 0.25, 3 / 64, 2.0**-40]])
    reference = _gemmlowp if rounding == "tflite" else _ruy
    for real in reals:
        m, s = quantize_multiplier(real)
        exponent = -int(s)
        bound = 2**31 - 1 if exponent <= 0 else 2 ** (31 - exponent) - 1  # no int32 overflow
        acc = np.concatenate([rng.integers(-bound, bound, 40), np.arange(-40, 41)])
        got = requantize(acc, m, s, 0, -(2**40), 2**40, np.int64, rounding=rounding)
        if exponent < -31:  # TFLite's QuantizeMultiplier: no multiplier below 2**-62
            want = [0] * acc.size if rounding == "tflite" else got.tolist()
        else:
            want = [reference(int(a), int(m), exponent) for a in acc]
        assert got.tolist() == want, real
    # ties fall where the two TFLite roundings part: negative halves
    m, s = quantize_multiplier(0.25)
    acc = np.array([-6, -2, 2, 6])  # -1.5, -0.5, 0.5, 1.5
    assert requantize(acc, m, s, 0, -9, 9, np.int32, rounding="tflite").tolist() == [-2, -1, 1, 2]
    assert requantize(acc, m, s, 0, -9, 9, np.int32, rounding=TFLITE_HALF_UP).tolist() == [
        -1, 0, 1, 2
    ]  # fmt: skip


def test_requantizer_paths_for_tflite() -> None:
    rng = np.random.default_rng(4)
    acc = rng.integers(-(2**20), 2**20, size=(4, 5000)).astype(np.float32)
    acc[:, :64] = np.arange(-32, 32) * 2**14  # ties and near-ties of every kind
    real = np.concatenate([0.003 * rng.uniform(0.5, 2, (3, 1)), [[2.0**-9]]])
    rq = Requantizer.build(real, 7, 0, 255, 2**20, rounding="tflite")
    assert not rq.fast and not rq.wide_fast  # gemmlowp's double rounding: integers only
    m, s = rq.multiplier, rq.shift
    assert np.array_equal(rq(acc), requantize(acc, m, s, 7, 0, 255, rounding="tflite"))
    assert not np.array_equal(rq(acc), requantize(acc, m, s, 7, 0, 255))  # it matters
    # TFLite's convolutions' rounding is floor(z + 1/2 + c): the float64 path, with c
    rq = Requantizer.build(real, 7, 0, 255, 2**20, rounding=TFLITE_HALF_UP)
    assert rq.fast
    want = requantize(acc, m, s, 7, 0, 255, rounding=TFLITE_HALF_UP)
    assert np.array_equal(rq(acc), want)
    assert np.array_equal(rq._exact(acc, m, s), want)
    for shift in (-3, 0, 1, 5, 12, 30):  # left shifts, no shift, right shifts
        rq = Requantizer.build(1.3 * 2.0**-shift, 100, 0, 255, 2**12, rounding=TFLITE_HALF_UP)
        a = np.arange(-(2**12), 2**12)
        exact = requantize(a, rq.multiplier, rq.shift, 100, 0, 255, rounding=TFLITE_HALF_UP)
        assert rq.fast == (shift < 30) and np.array_equal(rq(a), exact), shift
