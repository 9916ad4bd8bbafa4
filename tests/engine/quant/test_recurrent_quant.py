"""Recurrent layers quantized the way the DSP runs them: 8-bit W/R/B, outputs and state
in 16 bits, the state put on its 16-bit grid after every step by the integer kernel."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.quant.test_qdq_walk import _control_flow_model
from workbench.engine.container import Container, make_manifest
from workbench.engine.executor import Plan
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.encoding import encoding_from_dict, fake_quantize
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.quantizer import QuantOptions, quantize_container
from workbench.engine.quant.sqnr import sqnr_db


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory):
    graph = import_onnx(_control_flow_model(tmp_path_factory.mktemp("rq") / "m.onnx"))
    rng = np.random.default_rng(0)
    samples = [{"x": rng.standard_normal((1, 5, 4)).astype(np.float32)} for _ in range(10)]
    container = Container(make_manifest(converter={}), graph)
    return graph, quantize_container(container, samples[:8], QuantOptions()).container, samples


def test_weights_eight_bit_state_sixteen(quantized):
    graph, q, _ = quantized
    for name in ("W", "R", "B", "Wg", "Rg"):
        assert q.graph.params[name].dtype == np.uint8
        assert q.param_encodings[name]["bitwidth"] == 8
    lstm = next(n for n in graph.nodes if n.op_type == "LSTM")
    gru = next(n for n in graph.nodes if n.op_type == "GRU")
    for out in (*lstm.outputs, *gru.outputs):
        assert q.encodings[out]["bitwidth"] == 16, out
    assert q.encodings["x"]["bitwidth"] == 8


def test_integer_recurrent_kernel_keeps_state_on_its_grid(quantized):
    graph, q, samples = quantized
    plan = IntegerPlan(q)
    assert not {op for _, op in plan.float_fallback_nodes} & {"LSTM", "GRU"}
    feeds = samples[9]
    ref = Plan(graph).run(feeds)
    ours = plan.run(feeds)
    fake = FakeQuantPlan(q).run(feeds)
    for name in graph.output_names:
        assert sqnr_db(ref[name], ours[name]) > 25, name
        # Per-step 16-bit state costs little against quantizing only the outputs.
        assert abs(sqnr_db(ref[name], ours[name]) - sqnr_db(ref[name], fake[name])) < 3, name
    h = encoding_from_dict(q.encodings["h"])
    np.testing.assert_array_equal(fake_quantize(ours["h"], h), ours["h"])


def test_state_grid_is_applied_every_step(quantized, monkeypatch):
    """Without the per-step grid the integer kernel would equal a float run of the layer."""
    import workbench.engine.quant.int_ops.recurrent as rec

    graph, q, samples = quantized
    calls = []
    original = rec.run_layer

    def spy(*args, **kwargs):
        calls.append(args[-1] if len(args) > 7 else kwargs.get("state_grid"))
        return original(*args, **kwargs)

    monkeypatch.setattr(rec, "run_layer", spy)
    IntegerPlan(q).run(samples[0])
    assert len(calls) == 2 and all(callable(c) for c in calls)
