"""Reductions and ArgMax/ArgMin against ONNX Runtime, in every axes form."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo

RNG = np.random.default_rng(2)
X = RNG.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32) * RNG.choice([-1, 1], (2, 3, 4))
X = X.astype(np.float32)
POSITIVE = np.abs(X)

REDUCE_OPS = [
    "ReduceSum",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceSumSquare",
    "ReduceLogSumExp",
]
AXES = [None, [1], [-1], [0, 2], [-3, -1, 1]]


def _axes_input_opset(op: str) -> int:
    return 13 if op == "ReduceSum" else 18


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes", AXES)
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_axes_attribute(op: str, axes, keepdims: int) -> None:
    attrs = {"keepdims": keepdims} | ({} if axes is None else {"axes": axes})
    check_op(op, {"x": X}, opset=11, **attrs)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes", AXES)
@pytest.mark.parametrize("form", ["const", "runtime"])
def test_reduce_axes_input(op: str, axes, form: str) -> None:
    opset = _axes_input_opset(op)
    if axes is None:
        check_op(op, {"x": X}, opset=opset, keepdims=0)
        return
    a = {"axes": np.array(axes, np.int64)}
    if form == "const":
        check_op(op, {"x": X}, a, opset=opset, keepdims=0)
    else:
        check_op(op, {"x": X, **a}, opset=opset, keepdims=0)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_empty_axes(op: str, noop: int) -> None:
    empty = {"axes": np.zeros(0, np.int64)}
    check_op(op, {"x": X}, empty, opset=_axes_input_opset(op), noop_with_empty_axes=noop)


@pytest.mark.parametrize(
    "op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1"]
)
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_reduce_integers_keep_dtype(op: str, dtype) -> None:
    x = RNG.integers(-5, 6, (3, 4, 2)).astype(dtype)
    (out,) = check_op(op, {"x": x}, opset=11, axes=[1], keepdims=0)
    assert out.dtype == dtype


def test_integer_mean_truncates() -> None:
    x = np.array([[1, 2], [4, -7]], np.int32)
    (out,) = check_op("ReduceMean", {"x": x}, opset=11, axes=[1])
    np.testing.assert_array_equal(out, [[1], [-1]])


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd"])
def test_reduce_over_empty_dimension(op: str) -> None:
    check_op(op, {"x": np.zeros((2, 0, 3), np.float32)}, opset=11, axes=[1])


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_bool_reduce(op: str) -> None:
    x = RNG.random((3, 4)) > 0.7
    check_op(op, {"x": x}, {"a": np.array([1], np.int64)}, opset=20)


@pytest.mark.parametrize(("op", "identity"), [("ReduceMax", False), ("ReduceMin", True)])
def test_bool_reduce_over_empty_dimension_follows_onnx(op: str, identity: bool) -> None:
    # ORT refuses this case; the ONNX spec (opset 20) defines False / True.
    graph = Graph(
        "g",
        [TensorInfo("x", (2, 0), "bool")],
        [TensorInfo("y", (2, 1), "bool")],
        [Node("r", op, ("x", "a"), ("y",))],
        params={"a": np.array([1], np.int64)},
        opset=20,
    )
    out = Plan(graph).run({"x": np.zeros((2, 0), np.bool_)})["y"]
    np.testing.assert_array_equal(out, np.full((2, 1), identity))


def test_log_sum_exp_is_stable() -> None:
    x = np.array([[1000.0, 999.0], [-1000.0, -np.inf]], np.float32)
    check_op("ReduceLogSumExp", {"x": x}, opset=11, axes=[1])


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("select_last_index", [0, 1])
def test_arg_reductions(op: str, axis: int, keepdims: int, select_last_index: int) -> None:
    # Rounded values make ties, so first/last index selection matters.
    x = np.round(X * 2).astype(np.float32)
    check_op(
        op,
        {"x": x},
        axis=axis,
        keepdims=keepdims,
        select_last_index=select_last_index,
    )


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_arg_reductions_int_and_defaults(op: str) -> None:
    check_op(op, {"x": RNG.integers(0, 3, (4, 5)).astype(np.int32)})
