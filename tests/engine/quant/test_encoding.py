"""Golden tests for the encoding arithmetic: every number here can be checked by hand."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.engine.quant.encoding import (
    ChannelEncoding,
    Encoding,
    bias_encoding_8bit,
    bias_encoding_32bit,
    check_finite,
    dequantize,
    encoding_from_dict,
    fake_quantize,
    from_signed,
    per_channel_symmetric,
    quantize,
    round_half_away,
    symmetric_encoding,
    tf_encoding,
    tf_encoding_of,
    to_signed,
)
from workbench.errors import BadInput

# ------------------------------------------------------------------ tf rule


def test_worked_example_from_the_spec():
    x = np.array([-1.8, -1.0, 0.0, 0.5], dtype=np.float32)
    enc = tf_encoding_of(x)
    # delta = 2.3 / 255; offset = round(-1.8 / delta) = round(-199.57) = -200
    assert round(enc.min, 6) == -1.803922
    assert round(enc.max, 6) == 0.496078
    assert round(enc.delta, 6) == 0.009020
    assert enc.offset == -200
    assert (enc.bitwidth, enc.symmetric, enc.levels) == (8, False, 255)
    q = quantize(x, enc)
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 89, 200, 255]
    # 0 is exact: q = -offset dequantizes to 0.0
    assert dequantize(q, enc)[2] == 0.0
    assert enc.zero_point == 200


def test_all_positive_data_starts_at_zero():
    enc = tf_encoding(0.5, 2.55)
    assert (enc.min, enc.offset) == (0.0, 0)
    assert enc.max == pytest.approx(2.55)
    assert enc.delta == pytest.approx(0.01)
    assert quantize(np.array([0.5, 2.55, -1.0]), enc).tolist() == [50, 255, 0]


def test_all_negative_data_ends_at_zero():
    enc = tf_encoding(-2.55, -0.5)
    assert enc.max == 0.0
    assert enc.offset == -255
    assert enc.min == pytest.approx(-2.55)
    assert enc.delta == pytest.approx(0.01)
    # -0.5 / 0.01 = -50 -> -50 + 255 = 205
    assert quantize(np.array([-2.55, -0.5, 0.0, 1.0]), enc).tolist() == [0, 205, 255, 255]


def test_constant_tensors_include_zero():
    assert tf_encoding(3.0, 3.0).min == 0.0
    assert tf_encoding(3.0, 3.0).max == pytest.approx(3.0)
    assert tf_encoding(-3.0, -3.0).max == 0.0
    assert tf_encoding(-3.0, -3.0).min == pytest.approx(-3.0)


def test_zeros_get_the_minimum_range_by_raising_max():
    enc = tf_encoding_of(np.zeros(10))
    assert (enc.min, enc.offset) == (0.0, 0)
    assert enc.max == pytest.approx(0.01)
    assert enc.delta == pytest.approx(0.01 / 255)
    assert quantize(np.zeros(3), enc).tolist() == [0, 0, 0]
    assert fake_quantize(np.zeros(3), enc).tolist() == [0.0, 0.0, 0.0]


def test_tiny_ranges_are_widened_to_0_01():
    # [0.001, 0.002] -> include 0 -> [0, 0.002] -> max = 0 + 0.01
    enc = tf_encoding(0.001, 0.002)
    assert (enc.min, enc.max) == (0.0, pytest.approx(0.01))
    # [-0.004, -0.001] -> [-0.004, 0] -> max = -0.004 + 0.01 = 0.006; now straddles 0:
    # delta = 0.01 / 255, offset = round(-0.004 * 25500) = -102
    enc = tf_encoding(-0.004, -0.001)
    assert enc.offset == -102
    assert enc.delta == pytest.approx(0.01 / 255)
    assert enc.min == pytest.approx(-0.004)
    assert enc.max == pytest.approx(0.006)


def test_sixteen_bit_activations_have_65535_levels():
    enc = tf_encoding(0.0, 65.535, bitwidth=16)
    assert enc.levels == 65535
    assert enc.delta == pytest.approx(0.001)
    q = quantize(np.array([-1.0, 0.0, 1.0, 65.535, 100.0], dtype=np.float32), enc)
    assert q.dtype == np.uint16
    assert q.tolist() == [0, 0, 1000, 65535, 65535]


def test_four_bit_weights_in_uint8():
    # 15 levels: delta = 1.5 / 15 = 0.1, offset = round(-0.5 / 0.1) = -5
    enc = tf_encoding(-0.5, 1.0, bitwidth=4)
    assert (enc.levels, enc.offset) == (15, -5)
    assert enc.delta == pytest.approx(0.1)
    q = quantize(np.array([-0.5, 0.0, 0.26, 1.0, 5.0]), enc)
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 5, 8, 15, 15]


def test_encoding_errors_are_bad_input_naming_the_tensor():
    with pytest.raises(BadInput, match="conv1"):
        tf_encoding(float("nan"), 1.0, name="conv1")
    with pytest.raises(BadInput, match="'conv1' has NaN"):
        tf_encoding_of(np.array([0.0, np.nan]), name="conv1")
    # ±inf (a mask constant) is encoded by its finite values, and clamps to the range.
    masked = tf_encoding_of(np.array([0.0, -np.inf, 2.0]), name="mask")
    assert masked.min == 0.0 and masked.max == pytest.approx(2.0)
    with pytest.raises(BadInput, match="fc.weight"):
        per_channel_symmetric(np.array([[1.0], [np.nan]]), 0, name="fc.weight")
    with pytest.raises(BadInput, match="relu"):
        check_finite(np.array([1.0, -np.inf, np.nan]), name="relu")
    check_finite(np.array([1.0, 2.0]))
    with pytest.raises(BadInput, match="above"):
        tf_encoding(1.0, -1.0)
    for bad in (0, 1, 17, 32, 8.5, True):
        with pytest.raises(BadInput, match="bitwidth"):
            tf_encoding(-1.0, 1.0, bitwidth=bad)


# ------------------------------------------------------------------ rounding


def test_round_half_away_from_zero():
    v = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.4, -0.6], dtype=np.float32)
    assert round_half_away(v).tolist() == [1, 2, 3, -1, -2, -3, 0, -1]
    # the largest float32 below 0.5 must not round up (floor(x + 0.5) would)
    below_half = np.nextafter(np.float32(0.5), np.float32(0))
    assert round_half_away(np.array([below_half, -below_half])).tolist() == [0, 0]
    assert round_half_away(np.float64(-199.5)) == -200


def test_quantize_rounds_exact_halves_away_from_zero():
    enc = symmetric_encoding(127 * 0.125)  # delta = 0.125 exactly
    assert enc.delta == 0.125
    # x / delta = 0.5, -0.5, 1.5, -1.5, 2.5 -> 1, -1, 2, -2, 3 -> +128
    x = np.array([0.0625, -0.0625, 0.1875, -0.1875, 0.3125], dtype=np.float32)
    assert quantize(x, enc).tolist() == [129, 127, 130, 126, 131]
    assert fake_quantize(x, enc).tolist() == [0.125, -0.125, 0.25, -0.25, 0.375]


# ------------------------------------------------------------------ symmetric


def test_symmetric_encoding_offset_minus_128_and_signed_view():
    enc = symmetric_encoding(1.27)
    assert (enc.offset, enc.symmetric) == (-128, True)
    assert enc.delta == pytest.approx(0.01)
    assert (enc.min, enc.max) == (pytest.approx(-1.28), pytest.approx(1.27))
    q = quantize(np.array([-1.28, -1.27, 0.0, 1.27, 2.0]), enc)
    assert q.tolist() == [0, 1, 128, 255, 255]
    s = to_signed(q, enc)
    assert s.dtype == np.int8
    assert s.tolist() == [-128, -127, 0, 127, 127]
    assert from_signed(s, enc).tolist() == q.tolist()
    np.testing.assert_array_equal(dequantize(q, enc), (s * np.float32(enc.delta)))


def test_symmetric_bitwidths_and_minimum_range():
    enc4 = symmetric_encoding(0.7, bitwidth=4)
    assert (enc4.offset, enc4.delta) == (-8, pytest.approx(0.1))
    assert (enc4.min, enc4.max) == (pytest.approx(-0.8), pytest.approx(0.7))
    enc16 = symmetric_encoding(3.2767, bitwidth=16)
    assert (enc16.offset, enc16.delta) == (-32768, pytest.approx(1e-4))
    assert to_signed(np.array([0, 65535], dtype=np.uint16), enc16).tolist() == [-32768, 32767]
    # absmax 0 -> 0.005 (the range [-absmax, absmax] is at least 0.01 wide)
    assert symmetric_encoding(0.0).delta == pytest.approx(0.005 / 127)


def test_per_channel_symmetric_hand_computed_deltas():
    w = np.zeros((3, 2, 1, 1), dtype=np.float32)
    w[0, :, 0, 0] = [1.27, -0.5]  # absmax 1.27 -> delta 0.01
    w[1, :, 0, 0] = [0.1, -0.254]  # absmax 0.254 -> delta 0.002
    w[2, :, 0, 0] = [2.54, 0.0]  # absmax 2.54 -> delta 0.02
    enc = per_channel_symmetric(w, axis=0)
    assert isinstance(enc, ChannelEncoding)
    assert len(enc) == 3 and enc.axis == 0
    np.testing.assert_allclose(enc.delta, [0.01, 0.002, 0.02])
    assert enc.offset.tolist() == [-128, -128, -128]
    np.testing.assert_allclose(enc.min, [-1.28, -0.256, -2.56])
    q = quantize(w, enc)
    # 1.27/0.01=127, -0.5/0.01=-50, 0.1/0.002=50, -0.254/0.002=-127, 2.54/0.02=127, 0
    assert q[:, :, 0, 0].tolist() == [[255, 78], [178, 1], [255, 128]]
    assert enc.channel(1) == symmetric_encoding(float(np.float32(0.254)))
    # output channels on axis 1 (ConvTranspose weights)
    enc1 = per_channel_symmetric(np.transpose(w, (1, 0, 2, 3)), axis=1)
    np.testing.assert_allclose(enc1.delta, enc.delta)
    with pytest.raises(BadInput, match="channels"):
        quantize(w[:2], enc)
    with pytest.raises(BadInput, match="axis"):
        per_channel_symmetric(w, axis=4)


# ------------------------------------------------------------------ bias


def test_bias_32bit_scale_is_input_times_weight_scale_offset_0():
    enc = bias_encoding_32bit(0.02, 0.005)
    assert (enc.bitwidth, enc.offset, enc.qmin, enc.qmax) == (32, 0, -(2**31), 2**31 - 1)
    assert enc.delta == pytest.approx(1e-4)
    q = quantize(np.array([0.1, -0.25, 3.0]), enc)
    assert q.dtype == np.int32
    assert q.tolist() == [1000, -2500, 30000]
    np.testing.assert_allclose(dequantize(q, enc), [0.1, -0.25, 3.0], rtol=1e-6)
    assert to_signed(q, enc).tolist() == q.tolist()


def test_bias_32bit_per_channel():
    enc = bias_encoding_32bit(0.5, np.array([0.25, 0.125]))
    assert isinstance(enc, ChannelEncoding)
    assert enc.delta.tolist() == [0.125, 0.0625]
    assert enc.offset.tolist() == [0, 0]
    assert quantize(np.array([1.0, -1.0]), enc).tolist() == [8, -16]
    with pytest.raises(BadInput):
        bias_encoding_32bit(0.0, 0.1)


def test_bias_8bit_has_its_own_tf_encoding():
    bias = np.array([-0.5, 0.25, 2.0])
    assert bias_encoding_8bit(bias) == tf_encoding(-0.5, 2.0)


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize(
    "enc",
    [
        tf_encoding(-1.8, 0.5),
        tf_encoding(-3.0, 7.0, 16),
        tf_encoding(-0.5, 1.0, 4),
        symmetric_encoding(2.0),
    ],
)
def test_fake_quantize_is_bit_identical_to_quantize_then_dequantize(enc):
    x = np.random.default_rng(0).normal(0, 2, (4, 5, 6)).astype(np.float32)
    fq = fake_quantize(x, enc)
    assert fq.dtype == np.float32
    np.testing.assert_array_equal(fq, dequantize(quantize(x, enc), enc))


def test_fake_quantize_per_channel_bit_identical():
    w = np.random.default_rng(1).normal(0, 1, (8, 3, 3, 3)).astype(np.float32)
    w *= np.arange(1, 9, dtype=np.float32).reshape(8, 1, 1, 1)
    enc = per_channel_symmetric(w, 0)
    np.testing.assert_array_equal(fake_quantize(w, enc), dequantize(quantize(w, enc), enc))
    err = np.abs(fake_quantize(w, enc) - w)
    assert (err <= enc.delta.reshape(8, 1, 1, 1) / 2 * 1.0001).all()


@settings(max_examples=200, deadline=None)
@given(
    lo=st.floats(-1000, 0),
    hi=st.floats(0, 1000),
    bitwidth=st.sampled_from([4, 8, 16]),
    u=st.lists(st.floats(0, 1), min_size=1, max_size=50),
)
def test_round_trip_error_at_most_half_a_step_inside_the_range(lo, hi, bitwidth, u):
    enc = tf_encoding(lo, hi, bitwidth)
    x = (enc.min + np.array(u) * (enc.max - enc.min)).astype(np.float32)
    x = np.clip(x, np.float32(enc.min), np.float32(enc.max))
    err = np.abs(dequantize(quantize(x, enc), enc).astype(np.float64) - x)
    # float32 arithmetic: allow a few ulps of the largest magnitude on top of delta/2
    slack = 4 * np.finfo(np.float32).eps * max(abs(enc.min), abs(enc.max))
    assert (err <= enc.delta / 2 + slack).all()


# ------------------------------------------------------------------ JSON


def test_encodings_round_trip_through_json():
    enc = tf_encoding(-1.8, 0.5)
    back = encoding_from_dict(json.loads(json.dumps(enc.to_dict())))
    assert back == enc and isinstance(back, Encoding)
    pc = per_channel_symmetric(np.array([[1.0, -2.0], [0.5, 0.25]]), axis=0, bitwidth=4)
    back = encoding_from_dict(json.loads(json.dumps(pc.to_dict())))
    assert back == pc and isinstance(back, ChannelEncoding)
    assert back != per_channel_symmetric(np.array([[1.0, -2.0], [0.5, 0.3]]), axis=0)
    with pytest.raises(BadInput, match="malformed"):
        encoding_from_dict({"min": 0.0})
    with pytest.raises(BadInput, match="malformed"):
        encoding_from_dict({"axis": 0, "min": [0.0]})


def test_rounding_modes_at_ties():
    from workbench.engine.quant.encoding import round_half_even, round_to_int

    v = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999998, -3.5000002], dtype=np.float32)
    assert round_half_even(v).tolist() == [-2, -2, -0, 0, 2, 2, 2, -4]
    assert round_half_away(v).tolist() == [-3, -2, -1, 1, 2, 3, 2, -4]
    assert round_to_int(np.float64(2.5), "half-even") == 2
    with pytest.raises(BadInput, match="rounding must be one of"):
        round_to_int(v, "up")


def test_quantize_and_fake_quantize_follow_the_rounding_mode():
    # delta 1/64 (exact), offset -128: x = k/64 + 1/128 is a tie between codes
    enc = Encoding(-2.0, 255 / 64 - 2.0, 1 / 64, -128, 8)
    x = (np.arange(-10, 10, dtype=np.float32) + 0.5) / 64
    away, even = quantize(x, enc), quantize(x, enc, "half-even")
    assert away.tolist() == [128 + k + (1 if k >= 0 else 0) for k in range(-10, 10)]
    assert even.tolist() == [128 + k + (k % 2) for k in range(-10, 10)]
    for mode, q in (("half-away", away), ("half-even", even)):
        np.testing.assert_array_equal(fake_quantize(x, enc, mode), dequantize(q, enc))


@pytest.mark.parametrize("bitwidth", [8, 16])
def test_an_encoding_at_the_float32_limit_stays_finite(bitwidth: int) -> None:
    # An attention mask of -FLT_MAX: at 16 bits float32(delta) * -65535 rounds past the limit.
    low = float(np.finfo(np.float32).min)
    enc = tf_encoding(low, 0.0, bitwidth)
    x = np.array([low, -1e30, 0.0], np.float32)
    with np.errstate(over="ignore"):
        y, back = fake_quantize(x, enc), dequantize(quantize(x, enc), enc)
    assert np.isfinite(y).all() and y[0] == low and y[2] == 0.0
    assert np.array_equal(y, back)


def test_fit_weight_for_bias_widens_only_what_must() -> None:
    from workbench.engine.quant.encoding import BIAS32_LIMIT, fit_weight_for_bias

    w = np.array([[0.001, -0.002], [0.5, -0.25], [1.0, 0.5]], np.float32)
    enc = per_channel_symmetric(w, 0, 16)
    in_delta = 1e-4
    bias = np.array([1.0, 1e-3, 1e-3])
    fitted = fit_weight_for_bias(enc, bias, in_delta)
    assert fitted.delta[0] > enc.delta[0] and np.array_equal(fitted.delta[1:], enc.delta[1:])
    assert np.all(bias / (in_delta * fitted.delta) <= BIAS32_LIMIT)
    assert fitted.offset.tolist() == enc.offset.tolist() and fitted.symmetric
    np.testing.assert_allclose(fitted.min, fitted.offset * fitted.delta)
    assert fit_weight_for_bias(enc, bias * 1e-6, in_delta) is enc  # nothing to do
    # Per tensor: symmetric stays symmetric, tf keeps its offset.
    for per_tensor in (symmetric_encoding(2.0, 16), tf_encoding(-0.5, 1.5, 16)):
        fitted = fit_weight_for_bias(per_tensor, 1e3, in_delta)
        assert fitted.delta >= 1e3 / (in_delta * BIAS32_LIMIT)
        assert fitted.symmetric == per_tensor.symmetric and fitted.offset == per_tensor.offset
        assert round_half_away(np.float64(1e3) / (in_delta * fitted.delta)) <= 2**31 - 1


# ------------------------------------------------- stored encodings, checked on read

F32_TINY = float(np.finfo(np.float32).tiny)
F32_MAX = float(np.finfo(np.float32).max)
E8 = {"min": -1.0, "max": 1.0, "delta": 2 / 255, "offset": -128, "bitwidth": 8}
C8 = {
    "axis": 0,
    "min": [-1.0, -2.0],
    "max": [1.0, 2.0],
    "delta": [1 / 127, 2 / 127],
    "offset": [-128, -128],
    "bitwidth": 8,
    "symmetric": True,
}
M = "malformed encoding: "
P = "malformed per-channel encoding: "
OFFSET_8 = M + "offset must be an integer in [-255, 0] for 8 bits, got "
F32_RANGE = "is not a positive number within float32's normal range [1.17549e-38, 3.40282e+38]"
BIG = 10**400  # an integer no float holds
STORED_REFUSALS = [
    ([], M + "expected an object, got list"),
    ({"min": 0.0}, M + "missing max, delta, offset"),
    ({**E8, "bitwidth": "8"}, M + "bitwidth must be 2 to 16 or 32, got '8'"),
    ({**E8, "bitwidth": True}, M + "bitwidth must be 2 to 16 or 32, got True"),
    ({**E8, "bitwidth": 1}, M + "bitwidth must be 2 to 16 or 32, got 1"),
    ({**E8, "bitwidth": 17}, M + "bitwidth must be 2 to 16 or 32, got 17"),
    ({**E8, "bitwidth": 33}, M + "bitwidth must be 2 to 16 or 32, got 33"),
    ({**E8, "min": "0.5"}, M + "'min' must be a number, got '0.5'"),
    ({**E8, "min": True}, M + "'min' must be a number, got True"),
    ({**E8, "max": BIG}, M + "'max' is out of range, got " + str(BIG)[:57] + "..."),
    ({**E8, "delta": float("nan")}, M + "'delta' must be finite, got nan"),
    ({**E8, "max": float("inf")}, M + "'max' must be finite, got inf"),
    ({**E8, "offset": 1}, OFFSET_8 + "1"),
    ({**E8, "offset": -256}, OFFSET_8 + "-256"),
    ({**E8, "offset": -128.0}, OFFSET_8 + "-128.0"),
    ({**E8, "offset": True}, OFFSET_8 + "True"),
    (
        {**E8, "bitwidth": 32, "offset": 2**31},
        M + "offset must be an integer in [-2147483648, 2147483647] for 32 bits, got 2147483648",
    ),
    (
        {**E8, "bitwidth": 32, "offset": -(2**31) - 1},
        M + "offset must be an integer in [-2147483648, 2147483647] for 32 bits, got -2147483649",
    ),
    ({**E8, "delta": 0.0}, M + "delta must be positive"),
    ({**E8, "delta": -0.1}, M + "delta must be positive"),
    ({**E8, "min": 1.5}, M + "min is above max"),
    ({**E8, "symmetric": "yes"}, M + "'symmetric' must be true or false, got 'yes'"),
    ({**E8, "delta": 1e-300}, M + "delta 1e-300 " + F32_RANGE),
    ({**E8, "max": 1e39}, M + "range end 1e+39 is beyond float32's range"),
    ({**E8, "min": -1e39}, M + "range end 1e+39 is beyond float32's range"),
    ({**E8, "min": "x" * 100}, M + "'min' must be a number, got '" + "x" * 56 + "..."),
    ({**E8, "min": "y" * 58}, M + "'min' must be a number, got '" + "y" * 58 + "'"),  # 60: whole
    ({**E8, "min": "z" * 59}, M + "'min' must be a number, got '" + "z" * 56 + "..."),
    ({**C8, "axis": -1}, P + "'axis' must be a non-negative integer, got -1"),
    ({**C8, "axis": True}, P + "'axis' must be a non-negative integer, got True"),
    ({**C8, "axis": "0"}, P + "'axis' must be a non-negative integer, got '0'"),
    ({**C8, "min": []}, P + "min, max, delta and offset must be non-empty lists"),
    ({**C8, "max": (1.0, 2.0)}, P + "min, max, delta and offset must be non-empty lists"),
    ({**C8, "delta": [0.1]}, P + "min, max, delta and offset differ in length"),
    ({**C8, "delta": [0.1, "x"]}, M + "'delta' must be a number, got 'x'"),
    ({**C8, "delta": [0.1, float("nan")]}, M + "'delta' must be finite, got nan"),
    ({**C8, "max": [1.0, float("inf")]}, M + "'max' must be finite, got inf"),
    ({**C8, "min": [-1.0, True]}, M + "'min' must be a number, got True"),
    ({**C8, "min": [-1.0, BIG]}, M + "'min' is out of range, got " + str(BIG)[:57] + "..."),
    ({**C8, "offset": [-128, 1]}, OFFSET_8 + "1"),
    ({**C8, "offset": [-256, -128]}, OFFSET_8 + "-256"),
    ({**C8, "offset": [-128.0, -128]}, OFFSET_8 + "-128.0"),
    ({**C8, "offset": [-128, "x"]}, OFFSET_8 + "'x'"),
    ({**C8, "offset": [True, -128]}, OFFSET_8 + "True"),
    ({**C8, "offset": [-128, 2**70]}, OFFSET_8 + str(2**70)),
    (
        {**C8, "bitwidth": 32, "offset": [0, 2**31]},
        M + "offset must be an integer in [-2147483648, 2147483647] for 32 bits, got 2147483648",
    ),
    (
        {**C8, "bitwidth": 32, "offset": [-(2**31) - 1, 0]},
        M + "offset must be an integer in [-2147483648, 2147483647] for 32 bits, got -2147483649",
    ),
    (
        {**C8, "bitwidth": 4, "offset": [-16, 0]},
        M + "offset must be an integer in [-15, 0] for 4 bits, got -16",
    ),
    ({**C8, "delta": [0.1, 0.0]}, M + "delta must be positive"),
    ({**C8, "min": [-1.0, 3.0]}, M + "min is above max"),
    ({**C8, "symmetric": 1}, P + "'symmetric' must be true or false, got 1"),
    ({**C8, "delta": [1e-300, 0.1]}, M + "delta 1e-300 " + F32_RANGE),
    ({**C8, "delta": [0.1, 1e39]}, M + "delta 1e+39 " + F32_RANGE),
    ({**C8, "max": [1.0, 1e39]}, M + "range end 1e+39 is beyond float32's range"),
]


@pytest.mark.parametrize(("stored", "message"), STORED_REFUSALS)
def test_a_stored_encoding_is_refused_by_its_own_check(stored, message) -> None:
    with pytest.raises(BadInput) as info:
        encoding_from_dict(stored)
    assert str(info.value) == message


def test_per_tensor_and_per_channel_readers_refuse_what_is_not_an_object() -> None:
    with pytest.raises(BadInput, match=r"^malformed encoding: expected an object, got list$"):
        Encoding.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(BadInput, match=r"^malformed per-channel encoding: expected an object"):
        ChannelEncoding.from_dict(3)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match=r"^malformed per-channel encoding: missing max, offset$"):
        ChannelEncoding.from_dict({"axis": 0, "min": [0.0], "delta": [1.0]})


@pytest.mark.parametrize(
    "stored",
    [
        {**E8, "offset": 0, "min": 0.0},  # the ends of the offset range
        {**E8, "offset": -255},
        {**E8, "bitwidth": 2, "offset": -3},
        {**E8, "bitwidth": 16, "offset": -65535},
        {**E8, "bitwidth": 32, "offset": -(2**31)},
        {**E8, "bitwidth": 32, "offset": 2**31 - 1},
        {"min": 0.5, "max": 0.5, "delta": 1.0, "offset": 0},  # min == max; 8 bits by default
        {"min": 0.0, "max": 1.0, "delta": F32_TINY, "offset": 0},
        {"min": -F32_MAX, "max": F32_MAX, "delta": F32_MAX, "offset": -1},
        {**C8, "offset": [-255, 0]},
        {**C8, "min": [-1, -2]},  # JSON integers where floats are expected
        {**C8, "bitwidth": 32, "offset": [-(2**31), 2**31 - 1]},
        {**C8, "bitwidth": 16, "offset": [-65535, 0]},
    ],
)
def test_stored_encodings_at_the_edges_are_read(stored) -> None:
    enc = encoding_from_dict(stored)
    back = encoding_from_dict(json.loads(json.dumps(enc.to_dict())))
    assert back == enc
    assert enc.bitwidth == stored.get("bitwidth", 8)
    assert np.array_equal(np.asarray(enc.offset), np.asarray(stored["offset"]))
    if isinstance(enc, ChannelEncoding):
        assert enc.symmetric is True and enc.axis == stored["axis"]
        assert enc.min.dtype == enc.max.dtype == enc.delta.dtype == np.float64
        assert enc.offset.dtype == np.int64
        assert not enc.delta.flags.writeable
    else:
        assert enc.symmetric is False
        assert [type(v) for v in (enc.min, enc.max, enc.delta, enc.offset)] == [
            float,
            float,
            float,
            int,
        ]


def test_encodings_hold_plain_python_values() -> None:
    e = Encoding(np.float32(-1.0), np.float64(1.0), np.float32(0.5), np.int16(-2), np.int64(8), 1)
    assert [type(v) for v in (e.min, e.max, e.delta, e.offset, e.bitwidth, e.symmetric)] == [
        float,
        float,
        float,
        int,
        int,
        bool,
    ]
    assert e.to_dict() == {
        "min": -1.0,
        "max": 1.0,
        "delta": 0.5,
        "offset": -2,
        "bitwidth": 8,
        "symmetric": True,
    }
    assert hash(e) == hash(Encoding(-1.0, 1.0, 0.5, -2, 8, True))
    assert (e.scale, e.zero_point, e.levels, e.qmin, e.qmax, e.dtype) == (
        0.5,
        2,
        255,
        0,
        255,
        np.uint8,
    )
    c = ChannelEncoding(
        np.int64(1), [[-1.0, -2.0]], [1.0, 2.0], [0.5, 1.0], [-128, -128], np.int32(16), 0
    )
    assert c.axis == 1 and type(c.axis) is int and c.bitwidth == 16 and c.symmetric is False
    assert c.min.shape == (2,) and c.offset.dtype == np.int64 and len(c) == 2
    assert c.to_dict() == {
        "axis": 1,
        "min": [-1.0, -2.0],
        "max": [1.0, 2.0],
        "delta": [0.5, 1.0],
        "offset": [-128, -128],
        "bitwidth": 16,
        "symmetric": False,
    }
    assert (c.levels, c.qmin, c.qmax, c.dtype) == (65535, 0, 65535, np.uint16)
    assert c.zero_point.tolist() == [128, 128] and c.scale.tolist() == [0.5, 1.0]
    assert c.channel(1) == Encoding(-2.0, 2.0, 1.0, -128, 16, False)
    assert c != ChannelEncoding(1, [-1.0, -2.0], [1.0, 2.0], [0.5, 1.0], [-128, -127], 16, False)
    assert c != ChannelEncoding(0, [-1.0, -2.0], [1.0, 2.0], [0.5, 1.0], [-128, -128], 16, False)
    assert (c == e) is False
    b32 = Encoding(-1.0, 1.0, 1e-9, 0, 32, True)
    assert (b32.qmin, b32.qmax, b32.dtype) == (-(2**31), 2**31 - 1, np.int32)
    with pytest.raises(
        BadInput, match="^per-channel encoding arrays must be 1-D and of one length$"
    ):
        ChannelEncoding(0, [-1.0, -2.0], [1.0], [0.5, 1.0], [-128, -128])
    with pytest.raises(BadInput, match=r"^malformed encoding: delta 0 " + re.escape(F32_RANGE)):
        Encoding(0.0, 1.0, 0.0, 0)
    with pytest.raises(BadInput, match=r"^malformed encoding: delta inf " + re.escape(F32_RANGE)):
        ChannelEncoding(0, [0.0], [1.0], [np.inf], [0])


def test_refusals_name_the_tensor_when_there_is_one() -> None:
    cases = [
        (lambda: tf_encoding(float("nan"), 1.0), "tensor has NaN or Inf values (range [nan, 1.0])"),
        (
            lambda: tf_encoding(2.0, 1.0, name="x"),
            "tensor 'x': encoding range min 2.0 is above max 1.0",
        ),
        (lambda: tf_encoding(2.0, 1.0), "tensor: encoding range min 2.0 is above max 1.0"),
        (lambda: tf_encoding_of(np.array([np.nan, 1.0], np.float32)), "tensor has NaN values"),
        (
            lambda: tf_encoding_of(np.zeros(0, np.float32), name="e"),
            "tensor 'e' is empty: no range to encode",
        ),
        (
            lambda: symmetric_encoding(float("inf"), name="s"),
            "tensor 's' has NaN or Inf values (absmax inf)",
        ),
        (
            lambda: per_channel_symmetric(np.zeros(()), name="w"),
            "tensor 'w': no axis 0 in a tensor of shape ()",
        ),
        (
            lambda: per_channel_symmetric(np.zeros((2, 2)), axis=-3),
            "tensor: no axis -3 in a tensor of shape (2, 2)",
        ),
        (
            lambda: per_channel_symmetric(np.zeros((2, 2)), axis=2),
            "tensor: no axis 2 in a tensor of shape (2, 2)",
        ),
        (
            lambda: per_channel_symmetric(np.zeros((2, 0)), name="w"),
            "tensor 'w' is empty: no range to encode",
        ),
        (
            lambda: per_channel_symmetric(np.array([[1.0, 2.0], [np.nan, 1.0]]), name="w"),
            "tensor 'w' has NaN or Inf values (channel 1)",
        ),
        (
            lambda: bias_encoding_32bit(0.1, 0.0),
            "32-bit bias needs positive finite scales, got 0.1 x 0.0",
        ),
        (
            lambda: bias_encoding_32bit(0.1, np.array([0.1, np.inf])),
            "32-bit bias needs positive finite scales, got 0.1 x [0.1 inf]",
        ),
        (
            lambda: check_finite(np.array([1.0, np.nan, np.inf]), "a"),
            "tensor 'a' has 2 NaN or Inf value(s)",
        ),
        (lambda: check_finite(np.array([np.nan])), "tensor has 1 NaN or Inf value(s)"),
        (
            lambda: quantize(np.zeros((2, 4)), per_channel_symmetric(np.ones((3, 4)))),
            "per-channel encoding has 3 channels on axis 0, tensor shape is (2, 4)",
        ),
        (
            lambda: dequantize(
                np.zeros(4, np.uint8), per_channel_symmetric(np.ones((3, 4)), axis=1)
            ),
            "per-channel encoding has 4 channels on axis 1, tensor shape is (4,)",
        ),
        (
            lambda: quantize(np.zeros(3), tf_encoding(0, 1), "up"),
            "rounding must be one of half-away, half-even, tflite, got 'up'",
        ),
        (
            lambda: fake_quantize(np.zeros(3), tf_encoding(0, 1), None),
            "rounding must be one of half-away, half-even, tflite, got None",
        ),
    ]
    for make, message in cases:
        with pytest.raises(BadInput) as info:
            make()
        assert str(info.value) == message
    check_finite(np.zeros(0))  # nothing to refuse


@pytest.mark.parametrize(
    ("bitwidth", "ok"),
    [(1, False), (2, True), (2.0, True), (2.5, False), (True, False), (16, True), (17, False)],
)
def test_bitwidths_from_2_to_16(bitwidth, ok) -> None:
    from workbench.engine.quant.encoding import check_bitwidth

    if ok:
        assert check_bitwidth(bitwidth) == int(bitwidth) and type(check_bitwidth(bitwidth)) is int
        assert tf_encoding(0.0, 1.0, bitwidth).levels == 2 ** int(bitwidth) - 1
    else:
        with pytest.raises(BadInput) as info:
            check_bitwidth(bitwidth)
        assert str(info.value) == (
            f"bitwidth must be an integer from 2 to 16 (4, 8 or 16), got {bitwidth!r}"
        )


def test_storage_types_by_bitwidth() -> None:
    assert tf_encoding(0.0, 1.0, 8).dtype == np.uint8
    nine = tf_encoding(0.0, 1.0, 9)
    assert nine.dtype == np.uint16 and quantize(np.array([1.0]), nine).tolist() == [511]
    assert quantize(np.array([1.0]), nine).dtype == np.uint16
    assert tf_encoding(0.0, 1.0, 2).dtype == np.uint8


def test_the_tf_rule_on_arrays_of_ranges() -> None:
    from workbench.engine.quant.encoding import tf_rule

    lo, hi, delta, offset = tf_rule(np.array([0.5, -3.0, 0.0]), np.array([2.0, -1.0, 0.0]))
    # [0.5, 2] takes in 0: [0, 2]; [-3, -1] becomes [-3, 0]; [0, 0] gets the minimum range
    np.testing.assert_allclose(delta, [2 / 255, 3 / 255, 0.01 / 255])
    assert offset.tolist() == [0, -255, 0] and offset.dtype == np.int64
    np.testing.assert_allclose(lo, [0.0, -3.0, 0.0])
    np.testing.assert_allclose(hi, [2.0, 0.0, 0.01])
    # 16 bits: 65535 levels
    _, _, d16, o16 = tf_rule(np.array([-1.0]), np.array([1.0]), 16)
    assert d16.tolist() == [2 / 65535] and o16.tolist() == [-32768]  # -32767.5 -> away


def test_signed_views_of_4_8_16_and_32_bit_codes() -> None:
    e4, e16 = tf_encoding(-1.0, 1.0, 4), tf_encoding(-1.0, 1.0, 16)
    s4 = to_signed(np.array([0, 7, 15], np.uint8), e4)
    assert s4.dtype == np.int8 and s4.tolist() == [-8, -1, 7]
    s16 = to_signed(np.array([0, 32768, 65535], np.uint16), e16)
    assert s16.dtype == np.int16 and s16.tolist() == [-32768, 0, 32767]
    u4 = from_signed(np.array([-8, 0, 7], np.int8), e4)
    assert u4.dtype == np.uint8 and u4.tolist() == [0, 8, 15]
    u16 = from_signed(np.array([-32768, 0, 32767], np.int16), e16)
    assert u16.dtype == np.uint16 and u16.tolist() == [0, 32768, 65535]
    b32 = bias_encoding_32bit(0.1, 0.1)
    for view in (to_signed, from_signed):
        out = view(np.array([-5, 6], np.int64), b32)
        assert out.dtype == np.int32 and out.tolist() == [-5, 6]


def test_fit_weight_for_bias_golden_numbers() -> None:
    from workbench.engine.quant.encoding import BIAS32_LIMIT, fit_weight_for_bias

    assert BIAS32_LIMIT == 2**31 - 1 - 256
    in_delta = 1e-5
    need = 1.0 / (in_delta * BIAS32_LIMIT)  # the delta a bias of 1.0 needs
    grow = 1.0 + 2.0**-40
    # per channel: only channel 0 (delta 1e-6 < need) widens, to need * (1 + 2**-40)
    enc = ChannelEncoding(
        0, [-0.032768, -32.768], [0.032767, 32.767], [1e-6, 1e-3], [-32768] * 2, 16
    )
    fitted = fit_weight_for_bias(enc, np.array([1.0, 1.0]), in_delta)
    assert fitted.delta.tolist() == [need * grow, 1e-3]
    assert fitted.min.tolist() == [-32768 * need * grow, -32768 * 1e-3]
    assert fitted.max.tolist() == [32767 * need * grow, 32767 * 1e-3]
    assert (fitted.axis, fitted.bitwidth, fitted.symmetric) == (0, 16, True)
    assert fitted.offset.tolist() == [-32768, -32768]
    # one value for every channel broadcasts
    assert fit_weight_for_bias(enc, 1.0, in_delta) == fitted
    exact = ChannelEncoding(0, [-1.0], [1.0], [need], [-32768], 16)
    assert fit_weight_for_bias(exact, 1.0, in_delta) is exact  # already enough: untouched
    # per tensor, symmetric: the symmetric rule on the widened delta
    sym = symmetric_encoding(0.1, 16)
    k = need / sym.delta * grow
    assert fit_weight_for_bias(sym, 1.0, in_delta) == symmetric_encoding(sym.delta * 32767 * k, 16)
    # per tensor, asymmetric: the tf rule on k * [min, max]
    asym = tf_encoding(-0.05, 0.1, 16)
    k = need / asym.delta * grow
    assert fit_weight_for_bias(asym, 1.0, in_delta) == tf_encoding(asym.min * k, asym.max * k, 16)
    # the largest of several values decides
    assert fit_weight_for_bias(asym, np.array([0.5, 1.0]), in_delta) == tf_encoding(
        asym.min * k, asym.max * k, 16
    )
    same = Encoding(-need, need * 254, need, -1, 8)
    assert fit_weight_for_bias(same, 1.0, in_delta) is same  # k == 1: untouched


def test_zero_point_codes_and_nan_at_the_bottom() -> None:
    enc = tf_encoding(-1.0, 1.0)  # offset -128
    q = quantize(np.array([np.nan, 0.0, -np.inf, np.inf, 1e30], np.float32), enc)
    assert q.tolist() == [0, 128, 0, 255, 255]
    v = fake_quantize(np.array([np.nan, np.inf], np.float32), enc)
    assert v.dtype == np.float32
    np.testing.assert_allclose(v, [enc.min, enc.max], rtol=1e-6)
    d = dequantize(np.uint8(128), enc)
    assert d.shape == () and d.dtype == np.float32 and float(d) == 0.0
    assert quantize(np.float32(1.0), enc).shape == ()


def test_bias_and_per_channel_encodings_whole() -> None:
    i32 = (-(2**31), 2**31 - 1)
    assert bias_encoding_32bit(0.5, 0.25) == Encoding(i32[0] / 8, i32[1] / 8, 0.125, 0, 32, True)
    per = bias_encoding_32bit(0.5, [0.25, 0.5])
    assert per == ChannelEncoding(
        0, [i32[0] / 8, i32[0] / 4], [i32[1] / 8, i32[1] / 4], [0.125, 0.25], [0, 0], 32, True
    )
    # 16-bit per-channel weights; an all-zero channel gets the minimum range (absmax 0.005)
    w = np.array([[0.0, 0.0], [3.2767, -1.0]])
    enc = per_channel_symmetric(w, axis=0, bitwidth=16)
    assert (enc.bitwidth, enc.symmetric, enc.axis) == (16, True, 0)
    np.testing.assert_allclose(enc.delta, [0.005 / 32767, 1e-4])
    assert enc.offset.tolist() == [-32768, -32768] and enc.offset.dtype == np.int64
    one_d = per_channel_symmetric(np.array([0.5, -2.0]), axis=-1)  # each element a channel
    np.testing.assert_allclose(one_d.delta, [0.5 / 127, 2.0 / 127])
    assert one_d.axis == 0
