"""A tensor's value distribution against its encoding range, in a few hundred bytes.

``RangeHistogram`` counts values over ``BINS`` fixed bins spanning the encoding's range
widened by a quarter on each side (so what the encoding clips shows beside it), plus
the values below and above that window, the values the encoding clips (farther than
half a step outside [min, max], where the error exceeds rounding's; per channel for a
per-channel encoding) and the observed extremes. It is
fed one array at a time (streaming: samples are never kept) and stored as plain JSON
(``to_dict``): plots and reports draw it without numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.engine.quant.encoding import AnyEncoding, ChannelEncoding

BINS = 48
MARGIN = 0.25  # of the encoding's range, on each side of it


class RangeHistogram:
    """Counts of values in fixed bins around one encoding's range (see the module doc)."""

    def __init__(self, encoding: AnyEncoding, bins: int = BINS) -> None:
        self.encoding = encoding
        lo, hi = _range(encoding)
        pad = max(hi - lo, 1e-12) * MARGIN
        self.lo, self.hi = lo - pad, hi + pad
        self.bins = bins
        self.counts = np.zeros(bins, dtype=np.int64)
        self.below = self.above = self.clipped = self.count = 0
        self.min, self.max = np.inf, -np.inf

    def add(self, values: np.ndarray) -> None:
        """Count ``values`` (any shape; per-channel encodings need the tensor's layout)."""
        x = np.asarray(values)
        if x.size == 0:
            return
        x = x.astype(np.float64, copy=False)
        finite = np.isfinite(x)
        if not finite.all():
            x = np.where(finite, x, np.nan)
        self.count += int(finite.sum())
        self.min = min(self.min, float(np.nanmin(x)))
        self.max = max(self.max, float(np.nanmax(x)))
        self.clipped += _outside(x, self.encoding)
        flat = x[finite] if not finite.all() else x.reshape(-1)
        scaled = (flat - self.lo) * (self.bins / (self.hi - self.lo))
        self.below += int((scaled < 0).sum())
        self.above += int((scaled >= self.bins).sum())
        inside = scaled[(scaled >= 0) & (scaled < self.bins)]
        self.counts += np.bincount(inside.astype(np.int64), minlength=self.bins)[: self.bins]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: window ``lo``/``hi``, ``counts`` per bin, ``below``/``above`` it, the
        encoding's ``enc_min``/``enc_max``, ``clipped`` values, ``count``, observed min/max."""
        enc_min, enc_max = _range(self.encoding)
        return {
            "lo": self.lo,
            "hi": self.hi,
            "counts": self.counts.tolist(),
            "below": self.below,
            "above": self.above,
            "enc_min": enc_min,
            "enc_max": enc_max,
            "per_channel": isinstance(self.encoding, ChannelEncoding),
            "clipped": self.clipped,
            "count": self.count,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
        }


def histogram_of(values: np.ndarray, encoding: AnyEncoding, bins: int = BINS) -> dict[str, Any]:
    """The stored histogram of one array against ``encoding``."""
    h = RangeHistogram(encoding, bins)
    h.add(values)
    return h.to_dict()


def clipped_share(histogram: dict[str, Any]) -> float | None:
    """The share of values the encoding clips, from a stored histogram."""
    count = histogram.get("count") or 0
    return histogram.get("clipped", 0) / count if count else None


def _range(encoding: AnyEncoding) -> tuple[float, float]:
    """The encoding's range (the widest channel's ends for a per-channel encoding)."""
    return float(np.min(encoding.min)), float(np.max(encoding.max))


def _outside(x: np.ndarray, encoding: AnyEncoding) -> int:
    """How many values saturate: farther than half a step outside the range."""
    if isinstance(encoding, ChannelEncoding):
        half = encoding.delta / 2
        lo_c, hi_c = encoding.min - half, encoding.max + half
        if x.ndim <= encoding.axis or x.shape[encoding.axis] != len(encoding):
            return int(((x < lo_c.min()) | (x > hi_c.max())).sum())
        shape = [1] * x.ndim
        shape[encoding.axis] = len(encoding)
        return int(((x < lo_c.reshape(shape)) | (x > hi_c.reshape(shape))).sum())
    half = encoding.delta / 2
    return int(((x < encoding.min - half) | (x > encoding.max + half)).sum())
