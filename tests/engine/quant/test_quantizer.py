"""The quantizer: the quantized container contract, options, refusals, and analysis.

Model builders here (``onnx_model``, ``conv_net``, ``float_container``, ``samples``)
are shared with the other quantizer test modules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workbench.engine.container import Container, make_manifest, read_container, write_container
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph
from workbench.engine.inputs import parse_input_list
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.analysis import SimulatedQuantPlan, analyze, output_sqnr
from workbench.engine.quant.encoding import (
    ChannelEncoding,
    Encoding,
    dequantize,
    encoding_from_dict,
    round_half_away,
    tf_encoding,
)
from workbench.engine.quant.propagation import PROPAGATED_OPS
from workbench.engine.quant.quantizer import QuantOptions, quantize_container
from workbench.engine.quant.roles import param_roles
from workbench.errors import BadInput, InputListError

# --------------------------------------------------------------------------- builders


def onnx_model(
    path: Path,
    nodes: Sequence[onnx.NodeProto],
    inputs: dict[str, Sequence[int]],
    outputs: Sequence[str],
    inits: dict[str, np.ndarray],
    opset: int = 17,
) -> Graph:
    """Save an ONNX model built with onnx.helper and import it."""
    graph = helper.make_graph(
        list(nodes),
        "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()],
        [helper.make_empty_tensor_value_info(n) for n in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model = onnx.shape_inference.infer_shapes(model)  # types and shapes of the outputs
    onnx.save(model, str(path))
    return import_onnx(path)


def float_container(graph: Graph) -> Container:
    return Container(make_manifest(converter={"command": "workbench convert test.onnx"}), graph)


def samples(graph: Graph, n: int, seed: int = 0, scale: float = 1.0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {t.name: (rng.standard_normal(t.shape) * scale).astype(np.float32) for t in graph.inputs}
        for _ in range(n)
    ]


def conv_net(tmp_path: Path, seed: int = 0, channels: int = 8, hw: int = 8) -> Graph:
    """Conv → Relu → Conv → MaxPool → Flatten → Gemm, random weights."""
    rng = np.random.default_rng(seed)
    c = channels
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        n("MaxPool", ["c2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Flatten", ["p"], ["f"]),
        n("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    flat = c * (hw // 2) ** 2
    inits = {
        "w1": (rng.standard_normal((c, 3, 3, 3)) * 0.3).astype(np.float32),
        "b1": (rng.standard_normal(c) * 0.1).astype(np.float32),
        "w2": (rng.standard_normal((c, c, 3, 3)) * 0.2).astype(np.float32),
        "b2": (rng.standard_normal(c) * 0.1).astype(np.float32),
        "wf": (rng.standard_normal((10, flat)) * 0.1).astype(np.float32),
        "bf": (rng.standard_normal(10) * 0.1).astype(np.float32),
    }
    return onnx_model(tmp_path / "conv_net.onnx", nodes, {"x": (1, 3, hw, hw)}, ["y"], inits)


# --------------------------------------------------------------------------- golden


def test_one_conv_by_hand(tmp_path):
    w = np.linspace(-1.0, 0.5, 54, dtype=np.float32).reshape(3, 2, 3, 3)
    b = np.array([-0.2, 0.1, 0.3], dtype=np.float32)
    g = onnx_model(
        tmp_path / "one.onnx",
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])],
        {"x": (1, 2, 4, 4)},
        ["y"],
        {"w": w, "b": b},
    )
    data = samples(g, 5)
    q = quantize_container(float_container(g), data).container

    # Weight: range [-1, 0.5] -> delta = 1.5 / 255, offset = round(-1 / delta) = -170.
    delta = 1.5 / 255
    we = Encoding.from_dict(q.param_encodings["w"])
    assert we.offset == -170 and we.delta == pytest.approx(delta, rel=1e-12)
    assert (we.min, we.max) == pytest.approx((-1.0, 0.5), rel=1e-12)
    expected = np.clip(round_half_away(w.astype(np.float64) / delta) + 170, 0, 255)
    assert q.graph.params["w"].dtype == np.uint8
    np.testing.assert_array_equal(q.graph.params["w"], expected.astype(np.uint8))
    # Bias (8-bit, own tf encoding): [-0.2, 0.3] -> delta 0.5/255, offset -102, q = [0, 153, 255].
    be = Encoding.from_dict(q.param_encodings["b"])
    assert be.offset == -102 and be.delta == pytest.approx(0.5 / 255, rel=1e-6)
    assert q.graph.params["b"].tolist() == [0, 153, 255]

    # Activations: the tf rule on the min/max over every sample.
    plan = Plan(g)
    ys = [plan.run(s)["y"] for s in data]
    xs = [s["x"] for s in data]
    for name, values in (("x", xs), ("y", ys)):
        lo = min(float(v.min()) for v in values)
        hi = max(float(v.max()) for v in values)
        assert Encoding.from_dict(q.encodings[name]) == tf_encoding(lo, hi)


def test_per_channel_axis_per_op_type(tmp_path):
    rng = np.random.default_rng(1)
    n = helper.make_node

    def r(*shape):
        return (
            rng.standard_normal(shape)
            * np.arange(1, shape[0] + 1).reshape(-1, *[1] * (len(shape) - 1))
        ).astype(np.float32)

    nodes = [
        n("Conv", ["x", "wc"], ["a"]),  # (4, 3, 1, 1): axis 0, 4 channels
        n("ConvTranspose", ["a", "wt"], ["b"]),  # (4, 5, 1, 1): axis 1, 5 channels
        n("GlobalAveragePool", ["b"], ["g"]),
        n("Flatten", ["g"], ["f"]),
        n("Gemm", ["f", "wg"], ["h"], transB=1),  # (6, 5): axis 0
        n("Gemm", ["h", "wg2"], ["i"]),  # (6, 7): axis 1
        n("MatMul", ["i", "wm"], ["y"]),  # (7, 2): axis -1 = 1
    ]
    inits = {"wc": r(4, 3, 1, 1), "wt": r(4, 5, 1, 1), "wg": r(6, 5), "wg2": r(6, 7), "wm": r(7, 2)}
    g = onnx_model(tmp_path / "axes.onnx", nodes, {"x": (1, 3, 4, 4)}, ["y"], inits)
    q = quantize_container(float_container(g), samples(g, 2), QuantOptions(per_channel=True))
    pe = q.container.param_encodings
    for name, axis, count in (
        ("wc", 0, 4),
        ("wt", 1, 5),
        ("wg", 0, 6),
        ("wg2", 1, 7),
        ("wm", 1, 2),
    ):
        enc = encoding_from_dict(pe[name])
        assert isinstance(enc, ChannelEncoding), name
        assert (enc.axis, len(enc), enc.symmetric) == (axis, count, True), name
        # Symmetric per channel: delta = absmax of the channel / 127, offset -128.
        w = g.params[name]
        others = tuple(i for i in range(w.ndim) if i != axis)
        np.testing.assert_allclose(
            enc.delta, np.abs(w).max(axis=others).astype(np.float64) / 127, rtol=1e-12
        )
        assert (enc.offset == -128).all()
    # Without --per-channel every weight is one tf encoding.
    q = quantize_container(float_container(g), samples(g, 2))
    assert all("axis" not in d for d in q.container.param_encodings.values())


@pytest.mark.parametrize("per_channel", [False, True])
def test_32bit_bias_scale_is_input_times_weight_scale(tmp_path, per_channel):
    g = conv_net(tmp_path)
    opts = QuantOptions(bias_bitwidth=32, per_channel=per_channel)
    q = quantize_container(float_container(g), samples(g, 4), opts).container
    for node_input, weight, bias in (("x", "w1", "b1"), ("r1", "w2", "b2"), ("f", "wf", "bf")):
        in_delta = q.encodings[node_input]["delta"]
        w_delta = np.asarray(q.param_encodings[weight]["delta"])
        be = q.param_encodings[bias]
        assert q.graph.params[bias].dtype == np.int32
        assert np.all(np.asarray(be["offset"]) == 0) and be["bitwidth"] == 32
        # Exactly in_scale * w_scale, computed in float64.
        np.testing.assert_array_equal(np.asarray(be["delta"]), np.float64(in_delta) * w_delta)
        back = dequantize(q.graph.params[bias], encoding_from_dict(be))
        np.testing.assert_allclose(
            back, g.params[bias], atol=float(np.max(np.float64(in_delta) * w_delta))
        )


@pytest.mark.parametrize("per_channel", [False, True])
def test_32bit_bias_that_would_pass_int32_widens_its_weight(tmp_path, per_channel):
    # W16A16: in_delta * w_delta is about 2**-32 of the two ranges. Channel 0's weights
    # are tiny, so per channel its scale is finer still, and its bias lands far past
    # 2**31 there (per tensor its bias of 20 does); clamping it made a wrong bias.
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    w[0] *= 1e-3
    b = np.array([20.0, 0.1, -0.2, 0.3], np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])]
    g = onnx_model(tmp_path / "c.onnx", nodes, {"x": (1, 3, 6, 6)}, ["y"], {"w": w, "b": b})
    opts = QuantOptions(
        weights_bitwidth=16, act_bitwidth=16, bias_bitwidth=32, per_channel=per_channel
    )
    res = quantize_container(float_container(g), samples(g, 4), opts)
    q = res.container
    assert res.widened_weights == ("w",)
    be = encoding_from_dict(q.param_encodings["b"])
    stored = q.graph.params["b"].astype(np.int64)
    assert np.abs(stored).max() < 2**31 - 1  # fits, not clamped
    np.testing.assert_allclose(dequantize(q.graph.params["b"], be), b, atol=1e-6)
    w_enc = encoding_from_dict(q.param_encodings["w"])
    in_delta = q.encodings["x"]["delta"]
    np.testing.assert_array_equal(np.asarray(be.delta), np.float64(in_delta) * w_enc.delta)
    # The weight still reads back within half its (slightly wider) step.
    step = np.reshape(w_enc.delta, (-1, 1, 1, 1) if per_channel else ())
    assert np.all(np.abs(dequantize(q.graph.params["w"], w_enc) - w) <= step * 0.5 + 1e-9)
    if per_channel:  # only the channel that needed it
        plain = quantize_container(
            float_container(g), samples(g, 4), replace_opts(opts, bias_bitwidth=8)
        ).container
        before = encoding_from_dict(plain.param_encodings["w"]).delta
        assert w_enc.delta[0] > before[0] and np.array_equal(w_enc.delta[1:], before[1:])
    # And the integer path agrees with fake-quant on it.
    from workbench.engine.quant.fakequant import FakeQuantPlan
    from workbench.engine.quant.int_exec import IntegerPlan

    feeds = samples(g, 1, seed=9)[0]
    y_fq, y_int = FakeQuantPlan(q).run(feeds)["y"], IntegerPlan(q).run(feeds)["y"]
    assert np.abs(y_fq - y_int).max() <= q.encodings["y"]["delta"] * 1.001


def replace_opts(opts: QuantOptions, **changes) -> QuantOptions:
    return QuantOptions.from_dict({**opts.to_dict(), **changes})


def _movement_net(tmp_path: Path) -> Graph:
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w"], ["c"]),
        n("Relu", ["c"], ["r"]),
        n("MaxPool", ["r"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Transpose", ["m"], ["t"], perm=[0, 2, 3, 1]),
        n("Reshape", ["t", "shape"], ["rs"]),
        n("Shape", ["rs"], ["shp"]),  # int64: no encoding
        n("Pad", ["c", "pads"], ["padded"]),  # constant 0: propagated
        n("Pad", ["c", "pads", "one"], ["padded1"]),  # constant 10: own range
        n("Split", ["rs"], ["s0", "s1"], axis=2),
        n("Sigmoid", ["s0"], ["sg"]),
        n("Concat", ["sg", "s1"], ["y"], axis=2),
    ]
    inits = {
        "w": np.random.default_rng(0).standard_normal((4, 2, 1, 1)).astype(np.float32),
        "shape": np.array([1, 4, 4], dtype=np.int64),
        "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64),
        "one": np.array(10.0, dtype=np.float32),
    }
    return onnx_model(
        tmp_path / "move.onnx", nodes, {"x": (1, 2, 4, 4)}, ["y", "shp", "padded", "padded1"], inits
    )


def test_every_float_activation_has_an_encoding_and_movement_propagates(tmp_path):
    g = _movement_net(tmp_path)
    q = quantize_container(float_container(g), samples(g, 3)).container
    floats = {"x"} | {o for n in g.nodes for o in n.outputs if g.info(o).dtype == "float32"}
    assert set(q.encodings) == floats
    assert "shp" not in q.encodings
    enc = q.encodings
    # Data movement: the input's encoding, along the chain.
    assert enc["m"] == enc["r"] and enc["t"] == enc["r"] and enc["rs"] == enc["r"]
    assert enc["s0"] == enc["r"] and enc["s1"] == enc["r"]
    assert enc["padded"] == enc["c"]
    # Computing ops: their own range.
    assert enc["r"] != enc["c"] and enc["sg"] != enc["s0"] and enc["padded1"] != enc["c"]
    assert {"Reshape", "Transpose", "MaxPool", "Split", "Pad"} <= PROPAGATED_OPS
    assert "Relu" not in PROPAGATED_OPS
    # Every encoding is 8-bit tf.
    assert all(d["bitwidth"] == 8 and not d["symmetric"] for d in enc.values())
    # The int64 shape / pads parameters are untouched; the float Pad constant is not data.
    assert q.graph.params["shape"].dtype == np.int64 and "shape" not in q.param_encodings
    assert q.graph.params["one"].dtype == np.float32 and "one" not in q.param_encodings


def test_non_data_params_stay_float_and_data_params_are_quantized(tmp_path):
    rng = np.random.default_rng(3)
    n = helper.make_node
    nodes = [
        n("Mul", ["x", "k"], ["a"]),
        n("Add", ["a", "addc"], ["b"]),
        n("LayerNormalization", ["b", "ln_s", "ln_b"], ["c"], axis=-1),
        n("Clip", ["c", "lo", "hi"], ["d"]),
        n("Resize", ["d", "", "scales"], ["e"], mode="nearest"),
        n("PRelu", ["e", "slope"], ["y"]),
    ]
    inits = {
        "k": np.array(0.5, np.float32),
        "addc": rng.standard_normal(8).astype(np.float32),
        "ln_s": rng.standard_normal(8).astype(np.float32),
        "ln_b": rng.standard_normal(8).astype(np.float32),
        "lo": np.array(-1.0, np.float32),
        "hi": np.array(1.0, np.float32),
        "scales": np.array([1, 1, 2, 2], np.float32),
        "slope": np.array([0.1], np.float32),
    }
    g = onnx_model(tmp_path / "misc.onnx", nodes, {"x": (1, 2, 4, 8)}, ["y"], inits)
    q = quantize_container(float_container(g), samples(g, 3)).container
    for name in ("k", "addc", "ln_s", "ln_b", "slope"):
        assert q.graph.params[name].dtype == np.uint8, name
        assert name in q.param_encodings
    for name in ("lo", "hi", "scales"):
        assert q.graph.params[name].dtype == np.float32 and name not in q.param_encodings
        np.testing.assert_array_equal(q.graph.params[name], g.params[name])
    assert {r.kind for r in param_roles(g).values()} == {"data"}


def test_bitwidths_16bit_activations_and_4bit_weights(tmp_path):
    g = conv_net(tmp_path)
    opts = QuantOptions(act_bitwidth=16, weights_bitwidth=4, param_quantizer="symmetric")
    q = quantize_container(float_container(g), samples(g, 3), opts).container
    assert all(d["bitwidth"] == 16 for d in q.encodings.values())
    for w in ("w1", "w2", "wf"):
        assert q.graph.params[w].dtype == np.uint8 and int(q.graph.params[w].max()) <= 15
        e = q.param_encodings[w]
        assert (e["bitwidth"], e["offset"], e["symmetric"]) == (4, -8, True)
    q16 = quantize_container(float_container(g), samples(g, 3), QuantOptions(weights_bitwidth=16))
    assert q16.container.graph.params["w1"].dtype == np.uint16


def test_quantized_file_is_a_quarter_of_the_float_file(tmp_path):
    rng = np.random.default_rng(0)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        n("GlobalAveragePool", ["c2"], ["p"]),
        n("Flatten", ["p"], ["f"]),
        n("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    inits = {
        "w1": rng.standard_normal((128, 64, 3, 3)).astype(np.float32),
        "b1": rng.standard_normal(128).astype(np.float32),
        "w2": rng.standard_normal((128, 128, 3, 3)).astype(np.float32),
        "b2": rng.standard_normal(128).astype(np.float32),
        "wf": rng.standard_normal((100, 128)).astype(np.float32),
        "bf": rng.standard_normal(100).astype(np.float32),
    }
    g = onnx_model(tmp_path / "big.onnx", nodes, {"x": (1, 64, 4, 4)}, ["y"], inits)
    assert 200_000 < g.param_count() < 500_000
    fsize = write_container(tmp_path / "f.dlc", float_container(g))
    q = quantize_container(float_container(g), samples(g, 2)).container
    qsize = write_container(tmp_path / "q.dlc", q)
    assert 0.25 <= qsize / fsize <= 0.3, (qsize, fsize)


def test_options_are_recorded_in_the_manifest(tmp_path):
    g = conv_net(tmp_path)
    opts = QuantOptions(
        param_quantizer="enhanced",
        act_quantizer="percentile",
        percentile=99.9,
        bias_bitwidth=32,
        per_channel=True,
        algorithms="bc, cle",
        enable_hta=True,
        rounding="half-even",
    )
    q = quantize_container(
        float_container(g), samples(g, 3), opts, command="workbench quantize m.dlc"
    )
    write_container(tmp_path / "q.dlc", q.container)
    back = read_container(tmp_path / "q.dlc")
    assert back.quantized and back.manifest["quantized"] is True
    qz = back.manifest["quantizer"]
    assert qz["command"] == "workbench quantize m.dlc"
    assert qz["options"] == {
        "param_quantizer": "enhanced",
        "act_quantizer": "percentile",
        "weights_bitwidth": 8,
        "act_bitwidth": 8,
        "bias_bitwidth": 32,
        "per_channel": True,
        "algorithms": ["cle", "bc"],
        "percentile": 99.9,
        "enable_hta": True,
        "override_params": None,
        "adaround_seconds": 120.0,
        "layer_precision": [],
        "weights_bitwidth_override": [],
        "rounding": "half-even",
    }
    assert QuantOptions.from_dict(qz["options"]) == opts
    assert back.manifest["rounding"] == "half-even" and back.rounding == "half-even"
    assert qz["calibration_samples"] == 3
    assert back.manifest["converter"]["command"] == "workbench convert test.onnx"
    assert back.encodings == q.container.encodings
    assert back.param_encodings == q.container.param_encodings
    for name, p in q.container.graph.params.items():
        np.testing.assert_array_equal(back.graph.params[name], p)
    # The topology is the float container's.
    assert [(n.op_type, n.inputs[:1], n.outputs) for n in back.graph.nodes] == [
        (n.op_type, n.inputs[:1], n.outputs) for n in g.nodes
    ]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"weights_bitwidth": 7}, "--weights-bitwidth must be 4, 8, 16"),
        ({"act_bitwidth": 4}, "--act-bitwidth must be 8, 16"),
        ({"bias_bitwidth": 16}, "--bias-bitwidth must be 8, 32"),
        ({"param_quantizer": "minmax"}, "--param-quantizer must be one of"),
        ({"act_quantizer": "TF"}, "--act-quantizer must be one of"),
        ({"percentile": 40}, "--percentile must be in (50, 100]"),
        ({"percentile": 100.5}, "--percentile must be in (50, 100]"),
        ({"algorithms": "cle,gptq"}, "got gptq"),
        ({"weights_bitwidth": True}, "--weights-bitwidth"),
    ],
)
def test_bad_options_are_one_line_errors(kwargs, fragment):
    with pytest.raises(BadInput) as err:
        QuantOptions(**kwargs)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_batch_other_than_one_is_refused(tmp_path):
    g = onnx_model(
        tmp_path / "b4.onnx",
        [helper.make_node("Relu", ["x"], ["y"])],
        {"x": (4, 3)},
        ["y"],
        {},
    )
    with pytest.raises(BadInput) as err:
        quantize_container(float_container(g), [{"x": np.ones((4, 3), np.float32)}])
    assert str(err.value) == (
        "quantization requires batch size 1 (the container's batch is 4); convert with "
        "batch 1 — other batches can be used at run time with --batch"
    )


def test_quantized_container_is_refused(tmp_path):
    g = conv_net(tmp_path)
    q = quantize_container(float_container(g), samples(g, 2)).container
    with pytest.raises(BadInput, match="already quantized"):
        quantize_container(q, samples(g, 2))


@pytest.mark.filterwarnings("ignore:invalid value encountered in log")
def test_input_list_nan_and_non_finite_activation_name_their_source(tmp_path):
    g = conv_net(tmp_path)
    good = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    bad = good.copy()
    bad[0, 0, 0, 0] = np.nan
    good.tofile(tmp_path / "a.raw")
    bad.tofile(tmp_path / "b.raw")
    (tmp_path / "list.txt").write_text("a.raw\nb.raw\n")
    lst = parse_input_list(tmp_path / "list.txt", g.input_names)
    with pytest.raises(InputListError, match=r"b\.raw: 1 NaN or Inf"):
        quantize_container(float_container(g), lst)

    # An activation that goes non-finite names the tensor and the sample.
    h = onnx_model(
        tmp_path / "log.onnx",
        [helper.make_node("Log", ["x"], ["l"]), helper.make_node("Relu", ["l"], ["y"])],
        {"x": (1, 4)},
        ["y"],
        {},
    )
    feeds = [{"x": np.ones((1, 4), np.float32)}, {"x": -np.ones((1, 4), np.float32)}]
    with pytest.raises(BadInput, match=r"calibration sample 2: tensor 'l' has 4 NaN"):
        quantize_container(float_container(h), feeds)


def test_input_list_calibration_and_progress(tmp_path):
    g = conv_net(tmp_path)
    data = samples(g, 4)
    lines = []
    for i, s in enumerate(data):
        s["x"].tofile(tmp_path / f"s{i}.raw")
        lines.append(f"x:=s{i}.raw")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    lst = parse_input_list(tmp_path / "list.txt", g.input_names)
    seen = []
    from_files = quantize_container(
        float_container(g), lst, QuantOptions(algorithms="cle,bc"), lambda *a: seen.append(a)
    )
    from_feeds = quantize_container(float_container(g), data, QuantOptions(algorithms="cle,bc"))
    assert from_files.container.encodings == from_feeds.container.encodings
    assert ("calibrate", 4, 4) in seen and ("cle", 1, 1) in seen
    assert any(stage == "quantize_params" for stage, _, _ in seen)
    assert from_files.samples == 4 and from_files.timings["total"] > 0
    layer = {lq.node: lq for lq in from_files.layers}[
        "Conv_0" if "Conv_0" in {n.name for n in g.nodes} else g.nodes[0].name
    ]
    assert set(layer.params) == {"w1", "b1"} and set(layer.outputs) == {"c1"}


def test_result_is_json_serializable(tmp_path):
    g = conv_net(tmp_path)
    q = quantize_container(float_container(g), samples(g, 2), QuantOptions(per_channel=True))
    json.dumps([lq.__dict__ for lq in q.layers])
    json.dumps(q.container.encodings)
    json.dumps(q.container.param_encodings)


# --------------------------------------------------------------------------- analysis


def test_analysis_reports_layers_and_sensitivity(tmp_path):
    g = conv_net(tmp_path, channels=16)
    fc = float_container(g)
    data = samples(g, 6)
    result = quantize_container(fc, data, QuantOptions(weights_bitwidth=4, algorithms="cle"))
    q = result.container
    report = analyze(fc, q, data[:3], prepared_graph=result.prepared_graph, top=3)
    by_tensor = {r.tensor: r for r in report.layers}
    # Conv+Relu is one layer (the conv output is fused into the ReLU's encoding).
    assert set(by_tensor) == {"r1", "c2", "p", "f", "y"}
    assert by_tensor["r1"].op_type == "Conv+Relu" and len(by_tensor["r1"].nodes) == 2
    assert all(math.isfinite(r.sqnr_db) and r.sqnr_db > 0 for r in report.layers)
    # RMSE in steps of a layer's own encoding: rounding noise at least, and not absurd.
    assert 0.2 < by_tensor["r1"].rmse_over_scale < 20
    assert by_tensor["p"].propagated and not by_tensor["c2"].propagated
    s = report.sensitivity
    assert len(s.layers) == 3 and s.samples == 3 and s.metric == "sqnr"
    # Ranked by the costlier half of each layer, measured on the metric.
    costs = [min(p.value for p in (x.weights, x.activations) if p) for x in s.layers]
    assert costs == sorted(costs)
    # 4-bit weights dominate the error: weights-only is far worse than activations-only,
    # and the report points at the weights' knobs, naming the costliest layer.
    assert s.weights_only_sqnr_db < s.activations_only_sqnr_db - 6
    assert s.full_sqnr_db <= s.activations_only_sqnr_db + 0.5
    assert s.dominant == "weights" and s.layers[0].dominant == "weights"
    assert "weights dominate" in s.suggestion and "--per-channel" in s.suggestion
    assert "--algorithms cle,bc" in s.suggestion  # cle ran; bias correction would add to it
    assert f"costliest layer: {s.layers[0].node}" in s.suggestion
    # The full-model SQNR is the output's, by the one evaluator.
    assert by_tensor["y"].sqnr_db == pytest.approx(s.full_sqnr_db, abs=1e-9)
    assert report.full.value("sqnr") == pytest.approx(s.full_sqnr_db)
    assert output_sqnr(fc, SimulatedQuantPlan(q), data[:3]) == pytest.approx(s.full_sqnr_db)
    # The prepared graph is rebuilt (CLE is deterministic) when not given.
    again = analyze(fc, q, data[:3], top=1)
    assert again.sensitivity.activations_only_sqnr_db == pytest.approx(s.activations_only_sqnr_db)


def test_analysis_uses_a_given_fake_quant_runner(tmp_path):
    g = conv_net(tmp_path)
    fc = float_container(g)
    q = quantize_container(fc, samples(g, 2)).container
    made = []

    def runner(container):
        made.append(container)
        return SimulatedQuantPlan(container)

    analyze(fc, q, samples(g, 1), runner, top=1)
    assert made == [q]
    with pytest.raises(BadInput):
        analyze(q, fc, samples(g, 1))


# --------------------------------------------------------------------------- HTA


def test_hta_records(tmp_path):
    rng = np.random.default_rng(0)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "wd"], ["d"], pads=[1, 1, 1, 1], group=4),
        n("Clip", ["d", "lo", "hi"], ["r6"]),
        n("Add", ["r6", "r1"], ["a"]),
        n("Sigmoid", ["a"], ["s"]),  # not HTA: subnet 1 starts here
        n("Flatten", ["s"], ["f"]),
        n("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    inits = {
        "w1": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "b1": rng.standard_normal(4).astype(np.float32),
        "wd": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "lo": np.array(0.0, np.float32),
        "hi": np.array(6.0, np.float32),
        "wf": rng.standard_normal((5, 64)).astype(np.float32),
        "bf": rng.standard_normal(5).astype(np.float32),
    }
    g = onnx_model(tmp_path / "hta.onnx", nodes, {"x": (1, 3, 4, 4)}, ["y"], inits)
    opts = QuantOptions(enable_hta=True, per_channel=True)
    q = quantize_container(float_container(g), samples(g, 3), opts).container
    assert set(q.records) == {"subnets.json", "hta_0.bin"}
    doc = json.loads(q.records["subnets.json"])
    assert not doc["all_layers_hta"]
    hta, hnn = doc["subnets"]
    assert (hta["kind"], hta["layers"], hta["record"]) == ("hta", [0, 5], "hta_0.bin")
    assert (hnn["kind"], hnn["layers"], hnn["record"]) == ("hnn", [5, 8], None)
    assert [t["name"] for t in hta["inputs"]] == ["x"] and [t["name"] for t in hta["outputs"]] == [
        "a"
    ]
    assert hta["outputs"][0]["encoding"] == q.encodings["a"]
    assert [t["name"] for t in hnn["inputs"]] == ["a"] and [t["name"] for t in hnn["outputs"]] == [
        "y"
    ]

    from workbench.engine.quant.hta import read_hta_record
    from workbench.engine.quant.requant import quantize_multiplier

    index, arrays = read_hta_record(q.records["hta_0.bin"])
    assert [layer["node"] for layer in index["layers"]] == hta["nodes"]
    conv = arrays[hta["nodes"][0]]
    np.testing.assert_array_equal(conv["weight"], q.graph.params["w1"])
    real = (
        q.encodings["x"]["delta"]
        * np.asarray(q.param_encodings["w1"]["delta"])
        / q.encodings["c1"]["delta"]
    )
    m, sh = quantize_multiplier(real)
    np.testing.assert_array_equal(conv["multiplier"], m)
    np.testing.assert_array_equal(conv["shift"], sh)
    assert conv["bias"].dtype == np.int32 and conv["bias"].shape == (4,)
    add = arrays[hta["nodes"][4]]
    assert {"multiplier_0", "shift_0", "multiplier_1", "shift_1"} <= set(add)
    # Written and read back with the container.
    write_container(tmp_path / "h.dlc", q)
    assert read_container(tmp_path / "h.dlc").records == q.records
    # Without the flag there are no records.
    assert quantize_container(float_container(g), samples(g, 1)).container.records == {}


# --------------------------------------------------------------------------- demo


def test_demo_model_quantizes_with_every_algorithm():
    data = pytest.importorskip("workbench.data")
    if not data.demo_model_path().exists():
        pytest.skip("the demo model is not built")
    g = import_onnx(data.demo_model_path())
    fc = float_container(g)
    calib = [{"image": x[None]} for x in data.load_demo_images("calibration")[:16]]
    held = [{"image": x[None]} for x in data.load_demo_images("validation")[:32]]
    opts = QuantOptions(per_channel=True, bias_bitwidth=32, algorithms="cle,bc", enable_hta=True)
    result = quantize_container(fc, calib, opts)
    q = result.container
    assert result.cle is not None and result.cle.pairs  # Conv→ReLU→Conv chains
    assert result.bias_corrections
    assert output_sqnr(fc, SimulatedQuantPlan(q), held) > 20
    assert "hta_0.bin" in q.records


# --------------------------------------------------------------------------- non-finite values


def _masked(tmp_path: Path, mask_value: float = -np.inf) -> Graph:
    """MatMul → Add(mask) → Softmax, the mask holding 0 and ``mask_value`` (jax2tf's -inf)."""
    w = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    mask = np.zeros((1, 8), np.float32)
    mask[0, 5:] = mask_value
    n = helper.make_node
    nodes = [n("MatMul", ["x", "w"], ["h"]), n("Add", ["h", "mask"], ["a"]),
             n("Softmax", ["a"], ["y"], axis=-1)]  # fmt: skip
    return onnx_model(tmp_path / "masked.onnx", nodes, {"x": [1, 8]}, ["y"], {"w": w, "mask": mask})


def test_infinite_constants_quantize_clamped_to_the_range(tmp_path):
    g = _masked(tmp_path)
    data = samples(g, 4)
    q = quantize_container(float_container(g), data, QuantOptions()).container
    enc = encoding_from_dict(q.param_encodings["mask"])
    codes = q.graph.params["mask"].reshape(-1)
    assert math.isfinite(enc.min) and math.isfinite(enc.max)
    # -inf lands on the range's lower end; 0 stays exactly 0.
    assert (dequantize(codes[5:], enc) == enc.min).all() and (dequantize(codes[:5], enc) == 0).all()
    out = SimulatedQuantPlan(q).run(data[0])["y"]
    assert np.isfinite(out).all()
    # The activation after the mask: calibrated on its finite values.
    assert math.isfinite(encoding_from_dict(q.encodings["a"]).min)


def test_a_constant_of_only_minus_inf_takes_its_nodes_output_encoding(tmp_path):
    """jax2tf's ``Max(-inf, ReduceMax(x))`` (magika): no range of its own, clamped to the
    output's lower end, where Max leaves the other input as it is."""
    n = helper.make_node
    nodes = [n("ReduceMax", ["x"], ["m"], keepdims=1, axes=[1]), n("Max", ["start", "m"], ["y"])]
    start = np.array(-np.inf, np.float32)
    g = onnx_model(tmp_path / "max.onnx", nodes, {"x": [1, 8]}, ["y"], {"start": start}, opset=13)
    data = samples(g, 4)
    q = quantize_container(float_container(g), data, QuantOptions()).container
    enc = encoding_from_dict(q.param_encodings["start"])
    assert enc == encoding_from_dict(q.encodings["y"])
    assert dequantize(q.graph.params["start"].reshape(-1), enc)[0] == enc.min
    ref = Plan(g).run(data[0])["y"]
    out = SimulatedQuantPlan(q).run(data[0])["y"]
    assert np.isfinite(out).all() and abs(float(out[0, 0] - ref[0, 0])) <= enc.delta


def test_nan_stays_an_error_naming_where_it_appears(tmp_path):
    g = _masked(tmp_path, mask_value=np.nan)
    with pytest.raises(BadInput, match="'mask' has 3 NaN value"):
        quantize_container(float_container(g), samples(g, 2), QuantOptions())
    n = helper.make_node
    log = onnx_model(tmp_path / "log.onnx", [n("Log", ["x"], ["y"])], {"x": [1, 4]}, ["y"], {})
    raw = tmp_path / "neg.raw"
    np.full((1, 4), -1.0, np.float32).tofile(raw)
    listing = tmp_path / "list.txt"
    listing.write_text("neg.raw\n")
    with pytest.raises(BadInput, match=r"sample 1 \(.*neg\.raw\): tensor 'y' has 4 NaN"):
        quantize_container(float_container(log), parse_input_list(listing, ["x"]), QuantOptions())
    raw_nan = tmp_path / "nan.raw"
    np.full((1, 4), np.nan, np.float32).tofile(raw_nan)
    listing.write_text("nan.raw\n")
    with pytest.raises(InputListError, match="nan.raw: 4 NaN or Inf values"):
        quantize_container(float_container(log), parse_input_list(listing, ["x"]), QuantOptions())


def test_sensitivity_points_at_activations_when_they_cost(tmp_path):
    """One input channel 1000x the others: 8-bit activations crush the small ones."""
    g = conv_net(tmp_path, channels=16)
    fc = float_container(g)
    data = samples(g, 4)
    for d in data:
        d["x"][:, 0] *= 1000.0
    q = quantize_container(fc, data, QuantOptions(weights_bitwidth=16)).container
    s = analyze(fc, q, data, top=4, metric="cosine").sensitivity
    assert s.metric == "cosine" and s.dominant == "activations"
    assert "activations dominate" in s.suggestion and "--act-bitwidth 16" in s.suggestion
    assert s.activations_only.value < s.weights_only.value
    assert all(x.weights is None or x.weights.sqnr_db > 40 for x in s.layers)  # 16-bit weights


def test_the_suggestion_says_when_neither_half_dominates():
    from workbench.engine.quant.sensitivity import Part, suggest

    w, a = Part(33.44, 33.44, "33.44 dB"), Part(33.48, 33.48, "33.48 dB")
    text = suggest("weights", w, a, (), {"act_bitwidth": 8})
    assert text.startswith("weights and activations cost about the same")
    assert text.endswith(": try --per-channel or --act-bitwidth 16")
    far = suggest("weights", Part(20.0, 20.0, "20.00 dB"), a, (), {"per_channel": True})
    assert far.startswith("weights dominate") and "--algorithms cle,bc" in far


def test_simulated_plans_sharing_parsed_encodings_run_as_fresh_ones(tmp_path):
    # The sensitivity's configurations share one ParsedEncodings (dequantized parameters
    # included): each must still give what a plan built alone gives, in any order.
    from workbench.engine.quant.simulate import ParsedEncodings

    g = conv_net(tmp_path)
    fc = float_container(g)
    q = quantize_container(fc, samples(g, 2)).container
    feeds = samples(g, 2)
    parsed = ParsedEncodings(q)
    first_node = q.graph.nodes[0].name
    configs = [
        {"quantize_weights": True, "quantize_activations": False, "only": [first_node]},
        {"quantize_weights": True, "quantize_activations": False},
        {"quantize_weights": False, "quantize_activations": True},
        {"quantize_weights": True, "quantize_activations": True, "only": [first_node]},
    ]
    for kw in configs:
        shared = SimulatedQuantPlan(q, float_params=fc.graph.params, parsed=parsed, **kw)
        alone = SimulatedQuantPlan(q, float_params=fc.graph.params, **kw)
        for f in feeds:
            a, b = shared.run(f), alone.run(f)
            assert all(np.array_equal(a[k], b[k]) for k in b)
