"""Constant Pad in integers: the fill may lie outside the input's range."""

import numpy as np
import pytest

from workbench.engine.container import Container, make_manifest
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.quantizer import quantize_container


@pytest.mark.parametrize("fill", [0.0, 10.0, -3.0])
def test_pad_fill_outside_the_input_range_matches_fake_quant(fill):
    graph = Graph(
        name="pad",
        inputs=[TensorInfo("x", (1, 2, 4, 4))],
        outputs=[TensorInfo("y", (1, 2, 6, 6))],
        nodes=[
            Node("relu", "Relu", ("x",), ("r",)),
            Node("pad", "Pad", ("r", "pads", "value"), ("p",)),
            Node("out", "Mul", ("p", "two"), ("y",)),
        ],
        params={
            "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
            "value": np.array(fill, np.float32),
            "two": np.array(2.0, np.float32),
        },
        tensors={"r": TensorInfo("r", (1, 2, 4, 4)), "p": TensorInfo("p", (1, 2, 6, 6))},
        opset=17,
    )
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.uniform(-1, 2, (1, 2, 4, 4)).astype(np.float32)} for _ in range(4)]
    q = quantize_container(Container(make_manifest(), graph), feeds).container
    got = IntegerPlan(q).run(feeds[0])["y"]
    want = FakeQuantPlan(q).run(feeds[0])["y"]
    delta = q.encodings["y"]["delta"]
    assert np.abs(got - want).max() <= delta * 1.01
    assert abs(got[0, 0, 0, 0] - 2 * fill) <= 2 * delta + abs(fill) * 0.01
