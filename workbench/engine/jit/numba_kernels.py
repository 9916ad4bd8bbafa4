"""The numba kernels themselves. Imported only through ``workbench.engine.jit.kernels()``.

Every kernel works on one contiguous range of (image, channel) planes or of GEMM
columns, so the engine's pool can run ranges side by side (``nogil``), and writes its
results once: a convolution's bias, activations, residual add and, in the integer path,
requantization and lookup tables happen on a cache-resident row before it is stored.

Epilogues (float): ``acts`` is a float64 array of rows ``(code, a, b)``; the first
``n_pre`` rows apply before the residual add, the rest after it. Codes are ``ACT_*``
below; ``slopes`` holds PRelu's per-channel slopes (code ``ACT_PRELU``).

Integer epilogue: ``y = acc * real_q[c] + (zp + 0.5)``, clipped to ``[qmin, qmax]`` and
truncated, exactly as ``requant.Requantizer``'s fast path computes it in float64 (no
fast-math here: the product is exact there, and nothing may be reassociated); or, when
that path is not proven exact, the int64 formula with multiplier and shift. The code
then goes through ``table`` when one is given (a fused one-input function).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from workbench.engine.jit.codes import ACT_CODES

ACT_RELU = ACT_CODES["Relu"]
ACT_CLIP = ACT_CODES["Clip"]
ACT_HARDSWISH = ACT_CODES["HardSwish"]
ACT_HARDSIGMOID = ACT_CODES["HardSigmoid"]
ACT_SIGMOID = ACT_CODES["Sigmoid"]
ACT_SILU = ACT_CODES["SiLU"]
ACT_LEAKY = ACT_CODES["LeakyRelu"]
ACT_PRELU = ACT_CODES["PRelu"]
ACT_TANH = ACT_CODES["Tanh"]
ACT_AFFINE = ACT_CODES["Affine"]

# contract (FMA) and no signed zeros / reciprocal tricks; NaN and Inf keep their meaning.
_FAST = {"contract", "nsz", "arcp"}
_OPTS = dict(cache=True, nogil=True, boundscheck=False, error_model="numpy")


@njit(fastmath=_FAST, **_OPTS)
def _act_row(row, n, code, a64, b64, slope):
    # Everything in the row's own float32: a float64 constant would widen every element.
    a, b = np.float32(a64), np.float32(b64)
    zero, one = np.float32(0.0), np.float32(1.0)
    if code == ACT_RELU:
        for i in range(n):
            v = row[i]
            row[i] = zero if v < zero else v
    elif code == ACT_CLIP:
        for i in range(n):
            v = row[i]
            row[i] = a if v < a else (b if v > b else v)
    elif code == ACT_HARDSWISH:
        for i in range(n):
            v = row[i]
            t = v * a + b
            t = zero if t < zero else (one if t > one else t)
            row[i] = v * t
    elif code == ACT_HARDSIGMOID:
        for i in range(n):
            t = row[i] * a + b
            row[i] = zero if t < zero else (one if t > one else t)
    elif code == ACT_SIGMOID:
        lim = np.float32(-88.0)
        for i in range(n):
            v = row[i]
            v = lim if v < lim else v
            row[i] = one / (one + np.exp(-v))
    elif code == ACT_SILU:
        lim = np.float32(-88.0)
        for i in range(n):
            v = row[i]
            u = lim if v < lim else v
            row[i] = v / (one + np.exp(-u))
    elif code == ACT_LEAKY or code == ACT_PRELU:
        s = a if code == ACT_LEAKY else np.float32(slope)
        for i in range(n):
            v = row[i]
            row[i] = v * s if v < zero else v
    elif code == ACT_TANH:
        for i in range(n):
            row[i] = np.tanh(row[i])
    elif code == ACT_AFFINE:
        for i in range(n):
            row[i] = row[i] * a + b


@njit(fastmath=_FAST, **_OPTS)
def _epilogue_row(row, n, c, acts, n_pre, slopes, res_row, has_res):
    """Activations, residual add, activations on one row of channel ``c`` (in place)."""
    for k in range(n_pre):
        _act_row(row, n, int(acts[k, 0]), acts[k, 1], acts[k, 2], slopes[c])
    if has_res:
        for i in range(n):
            row[i] += res_row[i]
        for k in range(n_pre, acts.shape[0]):
            _act_row(row, n, int(acts[k, 0]), acts[k, 1], acts[k, 2], slopes[c])


@njit(fastmath=_FAST, **_OPTS)
def epilogue(y, bias, acts, n_pre, slopes, res, has_res, b0, b1, c0, c1, j0, j1):
    """In place on ``y[b0:b1, c0:c1, j0:j1]`` (N, M, L): bias, then the activation chain."""
    for b in range(b0, b1):
        for c in range(c0, c1):
            row = y[b, c, j0:j1]
            bc = bias[c]
            if bc != 0.0:
                for i in range(j1 - j0):
                    row[i] += bc
            res_row = res[b, c, j0:j1] if has_res else row
            _epilogue_row(row, j1 - j0, c, acts, n_pre, slopes, res_row, has_res)


# -- integer requantization --------------------------------------------------------------


@njit(**_OPTS)
def _requant_row(acc, n, bias, rq, zp_half, qmin, qmax, mult, shift, fast, table, has_table, out):
    """Codes of ``acc + bias`` (float32: exact, both are integers below 2**24)."""
    if fast and has_table and (qmax <= 255.0 or out.itemsize >= 2):
        # Codes first (a loop that vectorizes), then the table (a gather) over them;
        # ``out`` holds the codes in between (the guard: they fit its dtype).
        for i in range(n):
            v = np.float64(acc[i] + bias) * rq + zp_half
            v = qmin if v < qmin else (qmax if v > qmax else v)
            out[i] = np.int64(v)
        for i in range(n):
            out[i] = table[out[i]]
    elif fast and has_table:
        for i in range(n):
            v = np.float64(acc[i] + bias) * rq + zp_half
            v = qmin if v < qmin else (qmax if v > qmax else v)
            out[i] = table[np.int64(v)]
    elif fast:
        for i in range(n):
            v = np.float64(acc[i] + bias) * rq + zp_half
            v = qmin if v < qmin else (qmax if v > qmax else v)
            out[i] = np.int64(v)
    else:
        s = 31 + shift
        half = np.int64(1) << (s - 1)
        zp = np.int64(zp_half - 0.5)
        lo, hi = np.int64(qmin), np.int64(qmax)
        for i in range(n):
            a = np.float64(acc[i] + bias)
            a = -2147483648.0 if a < -2147483648.0 else (2147483647.0 if a > 2147483647.0 else a)
            p = np.int64(a) * mult
            p = (p + half - (1 if p < 0 else 0)) >> s
            p += zp
            p = lo if p < lo else (hi if p > hi else p)
            out[i] = table[p] if has_table else p


@njit(**_OPTS)
def requantize(
    acc, bias, rq, mult, shift, zp, qmin, qmax, fast, table, has_table, out, b0, b1, c0, c1, j0, j1
):
    """``out[b0:b1, c0:c1, j0:j1]`` = codes of the same block of ``acc`` (N, M, L) plus the
    per-channel ``bias``."""
    zp_half = np.float64(zp) + 0.5
    for b in range(b0, b1):
        for c in range(c0, c1):
            _requant_row(
                acc[b, c, j0:j1],
                j1 - j0,
                bias[c],
                rq[c],
                zp_half,
                np.float64(qmin),
                np.float64(qmax),
                mult[c],
                shift[c],
                fast,
                table,
                has_table,
                out[b, c, j0:j1],
            )


@njit(**_OPTS)
def center_codes(q, zp, out, j0, j1):
    """``out[:, :, j0:j1] = q - zp`` as float32 (N, C, L)."""
    z = np.float32(zp)
    for b in range(q.shape[0]):
        for c in range(q.shape[1]):
            for i in range(j0, j1):
                out[b, c, i] = np.float32(q[b, c, i]) - z


# -- depthwise convolution ----------------------------------------------------------------


@njit(fastmath=_FAST, **_OPTS)
def _fill_plane(src, plane, ph, pw, zp):
    """``src`` (H, W) into ``plane``'s interior at (ph, pw), minus ``zp``; border untouched."""
    h = min(src.shape[0], plane.shape[0] - 1 - ph)  # the last row is slack
    w = min(src.shape[1], plane.shape[1] - pw)  # windows never read past these
    for iy in range(h):
        r = plane[ph + iy, pw : pw + w]
        s = src[iy]
        for ix in range(w):
            r[ix] = np.float32(s[ix]) - zp


