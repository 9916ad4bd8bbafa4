"""GatherND, ScatterND, ScatterElements, OneHot, CumSum and Trilu against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.errors import ModelError

RNG = np.random.default_rng(11)


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _idx(high: int, *shape: int, negative: bool = True) -> np.ndarray:
    """Indices in ``[-high, high)`` (or ``[0, high)``) as int64."""
    return RNG.integers(-high if negative else 0, high, shape).astype(np.int64)


def _distinct_rows(n: int, dims: tuple[int, ...]) -> np.ndarray:
    """``n`` distinct index tuples into ``dims`` (no duplicate writes), some negative."""
    flat = RNG.choice(int(np.prod(dims)), n, replace=False)
    idx = np.stack(np.unravel_index(flat, dims), axis=-1).astype(np.int64)
    flip = RNG.random(idx.shape) < 0.3
    return np.where(flip, idx - np.array(dims), idx)


# -- GatherND -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_shape", "index_shape", "batch_dims"),
    [
        ((4, 5), (3, 2), 0),  # whole elements
        ((4, 5, 6), (2, 3, 1), 0),  # slices
        ((4, 5, 6), (7, 2), 0),
        ((2, 4, 5), (2, 3, 1), 1),  # per-batch rows
        ((2, 3, 4, 5), (2, 3, 6, 1), 2),
        ((2, 3, 4, 5), (2, 2), 1),
    ],
)
@pytest.mark.parametrize("form", ["runtime", "const"])
def test_gather_nd(data_shape, index_shape, batch_dims, form) -> None:
    k = index_shape[-1]
    dims = data_shape[batch_dims : batch_dims + k]
    indices = np.stack([_idx(d, *index_shape[:-1]) for d in dims], axis=-1)
    data = _f(*data_shape)
    if form == "const":
        check_op("GatherND", {"data": data}, {"i": indices}, opset=13, batch_dims=batch_dims)
    else:
        check_op("GatherND", {"data": data, "i": indices}, opset=13, batch_dims=batch_dims)


def test_gather_nd_int_data_opset11() -> None:
    data = RNG.integers(0, 100, (3, 4, 2)).astype(np.int32)
    check_op("GatherND", {"data": data, "i": np.array([[0, 1], [2, -1]], np.int64)}, opset=11)


def _run(op: str, feeds: dict[str, np.ndarray], **attrs) -> np.ndarray:
    graph = Graph(
        "g",
        [TensorInfo(k, v.shape, v.dtype.name) for k, v in feeds.items()],
        [TensorInfo("y", ())],
        [Node("n", op, tuple(feeds), ("y",), attrs)],
        opset=18,
    )
    return Plan(graph).run(feeds)["y"]


def test_gather_nd_out_of_range_index_fails() -> None:
    with pytest.raises(ModelError, match="GatherND"):
        _run("GatherND", {"x": _f(3, 4), "i": np.array([[3, 0]], np.int64)})


# -- ScatterND ------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize(
    ("data_shape", "n", "k"), [((4, 5, 6), 3, 1), ((4, 5, 6), 6, 2), ((4, 5), 5, 2)]
)
def test_scatter_nd(reduction, data_shape, n, k) -> None:
    indices = _distinct_rows(n, data_shape[:k])
    updates = _f(n, *data_shape[k:])
    attrs = {} if reduction == "none" else {"reduction": reduction}
    check_op("ScatterND", {"data": _f(*data_shape), "i": indices, "u": updates}, opset=18, **attrs)


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_nd_duplicate_indices_reduce_every_update(reduction) -> None:
    indices = np.array([[1], [1], [0], [1]], np.int64)
    check_op(
        "ScatterND",
        {"data": _f(3, 4), "i": indices, "u": _f(4, 4)},
        opset=18,
        reduction=reduction,
    )


def test_scatter_nd_yolo_inplace_slice_assignment() -> None:
    # torch's ``y[..., 0:2] = xy`` exports as ScatterND over every (b, a, h, w, c) row.
    data = _f(1, 3, 4, 4, 6)
    grid = np.stack(np.meshgrid(*[np.arange(d) for d in (1, 3, 4, 4, 2)], indexing="ij"), -1)
    check_op(
        "ScatterND",
        {"data": data, "u": _f(1, 3, 4, 4, 2)},
        {"i": grid.astype(np.int64)},
        opset=11,
        input_order=["data", "i", "u"],
    )


def test_scatter_nd_int64_and_scalar_slots() -> None:
    data = np.arange(12, dtype=np.int64).reshape(3, 4)
    check_op(
        "ScatterND",
        {"data": data, "i": np.array([[2, 3], [0, 0]], np.int64), "u": np.array([-1, -2])},
        opset=16,
        reduction="add",
    )


# -- ScatterElements ------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scatter_elements(reduction, axis) -> None:
    data = _f(4, 5, 3)
    index_shape = [2, 3, 3]
    a = axis % 3
    # Distinct targets along the axis for each position (a permutation slice).
    perm = np.argsort(RNG.random((*index_shape[:a], data.shape[a], *index_shape[a + 1 :])), a)
    indices = np.take(perm, np.arange(index_shape[a]), axis=a).astype(np.int64)
    indices[..., 0] -= data.shape[a] * (indices[..., 0] % 2)  # some negative
    attrs = {"axis": axis} | ({} if reduction == "none" else {"reduction": reduction})
    check_op(
        "ScatterElements",
        {"data": data, "i": indices, "u": _f(*index_shape)},
        opset=18,
        **attrs,
    )


def test_scatter_elements_duplicates_accumulate() -> None:
    indices = np.array([[0, 0, 1], [2, 2, 2]], np.int64)
    check_op(
        "ScatterElements",
        {"data": _f(2, 4), "i": indices, "u": _f(2, 3)},
        opset=16,
        axis=1,
        reduction="add",
    )


def test_scatter_opset9_alias() -> None:
    indices = np.array([[1, 0], [0, 2]], np.int64)
    check_op("Scatter", {"data": _f(3, 3), "i": indices, "u": _f(2, 2)}, opset=9, axis=0)


# -- OneHot ---------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(axis) -> None:
    indices = np.array([[0, 3, -1], [9, 2, -10]], np.int64)  # 9 and -10 are out of range
    check_op(
        "OneHot",
        {"i": indices},
        {"depth": np.array(5, np.int64), "values": np.array([0.5, 2.0], np.float32)},
        opset=11,
        axis=axis,
    )


def test_one_hot_float_indices_and_depth() -> None:
    check_op(
        "OneHot",
        {"i": np.array([1.0, 0.0, 2.0, -1.0], np.float32)},
        {"depth": np.array([3.0], np.float32), "values": np.array([0, 7], np.float32)},
        opset=11,
    )


def test_one_hot_int32_indices_and_depth() -> None:
    check_op(
        "OneHot",
        {"i": np.array([[1, 0], [2, 4]], np.int32)},
        {"depth": np.array(4, np.int32), "values": np.array([-1, 1], np.float32)},
        opset=11,
        axis=0,
    )


# -- CumSum ---------------------------------------------------------------------------


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, -1, 1])
def test_cumsum(exclusive, reverse, axis) -> None:
    check_op(
        "CumSum",
        {"x": _f(3, 4, 5)},
        {"axis": np.array(axis, np.int64)},
        opset=14,
        exclusive=exclusive,
        reverse=reverse,
    )


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_cumsum_integer_position_ids(dtype) -> None:
    # RoBERTa: position ids = cumsum(mask) * mask + padding_idx.
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype)
    check_op("CumSum", {"x": mask, "axis": np.array(1, np.int32)}, opset=14)


# -- Trilu ----------------------------------------------------------------------------


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 1, -2, 7])
def test_trilu(upper, k) -> None:
    consts = {} if k is None else {"k": np.array(k, np.int64)}
    check_op("Trilu", {"x": _f(2, 4, 5)}, consts, opset=14, upper=upper)


def test_trilu_causal_mask_of_bools() -> None:
    check_op("Trilu", {"x": np.ones((6, 6), np.bool_)}, opset=14, upper=0)
