"""AdaRound: learned weight rounding lowers each layer's reconstruction error, stays on
the encoding's grid, keeps to its time budget, and lifts a 4-bit model's output SQNR."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.quant.qfixtures import cnn_model
from workbench.engine.container import Container, make_manifest
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.analysis import check_integer_path, output_sqnr
from workbench.engine.quant.encoding import encoding_from_dict
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.quantizer import quantize_container
from workbench.errors import BadInput
from workbench.options import QuantOptions


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    path = cnn_model(tmp_path_factory.mktemp("ada") / "cnn.onnx")
    return Container(manifest=make_manifest(), graph=import_onnx(path))


def _feeds(n: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(n)]


@pytest.fixture(scope="module")
def w4(cnn):
    calib = _feeds(12, seed=0)
    plain = quantize_container(cnn, calib, QuantOptions(weights_bitwidth=4))
    learned = quantize_container(
        cnn, calib, QuantOptions(weights_bitwidth=4, algorithms="adaround", adaround_seconds=20)
    )
    return plain, learned


def test_learned_rounding_lowers_every_layers_error_on_the_grid(cnn, w4):
    plain, learned = w4
    rows = {r.weight: r for r in learned.adaround}
    assert set(rows) == {"w1", "wd", "w2", "w3", "w4", "wg"}  # every Conv (depthwise too), Gemm
    for r in rows.values():
        assert not r.kept_nearest, r
        assert r.mse_learned < r.mse_nearest and 0 < r.flipped < 0.5 and r.iterations > 0
    assert sum(r.mse_learned for r in rows.values()) < 0.8 * sum(
        r.mse_nearest for r in rows.values()
    )
    q, p = learned.container, plain.container
    assert q.manifest["quantizer"]["options"]["algorithms"] == ["adaround"]
    for name in rows:
        # Same encodings; integers at most one step from nearest, some of them moved.
        assert q.param_encodings[name] == p.param_encodings[name]
        step = np.abs(q.graph.params[name].astype(int) - p.graph.params[name].astype(int))
        assert step.max() == 1 and 0 < step.mean() < 0.5
        enc = encoding_from_dict(q.param_encodings[name])
        assert q.graph.params[name].max() <= enc.qmax


def test_adaround_lifts_a_4_bit_models_output_sqnr_on_held_out_data(cnn, w4):
    plain, learned = w4
    held_out = _feeds(8, seed=5)
    before = output_sqnr(cnn, FakeQuantPlan(plain.container), held_out)
    after = output_sqnr(cnn, FakeQuantPlan(learned.container), held_out)
    assert after > before + 0.5, (before, after)
    assert check_integer_path(cnn, learned.container, held_out[:3]).ok


def test_the_time_budget_bounds_it(cnn):
    import time

    start = time.perf_counter()
    r = quantize_container(
        cnn, _feeds(4, seed=1), QuantOptions(algorithms="adaround", adaround_seconds=0.05)
    )
    assert time.perf_counter() - start < 10  # the budget, not 1000 iterations per layer
    assert all(row.iterations < 1000 for row in r.adaround)
    with pytest.raises(BadInput, match="--adaround-seconds"):
        QuantOptions(adaround_seconds=0)
