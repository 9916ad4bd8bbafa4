"""Accuracy metrics with hand-checkable numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.engine.quant.encoding import fake_quantize, tf_encoding
from workbench.engine.quant.sqnr import cosine, max_abs_err, rmse_over_scale, sqnr_db
from workbench.errors import BadInput


def test_sqnr_db_by_hand():
    # signal 4, noise 1 -> 10 log10(4) = 6.0206 dB
    assert sqnr_db([1, 1, 1, 1], [1, 1, 1, 0]) == pytest.approx(6.0206, abs=1e-4)
    # signal 100, noise 0.01 -> 40 dB
    assert sqnr_db([10.0], [10.1]) == pytest.approx(40.0)


def test_sqnr_db_exact_and_zero_signal():
    assert sqnr_db([1.0, -2.0], [1.0, -2.0]) == math.inf
    assert sqnr_db(np.zeros(3), np.zeros(3)) == math.inf
    assert sqnr_db(np.zeros(3), [0.0, 0.1, 0.0]) == -math.inf


def test_cosine_by_hand():
    assert cosine([1, 0], [0, 1]) == pytest.approx(0.0)
    assert cosine([1, 2], [2, 4]) == pytest.approx(1.0)
    assert cosine([1, 0], [1, 1]) == pytest.approx(1 / math.sqrt(2))
    assert cosine([1, 2], [-1, -2]) == pytest.approx(-1.0)
    assert cosine(np.zeros(2), np.zeros(2)) == 1.0
    assert cosine(np.zeros(2), [1.0, 0.0]) == 0.0


def test_max_abs_err_by_hand():
    assert max_abs_err([1, 2, 3], [1, 2.5, 2]) == 1.0
    assert max_abs_err(np.zeros((0,)), np.zeros((0,))) == 0.0


def test_rmse_over_scale_by_hand_and_for_uniform_rounding_noise():
    # errors of +-0.1 with a step of 0.2: rms 0.1 -> half a step
    assert rmse_over_scale([0, 0, 0, 0], [0.1, -0.1, 0.1, -0.1], 0.2) == pytest.approx(0.5)
    x = np.random.default_rng(0).uniform(-1, 1, 200_000).astype(np.float32)
    enc = tf_encoding(-1.0, 1.0)
    assert rmse_over_scale(x, fake_quantize(x, enc), enc.delta) == pytest.approx(
        1 / math.sqrt(12), abs=0.005
    )


def test_metrics_refuse_mismatched_shapes_and_bad_steps():
    with pytest.raises(BadInput, match="shapes"):
        sqnr_db(np.zeros(3), np.zeros(4))
    with pytest.raises(BadInput, match="step"):
        rmse_over_scale([1.0], [1.0], 0.0)
