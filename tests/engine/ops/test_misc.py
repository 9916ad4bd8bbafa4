"""NaN/Inf tests, group / RMS / Lp / mean-variance normalization, ReduceLogSum,
Shrink, bitwise logic, EyeLike and trigonometry against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op
from workbench.engine.ops import supported_ops

RNG = np.random.default_rng(5)


def _f(*shape: int, lo: float = -3.0, hi: float = 3.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(np.float32)


SPECIAL = np.array([[0.0, np.nan, np.inf], [-np.inf, -1.5, 3e38]], np.float32)


def test_is_nan() -> None:
    (y,) = check_op("IsNaN", {"x": SPECIAL}, opset=13)
    assert y.tolist() == [[False, True, False], [False, False, False]]


@pytest.mark.parametrize(("neg", "pos"), [(1, 1), (0, 1), (1, 0), (0, 0)])
def test_is_inf(neg, pos) -> None:
    check_op("IsInf", {"x": SPECIAL}, opset=10, detect_negative=neg, detect_positive=pos)


# -- normalizations -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 6, 5, 4), (1, 8, 7), (2, 4, 2, 3, 3)])
@pytest.mark.parametrize("groups", [1, 2])
def test_group_norm_opset21_per_channel(shape, groups) -> None:
    c = shape[1]
    check_op(
        "GroupNormalization",
        {"x": _f(*shape)},
        {"s": _f(c), "b": _f(c)},
        opset=21,
        num_groups=groups,
        epsilon=1e-3,
    )


def test_group_norm_one_group_per_channel() -> None:
    check_op(
        "GroupNormalization",
        {"x": _f(2, 4, 3, 3)},
        {"s": _f(4), "b": _f(4)},
        opset=21,
        num_groups=4,
    )


@pytest.mark.parametrize("groups", [1, 3])
def test_group_norm_opset18_per_group_scale(groups) -> None:
    check_op(
        "GroupNormalization",
        {"x": _f(2, 6, 4, 5)},
        {"s": _f(groups), "b": _f(groups)},
        opset=18,
        num_groups=groups,
    )


@pytest.mark.parametrize("axis", [-1, -2, 1])
def test_rms_norm(axis) -> None:
    shape = (2, 3, 4, 8)
    scale = _f(*shape[axis % 4 :])
    check_op("RMSNormalization", {"x": _f(*shape)}, {"s": scale}, opset=23, axis=axis)


def test_rms_norm_float16_computes_in_float32() -> None:
    x = _f(2, 5, 16).astype(np.float16)
    check_op(
        "RMSNormalization",
        {"x": x},
        {"s": _f(16).astype(np.float16)},
        opset=23,
        epsilon=1e-6,
        rtol=2e-3,
        atol=2e-3,
    )


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_lp_norm(p, axis) -> None:
    check_op("LpNormalization", {"x": _f(3, 4, 5)}, opset=13, p=p, axis=axis)


def test_lp_norm_zero_vector_stays_zero() -> None:
    x = _f(3, 4)
    x[1] = 0
    (y,) = check_op("LpNormalization", {"x": x}, opset=13)
    assert not np.any(y[1])


@pytest.mark.parametrize("axes", [None, [0, 2, 3], [2, 3], [1]])
def test_mean_variance_norm(axes) -> None:
    attrs = {} if axes is None else {"axes": axes}
    check_op("MeanVarianceNormalization", {"x": _f(2, 3, 4, 5)}, opset=13, **attrs)


@pytest.mark.parametrize("axes", [None, [1], [0, 2]])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_log_sum(axes, keepdims) -> None:
    x = _f(2, 3, 4, lo=0.1, hi=2.0)
    attrs = {"keepdims": keepdims}
    check_op(
        "ReduceLogSum", {"x": x}, opset=13, **attrs, **({} if axes is None else {"axes": axes})
    )
    if axes is not None:
        check_op("ReduceLogSum", {"x": x}, {"a": np.array(axes, np.int64)}, opset=18, **attrs)


# -- elementwise ----------------------------------------------------------------------


@pytest.mark.parametrize(("bias", "lambd"), [(0.0, 0.5), (1.5, 1.0)])
def test_shrink(bias, lambd) -> None:
    check_op("Shrink", {"x": _f(4, 5)}, opset=9, bias=bias, lambd=lambd)


def test_shrink_integers() -> None:
    x = np.arange(-5, 6, dtype=np.int32)
    check_op("Shrink", {"x": x}, opset=9, bias=2.0, lambd=1.5)


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64])
def test_bitwise_binary(op, dtype) -> None:
    a = RNG.integers(0, 100, (3, 4)).astype(dtype)
    b = RNG.integers(0, 100, (4,)).astype(dtype)
    check_op(op, {"a": a, "b": b}, opset=18)


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, np.int8])
def test_bitwise_not(dtype) -> None:
    check_op("BitwiseNot", {"a": RNG.integers(0, 100, (3, 4)).astype(dtype)}, opset=18)


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bit_shift(direction) -> None:
    x = RNG.integers(0, 1000, (5,)).astype(np.uint32)
    y = np.array([0, 1, 2, 3, 4], np.uint32)
    check_op("BitShift", {"x": x, "y": y}, opset=11, direction=direction)


@pytest.mark.parametrize(
    ("op", "lo", "hi"),
    [
        ("Tan", -1.4, 1.4),
        ("Asin", -1.0, 1.0),
        ("Acos", -1.0, 1.0),
        ("Atan", -10.0, 10.0),
        ("Sinh", -5.0, 5.0),
        ("Cosh", -5.0, 5.0),
        ("Asinh", -10.0, 10.0),
        ("Acosh", 1.0, 10.0),
        ("Atanh", -0.99, 0.99),
    ],
)
def test_trigonometry(op, lo, hi) -> None:
    check_op(op, {"x": _f(3, 7, lo=lo, hi=hi)}, opset=9)


@pytest.mark.parametrize(("k", "dtype"), [(0, None), (1, 7), (-2, 1)])
def test_eye_like(k, dtype) -> None:
    attrs = {"k": k} | ({} if dtype is None else {"dtype": dtype})
    check_op("EyeLike", {"x": _f(4, 6)}, opset=9, **attrs)


def test_non_max_suppression_stays_unsupported() -> None:
    # Its output shape depends on the scores; the static IR cannot describe it.
    assert "NonMaxSuppression" not in supported_ops()


# -- QuantizeLinear / DequantizeLinear ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_dequantize_per_tensor(dtype) -> None:
    info = np.iinfo(dtype)
    x = RNG.integers(info.min, info.max + 1, (3, 4, 5)).astype(dtype)
    zp = np.array(3 if dtype == np.uint8 else -2, dtype)
    check_op("DequantizeLinear", {"x": x}, {"s": np.array(0.05, np.float32), "zp": zp}, opset=13)


def test_dequantize_per_axis_and_int32_without_zero_point() -> None:
    x = RNG.integers(-128, 128, (4, 3, 2, 2)).astype(np.int8)
    scale = np.array([0.1, 0.02, 0.5, 1.5], np.float32)
    check_op(
        "DequantizeLinear", {"x": x}, {"s": scale, "zp": np.zeros(4, np.int8)}, axis=0, opset=13
    )
    bias = RNG.integers(-5000, 5000, (6,)).astype(np.int32)
    check_op("DequantizeLinear", {"x": bias}, {"s": np.array(0.001, np.float32)}, opset=13)


def test_dequantize_blocked() -> None:
    x = RNG.integers(0, 256, (2, 6, 4)).astype(np.uint8)
    scale = RNG.uniform(0.01, 0.1, (2, 3, 4)).astype(np.float32)
    zp = RNG.integers(0, 10, (2, 3, 4)).astype(np.uint8)
    check_op("DequantizeLinear", {"x": x}, {"s": scale, "zp": zp}, axis=1, block_size=2, opset=21)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16])
def test_quantize_per_tensor_rounds_half_to_even_and_saturates(dtype) -> None:
    x = np.concatenate(
        [_f(40, lo=-20, hi=20), np.array([0.25, 0.75, -0.25, 1e6, -1e6], np.float32)]
    )
    zp = np.array(1, dtype)
    check_op("QuantizeLinear", {"x": x}, {"s": np.array(0.5, np.float32), "zp": zp}, opset=21)


def test_quantize_default_uint8_per_axis_and_blocked() -> None:
    x = _f(2, 3, 4, lo=-5, hi=5)
    check_op("QuantizeLinear", {"x": x}, {"s": np.array(0.1, np.float32)}, opset=13)
    scale = np.array([0.05, 0.1, 0.2], np.float32)
    check_op(
        "QuantizeLinear", {"x": x}, {"s": scale, "zp": np.array([0, 5, -5], np.int8)}, opset=13
    )
    blocked = RNG.uniform(0.02, 0.1, (2, 3, 2)).astype(np.float32)
    zp = np.zeros((2, 3, 2), np.int8)
    check_op("QuantizeLinear", {"x": x}, {"s": blocked, "zp": zp}, axis=2, block_size=2, opset=21)


# -- GridSample -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_2d(mode, padding, align) -> None:
    grid = _f(2, 5, 6, 2, lo=-1.3, hi=1.3)  # some samples fall outside the image
    check_op(
        "GridSample",
        {"x": _f(2, 3, 4, 7), "grid": grid},
        opset=16,
        mode=mode,
        padding_mode=padding,
        align_corners=align,
    )


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border"])
def test_grid_sample_3d_opset20(mode, padding) -> None:
    grid = _f(1, 3, 4, 5, 3, lo=-1.2, hi=1.2)
    check_op(
        "GridSample",
        {"x": _f(1, 2, 4, 5, 6), "grid": grid},
        opset=20,
        mode=mode,
        padding_mode=padding,
    )


def test_image_scaler() -> None:
    check_op("ImageScaler", {"x": _f(1, 3, 4, 5)}, opset=8, scale=1 / 255, bias=[-0.5, 0.1, 2.0])
