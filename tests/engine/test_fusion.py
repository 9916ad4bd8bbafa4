"""Fused float kernels (``engine.fusion`` + ``engine.jit``) against the plain numpy plan.

Every case is one small ONNX graph: a convolution and the chain after it. The plan with
compiled kernels (``WORKBENCH_JIT=1``, so small graphs use them too) must agree with the
numpy plan (``WORKBENCH_JIT=0``) within float rounding, fuse what it should, and still
show every tensor to a hook.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workbench.engine import jit
from workbench.engine.executor import Plan
from workbench.engine.onnx_import import import_onnx_model

pytestmark = pytest.mark.skipif(jit.kernels() is None, reason="compiled kernels unavailable")

RNG = np.random.default_rng(0)


def conv_chain_graph(cin, size, conv_attrs, w_shape, chain, residual=False, opset=17):
    """x -> Conv -> chain; ``chain`` is a list of (op, attrs, extra const inputs)."""
    inits = [
        numpy_helper.from_array(
            (RNG.standard_normal(w_shape) * np.sqrt(2.0 / np.prod(w_shape[1:]))).astype(np.float32),
            "w",
        ),
        numpy_helper.from_array((RNG.standard_normal(w_shape[0]) * 0.1).astype(np.float32), "b"),
    ]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], **conv_attrs)]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, *size])]
    prev = "c"
    for i, (op, attrs, consts) in enumerate(chain):
        names = []
        for j, value in enumerate(consts):
            names.append(f"k{i}_{j}")
            inits.append(numpy_helper.from_array(np.asarray(value, np.float32), names[-1]))
        out = f"t{i}"
        if op == "SiLU":
            nodes += [
                helper.make_node("Sigmoid", [prev], [f"s{i}"]),
                helper.make_node("Mul", [prev, f"s{i}"], [out]),
            ]
        elif op == "Add" and not consts:
            nodes.append(helper.make_node("Add", [prev, "r"], [out]))
        elif op == "HardSwishOps":  # as exporters spell it: x * Clip(x + 3, 0, 6) / 6
            for j, v in enumerate((3.0, 0.0, 6.0)):
                inits.append(numpy_helper.from_array(np.asarray(v, np.float32), f"h{i}_{j}"))
            nodes += [
                helper.make_node("Add", [prev, f"h{i}_0"], [f"ha{i}"]),
                helper.make_node("Clip", [f"ha{i}", f"h{i}_1", f"h{i}_2"], [f"hc{i}"]),
                helper.make_node("Mul", [prev, f"hc{i}"], [f"hm{i}"]),
                helper.make_node("Div", [f"hm{i}", f"h{i}_2"], [out]),
            ]
        elif op == "HardSigmoidMul":
            nodes += [
                helper.make_node("HardSigmoid", [prev], [f"hs{i}"], alpha=0.2, beta=0.5),
                helper.make_node("Mul", [f"hs{i}", prev], [out]),
            ]
        else:
            nodes.append(helper.make_node(op, [prev, *names], [out], **attrs))
        prev = out
    if residual:  # the residual has the conv output's shape
        inputs.append(
            helper.make_tensor_value_info(
                "r", TensorProto.FLOAT, _conv_shape(nodes[0], inputs[0], inits, opset)
            )
        )
    g = helper.make_graph(
        nodes, "case", inputs, [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)], inits
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    inferred = onnx.shape_inference.infer_shapes(model)
    model.graph.output[0].CopyFrom(inferred.graph.output[0])
    return import_onnx_model(model)


def _conv_shape(conv, x, inits, opset):
    g = helper.make_graph(
        [conv], "c", [x], [helper.make_tensor_value_info("c", TensorProto.FLOAT, None)], inits[:2]
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    dims = onnx.shape_inference.infer_shapes(m).graph.output[0].type.tensor_type.shape.dim
    return [d.dim_value for d in dims]


def _run_both(graph, monkeypatch):
    feeds = {t.name: RNG.uniform(-3, 3, t.shape).astype(np.float32) for t in graph.inputs}
    monkeypatch.setenv("WORKBENCH_JIT", "0")
    plain = Plan(graph)
    monkeypatch.setenv("WORKBENCH_JIT", "1")
    fused = Plan(graph)
    out = graph.output_names[0]
    return plain.run(feeds)[out], fused, feeds


DEPTHWISE = [
    ("dw3 s1", 8, (9, 11), {"group": 8, "pads": [1, 1, 1, 1]}, (8, 1, 3, 3)),
    ("dw3 s2", 8, (10, 9), {"group": 8, "pads": [1, 1, 1, 1], "strides": [2, 2]}, (8, 1, 3, 3)),
    (
        "dw3 s2 odd pads",
        6,
        (11, 12),
        {"group": 6, "pads": [0, 1, 1, 0], "strides": [2, 2]},
        (6, 1, 3, 3),
    ),
    ("dw5 s1", 5, (12, 7), {"group": 5, "pads": [2, 2, 2, 2]}, (5, 1, 5, 5)),
    ("dw5 s2", 4, (13, 13), {"group": 4, "pads": [2, 2, 2, 2], "strides": [2, 2]}, (4, 1, 5, 5)),
    (
        "dw5 s2 same",
        4,
        (14, 14),
        {"group": 4, "auto_pad": "SAME_UPPER", "strides": [2, 2]},
        (4, 1, 5, 5),
    ),
    ("dw 3x5 valid", 3, (9, 12), {"group": 3}, (3, 1, 3, 5)),
    ("dw7 s1", 3, (9, 9), {"group": 3, "pads": [3, 3, 3, 3]}, (3, 1, 7, 7)),
    (
        "dw3 dilated",
        3,
        (9, 9),
        {"group": 3, "pads": [2, 2, 2, 2], "dilations": [2, 2]},
        (3, 1, 3, 3),
    ),
    ("pointwise", 16, (7, 9), {}, (24, 16, 1, 1)),
    ("pointwise s2", 16, (8, 8), {"strides": [2, 2]}, (12, 16, 1, 1)),
    ("dense 3x3", 6, (9, 9), {"pads": [1, 1, 1, 1]}, (10, 6, 3, 3)),
]
CHAINS = [
    ("none", [], False),
    ("relu", [("Relu", {}, [])], False),
    ("relu6", [("Clip", {}, [0.0, 6.0])], False),
    ("hardswish", [("HardSwish", {}, [])], False),
    ("silu", [("SiLU", {}, [])], False),
    ("sigmoid", [("Sigmoid", {}, [])], False),
    ("hardsigmoid", [("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, [])], False),
    ("leaky", [("LeakyRelu", {"alpha": 0.2}, [])], False),
    ("tanh", [("Tanh", {}, [])], False),
    ("residual", [("Add", {}, [])], True),
    ("hardswish ops", [("HardSwishOps", {}, [])], False),
    ("x*hardsigmoid", [("HardSigmoidMul", {}, [])], False),
    (
        "affine-hswish-affine",
        [
            ("Mul", {}, [1.5]),
            ("Add", {}, [-0.25]),
            ("HardSwishOps", {}, []),
            ("Sub", {}, [0.5]),
            ("Div", {}, [2.0]),
        ],
        False,
    ),  # fmt: skip
    ("relu-add-relu", [("Relu", {}, []), ("Add", {}, []), ("Relu", {}, [])], True),
]


@pytest.mark.parametrize("conv", DEPTHWISE, ids=[c[0] for c in DEPTHWISE])
@pytest.mark.parametrize("chain", CHAINS, ids=[c[0] for c in CHAINS])
def test_fused_conv_matches_numpy(conv, chain, monkeypatch):
    _, cin, size, attrs, w_shape = conv
    _, ops, residual = chain
    graph = conv_chain_graph(cin, size, attrs, w_shape, ops, residual)
    want, fused, feeds = _run_both(graph, monkeypatch)
    got = fused.run(feeds)[graph.output_names[0]]
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    if ops:
        assert len(fused.fused_groups) == 1
        assert len(fused.steps) == 1


def test_prelu_per_channel_slopes_are_fused(monkeypatch):
    slope = RNG.uniform(0, 0.5, (8, 1, 1))
    graph = conv_chain_graph(8, (6, 6), {"group": 8, "pads": [1, 1, 1, 1]}, (8, 1, 3, 3),
                   [("PRelu", {}, [slope])])  # fmt: skip
    want, fused, feeds = _run_both(graph, monkeypatch)
    assert len(fused.steps) == 1
    np.testing.assert_allclose(fused.run(feeds)[graph.output_names[0]], want, rtol=1e-5, atol=1e-6)


def test_a_hook_sees_every_tensor_of_a_fused_plan(monkeypatch):
    graph = conv_chain_graph(4, (5, 5), {"group": 4, "pads": [1, 1, 1, 1]}, (4, 1, 3, 3),
                   [("Relu", {}, []), ("Add", {}, []), ("Relu", {}, [])], residual=True)  # fmt: skip
    want, fused, feeds = _run_both(graph, monkeypatch)
    seen: dict[str, np.ndarray] = {}
    out = fused.run(feeds, hook=lambda name, v: seen.setdefault(name, v))
    assert set(seen) == {"c", "t0", "t1", "t2"}
    np.testing.assert_allclose(out["t2"], want, rtol=1e-5, atol=1e-6)
    assert len(fused.steps) == 1  # still fused without a hook


def test_kept_and_shared_tensors_are_not_fused_away(monkeypatch):
    graph = conv_chain_graph(4, (5, 5), {"group": 4, "pads": [1, 1, 1, 1]}, (4, 1, 3, 3),
                   [("Relu", {}, [])])  # fmt: skip
    monkeypatch.setenv("WORKBENCH_JIT", "1")
    kept = Plan(graph, keep=["c"])
    assert not kept.fused_groups
    x = RNG.standard_normal((1, 4, 5, 5)).astype(np.float32)
    out = kept.run({"x": x})
    np.testing.assert_array_equal(out["t0"], np.maximum(out["c"], 0))


def test_without_compiled_kernels_numpy_fuses_relu_and_clip_only(monkeypatch):
    monkeypatch.setenv("WORKBENCH_JIT", "0")
    unfused = lambda g: Plan(g, fusion=lambda node: None)  # noqa: E731
    for chain, residual in (
        ([("Relu", {}, [])], False),
        ([("Clip", {}, [-0.5, 0.75])], False),
        ([("Relu", {}, []), ("Add", {}, []), ("Clip", {}, [0.0, 6.0])], True),
    ):
        graph = conv_chain_graph(4, (5, 5), {"pads": [1, 1, 1, 1]}, (6, 4, 3, 3), chain, residual)
        plan = Plan(graph)
        assert plan.jit is None and len(plan.steps) == 1 and plan.fused_groups
        feeds = {t.name: RNG.uniform(-3, 3, t.shape).astype(np.float32) for t in graph.inputs}
        out = graph.output_names[0]
        # In place on the conv's output, as the unfused kernels compute it: to the bit.
        np.testing.assert_array_equal(plan.run(feeds)[out], unfused(graph).run(feeds)[out])
    graph = conv_chain_graph(4, (5, 5), {"group": 4, "pads": [1, 1, 1, 1]}, (4, 1, 3, 3),
                   [("HardSwish", {}, [])])  # fmt: skip
    plan = Plan(graph)
    assert plan.jit is None and not plan.fused_groups and len(plan.steps) == 2
    monkeypatch.setenv("WORKBENCH_JIT", "auto")  # a tiny graph stays on numpy by default
    assert Plan(graph).jit is None
