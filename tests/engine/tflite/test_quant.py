"""TFLite scales and zero points as workbench encodings, and stored integers as codes:
hand-checked numbers for each storage type (``workbench/engine/tflite/quant.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.quant.encoding import ChannelEncoding, Encoding
from workbench.engine.tflite.quant import (
    activation_encoding,
    codes,
    dequantize,
    is_quantized,
    weight_encoding,
)
from workbench.engine.tflite.reader import Quantization


def q(scales: list[float], zero_points: list[int], axis: int = 0) -> Quantization:
    return Quantization(
        np.asarray(scales, dtype=np.float64), np.asarray(zero_points, dtype=np.int64), axis
    )


@pytest.mark.parametrize(
    ("dtype", "quantized"),
    [
        ("int8", True),
        ("uint8", True),
        ("int16", True),
        ("int32", True),  # biases
        ("int64", True),
        ("float32", False),  # a float tensor with stray parameters is still float
        ("float16", False),
        ("bool", False),
    ],
)
def test_which_tensors_hold_quantized_values(dtype: str, quantized: bool) -> None:
    assert is_quantized(dtype, q([0.5], [0])) is quantized
    assert is_quantized(dtype, None) is False


@pytest.mark.parametrize(
    ("dtype", "scale", "zp", "offset", "bitwidth"),
    [
        # int8 zero point -3: codes q + 128, offset -(zp + 128) = -125
        ("int8", 0.05, -3, -125, 8),
        ("int8", 0.25, -128, 0, 8),  # an all-positive (post-ReLU) grid
        ("uint8", 0.1, 128, -128, 8),  # uint8 codes are the codes
        ("int16", 2.0**-10, 0, -32768, 16),  # int16 zero point 0: codes q + 32768
    ],
)
def test_activation_encodings(dtype: str, scale: float, zp: int, offset: int, bitwidth: int):
    enc = activation_encoding(dtype, q([scale], [zp]))
    levels = 2**bitwidth - 1
    assert enc == Encoding(offset * scale, (offset + levels) * scale, scale, offset, bitwidth)
    assert not enc.symmetric and enc.zero_point == -offset


def test_activation_encoding_golden_ends() -> None:
    enc = activation_encoding("int8", q([0.05], [-3]))
    assert (enc.min, enc.max) == pytest.approx((-6.25, 6.5))  # -125 * 0.05, 130 * 0.05
    enc16 = activation_encoding("int16", q([2.0**-10], [0]))
    assert (enc16.min, enc16.max) == (-32.0, 32767 / 1024)


def test_per_channel_int8_weights_are_symmetric_channel_encodings() -> None:
    enc = weight_encoding("int8", q([0.01, 0.02, 0.5], [0, 0, 0], axis=3), axis=1)
    assert isinstance(enc, ChannelEncoding)
    assert enc.axis == 1 and enc.bitwidth == 8 and enc.symmetric
    np.testing.assert_array_equal(enc.offset, [-128, -128, -128])
    np.testing.assert_array_equal(enc.delta, [0.01, 0.02, 0.5])
    np.testing.assert_allclose(enc.min, [-1.28, -2.56, -64.0])
    np.testing.assert_allclose(enc.max, [1.27, 2.54, 63.5])


def test_per_channel_weights_with_zero_points_are_asymmetric() -> None:
    enc = weight_encoding("int8", q([0.1, 0.2], [0, 5]), axis=0)
    assert isinstance(enc, ChannelEncoding) and not enc.symmetric
    np.testing.assert_array_equal(enc.offset, [-128, -133])
    np.testing.assert_allclose(enc.min, [-12.8, -26.6])
    np.testing.assert_allclose(enc.max, [12.7, 24.4])  # (-133 + 255) * 0.2


@pytest.mark.parametrize(
    ("dtype", "zp", "offset", "bitwidth", "symmetric"),
    [
        ("int8", 0, -128, 8, True),
        ("int8", 4, -132, 8, False),
        ("uint8", 0, 0, 8, False),  # uint8 with zero point 0 is all-positive, not symmetric
        ("uint8", 128, -128, 8, False),
        ("int16", 0, -32768, 16, True),
    ],
)
def test_per_tensor_weight_encodings(dtype, zp, offset, bitwidth, symmetric) -> None:
    enc = weight_encoding(dtype, q([0.5], [zp]), axis=2)
    levels = 2**bitwidth - 1
    assert isinstance(enc, Encoding)
    assert enc == Encoding(offset * 0.5, (offset + levels) * 0.5, 0.5, offset, bitwidth, symmetric)


def test_codes_are_unsigned_for_8_and_16_bits_and_int32_for_biases() -> None:
    i8 = codes(np.array([-128, -1, 0, 127], dtype=np.int8))
    assert i8.dtype == np.uint8 and i8.tolist() == [0, 127, 128, 255]
    i16 = codes(np.array([-32768, -1, 0, 32767], dtype=np.int16))
    assert i16.dtype == np.uint16 and i16.tolist() == [0, 32767, 32768, 65535]
    edge = [-(2**31), -1, 0, 2**31 - 1]
    i64 = codes(np.array(edge, dtype=np.int64))
    assert i64.dtype == np.int32 and i64.tolist() == edge
    u8 = np.array([0, 7, 255], dtype=np.uint8)
    same = codes(u8)
    assert same.dtype == np.uint8 and same.tolist() == [0, 7, 255]
    same[0] = 9
    assert u8[0] == 0  # a copy: the model's buffer is never written through
    assert codes(np.zeros(0, dtype=np.int64)).dtype == np.int32


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1])
def test_a_64_bit_bias_past_int32_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="^a 64-bit bias does not fit in 32 bits$"):
        codes(np.array([0, value], dtype=np.int64))


def test_dequantize_per_tensor_and_per_channel() -> None:
    data = np.array([[-128, 0, 127], [-3, 1, 2]], dtype=np.int8)
    out = dequantize(data, q([0.5], [-3]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[-62.5, 1.5, 65.0], [0.0, 2.0, 2.5]])
    # per channel along axis 1: scales 1, 0.5, 0.25 and zero points 0, 2, -4
    per = dequantize(data, q([1.0, 0.5, 0.25], [0, 2, -4], axis=1))
    np.testing.assert_array_equal(per, [[-128.0, -1.0, 32.75], [-3.0, -0.5, 1.5]])
    # the same along axis 0 (two channels)
    rows = dequantize(data, q([2.0, 0.1], [1, 0], axis=0))
    np.testing.assert_allclose(rows, [[-258.0, -2.0, 252.0], [-0.3, 0.1, 0.2]], rtol=1e-6)


def test_per_channel_int16_weights_keep_16_bits() -> None:
    enc = weight_encoding("int16", q([2.0**-12, 2.0**-10], [0, 0]), axis=0)
    assert isinstance(enc, ChannelEncoding)
    assert (enc.bitwidth, enc.symmetric, enc.dtype) == (16, True, np.uint16)
    np.testing.assert_array_equal(enc.offset, [-32768, -32768])
    np.testing.assert_array_equal(enc.max, [32767 * 2.0**-12, 32767 * 2.0**-10])