@njit(fastmath=_FAST, **_OPTS)
def _fill_parity(src, planes, ph, pw, zp):
    """``src`` (H, W) split into 4 parity planes of the padded image: planes[a, b, r, s] =
    padded[2r + a, 2s + b]."""
    rows, cols = planes.shape[2] - 1, planes.shape[3]  # the last row is slack
    h = min(src.shape[0], 2 * rows - ph)
    w = min(src.shape[1], 2 * cols - pw)
    for iy in range(h):
        py = iy + ph
        a, r = py & 1, py >> 1
        s = src[iy]
        for par in range(2):
            # Input columns ix with (ix + pw) % 2 == par land at (ix + pw) // 2.
            first = (par - pw) & 1
            if first >= w:
                continue
            count = (w - 1 - first) // 2 + 1
            dst = planes[a, par, r, (first + pw) >> 1 : ((first + pw) >> 1) + count]
            col = s[first:w:2]
            for j in range(count):
                dst[j] = np.float32(col[j]) - zp


# Taps read views that start at each tap's offset, so every index is a plain
# non-negative loop counter (no wrap-around test) and the loops vectorize.


@njit(fastmath=_FAST, **_OPTS)
def _taps_s1(flat, acc, L, pw_, kh, kw, wc, bias):
    """Stride 1: ``acc[i] = bias + sum_t w_t * flat[off_t + i]`` on the flattened plane."""
    for i in range(L):
        acc[i] = bias
    for ky in range(kh):
        o = ky * pw_
        if kw == 3:
            f0, f1, f2 = flat[o : o + L], flat[o + 1 : o + 1 + L], flat[o + 2 : o + 2 + L]
            w0, w1, w2 = wc[ky, 0], wc[ky, 1], wc[ky, 2]
            for i in range(L):
                acc[i] += w0 * f0[i] + w1 * f1[i] + w2 * f2[i]
        elif kw == 5:
            f0, f1, f2 = flat[o : o + L], flat[o + 1 : o + 1 + L], flat[o + 2 : o + 2 + L]
            f3, f4 = flat[o + 3 : o + 3 + L], flat[o + 4 : o + 4 + L]
            w0, w1, w2, w3, w4 = wc[ky, 0], wc[ky, 1], wc[ky, 2], wc[ky, 3], wc[ky, 4]
            for i in range(L):
                acc[i] += w0 * f0[i] + w1 * f1[i] + w2 * f2[i] + w3 * f3[i] + w4 * f4[i]
        else:
            for kx in range(kw):
                f = flat[o + kx : o + kx + L]
                wv = wc[ky, kx]
                for i in range(L):
                    acc[i] += wv * f[i]


