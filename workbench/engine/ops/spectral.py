"""Spectral operators: DFT and STFT (ONNX opset 17+).

Signals carry their complex parts in a trailing axis of size 1 (real) or 2 (real,
imaginary), as ONNX defines; outputs always have the trailing pair. The transforms run
in float64 through ``numpy.fft`` and are cast back to the input's type (ONNX Runtime
computes in float32: the two agree to float32 rounding). Windowed frames are a strided
view of the signal, so one FFT call transforms every frame of the batch.
"""

from __future__ import annotations

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register


def _complex(x: np.ndarray, what: str) -> np.ndarray:
    """The complex signal of an ONNX real-representation tensor (trailing axis 1 or 2)."""
    if x.shape[-1] == 1:
        return x[..., 0].astype(np.float64)
    if x.shape[-1] == 2:
        return x[..., 0].astype(np.float64) + 1j * x[..., 1].astype(np.float64)
    raise ValueError(f"{what}: the last axis must be 1 (real) or 2 (complex), got {x.shape}")


def _pair(z: np.ndarray, dtype: np.dtype) -> np.ndarray:
    out = np.empty((*z.shape, 2), dtype=dtype)
    out[..., 0] = z.real
    out[..., 1] = z.imag
    return out


def _scalar(v: np.ndarray | None) -> int | None:
    return None if v is None else int(np.asarray(v).reshape(-1)[0])


def _dft(x: np.ndarray, length: int | None, axis: int, inverse: bool, onesided: bool) -> np.ndarray:
    if not -x.ndim <= axis < x.ndim - 1 or axis == -1:
        raise ValueError(f"axis {axis} is not a signal axis of a rank-{x.ndim} input")
    axis %= x.ndim
    if inverse and onesided:  # one-sided spectrum -> real signal (as onnx.reference)
        n = length if length is not None else 2 * (x.shape[axis] - 1)
        real = np.fft.irfft(_complex(x, "DFT"), n=n, axis=axis)
        return real[..., None].astype(x.dtype)
    n = length if length is not None else x.shape[axis]
    signal = _complex(x, "DFT")
    if inverse:
        z = np.fft.ifft(signal, n=n, axis=axis)
    elif onesided and x.shape[-1] == 1:
        z = np.fft.rfft(signal, n=n, axis=axis)
    else:
        z = np.fft.fft(signal, n=n, axis=axis)
        if onesided:
            z = np.take(z, np.arange(n // 2 + 1), axis=axis)
    return _pair(z, x.dtype)


@register("DFT")
def dft(ctx: OpContext) -> Kernel:
    inverse = bool(ctx.attr("inverse", 0))
    onesided = bool(ctx.attr("onesided", 0))
    if ctx.opset < 20:
        axis_attr = int(ctx.attr("axis", 1))

        def run17(x: np.ndarray, length: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
            try:
                return (_dft(x, _scalar(length), axis_attr, inverse, onesided),)
            except ValueError as exc:
                raise ctx.fail(str(exc)) from None

        return run17

    def run20(
        x: np.ndarray, length: np.ndarray | None = None, axis: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        ax = -2 if axis is None else _scalar(axis)
        try:
            return (_dft(x, _scalar(length), ax, inverse, onesided),)
        except ValueError as exc:
            raise ctx.fail(str(exc)) from None

    return run20


def _stft(
    x: np.ndarray,
    step: int,
    window: np.ndarray | None,
    frame_length: int | None,
    onesided: bool,
) -> np.ndarray:
    if x.ndim == 2:  # [batch, length]: a real signal without its trailing axis
        x = x[..., None]
    if x.ndim != 3:
        raise ValueError(f"STFT: the signal must be [batch, length, 1 or 2], got {x.shape}")
    if frame_length is None:
        frame_length = window.shape[0] if window is not None else x.shape[1]
    if window is not None and window.shape[0] != frame_length:
        raise ValueError(
            f"STFT: window length {window.shape[0]} differs from frame_length {frame_length}"
        )
    if step <= 0 or frame_length <= 0 or frame_length > x.shape[1]:
        raise ValueError(
            f"STFT: frame_step {step} / frame_length {frame_length} do not fit a signal "
            f"of {x.shape[1]} samples"
        )
    signal = _complex(x, "STFT")  # [batch, length]
    frames = np.lib.stride_tricks.sliding_window_view(signal, frame_length, axis=1)[:, ::step]
    if window is not None:
        frames = frames * window.astype(np.float64)
    if onesided and x.shape[-1] == 1:
        z = np.fft.rfft(frames, axis=-1)
    else:
        z = np.fft.fft(frames, axis=-1)
        if onesided:
            z = z[..., : frame_length // 2 + 1]
    return _pair(z, x.dtype)  # [batch, frames, bins, 2]


@register("STFT")
def stft(ctx: OpContext) -> Kernel:
    onesided = bool(ctx.attr("onesided", 1))

    def run(
        x: np.ndarray,
        step: np.ndarray,
        window: np.ndarray | None = None,
        length: np.ndarray | None = None,
    ) -> tuple[np.ndarray, ...]:
        try:
            return (_stft(x, _scalar(step), window, _scalar(length), onesided),)
        except ValueError as exc:
            raise ctx.fail(str(exc)) from None

    return run
