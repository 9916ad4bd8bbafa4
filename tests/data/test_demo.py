"""The bundled demo model and data: real, trained, small, and consistent with meta.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from workbench import data
from workbench.errors import BadInput


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return onnx.load(str(data.demo_model_path()))


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads((data.demo_dir() / "meta.json").read_text(encoding="utf-8"))


def test_model_passes_checker_with_the_documented_interface(model):
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 13
    (inp,) = model.graph.input
    assert inp.name == "image"
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, 32, 32]
    outputs = {
        o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output
    }
    assert outputs["logits"] == [1, 10]


def test_model_has_batchnorm_depthwise_conv_and_gemm(model):
    ops = [n.op_type for n in model.graph.node]
    assert "BatchNormalization" in ops and "Gemm" in ops
    weights = {t.name: t for t in model.graph.initializer}
    depthwise = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        out_channels = weights[node.input[1]].dims[0]
        if group > 1 and group == out_channels and weights[node.input[1]].dims[1] == 1:
            depthwise.append(node.name)
    assert depthwise


def test_model_has_a_conv_relu_conv_chain(model):
    producer = {out: node for node in model.graph.node for out in node.output}
    chains = [
        node.name
        for node in model.graph.node
        if node.op_type == "Conv"
        and producer.get(node.input[0]) is not None
        and producer[node.input[0]].op_type == "Relu"
        and producer[producer[node.input[0]].input[0]].op_type == "Conv"
    ]
    assert chains


def test_parameter_count_is_realistic(model):
    count = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert count >= 30_000


def test_onnxruntime_accuracy_matches_meta(meta):
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(data.demo_model_path()), opts, providers=["CPUExecutionProvider"]
    )
    images, labels = data.load_demo_images("validation"), data.load_demo_labels()
    logits = np.concatenate([session.run(["logits"], {"image": x[None]})[0] for x in images])
    accuracy = float((logits.argmax(axis=1) == labels).mean())
    assert accuracy >= 0.85
    assert accuracy < 1.0  # a task with nothing to lose would teach nothing
    assert abs(accuracy - meta["validation"]["accuracy"]) <= 0.005


def test_data_folder_fits_in_one_megabyte():
    total = sum(p.stat().st_size for p in data.demo_dir().rglob("*") if p.is_file())
    assert total <= 1_000_000


def test_loaders_return_normalized_float32_nchw(meta):
    val, cal = data.load_demo_images("validation"), data.load_demo_images("calibration")
    labels = data.load_demo_labels()
    assert val.dtype == cal.dtype == np.float32
    assert val.shape[1:] == cal.shape[1:] == (3, 32, 32)
    assert len(val) == len(labels) == meta["validation"]["count"]
    assert len(cal) == meta["calibration"]["count"]
    assert labels.dtype == np.int64 and set(np.unique(labels)) == set(range(10))
    assert val.min() >= -2.0 and val.max() <= 2.0 and val.min() < -1.0 and val.max() > 1.0
    assert data.class_names() == meta["classes"] and len(data.class_names()) == 10
    with pytest.raises(BadInput):
        data.load_demo_images("training")  # type: ignore[arg-type]


def test_calibration_and_validation_sets_are_disjoint():
    val = data.load_demo_images("validation")
    cal = data.load_demo_images("calibration")
    assert not {x.tobytes() for x in val} & {x.tobytes() for x in cal}


def test_input_list_round_trips(tmp_path):
    images = data.load_demo_images("calibration")[:5]
    list_path = data.write_input_list(images, tmp_path / "inputs")
    lines = list_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(images)
    for line, image in zip(lines, images, strict=True):
        assert line.endswith(".raw") and ":=" not in line
        raw = np.fromfile(line, dtype="<f4")
        assert raw.size == image.size
        np.testing.assert_array_equal(raw.reshape(image.shape), image)
    assert all(Path(line).is_absolute() for line in lines)


def test_labels_file_has_one_index_per_line(tmp_path):
    labels = data.load_demo_labels()
    path = data.write_labels(labels, tmp_path / "labels.txt")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    np.testing.assert_array_equal([int(v) for v in text.splitlines()], labels)
    with pytest.raises(BadInput):
        data.write_labels(np.array([0.5, 1.5]), tmp_path / "bad.txt")