@njit(fastmath=_FAST, **_OPTS)
def _taps_s2(par, acc, L, pw_, kh, kw, wc, bias):
    """Stride 2 on parity planes ``par`` (2, 2, rows * pw_ flattened)."""
    for i in range(L):
        acc[i] = bias
    for ky in range(kh):
        p0 = par[ky & 1, 0]
        p1 = par[ky & 1, 1]
        o = (ky >> 1) * pw_
        if kw == 3:
            f0, f1, f2 = p0[o : o + L], p1[o : o + L], p0[o + 1 : o + 1 + L]
            w0, w1, w2 = wc[ky, 0], wc[ky, 1], wc[ky, 2]
            for i in range(L):
                acc[i] += w0 * f0[i] + w1 * f1[i] + w2 * f2[i]
        elif kw == 5:
            f0, f1, f2 = p0[o : o + L], p1[o : o + L], p0[o + 1 : o + 1 + L]
            f3, f4 = p1[o + 1 : o + 1 + L], p0[o + 2 : o + 2 + L]
            w0, w1, w2, w3, w4 = wc[ky, 0], wc[ky, 1], wc[ky, 2], wc[ky, 3], wc[ky, 4]
            for i in range(L):
                acc[i] += w0 * f0[i] + w1 * f1[i] + w2 * f2[i] + w3 * f3[i] + w4 * f4[i]
        else:
            for kx in range(kw):
                ok = o + (kx >> 1)
                f = par[ky & 1, kx & 1][ok : ok + L]
                wv = wc[ky, kx]
                for i in range(L):
                    acc[i] += wv * f[i]


@njit(fastmath=_FAST, **_OPTS)
def _dw_plane_acc(x2d, wc, bias, stride, ph, pw, oh, ow, plane, par, acc, zp):
    """One channel: the padded plane(s) filled, every output into ``acc`` (oh rows of
    the padded width); returns that width."""
    kh, kw = wc.shape
    if stride == 1:
        _fill_plane(x2d, plane, ph, pw, zp)
        pw_ = plane.shape[1]
        _taps_s1(plane.reshape(-1), acc, oh * pw_, pw_, kh, kw, wc, bias)
    else:
        _fill_parity(x2d, par, ph, pw, zp)
        pw_ = par.shape[3]
        _taps_s2(par.reshape(2, 2, -1), acc, oh * pw_, pw_, kh, kw, wc, bias)
    return pw_


