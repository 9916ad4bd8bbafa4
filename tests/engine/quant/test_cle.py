"""Cross-layer equalization: same float function, equal channel ranges, better 8-bit SQNR."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.engine.quant.test_quantizer import float_container, onnx_model, samples
from workbench.engine.executor import Plan
from workbench.engine.quant.analysis import SimulatedQuantPlan, output_sqnr
from workbench.engine.quant.cle import equalize, find_pairs
from workbench.engine.quant.quantizer import QuantOptions, quantize_container

FACTORS = np.logspace(-2, 2, 16)  # 0.01 ... 100


def _unequal_net(tmp_path, act="Relu", depthwise=False, extra_consumer=False, seed=0):
    """Conv → act → [depthwise → act →] Conv, channels rescaled by 0.01…100 (same function)."""
    rng = np.random.default_rng(seed)
    c = len(FACTORS)
    w1 = rng.standard_normal((c, 3, 3, 3)).astype(np.float64) * 0.3
    b1 = rng.standard_normal(c) * 0.1
    w2 = rng.standard_normal((8, c, 3, 3)) * 0.2
    b2 = rng.standard_normal(8) * 0.1
    wd = rng.standard_normal((c, 1, 3, 3)) * 0.3
    bd = rng.standard_normal(c) * 0.1
    f = FACTORS
    # Scaling channel i of the first layer by f_i and dividing the next layer's input
    # channel i by it keeps the function (ReLU is positively homogeneous).
    w1 *= f[:, None, None, None]
    b1 *= f
    if depthwise:
        wd /= f[:, None, None, None]  # the depthwise's input = output channel i
        g2 = np.linspace(0.05, 20, c)
        wd *= g2[:, None, None, None]
        bd *= g2
        w2 /= g2[None, :, None, None]
    else:
        w2 /= f[None, :, None, None]
    n = helper.make_node
    nodes = [n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1])]
    cur = "c1"
    if act:
        nodes.append(n(act, [cur], ["a1"]))
        cur = "a1"
    inits = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    if depthwise:
        nodes += [
            n("Conv", [cur, "wd", "bd"], ["d"], pads=[1, 1, 1, 1], group=c),
            n("Relu", ["d"], ["ad"]),
        ]
        cur = "ad"
        inits.update(wd=wd, bd=bd)
    nodes.append(n("Conv", [cur, "w2", "b2"], ["y"], pads=[1, 1, 1, 1]))
    outputs = ["y"]
    if extra_consumer:
        nodes.append(n("Sigmoid", ["c1"], ["side"]))
        outputs.append("side")
    inits = {k: v.astype(np.float32) for k, v in inits.items()}
    return onnx_model(tmp_path / "unequal.onnx", nodes, {"x": (1, 3, 8, 8)}, outputs, inits)


def _weights_only_sqnr(graph, data, options):
    fc = float_container(graph)
    q = quantize_container(fc, data, options).container
    return output_sqnr(fc, SimulatedQuantPlan(q, quantize_activations=False), data)


@pytest.mark.parametrize("depthwise", [False, True])
def test_cle_keeps_the_function_and_improves_per_tensor_sqnr(tmp_path, depthwise):
    g = _unequal_net(tmp_path, depthwise=depthwise)
    data = samples(g, 4)
    eq, report = equalize(g)
    assert len(report.pairs) == (2 if depthwise else 1)
    before, after = Plan(g), Plan(eq)
    for s in data:
        ref, got = before.run(s)["y"], after.run(s)["y"]
        assert np.max(np.abs(got - ref)) <= 1e-4 * np.max(np.abs(ref))
    # Both layers' per-channel ranges are now equal (the fixed point of the iteration).
    pair = report.pairs[0]
    assert pair.spread_before > 1000 and pair.spread_after < pair.spread_before / 100
    if not depthwise:
        r1 = np.abs(eq.params["w1"]).max(axis=(1, 2, 3))
        r2 = np.abs(eq.params["w2"]).max(axis=(0, 2, 3))
        np.testing.assert_allclose(r1, r2, rtol=1e-5)

    plain = _weights_only_sqnr(g, data, QuantOptions())
    cle = _weights_only_sqnr(g, data, QuantOptions(algorithms="cle"))
    assert cle > plain + 15, (plain, cle)
    # Fully quantized (activations too) it still wins clearly.
    fc = float_container(g)
    full_plain = output_sqnr(fc, SimulatedQuantPlan(quantize_container(fc, data).container), data)
    full_cle = output_sqnr(
        fc,
        SimulatedQuantPlan(quantize_container(fc, data, QuantOptions(algorithms="cle")).container),
        data,
    )
    assert full_cle > full_plain + 6, (full_plain, full_cle)


def test_no_activation_and_leaky_relu_are_equalized(tmp_path):
    for act in ("", "LeakyRelu"):
        g = _unequal_net(tmp_path, act=act)
        eq, report = equalize(g)
        assert len(report.pairs) == 1 and report.pairs[0].activation == (act or None)
        s = samples(g, 1)[0]
        ref, got = Plan(g).run(s)["y"], Plan(eq).run(s)["y"]
        assert np.max(np.abs(got - ref)) <= 1e-4 * np.max(np.abs(ref))


def test_pairs_that_are_not_equalized(tmp_path):
    # A second consumer of the intermediate tensor: scaling would change it.
    g = _unequal_net(tmp_path, extra_consumer=True)
    assert find_pairs(g) == []
    eq, report = equalize(g)
    assert report.pairs == () and all(eq.params[k] is g.params[k] for k in g.params)
    # Not positively homogeneous.
    assert find_pairs(_unequal_net(tmp_path, act="Sigmoid")) == []


def test_gemm_chain(tmp_path):
    rng = np.random.default_rng(0)
    f = np.logspace(-2, 2, 12)
    w1 = rng.standard_normal((12, 6)) * f[:, None]  # transB=1: (out, in)
    b1 = rng.standard_normal(12) * f
    w2 = rng.standard_normal((12, 4)) / f[:, None]  # transB=0: (in, out)
    n = helper.make_node
    g = onnx_model(
        tmp_path / "gemm.onnx",
        [
            n("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
            n("Relu", ["h"], ["r"]),
            n("Gemm", ["r", "w2"], ["y"]),
        ],
        {"x": (1, 6)},
        ["y"],
        {"w1": w1.astype(np.float32), "b1": b1.astype(np.float32), "w2": w2.astype(np.float32)},
    )
    eq, report = equalize(g)
    assert len(report.pairs) == 1
    np.testing.assert_allclose(
        np.abs(eq.params["w1"]).max(axis=1), np.abs(eq.params["w2"]).max(axis=1), rtol=1e-5
    )
    s = samples(g, 3)
    for x in s:
        ref, got = Plan(g).run(x)["y"], Plan(eq).run(x)["y"]
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
