"""Pooling kernels against ONNX Runtime: pads, strides, dilations, ceil_mode, auto_pad."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op

RNG = np.random.default_rng(0)


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


WINDOWS = [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [2, 2], "strides": [2, 2]},
    {"kernel_shape": [3, 3]},
    {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [1, 0, 2, 1]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0], "ceil_mode": 1},
    {"kernel_shape": [2, 3], "strides": [3, 2], "pads": [0, 1, 1, 1], "ceil_mode": 1},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"},
    {"kernel_shape": [4, 4], "strides": [3, 3], "auto_pad": "SAME_LOWER"},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"},
]


@pytest.mark.parametrize("attrs", WINDOWS)
def test_max_pool(attrs):
    (y,) = check_op("MaxPool", {"x": _f(2, 3, 11, 10)}, **attrs)
    assert y.flags.c_contiguous


@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [3, 3], "dilations": [2, 2]},
        {"kernel_shape": [2, 3], "strides": [2, 1], "dilations": [2, 2], "pads": [1, 2, 1, 2]},
        {"kernel_shape": [3, 2], "strides": [2, 2], "dilations": [1, 3], "ceil_mode": 1},
    ],
)
def test_max_pool_dilations(attrs):
    check_op("MaxPool", {"x": _f(1, 3, 12, 11)}, **attrs)


def test_max_pool_1d_3d_and_integers():
    check_op("MaxPool", {"x": _f(2, 3, 15)}, kernel_shape=[3], strides=[2], pads=[1, 1])
    check_op("MaxPool", {"x": _f(1, 2, 5, 6, 7)}, kernel_shape=[2, 3, 2], strides=[2, 2, 1])
    x = RNG.integers(-100, 100, (1, 2, 6, 6)).astype(np.int8)
    check_op("MaxPool", {"x": x}, kernel_shape=[3, 3], pads=[1, 1, 1, 1], opset=12)
    x = RNG.integers(0, 255, (1, 2, 6, 6)).astype(np.uint8)
    check_op("MaxPool", {"x": x}, kernel_shape=[2, 2], strides=[2, 2], opset=12)


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"kernel_shape": [2, 3], "strides": [1, 2]},
    ],
)
def test_max_pool_indices(attrs, storage_order):
    check_op("MaxPool", {"x": _f(2, 3, 7, 8)}, n_outputs=2, storage_order=storage_order, **attrs)


def test_max_pool_indices_pick_first_of_ties():
    x = np.zeros((1, 1, 4, 4), np.float32)
    (_, idx) = check_op("MaxPool", {"x": x}, n_outputs=2, kernel_shape=[2, 2], strides=[2, 2])
    assert idx.ravel().tolist() == [0, 2, 8, 10]


@pytest.mark.parametrize("attrs", WINDOWS)
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool(attrs, count_include_pad):
    check_op("AveragePool", {"x": _f(2, 3, 11, 10)}, count_include_pad=count_include_pad, **attrs)


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_dilations_opset19(count_include_pad):
    check_op(
        "AveragePool",
        {"x": _f(1, 3, 12, 11)},
        kernel_shape=[3, 2],
        strides=[2, 1],
        dilations=[2, 3],
        pads=[2, 1, 1, 0],
        count_include_pad=count_include_pad,
        opset=19,
    )


def test_average_pool_1d_and_3d():
    check_op("AveragePool", {"x": _f(2, 3, 15)}, kernel_shape=[4], strides=[3], pads=[1, 2])
    check_op(
        "AveragePool",
        {"x": _f(1, 2, 5, 6, 7)},
        kernel_shape=[2, 3, 3],
        pads=[1, 1, 1, 0, 1, 1],
        count_include_pad=1,
    )


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool(p):
    check_op(
        "LpPool", {"x": _f(1, 3, 9, 8)}, p=p, kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1]
    )
    check_op("GlobalLpPool", {"x": _f(2, 3, 5, 4)}, p=p, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 4, 10), (1, 2, 3, 4, 5)])
def test_global_pools(op, shape):
    (y,) = check_op(op, {"x": _f(*shape)})
    assert y.shape == shape[:2] + (1,) * (len(shape) - 2)


@pytest.mark.parametrize("seed", range(60))
def test_pool_random_geometry(seed):
    rng = np.random.default_rng(seed)
    k = [int(rng.integers(1, 5)) for _ in range(2)]
    attrs = {
        "kernel_shape": k,
        "strides": [int(rng.integers(1, 4)) for _ in range(2)],
        "pads": [int(rng.integers(0, k[i % 2])) for i in range(4)],
        "ceil_mode": int(rng.integers(0, 2)),
    }
    op = "MaxPool" if seed % 2 else "AveragePool"
    if op == "MaxPool":
        attrs["dilations"] = [int(rng.integers(1, 3)) for _ in range(2)]
    else:
        attrs["count_include_pad"] = int(rng.integers(0, 2))
    reach = [(k[i] - 1) * attrs.get("dilations", [1, 1])[i] + 1 for i in range(2)]
    shape = (1, 2, int(rng.integers(reach[0], 12)), int(rng.integers(reach[1], 12)))
    check_op(op, {"x": rng.standard_normal(shape).astype(np.float32)}, **attrs)
