"""Init-time parameter conversion: dequantize a quantized container, quantize for the DSP."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.quant.qfixtures import cnn_model, feeds_for, load, quantize_for_tests
from workbench.engine.container import Container
from workbench.engine.quant.dequant import (
    data_params,
    dequantize_graph,
    quantize_float_params_for_dsp,
)
from workbench.engine.quant.encoding import (
    ChannelEncoding,
    dequantize,
    encoding_from_dict,
    quantize,
    tf_encoding_of,
)
from workbench.errors import BadInput


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory):
    graph = load(cnn_model(tmp_path_factory.mktemp("cnn") / "cnn.onnx"))
    return graph, quantize_for_tests(graph, feeds_for(graph, 2), bias_bitwidth=32)


def test_dequantize_graph_dequantizes_every_quantized_parameter(cnn) -> None:
    graph, container = cnn
    stored = dict(container.graph.params)
    g = dequantize_graph(container)
    assert container.param_encodings  # something to do
    for name, data in container.param_encodings.items():
        enc = encoding_from_dict(data)
        assert g.params[name].dtype == np.float32
        assert np.array_equal(g.params[name], dequantize(stored[name], enc))
        if name in g.tensors:
            assert g.tensors[name].dtype == "float32"
    for name, p in g.params.items():
        if name not in container.param_encodings:
            assert p is stored[name]  # settings and shapes untouched
    assert container.graph.params == stored  # the container itself is not modified


def test_dequantized_values_follow_the_formula(cnn) -> None:
    _, container = cnn
    w_enc = encoding_from_dict(container.param_encodings["w1"])
    assert isinstance(w_enc, ChannelEncoding)
    q = container.graph.params["w1"]
    assert q.dtype == np.uint8
    expected = (q.astype(np.float64) + w_enc.offset[:, None, None, None]) * w_enc.delta[
        :, None, None, None
    ]
    got = dequantize_graph(container).params["w1"]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    b_enc = encoding_from_dict(container.param_encodings["b1"])
    assert container.graph.params["b1"].dtype == np.int32 and b_enc.bitwidth == 32
    np.testing.assert_allclose(
        dequantize_graph(container).params["b1"],
        container.graph.params["b1"] * b_enc.delta,
        rtol=1e-6,
    )


def test_dequantize_graph_refuses_unloaded_params(cnn) -> None:
    _, container = cnn
    empty = Container(
        manifest=container.manifest,
        graph=container.graph.copy(),
        unloaded_params={"w1": container.graph.info("w1")},
    )
    with pytest.raises(BadInput):
        dequantize_graph(empty)


def test_quantize_float_params_for_dsp(cnn) -> None:
    graph, _ = cnn
    params, encs = quantize_float_params_for_dsp(graph, bitwidth=8)
    data = data_params(graph)
    assert set(encs) == set(data)
    assert {"w1", "b1", "wd", "wg", "bg"} <= set(data)
    assert "zero" not in data and "six" not in data  # Clip bounds are settings
    for name in data:
        enc = tf_encoding_of(graph.params[name], 8)
        assert encoding_from_dict(encs[name]) == enc
        assert params[name].dtype == np.uint8
        assert np.array_equal(params[name], quantize(graph.params[name], enc))
    assert params["six"] is graph.params["six"]


def test_dsp_quantization_at_16_bits(cnn) -> None:
    graph, _ = cnn
    params, encs = quantize_float_params_for_dsp(graph, bitwidth=16)
    assert params["w1"].dtype == np.uint16
    err = np.abs(dequantize(params["w1"], encoding_from_dict(encs["w1"])) - graph.params["w1"])
    assert err.max() <= encoding_from_dict(encs["w1"]).delta / 2 * (1 + 1e-5)
