"""TFLite's table rules in the ``tflite`` rounding mode, with hand-checkable numbers."""

from __future__ import annotations

import numpy as np

from workbench.engine.quant.encoding import Encoding, quantize
from workbench.engine.quant.int_ops.elementwise import tflite_leaky_relu_table, tflite_lut_codes
from workbench.engine.quant.requant import quantize_multiplier, requantize


def _enc(delta: float, zp: int) -> Encoding:
    return Encoding(-zp * delta, (255 - zp) * delta, delta, -zp, 8)


def test_lut_entries_multiply_by_the_float32_reciprocal():
    # LUTPopulate: round(f(x) * (1 / scale)) in float32. With this scale, y / scale is
    # 2.5 exactly in float32 but y * (1 / scale) is 2.4999998: one code apart.
    d = float(np.float32(0.06405920535326004))
    y = np.float32(0.1601480096578598)
    assert y / np.float32(d) == np.float32(2.5)
    out = _enc(d, 128)
    assert int(quantize(np.array([y]), out)[0]) == 131  # the workbench's division
    assert int(tflite_lut_codes(np.array([y], dtype=np.float64), out)[0]) == 130


def test_leaky_relu_table_is_two_float32_multipliers_rounded_twice():
    enc, out = _enc(0.028030280023813248, 123), _enc(0.018395081162452698, 54)
    table = tflite_leaky_relu_table(enc, out, 0.1)
    f32 = np.float32
    # TFLite's Prepare multiplies float scales in float, not double: another multiplier
    alpha = float(f32(f32(enc.delta) * f32(0.1)) / f32(out.delta))
    assert quantize_multiplier(alpha)[0] != quantize_multiplier(enc.delta * 0.1 / out.delta)[0]
    codes = np.arange(256) - 123
    m_a, s_a = quantize_multiplier(alpha)
    m_i, s_i = quantize_multiplier(float(f32(enc.delta) / f32(out.delta)))
    down = requantize(codes, m_a, s_a, 54, 0, 255, np.uint8, "tflite")
    up = requantize(codes, m_i, s_i, 54, 0, 255, np.uint8, "tflite")
    assert np.array_equal(table, np.where(codes >= 0, up, down))
    assert table[123] == 54 and table[0] < 54 < table[255]  # zero stays zero, slope 0.1 below
