"""Calibration observers: stream tensors in with ``update``, get an Encoding from ``compute``.

One observer per quantized tensor, fed once per calibration sample. State is a
fixed size whatever the number of samples: running min/max, and for the
histogram schemes a fixed number of bins (``StreamingHistogram``).

Schemes (``make_observer``):

* ``tf``         running min/max, then the tf rule.
* ``symmetric``  running absmax, then ``symmetric_encoding``.
* ``percentile`` both tails clipped: ``[P(100-p), P(p)]`` of the data (not of
  ``|x|``), read off the histogram with linear interpolation inside a bin, then
  the tf rule (which also brings 0 into range).
* ``enhanced``   AIMET TF-enhanced: the candidate range with the least expected
  noise, ``delta**2 / 12`` per in-range value plus ``clip_weight`` (AIMET's
  GAMMA = 3) times the squared distance of each clipped value to the range end.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from workbench.engine.quant.encoding import (
    Encoding,
    check_bitwidth,
    symmetric_encoding,
    tf_encoding,
    tf_rule,
)
from workbench.errors import BadInput
from workbench.vocabulary import ENHANCED, PERCENTILE, SYMMETRIC, TF

DEFAULT_BINS = 2048
FLOAT32_MAX = float(np.finfo(np.float32).max)


class Observer:
    """Base: running min/max and value count; subclasses add their own statistics."""

    scheme: ClassVar[str] = ""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.count = 0
        self.min = math.inf
        self.max = -math.inf

    def update(self, x: np.ndarray) -> None:
        """Fold one tensor (one calibration sample) into the statistics."""
        x = np.asarray(x)
        if x.size == 0:
            return
        lo, hi = float(x.min()), float(x.max())
        # min/max propagate NaN and Inf, so this check costs nothing extra.
        where = f"tensor '{self.name}'" if self.name else "calibration tensor"
        if not (math.isfinite(lo) and math.isfinite(hi)):
            n = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise BadInput(f"{where} has {n} NaN or Inf value(s) in calibration data")
        if max(-lo, hi) > FLOAT32_MAX:
            raise BadInput(f"{where} has values beyond the float32 range ({lo}, {hi})")
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)
        self.count += int(x.size)
        self._update(x, lo, hi)

    def compute(self, bitwidth: int = 8) -> Encoding:
        """The encoding of everything seen so far."""
        if self.count == 0:
            where = f"tensor '{self.name}'" if self.name else "the tensor"
            raise BadInput(f"no calibration data was observed for {where}")
        return self._compute(check_bitwidth(bitwidth))

    def state_nbytes(self) -> int:
        """Bytes of array state: constant in the number of updates."""
        return 0

    def _update(self, x: np.ndarray, lo: float, hi: float) -> None:
        pass

    def _compute(self, bitwidth: int) -> Encoding:
        raise NotImplementedError


class TfObserver(Observer):
    """TF: the running min/max."""

    scheme = TF

    def _compute(self, bitwidth: int) -> Encoding:
        return tf_encoding(self.min, self.max, bitwidth, self.name)


class SymmetricObserver(Observer):
    """Symmetric: the running absmax (signed symmetric even for all-positive data)."""

    scheme = SYMMETRIC

    def _compute(self, bitwidth: int) -> Encoding:
        return symmetric_encoding(max(-self.min, self.max), bitwidth, self.name)


class StreamingHistogram:
    """A histogram of fixed bin count whose range grows by exact bin merging.

    Bins are ``[lo + i*width, lo + (i+1)*width)``. The first tensor sets the range.
    When a later tensor falls outside, the bin width doubles: adjacent pairs of
    bins merge (exactly, no re-binning guesses) and the old range becomes the
    lower half, upper half or middle of the new one, whichever covers the new
    data, repeating until it does. So the bins are at most a few times coarser
    than one pass over all the data would give, and memory never grows.
    """

    def __init__(self, bins: int = DEFAULT_BINS) -> None:
        if bins < 8 or bins & (bins - 1):
            raise BadInput(f"histogram bins must be a power of two >= 8, got {bins}")
        self.bins = bins
        self.counts = np.zeros(bins, dtype=np.int64)
        self.lo = 0.0
        self.width = 0.0

    @property
    def hi(self) -> float:
        return self.lo + self.bins * self.width

    @property
    def edges(self) -> np.ndarray:
        return self.lo + self.width * np.arange(self.bins + 1, dtype=np.float64)

    @property
    def mids(self) -> np.ndarray:
        return self.lo + self.width * (np.arange(self.bins, dtype=np.float64) + 0.5)

    def add(self, x: np.ndarray, lo: float, hi: float) -> None:
        """Count ``x`` whose exact min/max are ``lo``/``hi`` (finite)."""
        if self.width == 0.0:
            self._start(lo, hi)
        else:
            self._cover(lo, hi)
        # float32 index math; lo rounded down so no value lands below bin 0.
        lo32 = np.float32(self.lo)
        if float(lo32) > self.lo:
            lo32 = np.nextafter(lo32, np.float32(-np.inf))
        idx = np.subtract(x, lo32, dtype=np.float32)
        idx *= np.float32(1.0 / self.width)
        counts = np.bincount(idx.astype(np.intp).reshape(-1), minlength=self.bins)
        if counts.size > self.bins:  # the top edge and float32 rounding past it
            counts[self.bins - 1] += counts[self.bins :].sum()
        self.counts += counts[: self.bins]

    def _start(self, lo: float, hi: float) -> None:
        # A floor on the width keeps float32 index math well inside one bin and
        # gives constant data a usable range.
        magnitude = max(abs(lo), abs(hi))
        span = max(hi - lo, 0.01, magnitude * 2.0**-12)
        self.lo = lo
        self.width = span / self.bins

    def _cover(self, lo: float, hi: float) -> None:
        while lo < self.lo or hi > self.hi:
            want_lo, want_hi = min(lo, self.lo), max(hi, self.hi)
            half = self.bins // 2
            # Shifts (in old bins) of the old range inside the doubled one, by preference.
            if lo < self.lo and hi > self.hi:
                shifts = (half, self.bins, 0)
            elif lo < self.lo:
                shifts = (self.bins, half, 0)
            else:
                shifts = (0, half, self.bins)
            new_width = 2 * self.width
            shift = next(
                (
                    s
                    for s in shifts
                    if self.lo - s * self.width <= want_lo
                    and self.lo - s * self.width + self.bins * new_width >= want_hi
                ),
                shifts[0],
            )
            merged = self.counts.reshape(half, 2).sum(axis=1)
            self.counts = np.zeros(self.bins, dtype=np.int64)
            self.counts[shift // 2 : shift // 2 + half] = merged
            self.lo -= shift * self.width
            self.width = new_width


class _HistogramObserver(Observer):
    def __init__(self, name: str | None = None, bins: int = DEFAULT_BINS) -> None:
        super().__init__(name)
        self.histogram = StreamingHistogram(bins)

    def _update(self, x: np.ndarray, lo: float, hi: float) -> None:
        self.histogram.add(x, lo, hi)

    def state_nbytes(self) -> int:
        return int(self.histogram.counts.nbytes)


class PercentileObserver(_HistogramObserver):
    """Percentile: clip both tails, keeping ``[P(100 - p), P(p)]`` of the values."""

    scheme = PERCENTILE

    def __init__(
        self, name: str | None = None, percentile: float = 99.99, bins: int = DEFAULT_BINS
    ) -> None:
        if not 50.0 < percentile <= 100.0:
            raise BadInput(f"percentile must be in (50, 100], got {percentile}")
        super().__init__(name, bins)
        self.percentile = float(percentile)

    def _compute(self, bitwidth: int) -> Encoding:
        p = self.percentile / 100.0
        lo = self.value_at_rank((1.0 - p) * self.count)
        hi = self.value_at_rank(p * self.count)
        return tf_encoding(lo, hi, bitwidth, self.name)

    def value_at_rank(self, rank: float) -> float:
        """The value below which ``rank`` of the counted values lie (linear in a bin)."""
        h = self.histogram
        cum = np.cumsum(h.counts)
        k = min(int(np.searchsorted(cum, rank, side="left")), h.bins - 1)
        before = float(cum[k - 1]) if k else 0.0
        inside = float(h.counts[k])
        frac = (rank - before) / inside if inside else 0.0
        value = h.lo + (k + min(max(frac, 0.0), 1.0)) * h.width
        return min(max(value, self.min), self.max)


class EnhancedObserver(_HistogramObserver):
    """AIMET TF-enhanced: the range with the least rounding plus weighted clipping noise.

    Candidates are pairs (a, b) with ``a = min * fa`` and ``b = max * fb``, each
    put through the tf rule so 0 stays exact. The fractions come from a coarse
    geometric grid (0, then 2**-12 .. 1 in steps of 2**(1/8)), then a fine one
    (steps of 2**(1/64)) around the best coarse pair. Cost of a candidate with
    step ``delta``, over histogram bin midpoints ``m`` with counts ``n``::

        delta**2 / 12 * (values inside [a, b], minus exact zeros)
        + clip_weight * (sum n (a - m)**2 over m < a  +  sum n (m - b)**2 over m > b)

    ``clip_weight`` is AIMET's GAMMA = 3. Zeros are counted apart because 0 is on
    every grid: they add no rounding noise (ReLU outputs are often half zeros).
    Each grid is costed at once from prefix sums of n, n*m, n*m**2.

    Under this mean-squared criterion clipping pays only for rare tails: clipping
    one value by a distance d costs ``clip_weight * d**2``, as much as the rounding
    noise of ``clip_weight * 12 * levels**2`` values (2.3 million at 8 bits) over a
    range d wide. So an isolated outlier is clipped once calibration has seen a
    few million values, and a tail is trimmed where it is that sparse.
    """

    scheme = ENHANCED
    OCTAVES = 12
    COARSE_STEPS = 8  # per octave
    FINE_STEPS = 64  # per octave, +-one coarse step around the best

    def __init__(
        self, name: str | None = None, clip_weight: float = 3.0, bins: int = DEFAULT_BINS
    ) -> None:
        if not clip_weight > 0:
            raise BadInput(f"clip_weight must be positive, got {clip_weight}")
        super().__init__(name, bins)
        self.clip_weight = float(clip_weight)
        self.zeros = 0

    def _update(self, x: np.ndarray, lo: float, hi: float) -> None:
        super()._update(x, lo, hi)
        if lo <= 0.0 <= hi:
            self.zeros += int(np.count_nonzero(x == 0))

    def _compute(self, bitwidth: int) -> Encoding:
        coarse = np.concatenate(
            ([0.0], 2.0 ** (-np.arange(self.OCTAVES * self.COARSE_STEPS + 1) / self.COARSE_STEPS))
        )
        # One-signed data has one side fixed at 0.
        frac_min = coarse if self.min < 0 else np.zeros(1)
        frac_max = coarse if self.max > 0 else np.zeros(1)
        lo, hi, delta, offset, cost, fa, fb = self.candidate_costs(bitwidth, frac_min, frac_max)
        best = int(np.argmin(cost))
        steps = 2.0 ** (
            np.arange(-8, 9) * (self.COARSE_STEPS / self.FINE_STEPS) / self.COARSE_STEPS
        )
        fine_a = np.minimum(fa[best] * steps, 1.0)
        fine_b = np.minimum(fb[best] * steps, 1.0)
        results = self.candidate_costs(bitwidth, fine_a, fine_b)
        i = int(np.argmin(results[4]))
        if results[4][i] < cost[best]:
            lo, hi, delta, offset, cost = results[:5]
            best = i
        return Encoding(lo[best], hi[best], delta[best], offset[best], bitwidth, symmetric=False)

    def candidate_costs(
        self, bitwidth: int, frac_min: np.ndarray, frac_max: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Cost every (min * fa, max * fb) pair: ``(min', max', delta, offset, cost, fa, fb)``."""
        # Widest first, so that exact ties go to the wider range (argmin takes the first).
        fa, fb = np.meshgrid(np.unique(frac_min)[::-1], np.unique(frac_max)[::-1], indexing="ij")
        fa, fb = fa.reshape(-1), fb.reshape(-1)
        lo, hi, delta, offset = tf_rule(min(self.min, 0.0) * fa, max(self.max, 0.0) * fb, bitwidth)

        h = self.histogram
        mids = h.mids
        n = h.counts.astype(np.float64)
        p0 = np.concatenate(([0.0], np.cumsum(n)))
        p1 = np.concatenate(([0.0], np.cumsum(n * mids)))
        p2 = np.concatenate(([0.0], np.cumsum(n * mids * mids)))
        # Bins [0, below) have their midpoint under lo: clipped low; [above, bins) over hi.
        first_mid = h.lo + 0.5 * h.width
        below = np.clip(np.ceil((lo - first_mid) / h.width), 0, h.bins).astype(np.intp)
        above = np.clip(np.floor((hi - first_mid) / h.width) + 1, 0, h.bins).astype(np.intp)
        clip_low = lo * lo * p0[below] - 2.0 * lo * p1[below] + p2[below]
        s0, s1, s2 = p0[-1] - p0[above], p1[-1] - p1[above], p2[-1] - p2[above]
        clip_high = s2 - 2.0 * hi * s1 + hi * hi * s0
        inside = p0[-1] - p0[below] - s0 - self.zeros
        cost = delta * delta / 12.0 * np.maximum(inside, 0.0) + self.clip_weight * (
            np.maximum(clip_low, 0.0) + np.maximum(clip_high, 0.0)
        )
        return lo, hi, delta, offset, cost, fa, fb


OBSERVERS: dict[str, type[Observer]] = {
    cls.scheme: cls for cls in (TfObserver, EnhancedObserver, SymmetricObserver, PercentileObserver)
}


def make_observer(scheme: str, name: str | None = None, **opts: Any) -> Observer:
    """A fresh observer for ``scheme`` (tf | enhanced | symmetric | percentile)."""
    cls = OBSERVERS.get(scheme)
    if cls is None:
        choices = ", ".join(OBSERVERS)
        raise BadInput(f"unknown quantizer scheme {scheme!r}: choose one of {choices}")
    try:
        return cls(name=name, **opts)
    except TypeError as exc:
        raise BadInput(f"bad option for the {scheme} quantizer: {exc}") from None
