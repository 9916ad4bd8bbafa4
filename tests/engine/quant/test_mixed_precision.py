"""Mixed precision's ranking: every layer alone, the noisiest first; the prediction."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from tests.engine.quant.qfixtures import cnn_model
from workbench.engine.container import Container, make_manifest
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.mixed_precision import (
    ACTIVATIONS,
    PREDICTED_CAP_DB,
    WEIGHTS,
    Fix,
    Ranking,
    encoding_owners,
    predict_sqnr,
    rank_layers,
)
from workbench.engine.quant.quantizer import quantize_container
from workbench.options import QuantOptions


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    path = cnn_model(tmp_path_factory.mktemp("mp") / "cnn.onnx")
    return Container(manifest=make_manifest(), graph=import_onnx(path))


def _feeds(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(n)]


def _coarse(q: Container, tensor: str, factor: float) -> Container:
    """``q`` with one tensor's encoding ``factor`` times wider: far coarser steps."""
    enc = dict(q.encodings[tensor])
    for key in ("min", "max", "delta"):
        enc[key] = enc[key] * factor
    return replace(q, encodings={**q.encodings, tensor: enc})


def test_every_layer_is_ranked_alone_and_a_coarse_one_comes_first(cnn):
    q = quantize_container(cnn, _feeds(4), QuantOptions(bias_bitwidth=32)).container
    ranking = rank_layers(cnn, q, _feeds(2, seed=1))
    kinds = {(f.kind, f.node) for f in ranking.fixes}
    assert (WEIGHTS, "Conv_6") in kinds and (ACTIVATIONS, "Add_7") in kinds
    assert all(f.kind != ACTIVATIONS or f.op_type != "MaxPool" for f in ranking.fixes)  # moves
    noise = [f.noise for f in ranking.fixes]
    assert noise == sorted(noise, reverse=True) and all(n > 0 for n in noise)
    # A weights fix names the layer owning its input's encoding: Conv_4 reads r2 (Clip_3,
    # fused with Conv_2: either name takes the rule).
    (conv4,) = [f for f in ranking.fixes if f.kind == WEIGHTS and f.node == "Conv_4"]
    assert conv4.needs in ("Conv_2", "Clip_3")
    # One output encoding made 40 times coarser: that layer's outputs are the worst.
    worst = _coarse(q, "a1", 40.0)
    first = rank_layers(cnn, worst, _feeds(2, seed=1)).fixes[0]
    assert (first.kind, first.node) == (ACTIVATIONS, "Add_7")
    assert first.noise > 4 * ranking.of(ACTIVATIONS)[0].noise


def test_encoding_owners_follow_data_movement_and_fused_activations(cnn):
    q = quantize_container(cnn, _feeds(2), QuantOptions()).container
    owners = encoding_owners(q.graph, q.encodings)
    assert owners["m1"] == owners["h1"] == "HardSwish_8"  # MaxPool moves data
    assert owners["r1"] in ("Conv_0", "Relu_1")


def test_the_prediction_removes_each_fix_share_of_the_measured_noise():
    fixes = (Fix(ACTIVATIONS, "a", "Conv", 0.03, 15.2), Fix(ACTIVATIONS, "b", "Add", 0.01, 20.0))
    ranking = Ranking(fixes, 2, 10)
    assert predict_sqnr(10.0, [], ranking) == pytest.approx(10.0)
    # 'a' holds three quarters of the summed noise: a quarter of 0.1 is left.
    assert predict_sqnr(10.0, fixes[:1], ranking) == pytest.approx(10 + 10 * math.log10(4))
    assert predict_sqnr(10.0, fixes, ranking) == PREDICTED_CAP_DB
    assert predict_sqnr(None, fixes, ranking) is None
