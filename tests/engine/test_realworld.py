"""Real-world-shaped models through ``import_onnx(path, input_dims)``, against ONNX Runtime.

The models (``realworld_models.py``) copy the graph patterns of torch.onnx, YOLO, SSD,
MobileNet, EfficientNet and ViT exports at toy sizes. Each is saved, imported with
``--input-dim``-style dimensions fixing its symbolic inputs, run by our executor and
by ONNX Runtime (all graph optimizations off) on the same random feed.

Each graph goes through what ``workbench convert`` does after importing (summary,
container write and read) before it runs.

Tolerance: ``rtol = 1e-4`` and ``atol = 1e-4 * max|reference|`` per output. The
absolute part scales with the output because decoded detector boxes reach hundreds
of pixels while class scores sit near zero; a few float32 ulps of the largest value
is what reordered accumulations (BLAS vs ORT's MLAS) cost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.engine import realworld_models as rw
from workbench.engine.container import Container, read_container, write_container
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph
from workbench.engine.onnx_import import import_onnx, upgrade_old_opset
from workbench.engine.summary import summarize
from workbench.errors import UnsupportedOperators

RTOL = 1e-4
ATOL_SCALE = 1e-4


def _ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def _max_rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(ours - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


def check_against_ort(case: rw.RealWorldModel, tmp_path: Path) -> tuple[Graph, float]:
    """Import ``case`` with its input dims, run both engines, assert agreement.

    Returns the graph and the worst max-abs-error relative to the output's magnitude.
    """
    path = tmp_path / "model.onnx"
    onnx.save(case.model, str(path))
    graph = import_onnx(path, case.input_dims)
    # What ``workbench convert`` does next: summarize and write a container.
    summarize(Container(manifest={}, graph=graph))
    write_container(tmp_path / "model.dlc", Container(manifest={}, graph=graph))
    graph = read_container(tmp_path / "model.dlc").graph
    ours = Plan(graph).run(case.feeds)
    expected = _ort(case.model, case.feeds)

    assert graph.output_names == [o.name for o in case.model.graph.output]
    worst = 0.0
    for out in graph.outputs:
        ref, got = expected[out.name], np.asarray(ours[out.name])
        assert out.shape == ref.shape, f"{out.name}: declared {out.shape}, ORT gives {ref.shape}"
        assert got.shape == ref.shape and got.dtype == ref.dtype, out.name
        atol = ATOL_SCALE * float(np.max(np.abs(ref)))
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=atol, err_msg=out.name)
        worst = max(worst, _max_rel_err(got, ref))
    return graph, worst


def _ops(graph: Graph) -> set[str]:
    return {n.op_type for n in graph.nodes}


# -- a. transformers ------------------------------------------------------------------------


@pytest.mark.parametrize("mask_style", ["mul", "where"])
def test_bert_encoder(mask_style: str, tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.bert_encoder(mask_style=mask_style), tmp_path)
    assert err < 1e-4
    # Every shape computation (position ids, token types, head reshapes) folded away.
    assert not _ops(graph) & {"Shape", "Range", "ConstantOfShape", "Concat"}
    assert graph.tensors["last_hidden_state"].shape == (2, 7, 32)


def test_bert_encoder_other_input_dims(tmp_path: Path) -> None:
    check_against_ort(rw.bert_encoder(batch=1, seq=12), tmp_path)


def test_roberta_position_ids_from_cumsum(tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.bert_encoder(positions="cumsum"), tmp_path)
    assert err < 1e-4
    assert "CumSum" in _ops(graph)  # depends on the token values: stays


@pytest.mark.parametrize("causal", ["slice", "trilu"])
def test_gpt2_decoder(causal: str, tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.gpt2_decoder(causal=causal), tmp_path)
    assert err < 1e-4
    # The causal mask depends only on shapes: it folds to a constant.
    assert not _ops(graph) & {"Shape", "Slice", "Trilu", "ConstantOfShape", "Range"}


@pytest.mark.parametrize("opset", [17, 23])
def test_llama_decoder(opset: int, tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.llama_decoder(opset=opset), tmp_path)
    assert err < 1e-4
    assert not _ops(graph) & {"Shape", "Trilu", "Cos", "Sin", "Range"}
    assert ("RMSNormalization" in _ops(graph)) == (opset >= 23)


def test_vit(tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.vit(), tmp_path)
    assert err < 1e-4
    assert "Einsum" in _ops(graph)
    assert not _ops(graph) & {"Shape", "Where", "Equal", "ConstantOfShape"}


# -- b. detectors ---------------------------------------------------------------------------


def test_yolo_detector(tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.yolo_detector(), tmp_path)
    assert err < 1e-4
    assert graph.outputs[0].shape == (1, 3 * (64 + 16 + 4), 85)
    assert {"ScatterND", "Resize", "MaxPool", "Split"} <= _ops(graph)
    assert "Shape" not in _ops(graph)


def test_ssd_detector(tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.ssd_detector(), tmp_path)
    assert err < 1e-4
    assert [o.shape for o in graph.outputs] == [(2, 336, 4), (2, 336, 6)]


def test_yolov8_head(tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.yolov8_head(), tmp_path)
    assert err < 1e-4
    assert graph.outputs[0].shape == (1, 16, 16 * 16 + 8 * 8 + 4 * 4)


def test_detector_with_nms_lists_what_is_missing(tmp_path: Path) -> None:
    case = rw.ssd_detector()
    g = case.model.graph
    scores_t = onnx.helper.make_node("Transpose", ["scores"], ["scores_t"], perm=[0, 2, 1])
    nms = onnx.helper.make_node(
        "NonMaxSuppression", ["boxes", "scores_t"], ["selected"], name="nms", center_point_box=0
    )
    g.node.extend([scores_t, nms])
    g.output.append(
        onnx.helper.make_tensor_value_info("selected", onnx.TensorProto.INT64, ["k", 3])
    )
    path = tmp_path / "model.onnx"
    onnx.save(case.model, str(path))
    with pytest.raises(UnsupportedOperators) as err:
        import_onnx(path, case.input_dims)
    assert err.value.missing == {"NonMaxSuppression": ["nms"]}
    assert "NonMaxSuppression" in str(err.value)


# -- c. CNNs --------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [10, 13])
def test_mobilenet_v2(opset: int, tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.mobilenet_v2(opset=opset), tmp_path)
    assert err < 1e-4
    assert "BatchNormalization" not in _ops(graph)  # folded into the convs
    assert graph.opset == opset


def test_efficientnet(tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.efficientnet(), tmp_path)
    assert err < 1e-4
    assert {"HardSwish", "HardSigmoid", "ReduceMean"} <= _ops(graph)


def test_tf2onnx_nhwc_cnn(tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.tf2onnx_cnn(), tmp_path)
    assert err < 1e-4
    assert graph.outputs[0].shape == (2, 5)


def test_qdq_quantized_cnn(tmp_path: Path) -> None:
    graph, err = check_against_ort(rw.qdq_cnn(batch=2), tmp_path)
    assert err < 1e-4
    # Weight and bias DequantizeLinear fold to float parameters; activations keep Q/DQ.
    assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(graph)
    assert all(
        graph.params[n.inputs[1]].dtype == np.float32 for n in graph.nodes if n.op_type == "Conv"
    )


# -- e. opset 6 -----------------------------------------------------------------------------


def test_caffe2_era_opset6_cnn_is_upgraded(tmp_path: Path) -> None:
    legacy, twin = rw.caffe2_cnn(opset=6), rw.caffe2_cnn(opset=7)
    path = tmp_path / "model.onnx"
    onnx.save(legacy.model, str(path))
    graph = import_onnx(path)
    assert graph.opset == 7
    ours = Plan(graph).run(legacy.feeds)["prob"]
    # The reference: ONNX Runtime (which has no opset-6 kernels) on the same network
    # written with opset-7 broadcasting.
    ref = _ort(twin.model, twin.feeds)["prob"]
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL_SCALE * np.max(np.abs(ref)))


def test_pytorch_converted_opset6_prelu_model() -> None:
    folder = (
        Path(onnx.__file__).parent / "backend/test/data/pytorch-converted/test_PReLU_2d_multiparam"
    )
    model = onnx.load(str(folder / "model.onnx"))
    assert model.opset_import[0].version == 6
    graph = import_onnx(folder / "model.onnx")
    data = folder / "test_data_set_0"
    x = onnx.numpy_helper.to_array(onnx.load_tensor(str(data / "input_0.pb")))
    stored = onnx.numpy_helper.to_array(onnx.load_tensor(str(data / "output_0.pb")))
    ours = Plan(graph).run({graph.input_names[0]: x})[graph.output_names[0]]
    np.testing.assert_allclose(ours, stored, rtol=1e-4, atol=1e-5)
    ref = _ort(upgrade_old_opset(model), {graph.input_names[0]: x})[graph.output_names[0]]
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=1e-6)
