"""Bias correction: the quantized layers' output means move back to the float ones."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.engine.quant.test_quantizer import float_container, onnx_model
from workbench.engine.container import read_container, write_container
from workbench.engine.executor import Plan
from workbench.engine.quant.analysis import SimulatedQuantPlan, output_sqnr
from workbench.engine.quant.bias_correction import InputSums, correct_biases, correctable_layers
from workbench.engine.quant.calibrate import calibrate
from workbench.engine.quant.encoding import fake_quantize, tf_encoding_of
from workbench.engine.quant.quantizer import QuantOptions, quantize_container


def _net(tmp_path, bias: bool = True):
    rng = np.random.default_rng(5)
    n = helper.make_node
    b1 = ["b1"] if bias else []
    nodes = [
        n("Conv", ["x", "w1", *b1], ["c1"], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "w2", "b2"], ["c2"]),
        n("Relu", ["c2"], ["r2"]),
        n("GlobalAveragePool", ["r2"], ["p"]),
        n("Flatten", ["p"], ["f"]),
        n("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    inits = {
        "w1": (rng.standard_normal((16, 4, 3, 3)) * 0.2 + 0.03).astype(np.float32),
        "w2": (rng.standard_normal((16, 16, 1, 1)) * 0.3).astype(np.float32),
        "b2": (rng.standard_normal(16) * 0.1).astype(np.float32),
        "wf": (rng.standard_normal((10, 16)) * 0.3).astype(np.float32),
        "bf": np.zeros(10, np.float32),
    }
    if bias:
        inits["b1"] = (rng.standard_normal(16) * 0.1).astype(np.float32)
    return onnx_model(tmp_path / "bc.onnx", nodes, {"x": (1, 4, 8, 8)}, ["y"], inits)


def _data(n, seed=0):
    # Inputs with a clear positive mean (images, ReLU outputs): E[dW x] does not cancel.
    rng = np.random.default_rng(seed)
    return [
        {"x": (np.abs(rng.standard_normal((1, 4, 8, 8))) + 0.5).astype(np.float32)}
        for _ in range(n)
    ]


def _channel_mean_error(fc, q, data, tensor):
    ref_plan = Plan(fc.graph, keep=[tensor])
    sim = SimulatedQuantPlan(q, quantize_activations=False)
    err = 0.0
    kept: dict[str, np.ndarray] = {}

    def keep(name, value):
        if name == tensor:
            kept[name] = value

    for s in data:
        sim.run(s, hook=keep)
        err = err + (kept[tensor] - ref_plan.run(s)[tensor]).mean(axis=(0, 2, 3))
    return np.abs(err / len(data))


def test_expected_shift_is_the_mean_output_change(tmp_path):
    g = _net(tmp_path)
    data = _data(6)
    layers = correctable_layers(g)
    assert [n.op_type for n in layers] == ["Conv", "Conv", "Gemm"]
    sums = InputSums.for_layers(g, layers)
    calibrate(g, data, collectors=[sums])
    # The 1x1 conv's input is kept as a per-channel mean only; the 3x3's in full.
    assert sums.sums["r1"].shape == (1, 16, 1, 1) and sums.sums["x"].shape == (1, 4, 8, 8)
    w_hat = {
        n.inputs[1]: fake_quantize(g.params[n.inputs[1]], tf_encoding_of(g.params[n.inputs[1]], 4))
        for n in layers
    }
    corrected, done = correct_biases(g, sums, w_hat)
    # Brute force: run every sample with the quantized weight of the first conv only.
    brute = g.copy()
    brute.params["w1"] = w_hat["w1"]
    ref, test = Plan(g, keep=["c1"]), Plan(brute, keep=["c1"])
    diff = np.mean(
        [(test.run(s)["c1"] - ref.run(s)["c1"]).mean(axis=(0, 2, 3)) for s in data], axis=0
    )
    first = done[0]
    assert first.bias == "b1" and not first.created
    np.testing.assert_allclose(first.shift, diff, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(corrected.params["b1"], g.params["b1"] - diff, rtol=1e-4, atol=1e-6)
    # The 1x1 conv from its per-channel mean input: the same as running every sample.
    brute2 = g.copy()
    brute2.params["w2"] = w_hat["w2"]
    ref2, test2 = Plan(g, keep=["c2"]), Plan(brute2, keep=["c2"])
    diff2 = np.mean(
        [(test2.run(s)["c2"] - ref2.run(s)["c2"]).mean(axis=(0, 2, 3)) for s in data], axis=0
    )
    np.testing.assert_allclose(done[1].shift, diff2, rtol=1e-4, atol=1e-6)
    # The input graph is not changed.
    assert corrected.params["b1"] is not g.params["b1"]


def test_bias_correction_with_4bit_weights(tmp_path):
    g = _net(tmp_path)
    fc = float_container(g)
    calib, held_out = _data(16, seed=1), _data(8, seed=2)
    opts = QuantOptions(weights_bitwidth=4)
    plain = quantize_container(fc, calib, opts).container
    result = quantize_container(fc, calib, QuantOptions(weights_bitwidth=4, algorithms="bc"))
    bc = result.container
    assert [c.node for c in result.bias_corrections] == [n.name for n in correctable_layers(g)]
    # The per-channel mean error of the first layer's output shrinks markedly.
    e_plain = _channel_mean_error(fc, plain, held_out, "c1")
    e_bc = _channel_mean_error(fc, bc, held_out, "c1")
    assert e_bc.mean() < 0.2 * e_plain.mean(), (e_plain.mean(), e_bc.mean())
    # And the model output is closer to float.
    s_plain = output_sqnr(fc, SimulatedQuantPlan(plain), held_out)
    s_bc = output_sqnr(fc, SimulatedQuantPlan(bc), held_out)
    assert s_bc > s_plain + 1.0, (s_plain, s_bc)


def test_a_missing_bias_is_created(tmp_path):
    g = _net(tmp_path, bias=False)
    fc = float_container(g)
    result = quantize_container(
        fc, _data(4), QuantOptions(weights_bitwidth=4, algorithms="bc", bias_bitwidth=32)
    )
    q = result.container
    conv = q.graph.nodes[0]
    assert len(conv.inputs) == 3
    name = conv.inputs[2]
    assert name.endswith(".bias") and name not in g.params
    assert q.graph.params[name].dtype == np.int32 and name in q.param_encodings
    assert q.manifest["quantizer"]["added_params"] == {name: None}
    created = [c for c in result.bias_corrections if c.created]
    assert [c.bias for c in created] == [name]
    write_container(tmp_path / "q.dlc", q)
    back = read_container(tmp_path / "q.dlc")
    assert back.graph.nodes[0].inputs == conv.inputs
    # Simulation with float weights gives the created bias the value zero.
    s = _data(1)[0]
    sim = SimulatedQuantPlan(
        back, float_params=g.params, quantize_weights=False, quantize_activations=False
    )
    np.testing.assert_allclose(sim.run(s)["y"], Plan(g).run(s)["y"], rtol=1e-5, atol=1e-6)


def test_bias_correction_needs_rereadable_samples(tmp_path):
    g = _net(tmp_path)
    from workbench.errors import BadInput

    it = iter(_data(2))
    # One pass is enough: the sums ride along the calibration pass, so a one-shot
    # iterator works.
    quantize_container(float_container(g), it, QuantOptions(algorithms="bc"))
    with pytest.raises(BadInput):
        quantize_container(float_container(g), [], QuantOptions(algorithms="bc"))
