"""Fake-quant execution: float kernels with every encoded activation on its grid."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.quant.qfixtures import (
    attention_model,
    cnn_model,
    feeds_for,
    load,
    quantize_for_tests,
)
from workbench.engine.executor import Plan
from workbench.engine.quant.encoding import encoding_from_dict, fake_quantize
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.sqnr import sqnr_db
from workbench.errors import InputListError


@pytest.fixture(scope="module", params=["cnn", "attention"])
def model(request, tmp_path_factory: pytest.TempPathFactory):
    make = {"cnn": cnn_model, "attention": attention_model}[request.param]
    graph = load(make(tmp_path_factory.mktemp(request.param) / "m.onnx"))
    return graph, quantize_for_tests(graph, feeds_for(graph, 4))


def test_every_encoded_tensor_is_on_its_grid(model) -> None:
    graph, container = model
    plan = FakeQuantPlan(container)
    seen: dict[str, np.ndarray] = {}
    plan.run(feeds_for(graph, 1, seed=9)[0], lambda name, v: seen.__setitem__(name, v))
    encoded = [n for n in seen if n in container.encodings]
    assert len(encoded) >= len(graph.nodes) - 4
    for name in encoded:
        enc = encoding_from_dict(container.encodings[name])
        assert np.array_equal(fake_quantize(seen[name], enc), seen[name]), name


def test_inputs_are_fake_quantized() -> None:
    from workbench.engine.graph import Graph, Node, TensorInfo
    from workbench.engine.quant.encoding import tf_encoding

    g = Graph(
        "relu",
        [TensorInfo("x", (1, 64))],
        [TensorInfo("y", (1, 64))],
        [Node("r", "Relu", ("x",), ("y",))],
    )
    ex, ey = tf_encoding(-1.0, 1.0), tf_encoding(0.0, 0.7)
    x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
    y = FakeQuantPlan(g, {"x": ex, "y": ey.to_dict()}).run({"x": x})["y"]
    assert np.array_equal(y, fake_quantize(np.maximum(fake_quantize(x, ex), 0), ey))
    with pytest.raises(InputListError):
        FakeQuantPlan(g, {"x": ex}).run({})


def test_container_and_graph_forms_agree(model) -> None:
    graph, container = model
    a = FakeQuantPlan(container)
    b = FakeQuantPlan(graph, container.encodings, _float_param_encodings(container, graph))
    feeds = feeds_for(graph, 1, seed=3)[0]
    out = graph.output_names[0]
    assert np.array_equal(a.run(feeds)[out], b.run(feeds)[out])


def _float_param_encodings(container, graph):
    return {k: v for k, v in container.param_encodings.items() if graph.params[k].dtype.kind == "f"}


def test_close_to_float(model) -> None:
    graph, container = model
    feeds = feeds_for(graph, 1, seed=4)[0]
    out = graph.output_names[0]
    ref = Plan(graph).run(feeds)[out]
    assert sqnr_db(ref, FakeQuantPlan(container).run(feeds)[out]) > 15.0
    # No encodings at all: exactly the float plan.
    assert np.array_equal(FakeQuantPlan(graph).run(feeds)[out], ref)
