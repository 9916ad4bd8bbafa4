"""QDQ ONNX export: ONNX Runtime running the export agrees with our fake-quant path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.engine.quant.qfixtures import (
    attention_model,
    cnn_model,
    feeds_for,
    load,
    quantize_for_tests,
)
from workbench.engine.container import Container
from workbench.engine.quant.encoding import encoding_from_dict
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.qdq import export_qdq
from workbench.errors import BadInput

ort = pytest.importorskip("onnxruntime")


def session(model: onnx.ModelProto, fused: bool = False):
    """ORT on the QDQ semantics (``fused=False``) or with its QDQ fusions (the default)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if not fused:
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def lsb_differences(container: Container, model: onnx.ModelProto, graph, fused=False, n=10):
    sess = session(model, fused)
    plan = FakeQuantPlan(container)
    out = graph.output_names[0]
    delta = container.encodings[out]["delta"]
    diffs = []
    for feeds in feeds_for(graph, n, seed=77):
        ours = plan.run(feeds)[out]
        theirs = sess.run([out], feeds)[0]
        assert theirs.shape == ours.shape
        diffs.append((np.abs(theirs - ours) / delta).ravel())
    return np.concatenate(diffs)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("qdq")
    return {
        "cnn": load(cnn_model(tmp / "cnn.onnx")),
        "attention": load(attention_model(tmp / "attention.onnx")),
    }


@pytest.mark.parametrize("name", ["cnn", "attention"])
def test_ort_agrees_with_fake_quant_within_one_lsb(models, name: str) -> None:
    graph = models[name]
    container = quantize_for_tests(graph, feeds_for(graph, 8))
    model = export_qdq(container)
    onnx.checker.check_model(model)
    lsb = lsb_differences(container, model, graph)
    assert np.mean(lsb <= 1.0 + 1e-3) >= 0.999
    assert lsb.max() <= 2.0 + 1e-3


def test_unsigned_weights_agree_with_ort_fused_kernels(models) -> None:
    graph = models["cnn"]
    container = quantize_for_tests(graph, feeds_for(graph, 8))
    model = export_qdq(container, signed_weights=False)
    lsb = lsb_differences(container, model, graph, fused=True)
    assert np.mean(lsb <= 1.0 + 1e-3) >= 0.999
    assert lsb.max() <= 1.0 + 1e-3  # the worst element too (measured: 0 LSB)


def test_sixteen_bit_activations_use_opset_21(models) -> None:
    graph = models["cnn"]
    container = quantize_for_tests(graph, feeds_for(graph, 8), act_bitwidth=16)
    model = export_qdq(container)
    assert model.opset_import[0].version == 21
    inits = {t.name: t for t in model.graph.initializer}
    zp = inits["y/zero_point"]
    assert zp.data_type == TensorProto.UINT16
    # 16-bit steps are so fine that float32 rounding inside the ops themselves decides
    # some of them: agreement is within a step or two, not to the bit.
    lsb = lsb_differences(container, model, graph, n=4)
    assert np.mean(lsb <= 1.0 + 1e-3) >= 0.95
    assert lsb.max() <= 4.0


def test_exported_structure(models) -> None:
    graph = models["cnn"]
    container = quantize_for_tests(graph, feeds_for(graph, 2))
    model = export_qdq(container)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dq = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    q_nodes = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]

    # A symmetric per-channel weight: int8 (to_signed), zero point 0, per-axis scales.
    w_enc = encoding_from_dict(container.param_encodings["w1"])
    node = dq["w1"]
    assert inits[node.input[0]].dtype == np.int8
    assert np.array_equal(inits[node.input[0]], container.graph.params["w1"].astype(np.int16) - 128)
    assert helper.get_attribute_value(node.attribute[0]) == 0  # axis
    np.testing.assert_allclose(inits[node.input[1]], w_enc.delta.astype(np.float32))
    assert not inits[node.input[2]].any()
    # A 32-bit bias: int32, scale in_scale * w_scale.
    node = dq["b1"]
    assert inits[node.input[0]].dtype == np.int32
    x_delta = container.encodings["x"]["delta"]
    np.testing.assert_allclose(inits[node.input[1]], (x_delta * w_enc.delta).astype(np.float32))
    # Every encoded activation: Quantize then Dequantize with zero point -offset (uint8).
    encoded = set(container.encodings)
    assert len(q_nodes) == len(encoded)
    y_enc = container.encodings["y"]
    assert inits["y/zero_point"].dtype == np.uint8
    assert int(inits["y/zero_point"]) == -y_enc["offset"]
    assert float(inits["y/scale"]) == np.float32(y_enc["delta"])
    assert [o.name for o in model.graph.output] == ["y"]


def test_old_opsets_are_converted(tmp_path: Path) -> None:
    # Softmax changed meaning at opset 13; the converter keeps the old one's.
    rng = np.random.default_rng(0)
    n = helper.make_node
    g = helper.make_graph(
        [
            n("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            n("Relu", ["c"], ["r"]),
            n("Softmax", ["r"], ["y"], axis=1),
        ],
        "old",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
        [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.save(model, tmp_path / "old.onnx")
    graph = load(tmp_path / "old.onnx")
    container = quantize_for_tests(graph, feeds_for(graph, 4))
    exported = export_qdq(container)
    assert exported.opset_import[0].version == 13
    lsb = lsb_differences(container, exported, graph, n=3)
    assert np.mean(lsb <= 1.0 + 1e-3) >= 0.999
    assert lsb.max() <= 1.0 + 1e-3


def test_refuses_a_float_container(models) -> None:
    graph = models["cnn"]
    with pytest.raises(BadInput):
        export_qdq(Container(manifest={"quantized": False}, graph=graph))
