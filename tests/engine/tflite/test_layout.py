"""Golden tests of the TFLite importer's layout arithmetic: padding, permutations, cleanup."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.engine.tflite import layout
from workbench.engine.tflite.layout import NCHW


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "expected"),
    [
        (224, 3, 2, 1, (112, 0, 1)),  # even input, stride 2: the extra row goes after
        (15, 3, 2, 1, (8, 1, 1)),  # odd input: symmetric
        (16, 3, 2, 1, (8, 0, 1)),
        (7, 3, 1, 1, (7, 1, 1)),
        (5, 4, 1, 1, (5, 1, 2)),  # even kernel: the larger half after
        (10, 3, 1, 2, (10, 2, 2)),  # dilation 2: extent 5
        (5, 1, 2, 1, (3, 0, 0)),
        (6, 1, 4, 1, (2, 0, 0)),  # would be negative: no padding
    ],
)
def test_same_padding_matches_tflite(size, kernel, stride, dilation, expected):
    assert layout.same_padding(size, kernel, stride, dilation) == expected


def test_valid_output_and_conv_pads():
    assert layout.valid_output(15, 3, 2) == 7
    assert layout.valid_output(16, 3, 1, 2) == 12
    assert layout.valid_output(2, 3, 1) == 0
    # ONNX order: all begins, then all ends.
    assert layout.conv_pads((224, 15), (3, 3), (2, 2), (1, 1), True) == [0, 1, 1, 1]
    assert layout.conv_pads((224, 15), (3, 3), (2, 2), (1, 1), False) == [0, 0, 0, 0]


def test_transpose_conv_pads():
    # 5 -> 10 with k3 s2 SAME: the full result is 11 wide, TFLite crops the last column.
    assert layout.transpose_conv_pads(10, 5, 3, 2, True) == (0, 1, 0)
    assert layout.transpose_conv_pads(11, 5, 3, 2, False) == (0, 0, 0)
    # An output shape beyond the full result: output padding.
    assert layout.transpose_conv_pads(12, 5, 3, 2, False) == (0, 0, 1)
    # 4 -> 8, k4 s2 SAME: forward padding of 8 with k4 s2 is (1, 1).
    assert layout.transpose_conv_pads(8, 4, 4, 2, True) == (1, 1, 0)


def test_permutations():
    assert layout.inverse(NCHW) == (0, 2, 3, 1)
    assert layout.between(NCHW, (0, 1, 2, 3)) == (0, 2, 3, 1)
    assert layout.between((0, 1, 2, 3), NCHW) == NCHW
    assert layout.compose(NCHW, layout.inverse(NCHW)) == (0, 1, 2, 3)
    assert layout.axis_in(NCHW, -1) == 1  # NHWC channels are NCHW axis 1
    assert layout.axis_in(NCHW, 1) == 2
    assert layout.permute_shape((1, 8, 9, 3), NCHW) == (1, 3, 8, 9)


@pytest.mark.parametrize(
    ("perm", "axes", "expected"),
    [
        (NCHW, [1, 2], (0, 1)),  # spatial mean of NCHW: (N, C), as TFLite has it
        (NCHW, [3], (0, 1, 2)),  # channels gone: N, H, W in order
        (NCHW, [1], (0, 2, 1)),  # H gone: IR (N, C, W) is TFLite (N, W, C) transposed
        ((0, 1, 2), [0], (0, 1)),
    ],
)
def test_drop_axes(perm, axes, expected):
    assert layout.drop_axes(perm, axes) == expected


def test_drop_axes_agrees_with_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))  # TFLite NHWC
    ir = x.transpose(NCHW)
    for axes in ([1], [2], [3], [1, 2], [0, 3]):
        want = x.sum(axis=tuple(axes))
        got = ir.sum(axis=tuple(layout.axis_in(NCHW, a) for a in axes))
        kept = layout.drop_axes(NCHW, axes)
        np.testing.assert_allclose(got, want.transpose(kept))


def test_broadcast_const_follows_layout():
    c = np.arange(3.0)  # one value per NHWC channel
    b = layout.broadcast_const(c, 4, NCHW)
    assert b.shape == (1, 3, 1, 1)
    x = np.ones((1, 2, 2, 3))
    np.testing.assert_array_equal((x + c).transpose(NCHW), x.transpose(NCHW) + b)
    hw = np.arange(6.0).reshape(2, 3)  # broadcasting over (W, C)
    assert layout.broadcast_const(hw, 4, NCHW).shape == (1, 3, 1, 2)
    assert layout.broadcast_const(c, 4, (0, 1, 2, 3)) is c


def test_moves_only_units():
    assert layout.moves_only_units((1, 8, 1, 1), (0, 2, 3, 1))
    assert not layout.moves_only_units((1, 8, 2, 2), (0, 2, 3, 1))


def _graph(nodes, shapes, params=None, outputs=("y",)):
    infos = {n: TensorInfo(n, s) for n, s in shapes.items()}
    return Graph(
        name="g",
        inputs=[infos["x"]],
        outputs=[infos[o] for o in outputs],
        nodes=nodes,
        params=dict(params or {}),
        tensors=infos,
    )


def test_transpose_pairs_cancel_and_unit_moves_become_one_reshape():
    nodes = [
        Node("t1", "Transpose", ("x",), ("a",), {"perm": [0, 3, 1, 2]}),
        Node("relu", "Relu", ("a",), ("b",)),
        Node("t2", "Transpose", ("b",), ("c",), {"perm": [0, 2, 3, 1]}),
        Node("t3", "Transpose", ("c",), ("d",), {"perm": [0, 3, 1, 2]}),  # cancels t2
        Node("pool", "GlobalAveragePool", ("d",), ("e",)),
        Node("t4", "Transpose", ("e",), ("f",), {"perm": [0, 2, 3, 1]}),  # units only
        Node("flat", "Reshape", ("f", "shape"), ("y",)),
    ]
    shapes = {
        "x": (1, 4, 4, 8),
        "a": (1, 8, 4, 4),
        "b": (1, 8, 4, 4),
        "c": (1, 4, 4, 8),
        "d": (1, 8, 4, 4),
        "e": (1, 8, 1, 1),
        "f": (1, 1, 1, 8),
        "y": (1, 8),
    }
    g = _graph(nodes, shapes, {"shape": np.array([1, 8], np.int64)})
    before = _run(g)
    layout.simplify_transposes(g)
    assert [n.op_type for n in g.nodes] == ["Transpose", "Relu", "GlobalAveragePool", "Reshape"]
    np.testing.assert_array_equal(_run(g), before)


def test_cleanup_keeps_graph_output_names():
    nodes = [
        Node("t1", "Transpose", ("x",), ("a",), {"perm": [0, 3, 1, 2]}),
        Node("relu", "Relu", ("a",), ("b",)),
        Node("t2", "Transpose", ("b",), ("c",), {"perm": [0, 2, 3, 1]}),
        Node("t3", "Transpose", ("c",), ("y",), {"perm": [0, 3, 1, 2]}),
    ]
    shapes = {"x": (1, 2, 3, 4), "a": (1, 4, 2, 3), "b": (1, 4, 2, 3), "c": (1, 2, 3, 4)}
    shapes["y"] = (1, 4, 2, 3)
    g = _graph(nodes, shapes)
    before = _run(g)
    renamed = layout.simplify_transposes(g)
    assert [n.op_type for n in g.nodes] == ["Transpose", "Relu"]
    assert g.nodes[-1].outputs == ("y",) and renamed == {"b": "y"}
    np.testing.assert_array_equal(_run(g), before)


def _run(g: Graph) -> np.ndarray:
    from workbench.engine.executor import Plan

    x = np.random.default_rng(1).standard_normal(g.inputs[0].shape).astype(np.float32)
    return Plan(g).run({"x": x})["y"]
