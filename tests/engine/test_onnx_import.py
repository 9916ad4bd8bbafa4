"""The ONNX importer: loading, checking, input dimensions, attributes and graph passes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workbench.engine.executor import Plan
from workbench.engine.graph import Graph
from workbench.engine.onnx_import import import_onnx
from workbench.engine.ops.registry import supported_ops
from workbench.errors import BadInput, ModelError, NotFound, UnsupportedOperators

F32 = TensorProto.FLOAT
RNG = np.random.default_rng(7)


# -- helpers ---------------------------------------------------------------------------


def needs(*ops: str) -> None:
    """Skip while a kernel the test runs is not registered yet (kernels land in parallel)."""
    missing = sorted(set(ops) - supported_ops())
    if missing:
        pytest.skip(f"kernels not registered yet: {', '.join(missing)}")


def make_model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    inits: dict[str, np.ndarray] | None = None,
    opset: int = 17,
    ir_version: int | None = None,
) -> onnx.ModelProto:
    initializer = [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=initializer)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version or min(model.ir_version, 8)
    return model


def tensor(name: str, shape: list[int | str] | None, elem: int = F32) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def save(model: onnx.ModelProto, tmp_path: Path, name: str = "model.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def ours_run(graph: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    result = Plan(graph).run(feeds)
    return [result[name] for name in graph.output_names]


def assert_matches_ort(model: onnx.ModelProto, graph: Graph, feeds: dict[str, np.ndarray]) -> None:
    for ours, ref in zip(ours_run(graph, feeds), ort_run(model, feeds), strict=True):
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def op_types(graph: Graph) -> list[str]:
    return [n.op_type for n in graph.nodes]


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def bn_params(prefix: str, c: int) -> dict[str, np.ndarray]:
    return {
        f"{prefix}_gamma": RNG.uniform(0.5, 1.5, c).astype(np.float32),
        f"{prefix}_beta": randn(c),
        f"{prefix}_mean": randn(c),
        f"{prefix}_var": RNG.uniform(0.5, 2.0, c).astype(np.float32),
    }


def bn_node(prefix: str, x: str, y: str, **attrs) -> onnx.NodeProto:
    ins = [x] + [f"{prefix}_{k}" for k in ("gamma", "beta", "mean", "var")]
    return helper.make_node("BatchNormalization", ins, [y], name=prefix, epsilon=1e-3, **attrs)


# -- Identity and Dropout -------------------------------------------------------------


def test_identity_and_dropout_are_removed(tmp_path: Path) -> None:
    needs("Relu")
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu1"),
        helper.make_node("Identity", ["a"], ["b"], name="id1"),
        helper.make_node("Dropout", ["b"], ["c"], name="drop", ratio=0.5),
        helper.make_node("Relu", ["c"], ["d"], name="relu2"),
        helper.make_node("Identity", ["d"], ["y"], name="id_out"),
    ]
    model = make_model(nodes, [tensor("x", [2, 3])], [tensor("y", [2, 3])], opset=11)
    graph = import_onnx(save(model, tmp_path))

    assert op_types(graph) == ["Relu", "Relu"]
    assert graph.output_names == ["y"]
    # The graph output keeps its name: the producer writes it directly.
    assert graph.nodes[-1].outputs == ("y",)
    assert graph.nodes[1].inputs == graph.nodes[0].outputs
    x = randn(2, 3)
    assert_matches_ort(model, graph, {"x": x})


def test_dropout_with_used_mask_stays(tmp_path: Path) -> None:
    nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"], name="drop")]
    outputs = [tensor("y", [2, 3]), tensor("mask", [2, 3], TensorProto.BOOL)]
    graph = import_onnx(save(make_model(nodes, [tensor("x", [2, 3])], outputs, opset=13), tmp_path))
    assert op_types(graph) == ["Dropout"]


def test_identity_from_input_to_output_is_kept(tmp_path: Path) -> None:
    nodes = [helper.make_node("Identity", ["x"], ["y"], name="id")]
    model = make_model(nodes, [tensor("x", [2])], [tensor("y", [2])])
    graph = import_onnx(save(model, tmp_path))
    # An input cannot be renamed into an output, so the node stays.
    assert op_types(graph) == ["Identity"]
    assert graph.input_names == ["x"] and graph.output_names == ["y"]


# -- BatchNormalization folding -------------------------------------------------------


@pytest.mark.parametrize("with_bias", [True, False])
def test_batchnorm_folds_into_conv(tmp_path: Path, with_bias: bool) -> None:
    needs("Conv", "Relu")
    inits = {"w": randn(4, 3, 3, 3), **bn_params("bn", 4)}
    conv_inputs = ["x", "w"]
    if with_bias:
        inits["b"] = randn(4)
        conv_inputs.append("b")
    nodes = [
        helper.make_node("Conv", conv_inputs, ["c"], name="conv", pads=[1, 1, 1, 1]),
        bn_node("bn", "c", "n"),
        helper.make_node("Relu", ["n"], ["y"], name="relu"),
    ]
    model = make_model(nodes, [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 4, 8, 8])], inits)
    graph = import_onnx(save(model, tmp_path))

    assert op_types(graph) == ["Conv", "Relu"]
    conv = graph.nodes[0]
    assert conv.outputs == ("n",) and len(conv.inputs) == 3
    assert all(p.dtype == np.float32 for p in graph.params.values())
    assert not any(k.startswith("bn_") for k in graph.params)
    assert_matches_ort(model, graph, {"x": randn(1, 3, 8, 8)})


def test_batchnorm_folds_into_grouped_conv_transpose(tmp_path: Path) -> None:
    needs("ConvTranspose")
    inits = {"w": randn(4, 3, 3, 3), "b": randn(6), **bn_params("bn", 6)}
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w", "b"], ["c"], name="deconv", group=2),
        bn_node("bn", "c", "y"),
    ]
    model = make_model(nodes, [tensor("x", [1, 4, 5, 5])], [tensor("y", [1, 6, 7, 7])], inits)
    graph = import_onnx(save(model, tmp_path))
    assert op_types(graph) == ["ConvTranspose"]
    assert_matches_ort(model, graph, {"x": randn(1, 4, 5, 5)})


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias_shape", [None, (5,), (1, 5), (3, 5)])
def test_batchnorm_folds_into_gemm(tmp_path: Path, trans_b: int, bias_shape) -> None:
    needs("Gemm")
    inits = {"w": randn(5, 4) if trans_b else randn(4, 5), **bn_params("bn", 5)}
    gemm_inputs = ["x", "w"]
    if bias_shape is not None:
        inits["c"] = randn(*bias_shape)
        gemm_inputs.append("c")
    nodes = [
        helper.make_node(
            "Gemm", gemm_inputs, ["g"], name="fc", transB=trans_b, alpha=0.5, beta=2.0
        ),
        bn_node("bn", "g", "y"),
    ]
    model = make_model(nodes, [tensor("x", [3, 4])], [tensor("y", [3, 5])], inits)
    graph = import_onnx(save(model, tmp_path))
    assert op_types(graph) == ["Gemm"]
    assert_matches_ort(model, graph, {"x": randn(3, 4)})


def test_batchnorm_stays_without_foldable_producer(tmp_path: Path) -> None:
    needs("Conv", "Relu", "Add", "BatchNormalization")
    inits = {"w": randn(4, 3, 1, 1), **bn_params("bn1", 4), **bn_params("bn2", 4)}
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        # The Conv output has two readers: folding would change the other one.
        bn_node("bn1", "c", "n"),
        helper.make_node("Add", ["c", "n"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r"], name="relu"),
        # A standalone BatchNormalization (after Relu) stays as it is.
        bn_node("bn2", "r", "y"),
    ]
    model = make_model(nodes, [tensor("x", [1, 3, 4, 4])], [tensor("y", [1, 4, 4, 4])], inits)
    graph = import_onnx(save(model, tmp_path))
    assert op_types(graph) == ["Conv", "BatchNormalization", "Add", "Relu", "BatchNormalization"]
    assert_matches_ort(model, graph, {"x": randn(1, 3, 4, 4)})


def test_shared_conv_weight_is_not_overwritten(tmp_path: Path) -> None:
    needs("Conv", "Add")
    inits = {"w": randn(4, 3, 1, 1), **bn_params("bn", 4)}
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c1"], name="conv1"),
        bn_node("bn", "c1", "n"),
        helper.make_node("Conv", ["x", "w"], ["c2"], name="conv2"),
        helper.make_node("Add", ["n", "c2"], ["y"], name="add"),
    ]
    model = make_model(nodes, [tensor("x", [1, 3, 4, 4])], [tensor("y", [1, 4, 4, 4])], inits)
    graph = import_onnx(save(model, tmp_path))
    assert op_types(graph) == ["Conv", "Conv", "Add"]
    np.testing.assert_array_equal(graph.params["w"], inits["w"])
    assert graph.nodes[0].inputs[1] != "w" and graph.nodes[1].inputs[1] == "w"
    assert_matches_ort(model, graph, {"x": randn(1, 3, 4, 4)})


# -- constant folding -----------------------------------------------------------------


def _flatten_by_shape_chain(batch: int | str) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
    ]
    inits = {
        "zero": np.array(0, np.int64),
        "axes": np.array([0], np.int64),
        "minus_one": np.array([-1], np.int64),
    }
    return make_model(
        nodes, [tensor("x", [batch, 3, 4, 5])], [tensor("y", [batch, 60])], inits, opset=13
    )


def test_shape_chain_folds_to_constant_reshape(tmp_path: Path) -> None:
    needs("Gather", "Unsqueeze", "Concat", "Reshape")
    model = _flatten_by_shape_chain(2)
    graph = import_onnx(save(model, tmp_path))

    assert op_types(graph) == ["Reshape"]
    reshape = graph.nodes[0]
    np.testing.assert_array_equal(graph.params[reshape.inputs[1]], [2, -1])
    assert set(graph.params) == {reshape.inputs[1]}  # everything else was pruned
    assert graph.tensors["y"].shape == (2, 60)
    assert_matches_ort(model, graph, {"x": randn(2, 3, 4, 5)})


def test_shapes_hidden_behind_arithmetic_are_found_after_folding(tmp_path: Path) -> None:
    needs("Div", "Concat", "Reshape")
    # ONNX's data propagation does not follow Div: only the folded graph tells y's shape.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Div", ["s", "two"], ["h"]),
        helper.make_node("Concat", ["h", "four"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = {"two": np.array([2, 2], np.int64), "four": np.array([4], np.int64)}
    model = make_model(nodes, [tensor("x", [4, 6])], [tensor("y", ["a", "b", "c"])], inits)
    graph = import_onnx(save(model, tmp_path))
    assert op_types(graph) == ["Reshape"]
    assert graph.outputs[0].shape == (2, 3, 4)
    assert_matches_ort(model, graph, {"x": randn(4, 6)})


def test_folding_and_inference_alternate_until_shapes_settle(tmp_path: Path) -> None:
    needs("Div", "Concat", "Reshape", "Gather", "Unsqueeze")
    # y's shape is known only once the first chain folds; z's Reshape target needs it.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Div", ["s", "two"], ["h"]),
        helper.make_node("Concat", ["h", "four"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
        helper.make_node("Shape", ["y"], ["ys"]),
        helper.make_node("Gather", ["ys", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["flat"], axis=0),
        helper.make_node("Reshape", ["y", "flat"], ["z"]),
    ]
    inits = {
        "two": np.array([2, 2], np.int64),
        "four": np.array([4], np.int64),
        "zero": np.array(0, np.int64),
        "axes": np.array([0], np.int64),
        "minus_one": np.array([-1], np.int64),
    }
    model = make_model(nodes, [tensor("x", [4, 6])], [tensor("z", ["a", "b"])], inits)
    graph = import_onnx(save(model, tmp_path))
    assert op_types(graph) == ["Reshape", "Reshape"]
    assert graph.outputs[0].shape == (2, 12)
    assert_matches_ort(model, graph, {"x": randn(4, 6)})


def test_shapes_onnx_cannot_infer_are_read_off_a_run(tmp_path: Path) -> None:
    needs("MeanVarianceNormalization", "Reshape", "Gather", "Unsqueeze", "Concat")
    # ONNX infers no shape through this function operator; a placeholder run does.
    nodes = [
        helper.make_node("MeanVarianceNormalization", ["x"], ["m"]),
        helper.make_node("Shape", ["m"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["flat"], axis=0),
        helper.make_node("Reshape", ["m", "flat"], ["y"]),
    ]
    inits = {
        "zero": np.array(0, np.int64),
        "axes": np.array([0], np.int64),
        "minus_one": np.array([-1], np.int64),
    }
    model = make_model(nodes, [tensor("x", ["n", 3, 4, 5])], [tensor("y", ["n", "k"])], inits)
    graph = import_onnx(save(model, tmp_path), {"x": [2, 3, 4, 5]})
    assert op_types(graph) == ["MeanVarianceNormalization", "Reshape"]
    assert graph.tensors["m"].shape == (2, 3, 4, 5)
    assert graph.outputs[0].shape == (2, 60)
    assert_matches_ort(model, graph, {"x": randn(2, 3, 4, 5)})


def test_output_shaped_by_input_values_is_refused(tmp_path: Path) -> None:
    needs("NonZero")
    nodes = [helper.make_node("NonZero", ["x"], ["y"])]
    model = make_model(nodes, [tensor("x", [3, 4])], [tensor("y", [2, "n"], TensorProto.INT64)])
    with pytest.raises(ModelError, match="output 'y' has no static shape"):
        import_onnx(save(model, tmp_path))


def test_constant_nodes_become_parameters(tmp_path: Path) -> None:
    needs("Add", "Mul")
    k = helper.make_tensor("k", F32, [3], [1.0, 2.0, 3.0])
    nodes = [
        helper.make_node("Constant", [], ["c"], name="const", value=k),
        helper.make_node("Constant", [], ["two"], name="const2", value_float=2.0),
        helper.make_node("Mul", ["c", "two"], ["c2"], name="mul"),  # folds
        helper.make_node("Add", ["x", "c2"], ["y"], name="add"),
    ]
    model = make_model(nodes, [tensor("x", [2, 3])], [tensor("y", [2, 3])])
    graph = import_onnx(save(model, tmp_path))
    assert op_types(graph) == ["Add"]
    np.testing.assert_array_equal(graph.params["c2"], [2.0, 4.0, 6.0])
    assert graph.params["c2"].dtype == np.float32
    assert_matches_ort(model, graph, {"x": randn(2, 3)})


# -- inputs and --input-dim -----------------------------------------------------------


def test_input_dim_fixes_symbolic_dimensions(tmp_path: Path) -> None:
    needs("Gather", "Unsqueeze", "Concat", "Reshape")
    model = _flatten_by_shape_chain("batch")
    graph = import_onnx(save(model, tmp_path), {"x": [3, 3, 4, 5]})
    assert graph.inputs[0].shape == (3, 3, 4, 5)
    assert graph.outputs[0].shape == (3, 60)
    assert op_types(graph) == ["Reshape"]
    np.testing.assert_array_equal(graph.params[graph.nodes[0].inputs[1]], [3, -1])


def test_input_dim_overrides_a_declared_dimension(tmp_path: Path) -> None:
    needs("Conv", "Relu")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    model = make_model(
        nodes, [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 4, 8, 8])], {"w": randn(4, 3, 3, 3)}
    )
    graph = import_onnx(save(model, tmp_path), {"x": (2, 3, 16, 16)})
    assert graph.inputs[0].shape == (2, 3, 16, 16)
    assert graph.tensors["c"].shape == graph.outputs[0].shape == (2, 4, 16, 16)
    x = randn(2, 3, 16, 16)
    assert ours_run(graph, {"x": x})[0].shape == (2, 4, 16, 16)


def test_unresolved_dimension_names_the_input_and_the_flag(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["images"], ["y"])]
    model = make_model(
        nodes, [tensor("images", ["batch", 3, 224, 224])], [tensor("y", ["batch", 3, 224, 224])]
    )
    with pytest.raises(BadInput) as err:
        import_onnx(save(model, tmp_path))
    assert str(err.value) == (
        "input has unresolved dimensions: images [batch, 3, 224, 224]; give them with "
        "--input-dim images 1,3,224,224 (batch: 1, as quantization needs (resize at run time "
        "with --batch N))"
    )


def test_every_unresolved_input_is_listed_with_a_proposal(tmp_path: Path) -> None:
    """All inputs at once; a symbol a given input fixes is fixed everywhere; spatial sizes
    come from the metadata or stay placeholders (never a silent 1)."""
    nodes = [
        helper.make_node("Relu", ["images"], ["y"]),
        helper.make_node("Relu", ["tokens"], ["t"]),
        helper.make_node("Relu", ["mask"], ["m"]),
    ]
    inputs = [
        tensor("images", ["batch", 3, "height", "width"]),
        tensor("tokens", ["batch", "seq_len"]),
        tensor("mask", ["batch", "seq_len"]),
    ]
    outputs = [
        tensor("y", ["batch", 3, "height", "width"]),
        tensor("t", ["batch", "seq_len"]),
        tensor("m", ["batch", "seq_len"]),
    ]
    model = make_model(nodes, inputs, outputs)
    with pytest.raises(BadInput) as err:
        import_onnx(save(model, tmp_path))
    text = str(err.value)
    assert text.startswith("3 inputs have unresolved dimensions: images [batch, 3, height, width]")
    assert "--input-dim images 1,3,H,W --input-dim tokens 1,SEQ --input-dim mask 1,SEQ" in text
    assert ",1," not in text.split("give them with")[1].split("(")[0].replace("1,3", "")
    helper.set_model_props(model, {"imgsz": "[640, 480]"})
    with pytest.raises(BadInput) as err:
        import_onnx(save(model, tmp_path), {"tokens": [1, 12]})  # mask follows: [1, 12]
    text = str(err.value)
    assert "input has unresolved dimensions: images" in text
    assert "--input-dim images 1,3,640,480" in text and "from the model's metadata 'imgsz'" in text
    graph = import_onnx(save(model, tmp_path), {"tokens": [1, 12], "images": [1, 3, 8, 8]})
    assert {t.name: t.shape for t in graph.inputs}["mask"] == (1, 12)


def test_input_dim_errors(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    model = make_model(
        nodes, [tensor("x", ["n", 2])], [tensor("y", ["n", 2])], {"w": np.ones(2, np.float32)}
    )
    path = save(model, tmp_path)
    with pytest.raises(BadInput, match=r"no input 'nope' \(inputs: x\)"):
        import_onnx(path, {"x": [1, 2], "nope": [1]})
    with pytest.raises(BadInput, match="'w' is a parameter"):
        import_onnx(path, {"x": [1, 2], "w": [2]})
    with pytest.raises(BadInput, match="3 dimensions given, but the input has rank 2"):
        import_onnx(path, {"x": [1, 2, 3]})
    with pytest.raises(BadInput, match="positive"):
        import_onnx(path, {"x": [0, 2]})


def test_initializers_listed_as_inputs_are_parameters(tmp_path: Path) -> None:
    needs("Add")
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    model = make_model(
        nodes,
        [tensor("x", [2, 3]), tensor("w", [2, 3])],  # old exporters list weights as inputs
        [tensor("y", [2, 3])],
        {"w": randn(2, 3)},
        opset=7,
        ir_version=3,
    )
    graph = import_onnx(save(model, tmp_path))
    assert graph.input_names == ["x"]
    assert "w" in graph.params and graph.params["w"].dtype == np.float32
    assert_matches_ort(model, graph, {"x": randn(2, 3)})


def test_tensor_infos_cover_every_tensor(tmp_path: Path) -> None:
    needs("Relu", "Cast", "Add")
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Cast", ["r"], ["i"], to=TensorProto.INT32),
        helper.make_node("Add", ["i", "one"], ["y"]),
    ]
    model = make_model(
        nodes, [tensor("x", [2, 3])], [tensor("y", ["?", "?"])], {"one": np.array(1, np.int32)}
    )
    graph = import_onnx(save(model, tmp_path))
    assert graph.tensors["x"].dtype == "float32"
    assert graph.tensors["r"].shape == (2, 3)
    assert graph.tensors["i"].dtype == "int32"
    assert graph.outputs[0].shape == (2, 3) and graph.outputs[0].dtype == "int32"
    assert graph.tensors["one"].shape == ()


# -- attributes and names -------------------------------------------------------------


def test_attributes_are_plain_python(tmp_path: Path) -> None:
    fill = helper.make_tensor("v", TensorProto.FLOAT, [1], [0.25])
    nodes = [
        helper.make_node("LeakyRelu", ["x"], ["a"], name="leaky", alpha=0.1),
        helper.make_node("Pad", ["a", "pads"], ["p"], name="pad", mode="reflect"),
        helper.make_node("Transpose", ["p"], ["t"], name="tr", perm=[1, 0]),
        helper.make_node("ConstantOfShape", ["dims"], ["k"], name="cos", value=fill),
        helper.make_node("Shape", ["k"], ["ks"], name="rank_of_k"),  # static: rank 2
    ]
    model = make_model(
        nodes,
        [tensor("x", [2, 3]), tensor("dims", [2], TensorProto.INT64)],
        [tensor("t", [5, 4]), tensor("ks", [2], TensorProto.INT64)],
        {"pads": np.array([1, 1, 1, 1], np.int64)},
    )
    graph = _import_ignoring_support(save(model, tmp_path))
    attrs = {n.name: dict(n.attrs) for n in graph.nodes}
    assert type(attrs["leaky"]["alpha"]) is float
    assert attrs["leaky"]["alpha"] == pytest.approx(0.1)
    assert attrs["pad"]["mode"] == "reflect"
    assert attrs["tr"]["perm"] == [1, 0]
    value = attrs["cos"]["value"]
    assert isinstance(value, np.ndarray) and value.dtype == np.float32
    assert value.tolist() == [0.25]


def _import_ignoring_support(path: Path) -> Graph:
    """Import without the supported-operator check (structure tests need no kernels)."""
    from unittest import mock

    with mock.patch("workbench.engine.onnx_import.check_supported"):
        return import_onnx(path)


def test_nodes_get_unique_names(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="act"),
        helper.make_node("Relu", ["a"], ["b"], name="act"),
        helper.make_node("Relu", ["b"], ["c"]),
        helper.make_node("Relu", ["c"], ["y"], name="Relu_2"),
    ]
    model = make_model(nodes, [tensor("x", [2])], [tensor("y", [2])])
    graph = _import_ignoring_support(save(model, tmp_path))
    names = [n.name for n in graph.nodes]
    assert names[0] == "act" and names[3] == "Relu_2"
    assert len(set(names)) == 4 and all(names)
    assert names[2].startswith("Relu_2_")  # <op_type>_<index>, made unique


# -- old opsets -----------------------------------------------------------------------


@pytest.mark.parametrize("opset", [7, 8, 9])
def test_old_opset_model_imports(tmp_path: Path, opset: int) -> None:
    needs("Conv", "Relu", "Add", "Flatten")
    inits = {"w": randn(4, 3, 3, 3), "b": randn(4), "bias": randn(1, 4 * 36), **bn_params("bn", 4)}
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
        # Opset 7-8 BatchNormalization carries `spatial`.
        bn_node("bn", "c", "n", **({"spatial": 1} if opset < 9 else {})),
        helper.make_node("Dropout", ["n"], ["d"], name="drop", ratio=0.3),
        helper.make_node("Relu", ["d"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flat", axis=1),
        helper.make_node("Add", ["f", "bias"], ["y"], name="add"),  # opset-7 broadcasting
    ]
    model = make_model(
        nodes, [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 144])], inits, opset=opset
    )
    graph = import_onnx(save(model, tmp_path))
    assert graph.opset == opset
    assert op_types(graph) == ["Conv", "Relu", "Flatten", "Add"]
    assert_matches_ort(model, graph, {"x": randn(1, 3, 8, 8)})


@pytest.mark.parametrize("shape", [[2, 3, 4], [1, 3, 2, 2]])
@pytest.mark.parametrize("bias", ["initializer", "input"])
def test_opset_before_7_is_upgraded(tmp_path: Path, shape: list[int], bias: str) -> None:
    needs("Add", "Relu")
    # Opset 6 Add aligns a [3] bias with axis 1 (Caffe2's per-channel bias). ONNX's
    # converter would give it shape [3, 1, 1] (wrong for axis 1, and for N=1 silently so).
    nodes = [
        helper.make_node("Add", ["x", "b"], ["s"], broadcast=1, axis=1),
        helper.make_node("Relu", ["s"], ["y"]),
    ]
    b = randn(3)
    # IR version 3 lists initializers among the graph inputs.
    inputs = [tensor("x", shape), tensor("b", [3])]
    inits = {"b": b} if bias == "initializer" else {}
    model = make_model(nodes, inputs, [tensor("y", shape)], inits, opset=6, ir_version=3)
    graph = import_onnx(save(model, tmp_path))
    assert graph.opset == 7
    x = randn(*shape)
    feeds = {"x": x} if bias == "initializer" else {"x": x, "b": b}
    (y,) = ours_run(graph, feeds)
    want = np.maximum(x + b.reshape(3, *[1] * (len(shape) - 2)), 0)
    np.testing.assert_allclose(y, want, rtol=1e-6)


def test_opset_6_prelu_slope_stays_per_channel(tmp_path: Path) -> None:
    needs("PRelu")
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y"])]
    slope = np.array([0.1, 0.2, 0.3], np.float32)
    model = make_model(
        nodes,
        [tensor("x", [1, 3, 2, 2]), tensor("slope", [3])],
        [tensor("y", [1, 3, 2, 2])],
        {"slope": slope},
        opset=6,
        ir_version=3,
    )
    graph = import_onnx(save(model, tmp_path))
    assert graph.params["slope"].shape == (3, 1, 1)
    x = -np.ones((1, 3, 2, 2), np.float32)
    (y,) = ours_run(graph, {"x": x})
    np.testing.assert_allclose(y, -slope.reshape(1, 3, 1, 1) * np.ones_like(x))


def test_failed_opset_upgrade_names_the_opset(tmp_path: Path) -> None:
    # The version converter has no adapter for Tile-1 (opset 1-5).
    nodes = [helper.make_node("Tile", ["x", "tiles", "axis"], ["y"])]
    inputs = [tensor("x", [2]), tensor("tiles", [], TensorProto.INT64)]
    inputs.append(tensor("axis", [], TensorProto.INT64))
    model = make_model(nodes, inputs, [tensor("y", [4])], opset=5, ir_version=3)
    with pytest.raises(ModelError, match="opset 5, and upgrading it to opset 7"):
        import_onnx(save(model, tmp_path))


# -- unsupported operators ------------------------------------------------------------

# Single-input ai.onnx ops the engine is unlikely ever to implement; the first missing one is used.
_NEVER_CANDIDATES = ["Det", "Bernoulli", "RandomNormalLike", "LpNormalization", "Unique"]


def test_unsupported_operators_are_listed_together(tmp_path: Path) -> None:
    needs("Relu")
    unsupported_op = next(op for op in _NEVER_CANDIDATES if op not in supported_ops())
    # Operators inside If/Loop/Scan bodies are checked too.
    then_branch = helper.make_graph(
        [helper.make_node(unsupported_op, ["x"], ["t"], name="in_branch")],
        "then",
        [],
        [tensor("t", [2, 2])],
    )
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("Frobnicate", ["a"], ["b"], name="frob1", domain="com.example"),
        helper.make_node("Frobnicate", ["b"], ["c"], name="frob2", domain="com.example"),
        helper.make_node(unsupported_op, ["c"], ["d"], name="stock_op"),
        helper.make_node(
            "If", ["cond"], ["e"], name="branch", then_branch=then_branch, else_branch=then_branch
        ),
        helper.make_node("Add", ["d", "e"], ["y"], name="add"),
        # Dead: pruned before the check, so it is not reported.
        helper.make_node("Frobnicate", ["x"], ["dead"], name="frob_dead", domain="com.example"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [tensor("x", [2, 2]), tensor("cond", [], TensorProto.BOOL)],
        [tensor("y", [2, 2])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
    )
    with pytest.raises(UnsupportedOperators) as err:
        import_onnx(save(model, tmp_path))
    assert err.value.missing == {
        "com.example.Frobnicate": ["frob1", "frob2"],
        unsupported_op: ["stock_op", "in_branch"],
    }
    assert "com.example.Frobnicate [frob1, frob2]" in str(err.value)


# -- files: corrupt, missing, external data -------------------------------------------


def _relu_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    return make_model(nodes, [tensor("x", [4])], [tensor("y", [4])])


def test_truncated_file_is_a_model_error(tmp_path: Path) -> None:
    data = _relu_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"cut\.onnx: not a valid ONNX model"):
        import_onnx(path)


@pytest.mark.parametrize("content", [b"", b"\x00\xff garbage \x13\x37" * 10])
def test_corrupt_file_is_a_model_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"bad\.onnx: "):
        import_onnx(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="model file not found"):
        import_onnx(tmp_path / "absent.onnx")


def test_checker_failure_is_a_model_error(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["nowhere"], ["y"])]
    model = make_model(nodes, [tensor("x", [4])], [tensor("y", [4])])
    with pytest.raises(ModelError, match="invalid ONNX model: .*nowhere") as err:
        import_onnx(save(model, tmp_path))
    assert "\n" not in str(err.value)


def _external_model(location: str) -> onnx.ModelProto:
    w = np.arange(16, dtype=np.float32).reshape(4, 4)
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    model = make_model(nodes, [tensor("x", [4, 4])], [tensor("y", [4, 4])], {"w": w})
    init = model.graph.initializer[0]
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        entry = init.external_data.add()
        entry.key, entry.value = key, value
    return model


def _weights_bytes() -> bytes:
    return np.arange(16, dtype=np.float32).tobytes()


def test_external_data_inside_the_folder_loads(tmp_path: Path) -> None:
    needs("Add")
    model_dir = tmp_path / "model"
    (model_dir / "data").mkdir(parents=True)
    (model_dir / "data" / "w.bin").write_bytes(_weights_bytes())
    graph = import_onnx(save(_external_model("data/w.bin"), model_dir))
    np.testing.assert_array_equal(graph.params["w"], np.arange(16).reshape(4, 4))


def test_external_data_written_by_onnx_loads(tmp_path: Path) -> None:
    needs("Add")
    model = make_model(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        [tensor("x", [4, 4])],
        [tensor("y", [4, 4])],
        {"w": randn(4, 4)},
    )
    expected = numpy_helper.to_array(model.graph.initializer[0])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="w.bin", size_threshold=0)
    graph = import_onnx(path)
    np.testing.assert_array_equal(graph.params["w"], expected)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "nested_dotdot"])
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, kind: str) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    outside = tmp_path / "secret.bin"
    outside.write_bytes(_weights_bytes())
    location = {
        "dotdot": "../secret.bin",
        "absolute": str(outside),
        "symlink": "link.bin",
        "nested_dotdot": "sub/../../secret.bin",
    }[kind]
    if kind == "symlink":
        os.symlink(outside, model_dir / "link.bin")
    path = save(_external_model(location), model_dir)
    with pytest.raises(ModelError, match="refused"):
        import_onnx(path)


def test_external_data_symlink_inside_the_folder_loads(tmp_path: Path) -> None:
    needs("Add")
    (tmp_path / "real.bin").write_bytes(_weights_bytes())
    os.symlink(tmp_path / "real.bin", tmp_path / "link.bin")
    graph = import_onnx(save(_external_model("link.bin"), tmp_path))
    assert graph.params["w"].shape == (4, 4)


def test_external_data_beyond_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(_weights_bytes()[:32])
    with pytest.raises(ModelError, match="beyond the end of w.bin"):
        import_onnx(save(_external_model("w.bin"), tmp_path))


def test_missing_external_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        import_onnx(save(_external_model("w.bin"), tmp_path))


# -- the parsers, value by value and refusal by refusal ----------------------------------


def test_constant_nodes_of_every_form(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Constant", [], ["f"], name="cf", value_floats=[0.5, 1.5]),
        helper.make_node("Constant", [], ["s"], name="cs", value_float=2.0),
        helper.make_node("Constant", [], ["i"], name="ci", value_int=3),
        helper.make_node("Constant", [], ["ii"], name="cii", value_ints=[1, 2]),
        helper.make_node("Add", ["x", "f"], ["a"], name="add"),
        helper.make_node("Mul", ["a", "s"], ["m"], name="mul"),
        helper.make_node("Add", ["xi", "i"], ["b"], name="addi"),
        helper.make_node("Add", ["b", "ii"], ["y"], name="addii"),
    ]
    model = make_model(
        nodes,
        [tensor("x", [2]), tensor("xi", [2], TensorProto.INT64)],
        [tensor("m", [2]), tensor("y", [2], TensorProto.INT64)],
    )
    graph = _import_ignoring_support(save(model, tmp_path))
    got = {k: (v.dtype.name, v.shape, v.tolist()) for k, v in graph.params.items()}
    assert got == {
        "f": ("float32", (2,), [0.5, 1.5]),
        "s": ("float32", (), 2.0),
        "i": ("int64", (), 3),
        "ii": ("int64", (2,), [1, 2]),
    }


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"value_string": "hi"}, "Constant node 'c': attribute 'value_string' is not supported"),
        (
            {"value_float": 1.0, "value_int": 1},
            "Constant node 'c' must have exactly one value attribute",
        ),
    ],
)
def test_constant_nodes_that_cannot_be_read(tmp_path: Path, attrs, message) -> None:
    nodes = [
        helper.make_node("Constant", [], ["c"], name="c", **attrs),
        helper.make_node("Identity", ["c"], ["y"], name="id"),
    ]
    elem = TensorProto.STRING if "value_string" in attrs else F32
    model = make_model(nodes, [tensor("x", [2])], [tensor("y", [], elem)])
    path = save(model, tmp_path)
    with pytest.raises(ModelError) as info:
        _import_ignoring_support(path)
    assert str(info.value) == f"{path}: {message}"


def test_attribute_lists_and_strings_are_plain_python(tmp_path: Path) -> None:
    lstm = helper.make_node(
        "LSTM",
        ["x", "w", "r"],
        ["", "h"],
        name="lstm",
        hidden_size=2,
        activations=["Sigmoid", b"T\xe4nh", "Tanh"],  # not UTF-8: replaced, not refused
        activation_alpha=[0.25, 1.0, 1.0],
        activation_beta=[0.5, 0.0, 0.0],
        direction="forward",
        clip=3.0,
    )
    model = make_model(
        [lstm],
        [tensor("x", [4, 1, 3])],
        [tensor("h", [1, 1, 2])],
        {"w": randn(1, 8, 3), "r": randn(1, 8, 2)},
    )
    graph = _import_ignoring_support(save(model, tmp_path))
    attrs = dict(graph.nodes[0].attrs)
    assert attrs["activations"] == ["Sigmoid", "T\ufffdnh", "Tanh"]
    assert attrs["activation_alpha"] == [0.25, 1.0, 1.0]
    assert attrs["activation_beta"] == [0.5, 0.0, 0.0]
    assert attrs["direction"] == "forward" and attrs["hidden_size"] == 2 and attrs["clip"] == 3.0
    assert [type(attrs[k]) for k in ("hidden_size", "clip", "direction")] == [int, float, str]
    assert all(type(v) is float for v in attrs["activation_alpha"])
    assert all(type(v) is str for v in attrs["activations"])
    pad = helper.make_node("Pad", ["x", "pads"], ["y"], name="pad", mode=b"edg\xe9")
    model = make_model(
        [pad],
        [tensor("x", [2, 3])],
        [tensor("y", [4, 5])],
        {"pads": np.array([1, 1, 1, 1], np.int64)},
    )
    graph = _import_ignoring_support(save(model, tmp_path, "pad.onnx"))
    assert dict(graph.nodes[0].attrs) == {"mode": "edg\ufffd"}


def test_an_attribute_that_cannot_be_represented_reports_its_operator(tmp_path: Path) -> None:
    node = helper.make_node("Custom", ["x"], ["y"], name="sparse_user", domain="ai.test")
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("v", F32, [1], [1.0]),
        helper.make_tensor("i", TensorProto.INT64, [1], [0]),
        [4],
    )
    node.attribute.append(helper.make_attribute("s", sparse))
    model = make_model([node], [tensor("x", [2])], [tensor("y", [2])])
    model.opset_import.append(helper.make_opsetid("ai.test", 1))
    with pytest.raises(UnsupportedOperators) as info:
        import_onnx(save(model, tmp_path))
    assert "ai.test.Custom" in str(info.value) and "sparse_user" in str(info.value)


def test_a_tensor_of_an_unsupported_type_is_named(tmp_path: Path) -> None:
    strings = helper.make_tensor("words", TensorProto.STRING, [1], [b"x"])
    nodes = [
        helper.make_node("Constant", [], ["c"], name="c", value=strings),
        helper.make_node("Identity", ["c"], ["y"], name="id"),
    ]
    model = make_model(nodes, [tensor("x", [2])], [tensor("y", [1], TensorProto.STRING)])
    path = save(model, tmp_path)
    with pytest.raises(ModelError) as info:
        _import_ignoring_support(path)
    assert str(info.value) == (
        f"{path}: tensor 'words' has type STRING, which the workbench does not support"
    )


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        (["a", 2], "--input-dim x: dimensions must be integers"),
        ([None, 2], "--input-dim x: dimensions must be integers"),
        ([0, 2], "--input-dim x: dimensions must be positive integers, got [0, 2]"),
        ([1, -2], "--input-dim x: dimensions must be positive integers, got [1, -2]"),
        ([], "--input-dim x: dimensions must be positive integers, got []"),
        ([1, 2, 3], "--input-dim x: 3 dimensions given, but the input has rank 2 (shape [n, 2])"),
    ],
)
def test_input_dims_are_checked(tmp_path: Path, dims, message) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    model = make_model(nodes, [tensor("x", ["n", 2])], [tensor("y", ["n", 2])])
    with pytest.raises(BadInput) as info:
        import_onnx(save(model, tmp_path), {"x": dims})
    assert str(info.value) == message


def test_input_dim_names_checked_before_anything(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    model = make_model(
        nodes, [tensor("x", [1, 2])], [tensor("y", [1, 2])], {"w": np.ones(2, np.float32)}
    )
    path = save(model, tmp_path)
    with pytest.raises(BadInput) as info:
        import_onnx(path, {"nope": [1]})
    assert str(info.value) == "--input-dim nope: the model has no input 'nope' (inputs: x)"
    with pytest.raises(BadInput) as info:
        import_onnx(path, {"w": [2]})
    assert str(info.value) == "--input-dim w: 'w' is a parameter, not a model input"


def test_a_symbol_fixed_by_one_input_is_fixed_in_the_others_only(tmp_path: Path) -> None:
    nodes = [helper.make_node("Add", ["a", "b"], ["y"])]
    model = make_model(
        nodes, [tensor("a", ["n", 3]), tensor("b", ["n", 3])], [tensor("y", ["n", 3])]
    )
    graph = import_onnx(save(model, tmp_path), {"a": [4, 3]})
    assert {t.name: t.shape for t in graph.inputs} == {"a": (4, 3), "b": (4, 3)}
    # a declared (fixed) dimension of "a" overridden: no symbol to carry
    model = make_model(nodes, [tensor("a", [2, 3]), tensor("b", ["n", 3])], [tensor("y", [2, 3])])
    with pytest.raises(BadInput, match=r"input has unresolved dimensions: b \[n, 3\]"):
        import_onnx(save(model, tmp_path), {"a": [2, 3]})


def test_a_non_tensor_input_is_refused(tmp_path: Path) -> None:
    seq = helper.make_tensor_sequence_value_info("s", F32, [2])
    nodes = [helper.make_node("SequenceLength", ["s"], ["y"])]
    model = make_model(nodes, [seq], [tensor("y", [], TensorProto.INT64)])
    with pytest.raises(
        ModelError, match="input 's' is not a tensor; only tensor inputs are supported"
    ):
        import_onnx(save(model, tmp_path))


def test_inputs_and_tensors_past_the_element_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.engine import onnx_import

    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Tile", ["r", "reps"], ["y"]),
    ]
    model = make_model(
        nodes, [tensor("x", [2, 3])], [tensor("y", [4, 3])], {"reps": np.array([2, 1], np.int64)}
    )
    path = save(model, tmp_path)
    monkeypatch.setattr(onnx_import, "MAX_TENSOR_ELEMENTS", 12)
    graph = _import_ignoring_support(path)  # 6 and 12 elements: at the limit
    assert graph.outputs[0].shape == (4, 3)
    monkeypatch.setattr(onnx_import, "MAX_TENSOR_ELEMENTS", 11)
    with pytest.raises(ModelError) as info:
        _import_ignoring_support(path)
    assert str(info.value).endswith(
        "tensor 'y' would have shape [4, 3], more than the 11 elements a tensor may have"
    )
    monkeypatch.setattr(onnx_import, "MAX_TENSOR_ELEMENTS", 5)
    with pytest.raises(ModelError) as info:
        _import_ignoring_support(path)
    assert str(info.value).endswith(
        "input 'x' has shape [2, 3], more than the 5 elements a tensor may have; "
        "fix it with --input-dim"
    )


def test_loop_body_tensors_get_dtypes_and_open_dimensions(tmp_path: Path) -> None:
    """Inside a body, a value without a shape is (-1,), a named dimension -1, a scalar ()."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "c"], ["v_out"]),
            helper.make_node("Relu", ["v_out"], ["scan"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", F32, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", F32, None),
            helper.make_tensor_value_info("scan", F32, ["k"]),
        ],
    )
    nodes = [
        helper.make_node("Relu", ["x"], ["c"], name="relu"),
        helper.make_node("Loop", ["trips", "", "x"], ["v", "s"], name="loop", body=body),
    ]
    model = make_model(
        nodes,
        [tensor("x", [2])],
        [tensor("v", [2]), tensor("s", [3, 2])],
        {"trips": np.array(3, np.int64)},
    )
    graph = import_onnx(save(model, tmp_path))
    (loop,) = [n for n in graph.nodes if n.op_type == "Loop"]
    b = loop.attrs["body"]
    infos = {name: (t.shape, t.dtype) for name, t in b.tensors.items()}
    assert infos == {
        "i": ((), "int64"),
        "cond_in": ((), "bool"),
        "cond_out": ((), "bool"),
        "v_in": ((-1,), "float32"),
        "v_out": ((-1,), "float32"),
        "scan": ((-1,), "float32"),
        "c": ((2,), "float32"),  # captured from outside: its own shape
    }
    x = np.array([-1.0, 2.0], np.float32)
    v, s = ours_run(graph, {"x": x})
    np.testing.assert_array_equal(v, x + 3 * np.maximum(x, 0))
    np.testing.assert_array_equal(s, [np.maximum(x + k * np.maximum(x, 0), 0) for k in (1, 2, 3)])


