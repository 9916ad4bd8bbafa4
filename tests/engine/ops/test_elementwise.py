"""Elementwise kernels against ONNX Runtime: values, broadcasting and output dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo

RNG = np.random.default_rng(0)


def _f(*shape: int, lo: float = -3.0, hi: float = 3.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def _i(*shape: int, dtype=np.int64, lo: int = -20, hi: int = 20) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(dtype)


def _nonzero_i(*shape: int, dtype=np.int64) -> np.ndarray:
    x = _i(*shape, dtype=dtype)
    x[x == 0] = 3
    return x


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), ())],
)
def test_arithmetic_broadcasts(op: str, a_shape, b_shape) -> None:
    b = _f(*b_shape, lo=0.5, hi=3.0)
    check_op(op, {"a": _f(*a_shape), "b": b})


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_arithmetic_keeps_dtype(op: str, dtype) -> None:
    (out,) = check_op(op, {"a": _i(3, 4, dtype=dtype), "b": _nonzero_i(4, dtype=dtype)})
    assert out.dtype == dtype


def test_integer_div_truncates_toward_zero() -> None:
    a = np.array([7, -7, 7, -7, 6, -1], np.int64)
    b = np.array([2, 2, -2, -2, 3, 5], np.int64)
    (out,) = check_op("Div", {"a": a, "b": b})
    np.testing.assert_array_equal(out, [3, -3, -3, 3, 2, 0])


def test_int32_add_with_constant() -> None:
    check_op("Add", {"a": _i(2, 3, dtype=np.int32)}, {"b": np.array(5, np.int32)})


@pytest.mark.parametrize(
    "base, exponent",
    [
        (_f(3, 4, lo=0.1), _f(3, 4)),
        (_f(3, 4), np.array(2.0, np.float32)),
        (_f(3, 4), np.array([2.0], np.float32)),
        (np.array(1.5, np.float32), np.array([2.0], np.float32)),
        (_f(3, 4), np.array(3, np.int64)),
        (_f(3, 4, lo=0.1), np.array(0.5, np.float32)),
        (_i(3, 4, lo=-5, hi=5), np.array([-1, 0, 1, 2], np.int64)),
        (_i(3, 4, lo=0, hi=9), np.array(2.5, np.float32)),
        (_i(3, 4, lo=-5, hi=5, dtype=np.int32), np.array(2, np.int64)),
    ],
)
@pytest.mark.parametrize("const_exponent", [False, True])
def test_pow(base: np.ndarray, exponent: np.ndarray, const_exponent: bool) -> None:
    if const_exponent:
        check_op("Pow", {"x": base}, {"y": exponent})
    else:
        check_op("Pow", {"x": base, "y": exponent})


@pytest.mark.parametrize(
    ("op", "x"),
    [
        ("Sqrt", _f(3, 5, lo=0.0)),
        ("Reciprocal", _f(3, 5, lo=0.5)),
        ("Exp", _f(3, 5)),
        ("Log", _f(3, 5, lo=0.01)),
        ("Neg", _f(3, 5)),
        ("Neg", _i(3, 5)),
        ("Abs", _f(3, 5)),
        ("Abs", _i(3, 5, dtype=np.int32)),
        ("Floor", _f(3, 5)),
        ("Ceil", _f(3, 5)),
        ("Round", np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1.2, -3.7], np.float32)),
        ("Sign", np.array([-2.0, -0.0, 0.0, 3.5], np.float32)),
        ("Sign", _i(3, 5)),
        ("Sin", _f(3, 5, lo=-10, hi=10)),
        ("Cos", _f(3, 5, lo=-10, hi=10)),
        ("Not", RNG.random((3, 5)) > 0.5),
    ],
)
def test_unary(op: str, x: np.ndarray) -> None:
    check_op(op, {"x": x})


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic_broadcasts(op: str) -> None:
    check_op(op, {"a": RNG.random((2, 3, 4)) > 0.5, "b": RNG.random((3, 1)) > 0.5})


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("n_inputs", [1, 2, 3])
def test_variadic_broadcasts(op: str, n_inputs: int) -> None:
    shapes = [(2, 3, 4), (4,), (3, 1)][:n_inputs]
    check_op(op, {f"x{i}": _f(*s) for i, s in enumerate(shapes)})


@pytest.mark.parametrize("op", ["Max", "Min"])  # Sum and Mean are float-only in ONNX
def test_variadic_int64(op: str) -> None:
    check_op(op, {"a": _i(2, 3), "b": _i(3)})


def test_max_propagates_nan() -> None:
    a = np.array([np.nan, 1.0, 2.0], np.float32)
    b = np.array([1.0, np.nan, 3.0], np.float32)
    (out,) = check_op("Max", {"a": a, "b": b})
    assert np.isnan(out[:2]).all()


@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_integer_mod_sign_rules(fmod: int, dtype) -> None:
    a = np.array([7, -7, 7, -7, 5, -9], dtype)
    b = np.array([2, 2, -2, -2, 3, 4], dtype)
    check_op("Mod", {"a": a, "b": b}, fmod=fmod)


def test_float_fmod() -> None:
    check_op("Mod", {"a": _f(3, 4, lo=-9, hi=9), "b": _f(4, lo=0.5, hi=3)}, fmod=1)


@pytest.mark.parametrize(
    ("op", "inputs"),
    [
        ("Add", {"a": np.array(2, np.int64), "b": np.array(3, np.int64)}),
        ("Div", {"a": np.array(-7, np.int64), "b": np.array(2, np.int64)}),
        ("Mul", {"a": np.array(1.5, np.float32), "b": np.array(2.0, np.float32)}),
        ("Pow", {"a": np.array(1.5, np.float32), "b": np.array(2.0, np.float32)}),
        ("Max", {"a": np.array(1.5, np.float32), "b": np.array(2.0, np.float32)}),
        ("Mean", {"a": np.array(1.5, np.float32), "b": np.array(2.0, np.float32)}),
        ("Sqrt", {"a": np.array(4.0, np.float32)}),
        ("Neg", {"a": np.array(4, np.int64)}),
    ],
)
def test_scalar_operands_give_arrays(op: str, inputs: dict[str, np.ndarray]) -> None:
    """Shape arithmetic runs on 0-d tensors; numpy would hand back scalars."""
    check_op(op, inputs)
    graph = Graph(
        "g",
        [TensorInfo(k, ()) for k in inputs],
        [TensorInfo("y", ())],
        [Node(op, op, tuple(inputs), ("y",))],
    )
    out = Plan(graph).run(inputs)["y"]
    assert isinstance(out, np.ndarray) and out.shape == ()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint32])
def test_unsigned_div_floors(dtype) -> None:
    a = np.array([7, 200, 3], dtype)
    b = np.array([2, 3, 5], dtype)
    check_op("Div", {"a": a, "b": b})
