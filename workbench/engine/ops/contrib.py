"""ONNX Runtime's contrib operators (domain ``com.microsoft``) that its transformer
optimizer and exporters write: the GELU family, SkipLayerNormalization, FusedMatMul,
Attention and MultiHeadAttention (plus their simplified-LayerNorm and bias siblings).

Semantics follow ONNX Runtime's contrib operator documentation; the forms a kernel does
not implement (FusedMatMul's batch transposes, rotary embeddings inside Attention) are
refused at plan time, naming the node.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.engine.ops.registry import CONTRIB_DOMAIN, Kernel, OpContext, register

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf(x: np.ndarray) -> np.ndarray:
    from workbench.engine.ops.activations import erf

    return erf(x)


def gelu_erf(x: np.ndarray) -> np.ndarray:
    y = _erf(x * x.dtype.type(1 / math.sqrt(2)))
    y += 1
    y *= x
    y *= x.dtype.type(0.5)
    return y


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    inner = x * x
    inner *= x.dtype.type(0.044715)
    inner *= x
    inner += x
    inner *= x.dtype.type(_SQRT_2_OVER_PI)
    y = np.tanh(inner, out=inner)
    y += 1
    y *= x
    y *= x.dtype.type(0.5)
    return y


@register("Gelu", domain=CONTRIB_DOMAIN)
def gelu(ctx: OpContext) -> Kernel:
    return lambda x: (gelu_erf(x),)


@register("BiasGelu", domain=CONTRIB_DOMAIN)
def bias_gelu(ctx: OpContext) -> Kernel:
    return lambda a, b: (gelu_erf(a + b),)


@register("FastGelu", domain=CONTRIB_DOMAIN)
def fast_gelu(ctx: OpContext) -> Kernel:
    return lambda x, bias=None: (gelu_tanh(x if bias is None else x + bias),)


@register("QuickGelu", domain=CONTRIB_DOMAIN)
def quick_gelu(ctx: OpContext) -> Kernel:
    alpha = float(ctx.attr("alpha", 1.702))

    def run(x: np.ndarray) -> tuple[np.ndarray]:
        z = x * x.dtype.type(-alpha)
        np.exp(np.minimum(z, 80, out=z), out=z)
        z += 1
        return (np.divide(x, z, out=z),)

    return run


@register("BiasAdd", domain=CONTRIB_DOMAIN)
def bias_add(ctx: OpContext) -> Kernel:
    return lambda x, bias, skip: (x + bias + skip,)


def _layer_norm(x: np.ndarray, gamma, beta, eps: float, simplified: bool):
    x64 = x.astype(np.float64)
    mean = np.zeros(x.shape[:-1] + (1,)) if simplified else x64.mean(-1, keepdims=True)
    centred = x64 - mean
    var = np.mean(np.square(centred if not simplified else x64), -1, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    y = centred * inv * gamma
    if beta is not None:
        y = y + beta
    return y.astype(x.dtype), mean.astype(np.float32), inv.astype(np.float32)


def _skip_layer_norm(ctx: OpContext, simplified: bool) -> Kernel:
    eps = float(ctx.attr("epsilon", 1e-12))
    n_out = len(ctx.node.outputs)
    # SkipSimplifiedLayerNormalization has no beta: its inputs are (x, skip, gamma, bias).
    bias_at = 3 if simplified else 4

    def run(x: np.ndarray, skip: np.ndarray, gamma: np.ndarray, *rest: np.ndarray | None):
        beta = None if simplified or not rest else rest[0]
        bias = rest[bias_at - 3] if len(rest) > bias_at - 3 else None
        total = x + skip
        if bias is not None:
            total = total + bias
        y, mean, inv = _layer_norm(total, gamma, beta, eps, simplified)
        outs = [y, mean, inv, total]
        if simplified:  # outputs: output, mean (unused), inv_std_var, input_skip_bias_sum
            outs = [y, mean, inv, total]
        return tuple(outs[:n_out])

    return run


@register("SkipLayerNormalization", domain=CONTRIB_DOMAIN)
def skip_layer_norm(ctx: OpContext) -> Kernel:
    return _skip_layer_norm(ctx, simplified=False)


@register("SkipSimplifiedLayerNormalization", domain=CONTRIB_DOMAIN)
def skip_simplified_layer_norm(ctx: OpContext) -> Kernel:
    return _skip_layer_norm(ctx, simplified=True)


@register("SimplifiedLayerNormalization")  # ONNX Runtime puts it in the default domain
@register("SimplifiedLayerNormalization", domain=CONTRIB_DOMAIN)
def simplified_layer_norm(ctx: OpContext) -> Kernel:
    eps = float(ctx.attr("epsilon", 1e-5))
    axis = int(ctx.attr("axis", -1))
    n_out = len(ctx.node.outputs)

    def run(x: np.ndarray, scale: np.ndarray):
        a = axis % x.ndim
        flat = x.astype(np.float64).reshape(*x.shape[:a], -1)
        inv = 1.0 / np.sqrt(np.mean(np.square(flat), -1, keepdims=True) + eps)
        y = (flat * inv).reshape(x.shape) * scale
        stats = inv.reshape(x.shape[:a] + (1,) * (x.ndim - a)).astype(np.float32)
        return (y.astype(x.dtype), stats)[:n_out]

    return run


@register("EmbedLayerNormalization", domain=CONTRIB_DOMAIN)
def embed_layer_norm(ctx: OpContext) -> Kernel:
    eps = float(ctx.attr("epsilon", 1e-12))
    n_out = len(ctx.node.outputs)

    def run(
        ids: np.ndarray,
        segment_ids: np.ndarray | None,
        word: np.ndarray,
        position: np.ndarray,
        segment: np.ndarray | None,
        gamma: np.ndarray,
        beta: np.ndarray,
        mask: np.ndarray | None = None,
        position_ids: np.ndarray | None = None,
    ):
        seq = ids.shape[1]
        pos = np.arange(seq) if position_ids is None else position_ids
        total = word[ids] + position[pos]
        if segment is not None and segment_ids is not None:
            total = total + segment[segment_ids]
        y, _, _ = _layer_norm(total.astype(np.float32), gamma, beta, eps, simplified=False)
        if mask is None:
            index = np.zeros(ids.shape[0], np.int32)
        else:
            index = np.asarray(mask).sum(axis=1).astype(np.int32)
        return (y, index, total.astype(np.float32))[:n_out]

    return run


@register("LayerNormalization", domain=CONTRIB_DOMAIN)
def contrib_layer_norm(ctx: OpContext) -> Kernel:
    """ONNX Runtime's LayerNormalization before opset 17 (the importer moves such nodes
    here): the standard operator's semantics."""
    from workbench.engine.ops.norm import layer_norm

    return layer_norm(ctx)


