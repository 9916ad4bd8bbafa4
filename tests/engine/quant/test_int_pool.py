"""Integer AveragePool / GlobalAveragePool, kernel by kernel, against a brute-force rule.

For every output position the reference walks the window's taps one by one: the taps
inside the input are summed (``q - zp``), the count is the in-input taps (or, with
``count_include_pad``, the taps inside the padded extent), and the output is
``clamp(zp_out + RHA(sum * M / 2**s))`` with ``M, s`` the multiplier of ``in_delta /
(out_delta * count)``, in Python integers. Each geometry below has windows that reach
the right and bottom padding (explicit, ``SAME_*`` or from ``ceil_mode``), where a tap
count that is one off changes the output.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from workbench.engine.graph import Node
from workbench.engine.ops.conv import resolve_padding
from workbench.engine.ops.registry import OpContext
from workbench.engine.quant.encoding import Encoding
from workbench.engine.quant.int_ops import IntContext
from workbench.engine.quant.int_ops.pool import average_pool, global_average_pool
from workbench.engine.quant.requant import quantize_multiplier

GEOMETRIES = [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [1, 0, 2, 1]},
    {"kernel_shape": [2, 3], "strides": [3, 2], "pads": [0, 1, 1, 1], "ceil_mode": 1},
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},  # ceil: past the input
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 2, 2]},  # right/bottom only
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [4, 4], "strides": [3, 3], "auto_pad": "SAME_LOWER"},
    {"kernel_shape": [3, 2], "strides": [2, 1], "dilations": [2, 3], "pads": [2, 1, 1, 2]},
    {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]},  # every border
    {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1]},  # corners: one tap
    {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "VALID"},  # no padding at all
]


def _enc(bits: int, delta: float, zp: int) -> Encoding:
    qmax = 2**bits - 1
    return Encoding(-zp * delta, (qmax - zp) * delta, delta, -zp, bits)


def _rha(p: int, s: int) -> int:
    q, r = divmod(abs(p), 2**s)
    q += 2 * r >= 2**s
    return q if p >= 0 else -q


def _reference(q, attrs, enc_in, enc_out):
    kernel = attrs["kernel_shape"]
    strides = attrs.get("strides", [1, 1])
    dil = attrs.get("dilations", [1, 1])
    include = bool(attrs.get("count_include_pad", 0))
    h, w = q.shape[2:]
    geo = resolve_padding(
        (h, w), kernel, strides, dil, attrs.get("pads"), attrs.get("auto_pad", "NOTSET"),
        bool(attrs.get("ceil_mode", 0)),
    )  # fmt: skip
    zp_in, zp_out = -enc_in.offset, -enc_out.offset
    out = np.zeros(q.shape[:2] + tuple(geo.out), dtype=np.int64)
    reached = set()
    for n, c, oh, ow in itertools.product(*(range(d) for d in out.shape)):
        total = count = 0
        for th, tw in itertools.product(range(kernel[0]), range(kernel[1])):
            y = oh * strides[0] - geo.begin[0] + th * dil[0]
            x = ow * strides[1] - geo.begin[1] + tw * dil[1]
            inside = 0 <= y < h and 0 <= x < w
            in_pads = -geo.begin[0] <= y < h + geo.end[0] and -geo.begin[1] <= x < w + geo.end[1]
            if y >= h or x >= w:
                reached.add("right/bottom")
            if inside:
                total += int(q[n, c, y, x]) - zp_in
            count += inside or (include and in_pads)
        m, sh = (
            int(v) for v in quantize_multiplier(enc_in.delta / (enc_out.delta * max(count, 1)))
        )
        out[n, c, oh, ow] = min(max(zp_out + _rha(total * m, 31 + sh), 0), 2**enc_out.bitwidth - 1)
    return out, reached


def _kernel(op_type, attrs, enc_in, enc_out, rounding="half-away"):
    op = OpContext(Node("p", op_type, ("x",), ("y",), dict(attrs)))
    prepare = average_pool if op_type == "AveragePool" else global_average_pool
    return prepare(IntContext(op, op, (enc_in,), (enc_out,), rounding))


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("include_pad", [0, 1])
@pytest.mark.parametrize(
    "attrs", GEOMETRIES, ids=lambda a: "-".join(f"{k}{v}" for k, v in a.items())
)
def test_integer_average_pool_is_the_rule_at_every_border(attrs, include_pad, bits):
    rng = np.random.default_rng(len(str(attrs)) + include_pad)
    scale = 2 ** (bits - 8)
    enc_in = _enc(bits, 0.02 / scale, 100 * scale)
    enc_out = _enc(bits, 0.013 / scale, 120 * scale)
    attrs = {**attrs, "count_include_pad": include_pad}
    q = rng.integers(0, 2**bits, (1, 2, 11, 10)).astype(np.uint8 if bits == 8 else np.uint16)
    want, reached = _reference(q, attrs, enc_in, enc_out)
    (got,) = _kernel("AveragePool", attrs, enc_in, enc_out)(q)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.astype(np.int64), want)
    if attrs.get("auto_pad") != "VALID":
        assert reached == {"right/bottom"}  # the case reaches the far padding


@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 1, 1), (1, 4, 13)])
def test_integer_global_average_pool_is_the_rule(shape):
    rng = np.random.default_rng(3)
    enc_in, enc_out = _enc(8, 0.02, 100), _enc(8, 0.011, 7)
    q = rng.integers(0, 256, shape).astype(np.uint8)
    (got,) = _kernel("GlobalAveragePool", {}, enc_in, enc_out)(q)
    count = int(np.prod(shape[2:]))
    m, sh = (int(v) for v in quantize_multiplier(0.02 / (0.011 * count)))
    sums = (q.reshape(shape[0], shape[1], -1).astype(np.int64) - 100).sum(axis=-1)
    want = [min(max(7 + _rha(int(s) * m, 31 + sh), 0), 255) for s in sums.ravel()]
    assert got.shape == shape[:2] + (1,) * (len(shape) - 2)
    assert got.ravel().tolist() == want


def _tflite_reference(q, attrs):
    """TFLite's int8 AveragePool, loop by loop: the signed codes summed over the taps
    inside the map, divided by their count with C's rounding ``(s +- n/2) / n``."""
    kernel, strides = attrs["kernel_shape"], attrs.get("strides", [1, 1])
    dil = attrs.get("dilations", [1, 1])
    h, w = q.shape[2:]
    geo = resolve_padding(
        (h, w), kernel, strides, dil, attrs.get("pads"), attrs.get("auto_pad", "NOTSET"),
        bool(attrs.get("ceil_mode", 0)),
    )  # fmt: skip
    out = np.zeros(q.shape[:2] + tuple(geo.out), dtype=np.int64)
    for n, c, oh, ow in itertools.product(*(range(d) for d in out.shape)):
        total = count = 0
        for th, tw in itertools.product(range(kernel[0]), range(kernel[1])):
            y = oh * strides[0] - geo.begin[0] + th * dil[0]
            x = ow * strides[1] - geo.begin[1] + tw * dil[1]
            if 0 <= y < h and 0 <= x < w:
                total += int(q[n, c, y, x]) - 128
                count += 1
        count = max(count, 1)
        half = count // 2
        raw = (total + half) // count if total > 0 else -((half - total) // count)
        out[n, c, oh, ow] = raw + 128
    return out


@pytest.mark.parametrize(
    "attrs", GEOMETRIES, ids=lambda a: "-".join(f"{k}{v}" for k, v in a.items())
)
def test_tflite_average_pool_rounds_the_raw_int8_sum(attrs):
    enc = _enc(8, 0.02, 100)  # TFLite's pool keeps its input's encoding
    q = np.random.default_rng(3).integers(0, 256, (1, 3, 7, 8)).astype(np.uint8)
    got = _kernel("AveragePool", attrs, enc, enc, "tflite")(q)[0]
    want = _tflite_reference(q, attrs)
    assert got.dtype == np.uint8 and np.array_equal(got, want)
    # The rounding follows the sign of the raw int8 sum, not of the real value (zp 100 -
    # 128 = -28): the workbench's own rule rounds some windows the other way.
    own = _kernel("AveragePool", attrs, enc, enc)(q)[0]
    assert np.abs(own.astype(int) - want).max() <= 1
