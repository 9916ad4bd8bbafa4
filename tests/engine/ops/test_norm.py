"""Normalization kernels against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op

RNG = np.random.default_rng(0)


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _stats(c: int) -> dict[str, np.ndarray]:
    return {"s": _f(c), "b": _f(c), "m": _f(c), "v": np.abs(_f(c)) + 0.1}


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 7), (2, 3, 5, 4), (1, 3, 2, 3, 4)])
@pytest.mark.parametrize("opset", [9, 14, 15])
def test_batch_norm_constant_stats(shape, opset):
    check_op("BatchNormalization", {"x": _f(*shape)}, _stats(shape[1]), epsilon=1e-3, opset=opset)


def test_batch_norm_runtime_stats():
    check_op("BatchNormalization", {"x": _f(2, 3, 4, 4), **_stats(3)})


def test_batch_norm_opset7_spatial_attribute():
    check_op("BatchNormalization", {"x": _f(2, 3, 4, 5)}, _stats(3), spatial=1, opset=7)


def test_batch_norm_old_non_spatial_parameters_broadcast_per_sample():
    # ``spatial=0`` parameters are shaped like one sample (C, H, W); ORT no longer
    # runs that form, so check the arithmetic directly.
    from workbench.engine.executor import Plan
    from workbench.engine.graph import Graph, Node, TensorInfo

    x = _f(2, 3, 4, 5)
    params = {k: v.reshape(3, 1, 1) * np.ones((3, 4, 5), np.float32) for k, v in _stats(3).items()}
    graph = Graph(
        "bn",
        [TensorInfo("x", x.shape)],
        [TensorInfo("y", x.shape)],
        [Node("bn", "BatchNormalization", ("x", "s", "b", "m", "v"), ("y",), {"spatial": 0})],
        params=params,
        opset=7,
    )
    y = Plan(graph).run({"x": x})["y"]
    p = params
    want = (x - p["m"]) / np.sqrt(p["v"] + 1e-5) * p["s"] + p["b"]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_batch_norm_ignores_training_outputs_request_shape():
    (y,) = check_op("BatchNormalization", {"x": _f(2, 3, 4)}, _stats(3), opset=15)
    assert y.dtype == np.float32 and y.flags.c_contiguous


@pytest.mark.parametrize("axis", [-1, -2, 1, 0])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_norm(axis, with_bias):
    shape = (2, 3, 4, 6)
    norm_shape = shape[axis % 4 :]
    consts = {"s": _f(*norm_shape)}
    if with_bias:
        consts["b"] = _f(*norm_shape)
    check_op("LayerNormalization", {"x": _f(*shape)}, consts, axis=axis, epsilon=1e-4)


def test_layer_norm_mean_and_inv_std_outputs():
    y, mean, inv = check_op(
        "LayerNormalization", {"x": _f(2, 5, 8)}, {"s": _f(8), "b": _f(8)}, n_outputs=3
    )
    assert mean.shape == (2, 5, 1) and inv.shape == (2, 5, 1)


def test_layer_norm_runtime_scale_and_transformer_shape():
    check_op("LayerNormalization", {"x": _f(1, 64, 96), "s": _f(96), "b": _f(96)})


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 5)])
def test_instance_norm(shape):
    check_op(
        "InstanceNormalization",
        {"x": _f(*shape)},
        {"s": _f(shape[1]), "b": _f(shape[1])},
        epsilon=1e-3,
    )


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(size):
    check_op("LRN", {"x": _f(2, 7, 4, 5)}, size=size, alpha=1e-2, beta=0.6, bias=1.5)
    check_op("LRN", {"x": _f(1, 6, 3, 3)}, size=size)
