"""Value histograms against an encoding range: bins, the window, the clipped share."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.quant.encoding import tf_encoding
from workbench.engine.quant.histogram import (
    RangeHistogram,
    clipped_share,
    histogram_of,
)


def test_counts_by_hand() -> None:
    # tf over [0, 4]: delta 4/255, range [0, 4]; the window is [-1, 5] in 6 bins of 1.
    enc = tf_encoding(0.0, 4.0)
    assert (enc.min, enc.max) == (0.0, pytest.approx(4.0))
    h = RangeHistogram(enc, bins=6)
    h.add(np.array([-2.0, -0.5, 0.0, 0.5, 1.5, 3.99, 4.0, 4.5, 9.0], np.float32))
    h.add(np.array([[np.nan, 2.0]], np.float32))  # NaN is not counted
    d = h.to_dict()
    assert d["lo"] == pytest.approx(-1.0) and d["hi"] == pytest.approx(5.0)
    # [-1,0): -0.5 | [0,1): 0, 0.5 | [1,2): 1.5 | [2,3): 2 | [3,4): 3.99 | [4,5): 4, 4.5
    assert d["counts"] == [1, 2, 1, 1, 1, 2]
    assert (d["below"], d["above"], d["count"]) == (1, 1, 10)
    # Clipped: beyond half a step outside [0, 4]: -2, -0.5, 4.5, 9 (4.0 and 3.99 are in).
    assert d["clipped"] == 4 and clipped_share(d) == pytest.approx(0.4)
    assert (d["min"], d["max"]) == (-2.0, 9.0) and (d["enc_min"], d["enc_max"]) == (0.0, 4.0)
    assert sum(d["counts"]) + d["below"] + d["above"] == d["count"]


def test_half_a_step_beyond_the_range_is_rounding_not_clipping() -> None:
    enc = tf_encoding(-1.0, 1.0)
    inside = np.array([enc.max + 0.49 * enc.delta, enc.min - 0.49 * enc.delta])
    outside = np.array([enc.max + 0.51 * enc.delta])
    assert histogram_of(inside, enc)["clipped"] == 0
    assert histogram_of(outside, enc)["clipped"] == 1


def test_per_channel_clips_each_channel_against_its_own_range() -> None:
    from workbench.engine.quant.encoding import per_channel_symmetric

    w = np.array([[0.1, -0.1], [1.0, -1.0]], np.float32)  # channel 0 small, channel 1 large
    enc = per_channel_symmetric(w, axis=0)
    assert histogram_of(w, enc)["clipped"] == 0
    swapped = w[::-1].copy()  # channel 0 now holds ±1.0, far beyond its ±0.1 range
    d = histogram_of(swapped, enc)
    assert d["clipped"] == 2 and d["per_channel"] is True


def test_many_samples_stream_into_the_same_bins() -> None:
    rng = np.random.default_rng(0)
    enc = tf_encoding(-3.0, 3.0)
    data = rng.normal(size=(8, 1000)).astype(np.float32)
    streamed = RangeHistogram(enc)
    for row in data:
        streamed.add(row)
    assert streamed.to_dict() == histogram_of(data, enc)
