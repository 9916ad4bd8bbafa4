"""A Gemm whose weight is computed at run time (an activation: BVLC AlexNet's "light"
form makes it with ConstantOfShape, too large to fold) still gets its 32-bit bias:
in units of input step x weight step, the weight's step being its calibrated one."""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from tests.engine.quant.qdq_walk import check_qdq
from workbench.engine.container import Container, make_manifest
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.quantizer import QuantOptions, quantize_container


def test_gemm_with_an_activation_weight_quantizes_its_32bit_bias(tmp_path):
    import onnx

    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Relu", ["w_in"], ["w"]),
        helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", 1, [1, 8]),
         helper.make_tensor_value_info("w_in", 1, [4, 8])],
        [helper.make_tensor_value_info("y", 1, [1, 4])],
        [numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")],
    )  # fmt: skip
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    g = import_onnx(path)
    samples = [
        {"x": rng.standard_normal((1, 8)).astype(np.float32),
         "w_in": rng.standard_normal((4, 8)).astype(np.float32)}
        for _ in range(3)
    ]  # fmt: skip
    options = QuantOptions(bias_bitwidth=32)
    q = quantize_container(Container(make_manifest(converter={}), g), samples[:2], options)
    c = q.container
    be = c.param_encodings["b"]
    assert be["bitwidth"] == 32 and c.graph.params["b"].dtype == np.int32
    assert be["delta"] == np.float64(c.encodings["x"]["delta"]) * c.encodings["w"]["delta"]
    assert check_qdq(c, samples).exact_share == 1.0
    # The integer path runs it too, within a step of fake-quant.
    for feeds in samples:
        ours = IntegerPlan(c).run(feeds)["y"]
        fake = FakeQuantPlan(c).run(feeds)["y"]
        assert np.abs(ours - fake).max() <= c.encodings["y"]["delta"] * 1.001
