"""DFT and STFT against ONNX Runtime (and onnx.reference where ORT lacks a form)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from tests.engine.opcheck import check_op
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo

RNG = np.random.default_rng(17)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def i64(v):
    return np.array(v, np.int64)


@pytest.mark.parametrize(
    ("channels", "onesided", "with_window", "with_length"),
    [(1, 1, True, False), (1, 0, True, True), (2, 0, False, True), (1, 1, False, True)],
)
def test_stft(channels, onesided, with_window, with_length):
    signal = f32(2, 100, channels)
    consts = {"step": i64(7)}
    order = ["x", "step", "", ""]
    if with_window:
        consts["w"] = np.hanning(16).astype(np.float32)
        order[2] = "w"
    if with_length:
        consts["n"] = i64(16)
        order[3] = "n"
    # Relative tolerance of float32 FFTs (ORT) against float64 ones (ours).
    check_op("STFT", {"x": signal}, consts, input_order=order, opset=17, onesided=onesided,
             rtol=1e-4, atol=1e-4)  # fmt: skip


def test_stft_refuses_a_window_of_another_length():
    node = Node("s", "STFT", ("x", "step", "w", "n"), ("y",), {}, "")
    graph = Graph(
        name="g",
        inputs=[TensorInfo("x", (1, 64, 1), "float32")],
        outputs=[TensorInfo("y", (), "float32")],
        nodes=[node],
        params={"step": i64(4), "w": np.ones(8, np.float32), "n": i64(16)},
        opset=17,
    )
    with pytest.raises(Exception, match="window length 8 differs from frame_length 16"):
        Plan(graph).run({"x": f32(1, 64, 1)})


@pytest.mark.parametrize(
    ("shape", "axis", "inverse", "onesided", "length"),
    [
        ((3, 20, 1), 1, 0, 0, None),
        ((3, 20, 1), 1, 0, 1, None),
        ((3, 20, 2), 1, 1, 0, None),
        ((4, 6, 10, 2), 2, 0, 0, 16),
        ((4, 6, 10, 1), 2, 0, 1, 8),
    ],
)
def test_dft_17(shape, axis, inverse, onesided, length):
    consts = {"n": i64(length)} if length is not None else {}
    check_op("DFT", {"x": f32(*shape)}, consts, opset=17, axis=axis, inverse=inverse,
             onesided=onesided, atol=1e-4)  # fmt: skip


@pytest.mark.parametrize(("axis", "inverse", "onesided"), [(-2, 0, 0), (1, 0, 1), (-2, 1, 1)])
def test_dft_20_against_onnx_reference(axis, inverse, onesided):
    """Opset 20 moves ``axis`` to an input; ORT 1.x lacks it, onnx.reference is the judge
    (inverse + onesided: one-sided spectrum to a real signal)."""
    x = f32(3, 9, 2 if inverse else 1)
    node = helper.make_node("DFT", ["x", "", "axis"], ["y"], inverse=inverse, onesided=onesided)
    inputs = [helper.make_tensor_value_info("x", 1, x.shape)]
    graph = helper.make_graph(
        [node], "g", inputs, [helper.make_tensor_value_info("y", 1, None)],
        initializer=[numpy_helper.from_array(i64(axis), "axis")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    ours = Plan(
        Graph(
            name="g",
            inputs=[TensorInfo("x", x.shape, "float32")],
            outputs=[TensorInfo("y", (), "float32")],
            nodes=[
                Node(
                    "d",
                    "DFT",
                    ("x", "", "axis"),
                    ("y",),
                    dict(inverse=inverse, onesided=onesided),
                    "",
                )
            ],  # fmt: skip
            params={"axis": i64(axis)},
            opset=20,
        )
    ).run({"x": x})["y"]
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
