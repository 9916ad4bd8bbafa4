"""ONNX Runtime's contrib operators (com.microsoft) against ONNX Runtime itself."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op

MS = "com.microsoft"
RNG = np.random.default_rng(3)


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def test_gelu_family():
    x = f32(2, 5, 8, scale=2)
    check_op("Gelu", {"x": x}, domain=MS)
    check_op("BiasGelu", {"x": x}, {"b": f32(8)}, domain=MS)
    check_op("FastGelu", {"x": x}, domain=MS)
    check_op("FastGelu", {"x": x}, {"b": f32(8)}, domain=MS)
    check_op("QuickGelu", {"x": x}, domain=MS)
    check_op("QuickGelu", {"x": x}, domain=MS, alpha=1.2)


def test_skip_layer_normalization():
    x, skip = f32(2, 4, 16), f32(2, 4, 16)
    gamma, beta, bias = f32(16), f32(16), f32(16)
    check_op("SkipLayerNormalization", {"x": x, "skip": skip}, {"g": gamma, "b": beta},
             domain=MS, epsilon=1e-5)  # fmt: skip
    # With a bias and the input+skip+bias sum as the fourth output.
    check_op("SkipLayerNormalization", {"x": x, "skip": skip},
             {"g": gamma, "b": beta, "bias": bias}, n_outputs=4,
             input_order=["x", "skip", "g", "b", "bias"], domain=MS)  # fmt: skip
    check_op("SkipSimplifiedLayerNormalization", {"x": x, "skip": skip}, {"g": gamma},
             domain=MS, epsilon=1e-6)  # fmt: skip
    # ONNX Runtime registers it in the default domain (its transformer optimizer's RMSNorm).
    check_op("SimplifiedLayerNormalization", {"x": x}, {"g": gamma}, epsilon=1e-6)


@pytest.mark.parametrize(
    ("ta", "tb", "alpha"), [(0, 0, 1.0), (1, 0, 0.5), (0, 1, 2.0), (1, 1, 1.0)]
)
def test_fused_matmul(ta, tb, alpha):
    a = f32(3, 5, 4) if ta else f32(3, 4, 5)
    b = f32(3, 6, 5) if tb else f32(3, 5, 6)
    check_op("FusedMatMul", {"a": a, "b": b}, domain=MS, transA=ta, transB=tb, alpha=alpha)


@pytest.mark.parametrize("mask", ["none", "raw", "lengths", "causal"])
def test_attention(mask):
    b, s, d, heads = 2, 5, 16, 4
    inputs = {"x": f32(b, s, d)}
    consts = {"w": f32(d, 3 * d, scale=0.3), "bias": f32(3 * d, scale=0.1)}
    order = ["x", "w", "bias"]
    attrs = {"num_heads": heads}
    if mask == "raw":
        inputs["m"] = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32)
        order.append("m")
    elif mask == "lengths":
        inputs["m"] = np.array([3, 5], np.int32)
        order.append("m")
    elif mask == "causal":
        attrs["unidirectional"] = 1
    check_op("Attention", inputs, consts, input_order=order, domain=MS, atol=1e-5, **attrs)


def test_attention_with_attention_bias_and_scale():
    b, s, d, heads = 1, 4, 8, 2
    check_op("Attention", {"x": f32(b, s, d), "ab": f32(b, heads, s, s)},
             {"w": f32(d, 3 * d, scale=0.3), "bias": f32(3 * d)},
             input_order=["x", "w", "bias", "", "", "ab"], domain=MS, num_heads=heads,
             scale=0.25)  # fmt: skip


@pytest.mark.parametrize("form", ["separate", "bias_and_mask", "cross", "packed", "past"])
def test_multi_head_attention(form):
    b, s, kv, d, heads = 2, 4, 6, 16, 4
    h = d // heads
    attrs = {"num_heads": heads}
    if form == "separate":
        inputs = {"q": f32(b, s, d), "k": f32(b, s, d), "v": f32(b, s, d)}
        order = ["q", "k", "v"]
    elif form == "bias_and_mask":
        inputs = {"q": f32(b, s, d), "k": f32(b, kv, d), "v": f32(b, kv, d),
                  "m": np.array([[1, 1, 1, 1, 0, 0], [1] * 6], np.int32)}  # fmt: skip
        check_op("MultiHeadAttention", inputs, {"bias": f32(3 * d)},
                 input_order=["q", "k", "v", "bias", "m"], domain=MS, **attrs)  # fmt: skip
        return
    elif form == "cross":  # key and value already split into heads
        inputs = {"q": f32(b, s, d), "k": f32(b, heads, kv, h), "v": f32(b, heads, kv, h)}
        order = ["q", "k", "v"]
    elif form == "packed":  # ONNX Runtime's CPU kernel lacks it: equal to the unpacked form
        from tests.engine.ops.test_recurrent import run_node

        packed = f32(b, s, heads, 3, h)
        q, k, v = (packed[:, :, :, i].reshape(b, s, d) for i in range(3))
        unpacked = check_op("MultiHeadAttention", {"q": q, "k": k, "v": v}, domain=MS, **attrs)
        (got,) = run_node("MultiHeadAttention", {"q": packed}, {}, ["q"], 1, domain=MS, **attrs)
        np.testing.assert_allclose(got, unpacked[0], rtol=1e-6, atol=1e-6)
        return
    else:
        inputs = {"q": f32(b, s, d), "k": f32(b, s, d), "v": f32(b, s, d),
                  "pk": f32(b, heads, 3, h), "pv": f32(b, heads, 3, h)}  # fmt: skip
        order = ["q", "k", "v", "", "", "", "pk", "pv"]
        check_op("MultiHeadAttention", inputs, input_order=order, n_outputs=3, domain=MS,
                 unidirectional=1, **attrs)  # fmt: skip
        return
    check_op("MultiHeadAttention", inputs, input_order=order, domain=MS, **attrs)
