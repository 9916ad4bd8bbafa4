"""Per-layer precision (``--layer-precision``, ``--weights-bitwidth-override``): the
quantizer's container, the runtimes' vendor rules, the integer-true check on mixes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.quant.qfixtures import cnn_model
from workbench.engine.container import Container, make_manifest
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.analysis import check_integer_path
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.layer_precision import boundaries, float_layers, resolve
from workbench.engine.quant.quantizer import quantize_container
from workbench.engine.runtimes import check_runtime, load_network
from workbench.errors import BadInput, RuntimeRefused
from workbench.options import QuantOptions


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    path = cnn_model(tmp_path_factory.mktemp("lp") / "cnn.onnx")
    return Container(manifest=make_manifest(), graph=import_onnx(path))


def _feeds(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(n)]


def _quantize(cnn, **opts):
    return quantize_container(cnn, _feeds(4), QuantOptions(**opts)).container


def _bits(q: Container) -> dict[str, int]:
    return {t: e["bitwidth"] for t, e in q.encodings.items()}


def test_rules_are_checked_when_parsed():
    with pytest.raises(BadInput, match="PATTERN=VALUE"):
        QuantOptions(layer_precision=("conv1",))
    with pytest.raises(BadInput, match="int8, int16, float"):
        QuantOptions(layer_precision=("conv1=int4",))
    with pytest.raises(BadInput, match="4, 8, 16"):
        QuantOptions(weights_bitwidth_override=("type:Conv=2",))
    with pytest.raises(BadInput, match="bad regular expression"):
        QuantOptions(layer_precision=("re:(conv=int16",))
    with pytest.raises(BadInput, match="needs a name"):
        QuantOptions(layer_precision=("type:=int16",))
    # A TUI field holds several rules; the CLI passes one per flag; both normalise alike.
    assert QuantOptions(layer_precision="a=INT16 type:Softmax=float").layer_precision == (
        "a=int16",
        "type:Softmax=float",
    )


def test_patterns_name_layers_and_later_rules_win(cnn):
    g = cnn.graph
    got = resolve(g, ("type:Conv=int16", "re:^Conv_(0|2)$=int8", "Gemm_15=float"), "--x")
    assert got["Conv_0"] == got["Conv_2"] == "int8" and got["Conv_4"] == "int16"
    assert got["Gemm_15"] == "float" and "Relu_1" not in got
    with pytest.raises(BadInput, match="no layer of the model matches 'conv9'"):
        resolve(g, ("conv9=int16",), "--layer-precision")


def test_int16_layers_get_16_bit_encodings_and_the_integer_path_agrees(cnn):
    feeds = _feeds(4)
    q = quantize_container(
        cnn, feeds, QuantOptions(layer_precision=("Conv_4=int16", "type:HardSwish=int16"))
    ).container
    bits = _bits(q)
    # Conv_4 is fused with Relu_5 (c3 is also read by Add_7: no fusion, its own c3);
    # HardSwish's output h1 and MaxPool's propagated m1 are 16-bit; the rest 8-bit.
    assert bits["c3"] == 16 and bits["h1"] == 16 and bits["m1"] == 16
    assert bits["c1"] == bits["r1"] == bits["cat"] == bits["y"] == 8
    record = q.manifest["quantizer"]["layer_precision"]
    assert record["activations"] == {"Conv_4": "int16", "HardSwish_8": "int16"}
    assert record["float_layers"] == [] and record["boundaries"] == 0
    assert q.manifest["quantizer"]["options"]["layer_precision"] == [
        "Conv_4=int16",
        "type:HardSwish=int16",
    ]
    check = check_integer_path(cnn, q, feeds)
    assert check.ok, check.line()
    dsp = load_network(q, "dsp")
    np.testing.assert_array_equal(dsp.run(feeds[0])["y"], IntegerPlan(q).run(feeds[0])["y"])


def test_weights_bitwidth_override_and_a16w16_mix(cnn):
    q = _quantize(
        cnn,
        weights_bitwidth_override=("Conv_10=4", "Conv_6=16"),
        layer_precision=("Relu_5=int16",),  # Conv_6 reads r3: 16-bit in, as the HTP needs
        bias_bitwidth=32,
    )
    assert q.param_encodings["w4"]["bitwidth"] == 4  # Conv_10's weights
    assert q.param_encodings["w3"]["bitwidth"] == 16  # Conv_6's
    assert q.param_encodings["w1"]["bitwidth"] == 8
    assert q.manifest["quantizer"]["layer_precision"]["weights"] == {"w4": 4, "w3": 16}
    assert check_integer_path(cnn, q, _feeds(3)).ok
    check_runtime(q, "dsp")  # 16-bit weights on 16-bit activations: legal


def test_an_a8w16_layer_is_refused_on_the_dsp_and_aip_naming_the_fix(cnn):
    q = _quantize(cnn, weights_bitwidth_override=("Conv_6=16",), enable_hta=True)
    for runtime in ("dsp", "aip"):
        with pytest.raises(RuntimeRefused, match="'Conv_6' has 16-bit weights on 8-bit") as exc:
            check_runtime(q, runtime)
        assert "--layer-precision Relu_5=int16" in str(exc.value)
    load_network(q, "cpu")  # dequantized to float: any mix runs
    load_network(q, "cpu", cpu_fxp=True)


def test_a_float_layer_keeps_float_parameters_and_falls_back_with_converts(cnn):
    feeds = _feeds(4)
    q = quantize_container(
        cnn, feeds, QuantOptions(layer_precision=("HardSwish_8=float",), enable_hta=True)
    ).container
    assert float_layers(q.manifest) == {"HardSwish_8"}
    # HardSwish reads a1 (encoded: Add_7 is fixed point) and writes h1 (read by MaxPool):
    # two converts. Nothing inside a float island, so every tensor keeps its encoding.
    assert boundaries(q.graph, {"HardSwish_8"}, q.encodings) == [
        ("a1", "dequantize", "HardSwish_8"),
        ("h1", "quantize", "HardSwish_8"),
    ]
    assert q.manifest["quantizer"]["layer_precision"]["boundaries"] == 2
    for runtime in ("dsp", "aip"):
        net = load_network(q, runtime)
        assert net.float_layers == 1 and net.boundaries == 2
        before = net.convert_seconds()
        net.run(feeds[0])
        assert net.convert_seconds() > before
        assert any("fall back to the CPU, with 2 convert(s)" in n for n in net.notes)
    assert check_integer_path(cnn, q, feeds).ok


def test_a_float_tail_is_unencoded_with_float_weights(cnn):
    feeds = _feeds(4)
    q = quantize_container(
        cnn, feeds, QuantOptions(layer_precision=("type:Gemm=float", "Flatten_14=float"))
    ).container
    # Gemm's weights and bias stay float32; fl (Flatten -> Gemm) and y are inside the
    # island or its graph output: no encoding. g1 (GlobalAveragePool -> Flatten) converts.
    assert q.graph.params["wg"].dtype == np.float32 and "wg" not in q.param_encodings
    assert "bg" not in q.param_encodings
    assert "fl" not in q.encodings and "y" not in q.encodings and "g1" in q.encodings
    plan = IntegerPlan(q)
    assert {n for n, _ in plan.float_fallback_nodes} >= {"Gemm_15", "Flatten_14"}
    assert plan.boundaries == [("g1", "dequantize", "Flatten_14")]
    # The integer path and fake-quant compute the same float tail.
    fq, ip = FakeQuantPlan(q), IntegerPlan(q)
    for f in feeds:
        np.testing.assert_allclose(ip.run(f)["y"], fq.run(f)["y"], rtol=0, atol=0.2)
    assert check_integer_path(cnn, q, feeds).ok


def test_aip_puts_16_bit_layers_in_hnn_subnets(cnn):
    import json

    q = _quantize(cnn, layer_precision=("Conv_2=int16",), enable_hta=True)
    doc = json.loads(q.records["subnets.json"])
    hta = doc["subnets"][0]
    assert hta["kind"] == "hta" and hta["nodes"] == ["Conv_0", "Relu_1"]
    assert doc["subnets"][1]["nodes"][0] == "Conv_2"
    net = load_network(q, "aip")
    assert any(n.startswith("1 layer(s) run from the HTA records") for n in net.notes)
    assert check_integer_path(cnn, q, _feeds(3), integer=_Runner(net)).ok


class _Runner:
    def __init__(self, net):
        self.net = net

    def run(self, feeds, hook=None):
        return self.net.run(feeds)


def test_exports_carry_the_mix(cnn, tmp_path):
    # Item 5: the QDQ export has 16-bit QDQ pairs and a float island; AIMET encodings carry
    # the per-layer bitwidths and list the float layers as excluded.
    import json

    ort = pytest.importorskip("onnxruntime")
    from workbench.engine.quant.aimet import export_encodings, load_encodings
    from workbench.engine.quant.qdq import export_qdq

    feeds = _feeds(4)
    q = quantize_container(
        cnn,
        feeds,
        QuantOptions(
            layer_precision=("HardSwish_8=int16", "type:Gemm=float", "Flatten_14=float"),
            weights_bitwidth_override=("Conv_10=4",),
        ),
    ).container
    model = export_qdq(q)
    types = {
        n.output[0]: n for n in model.graph.node if n.op_type == "QuantizeLinear"
    }  # QuantizeLinear output -> node
    zero_points = {i.name: i.data_type for i in model.graph.initializer}
    by_tensor = {n.input[0]: zero_points.get(n.input[2]) for n in types.values()}
    assert by_tensor["h1/float"] == 4  # TensorProto.UINT16: the int16 layer's QDQ pair
    assert by_tensor["c5/float"] == 2  # an 8-bit one: UINT8
    assert "y/float" not in by_tensor and "fl/float" not in by_tensor  # the float island
    wg = next(i for i in model.graph.initializer if i.name == "wg")
    assert wg.data_type == 1  # float weights stay float
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    fq = FakeQuantPlan(q)
    for f in feeds:
        np.testing.assert_allclose(sess.run(["y"], f)[0], fq.run(f)["y"], atol=0.05)

    doc = export_encodings(q, "1.0.0")
    bits = {e["name"]: e["bw"] for e in doc["activation_encodings"] + doc["param_encodings"]}
    assert bits["h1"] == 16 and bits["w4"] == 4 and bits["c5"] == 8
    assert "y" not in bits and "wg" not in bits
    assert doc["excluded_layers"] == ["Flatten_14", "Gemm_15"]
    path = tmp_path / "enc.json"
    path.write_text(json.dumps(doc))
    back = load_encodings(str(path), cnn.graph)
    assert back.activations["h1"].bitwidth == 16 and back.params["w4"].bitwidth == 4
    for version in ("0.6.1", "2.0.0"):
        doc = export_encodings(q, version)
        text = json.dumps(doc)
        assert '"wg"' not in text


@pytest.mark.parametrize("version", ["1.0.0", "0.6.1"])
def test_an_exported_mix_comes_back_through_override_params(cnn, tmp_path, version):
    import json

    from workbench.engine.quant.aimet import export_encodings
    from workbench.engine.quant.layer_precision import recorded

    feeds = _feeds(4)
    mix = QuantOptions(
        layer_precision=("HardSwish_8=int16", "type:Gemm=float", "Flatten_14=float"),
        weights_bitwidth_override=("Conv_10=4",),
    )
    q = quantize_container(cnn, feeds, mix).container
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(export_encodings(q, version)))
    back = quantize_container(cnn, feeds, QuantOptions(override_params=str(path))).container
    assert float_layers(back.manifest) == float_layers(q.manifest) == {"Flatten_14", "Gemm_15"}
    assert _bits(back) == _bits(q)  # 16-bit HardSwish_8, its neighbours 8, no float island
    assert {n: e["bitwidth"] for n, e in back.param_encodings.items()} == {
        n: e["bitwidth"] for n, e in q.param_encodings.items()
    }
    record = recorded(back.manifest)
    assert record["activations"]["HardSwish_8"] == "int16"
    assert record["weights"] == recorded(q.manifest)["weights"] == {"w4": 4}
    assert record["boundaries"] == recorded(q.manifest)["boundaries"]
    assert back.manifest["quantizer"]["overrides"]["excluded_layers"] == ["Flatten_14", "Gemm_15"]
    for f in feeds:  # the same container, computing the same outputs
        np.testing.assert_allclose(FakeQuantPlan(back).run(f)["y"], FakeQuantPlan(q).run(f)["y"])
    # The command line's rules still apply, after the file's: they win.
    int8 = QuantOptions(override_params=str(path), layer_precision=("Gemm_15=int8",))
    again = quantize_container(cnn, feeds, int8).container
    assert float_layers(again.manifest) == {"Flatten_14"}


def test_excluded_layers_must_name_layers_of_the_model(cnn, tmp_path):
    import json

    from workbench.engine.quant.aimet import export_encodings

    q = _quantize(cnn)
    doc = export_encodings(q, "1.0.0")
    doc["excluded_layers"] = ["Gemm_15", "nosuchlayer"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(
        BadInput, match="excluded_layers name layers not in the graph: 'nosuchlayer'"
    ):
        quantize_container(cnn, _feeds(2), QuantOptions(override_params=str(path)))
    doc["excluded_layers"] = "Gemm_15"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match="must be a list of layer names"):
        quantize_container(cnn, _feeds(2), QuantOptions(override_params=str(path)))