@njit(fastmath=_FAST, **_OPTS)
def _crop(acc, pw_, out2d):
    """Rows of ``acc`` (padded width ``pw_``) into ``out2d`` (oh, ow), dropping the pad columns."""
    oh, ow = out2d.shape
    for oy in range(oh):
        src = acc[oy * pw_ : oy * pw_ + ow]
        dst = out2d[oy]
        for ox in range(ow):
            dst[ox] = src[ox]


@njit(fastmath=_FAST, **_OPTS)
def depthwise(x, w, bias, stride, ph, pw, out, acts, n_pre, slopes, res, has_res, p0, p1):
    """Float depthwise conv of planes ``p0 <= p < p1`` (p = image * C + channel), with
    the epilogue; ``x`` (N, C, H, W), ``w`` (C, kh, kw), ``out`` (N, C, OH, OW)."""
    c_all = x.shape[1]
    kh, kw = w.shape[1], w.shape[2]
    oh, ow = out.shape[2], out.shape[3]
    if stride == 1:
        pw_ = ow + kw - 1
        plane = np.zeros((oh + kh, pw_), np.float32)
        par = np.zeros((1, 1, 1, 1), np.float32)
    else:
        pw_ = ow + (kw - 1) // 2
        plane = np.zeros((1, 1), np.float32)
        par = np.zeros((2, 2, oh + (kh - 1) // 2 + 1, pw_), np.float32)
    acc = np.empty(oh * pw_, np.float32)
    zero = np.float32(0.0)
    for p in range(p0, p1):
        b, c = p // c_all, p % c_all
        _dw_plane_acc(x[b, c], w[c], bias[c], stride, ph, pw, oh, ow, plane, par, acc, zero)
        dst = out[b, c]
        _crop(acc, pw_, dst)
        flat = dst.reshape(-1)
        res_flat = res[b, c].reshape(-1) if has_res else flat
        _epilogue_row(flat, oh * ow, c, acts, n_pre, slopes, res_flat, has_res)


@njit(**_OPTS)
def depthwise_int(
    q, zp_in, w, bias, stride, ph, pw, rq, mult, shift, zp, qmin, qmax, fast, table,
    has_table, out, p0, p1,
):  # fmt: skip
    """Integer depthwise conv of planes ``p0 <= p < p1``: codes in, codes out.

    The accumulation runs in float32 on centered codes (exact: the caller proved every
    partial sum is an integer below 2**24), then the requantization epilogue."""
    c_all = q.shape[1]
    kh, kw = w.shape[1], w.shape[2]
    oh, ow = out.shape[2], out.shape[3]
    if stride == 1:
        pw_ = ow + kw - 1
        plane = np.zeros((oh + kh, pw_), np.float32)
        par = np.zeros((1, 1, 1, 1), np.float32)
    else:
        pw_ = ow + (kw - 1) // 2
        plane = np.zeros((1, 1), np.float32)
        par = np.zeros((2, 2, oh + (kh - 1) // 2 + 1, pw_), np.float32)
    acc = np.empty(oh * pw_, np.float32)
    codes = np.empty(oh * pw_, out.dtype)
    zp_half = np.float64(zp) + 0.5
    zf = np.float32(zp_in)
    zero = np.float32(0.0)
    for p in range(p0, p1):
        b, c = p // c_all, p % c_all
        _dw_plane_acc(q[b, c], w[c], bias[c], stride, ph, pw, oh, ow, plane, par, acc, zf)
        if fast:
            # The whole plane at its padded width in one loop (small planes: rows of a
            # few outputs would each pay a call), then the rows cropped out.
            _requant_row(acc, oh * pw_, zero, rq[c], zp_half, np.float64(qmin),
                         np.float64(qmax), mult[c], shift[c], fast, table, has_table, codes)  # fmt: skip
            for oy in range(oh):
                src = codes[oy * pw_ : oy * pw_ + ow]
                dst = out[b, c, oy]
                for ox in range(ow):
                    dst[ox] = src[ox]
            continue
        for oy in range(oh):
            _requant_row(
                acc[oy * pw_ : oy * pw_ + ow],
                ow,
                zero,
                rq[c],
                zp_half,
                np.float64(qmin),
                np.float64(qmax),
                mult[c],
                shift[c],
                fast,
                table,
                has_table,
                out[b, c, oy],
            )
