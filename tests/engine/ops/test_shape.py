"""Shape, indexing, type and comparison kernels against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tests.engine.opcheck import _ort_run, check_op
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.errors import ModelError

RNG = np.random.default_rng(3)
INT_MAX = np.iinfo(np.int64).max
INT_MIN = np.iinfo(np.int64).min


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


X = _f(2, 3, 4, 5)


def _both(op: str, x: np.ndarray, name: str, value: np.ndarray, opset: int, **attrs) -> None:
    """check_op with ``value`` once as a constant and once as a runtime input."""
    check_op(op, {"x": x}, {name: value}, opset=opset, **attrs)
    check_op(op, {"x": x, name: value}, opset=opset, **attrs)


def _check_tensor_attr(op: str, inputs: dict[str, np.ndarray], attr: str, value: np.ndarray):
    """Like check_op for a tensor-valued attribute: a TensorProto for ORT, an array for us."""
    node = helper.make_node(op, list(inputs), ["out"], **{attr: numpy_helper.from_array(value)})
    out_type = helper.np_dtype_to_tensor_dtype(value.dtype)
    graph = helper.make_graph(
        [node],
        "check",
        [
            helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for k, v in inputs.items()
        ],
        [helper.make_tensor_value_info("out", out_type, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    (expected,) = _ort_run(model, inputs)
    ours = Graph(
        "check",
        [TensorInfo(k, v.shape, v.dtype.name) for k, v in inputs.items()],
        [TensorInfo("out", ())],
        [Node(op, op, tuple(inputs), ("out",), {attr: value})],
        opset=17,
    )
    got = Plan(ours).run(inputs)["out"]
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    return got


# -- reshaping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(6, 20), (-1, 5), (0, 3, -1), (2, 0, 0, 5), (0, -1), (120,), (-1,), (1, 2, 60)]
)
def test_reshape(shape) -> None:
    _both("Reshape", X, "shape", _i64(*shape), opset=14)


def test_reshape_allowzero_keeps_literal_zero() -> None:
    x = np.zeros((0, 4), np.float32)
    check_op("Reshape", {"x": x}, {"shape": _i64(4, 0)}, opset=14, allowzero=1)


def test_reshape_of_a_constant_shape_is_a_view() -> None:
    graph = Graph(
        "g",
        [TensorInfo("x", X.shape)],
        [TensorInfo("y", (6, 20))],
        [Node("r", "Reshape", ("x", "s"), ("y",))],
        params={"s": _i64(6, -1)},
    )
    y = Plan(graph).run({"x": X})["y"]
    assert np.shares_memory(y, X)


@pytest.mark.parametrize("axis", [0, 1, 2, 4, -1, -3])
def test_flatten(axis: int) -> None:
    check_op("Flatten", {"x": X}, axis=axis)


def test_flatten_default_axis() -> None:
    check_op("Flatten", {"x": X})


@pytest.mark.parametrize("perm", [None, [0, 2, 1, 3], [3, 2, 0, 1]])
def test_transpose(perm) -> None:
    attrs = {} if perm is None else {"perm": perm}
    check_op("Transpose", {"x": X}, **attrs)


SQUEEZABLE = _f(1, 3, 1, 4, 1)


@pytest.mark.parametrize("axes", [None, [0], [-1], [0, 2, -1]])
def test_squeeze_attribute_and_input_forms(axes) -> None:
    if axes is None:
        check_op("Squeeze", {"x": SQUEEZABLE}, opset=11)
        check_op("Squeeze", {"x": SQUEEZABLE}, opset=13)
        return
    check_op("Squeeze", {"x": SQUEEZABLE}, opset=11, axes=axes)
    _both("Squeeze", SQUEEZABLE, "axes", _i64(*axes), opset=13)


@pytest.mark.parametrize("axes", [[0], [-1], [1, 3], [-1, 0], [4, 0, 2]])
def test_unsqueeze_attribute_and_input_forms(axes) -> None:
    x = _f(3, 4)
    check_op("Unsqueeze", {"x": x}, opset=11, axes=axes)
    _both("Unsqueeze", x, "axes", _i64(*axes), opset=13)


@pytest.mark.parametrize(
    ("x_shape", "shape"),
    [((3, 1), (2, 3, 4)), ((1,), (5,)), ((2, 3), (3,)), ((4, 1, 1), (1, 1)), ((), (2, 2))],
)
def test_expand(x_shape, shape) -> None:
    _both("Expand", _f(*x_shape), "shape", _i64(*shape), opset=13)


@pytest.mark.parametrize("axis", [0, 1, -1, -4])
def test_concat(axis: int) -> None:
    parts = {f"x{i}": X[:1] if axis in (0, -4) else X for i in range(3)}
    parts["x1"] = np.ascontiguousarray(np.flip(parts["x1"], 0))
    check_op("Concat", parts, axis=axis)


def test_concat_int64_with_constant() -> None:
    check_op("Concat", {"a": _i64(1, 2)}, {"b": _i64(3)}, axis=0)


@pytest.mark.parametrize(("axis", "n"), [(0, 2), (1, 3), (-1, 5), (2, 2)])
def test_split_equal(axis: int, n: int) -> None:
    check_op("Split", {"x": X}, n_outputs=n, opset=11, axis=axis)
    check_op("Split", {"x": X}, n_outputs=n, opset=13, axis=axis)


@pytest.mark.parametrize(("axis", "sizes"), [(3, [1, 4]), (-2, [2, 0, 1, 1]), (1, [3])])
def test_split_sizes_attribute_and_input(axis: int, sizes) -> None:
    n = len(sizes)
    check_op("Split", {"x": X}, n_outputs=n, opset=11, axis=axis, split=sizes)
    check_op("Split", {"x": X}, {"split": _i64(*sizes)}, n_outputs=n, opset=13, axis=axis)
    check_op("Split", {"x": X, "split": _i64(*sizes)}, n_outputs=n, opset=13, axis=axis)


@pytest.mark.parametrize(("axis", "num_outputs"), [(3, 2), (3, 3), (2, 4), (-1, 5)])
def test_split_num_outputs_opset18(axis: int, num_outputs: int) -> None:
    check_op("Split", {"x": X}, n_outputs=num_outputs, opset=18, axis=axis, num_outputs=num_outputs)


SLICES = [
    # starts, ends, axes, steps
    ([1], [3], [1], None),
    ([0, 1], [2, -1], None, None),
    ([-3], [INT_MAX], [-1], None),
    ([INT_MAX], [INT_MIN], [3], [-1]),
    ([-1], [-INT_MAX], [2], [-2]),
    ([4, 0], [0, 10], [3, 1], [-1, 2]),
    ([1], [1000], [0], [3]),
    ([-100], [2], [-2], [1]),
    ([3], [1], [2], [1]),
    ([0], [INT_MAX], [1], [-3]),  # ORT: an INT_MAX end runs to the end in the step direction
    ([-100], [INT_MIN], [3], [-1]),  # ONNX clamps the start to 0, Python would give nothing
]


@pytest.mark.parametrize(("starts", "ends", "axes", "steps"), SLICES)
@pytest.mark.parametrize("const", [True, False])
def test_slice_inputs(starts, ends, axes, steps, const: bool) -> None:
    extra = {"starts": _i64(*starts), "ends": _i64(*ends)}
    if axes is not None:
        extra["axes"] = _i64(*axes)
    if steps is not None:
        if axes is None:
            extra["axes"] = _i64(*range(len(starts)))
        extra["steps"] = _i64(*steps)
    if const:
        check_op("Slice", {"x": X}, extra, opset=13)
    else:
        check_op("Slice", {"x": X, **extra}, opset=13)


INT32_MAX = np.iinfo(np.int32).max
_BOUND = st.one_of(
    st.integers(-7, 7), st.sampled_from([INT_MAX, INT_MIN, -INT_MAX, INT32_MAX, -INT32_MAX - 1])
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    axes=st.lists(st.integers(-4, 3), min_size=1, max_size=4, unique_by=lambda a: a % 4),
)
def test_slice_matches_ort_on_random_bounds(data: st.DataObject, axes: list[int]) -> None:
    n = len(axes)
    starts = data.draw(st.lists(_BOUND, min_size=n, max_size=n))
    ends = data.draw(st.lists(_BOUND, min_size=n, max_size=n))
    steps = data.draw(st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=n, max_size=n))
    extra = {k: _i64(*v) for k, v in (("s", starts), ("e", ends), ("a", axes), ("t", steps))}
    check_op("Slice", {"x": X}, extra, opset=13)


@pytest.mark.parametrize(("starts", "ends", "axes", "steps"), [s for s in SLICES if s[3] is None])
def test_slice_attributes_opset9(starts, ends, axes, steps) -> None:
    attrs = {"starts": starts, "ends": ends} | ({} if axes is None else {"axes": axes})
    check_op("Slice", {"x": X}, opset=9, **attrs)


@pytest.mark.parametrize("repeats", [(1, 1, 1, 1), (2, 1, 3, 1), (1, 2, 1, 2)])
def test_tile(repeats) -> None:
    _both("Tile", X, "repeats", _i64(*repeats), opset=13)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode: str) -> None:
    check_op("DepthToSpace", {"x": _f(2, 8, 3, 4)}, blocksize=2, mode=mode)


def test_space_to_depth() -> None:
    check_op("SpaceToDepth", {"x": _f(2, 3, 6, 4)}, blocksize=2)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth_modes_opset28(mode: str) -> None:
    check_op("SpaceToDepth", {"x": _f(1, 2, 4, 6)}, opset=28, blocksize=2, mode=mode)


# -- indexing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("axis", "indices"),
    [
        (0, _i64(1, 0, 1)),
        (1, _i64(-1, 0)),
        (2, np.array([[0, 3], [-2, 1]], np.int64)),
        (-1, _i64(4, 0, 2)),
        (1, np.array(2, np.int64)),
        (-2, np.array(-1, np.int64)),
        (3, np.array([1, 0], np.int32)),
    ],
)
def test_gather(axis: int, indices: np.ndarray) -> None:
    _both("Gather", X, "indices", indices, opset=13, axis=axis)


def test_gather_int64_data_embedding_lookup() -> None:
    table = RNG.integers(0, 100, (10, 3)).astype(np.int64)
    check_op("Gather", {"ids": _i64(3, 3, 9, 0)}, {"table": table}, input_order=["table", "ids"])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis: int) -> None:
    x = _f(3, 4, 5)
    shape = list(x.shape)
    shape[axis] = 2
    idx = RNG.integers(-x.shape[axis], x.shape[axis], shape).astype(np.int64)
    _both("GatherElements", x, "indices", idx, opset=13, axis=axis)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("k", [1, 3])
def test_top_k(axis: int, largest: int, k: int) -> None:
    x = np.round(_f(4, 5, 6) * 2)  # ties: ORT keeps the lower index first
    check_op("TopK", {"x": x}, {"k": _i64(k)}, n_outputs=2, axis=axis, largest=largest)


def test_top_k_int_runtime_k() -> None:
    x = RNG.integers(0, 4, (3, 7)).astype(np.int32)
    check_op("TopK", {"x": x, "k": _i64(4)}, n_outputs=2)


@pytest.mark.parametrize(
    "x",
    [
        np.array([[1.0, 0.0], [0.0, -2.0]], np.float32),
        np.zeros((2, 3), np.int64),
        RNG.random((2, 3, 4)) > 0.5,
        np.array(3.0, np.float32),
    ],
)
def test_non_zero(x: np.ndarray) -> None:
    check_op("NonZero", {"x": x})


def test_where_broadcasts() -> None:
    check_op("Where", {"c": RNG.random((3, 1)) > 0.5, "a": _f(2, 3, 4), "b": _f(4)})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (_f(4, 16, 16), np.array(-np.inf, np.float32)),  # attention-mask fill
        (np.array([np.nan, -0.0, np.inf], np.float32), np.array([1.0, 2.0, 3.0], np.float32)),
        (RNG.integers(-9, 9, (4, 16, 16)), np.array(7, np.int64)),
        (RNG.integers(0, 255, (4, 16, 16)).astype(np.uint8), np.array(3, np.uint8)),
        (_f(4, 16, 16).astype(np.float16), _f(16).astype(np.float16)),
        (np.array(1.5, np.float32), np.array(2.5, np.float32)),
    ],
)
def test_where_is_an_exact_select(a: np.ndarray, b: np.ndarray) -> None:
    c = np.asarray(RNG.random(a.shape) > 0.5)
    (out,) = check_op("Where", {"c": c, "a": a, "b": b})
    assert out.tobytes() == np.where(c, a, b).tobytes()  # bit for bit: -0.0, NaN payloads


# -- shapes and constants -------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs", [{}, {"start": 1}, {"end": -1}, {"start": -3, "end": 3}, {"start": 10}, {"end": -10}]
)
def test_shape(attrs: dict) -> None:
    check_op("Shape", {"x": X}, opset=15, **attrs)


def test_size() -> None:
    check_op("Size", {"x": X})


@pytest.mark.parametrize(
    "value", [np.array([2.5], np.float32), np.array([7], np.int64), np.array([1], np.int32)]
)
@pytest.mark.parametrize("const", [True, False])
def test_constant_of_shape(value: np.ndarray, const: bool) -> None:
    shape = {"shape": _i64(2, 3)}
    if const:
        # Constant shape: built once and returned read-only.
        graph = Graph(
            "g",
            [],
            [TensorInfo("out", (2, 3))],
            [Node("c", "ConstantOfShape", ("shape",), ("out",), {"value": value})],
            params=shape,
        )
        out = Plan(graph).run({})["out"]
        np.testing.assert_array_equal(out, np.full((2, 3), value[0]))
        assert out.dtype == value.dtype and not out.flags.writeable
    else:
        _check_tensor_attr("ConstantOfShape", shape, "value", value)


def test_constant_of_shape_default_is_float_zero() -> None:
    check_op("ConstantOfShape", {"shape": _i64(3, 2)})


@pytest.mark.parametrize(
    "attrs",
    [{"value_float": 1.5}, {"value_floats": [1.0, -2.5]}, {"value_int": 3}, {"value_ints": [4, 5]}],
)
def test_constant_scalar_attributes(attrs: dict) -> None:
    check_op("Constant", {}, opset=13, **attrs)


@pytest.mark.parametrize("value", [_f(2, 3), _i64(1, 2, 3), np.array(True)])
def test_constant_tensor_value(value: np.ndarray) -> None:
    out = _check_tensor_attr("Constant", {}, "value", value)
    assert not out.flags.writeable


@pytest.mark.parametrize(
    ("start", "limit", "delta"),
    [(0, 10, 3), (10, 2, -2), (5, 5, 1), (3, 1, 1), (0.5, 3.2, 0.3), (1.0, -2.0, -0.7)],
)
@pytest.mark.parametrize("const", [True, False])
def test_range(start, limit, delta, const: bool) -> None:
    dtype = np.float32 if isinstance(start, float) else np.int64
    values = {k: np.array(v, dtype) for k, v in (("s", start), ("l", limit), ("d", delta))}
    if const:
        check_op("Range", {}, values)
    else:
        check_op("Range", values)


# -- types ----------------------------------------------------------------------------

CAST_SOURCE = np.array([1.7, -1.7, 300.5, -300.5, 0.0, 65504.0], np.float32)


@pytest.mark.parametrize(
    "to",
    [
        TensorProto.FLOAT,
        TensorProto.FLOAT16,
        TensorProto.DOUBLE,
        TensorProto.INT8,
        TensorProto.UINT8,
        TensorProto.INT16,
        TensorProto.INT32,
        TensorProto.INT64,
        TensorProto.UINT32,
        TensorProto.BOOL,
    ],
)
def test_cast_from_float(to: int) -> None:
    check_op("Cast", {"x": CAST_SOURCE}, to=to)


@pytest.mark.parametrize(
    ("x", "to"),
    [
        (_i64(-1, 300, 70000, 5), TensorProto.UINT8),
        (_i64(-1, 0, 7), TensorProto.BOOL),
        (np.array([True, False]), TensorProto.FLOAT),
        (_i64(2**40 + 1, 3), TensorProto.FLOAT),
        (np.array([1, 2], np.int32), TensorProto.INT64),
    ],
)
def test_cast_integers_and_bools(x: np.ndarray, to: int) -> None:
    check_op("Cast", {"x": x}, to=to)


@pytest.mark.parametrize("like", [np.zeros(1, np.int32), np.zeros(1, np.float16)])
def test_cast_like(like: np.ndarray) -> None:
    check_op("CastLike", {"x": CAST_SOURCE}, {"like": like}, opset=15)


def test_identity_returns_input() -> None:
    (out,) = check_op("Identity", {"x": X})
    assert out.shape == X.shape


@pytest.mark.parametrize("opset", [7, 10, 12])  # the mask's type and fill change at 10, 12
def test_dropout_is_identity_with_mask(opset: int) -> None:
    check_op("Dropout", {"x": X}, n_outputs=2, opset=opset)


def test_dropout_with_ratio_input() -> None:
    check_op("Dropout", {"x": X}, {"ratio": np.array(0.5, np.float32)}, opset=13)


def test_dropout_training_with_zero_ratio_drops_nothing() -> None:
    consts = {"ratio": np.array(0.0, np.float32), "training": np.array(True)}
    check_op("Dropout", {"x": X}, consts, n_outputs=2, opset=13)


def test_dropout_training_is_refused_at_plan_time() -> None:
    graph = Graph(
        "g",
        [TensorInfo("x", X.shape)],
        [TensorInfo("y", X.shape)],
        [Node("d", "Dropout", ("x", "", "t"), ("y",))],
        params={"t": np.array(True)},
        opset=13,
    )
    with pytest.raises(ModelError, match="training_mode"):
        Plan(graph)


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_comparisons(op: str, dtype) -> None:
    a = RNG.integers(-2, 3, (2, 3, 4)).astype(dtype)
    b = RNG.integers(-2, 3, (3, 1)).astype(dtype)
    (out,) = check_op(op, {"a": a, "b": b}, opset=16)
    assert out.dtype == np.bool_


@pytest.mark.parametrize("const", [True, False])
def test_gather_scalar_from_a_vector_gives_a_0d_array(const: bool) -> None:
    shape = _i64(2, 3, 4)
    idx = np.array(1, np.int64)
    if const:
        check_op("Gather", {"x": shape}, {"i": idx})
    else:
        check_op("Gather", {"x": shape, "i": idx})
    graph = Graph(
        "g",
        [TensorInfo("x", (3,), "int64")] + ([] if const else [TensorInfo("i", (), "int64")]),
        [TensorInfo("y", (), "int64")],
        [Node("g", "Gather", ("x", "i"), ("y",))],
        params={"i": idx} if const else {},
    )
    feeds = {"x": shape} | ({} if const else {"i": idx})
    out = Plan(graph).run(feeds)["y"]
    assert isinstance(out, np.ndarray) and out.shape == () and out == 3
