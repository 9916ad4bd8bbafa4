"""Golden tests for the encoding arithmetic: every number here can be checked by hand."""

from __future__ import annotations

import json

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
    with pytest.raises(BadInput, match="conv1"):
        tf_encoding_of(np.array([0.0, np.inf]), name="conv1")
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