@register("FusedMatMul", domain=CONTRIB_DOMAIN)
def fused_matmul(ctx: OpContext) -> Kernel:
    if int(ctx.attr("transBatchA", 0)) or int(ctx.attr("transBatchB", 0)):
        raise ctx.fail("transBatchA / transBatchB are not supported")
    alpha = float(ctx.attr("alpha", 1.0))
    trans_a = bool(ctx.attr("transA", 0))
    trans_b = bool(ctx.attr("transB", 0))

    def op(m: np.ndarray, flag: bool) -> np.ndarray:
        return np.swapaxes(m, -1, -2) if flag and m.ndim >= 2 else m

    def run(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray]:
        y = np.matmul(op(a, trans_a), op(b, trans_b))
        if alpha != 1.0:
            y *= y.dtype.type(alpha)
        return (y,)

    return run


# -- attention -----------------------------------------------------------------------------


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(-1, keepdims=True)
    return x


def _heads(x: np.ndarray, n: int) -> np.ndarray:
    """(B, S, N*H) -> (B, N, S, H)."""
    b, s, d = x.shape
    return x.reshape(b, s, n, d // n).transpose(0, 2, 1, 3)


def _key_mask(mask: np.ndarray | None, batch: int, s: int, total: int) -> np.ndarray | None:
    """A boolean (B, 1 or S, T) array, True where a key is masked out; None for no mask."""
    if mask is None:
        return None
    m = np.asarray(mask)
    pos = np.arange(total)
    if m.ndim == 1 and m.size == batch:  # end position (exclusive) of each sequence
        return (pos[None, :] >= m[:, None])[:, None, :]
    if m.ndim == 1 and m.size == 2 * batch:  # end, then start positions
        end, start = m[:batch], m[batch:]
        return ((pos[None, :] >= end[:, None]) | (pos[None, :] < start[:, None]))[:, None, :]
    if m.ndim == 2:  # raw mask, 1 = attend
        return (m == 0)[:, None, :]
    if m.ndim == 3:
        return m == 0
    if m.ndim == 4:  # (B, 1, max, max): the top-left corner applies
        return m[:, 0, :s, :total] == 0
    raise ValueError(f"mask of shape {list(m.shape)} is not supported")


def _attend(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    scale: float,
    masked: np.ndarray | None,
    bias: np.ndarray | None,
    causal: bool,
    filter_value: float,
) -> np.ndarray:
    """q (B,N,S,H), k (B,N,T,H), v (B,N,T,Hv) -> (B,S,N*Hv)."""
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * np.float32(scale)
    if bias is not None:
        scores = scores + bias
    s, t = scores.shape[-2:]
    if masked is not None:
        scores = np.where(masked[:, None, :, :], scores + np.float32(filter_value), scores)
    if causal:
        past = t - s
        future = np.arange(t)[None, :] > (np.arange(s)[:, None] + past)
        scores = np.where(future, scores + np.float32(filter_value), scores)
    probs = _softmax(scores.astype(np.float32))
    out = np.matmul(probs, v)  # (B, N, S, Hv)
    b, n, s, hv = out.shape
    return np.ascontiguousarray(out.transpose(0, 2, 1, 3).reshape(b, s, n * hv))


@register("Attention", domain=CONTRIB_DOMAIN)
def attention(ctx: OpContext) -> Kernel:
    if int(ctx.attr("do_rotary", 0)):
        raise ctx.fail("rotary embeddings (do_rotary) are not supported")
    heads = int(ctx.attr("num_heads"))
    sizes = ctx.attr("qkv_hidden_sizes")
    causal = bool(ctx.attr("unidirectional", 0))
    filter_value = float(ctx.attr("mask_filter_value", -10000.0))
    scale_attr = ctx.attr("scale")
    n_out = len(ctx.node.outputs)

    def run(
        x: np.ndarray,
        w: np.ndarray,
        bias: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        past: np.ndarray | None = None,
        attn_bias: np.ndarray | None = None,
        *_: np.ndarray | None,
    ):
        qkv = np.matmul(x, w)
        if bias is not None:
            qkv = qkv + bias
        dq, dk, dv = sizes if sizes else [qkv.shape[-1] // 3] * 3
        q, k, v = qkv[..., :dq], qkv[..., dq : dq + dk], qkv[..., dq + dk : dq + dk + dv]
        q, k, v = _heads(q, heads), _heads(k, heads), _heads(v, heads)
        if past is not None:
            k = np.concatenate([past[0], k], axis=2)
            v = np.concatenate([past[1], v], axis=2)
        scale = float(scale_attr) if scale_attr else 1.0 / math.sqrt(q.shape[-1])
        masked = _key_mask(mask, x.shape[0], x.shape[1], k.shape[2])
        out = _attend(q, k, v, scale, masked, attn_bias, causal, filter_value)
        return (out, np.stack([k, v]))[:n_out]

    return run


@register("MultiHeadAttention", domain=CONTRIB_DOMAIN)
def multi_head_attention(ctx: OpContext) -> Kernel:
    heads = int(ctx.attr("num_heads"))
    causal = bool(ctx.attr("unidirectional", 0))
    filter_value = float(ctx.attr("mask_filter_value", -10000.0))
    scale_attr = ctx.attr("scale")
    n_out = len(ctx.node.outputs)

    def run(
        query: np.ndarray,
        key: np.ndarray | None = None,
        value: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        key_padding_mask: np.ndarray | None = None,
        attn_bias: np.ndarray | None = None,
        past_key: np.ndarray | None = None,
        past_value: np.ndarray | None = None,
        *_: np.ndarray | None,
    ):
        if key is None:  # packed QKV: (B, S, N, 3, H)
            b, s, n, _, h = query.shape
            q = query[:, :, :, 0].transpose(0, 2, 1, 3)
            k = query[:, :, :, 1].transpose(0, 2, 1, 3)
            v = query[:, :, :, 2].transpose(0, 2, 1, 3)
        else:
            dq = query.shape[-1]
            if bias is not None:
                query = query + bias[:dq]
            q = _heads(query, heads)
            if key.ndim == 4:  # already split into heads: (B, N, L, H)
                k, v = key, value
            else:
                dk = key.shape[-1]
                if bias is not None:
                    key = key + bias[dq : dq + dk]
                    value = value + bias[dq + dk :]
                k, v = _heads(key, heads), _heads(value, heads)
        if past_key is not None:
            k = np.concatenate([past_key, k], axis=2)
            v = np.concatenate([past_value, v], axis=2)
        scale = float(scale_attr) if scale_attr else 1.0 / math.sqrt(q.shape[-1])
        masked = _key_mask(key_padding_mask, q.shape[0], q.shape[2], k.shape[2])
        out = _attend(q, k, v, scale, masked, attn_bias, causal, filter_value)
        return (out, k, v)[:n_out]

    return run
