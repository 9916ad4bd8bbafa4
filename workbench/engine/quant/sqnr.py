"""Accuracy metrics between a reference tensor and a test (quantized) one.

All computed in float64 over the flattened tensors, which must have one shape.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.errors import BadInput


def _pair(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(ref, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if ref.shape != test.shape:
        raise BadInput(f"cannot compare tensors of shapes {ref.shape} and {test.shape}")
    return ref.reshape(-1), test.reshape(-1)


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """``10 * log10(sum(ref**2) / sum((ref - test)**2))`` in dB.

    ``+inf`` when test equals ref (no noise, including both all-zero); ``-inf``
    when ref is all zeros but test is not (no signal, some noise).
    """
    ref, test = _pair(ref, test)
    noise = float(np.sum(np.square(ref - test)))
    if noise == 0.0:
        return math.inf
    signal = float(np.sum(np.square(ref)))
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; 1.0 when both are all zeros, 0.0 when only one is."""
    a, b = _pair(a, b)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


def max_abs_err(ref: np.ndarray, test: np.ndarray) -> float:
    """The largest ``|ref - test|`` (0.0 for empty tensors)."""
    ref, test = _pair(ref, test)
    return float(np.max(np.abs(ref - test))) if ref.size else 0.0


def rmse_over_scale(ref: np.ndarray, test: np.ndarray, delta: float) -> float:
    """RMS error in units of the quantization step.

    Healthy uniform rounding noise gives ``1/sqrt(12) ~= 0.289``; well above it
    means clipping or an offset, well below it that few values were rounded.
    """
    if not delta > 0:
        raise BadInput(f"quantization step must be positive, got {delta}")
    ref, test = _pair(ref, test)
    if ref.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(ref - test)))) / float(delta)
