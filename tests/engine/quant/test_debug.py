"""The first-divergence debugger names the layer whose encoding (or kernel) was broken."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.engine.quant.qfixtures import cnn_model
from workbench.engine.container import Container, make_manifest
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.analysis import prepared_float_graph
from workbench.engine.quant.debug import (
    FLOAT_BOUNDARY,
    RANGE_CLIPPING,
    REQUANT_MULTIPLIER,
    ROUNDING_NOISE,
    debug_layers,
)
from workbench.engine.quant.encoding import tf_encoding
from workbench.engine.quant.quantizer import quantize_container
from workbench.engine.runtimes import load_network
from workbench.options import QuantOptions


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    path = cnn_model(tmp_path_factory.mktemp("dbg") / "cnn.onnx")
    return Container(manifest=make_manifest(), graph=import_onnx(path))


@pytest.fixture(scope="module")
def feeds():
    rng = np.random.default_rng(0)
    return [{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(3)]


@pytest.fixture(scope="module")
def q8(cnn, feeds):
    return quantize_container(cnn, feeds, QuantOptions()).container


def _debug(cnn, q, feeds, runtime="dsp"):
    net = load_network(q, runtime, cpu_fxp=runtime == "cpu")
    return debug_layers(prepared_float_graph(cnn, q), q, feeds, net, runtime=runtime)


def _broken(q, tensor, factor):
    e = q.encodings[tensor]
    bad = tf_encoding(e["min"] * factor, e["max"] * factor, e["bitwidth"]).to_dict()
    return replace(q, encodings={**q.encodings, tensor: bad})


def test_a_healthy_container_has_no_divergent_layer(cnn, q8, feeds):
    report = _debug(cnn, q8, feeds)
    assert report.first is None and "no layer diverges" in report.why
    assert [r.node for r in report.layers][:3] == ["Conv_0", "Conv_2", "Conv_4"]
    conv_relu = report.layers[0]
    assert conv_relu.op_type == "Conv+Relu" and conv_relu.tensor == "r1"  # one fused row
    for row in report.layers:  # rounding noise: a fraction of an LSB, nothing clipped
        assert row.integer_mean_lsb < 1.5 and row.clipped_pct < 0.1
        assert row.integer_vs_fake_quant_mean_lsb < 0.5
    assert report.output_integer_sqnr_db > 25
    data = report.to_dict()
    assert data["first_divergent_layer"] is None and len(data["layers"]) == len(report.layers)


@pytest.mark.parametrize(
    ("factor", "cause"), [(0.05, RANGE_CLIPPING), (50.0, ROUNDING_NOISE)], ids=["narrow", "wide"]
)
def test_a_broken_encoding_is_named_first_with_its_cause(cnn, q8, feeds, factor, cause):
    # Conv_6's output (c4) gets a range 20x too narrow (clips) or 50x too wide (coarse).
    report = _debug(cnn, _broken(q8, "c4", factor), feeds)
    assert report.first is not None and report.first.node == "Conv_6"
    assert report.first.causes[0] == cause
    assert report.why.startswith(f"Conv_6 (Conv) diverges first: {cause}")
    assert all(not r.diverges for r in report.layers if r.index < report.first.index)
    assert report.to_dict()["cause"] == cause


def test_a_defective_integer_kernel_is_a_requantization_cause(cnn, q8, feeds, monkeypatch):
    from workbench.engine.quant import int_ops

    right = int_ops._REGISTRY["Gemm"]

    def off_by_three(ictx):
        kernel, top = right(ictx), ictx.out(0).qmax
        return lambda *args: tuple(np.minimum(y.astype(np.int64) + 3, top).astype(y.dtype)
                                   for y in kernel(*args))  # fmt: skip

    monkeypatch.setitem(int_ops._REGISTRY, "Gemm", off_by_three)
    report = _debug(cnn, q8, feeds)
    assert report.first is not None and report.first.node == "Gemm_15"
    assert report.first.causes[0] == REQUANT_MULTIPLIER
    assert report.first.integer_vs_fake_quant_mean_lsb > 2
    assert report.first.fake_quant_mean_lsb < 1.5  # fake-quant never saw the defect


def test_a_float_layer_boundary_is_a_cause(cnn, feeds):
    q = quantize_container(
        cnn, feeds, QuantOptions(layer_precision=("HardSwish_8=float",))
    ).container
    healthy = _debug(cnn, q, feeds)
    assert healthy.first is None
    assert next(r for r in healthy.layers if r.node == "HardSwish_8").precision == "float"
    report = _debug(cnn, _broken(q, "h1", 0.05), feeds)  # the convert back clips
    assert report.first.node == "HardSwish_8"
    assert report.first.causes[:2] == (FLOAT_BOUNDARY, RANGE_CLIPPING)


def test_coarse_weights_are_a_weight_quantization_cause(cnn, feeds):
    from workbench.engine.quant.debug import WEIGHT_QUANTIZATION

    q = quantize_container(
        cnn, feeds, QuantOptions(per_channel=True, weights_bitwidth_override=("Conv_6=4",))
    ).container
    report = _debug(cnn, q, feeds)
    row = next(r for r in report.layers if r.node == "Conv_6")
    assert row.weight_only_sqnr_db < 25  # 4-bit weights alone, on its float inputs
    others = [r.weight_only_sqnr_db for r in report.layers if r.node in ("Conv_4", "Conv_10")]
    assert min(others) > row.weight_only_sqnr_db + 15  # 8-bit: ~24 dB better
    assert report.first is not None and report.first.node == "Conv_6"
    assert report.first.causes[0] == WEIGHT_QUANTIZATION
    assert "--weights-bitwidth-override Conv_6=16" in report.first.suggestion


def test_each_layer_contribution_is_the_metric_with_only_that_layer_quantized(cnn, q8, feeds):
    from workbench.engine.executor import Plan
    from workbench.engine.quant.sensitivity import Setup, layer_alone

    broken = _broken(q8, "c4", 0.05)
    prepared = prepared_float_graph(cnn, broken)
    net = load_network(broken, "dsp")
    report = debug_layers(prepared, broken, feeds, net, metric="sqnr", contribution_samples=2)
    measured = {r.node: r.contribution for r in report.layers if r.contribution is not None}
    assert min(measured, key=measured.get) == "Conv_6"  # the broken encoding costs most
    assert "MaxPool_9" not in measured and "Flatten_14" not in measured  # data movement
    assert report.contribution_samples == 2 and report.metric == "sqnr"
    output = prepared.output_names[0]
    refs = [{output: Plan(prepared).run(f)[output]} for f in feeds[:2]]
    alone = layer_alone(Setup(broken, prepared.params, feeds[:2], refs, output, "sqnr"), ["Conv_6"])
    assert measured["Conv_6"] == pytest.approx(alone.value)
    row = next(r for r in report.layers if r.node == "Conv_6")
    assert row.contribution_shown == f"{alone.value:.2f} dB"
    fused = report.layers[0]
    assert fused.nodes == ("Conv_0", "Relu_1") and fused.contribution is not None
    top1 = debug_layers(prepared, broken, feeds, net, metric="top1", contribution_samples=1)
    assert all(r.contribution_shown.endswith("%") for r in top1.layers if r.contribution)
    skipped = debug_layers(prepared, broken, feeds, net, contribution_samples=0)
    assert all(r.contribution is None for r in skipped.layers)
    assert skipped.to_dict()["contribution_samples"] == 0


def test_a_first_layer_diverging_by_upstream_error_names_the_layer_above(cnn, q8, feeds):
    # A threshold under the healthy error: Conv_4 diverges first with nothing of its own.
    net = load_network(q8, "dsp")
    prepared = prepared_float_graph(cnn, q8)
    report = debug_layers(prepared, q8, feeds, net, threshold_lsb=0.4)
    assert report.first.node == "Conv_4" and report.first.causes == ("upstream error",)
    # Its ancestors: Conv_2 (its SQNR drops from its input's) and Conv_0 (the first).
    assert report.first.suggestion.startswith("--layer-precision Conv_2=int16: the error comes")
    assert "fix the first divergent layer above it" not in report.why
    assert report.layers[[r.node for r in report.layers].index("Conv_4")] == report.first
    # With contributions, the ancestor that costs most alone is named.
    measured = debug_layers(prepared, q8, feeds, net, threshold_lsb=0.4, contribution_samples=2)
    alone = {r.node: r.contribution for r in measured.layers if r.node in ("Conv_0", "Conv_2")}
    worst = min(alone, key=alone.get)
    assert measured.first.suggestion.startswith(f"--layer-precision {worst}=int16")
    assert "with only it quantized" in measured.first.suggestion
