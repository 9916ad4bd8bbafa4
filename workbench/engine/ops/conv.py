"""Conv and ConvTranspose over 1-D, 2-D and 3-D inputs (NC + spatial layout).

Weights are laid out once at plan time for the algorithm that will run them:

* pointwise (1x1, no padding): one GEMM per image, no im2col;
* depthwise (``group == C``): every tap is a contiguous slice of a flattened padded
  plane (stride 2: of one of its four parity planes); taps are combined by
  multiply-adds over the whole tensor, or, for small planes, gathered and reduced
  with one BLAS dot per channel;
* stride 1 with few output channels (C >= 2M, DenseNet's 128->32): one GEMM of all
  taps' weights against the padded input, then shifted adds of the small results;
* everything else: im2col into a reused buffer, then one (batched over groups) GEMM.
  Big im2col buffers are built in chunks of output rows so they stay in cache.

``resolve_padding`` is shared with the pooling operators, ``conv_attributes`` with the
integer convolutions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from workbench.engine.ops import blas
from workbench.engine.ops.registry import Kernel, OpContext, register
from workbench.engine.threads import chunk_count, gemm_blocks, parallel_chunks, split_range

# im2col buffers above this many bytes are built chunk by chunk (rows of output).
_IM2COL_CHUNK_BYTES = 4 << 20
# With more kernel taps than this, one strided copy beats a copy per tap.
_MAX_TAP_COPIES = 16
# Depthwise planes with at most this many outputs (per channel) use tap gathering
# and one BLAS dot per channel instead of whole-tensor multiply-adds.
_SMALL_PLANE = 1024
# Single-image convolutions whose column matrix is at most this big take the small
# path (``_Small``): buffers and strided views made once per input shape, one copy and
# one GEMM per call, the bias folded into the GEMM.
_SMALL_COLS_BYTES = 1 << 20
# ... and split their GEMM over the pool from this many multiply-accumulates (below,
# the hand-off costs about what the second thread saves).
_SMALL_PARALLEL_WORK = 2_000_000
# Stride-1 convs with C >= this * M output channels skip im2col: one GEMM per image
# against every tap's weights, then shifted adds of M-channel slices (see _shift).
_SHIFT_MAX_RATIO = 2


@dataclass(frozen=True)
class Padding:
    """Resolved spatial geometry for one input shape."""

    begin: tuple[int, ...]
    end: tuple[int, ...]
    out: tuple[int, ...]


def resolve_padding(
    in_shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Sequence[int] | None,
    auto_pad: str,
    ceil_mode: bool = False,
) -> Padding:
    """Pads and output size per spatial axis, as ONNX Runtime computes them."""
    nd = len(in_shape)
    pads = list(pads) if pads else [0] * (2 * nd)
    begin, end, out = [], [], []
    for i in range(nd):
        size, s, dk = in_shape[i], strides[i], (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            target = -(-size // s)
            needed = max(0, (target - 1) * s + dk - size)
            head = (needed + 1) // 2 if auto_pad == "SAME_LOWER" else needed // 2
            b, e = head, needed - head
            o = (size + needed - dk) // s + 1
        else:
            b, e = (0, 0) if auto_pad == "VALID" else (pads[i], pads[i + nd])
            span = size + b + e - dk
            if ceil_mode:
                o = -(-span // s) + 1
                # The last window must start inside the input or its left padding.
                if (o - 1) * s >= size + b:
                    o -= 1
            else:
                o = span // s + 1
        begin.append(b)
        end.append(e)
        out.append(max(o, 0))
    return Padding(tuple(begin), tuple(end), tuple(out))


def pad_spatial(
    x: np.ndarray,
    begin: Sequence[int],
    extent: Sequence[int],
    fill: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``x`` placed at ``begin`` inside an array of spatial ``extent``, the rest ``fill``.

    Parts of ``x`` past ``extent`` are dropped (windows never read them). Without
    ``out``, ``x`` itself comes back when no padding is needed.
    """
    nd = len(extent)
    lead = x.shape[: x.ndim - nd]
    spatial = x.shape[x.ndim - nd :]
    if out is None:
        if not any(begin) and all(e <= s for e, s in zip(extent, spatial, strict=True)):
            return x  # windows stay inside x: no copy
        out = np.empty(lead + tuple(extent), dtype=x.dtype)
    inner = []
    for i in range(nd):
        stop = min(begin[i] + x.shape[x.ndim - nd + i], extent[i])
        inner.append(slice(begin[i], stop))
    src = x[(Ellipsis, *(slice(0, s.stop - s.start) for s in inner))]
    # Fill only the border; the interior is overwritten right after.
    for i in range(nd):
        before = (Ellipsis, *inner[:i], slice(0, inner[i].start))
        after = (Ellipsis, *inner[:i], slice(inner[i].stop, None))
        rest = (slice(None),) * (nd - i - 1)
        out[(*before, *rest)] = fill
        out[(*after, *rest)] = fill
    out[(Ellipsis, *inner)] = src
    return out


