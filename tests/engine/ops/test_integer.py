"""Integer operators of dynamically quantized models against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op

RNG = np.random.default_rng(21)


def codes(dtype, *shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max + 1, shape).astype(dtype)


@pytest.mark.parametrize(
    "x",
    [
        RNG.standard_normal((3, 7)).astype(np.float32) * 4,
        np.abs(RNG.standard_normal((2, 5))).astype(np.float32) + 1,  # all positive
        -np.abs(RNG.standard_normal((2, 5))).astype(np.float32) - 1,  # all negative
        np.zeros((2, 3), np.float32),
        # Values on exact half steps of scale 2/255 after widening to [-1, 1]: ties to even.
        (np.arange(-255, 256, dtype=np.float32) / 255).reshape(1, -1),
        # Scale 0.5 exactly, zero point 0.5 before rounding: half to even gives 0.
        np.array([[-0.25, 127.25, 3.25, 5.0]], np.float32),
    ],
)
def test_dynamic_quantize_linear(x):
    check_op("DynamicQuantizeLinear", {"x": x}, n_outputs=3, rtol=0, atol=0)


@pytest.mark.parametrize(("a_type", "b_type"), [(np.uint8, np.int8), (np.uint8, np.uint8)])
@pytest.mark.parametrize("per_axis", [False, True])
def test_matmul_integer(a_type, b_type, per_axis):
    a, b = codes(a_type, 2, 4, 9), codes(b_type, 9, 6)
    a_zp = codes(a_type)  # ORT takes a scalar for A; B's may be per column
    b_zp = codes(b_type, 6) if per_axis else codes(b_type)
    check_op("MatMulInteger", {"a": a}, {"b": b, "az": a_zp, "bz": b_zp}, opset=17)
    check_op("MatMulInteger", {"a": a, "b": b}, opset=17)  # no zero points


@pytest.mark.parametrize(
    ("w_type", "attrs"),
    [
        (np.uint8, {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
        (np.int8, {"pads": [0, 1, 2, 1], "dilations": [2, 1]}),
        (np.uint8, {"group": 2, "pads": [1, 1, 1, 1]}),
    ],
)
def test_conv_integer(w_type, attrs):
    groups = attrs.get("group", 1)
    x = codes(np.uint8, 1, 4, 9, 8)
    w = codes(w_type, 6, 4 // groups, 3, 3)
    # Padding holds the input's zero point: a non-zero one shows whether it is honoured.
    check_op("ConvInteger", {"x": x}, {"w": w, "xz": np.uint8(131), "wz": codes(w_type)},
             opset=17, **attrs)  # fmt: skip
    check_op("ConvInteger", {"x": x, "w": w}, opset=17, **attrs)


def _quantized(w, per_column):
    """Symmetric int8 weight codes (ORT's DynamicQuantizeLSTM wants zero points 0), with
    a scale per direction or per direction and column."""
    peak = np.abs(w).max(axis=1) if per_column else np.abs(w).max(axis=(1, 2))
    scale = (peak / 127).astype(np.float32)
    s = scale[:, None, :] if per_column else scale[:, None, None]
    q = np.clip(np.rint(w / s), -127, 127).astype(np.int8)
    return q, scale, np.zeros(scale.shape, np.int8)


@pytest.mark.parametrize(
    ("direction", "per_column", "states"),
    [("forward", False, False), ("bidirectional", True, True), ("reverse", True, True)],
)
def test_dynamic_quantize_lstm(direction, per_column, states):
    dirs = 2 if direction == "bidirectional" else 1
    steps, batch, size, hidden = 5, 2, 6, 4
    w = RNG.standard_normal((dirs, size, 4 * hidden)).astype(np.float32) * 0.5
    r = RNG.standard_normal((dirs, hidden, 4 * hidden)).astype(np.float32) * 0.5
    wq, ws, wz = _quantized(w, per_column)
    rq, rs, rz = _quantized(r, per_column)
    x = RNG.standard_normal((steps, batch, size)).astype(np.float32)
    consts = {"w": wq, "r": rq, "b": RNG.standard_normal((dirs, 8 * hidden)).astype(np.float32)}
    inputs = {"x": x}
    order = ["x", "w", "r", "b", "", "", "", "", "ws", "wz", "rs", "rz"]
    if states:
        inputs["h0"] = RNG.standard_normal((dirs, batch, hidden)).astype(np.float32)
        inputs["c0"] = RNG.standard_normal((dirs, batch, hidden)).astype(np.float32)
        order[5:7] = ["h0", "c0"]
    consts.update(ws=ws, wz=wz, rs=rs, rz=rz)
    check_op("DynamicQuantizeLSTM", inputs, consts, n_outputs=3, input_order=order,
             domain="com.microsoft", direction=direction, hidden_size=hidden,
             rtol=1e-5, atol=1e-5)  # fmt: skip
