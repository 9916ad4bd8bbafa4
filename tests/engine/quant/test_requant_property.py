"""Property test: every path of the ``Requantizer`` is the exact rule, ties included.

The fast paths (float64, and float64 with the near-half elements recomputed) are taken
only where a plan-time proof says they are bit-identical to ``requantize``. A proof that
is one bit too loose (a tie-free bound ``2**(s - v2(M))`` instead of ``2**(s - 1 -
v2(M))``) is wrong only at exact ties just under the bound, so the draws aim there:
scales ``k / 2**n`` (a multiplier with many trailing zeros: ties every few codes), bounds
just around the tie period, and every odd multiple of the tie period (both signs) within
the bound. The reference is Python's unbounded integers, not ``requantize`` itself.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.engine.quant.requant import Requantizer, quantize_multiplier
from workbench.errors import BadInput

ROUNDINGS = ("half-away", "half-even")


def _rule(acc: list[int], m: int, s: int, zp: int, qmin: int, qmax: int, mode: str) -> list[int]:
    """clamp(zp + R(acc * M / 2**s), qmin, qmax) with unbounded integers."""
    out = []
    for a in acc:
        p = a * m
        if mode == "half-even":
            r = round(Fraction(p, 2**s))  # Python's round: ties to even
        else:
            q, rest = divmod(abs(p), 2**s)
            q += 2 * rest >= 2**s
            r = q if p >= 0 else -q
        out.append(min(max(zp + r, qmin), qmax))
    return out


def _v2(m: int) -> int:
    return (m & -m).bit_length() - 1


@st.composite
def _case(draw: st.DrawFn) -> tuple:
    if draw(st.booleans()):  # k / 2**n: a multiplier with trailing zeros, ties every 2**t
        k = draw(st.integers(1, 255)) | 1
        n = draw(st.integers(0, 44))
        real = k / 2.0**n
    else:
        real = 2.0 ** draw(st.floats(-44, 3, allow_nan=False))
    bits = draw(st.sampled_from([8, 16]))
    qmax = 2**bits - 1
    qmin = draw(st.sampled_from([0, 0, 1, qmax // 4]))
    zp = draw(st.integers(qmin, qmax))
    m, shift = (int(v) for v in quantize_multiplier(real))
    s = 31 + shift
    period = 2 ** max(s - 1 - _v2(m), 0) if m else 2**62  # ties: odd multiples of it
    # Bounds around the tie period (where a one-bit-loose proof goes wrong), and any.
    choices = [period - 1, period, period + 1, 2 * period - 1, 2 * period, 2 * period + 1]
    choices = [b for b in choices if 1 <= b < 2**47]
    bound = draw(
        st.sampled_from(choices) if choices and draw(st.booleans()) else st.integers(1, 2**47)
    )
    mode = draw(st.sampled_from(ROUNDINGS))
    seed = draw(st.integers(0, 2**32 - 1))
    return real, zp, qmin, qmax, bound, period, mode, seed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_requantizer_equals_the_exact_rule_at_ties_and_bounds(case: tuple) -> None:
    real, zp, qmin, qmax, bound, period, mode, seed = case
    rng = np.random.default_rng(seed)
    r = Requantizer.build(real, zp, qmin, qmax, acc_bound=bound, rounding=mode)
    # Every odd multiple of the tie period within the bound (both signs, capped), the
    # bound itself, values near the codes' range, and random ones.
    ties = []
    if period <= bound:
        odd = np.arange(1, min(bound // period, 400) + 1, 2, dtype=np.int64)
        ties = (odd * period).tolist()
    reach = int(min(bound, (qmax + 2) / real if real else bound))
    acc = sorted(
        set(
            [0, 1, -1, bound, -bound]
            + ties
            + [-t for t in ties]
            + rng.integers(-bound, bound + 1, 200).tolist()
            + rng.integers(-reach, reach + 1, 200).tolist()
        )
    )
    m, shift = int(r.multiplier), int(r.shift)
    expected = _rule(acc, m, 31 + shift, zp, qmin, qmax, mode)
    for dtype in (np.int64, np.float64):
        got = r(np.array(acc, dtype=dtype))
        path = "fast" if r.fast else "wide-fast" if r.wide_fast else "exact"
        assert got.tolist() == expected, (path, real, zp, bound, mode)


def test_the_tie_free_bound_is_tight_at_three_sixty_fourths() -> None:
    # 3/64: M = 3 * 2**29, s = 35, so acc * M / 2**35 is a half for every odd multiple of
    # 2**5. A bound of 2**5 may not take the float path; -32 -> -1.5 -> 126 (half away),
    # where floor(-1.5 + 128.5) would give 127.
    for bound in (32, 33, 63):
        r = Requantizer.build(3 / 64, 128, 0, 255, acc_bound=bound)
        assert not r.fast
        assert r(np.array([-32, 32])).tolist() == [126, 130]
    assert Requantizer.build(3 / 64, 128, 0, 255, acc_bound=31).fast


def test_the_path_is_chosen_by_the_documented_bounds() -> None:
    build = Requantizer.build
    # float64 path: a bound below 2**31, codes >= 0, tie-free and exact
    assert build(0.003, 7, 0, 255, acc_bound=2**31 - 1).fast
    past = build(0.003, 7, 0, 255, acc_bound=2**31)
    assert not past.fast and past.wide_fast  # a wide accumulator: float64 + exact edges
    assert build(0.003, 7, 0, 255, acc_bound=2**53 - 2**10).wide_fast
    for bound in (2**53, 2**60):
        r = build(0.003, 7, 0, 255, acc_bound=bound)
        assert not r.fast and not r.wide_fast  # past float64's integers: int64 only
    for r in (build(0.003, 7, 0, 255), build(0.003, 0, -128, 127, acc_bound=100)):
        assert not r.fast and not r.wide_fast  # no bound, or signed codes
    assert not build(0.003, 0, -128, 127, acc_bound=2**40).wide_fast
    with pytest.raises(BadInput, match=r"^accumulator bound 4.61e\+18 is past 2\*\*62$"):
        build(0.003, 7, 0, 255, acc_bound=2**62)
    # a zero scale (every product rounds to 0) is fast, also beside live channels
    zero = build(0.0, 5, 0, 255, acc_bound=1000)
    assert zero.fast and zero(np.array([-1000, 3, 1000])).tolist() == [5, 5, 5]
    mixed = build(np.array([[0.0], [0.003]]), 5, 0, 255, acc_bound=2**20)
    assert mixed.fast
    acc = np.array([[2**20 - 1, -(2**20) + 1]] * 2)
    m, shift = quantize_multiplier(np.array([[0.0], [0.003]]))
    assert mixed(acc).tolist() == [
        _rule(row.tolist(), int(mm), 31 + int(ss), 5, 0, 255, "half-away")
        for row, mm, ss in zip(acc, m.ravel(), shift.ravel(), strict=True)
    ]


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_requantize_wide_with_per_channel_shifts_on_both_sides_of_31(rounding: str) -> None:
    # Channels whose shift puts u = s - 1 at 31 or more take the high branch, the others
    # the low one: one call mixes both (np.where), ties and saturation included.
    from workbench.engine.quant.requant import requantize_wide

    reals = np.array([1.7, 3 / 64, 0.75 * 2.0**-19, 2.0**-40, 0.5, 3.0]).reshape(-1, 1)
    m, shift = quantize_multiplier(reals)
    assert (30 + shift >= 31).any() and (30 + shift < 31).any()
    rng = np.random.default_rng(4)
    acc = rng.integers(-(2**45), 2**45, (6, 300), dtype=np.int64)
    acc[:, :40] = (rng.integers(-(2**10), 2**10, (6, 40)) | 1) << 5  # ties at 3/64
    acc[:, 40:80] = (rng.integers(-(2**10), 2**10, (6, 40)) | 1) << 20  # ties at 0.75/2**19
    acc[:, 80:90] = rng.integers(-(2**61), 2**61, (6, 10))  # saturating products
    got = requantize_wide(acc, m, shift, rounding)
    for c in range(6):
        s = 31 + int(shift[c, 0])
        want = _rule(acc[c].tolist(), int(m[c, 0]), s, 0, -(2**62), 2**62, rounding)
        keep = [abs(w) < 2**61 for w in want]  # beyond: saturated (the docstring)
        assert [g for g, k in zip(got[c].tolist(), keep, strict=True) if k] == [
            w for w, k in zip(want, keep, strict=True) if k
        ], (c, s)
        assert all(abs(g) >= 2**61 - 1 for g, k in zip(got[c].tolist(), keep, strict=True) if not k)


def test_rescale_table_clamps_at_either_end_alone() -> None:
    from workbench.engine.quant.requant import rescale_table

    both = rescale_table(10, 0, 255, 1.0, 10, 0, 255)
    assert both.tolist() == list(range(256))
    top = rescale_table(10, 0, 255, 1.0, 10, 0, 255, hi=200)
    assert top.tolist() == list(range(201)) + [200] * 55
    bottom = rescale_table(10, 0, 255, 1.0, 10, 0, 255, lo=20)
    assert bottom.tolist() == [20] * 21 + list(range(21, 256))
    inner = rescale_table(10, 5, 250, 1.0, 10, 0, 255)
    assert inner.tolist() == list(range(5, 251))  # one entry per input code
