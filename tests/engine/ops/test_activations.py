"""Activation and softmax-family kernels against ONNX Runtime."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.engine.opcheck import check_op
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.engine.ops.activations import erf

RNG = np.random.default_rng(1)


def _f(*shape: int, scale: float = 3.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


X = _f(2, 3, 8)


@pytest.mark.parametrize(
    ("op", "attrs"),
    [
        ("Relu", {}),
        ("LeakyRelu", {}),
        ("LeakyRelu", {"alpha": 0.3}),
        ("LeakyRelu", {"alpha": 1.5}),
        ("LeakyRelu", {"alpha": -0.5}),
        ("Sigmoid", {}),
        ("HardSigmoid", {}),
        ("HardSigmoid", {"alpha": 0.5, "beta": 0.25}),
        ("HardSwish", {}),
        ("Tanh", {}),
        ("Erf", {}),
        ("Elu", {}),
        ("Elu", {"alpha": 0.5}),
        ("Selu", {}),
        ("Selu", {"alpha": 2.0, "gamma": 0.5}),
        ("Softplus", {}),
        ("Softsign", {}),
        ("Mish", {}),
        ("ThresholdedRelu", {}),
        ("ThresholdedRelu", {"alpha": 0.5}),
        ("Celu", {}),
        ("Celu", {"alpha": 2.0}),
    ],
)
def test_unary_activation(op: str, attrs: dict) -> None:
    opset = 18 if op == "Mish" else 17
    check_op(op, {"x": X}, opset=opset, **attrs)


@pytest.mark.parametrize("op", ["Sigmoid", "Softplus", "Elu", "Selu", "Celu", "Mish", "Tanh"])
def test_extreme_inputs_stay_finite(op: str) -> None:
    x = np.array([-1000.0, -100.0, -88.0, -20.0, 0.0, 20.0, 88.0, 100.0], np.float32)
    if op == "Mish":
        check_op(op, {"x": x}, opset=18)
        return
    (out,) = check_op(op, {"x": x})
    assert np.isfinite(out).all()


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # HardSwish(-inf) is NaN
@pytest.mark.parametrize(
    ("op", "attrs"),
    [
        ("Relu", {}),
        ("Sigmoid", {}),
        ("HardSwish", {}),
        ("Elu", {}),
        ("Clip", {}),
        ("PRelu", {}),
        ("LeakyRelu", {"alpha": 2.0}),
        ("ThresholdedRelu", {}),
    ],
)
def test_large_tensor_with_nan_and_inf(op: str, attrs: dict) -> None:
    # Large inputs take the clip fast paths; NaN and inf must come out as in ORT.
    x = _f(4, 64, 64)
    x[0, 0, :3] = [np.nan, np.inf, -np.inf]
    consts = {
        "Clip": {"lo": np.array(-1.0, np.float32), "hi": np.array(6.0, np.float32)},
        "PRelu": {"slope": _f(64, 1, scale=0.3)},
    }.get(op)
    check_op(op, {"x": x}, consts, **attrs)


def test_relu_int() -> None:
    check_op("Relu", {"x": RNG.integers(-5, 5, (3, 4)).astype(np.int32)}, opset=14)


@pytest.mark.parametrize("slope_shape", [(1,), (8,), (3, 1), (2, 3, 8)])
def test_prelu_broadcasts_slope(slope_shape) -> None:
    check_op("PRelu", {"x": X}, {"slope": _f(*slope_shape, scale=0.3)})


@pytest.mark.parametrize(
    ("attrs", "opset"),
    [({}, 6), ({"min": -1.0}, 6), ({"max": 0.5}, 6), ({"min": -1.0, "max": 2.0}, 6)],
)
def test_clip_attribute_form(attrs: dict, opset: int) -> None:
    check_op("Clip", {"x": X}, opset=opset, **attrs)


@pytest.mark.parametrize(
    ("lo", "hi"), [(-1.0, 2.0), (None, 0.5), (-0.5, None), (None, None), (2.0, 1.0)]
)
@pytest.mark.parametrize("const", [True, False])
def test_clip_input_form(lo, hi, const: bool) -> None:
    names = ["x", "lo" if lo is not None else "", "hi" if hi is not None else ""]
    bounds = {k: np.array(v, np.float32) for k, v in (("lo", lo), ("hi", hi)) if v is not None}
    if const:
        check_op("Clip", {"x": X}, bounds, input_order=names, opset=13)
    else:
        check_op("Clip", {"x": X, **bounds}, input_order=names, opset=13)


def test_clip_int64() -> None:
    x = RNG.integers(-10, 10, (4, 5)).astype(np.int64)
    bounds = {"lo": np.array(-3, np.int64), "hi": np.array(4, np.int64)}
    check_op("Clip", {"x": x}, bounds, opset=13)


def test_erf_is_accurate_to_float32() -> None:
    x = np.linspace(-6, 6, 200_001, dtype=np.float32)
    exact = np.array([math.erf(float(v)) for v in x])
    np.testing.assert_allclose(erf(x), exact, rtol=3e-7, atol=1e-7)
    assert erf(x).dtype == np.float32


def test_erf_edge_values() -> None:
    x = np.array([0.0, -0.0, 1e-30, 0.921875, -0.921875, 3.925, 10.0, -np.inf, np.inf], np.float32)
    check_op("Erf", {"x": x}, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate: str) -> None:
    check_op("Gelu", {"x": X}, opset=20, approximate=approximate)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize(
    ("opset", "axis"),
    [(11, None), (11, 0), (11, 2), (11, -1), (13, None), (13, 0), (13, 1), (13, -2)],
)
def test_softmax_family(op: str, opset: int, axis) -> None:
    attrs = {} if axis is None else {"axis": axis}
    check_op(op, {"x": _f(2, 3, 5, 4)}, opset=opset, **attrs)


def test_softmax_handles_large_logits() -> None:
    x = np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]], np.float32)
    for op in ("Softmax", "LogSoftmax"):
        (out,) = check_op(op, {"x": x})
        assert np.isfinite(out).all()


@pytest.mark.parametrize("opset", [11, 13])
def test_hardmax_picks_first_of_ties(opset: int) -> None:
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], np.float32)
    (out,) = check_op("Hardmax", {"x": x}, opset=opset)
    np.testing.assert_array_equal(out, [[0, 1, 0], [1, 0, 0]])


def _run_ours(op: str, x: np.ndarray, opset: int = 17) -> object:
    graph = Graph("g", [TensorInfo("x", x.shape)], [TensorInfo("y", x.shape)], [], opset=opset)
    graph.nodes.append(Node(op, op, ("x",), ("y",)))
    return Plan(graph).run({"x": x})["y"]


@pytest.mark.parametrize(
    "op",
    [
        "Relu",
        "LeakyRelu",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "Tanh",
        "Erf",
        "Elu",
        "Selu",
        "Softplus",
        "Softsign",
        "ThresholdedRelu",
        "Celu",
        "Clip",
    ],
)
@pytest.mark.parametrize("value", [-1.5, 0.7])
def test_scalar_input_gives_an_array(op: str, value: float) -> None:
    x = np.array(value, np.float32)
    check_op(op, {"x": x})
    out = _run_ours(op, x)
    assert isinstance(out, np.ndarray) and out.shape == ()


@pytest.mark.parametrize(
    ("op", "opset"),
    [("Relu", 17), ("Sigmoid", 17), ("Tanh", 17), ("Erf", 17), ("Gelu", 20), ("Softmax", 17)]
    + [("LeakyRelu", 17), ("Clip", 17), ("HardSigmoid", 17), ("Elu", 17)],
)
def test_float16_stays_float16(op: str, opset: int) -> None:
    # Half precision: ORT computes some of these in float32 and rounds once.
    x = _f(3, 8).astype(np.float16)
    (out,) = check_op(op, {"x": x}, opset=opset, rtol=1e-2, atol=1e-3)
    assert out.dtype == np.float16
