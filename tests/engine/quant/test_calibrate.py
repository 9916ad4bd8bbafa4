"""Streaming calibration: one pass, one observer per float tensor, memory flat in samples."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from onnx import helper

from tests.engine.quant.test_quantizer import conv_net, onnx_model, samples
from workbench.engine.executor import Plan
from workbench.engine.quant.calibrate import FeedSource, calibrate
from workbench.engine.quant.encoding import tf_encoding
from workbench.errors import BadInput


def _stream(shape, n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield {"x": rng.standard_normal(shape).astype(np.float32)}


def test_tf_calibration_is_the_running_min_max(tmp_path):
    g = conv_net(tmp_path)
    data = samples(g, 7)
    result = calibrate(g, data, "tf", 8)
    assert result.samples == 7
    plan = Plan(g, keep=["c1", "r1", "c2", "p", "f"])
    outs = [plan.run(s) for s in data]
    for name in ("c1", "r1", "c2", "p", "f", "y"):
        lo = min(float(o[name].min()) for o in outs)
        hi = max(float(o[name].max()) for o in outs)
        assert result.encodings[name] == tf_encoding(lo, hi), name
    assert result.encodings["x"] == tf_encoding(
        min(float(s["x"].min()) for s in data), max(float(s["x"].max()) for s in data)
    )


def test_observe_skip_and_collectors(tmp_path):
    g = conv_net(tmp_path)
    seen: dict[str, int] = {}

    class Count:
        def feed(self, feeds):
            seen["feeds"] = seen.get("feeds", 0) + 1

        def hook(self, name, value):
            seen[name] = seen.get(name, 0) + 1

    result = calibrate(g, samples(g, 3), "enhanced", 16, skip={"p", "f"}, collectors=[Count()])
    assert set(result.encodings) == {"x", "c1", "r1", "c2", "y"}
    assert all(e.bitwidth == 16 for e in result.encodings.values())
    assert seen["feeds"] == 3 and seen["c1"] == 3 and seen["p"] == 3
    only = calibrate(g, samples(g, 2), "symmetric", observe={"y"})
    assert set(only.encodings) == {"y"} and only.encodings["y"].symmetric


def test_one_shot_iterator_cannot_be_read_twice(tmp_path):
    g = conv_net(tmp_path)
    source = FeedSource(iter(samples(g, 2)), g)
    calibrate(g, source)
    with pytest.raises(BadInput, match="one-shot iterator"):
        calibrate(g, source)
    listed = FeedSource(samples(g, 2), g)
    assert listed.rereadable and listed.count == 2
    calibrate(g, listed)
    calibrate(g, listed)


def test_bad_samples(tmp_path):
    g = conv_net(tmp_path)
    with pytest.raises(BadInput, match="no calibration samples"):
        calibrate(g, [])
    with pytest.raises(BadInput, match="calibration sample 1: no value for model input 'x'"):
        calibrate(g, [{"y": np.zeros(1)}])
    with pytest.raises(BadInput, match="unknown quantizer scheme"):
        calibrate(g, samples(g, 1), "minmax")
    bad = samples(g, 2)
    bad[1]["x"][0, 0, 0, 0] = np.inf
    with pytest.raises(BadInput, match=r"calibration sample 2: tensor 'x' has 1 NaN or Inf"):
        calibrate(g, bad)


def _pointwise_net(tmp_path):
    rng = np.random.default_rng(0)
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1"], ["c1"]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "w2"], ["c2"]),
        n("GlobalAveragePool", ["c2"], ["p"]),
        n("Flatten", ["p"], ["f"]),
        n("Gemm", ["f", "wf"], ["y"], transB=1),
    ]
    inits = {
        "w1": rng.standard_normal((16, 3, 1, 1)).astype(np.float32),
        "w2": rng.standard_normal((16, 16, 1, 1)).astype(np.float32),
        "wf": rng.standard_normal((10, 16)).astype(np.float32),
    }
    return onnx_model(tmp_path / "pw.onnx", nodes, {"x": (1, 3, 32, 32)}, ["y"], inits)


def _peak(graph, n: int, scheme: str) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        calibrate(graph, _stream((1, 3, 32, 32), n), scheme)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("scheme", ["tf", "enhanced"])
def test_memory_does_not_grow_with_the_number_of_samples(tmp_path, scheme):
    g = _pointwise_net(tmp_path)
    _peak(g, 4, scheme)  # warm caches (kernel preparation, numpy's allocation cache)
    small = _peak(g, 16, scheme)
    large = _peak(g, 256, scheme)
    # One sample is 12 KB of input and ~200 KB of activations: keeping anything per
    # sample would add tens of megabytes over 240 more. Allow allocator noise only.
    assert large <= small * 1.1 + 131_072, (small, large)


def test_integer_tensors_get_no_observer(tmp_path):
    g = onnx_model(
        tmp_path / "shape.onnx",
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Shape", ["r"], ["s"])],
        {"x": (1, 4)},
        ["r", "s"],
        {},
    )
    result = calibrate(g, samples(g, 2))
    assert set(result.encodings) == {"x", "r"}
