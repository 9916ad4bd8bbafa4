"""Calibration observers: golden cases, streaming equivalence, fixed-size state."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.quant.encoding import fake_quantize, symmetric_encoding, tf_encoding
from workbench.engine.quant.observers import (
    EnhancedObserver,
    PercentileObserver,
    StreamingHistogram,
    SymmetricObserver,
    TfObserver,
    make_observer,
)
from workbench.engine.quant.sqnr import sqnr_db
from workbench.errors import BadInput

SCHEMES = ["tf", "enhanced", "symmetric", "percentile"]


@pytest.fixture(scope="module")
def gauss() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(400_000).astype(np.float32)


# ------------------------------------------------------------------ tf / symmetric


def test_tf_observer_streams_the_worked_example():
    obs = TfObserver()
    obs.update(np.array([-1.0, -1.8], dtype=np.float32))
    obs.update(np.array([0.5, 0.0], dtype=np.float32))
    enc = obs.compute(8)
    assert enc == tf_encoding(float(np.float32(-1.8)), 0.5)
    assert round(enc.min, 6) == -1.803922 and round(enc.max, 6) == 0.496078
    assert obs.count == 4


def test_symmetric_observer_keeps_the_running_absmax():
    obs = SymmetricObserver()
    obs.update(np.array([-0.5, 1.0]))
    obs.update(np.array([-1.27, 0.3]))
    assert obs.compute(8) == symmetric_encoding(1.27)
    assert obs.compute(4) == symmetric_encoding(1.27, 4)


@pytest.mark.parametrize("scheme", ["tf", "symmetric"])
def test_min_max_observers_are_exact_whatever_the_chunking(scheme, gauss):
    one, many = make_observer(scheme), make_observer(scheme)
    one.update(gauss)
    for chunk in np.array_split(gauss, 100):
        many.update(chunk)
    assert one.compute(8) == many.compute(8)
    assert one.compute(16) == many.compute(16)


# ------------------------------------------------------------------ histogram


def test_histogram_grows_by_exact_bin_merging():
    h = StreamingHistogram(bins=8)
    h.add(np.arange(9, dtype=np.float32), 0.0, 8.0)  # width 1; 8.0 folds into the top bin
    assert (h.lo, h.width) == (0.0, 1.0)
    assert h.counts.tolist() == [1, 1, 1, 1, 1, 1, 1, 2]
    # 15.5 is to the right: width doubles, pairs merge into the lower half
    h.add(np.array([15.5], dtype=np.float32), 15.5, 15.5)
    assert (h.lo, h.width) == (0.0, 2.0)
    assert h.counts.tolist() == [2, 2, 2, 3, 0, 0, 0, 1]
    # -3 is to the left: width doubles, the old range becomes the upper half
    h.add(np.array([-3.0], dtype=np.float32), -3.0, -3.0)
    assert (h.lo, h.width) == (-16.0, 4.0)
    assert h.counts.tolist() == [0, 0, 0, 1, 4, 5, 0, 1]
    assert h.counts.sum() == 11


@pytest.mark.parametrize("scheme", ["percentile", "enhanced"])
def test_histogram_observers_agree_within_one_bin_whatever_the_chunking(scheme, gauss):
    data = np.concatenate([gauss, np.maximum(gauss, 0) * 3 + 1])
    one, many = make_observer(scheme), make_observer(scheme)
    one.update(data)
    for chunk in np.array_split(data, 100):
        many.update(chunk)
    assert one.count == many.count == data.size
    assert one.histogram.counts.sum() == many.histogram.counts.sum() == data.size
    width = max(one.histogram.width, many.histogram.width)
    a, b = one.compute(8), many.compute(8)
    assert abs(a.min - b.min) <= width
    assert abs(a.max - b.max) <= width


@pytest.mark.parametrize("scheme", SCHEMES)
def test_state_does_not_grow_with_the_number_of_samples(scheme):
    rng = np.random.default_rng(1)
    obs = make_observer(scheme)
    sizes = {}
    for i in range(1000):
        # ranges that keep growing force histogram re-binning
        obs.update(rng.standard_normal(64).astype(np.float32) * (1 + i / 10))
        if i + 1 in (10, 1000):
            sizes[i + 1] = (obs.state_nbytes(), len(vars(obs)))
    assert sizes[10] == sizes[1000]
    if scheme in ("percentile", "enhanced"):
        assert obs.histogram.counts.shape == (2048,)


def test_percentile_clips_at_the_requested_percentile(gauss):
    obs = PercentileObserver(percentile=99.9)
    obs.update(gauss)
    width = obs.histogram.width
    lo, hi = np.percentile(gauss, [0.1, 99.9])
    assert obs.value_at_rank(0.001 * gauss.size) == pytest.approx(lo, abs=width)
    assert obs.value_at_rank(0.999 * gauss.size) == pytest.approx(hi, abs=width)
    enc, ref = obs.compute(8), tf_encoding(lo, hi)
    # the tf rule may move each end by up to one step to put 0 on the grid
    assert enc.min == pytest.approx(ref.min, abs=width + ref.delta)
    assert enc.max == pytest.approx(ref.max, abs=width + ref.delta)
    assert enc.max - enc.min < 0.8 * (gauss.max() - gauss.min())


def test_percentile_100_is_min_max():
    x = np.random.default_rng(2).uniform(-2, 5, 10_000).astype(np.float32)
    obs = PercentileObserver(percentile=100)
    obs.update(x)
    assert obs.compute() == tf_encoding(float(x.min()), float(x.max()))
    with pytest.raises(BadInput, match="percentile"):
        PercentileObserver(percentile=40)


# ------------------------------------------------------------------ enhanced


def test_enhanced_cost_of_one_candidate_by_hand():
    obs = EnhancedObserver(bins=8)
    obs.update(np.arange(9, dtype=np.float32))  # bins of width 1, midpoints 0.5 .. 7.5
    assert obs.zeros == 1
    lo, hi, delta, offset, cost, _, _ = obs.candidate_costs(8, np.array([1.0]), np.array([0.5]))
    # range [0, 4]: bins with midpoints 4.5, 5.5, 6.5, 7.5 (counts 1, 1, 1, 2) are clipped to 4
    clip = 0.5**2 + 1.5**2 + 2.5**2 + 2 * 3.5**2
    inside = 9 - 5 - 1  # minus the clipped values, minus the one exact zero
    assert (lo[0], hi[0], offset[0]) == (0.0, 4.0, 0)
    assert cost[0] == pytest.approx(3.0 * clip + (4 / 255) ** 2 / 12 * inside)
    _, _, delta, _, cost, _, _ = obs.candidate_costs(8, np.array([1.0]), np.array([1.0]))
    assert cost[0] == pytest.approx(delta[0] ** 2 / 12 * 8)  # full range: no clipping


def test_enhanced_clips_a_long_tail_and_beats_tf_on_the_bulk():
    rng = np.random.default_rng(3)
    bulk = rng.standard_normal(4_000_000).astype(np.float32)
    data = np.concatenate([bulk, np.float32([50.0, -50.0])])
    enhanced, tf = EnhancedObserver(), TfObserver()
    for chunk in np.array_split(data, 20):
        enhanced.update(chunk)
        tf.update(chunk)
    e, t = enhanced.compute(8), tf.compute(8)
    assert e.max - e.min < 0.3 * (t.max - t.min)
    assert fake_quantize(np.float32(0.0), e) == 0.0  # 0 stays exact
    assert sqnr_db(bulk, fake_quantize(bulk, e)) > sqnr_db(bulk, fake_quantize(bulk, t)) + 10.0


def test_enhanced_keeps_the_range_of_a_uniform_distribution():
    x = np.random.default_rng(4).uniform(-1, 1, 1_000_000).astype(np.float32)
    obs = EnhancedObserver()
    obs.update(x)
    enc = obs.compute(8)
    assert enc.min <= -0.98 and enc.max >= 0.98
    assert obs.compute(16).max - obs.compute(16).min >= 1.99


def test_enhanced_on_relu_outputs_keeps_min_at_zero(gauss):
    obs = EnhancedObserver()
    obs.update(np.maximum(gauss, 0))
    enc = obs.compute(8)
    assert (enc.min, enc.offset) == (0.0, 0)
    assert 2.5 < enc.max <= float(gauss.max()) + enc.delta


# ------------------------------------------------------------------ errors, factory


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_handles_edge_data(scheme):
    for data, bitwidth in ((np.zeros(100), 8), (np.full(50, -2.0), 4), (np.ones(7), 16)):
        obs = make_observer(scheme)
        obs.update(np.array([], dtype=np.float32))  # empty tensors are ignored
        obs.update(data)
        enc = obs.compute(bitwidth)
        assert enc.bitwidth == bitwidth
        assert enc.min <= 0.0 <= enc.max and enc.max - enc.min >= 0.01 - 1e-12
        assert fake_quantize(np.float32(0.0), enc) == 0.0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_nan_is_bad_input_naming_the_tensor_and_inf_is_clamped(scheme):
    obs = make_observer(scheme, name="conv1/Relu")
    with pytest.raises(BadInput, match="conv1/Relu' has 1 NaN"):
        obs.update(np.array([0.0, np.nan, 1.0], dtype=np.float32))
    # ±inf (a mask) is a value: the range is the finite values'; it clamps to its ends.
    masked = make_observer(scheme, name="scores")
    masked.update(np.array([0.0, -np.inf, 1.0, np.inf], dtype=np.float32))
    masked.update(np.full(3, -np.inf, dtype=np.float32))  # nothing finite: nothing seen
    assert (masked.min, masked.max, masked.count) == (0.0, 1.0, 2)
    assert masked.compute(8).max <= 1.01
    with pytest.raises(BadInput, match="float32 range"):
        obs.update(np.array([1e300, 0.0]))
    with pytest.raises(BadInput, match="no calibration data.*conv1/Relu"):
        obs.compute(8)


def test_make_observer_names_and_errors():
    assert isinstance(make_observer("tf"), TfObserver)
    assert isinstance(make_observer("enhanced"), EnhancedObserver)
    assert isinstance(make_observer("symmetric"), SymmetricObserver)
    obs = make_observer("percentile", percentile=99.0, name="x")
    assert isinstance(obs, PercentileObserver) and obs.percentile == 99.0 and obs.name == "x"
    with pytest.raises(BadInput, match="unknown quantizer scheme 'minmax'.*tf, enhanced"):
        make_observer("minmax")
    with pytest.raises(BadInput, match="option"):
        make_observer("tf", percentile=99.0)
    with pytest.raises(BadInput, match="bitwidth"):
        obs = make_observer("tf")
        obs.update(np.ones(3))
        obs.compute(12.5)
