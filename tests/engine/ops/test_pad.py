"""Pad against ONNX Runtime: every mode, negative pads, attribute and input forms."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op

RNG = np.random.default_rng(0)


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _p(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize(
    "pads", [(0, 0, 1, 2, 0, 0, 2, 1), (1, 0, 0, 3, 0, 2, 1, 0), (0, 1, 1, -1, 1, 0, -2, 1)]
)
def test_pad_modes(mode, pads):
    check_op("Pad", {"x": _f(2, 3, 4, 5)}, {"p": _p(*pads)}, mode=mode)


def test_pad_wrap_opset19():
    check_op("Pad", {"x": _f(2, 3, 4, 5)}, {"p": _p(0, 0, 1, 3, 0, 0, 2, 1)}, mode="wrap", opset=19)


def test_pad_constant_value_and_runtime_pads():
    check_op("Pad", {"x": _f(2, 3, 4)}, {"p": _p(1, 0, 2, 0, 1, 1), "v": np.array(1.5, np.float32)})
    check_op("Pad", {"x": _f(2, 3, 4), "p": _p(0, 1, 2, 0, 1, 1), "v": np.array(-2.0, np.float32)})


def test_pad_axes_input_opset18():
    check_op(
        "Pad",
        {"x": _f(2, 3, 4, 5)},
        {"p": _p(1, 2, 2, 1), "v": np.array(0.5, np.float32), "a": _p(-1, 1)},
        opset=18,
    )
    check_op(
        "Pad",
        {"x": _f(2, 3, 4, 5)},
        {"p": _p(1, 0, 0, 2), "a": _p(0, 2)},
        input_order=["x", "p", "", "a"],
        mode="edge",
        opset=18,
    )


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_attribute_form_before_opset11(mode):
    check_op(
        "Pad", {"x": _f(2, 3, 4, 5)}, pads=[0, 0, 1, 2, 0, 0, 2, 1], value=2.0, mode=mode, opset=2
    )


def test_pad_integer_tensor_and_contiguous_output():
    x = np.arange(20, dtype=np.int64).reshape(4, 5)
    check_op("Pad", {"x": x}, {"p": _p(1, 2, 2, 1), "v": np.array(7, np.int64)})
    (y,) = check_op("Pad", {"x": _f(2, 3)}, {"p": _p(0, 0, 0, 0)})
    assert y.flags.c_contiguous
