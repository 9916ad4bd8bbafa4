"""Conv and ConvTranspose against ONNX Runtime: every algorithm path and attribute."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.engine.opcheck import check_op
from workbench.engine.ops import conv as conv_module

RNG = np.random.default_rng(0)


def _f(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _atol(k: int) -> float:
    # Sums of K products of N(0,1) values have spread ~sqrt(K); ORT and BLAS add in a
    # different order, so the absolute error grows like sqrt(K) * eps * |terms|.
    return 1e-5 * max(1.0, math.sqrt(k))


@pytest.mark.parametrize(
    ("kernel", "attrs"),
    [
        ((3, 3), {"pads": [1, 1, 1, 1]}),
        ((3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
        ((3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
        ((3, 2), {"strides": [2, 1], "dilations": [1, 2], "pads": [0, 1, 2, 0]}),
        ((5, 5), {"strides": [3, 2], "pads": [2, 1, 0, 2]}),
        ((1, 1), {}),
        ((1, 1), {"strides": [2, 2]}),
        ((1, 1), {"pads": [1, 0, 0, 1]}),
        ((7, 7), {"strides": [2, 2], "pads": [3, 3, 3, 3]}),
        ((1, 7), {"pads": [0, 3, 0, 3]}),
        ((3, 3), {"auto_pad": "SAME_UPPER"}),
        ((3, 3), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
        ((4, 4), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
        ((4, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
        ((3, 3), {"auto_pad": "VALID", "strides": [2, 2]}),
        ((3, 3), {"auto_pad": "NOTSET", "pads": [1, 1, 1, 1]}),
    ],
)
@pytest.mark.parametrize("group", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_2d(kernel, attrs, group, bias):
    c, m = 4, 6
    consts = {"w": _f(m, c // group, *kernel)}
    if bias:
        consts["b"] = _f(m)
    check_op("Conv", {"x": _f(2, c, 11, 9)}, consts, group=group, atol=_atol(c * 9), **attrs)


@pytest.mark.parametrize(
    "attrs",
    [
        {"pads": [1, 1, 1, 1]},
        {"pads": [0, 2, 1, 0]},
        {"strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"strides": [1, 2], "dilations": [2, 1], "pads": [2, 1, 2, 1]},
        {"dilations": [2, 3], "pads": [2, 3, 2, 3]},
        {"auto_pad": "SAME_UPPER"},
        {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
        {"auto_pad": "VALID"},
    ],
)
@pytest.mark.parametrize("multiplier", [1, 2])
@pytest.mark.parametrize("kernel", [(3, 3), (5, 5)])
@pytest.mark.parametrize("batch", [1, 2])
def test_conv_depthwise(attrs, multiplier, kernel, batch):
    c = 5
    check_op(
        "Conv",
        {"x": _f(batch, c, 12, 10)},
        {"w": _f(c * multiplier, 1, *kernel), "b": _f(c * multiplier)},
        group=c,
        **attrs,
    )


@pytest.mark.parametrize("small_plane", [0, 1 << 20])
@pytest.mark.parametrize("strides", [[1, 1], [2, 2]])
def test_conv_depthwise_both_tap_strategies(monkeypatch, small_plane, strides):
    # Multiply-adds over whole tensors vs gathered taps and a dot per channel.
    monkeypatch.setattr(conv_module, "_SMALL_PLANE", small_plane)
    monkeypatch.setattr(conv_module, "_SMALL_COLS_BYTES", 0)  # not the small path
    check_op(
        "Conv",
        {"x": _f(1, 6, 13, 11)},
        {"w": _f(6, 1, 3, 3)},
        group=6,
        strides=strides,
        pads=[1, 0, 1, 2],
    )


def test_conv_depthwise_1d_and_3d():
    check_op("Conv", {"x": _f(1, 4, 20)}, {"w": _f(4, 1, 3)}, group=4, pads=[1, 1])
    check_op("Conv", {"x": _f(1, 3, 5, 6, 7)}, {"w": _f(3, 1, 3, 3, 3)}, group=3, pads=[1] * 6)


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"strides": [2], "pads": [1, 2]},
        {"dilations": [3], "auto_pad": "VALID"},
        {"auto_pad": "SAME_UPPER", "strides": [3]},
    ],
)
def test_conv_1d(attrs):
    check_op("Conv", {"x": _f(2, 3, 17)}, {"w": _f(5, 3, 4), "b": _f(5)}, **attrs)


def test_conv_1d_long_kernel_uses_strided_im2col():
    # More taps than _MAX_TAP_COPIES: im2col is one strided copy.
    assert 25 > conv_module._MAX_TAP_COPIES
    check_op("Conv", {"x": _f(1, 2, 60)}, {"w": _f(3, 2, 25)}, strides=[2], atol=_atol(50))


@pytest.mark.parametrize(
    "attrs",
    [
        {"pads": [1, 1, 1, 1, 1, 1]},
        {"strides": [2, 1, 2], "pads": [0, 1, 1, 1, 0, 1]},
        {"dilations": [1, 2, 1], "auto_pad": "SAME_UPPER"},
    ],
)
def test_conv_3d(attrs):
    if attrs.get("auto_pad", "NOTSET").startswith("SAME") and "dilations" in attrs:
        attrs = {**attrs, "dilations": [1, 1, 1]}  # ORT refuses SAME with dilation
    check_op(
        "Conv", {"x": _f(1, 4, 6, 7, 5)}, {"w": _f(6, 2, 3, 3, 2), "b": _f(6)}, group=2, **attrs
    )


def test_conv_grouped_resnext_style():
    check_op("Conv", {"x": _f(1, 32, 9, 9)}, {"w": _f(32, 4, 3, 3)}, group=8, pads=[1, 1, 1, 1])


def test_conv_weight_and_bias_at_runtime():
    x, w, b = _f(2, 4, 8, 8), _f(6, 2, 3, 3), _f(6)
    check_op("Conv", {"x": x, "w": w, "b": b}, group=2, pads=[1, 1, 1, 1])
    check_op("Conv", {"x": x, "w": w}, pads=[1, 1, 1, 1], group=2)
    check_op("Conv", {"x": x, "w": _f(4, 1, 3, 3)}, group=4, strides=[2, 2])
    # Constant weight, bias computed at run time.
    check_op("Conv", {"x": x, "b": b}, {"w": w}, input_order=["x", "w", "b"], group=2)


def test_conv_large_input_is_chunked(monkeypatch):
    # A small budget forces im2col in blocks of 3 output rows (the last block shorter).
    c, k = 4, 3
    monkeypatch.setattr(conv_module, "_IM2COL_CHUNK_BYTES", c * k * k * 10 * 4 * 3)
    check_op(
        "Conv",
        {"x": _f(2, c, 11, 10)},
        {"w": _f(6, c // 2, k, k), "b": _f(6)},
        pads=[1, 1, 1, 1],
        group=2,
    )


def test_conv_outputs_are_contiguous_float32():
    (y,) = check_op("Conv", {"x": _f(1, 3, 8, 8)}, {"w": _f(4, 3, 3, 3)}, strides=[2, 2])
    assert y.flags.c_contiguous and y.dtype == np.float32
    (y,) = check_op("Conv", {"x": _f(1, 3, 8, 8)}, {"w": _f(3, 1, 3, 3)}, group=3)
    assert y.flags.c_contiguous


def test_resolve_padding_same_and_ceil():
    p = conv_module.resolve_padding([7], [3], [2], [1], None, "SAME_UPPER")
    assert (p.begin, p.end, p.out) == ((1,), (1,), (4,))
    p = conv_module.resolve_padding([8], [3], [2], [1], None, "SAME_LOWER")
    assert (p.begin, p.end, p.out) == ((1,), (0,), (4,))
    p = conv_module.resolve_padding([8], [3], [2], [1], [0, 0], "NOTSET", ceil_mode=True)
    assert p.out == (4,)


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"strides": [2, 2]},
        {"strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"strides": [2, 3], "pads": [1, 0, 0, 2], "output_padding": [1, 2]},
        {"strides": [2, 2], "dilations": [2, 1]},
        {"strides": [2, 2], "output_shape": [12, 11]},
        {"strides": [2, 2], "output_shape": [10, 12]},
        {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
        {"strides": [2, 2], "auto_pad": "SAME_LOWER"},
        {"strides": [3, 2], "auto_pad": "VALID"},
    ],
)
@pytest.mark.parametrize("group", [1, 2])
def test_conv_transpose_2d(attrs, group):
    c, mg = 4, 3
    check_op(
        "ConvTranspose",
        {"x": _f(2, c, 5, 6)},
        {"w": _f(c, mg, 3, 3), "b": _f(mg * group)},
        group=group,
        **attrs,
    )


def test_conv_transpose_1d_3d_and_runtime_weight():
    check_op("ConvTranspose", {"x": _f(1, 3, 7)}, {"w": _f(3, 2, 4)}, strides=[2], pads=[1, 1])
    check_op(
        "ConvTranspose",
        {"x": _f(1, 2, 3, 4, 3)},
        {"w": _f(2, 2, 2, 3, 2)},
        strides=[2, 1, 2],
        output_padding=[1, 0, 1],
    )
    check_op(
        "ConvTranspose",
        {"x": _f(1, 4, 5, 5), "w": _f(4, 2, 4, 4)},
        strides=[2, 2],
        pads=[1, 1, 1, 1],
    )


def _random_conv_case(rng: np.random.Generator) -> tuple[dict, dict, dict]:
    nd = int(rng.choice([1, 2, 2, 3]))
    k = [int(rng.integers(1, 4 if nd == 3 else 5)) for _ in range(nd)]
    strides = [int(rng.integers(1, 4)) for _ in range(nd)]
    dilations = [int(rng.integers(1, 3)) for _ in range(nd)]
    spatial = [
        int(rng.integers((k[i] - 1) * dilations[i] + 1, (k[i] - 1) * dilations[i] + 8))
        for i in range(nd)
    ]
    c, g, m = {"dense": (3, 1, 4), "group": (4, 2, 6), "dw": (5, 5, 5), "dw_mult": (3, 3, 6)}[
        str(rng.choice(["dense", "group", "dw", "dw_mult"]))
    ]
    attrs = {"strides": strides, "group": g}
    auto_pad = str(rng.choice(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad == "NOTSET":
        attrs.update(pads=[int(rng.integers(0, 3)) for _ in range(2 * nd)], dilations=dilations)
    else:
        attrs["auto_pad"] = auto_pad  # ORT refuses SAME with dilations
        if auto_pad == "VALID":
            attrs["dilations"] = dilations
    consts = {"w": rng.standard_normal((m, c // g, *k)).astype(np.float32)}
    if rng.random() < 0.5:
        consts["b"] = rng.standard_normal(m).astype(np.float32)
    x = rng.standard_normal((int(rng.integers(1, 3)), c, *spatial)).astype(np.float32)
    return {"x": x}, consts, attrs


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("small_path", [True, False])
def test_conv_random_geometry(seed, small_path, monkeypatch):
    if not small_path:
        monkeypatch.setattr(conv_module, "_SMALL_COLS_BYTES", 0)
    inputs, consts, attrs = _random_conv_case(np.random.default_rng(seed))
    check_op("Conv", inputs, consts, atol=1e-4, **attrs)


def test_conv_small_path_makes_buffers_when_its_own_are_in_use():
    # A call that finds the buffers taken (another thread, a reentrant call) makes its
    # own set and gives the same result; both sets are kept for later calls.
    w, b, x = _f(6, 2, 3, 3), _f(6), _f(1, 4, 7, 5)
    conv = conv_module._Conv(w, b, 2, [2, 1], [1, 1], [1, 0, 1, 2], "NOTSET", None)
    first = conv(x)
    small = conv._small[x.shape, x.dtype]
    assert small is not None
    taken = small._spare.pop()
    again = conv(x)
    np.testing.assert_array_equal(again, first)
    small._spare.append(taken)
    assert len(small._spare) == 2
    np.testing.assert_array_equal(conv(x * 2), conv(x * 2))
    x2 = _f(1, 4, 7, 5)
    y2 = conv(x2)  # the buffers' earlier content (padding included) does not leak
    fresh = conv_module._Conv(w, b, 2, [2, 1], [1, 1], [1, 0, 1, 2], "NOTSET", None)(x2)
    np.testing.assert_array_equal(y2, fresh)


@pytest.mark.parametrize("seed", range(40))
def test_conv_transpose_random_geometry(seed):
    rng = np.random.default_rng(1000 + seed)
    nd = int(rng.choice([1, 2, 2, 3]))
    k = [int(rng.integers(1, 4)) for _ in range(nd)]
    strides = [int(rng.integers(1, 4)) for _ in range(nd)]
    dilations = [int(rng.integers(1, 3)) for _ in range(nd)]
    spatial = [int(rng.integers(2, 6)) for _ in range(nd)]
    g = int(rng.choice([1, 2]))
    attrs = {"strides": strides, "group": g, "dilations": dilations}
    full = [strides[i] * (spatial[i] - 1) + (k[i] - 1) * dilations[i] + 1 for i in range(nd)]
    mode = str(rng.choice(["pads", "output_padding", "auto_pad", "output_shape"]))
    if mode in ("pads", "output_padding"):
        # Keep every output dimension positive (ORT refuses the rest).
        attrs["pads"] = [int(rng.integers(0, max(1, full[i % nd] // 2))) for i in range(2 * nd)]
        if mode == "output_padding":
            attrs["output_padding"] = [int(rng.integers(0, strides[i])) for i in range(nd)]
    elif mode == "auto_pad":
        attrs["auto_pad"] = str(rng.choice(["SAME_UPPER", "SAME_LOWER", "VALID"]))
    else:
        attrs["output_shape"] = [max(1, full[i] - int(rng.integers(0, 3))) for i in range(nd)]
    w = rng.standard_normal((2 * g, int(rng.integers(1, 4)), *k)).astype(np.float32)
    x = rng.standard_normal((1, 2 * g, *spatial)).astype(np.float32)
    check_op("ConvTranspose", {"x": x}, {"w": w}, atol=1e-4, **attrs)


@pytest.mark.parametrize(
    "attrs",
    [
        {"pads": [1, 1, 1, 1]},
        {"pads": [0, 2, 1, 0], "dilations": [2, 1]},
        {"auto_pad": "SAME_LOWER"},
        {"auto_pad": "VALID"},
        {"kernel_shape": [3, 3]},
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_few_output_channels_takes_the_shift_path(attrs, bias):
    c, m = 8, 3
    assert conv_module._SHIFT_MAX_RATIO * m <= c
    consts = {"w": _f(m, c, 3, 3)}
    if bias:
        consts["b"] = _f(m)
    check_op("Conv", {"x": _f(2, c, 9, 11)}, consts, atol=_atol(c * 9), **attrs)
    check_op("Conv", {"x": _f(1, c, 5, 4), "w": _f(m, c, 2, 3)}, pads=[1, 1, 0, 1])


def test_conv_shift_path_falls_back_to_im2col_for_big_images(monkeypatch):
    monkeypatch.setattr(conv_module, "_IM2COL_CHUNK_BYTES", 256)
    check_op("Conv", {"x": _f(1, 8, 9, 11)}, {"w": _f(3, 8, 3, 3)}, pads=[1, 1, 1, 1])


@pytest.mark.parametrize("batch", [1, 2])  # the small path (centering while copying) and not
@pytest.mark.parametrize("zp", [0, 131])
def test_conv_centered_codes_are_the_conv_of_centered_values(batch, zp):
    rng = np.random.default_rng(7)
    w = rng.integers(-127, 128, (6, 2, 3, 3)).astype(np.float32)
    b = rng.integers(-1000, 1000, 6).astype(np.float32)
    conv = conv_module._Conv(w, b, 2, [2, 1], [1, 1], [1, 0, 1, 2], "NOTSET", None)
    q = rng.integers(0, 256, (batch, 4, 7, 5)).astype(np.uint8)
    want = conv(q.astype(np.float32) - zp)
    for _ in range(2):  # again on the kept buffers
        np.testing.assert_array_equal(conv.centered(q, zp), want)
    np.testing.assert_array_equal(conv.centered(q, zp, np.float64), want.astype(np.float64))