def _tap_slices(
    offsets: Sequence[int],
    dilations: Sequence[int],
    strides: Sequence[int],
    starts: Sequence[int],
    counts: Sequence[int],
) -> tuple[slice, ...]:
    """Slices of a padded input that one kernel tap reads, for a block of outputs."""
    return tuple(
        slice(o * d + a * s, o * d + a * s + s * (n - 1) + 1, s)
        for o, d, s, a, n in zip(offsets, dilations, strides, starts, counts, strict=True)
    )


def _phase_span(
    begin: int, phase: int, phases: int, length: int, size: int
) -> tuple[slice, slice] | None:
    """Which plane positions of one parity phase hold input, and which input feeds them.

    Plane position ``r`` is padded position ``phases * r + phase``, i.e. input
    position ``phases * r + phase - begin``.
    """
    first = max(0, -(-(begin - phase) // phases))
    last = min(length, (size - 1 - phase + begin) // phases + 1)
    if last <= first:
        return None
    src = phases * first + phase - begin
    count = last - first
    return slice(first, last), slice(src, src + phases * (count - 1) + 1, phases)


def conv_attributes(ctx: Any, nd: int) -> tuple[list[int], list[int], list[int] | None, str]:
    """``(strides, dilations, pads, auto_pad)`` of a Conv-like node, ONNX defaults applied."""
    strides = list(ctx.attr("strides", None) or [1] * nd)
    dilations = list(ctx.attr("dilations", None) or [1] * nd)
    pads = ctx.attr("pads", None)
    auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    return strides, dilations, pads, auto_pad


def _shape_cache(fn: Callable[[tuple[int, ...]], Padding]) -> Callable[[tuple[int, ...]], Padding]:
    cache: dict[tuple[int, ...], Padding] = {}

    def get(shape: tuple[int, ...]) -> Padding:
        p = cache.get(shape)
        if p is None:
            p = cache[shape] = fn(shape)
        return p

    return get


# -- Conv ----------------------------------------------------------------------------


class _Conv:
    """A convolution with fixed weights, attributes and algorithm; call with the input."""

    def __init__(
        self,
        w: np.ndarray,
        bias: np.ndarray | None,
        group: int,
        strides: list[int],
        dilations: list[int],
        pads: list[int] | None,
        auto_pad: str,
        kernel_shape: list[int] | None,
        jit: Any = None,
        chain: Any = None,
    ):
        self.m, self.cg = w.shape[0], w.shape[1]
        self.jit = jit if w.dtype == np.float32 else None
        self.bias_flat = (
            np.zeros(self.m, np.float32)
            if bias is None
            else np.ascontiguousarray(np.asarray(bias, dtype=np.float32).reshape(self.m))
        )
        self.epilogue = None
        self.np_epilogue = None
        if chain is not None and self.jit is None:
            self.np_epilogue = numpy_epilogue(chain)
        elif chain is not None:
            from workbench.engine.jit import epilogue_arrays

            self.epilogue = epilogue_arrays(chain, self.m)
        self.no_acts = (np.zeros((0, 3)), 0, np.zeros(self.m, np.float32))
        self.kernel = tuple(kernel_shape or w.shape[2:])
        self.nd = len(self.kernel)
        self.group = group
        self.strides, self.dilations = strides, dilations
        self.bias = None if bias is None else np.asarray(bias).reshape(self.m, 1)
        self.geometry = _shape_cache(
            lambda s: resolve_padding(s, self.kernel, strides, dilations, pads, auto_pad)
        )
        self.taps = math.prod(self.kernel)
        self.w_full = w
        self._small: dict[tuple[tuple[int, ...], np.dtype], _Small | None] = {}
        c = self.cg * group
        if group == c and self.cg == 1 and group > 1:
            self.mode = "depthwise"
            self.mult = self.m // c
            # One weight column per (channel, tap): (M, taps).
            self.w = np.ascontiguousarray(w.reshape(self.m, self.taps))
            if self.nd == 2:
                self.w_planes = np.ascontiguousarray(w.reshape(self.m, *self.kernel))
        else:
            self.mode = "pointwise" if self.taps == 1 else "im2col"
            mg = self.m // group
            # (groups, M/g, C/g * taps): rows match im2col's (channel, tap) order.
            self.w = np.ascontiguousarray(w.reshape(group, mg, self.cg * self.taps))
            if group == 1:
                self.w = self.w[0]
            self.w_taps = None
            if group == 1 and self.nd == 2 and self.taps > 1 and strides == [1, 1]:
                if _SHIFT_MAX_RATIO * self.m <= c:
                    # (taps * M, C): one GEMM gives every tap's contribution at once.
                    self.mode = "shift"
                    self.w_taps = np.ascontiguousarray(
                        np.moveaxis(w, (2, 3), (0, 1)).reshape(self.taps * self.m, c)
                    )

    def __call__(
        self, x: np.ndarray, bias: np.ndarray | None = None, res: np.ndarray | None = None
    ) -> np.ndarray:
        if bias is None and x.dtype == self.w_full.dtype:
            small = self._small_for(x.shape, x.dtype)
            if small is not None:
                return self._finish_small(small(x), res)
        geo = self.geometry(x.shape[2:])
        if bias is not None:
            bias = np.asarray(bias, dtype=x.dtype).reshape(self.m, 1)
        else:
            bias = self.bias
        if self.jit is not None and x.dtype == np.float32:
            fast = self._compiled(x, geo, bias, res)
            if fast is not None:
                return fast
        if self.mode == "depthwise":
            out = self._depthwise(x, geo, bias)
        elif self.mode == "pointwise" and not any(geo.begin) and not any(geo.end):
            out = self._pointwise(x, geo, bias)
        elif self.mode == "shift" and self._shift_bytes(geo, x.itemsize) <= 4 * _IM2COL_CHUNK_BYTES:
            out = self._shift(x, geo, bias)
        else:
            out = self._im2col(x, geo, bias)
        if self.np_epilogue is not None:
            self.np_epilogue(out, res)
        elif self.epilogue is not None:
            self._apply_epilogue(out, None, res)
        return out

    def centered(self, q: np.ndarray, zero_point: int, dtype: type = np.float32) -> np.ndarray:
        """The convolution of ``q - zero_point`` computed in ``dtype`` (integer codes in:
        the integer kernels' accumulator over centered codes), centering while copying
        where the small path runs."""
        small = self._small_for(q.shape, np.dtype(dtype))
        if small is not None:
            return self._finish_small(small(q, zero_point), None)
        x = q.astype(dtype)
        if zero_point:
            x -= dtype(zero_point)
        return self(x)

    def _small_for(self, shape: tuple[int, ...], dtype: np.dtype) -> _Small | None:
        key = (shape, dtype)
        small = self._small.get(key, False)
        if small is False:
            small = self._small[key] = self._small_path(shape, dtype)
        return small

    def _finish_small(self, out: np.ndarray, res: np.ndarray | None) -> np.ndarray:
        if self.np_epilogue is not None:
            self.np_epilogue(out, res)
        elif self.epilogue is not None:
            self._apply_epilogue(out, None, res)
        return out

    def _small_path(self, shape: tuple[int, ...], dtype: np.dtype) -> _Small | None:
        """The small path for inputs of this shape, computing in ``dtype``, or None when
        it does not apply."""
        if len(shape) < 3 or shape[0] != 1 or dtype not in (np.float32, np.float64):
            return None
        if self.mode == "depthwise" and self.mult != 1:
            return None
        if self.jit is not None and (
            self.mode == "pointwise" or self.mode == "depthwise" and self._depthwise_jit_ok()
        ):
            return None  # the compiled kernels do it in one pass
        geo = self.geometry(shape[2:])
        if min(geo.begin) < 0 or min(geo.end) < 0 or min(geo.out) < 1:
            return None
        rows = self.cg * self.taps + 1
        limit = _SMALL_COLS_BYTES
        if self.mode == "depthwise" and not (self.nd == 2 and self.strides in ([1, 1], [2, 2])):
            limit *= 8  # the other way is a pass over the output per tap (_depthwise_strided)
        if rows * math.prod(geo.out) * self.group * dtype.itemsize > limit:
            return None
        return _Small(self, shape, dtype, geo)

    # -- compiled paths (workbench.engine.jit) ------------------------------------------

    def _compiled(
        self, x: np.ndarray, geo: Padding, bias: np.ndarray | None, res: np.ndarray | None
    ) -> np.ndarray | None:
        """The fused compiled path for this convolution, or None when it has none."""
        if min(geo.begin) < 0 or min(geo.end) < 0:
            return None
        if self.mode == "depthwise" and self._depthwise_jit_ok():
            return self._depthwise_jit(x, geo, bias, res)
        if self.mode == "pointwise" and self.group == 1 and not any(geo.begin) and not any(geo.end):
            return self._pointwise_jit(x, geo, bias, res)
        return None

    def _depthwise_jit_ok(self) -> bool:
        s, d = self.strides, self.dilations
        return self.nd == 2 and self.mult == 1 and s[0] == s[1] and s[0] in (1, 2) and d == [1, 1]

    def _bias_vector(self, bias: np.ndarray | None) -> np.ndarray:
        if bias is None or bias is self.bias:
            return self.bias_flat
        return np.ascontiguousarray(bias.reshape(self.m), dtype=np.float32)

    def _depthwise_jit(
        self, x: np.ndarray, geo: Padding, bias: np.ndarray | None, res: np.ndarray | None
    ) -> np.ndarray:
        x = np.ascontiguousarray(x)
        n = x.shape[0]
        out = np.empty((n, self.m, *geo.out), dtype=np.float32)
        acts, n_pre, slopes = self.epilogue or self.no_acts
        has_res = res is not None
        res_arr = np.ascontiguousarray(res, dtype=np.float32) if has_res else out
        b = self._bias_vector(bias)
        kernel, stride = self.jit.depthwise, self.strides[0]
        (ph, pw), planes = geo.begin, n * self.m
        work = out.size * self.taps
        chunks = split_range(planes, chunk_count(work, planes))

        def run(i: int) -> None:
            p0, p1 = chunks[i]
            kernel(x, self.w_planes, b, stride, ph, pw, out, acts, n_pre, slopes, res_arr,
                   has_res, p0, p1)  # fmt: skip

        parallel_chunks(run, len(chunks))
        return out

    def _pointwise_jit(
        self, x: np.ndarray, geo: Padding, bias: np.ndarray | None, res: np.ndarray | None
    ) -> np.ndarray:
        n, c = x.shape[:2]
        picked = tuple(
            slice(0, s * (o - 1) + 1, s) for s, o in zip(self.strides, geo.out, strict=True)
        )
        x = np.ascontiguousarray(x[(slice(None), slice(None), *picked)])
        length = math.prod(geo.out)
        xf = x.reshape(n, c, length)
        out = np.empty((n, self.m, *geo.out), dtype=np.float32)
        y = out.reshape(n, self.m, length)
        res3 = None if res is None else np.ascontiguousarray(res).reshape(n, self.m, length)
        tasks = gemm_blocks(n, self.m, length, self.m * c * length)
        w, b = self.w, self._bias_vector(bias)
        if len(tasks) == 1:
            blas_out = y[0] if n == 1 else y
            np.matmul(w, xf[0] if n == 1 else xf, out=blas_out)
            _epilogue_block(self.jit, y, b, self.epilogue, res3, 0, 0, self.m, 0, length, n)
            return out
        ep = self.epilogue or self.no_acts
        jit = self.jit

        def run(i: int) -> None:
            img, r0, r1, j0, j1 = tasks[i]
            np.matmul(w[r0:r1], xf[img, :, j0:j1], out=y[img, r0:r1, j0:j1])
            _epilogue_block(jit, y, b, ep, res3, img, r0, r1, j0, j1)

        parallel_chunks(run, len(tasks))
        return out

    def _apply_epilogue(self, out: np.ndarray, bias: np.ndarray | None, res: np.ndarray | None):
        """The chain on a finished output (bias already added unless given)."""
        n = out.shape[0]
        y = out.reshape(n, self.m, -1)
        res3 = None if res is None else np.ascontiguousarray(res).reshape(y.shape)
        b = np.zeros(self.m, np.float32) if bias is None else bias
        tasks = gemm_blocks(n, self.m, y.shape[2], y.size * 4)
        jit, ep = self.jit, self.epilogue

        def run(i: int) -> None:
            img, r0, r1, j0, j1 = tasks[i]
            _epilogue_block(jit, y, b, ep, res3, img, r0, r1, j0, j1)

        parallel_chunks(run, len(tasks))

    def _shift_bytes(self, geo: Padding, itemsize: int) -> int:
        """Size of the all-taps GEMM result of one image (``_shift``)."""
        (oh, ow), (kh, kw), (dh, dw) = geo.out, self.kernel, self.dilations
        return self.taps * self.m * (oh + (kh - 1) * dh + 1) * (ow + (kw - 1) * dw) * itemsize

    def _finish(self, out: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        if bias is not None:
            flat = out.reshape(out.shape[0], self.m, -1)
            np.add(flat, bias, out=flat)
        return out

    def _pointwise(self, x: np.ndarray, geo: Padding, bias: np.ndarray | None) -> np.ndarray:
        n, c = x.shape[:2]
        picked = tuple(
            slice(0, s * (o - 1) + 1, s) for s, o in zip(self.strides, geo.out, strict=True)
        )
        x = np.ascontiguousarray(x[(slice(None), slice(None), *picked)])
        length = math.prod(geo.out)
        out = np.empty((n, self.m, *geo.out), dtype=x.dtype)
        if self.group == 1:
            if n == 1:
                blas.matmul(self.w, x.reshape(c, length), out=out.reshape(self.m, length))
            else:
                np.matmul(self.w, x.reshape(n, c, length), out=out.reshape(n, self.m, length))
        else:
            g = self.group
            np.matmul(
                self.w,
                x.reshape(n, g, self.cg, length),
                out=out.reshape(n, g, self.m // g, length),
            )
        return self._finish(out, bias)

    def _im2col(self, x: np.ndarray, geo: Padding, bias: np.ndarray | None) -> np.ndarray:
        n, c = x.shape[:2]
        kernel, strides, dilations = self.kernel, self.strides, self.dilations
        extent = [
            (o - 1) * s + (k - 1) * d + 1
            for o, s, k, d in zip(geo.out, strides, kernel, dilations, strict=True)
        ]
        xp = pad_spatial(x, geo.begin, extent)
        out = np.empty((n, self.m, *geo.out), dtype=x.dtype)
        rest = math.prod(geo.out[1:])
        length = geo.out[0] * rest
        k_total = c * self.taps
        rows = max(1, min(geo.out[0], _IM2COL_CHUNK_BYTES // max(1, k_total * rest * 4)))
        work = n * self.m * k_total * length // self.group
        # Enough row chunks for the pool too; each chunk fills its own column buffer.
        per_image = -(-geo.out[0] // rows)
        wanted = chunk_count(work, n * geo.out[0])
        if n * per_image < wanted:
            rows = max(1, -(-geo.out[0] // -(-wanted // n)))
            per_image = -(-geo.out[0] // rows)
        tasks = [(b, r0) for b in range(n) for r0 in range(0, geo.out[0], rows)]
        g, mg = self.group, self.m // self.group

        def run(i: int) -> None:
            b, r0 = tasks[i]
            cnt = min(rows, geo.out[0] - r0)
            cols = np.empty((c, *kernel, cnt, *geo.out[1:]), dtype=x.dtype)
            starts = (r0,) + (0,) * (self.nd - 1)
            counts = (cnt, *geo.out[1:])
            self._fill_cols(xp[b], cols, starts, counts)
            cols2 = cols.reshape(g, self.cg * self.taps, cnt * rest)
            dst = out[b].reshape(g, mg, length)[:, :, r0 * rest : (r0 + cnt) * rest]
            if g == 1:
                np.matmul(self.w, cols2[0], out=dst[0])
            else:
                np.matmul(self.w, cols2, out=dst)

        parallel_chunks(run, len(tasks))
        return self._finish(out, bias)

    def _shift(self, x: np.ndarray, geo: Padding, bias: np.ndarray | None) -> np.ndarray:
        """Few output channels, stride 1: GEMM the padded input once per image against
        every tap's weights, then add the taps' shifted slices (no im2col copy)."""
        n, c = x.shape[:2]
        (oh, ow), (kh, kw), (dh, dw) = geo.out, self.kernel, self.dilations
        ph, pw = oh + (kh - 1) * dh, ow + (kw - 1) * dw
        span, m = oh * pw, self.m
        out = np.empty((n, m, oh, ow), dtype=x.dtype)
        plane = np.empty((c, ph + 1, pw), dtype=x.dtype)
        plane[:, ph] = 0  # slack row: the last taps' flat slices run past the image
        offsets = [i * dh * pw + j * dw for i in range(kh) for j in range(kw)]
        for b in range(n):
            pad_spatial(x[b], geo.begin, (ph, pw), out=plane[:, :ph])
            y = np.matmul(self.w_taps, plane.reshape(c, -1)).reshape(len(offsets), m, -1)
            acc = np.add(
                y[0, :, offsets[0] : offsets[0] + span], y[1, :, offsets[1] : offsets[1] + span]
            )
            for t in range(2, len(offsets)):
                np.add(acc, y[t, :, offsets[t] : offsets[t] + span], out=acc)
            cropped = acc.reshape(m, oh, pw)[:, :, :ow]
            if bias is not None:
                np.add(cropped, bias.reshape(m, 1, 1), out=out[b])
            else:
                np.copyto(out[b], cropped)
        return out

    def _fill_cols(
        self, xp: np.ndarray, cols: np.ndarray, starts: tuple[int, ...], counts: tuple[int, ...]
    ) -> None:
        kernel, strides, dilations = self.kernel, self.strides, self.dilations
        if self.taps <= _MAX_TAP_COPIES:
            for offs in itertools.product(*(range(k) for k in kernel)):
                src = xp[(slice(None), *_tap_slices(offs, dilations, strides, starts, counts))]
                cols[(slice(None), *offs)] = src
            return
        origin = xp[
            (slice(None), *(slice(a * s, None) for a, s in zip(starts, strides, strict=True)))
        ]
        st = origin.strides
        view = as_strided(
            origin,
            shape=cols.shape,
            strides=(
                st[0],
                *(st[1 + i] * dilations[i] for i in range(self.nd)),
                *(st[1 + i] * strides[i] for i in range(self.nd)),
            ),
            writeable=False,
        )
        np.copyto(cols, view)

    def _depthwise(self, x: np.ndarray, geo: Padding, bias: np.ndarray | None) -> np.ndarray:
        if self.mult > 1:
            # Output channel m reads input channel m // mult.
            x = np.repeat(x, self.mult, axis=1)
        if self.nd == 2 and self.strides == [1, 1]:
            return self._depthwise_planes(x, geo, bias, phases=1)
        if self.nd == 2 and self.strides == [2, 2] and self.dilations == [1, 1]:
            return self._depthwise_planes(x, geo, bias, phases=2)
        return self._depthwise_strided(x, geo, bias)

    def _depthwise_strided(
        self, x: np.ndarray, geo: Padding, bias: np.ndarray | None
    ) -> np.ndarray:
        n, m = x.shape[:2]
        kernel, strides, dilations, out_shape = self.kernel, self.strides, self.dilations, geo.out
        extent = [
            (o - 1) * s + (k - 1) * d + 1
            for o, s, k, d in zip(out_shape, strides, kernel, dilations, strict=True)
        ]
        xp = pad_spatial(x, geo.begin, extent)
        out = np.empty((n, m, *out_shape), dtype=x.dtype)
        tmp = np.empty_like(out)
        wshape = (m,) + (1,) * self.nd
        zero = (0,) * self.nd
        for t, offs in enumerate(itertools.product(*(range(k) for k in kernel))):
            src = xp[
                (slice(None), slice(None), *_tap_slices(offs, dilations, strides, zero, out_shape))
            ]
            wt = self.w[:, t].reshape(wshape)
            if t == 0:
                np.multiply(src, wt, out=out)
            else:
                np.multiply(src, wt, out=tmp)
                np.add(out, tmp, out=out)
        if bias is not None:
            np.add(out, bias.reshape(wshape), out=out)
        return out

    def _depthwise_planes(
        self, x: np.ndarray, geo: Padding, bias: np.ndarray | None, phases: int
    ) -> np.ndarray:
        """Every tap as a contiguous slice of a flattened padded plane.

        Outputs are computed on the plane's full width and cropped at the end. With
        stride 2 the padded image is first split into its four (row, column) parity
        planes, so each tap is again a stride-1 shift of one of them.
        """
        n, m = x.shape[:2]
        (oh, ow), (kh, kw), (dh, dw) = geo.out, self.kernel, self.dilations
        # Plane size: output grid plus the reach of the kernel, plus one slack row so
        # the last taps' flat slices stay in bounds.
        ph, pw = oh + ((kh - 1) * dh) // phases, ow + ((kw - 1) * dw) // phases
        if phases == 1:
            planes = np.empty((1, 1, n, m, ph + 1, pw), dtype=x.dtype)
            planes[:, :, :, :, ph] = 0
            pad_spatial(x, geo.begin, (ph, pw), out=planes[0, 0, :, :, :ph])
        else:
            planes = np.zeros((phases, phases, n, m, ph + 1, pw), dtype=x.dtype)
            for a in range(phases):
                for b in range(phases):
                    rows = _phase_span(geo.begin[0], a, phases, ph, x.shape[2])
                    cols = _phase_span(geo.begin[1], b, phases, pw, x.shape[3])
                    if rows is not None and cols is not None:
                        planes[a, b, :, :, rows[0], cols[0]] = x[:, :, rows[1], cols[1]]
        flat = planes.reshape(phases, phases, n, m, (ph + 1) * pw)
        taps = [
            (
                flat[(i * dh) % phases, (j * dw) % phases],
                (i * dh) // phases * pw + (j * dw) // phases,
            )
            for i in range(kh)
            for j in range(kw)
        ]
        span = oh * pw
        gathered_bytes = m * len(taps) * span * x.itemsize
        if n == 1 and span <= _SMALL_PLANE and gathered_bytes <= _IM2COL_CHUNK_BYTES * 2:
            acc = self._taps_by_gemv(taps, span, m, x.dtype)
        else:
            acc = self._taps_by_multiply_add(taps, span, n, m, x.dtype)
        cropped = acc.reshape(n, m, oh, pw)[:, :, :, :ow]
        out = np.empty((n, m, oh, ow), dtype=x.dtype)
        if bias is not None:
            np.add(cropped, bias.reshape(m, 1, 1), out=out)
        else:
            np.copyto(out, cropped)
        return out

    def _taps_by_multiply_add(self, taps, span: int, n: int, m: int, dtype) -> np.ndarray:
        acc = np.empty((n, m, span), dtype=dtype)
        tmp = np.empty_like(acc)
        for t, (plane, off) in enumerate(taps):
            wt = self.w[:, t : t + 1]
            if t == 0:
                np.multiply(plane[:, :, off : off + span], wt, out=acc)
            else:
                np.multiply(plane[:, :, off : off + span], wt, out=tmp)
                np.add(acc, tmp, out=acc)
        return acc

    def _taps_by_gemv(self, taps, span: int, m: int, dtype) -> np.ndarray:
        # Small planes: ufunc calls per channel row dominate the multiply-adds, so
        # gather the taps (plain row copies) and let BLAS do one dot per channel.
        cols = np.empty((m, len(taps), span), dtype=dtype)
        for t, (plane, off) in enumerate(taps):
            cols[:, t] = plane[0, :, off : off + span]
        return np.matmul(self.w[:, None, :], cols).reshape(1, m, span)


class _Small:
    """A single-image convolution on one input shape, with everything made once.

    The padded input and the column matrix are buffers kept across calls (a spare
    set is made when a call finds them in use, e.g. on another thread); the columns
    are one strided view of the padded input, copied in one call; a last row of
    ones in them and the bias as a last weight column fold the bias into the GEMM
    (depthwise: one small product per channel). Each call allocates only its output.
    """

    def __init__(self, conv: _Conv, shape: tuple[int, ...], dtype: np.dtype, geo: Padding):
        self.dtype, self.shape = dtype, shape
        c, spatial = shape[1], shape[2:]
        nd, kernel = conv.nd, conv.kernel
        self.extent = tuple(
            (o - 1) * s + (k - 1) * d + 1
            for o, s, k, d in zip(geo.out, conv.strides, kernel, conv.dilations, strict=True)
        )
        stops = [min(b + n, e) for b, n, e in zip(geo.begin, spatial, self.extent, strict=True)]
        self.dst = (slice(None), *(slice(b, e) for b, e in zip(geo.begin, stops, strict=True)))
        self.src = (
            0,
            slice(None),
            *(slice(0, e - b) for b, e in zip(geo.begin, stops, strict=True)),
        )
        self.out_shape = (1, conv.m, *geo.out)
        length = math.prod(geo.out)
        g = conv.group
        self.depthwise = conv.mode == "depthwise"
        self.kshape = (g, c // g, *kernel, *geo.out)
        self.strides = (conv.strides, conv.dilations, nd)
        rows = (c // g) * conv.taps
        # Weights with the bias as a last column: (g, M/g, rows + 1).
        w = conv.w_full.reshape(g, conv.m // g, rows).astype(dtype)
        bias = (
            np.zeros((g, conv.m // g, 1), dtype)
            if conv.bias is None
            else (np.asarray(conv.bias, dtype).reshape(g, conv.m // g, 1))
        )
        self.w = np.ascontiguousarray(np.concatenate([w, bias], axis=2))
        if g == 1:
            self.w = self.w[0]
        self.cols_shape = (g, rows + 1, length) if g > 1 else (rows + 1, length)
        self.gemm_out = (g, conv.m // g, length) if g > 1 else (conv.m, length)
        self.work, self.length = conv.m * (rows + 1) * length, length
        self._spare: list[tuple[np.ndarray, ...]] = [self._buffers()]

    def _buffers(self) -> tuple[np.ndarray, ...]:
        padded = np.zeros((self.shape[1], *self.extent), self.dtype)
        cols = np.empty(self.cols_shape, self.dtype)
        cols3 = cols.reshape(-1, *cols.shape[-2:])
        cols3[:, -1] = 1.0  # the bias row
        (strides, dilations, nd) = self.strides
        st = padded.strides
        g, cg = self.kshape[:2]
        view = as_strided(
            padded,
            shape=self.kshape,
            strides=(
                cg * st[0],
                st[0],
                *(st[1 + i] * dilations[i] for i in range(nd)),
                *(st[1 + i] * strides[i] for i in range(nd)),
            ),
            writeable=False,
        )
        target = cols3[:, :-1].reshape(self.kshape)
        if not np.shares_memory(target, cols):
            raise AssertionError("the column view is a copy")
        return padded, view, target, cols

    def __call__(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        """The convolution of ``x - offset`` (``offset``: integer codes' zero point)."""
        try:
            bufs = self._spare.pop()
        except IndexError:
            bufs = self._buffers()
        padded, view, target, cols = bufs
        if offset:
            np.subtract(x[self.src], offset, out=padded[self.dst], dtype=self.dtype)
        else:
            padded[self.dst] = x[self.src]
        np.copyto(target, view)
        out = np.empty(self.out_shape, self.dtype)
        y = out.reshape(self.gemm_out)
        parts = (
            1 if self.work < _SMALL_PARALLEL_WORK else chunk_count(self.work, self.length // 128)
        )
        if parts == 1:
            np.matmul(self.w, cols, out=y)
        else:
            blocks = split_range(self.length, parts)
            w = self.w

            def run(i: int) -> None:
                j0, j1 = blocks[i]
                np.matmul(w, cols[..., j0:j1], out=y[..., j0:j1])

            parallel_chunks(run, len(blocks))
        self._spare.append(bufs)
        return out


def numpy_epilogue(chain: Any) -> Callable[[np.ndarray, np.ndarray | None], None]:
    """A fusion ``Chain`` of ``NUMPY_KINDS`` applied in place with numpy (no compiled
    kernels): each activation one pass over the fresh output, the residual added."""

    def act(a: Any) -> Callable[[np.ndarray], None]:
        if a.kind == "Relu":
            # In place, the ufunc without ``clip``'s Python wrapper is as fast up to here.
            return lambda y: (
                np.maximum(y, 0, out=y) if y.size < 65536 else y.clip(0.0, np.inf, out=y)
            )
        if a.kind == "Clip":
            lo, hi = a.a, a.b
            return lambda y: y.clip(lo, hi, out=y)
        raise ValueError(f"no numpy epilogue for {a.kind}")

    pre = [act(a) for a in chain.pre]
    post = [act(a) for a in chain.post]

    def apply(y: np.ndarray, res: np.ndarray | None) -> None:
        for f in pre:
            f(y)
        if res is not None:
            np.add(y, res, out=y)
        for f in post:
            f(y)

    return apply


def _epilogue_block(jit, y, bias, ep, res3, img, r0, r1, j0, j1, images: int = 1) -> None:
    acts, n_pre, slopes = ep if ep is not None else (_NO_ACTS, 0, np.zeros(y.shape[1], np.float32))
    has_res = res3 is not None
    jit.epilogue(y, bias, acts, n_pre, slopes, res3 if has_res else y, has_res,
                 img, img + images, r0, r1, j0, j1)  # fmt: skip


_NO_ACTS = np.zeros((0, 3))


def constant_conv(ctx: OpContext, w: np.ndarray, bias: np.ndarray | None, chain=None) -> _Conv:
    """The convolution of a Conv node with weights ``w`` and ``bias`` fixed: called on an
    input it returns the output; its ``centered`` is the integer kernels' accumulation."""
    strides, dilations, pads, auto_pad = conv_attributes(ctx, w.ndim - 2)
    group = int(ctx.attr("group", 1))
    kernel_shape = ctx.attr("kernel_shape", None)
    return _Conv(w, bias, group, strides, dilations, pads, auto_pad, kernel_shape, ctx.jit, chain)


@register("Conv")
def conv(ctx: OpContext) -> Kernel:
    w = ctx.const(1)
    bias = ctx.const(2) if ctx.has_input(2) else None

    def build(weights: np.ndarray, b: np.ndarray | None, chain=None) -> _Conv:
        return constant_conv(ctx, weights, b, chain)

    if w is not None and ctx.chain is not None:
        # Fused (``workbench.engine.fusion``): the last extra input is the residual.
        impl = build(w, bias, ctx.chain)
        if ctx.chain.residual:
            return lambda x, *rest: (impl(x, None, rest[-1]),)
        return lambda x, *_: (impl(x),)
    if w is not None:
        impl = build(w, bias)
        if bias is not None or not ctx.has_input(2):
            return lambda x, _w=None, _b=None: (impl(x),)
        return lambda x, _w, b: (impl(x, b),)

    def run(x: np.ndarray, weights: np.ndarray, b: np.ndarray | None = None):
        return (build(weights, None)(x, b),)

    return run


# -- ConvTranspose -----------------------------------------------------------------------


class _ConvTranspose:
    """GEMM to columns (one per kernel tap and input pixel), then a strided scatter-add."""

    def __init__(self, w: np.ndarray, bias: np.ndarray | None, ctx: OpContext):
        self.cin, self.mg = w.shape[0], w.shape[1]
        self.kernel = tuple(ctx.attr("kernel_shape", None) or w.shape[2:])
        self.nd = nd = len(self.kernel)
        self.group = g = int(ctx.attr("group", 1))
        self.m = self.mg * g
        self.taps = math.prod(self.kernel)
        self.strides, self.dilations, self.pads, self.auto_pad = conv_attributes(ctx, nd)
        self.output_padding = list(ctx.attr("output_padding", None) or [0] * nd)
        self.output_shape = ctx.attr("output_shape", None)
        cg = self.cin // g
        # (g, M/g * taps, C/g): columns come out in (out channel, tap) order.
        wt = w.reshape(g, cg, self.mg * self.taps).transpose(0, 2, 1)
        self.w = np.ascontiguousarray(wt)
        self.bias = None if bias is None else np.asarray(bias).reshape(self.m, 1)
        self.geometry = _shape_cache(self._geometry)

    def _geometry(self, in_shape: tuple[int, ...]) -> Padding:
        nd = self.nd
        pads = list(self.pads) if self.pads else [0] * (2 * nd)
        out_shape = self.output_shape
        if out_shape is not None and len(out_shape) > nd:
            out_shape = out_shape[-nd:]
        begin, end, out = [], [], []
        for i in range(nd):
            s, d, k, op = self.strides[i], self.dilations[i], self.kernel[i], self.output_padding[i]
            full = s * (in_shape[i] - 1) + op + (k - 1) * d + 1
            if out_shape is not None or self.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                if out_shape is not None:
                    target, total = out_shape[i], full - out_shape[i]
                else:
                    # SAME aims at in * stride but, like ORT, never pads negatively.
                    total = max(0, full - in_shape[i] * s)
                    target = full - total
                if self.auto_pad == "SAME_UPPER":
                    b = total // 2
                else:
                    b = total - total // 2
                e = total - b
                o = target
            else:
                b, e = (0, 0) if self.auto_pad == "VALID" else (pads[i], pads[i + nd])
                o = full - b - e
            begin.append(b)
            end.append(e)
            out.append(o)
        return Padding(tuple(begin), tuple(end), tuple(out))

    def __call__(self, x: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        n, c = x.shape[:2]
        in_sp = x.shape[2:]
        geo = self.geometry(in_sp)
        g, nd = self.group, self.nd
        length = math.prod(in_sp)
        cols = np.matmul(self.w, x.reshape(n, g, c // g, length))
        cols = cols.reshape(n, self.m, *self.kernel, *in_sp)
        # Scatter into a canvas that covers both the full result and the crop window.
        lo = [min(0, b) for b in geo.begin]
        full = [
            s * (i - 1) + (k - 1) * d + 1
            for s, i, k, d in zip(self.strides, in_sp, self.kernel, self.dilations, strict=True)
        ]
        hi = [max(f, b + o) for f, b, o in zip(full, geo.begin, geo.out, strict=True)]
        canvas = np.zeros((n, self.m, *(h - low for h, low in zip(hi, lo, strict=True))), x.dtype)
        zero = (0,) * nd
        for offs in itertools.product(*(range(k) for k in self.kernel)):
            sl = _tap_slices(offs, self.dilations, self.strides, zero, in_sp)
            sl = tuple(
                slice(s.start - low, s.stop - low, s.step) for s, low in zip(sl, lo, strict=True)
            )
            dst = canvas[(slice(None), slice(None), *sl)]
            np.add(dst, cols[(slice(None), slice(None), *offs)], out=dst)
        crop = canvas[
            (
                slice(None),
                slice(None),
                *(
                    slice(b - low, b - low + o)
                    for b, low, o in zip(geo.begin, lo, geo.out, strict=True)
                ),
            )
        ]
        bias = self.bias if bias is None else np.asarray(bias, dtype=x.dtype).reshape(self.m, 1)
        out = np.empty(crop.shape, dtype=x.dtype)
        if bias is not None:
            np.add(crop, bias.reshape((self.m,) + (1,) * nd), out=out)
        else:
            np.copyto(out, crop)
        return out


@register("ConvTranspose")
def conv_transpose(ctx: OpContext) -> Kernel:
    w = ctx.const(1)
    bias = ctx.const(2) if ctx.has_input(2) else None
    if w is not None:
        impl = _ConvTranspose(w, bias, ctx)
        if bias is not None or not ctx.has_input(2):
            return lambda x, _w=None, _b=None: (impl(x),)
        return lambda x, _w, b: (impl(x, b),)

    def run(x: np.ndarray, weights: np.ndarray, b: np.ndarray | None = None):
        return (_ConvTranspose(weights, None, ctx)(x, b),)

    return run