def test_unknown_dimensions_read_as_question_marks(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    model = make_model(nodes, [tensor("x", [None, 2])], [tensor("y", [None, 2])])
    with pytest.raises(BadInput) as info:
        import_onnx(save(model, tmp_path), {"x": [1, 2, 3]})
    assert str(info.value) == (
        "--input-dim x: 3 dimensions given, but the input has rank 2 (shape [?, 2])"
    )


def test_an_input_of_exactly_the_element_limit_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.engine import onnx_import

    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [2, 3])], [tensor("y", [2, 3])]
    )
    monkeypatch.setattr(onnx_import, "MAX_TENSOR_ELEMENTS", 6)
    assert import_onnx(save(model, tmp_path)).inputs[0].shape == (2, 3)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            ["n"],  # one dimension: no batch to assume
            "input has unresolved dimensions: x [n]; give them with --input-dim x D0 "
            "(D0: sizes the model does not record)",
        ),
        (
            [3, "n"],
            "input has unresolved dimensions: x [3, n]; give them with --input-dim x 3,SEQ "
            "(SEQ: the sequence length you will run)",
        ),
        (
            ["b", "n"],  # a leading symbol of a rank-2 input is the batch
            "input has unresolved dimensions: x [b, n]; give them with --input-dim x 1,SEQ "
            "(batch: 1, as quantization needs (resize at run time with --batch N); "
            "SEQ: the sequence length you will run)",
        ),
        (
            [0, 3],  # 0 is ONNX's "unknown"
            "input has unresolved dimensions: x [?, 3]; give them with --input-dim x 1,3 "
            "(batch: 1, as quantization needs (resize at run time with --batch N))",
        ),
    ],
)
def test_unresolved_dimensions_get_a_proposal(tmp_path: Path, shape, message) -> None:
    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"])], [tensor("x", shape)], [tensor("y", shape)]
    )
    with pytest.raises(BadInput) as info:
        import_onnx(save(model, tmp_path))
    assert str(info.value) == message


def test_an_unknown_input_dim_lists_the_inputs(tmp_path: Path) -> None:
    two = make_model(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        [tensor("a", [1, 2]), tensor("b", [1, 2])],
        [tensor("y", [1, 2])],
    )
    with pytest.raises(BadInput) as info:
        import_onnx(save(two, tmp_path), {"c": [1]})
    assert str(info.value) == "--input-dim c: the model has no input 'c' (inputs: a, b)"
    none = make_model(
        [helper.make_node("Constant", [], ["y"], value_float=1.0)], [], [tensor("y", [])]
    )
    with pytest.raises(BadInput) as info:
        import_onnx(save(none, tmp_path, "none.onnx"), {"c": [1]})
    assert str(info.value) == "--input-dim c: the model has no input 'c' (inputs: none)"
