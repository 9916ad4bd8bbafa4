"""Small models shaped like real exports (torch.onnx, YOLO, SSD, MobileNet, EfficientNet,
ViT), built with ``onnx.helper`` for the importer's real-world tests.

They reproduce the graph *patterns* exporters emit (symbolic batch and sequence
dimensions, Shape→Gather→Unsqueeze→Concat→Reshape chains, ``Constant`` nodes,
decomposed LayerNorm and GELU, in-place slice assignment as ScatterND) at toy
sizes, with random weights. Each builder returns a ``RealWorldModel``: the model,
the ``--input-dim`` values that fix its symbolic dimensions, and a feed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64


@dataclass
class RealWorldModel:
    """A model, the ``--input-dim`` values that fix its symbolic dimensions, and a feed."""

    model: onnx.ModelProto
    input_dims: dict[str, list[int]]
    feeds: dict[str, np.ndarray]


@dataclass
class Builder:
    """Appends nodes with fresh tensor names; constants as initializers or Constant nodes."""

    rng: np.random.Generator
    opset: int
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    counter: int = 0

    def name(self, base: str) -> str:
        self.counter += 1
        return f"{base}_{self.counter}"

    def param(self, value: np.ndarray | float | Sequence, base: str = "w") -> str:
        """An initializer (a weight, or a small constant the way recent exports store it)."""
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, *shape: int, scale: float | None = None, base: str = "w") -> str:
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
        s = scale if scale is not None else 1.0 / math.sqrt(fan_in)
        return self.param((self.rng.standard_normal(shape) * s).astype(np.float32), base)

    def const(self, value: np.ndarray | float | int | Sequence) -> str:
        """A ``Constant`` node, the way torch.onnx emits literals."""
        value = np.asarray(value)
        if value.dtype == np.float64:
            value = value.astype(np.float32)
        out = self.name("const")
        self.nodes.append(
            helper.make_node(
                "Constant", [], [out], name=out, value=numpy_helper.from_array(value, out)
            )
        )
        return out

    def ints(self, *values: int) -> str:
        return self.const(np.array(values, np.int64))

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs) -> str | list[str]:
        outs = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), outs, name=self.name(op_type), **attrs)
        )
        return outs[0] if outputs == 1 else outs

    def model(
        self,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        name: str = "model",
    ) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", self.opset)],
            producer_name="pytorch",
        )
        model.ir_version = 10 if self.opset > 20 else 8
        onnx.checker.check_model(model)
        return model

    # -- patterns ------------------------------------------------------------------------

    def dim(self, x: str, index: int) -> str:
        """``x.size(index)`` as a 1-element int64 tensor (Shape→Gather→Unsqueeze)."""
        shape = self.op("Shape", x)
        scalar = self.op("Gather", shape, self.const(np.array(index, np.int64)), axis=0)
        return self.unsqueeze(scalar, 0)

    def reduce_mean(self, x: str, *axes: int) -> str:
        """ReduceMean keeping dims, ``axes`` as an attribute before opset 18, an input after."""
        if self.opset < 18:
            return self.op("ReduceMean", x, axes=list(axes))
        return self.op("ReduceMean", x, self.ints(*axes))

    def unsqueeze(self, x: str, *axes: int) -> str:
        """Unsqueeze with ``axes`` as an attribute before opset 13, an input after."""
        if self.opset < 13:
            return self.op("Unsqueeze", x, axes=list(axes))
        return self.op("Unsqueeze", x, self.ints(*axes))

    def reshape_dynamic(self, x: str, dims: Sequence[int | tuple[str, int]]) -> str:
        """``x.view(...)`` with some dimensions read from tensors' shapes at run time.

        ``dims`` holds literal sizes or ``(tensor, axis)`` pairs.
        """
        parts = [self.dim(*d) if isinstance(d, tuple) else self.ints(d) for d in dims]
        return self.op("Reshape", x, self.op("Concat", *parts, axis=0))

    def linear(self, x: str, n_in: int, n_out: int) -> str:
        """torch ``nn.Linear`` on a 3-D input: MatMul by the transposed weight, then Add."""
        y = self.op("MatMul", x, self.weight(n_in, n_out))
        return self.op("Add", self.param(np.zeros(n_out, np.float32) + 0.01), y)

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, group: int = 1) -> str:
        pad = k // 2
        return self.op(
            "Conv",
            x,
            self.weight(c_out, c_in // group, k, k),
            self.weight(c_out, scale=0.1),
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=group,
        )

    def batch_norm(self, x: str, c: int) -> str:
        gamma = self.param(self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        beta = self.param((self.rng.standard_normal(c) * 0.1).astype(np.float32))
        mean = self.param((self.rng.standard_normal(c) * 0.1).astype(np.float32))
        var = self.param(self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        return self.op("BatchNormalization", x, gamma, beta, mean, var, epsilon=1e-5)

    def silu(self, x: str) -> str:
        return self.op("Mul", x, self.op("Sigmoid", x))

    def layer_norm_decomposed(self, x: str, h: int) -> str:
        """torch's LayerNorm before opset 17: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div."""
        mean = self.reduce_mean(x, -1)
        d = self.op("Sub", x, mean)
        var = self.reduce_mean(self.op("Pow", d, self.const(np.float32(2.0))), -1)
        std = self.op("Sqrt", self.op("Add", var, self.const(np.float32(1e-12))))
        y = self.op("Div", d, std)
        scale = self.param(self.rng.uniform(0.5, 1.5, h).astype(np.float32))
        return self.op("Add", self.op("Mul", y, scale), self.param(np.full(h, 0.1, np.float32)))

    def layer_norm(self, x: str, h: int) -> str:
        """LayerNormalization from opset 17; the decomposed form before."""
        if self.opset < 17:
            return self.layer_norm_decomposed(x, h)
        scale = self.param(self.rng.uniform(0.5, 1.5, h).astype(np.float32))
        bias = self.param(np.full(h, -0.1, np.float32))
        return self.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=1e-5)

    def gelu_erf(self, x: str) -> str:
        """GELU as torch exports it: x * 0.5 * (1 + erf(x / sqrt(2)))."""
        e = self.op("Erf", self.op("Div", x, self.const(np.float32(math.sqrt(2.0)))))
        y = self.op("Mul", x, self.op("Add", e, self.const(np.float32(1.0))))
        return self.op("Mul", y, self.const(np.float32(0.5)))


def _value(name: str, elem: int, shape: Sequence[int | str] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


# -- a. BERT-like encoder -------------------------------------------------------------------


def bert_encoder(
    batch: int = 2,
    seq: int = 7,
    mask_style: str = "mul",
    positions: str = "range",
    seed: int = 0,
) -> RealWorldModel:
    """A two-layer BERT exported the way torch.onnx does it (opset 17).

    ``mask_style``: ``"mul"`` is the classic ``(1 - mask) * -10000``; ``"where"`` the
    newer ``masked_fill`` with ``-inf`` through Where, expanded to [B, 1, S, S] by a
    shape built with Concat. ``positions``: ``"range"`` (BERT: Range over the sequence
    length, Unsqueeze, Expand) or ``"cumsum"`` (RoBERTa: int32 CumSum of the non-pad
    tokens, so position ids depend on the input values).
    """
    vocab, hidden, heads, ffn, max_pos = 50, 32, 4, 64, 16
    head_dim = hidden // heads
    b = Builder(np.random.default_rng(seed), 17)

    # Embeddings: word + position + token type.
    words = b.op("Gather", b.weight(vocab, hidden, scale=0.5), "input_ids", axis=0)
    ids_shape = b.op("Shape", "input_ids")
    if positions == "range":
        seq_len = b.op("Gather", ids_shape, b.const(np.array(1, np.int64)), axis=0)
        zero, one = b.const(np.array(0, np.int64)), b.const(np.array(1, np.int64))
        position_ids = b.unsqueeze(b.op("Range", zero, seq_len, one), 0)
        position_ids = b.op("Expand", position_ids, ids_shape)
    else:  # create_position_ids_from_input_ids, padding_idx = 1
        pad = b.const(np.array(1, np.int64))
        real = b.op("Cast", b.op("Not", b.op("Equal", "input_ids", pad)), to=TensorProto.INT32)
        counted = b.op("CumSum", real, b.const(np.array(1, np.int64)))
        position_ids = b.op("Cast", b.op("Mul", counted, real), to=I64)
        position_ids = b.op("Add", position_ids, pad)
    pos_emb = b.op("Gather", b.weight(max_pos, hidden, scale=0.5), position_ids, axis=0)
    token_types = b.op(
        "ConstantOfShape", ids_shape, value=numpy_helper.from_array(np.zeros(1, np.int64))
    )
    type_emb = b.op("Gather", b.weight(2, hidden, scale=0.5), token_types, axis=0)
    x = b.op("Add", b.op("Add", words, pos_emb), type_emb)
    x = b.layer_norm_decomposed(x, hidden)

    # Extended attention mask.
    if mask_style == "mul":
        m = b.unsqueeze("attention_mask", 1, 2)
        m = b.op("Cast", m, to=F32)
        m = b.op("Sub", b.const(np.float32(1.0)), m)
        mask = b.op("Mul", m, b.const(np.float32(-10000.0)))
    else:
        m = b.unsqueeze("attention_mask", 1, 2)
        target = b.op(
            "Concat",
            b.dim("input_ids", 0),
            b.ints(1),
            b.dim("input_ids", 1),
            b.dim("input_ids", 1),
            axis=0,
        )
        m = b.op("Expand", m, target)
        blocked = b.op("Not", b.op("Cast", m, to=TensorProto.BOOL))
        mask = b.op("Where", blocked, b.const(np.float32(-np.inf)), b.const(np.float32(0.0)))

    def split_heads(t: str, perm: list[int]) -> str:
        t = b.reshape_dynamic(t, [(t, 0), (t, 1), heads, head_dim])
        return b.op("Transpose", t, perm=perm)

    for layer in range(2):
        q = split_heads(b.linear(x, hidden, hidden), [0, 2, 1, 3])
        k = split_heads(b.linear(x, hidden, hidden), [0, 2, 3, 1])
        v = split_heads(b.linear(x, hidden, hidden), [0, 2, 1, 3])
        scores = b.op("Div", b.op("MatMul", q, k), b.const(np.float32(math.sqrt(head_dim))))
        probs = b.op("Softmax", b.op("Add", scores, mask), axis=-1)
        ctx = b.op("Transpose", b.op("MatMul", probs, v), perm=[0, 2, 1, 3])
        ctx = b.reshape_dynamic(ctx, [(ctx, 0), (ctx, 1), hidden])
        attn = b.op("Add", b.linear(ctx, hidden, hidden), x)
        norm = b.layer_norm_decomposed if layer == 0 else b.layer_norm
        x = norm(attn, hidden)
        inner = b.gelu_erf(b.linear(x, hidden, ffn))
        x = norm(b.op("Add", b.linear(inner, ffn, hidden), x), hidden)

    last = b.op("Identity", x)
    first_token = b.op("Gather", last, b.const(np.array(0, np.int64)), axis=1)
    pooled = b.op(
        "Gemm", first_token, b.weight(hidden, hidden), b.weight(hidden, scale=0.1), transB=1
    )
    pooled = b.op("Tanh", pooled)
    b.nodes.append(helper.make_node("Identity", [last], ["last_hidden_state"]))
    b.nodes.append(helper.make_node("Identity", [pooled], ["pooler_output"]))

    model = b.model(
        [
            _value("input_ids", I64, ["batch", "sequence"]),
            _value("attention_mask", I64, ["batch", "sequence"]),
        ],
        [
            _value("last_hidden_state", F32, ["batch", "sequence", hidden]),
            _value("pooler_output", F32, ["batch", hidden]),
        ],
        name="bert",
    )
    rng = np.random.default_rng(seed + 1)
    mask = np.ones((batch, seq), np.int64)
    mask[0, seq - 2 :] = 0  # padding on the first sequence
    ids = rng.integers(2, vocab, (batch, seq)).astype(np.int64)
    ids[0, seq - 2 :] = 1  # the pad token
    feeds = {"input_ids": ids, "attention_mask": mask}
    dims = {"input_ids": [batch, seq], "attention_mask": [batch, seq]}
    return RealWorldModel(model, dims, feeds)


# -- b. YOLO-style detector -------------------------------------------------------------------

YOLO_ANCHORS = np.array(
    [
        [[10, 13], [16, 30], [33, 23]],
        [[30, 61], [62, 45], [59, 119]],
        [[116, 90], [156, 198], [373, 326]],
    ],
    np.float32,
)


def _yolo_grid(ny: int, nx: int) -> np.ndarray:
    yv, xv = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    return np.stack((xv, yv), -1).reshape(1, 1, ny, nx, 2).astype(np.float32)


def yolo_detector(size: int = 64, seed: int = 0) -> RealWorldModel:
    """A YOLOv5-shaped detector (opset 13): Focus slices, SiLU and LeakyRelu convs,
    Split, SPP max-pools, nearest ×2 upsampling by ``scales`` and by ``sizes`` computed
    from the input's shape, and a Detect head over three scales → [1, N, 85].

    One scale decodes the way ``inplace=True`` exports: ScatterND writes into the
    sigmoid output; the others slice, decode and Concat.
    """
    b = Builder(np.random.default_rng(seed), 13)
    na, no = 3, 85

    def cbs(x: str, c_in: int, c_out: int, k: int = 3, s: int = 1, act: str = "silu") -> str:
        y = b.batch_norm(b.conv(x, c_in, c_out, k, s), c_out)
        return b.silu(y) if act == "silu" else b.op("LeakyRelu", y, alpha=0.1)

    # Focus: four strided slices stacked on channels.
    pieces = []
    for dy, dx in ((0, 0), (1, 0), (0, 1), (1, 1)):
        pieces.append(
            b.op(
                "Slice", "images", b.ints(dy, dx), b.ints(2**62, 2**62), b.ints(2, 3), b.ints(2, 2)
            )
        )
    x = cbs(b.op("Concat", *pieces, axis=1), 12, 16)  # /2
    x = cbs(x, 16, 32, s=2)  # /4
    # C3-ish block: Split the channels, convolve one half, Concat back.
    left, right = b.op("Split", x, b.ints(16, 16), axis=1, outputs=2)
    right = b.op("Add", right, cbs(cbs(right, 16, 16, k=1), 16, 16))
    x = cbs(b.op("Concat", left, right, axis=1), 32, 32, k=1)
    p3 = cbs(x, 32, 32, s=2, act="leaky")  # /8
    p4 = cbs(p3, 32, 48, s=2, act="leaky")  # /16
    p5 = cbs(p4, 48, 64, s=2)  # /32
    # SPP.
    pools = [
        b.op("MaxPool", p5, kernel_shape=[k, k], strides=[1, 1], pads=[k // 2] * 4)
        for k in (5, 9, 13)
    ]
    p5 = cbs(b.op("Concat", p5, *pools, axis=1), 256, 64, k=1)

    # Top-down: ×2 by scales, then ×2 by sizes computed from the shape.
    up = b.op(
        "Resize",
        cbs(p5, 64, 48, k=1),
        "",
        b.const(np.array([1, 1, 2, 2], np.float32)),
        mode="nearest",
    )
    n4 = cbs(b.op("Concat", up, p4, axis=1), 96, 48)
    small = cbs(n4, 48, 32, k=1)
    shape = b.op("Shape", small)
    hw = b.op("Cast", b.op("Slice", shape, b.ints(2), b.ints(4)), to=F32)
    hw = b.op(
        "Cast", b.op("Floor", b.op("Mul", hw, b.const(np.array([2.0, 2.0], np.float32)))), to=I64
    )
    sizes = b.op("Concat", b.op("Slice", shape, b.ints(0), b.ints(2)), hw, axis=0)
    up = b.op(
        "Resize",
        small,
        "",
        "",
        sizes,
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    n3 = cbs(b.op("Concat", up, p3, axis=1), 64, 32)

    outputs = []
    for i, (feat, c, stride) in enumerate(((n3, 32, 8), (n4, 48, 16), (p5, 64, 32))):
        ny = nx = size // stride
        y = b.conv(feat, c, na * no, 1)
        if i == 1:
            y = b.reshape_dynamic(y, [(y, 0), na, no, (y, 2), (y, 3)])
        else:
            y = b.op("Reshape", y, b.ints(1, na, no, ny, nx))
        y = b.op("Sigmoid", b.op("Transpose", y, perm=[0, 1, 3, 4, 2]))
        grid = b.param(_yolo_grid(ny, nx), "grid")
        anchor_grid = b.param(YOLO_ANCHORS[i].reshape(1, na, 1, 1, 2), "anchor_grid")
        two = b.const(np.float32(2.0))
        xy_in = b.op("Slice", y, b.ints(0), b.ints(2), b.ints(4))
        wh_in = b.op("Slice", y, b.ints(2), b.ints(4), b.ints(4))
        xy = b.op("Add", b.op("Sub", b.op("Mul", xy_in, two), b.const(np.float32(0.5))), grid)
        xy = b.op("Mul", xy, b.const(np.float32(stride)))
        wh = b.op("Mul", b.op("Pow", b.op("Mul", wh_in, two), two), anchor_grid)
        if i == 0:
            # y[..., 0:2] = xy; y[..., 2:4] = wh (torch's in-place assignment).
            for start, value in ((0, xy), (2, wh)):
                idx = np.indices((1, na, ny, nx, 2))
                idx[4] += start
                idx = np.moveaxis(idx, 0, -1).astype(np.int64)  # [1, na, ny, nx, 2, 5]
                y = b.op("ScatterND", y, b.param(idx, "idx"), value)
        else:
            rest = b.op("Slice", y, b.ints(4), b.ints(no), b.ints(4))
            y = b.op("Concat", xy, wh, rest, axis=-1)
        outputs.append(b.reshape_dynamic(y, [(y, 0), -1, no]))
    b.nodes.append(helper.make_node("Concat", outputs, ["output"], axis=1))

    n = na * sum((size // s) ** 2 for s in (8, 16, 32))
    model = b.model(
        [_value("images", F32, ["batch", 3, "height", "width"])],
        [_value("output", F32, ["batch", n, no])],
        name="yolo",
    )
    feeds = {"images": np.random.default_rng(seed + 1).random((1, 3, size, size), np.float32)}
    return RealWorldModel(model, {"images": [1, 3, size, size]}, feeds)


def ssd_detector(batch: int = 2, size: int = 32, seed: int = 0) -> RealWorldModel:
    """An SSD-shaped head (opset 11): per-map loc/conf convs, Transpose, Reshape to
    [B, -1, k] by a Shape-derived batch, Concat, Softmax over classes, and box decoding
    against constant priors with Flatten/Concat."""
    b = Builder(np.random.default_rng(seed), 11)
    n_classes, n_priors = 6, 4
    x = b.op("Relu", b.conv("image", 3, 16, 3, 2))  # /2
    maps = []
    for c_in, c_out in ((16, 24), (24, 32), (32, 32)):
        x = b.op("Relu", b.conv(x, c_in, c_out, 3, 2))
        maps.append((x, c_out))
    locs, confs = [], []
    for feat, c in maps:
        loc = b.op("Transpose", b.conv(feat, c, n_priors * 4, 3), perm=[0, 2, 3, 1])
        locs.append(b.reshape_dynamic(loc, [(loc, 0), -1, 4]))
        conf = b.op("Transpose", b.conv(feat, c, n_priors * n_classes, 3), perm=[0, 2, 3, 1])
        # Flatten per map then Concat, as some exports do: [B, H*W*k*C].
        confs.append(b.op("Flatten", conf, axis=1))
    n_total = sum((size // 2 ** (k + 2)) ** 2 * n_priors for k in range(len(maps)))
    rng = np.random.default_rng(seed + 2)
    prior_boxes = np.concatenate(
        [rng.uniform(0.1, 0.9, (1, n_total, 2)), rng.uniform(0.05, 0.5, (1, n_total, 2))], -1
    ).astype(np.float32)
    loc = b.op("Concat", *locs, axis=1)
    conf = b.reshape_dynamic(b.op("Concat", *confs, axis=1), [("image", 0), -1, n_classes])
    scores = b.op("Softmax", conf, axis=-1)
    centers = b.op("Slice", loc, b.ints(0), b.ints(2), b.ints(2))
    sizes = b.op("Slice", loc, b.ints(2), b.ints(4), b.ints(2))
    p_cxcy = b.param(prior_boxes[..., :2], "prior_cxcy")
    p_wh = b.param(prior_boxes[..., 2:], "prior_wh")
    cxcy = b.op("Add", b.op("Mul", b.op("Mul", centers, b.const(np.float32(0.1))), p_wh), p_cxcy)
    wh = b.op("Mul", b.op("Exp", b.op("Mul", sizes, b.const(np.float32(0.2)))), p_wh)
    half = b.op("Div", wh, b.const(np.float32(2.0)))
    boxes = b.op("Concat", b.op("Sub", cxcy, half), b.op("Add", cxcy, half), axis=2)
    b.nodes.append(helper.make_node("Identity", [boxes], ["boxes"]))
    b.nodes.append(helper.make_node("Identity", [scores], ["scores"]))
    model = b.model(
        [_value("image", F32, ["N", 3, size, size])],
        [_value("boxes", F32, ["N", n_total, 4]), _value("scores", F32, ["N", n_total, n_classes])],
        name="ssd",
    )
    feeds = {
        "image": np.random.default_rng(seed + 1)
        .standard_normal((batch, 3, size, size))
        .astype(np.float32)
    }
    return RealWorldModel(model, {"image": [batch, 3, size, size]}, feeds)


# -- c. MobileNetV2 / EfficientNet-style CNNs -------------------------------------------------


def _relu6(b: Builder, x: str, opset: int) -> str:
    if opset < 11:
        return b.op("Clip", x, min=0.0, max=6.0)  # opset 6-10: bounds are attributes
    return b.op("Clip", x, b.const(np.float32(0.0)), b.const(np.float32(6.0)))


def mobilenet_v2(batch: int = 2, size: int = 32, opset: int = 13, seed: int = 0) -> RealWorldModel:
    """MobileNetV2 in miniature: Conv+BN+ReLU6 (Clip in its opset-``opset`` form),
    inverted residual blocks with depthwise convs and residual Adds, GlobalAveragePool,
    a torch ``x.view(x.size(0), -1)`` reshape and a Gemm classifier."""
    b = Builder(np.random.default_rng(seed), opset)

    def cbr(x: str, c_in: int, c_out: int, k: int, s: int = 1, group: int = 1, act=True) -> str:
        y = b.batch_norm(b.conv(x, c_in, c_out, k, s, group), c_out)
        return _relu6(b, y, opset) if act else y

    x = cbr("input", 3, 16, 3, 2)
    c = 16
    for c_out, stride, expand in ((16, 1, 1), (24, 2, 4), (24, 1, 4), (32, 2, 4), (32, 1, 4)):
        hidden = c * expand
        y = cbr(x, c, hidden, 1) if expand != 1 else x
        y = cbr(y, hidden, hidden, 3, stride, group=hidden)
        y = cbr(y, hidden, c_out, 1, act=False)
        x = b.op("Add", x, y) if stride == 1 and c == c_out else y
        c = c_out
    x = cbr(x, c, 64, 1)
    x = b.op("GlobalAveragePool", x)
    x = b.reshape_dynamic(x, [(x, 0), -1])
    b.nodes.append(
        helper.make_node(
            "Gemm", [x, b.weight(10, 64), b.weight(10, scale=0.1)], ["logits"], transB=1
        )
    )
    model = b.model(
        [_value("input", F32, ["batch_size", 3, size, size])],
        [_value("logits", F32, ["batch_size", 10])],
        name="mobilenet_v2",
    )
    feeds = {
        "input": np.random.default_rng(seed + 1)
        .standard_normal((batch, 3, size, size))
        .astype(np.float32)
    }
    return RealWorldModel(model, {"input": [batch, 3, size, size]}, feeds)


def efficientnet(batch: int = 1, size: int = 32, seed: int = 0) -> RealWorldModel:
    """EfficientNet / MobileNetV3 blocks (opset 14): Swish and HardSwish, depthwise convs,
    squeeze-excite (ReduceMean keepdims, 1x1 convs, Sigmoid or HardSigmoid, Mul),
    residual Add, GlobalAveragePool, Flatten, Dropout and Gemm."""
    b = Builder(np.random.default_rng(seed), 14)

    def conv_bn(x: str, c_in: int, c_out: int, k: int, s: int = 1, group: int = 1) -> str:
        return b.batch_norm(b.conv(x, c_in, c_out, k, s, group), c_out)

    def squeeze_excite(x: str, c: int, gate: str) -> str:
        s = b.op("ReduceMean", x, axes=[2, 3], keepdims=1)
        s = b.silu(b.op("Conv", s, b.weight(c // 4, c, 1, 1), b.weight(c // 4, scale=0.1)))
        s = b.op("Conv", s, b.weight(c, c // 4, 1, 1), b.weight(c, scale=0.1))
        s = (
            b.op("Sigmoid", s)
            if gate == "sigmoid"
            else b.op("HardSigmoid", s, alpha=1 / 6, beta=0.5)
        )
        return b.op("Mul", x, s)

    x = b.silu(conv_bn("pixel_values", 3, 16, 3, 2))
    c = 16
    for c_out, stride, act, gate in (
        (16, 1, "swish", "sigmoid"),
        (24, 2, "hardswish", "hard"),
        (24, 1, "hardswish", "hard"),
        (32, 2, "swish", "sigmoid"),
    ):
        hidden = c * 4
        y = conv_bn(x, c, hidden, 1)
        y = b.silu(y) if act == "swish" else b.op("HardSwish", y)
        y = conv_bn(y, hidden, hidden, 3, stride, group=hidden)
        y = b.silu(y) if act == "swish" else b.op("HardSwish", y)
        y = squeeze_excite(y, hidden, gate)
        y = conv_bn(y, hidden, c_out, 1)
        x = b.op("Add", y, x) if stride == 1 and c == c_out else y
        c = c_out
    x = b.op("HardSwish", conv_bn(x, c, 64, 1))
    x = b.op("Flatten", b.op("GlobalAveragePool", x), axis=1)
    x = b.op("Dropout", x, b.const(np.float32(0.2)))
    b.nodes.append(
        helper.make_node(
            "Gemm", [x, b.weight(10, 64), b.weight(10, scale=0.1)], ["logits"], transB=1
        )
    )
    model = b.model(
        [_value("pixel_values", F32, ["batch", 3, "height", "width"])],
        [_value("logits", F32, ["batch", 10])],
        name="efficientnet",
    )
    feeds = {
        "pixel_values": np.random.default_rng(seed + 1)
        .standard_normal((batch, 3, size, size))
        .astype(np.float32)
    }
    return RealWorldModel(model, {"pixel_values": [batch, 3, size, size]}, feeds)


# -- d. ViT-style encoder ---------------------------------------------------------------------


def vit(batch: int = 2, size: int = 32, seed: int = 0) -> RealWorldModel:
    """A ViT (opset 17): a stride-16 patch Conv, ``flatten(2).transpose(1, 2)``, a class
    token expanded to the batch the way torch exports ``expand(B, -1, -1)`` (Where over
    Equal(-1) into Expand), positional Add, LayerNormalization, attention by Einsum,
    Erf-GELU MLP, and a classifier on the class token."""
    dim, heads, patch = 32, 4, 16
    head_dim = dim // heads
    n_tokens = (size // patch) ** 2 + 1
    b = Builder(np.random.default_rng(seed), 17)

    x = b.op(
        "Conv",
        "pixel_values",
        b.weight(dim, 3, patch, patch),
        b.weight(dim, scale=0.1),
        kernel_shape=[patch, patch],
        strides=[patch, patch],
    )
    # x.flatten(2): Reshape to Concat(Shape(x)[0:2], [-1]).
    lead = b.op("Slice", b.op("Shape", x), b.ints(0), b.ints(2), b.ints(0))
    x = b.op("Reshape", x, b.op("Concat", lead, b.ints(-1), axis=0))
    x = b.op("Transpose", x, perm=[0, 2, 1])

    # cls_token.expand(B, -1, -1)
    shape = b.op("Concat", b.dim("pixel_values", 0), b.ints(-1), b.ints(-1), axis=0)
    minus_ones = b.op(
        "Mul",
        b.op("ConstantOfShape", b.ints(3), value=numpy_helper.from_array(np.ones(1, np.int64))),
        b.const(np.array(-1, np.int64)),
    )
    keep = b.op("Equal", shape, minus_ones)
    shape = b.op(
        "Where",
        keep,
        b.op("ConstantOfShape", b.ints(3), value=numpy_helper.from_array(np.ones(1, np.int64))),
        shape,
    )
    cls = b.op("Expand", b.weight(1, 1, dim, scale=0.5), shape)
    x = b.op("Concat", cls, x, axis=1)
    x = b.op("Add", x, b.weight(1, n_tokens, dim, scale=0.5))

    for _ in range(2):
        h = b.layer_norm(x, dim)
        qkv = b.linear(h, dim, 3 * dim)
        qkv = b.reshape_dynamic(qkv, [(qkv, 0), (qkv, 1), 3, heads, head_dim])
        qkv = b.op("Transpose", qkv, perm=[2, 0, 3, 1, 4])
        q, k, v = (b.op("Gather", qkv, b.const(np.array(i, np.int64)), axis=0) for i in range(3))
        scores = b.op("Einsum", q, k, equation="bhqd,bhkd->bhqk")
        scores = b.op("Mul", scores, b.const(np.float32(head_dim**-0.5)))
        probs = b.op("Softmax", scores, axis=-1)
        out = b.op("Einsum", probs, v, equation="bhqk,bhkd->bhqd")
        out = b.op("Transpose", out, perm=[0, 2, 1, 3])
        out = b.reshape_dynamic(out, [(out, 0), (out, 1), dim])
        x = b.op("Add", x, b.linear(out, dim, dim))
        h = b.gelu_erf(b.linear(b.layer_norm(x, dim), dim, 2 * dim))
        x = b.op("Add", x, b.linear(h, 2 * dim, dim))

    x = b.layer_norm(x, dim)
    cls_out = b.op("Gather", x, b.const(np.array(0, np.int64)), axis=1)
    b.nodes.append(
        helper.make_node(
            "Gemm", [cls_out, b.weight(10, dim), b.weight(10, scale=0.1)], ["logits"], transB=1
        )
    )
    model = b.model(
        [_value("pixel_values", F32, ["batch", 3, size, size])],
        [_value("logits", F32, ["batch", 10])],
        name="vit",
    )
    feeds = {
        "pixel_values": np.random.default_rng(seed + 1)
        .standard_normal((batch, 3, size, size))
        .astype(np.float32)
    }
    return RealWorldModel(model, {"pixel_values": [batch, 3, size, size]}, feeds)


# -- e. a Caffe2-era opset-6 CNN --------------------------------------------------------------


def caffe2_cnn(opset: int = 6, seed: int = 0) -> RealWorldModel:
    """A CNN the way Caffe2 exported them to opset 6 (IR version 3, initializers listed as
    inputs): bias-free Conv followed by ``Add(broadcast=1, axis=1)`` of a per-channel bias,
    a per-channel ``Mul`` the same way, BatchNormalization with ``is_test``, and a
    ``Gemm(broadcast=1)`` classifier.

    ``opset=7`` builds the same network with numpy broadcasting (biases shaped
    [C, 1, 1]): the reference ONNX Runtime can run.
    """
    b = Builder(np.random.default_rng(seed), opset)
    legacy = opset < 7

    def channel_op(op: str, x: str, value: np.ndarray) -> str:
        if legacy:
            return b.op(op, x, b.param(value), broadcast=1, axis=1)
        return b.op(op, x, b.param(value.reshape(-1, 1, 1)))

    def conv_bias_relu(x: str, c_in: int, c_out: int) -> str:
        w = b.weight(c_out, c_in, 3, 3)
        y = b.op("Conv", x, w, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        y = channel_op("Add", y, (b.rng.standard_normal(c_out) * 0.1).astype(np.float32))
        return b.op("Relu", y)

    x = conv_bias_relu("data_0", 3, 8)
    x = b.op("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2])
    x = conv_bias_relu(x, 8, 16)
    stats = [
        b.rng.uniform(0.5, 1.5, 16),
        b.rng.standard_normal(16) * 0.1,
        b.rng.standard_normal(16) * 0.1,
        b.rng.uniform(0.5, 1.5, 16),
    ]
    bn_attrs = {"is_test": 1} if legacy else {}
    x = b.op(
        "BatchNormalization",
        x,
        *(b.param(s.astype(np.float32)) for s in stats),
        epsilon=1e-5,
        **bn_attrs,
    )
    x = channel_op("Mul", x, b.rng.uniform(0.5, 1.5, 16).astype(np.float32))
    x = b.op("GlobalAveragePool", x)
    x = b.op("Reshape", x, b.param(np.array([1, 16], np.int64)))
    gemm_attrs = {"broadcast": 1} if legacy else {}
    b.nodes.append(
        helper.make_node(
            "Gemm", [x, b.weight(10, 16), b.weight(10, scale=0.1)], ["prob"], transB=1, **gemm_attrs
        )
    )
    inputs = [_value("data_0", F32, [1, 3, 16, 16])]
    if legacy:
        inputs += [_value(t.name, t.data_type, list(t.dims)) for t in b.inits]
    model = b.model(inputs, [_value("prob", F32, [1, 10])], name="caffe2_cnn")
    if legacy:
        model.ir_version = 3
    feeds = {
        "data_0": np.random.default_rng(seed + 1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    }
    return RealWorldModel(model, {}, feeds)


# -- decoders ---------------------------------------------------------------------------------

_FLOAT_MIN = np.float32(np.finfo(np.float32).min)


def gpt2_decoder(
    batch: int = 2, seq: int = 6, causal: str = "slice", seed: int = 0
) -> RealWorldModel:
    """A two-layer GPT-2 (opset 14, LayerNorm decomposed): Split of the fused qkv projection, a causal mask either
    sliced out of a constant ``bias`` buffer by Shape-derived bounds (``"slice"``, as
    transformers' GPT2Attention exports) or made by Trilu (``"trilu"``), Where with
    ``finfo.min``, tanh-GELU decomposed with Pow, and logits tied to the token embedding
    through a Transpose of the initializer."""
    vocab, dim, heads, max_pos = 40, 32, 4, 16
    head_dim = dim // heads
    b = Builder(np.random.default_rng(seed), 14)
    wte = b.weight(vocab, dim, scale=0.5)
    ids_shape = b.op("Shape", "input_ids")
    seq_len = b.op("Gather", ids_shape, b.const(np.array(1, np.int64)), axis=0)
    zero, one = b.const(np.array(0, np.int64)), b.const(np.array(1, np.int64))
    position_ids = b.unsqueeze(b.op("Range", zero, seq_len, one), 0)
    x = b.op(
        "Add",
        b.op("Gather", wte, "input_ids"),
        b.op("Gather", b.weight(max_pos, dim, scale=0.5), position_ids),
    )
    bias = b.param(
        np.tril(np.ones((max_pos, max_pos), np.bool_)).reshape(1, 1, max_pos, max_pos), "bias"
    )

    def heads_first(t: str, perm: list[int]) -> str:
        t = b.reshape_dynamic(t, [(t, 0), (t, 1), heads, head_dim])
        return b.op("Transpose", t, perm=perm)

    def gelu_new(t: str) -> str:
        cube = b.op("Mul", b.op("Pow", t, b.const(np.float32(3.0))), b.const(np.float32(0.044715)))
        inner = b.op("Mul", b.op("Add", t, cube), b.const(np.float32(math.sqrt(2.0 / math.pi))))
        y = b.op("Add", b.op("Tanh", inner), b.const(np.float32(1.0)))
        return b.op("Mul", b.op("Mul", t, b.const(np.float32(0.5))), y)

    for _ in range(2):
        qkv = b.linear(b.layer_norm(x, dim), dim, 3 * dim)
        q, k, v = b.op("Split", qkv, b.ints(dim, dim, dim), axis=2, outputs=3)
        q, k, v = (
            heads_first(q, [0, 2, 1, 3]),
            heads_first(k, [0, 2, 3, 1]),
            heads_first(v, [0, 2, 1, 3]),
        )
        scores = b.op("Div", b.op("MatMul", q, k), b.const(np.float32(math.sqrt(head_dim))))
        if causal == "slice":
            q_len = b.dim(q, 2)
            k_len = b.dim(k, 3)
            rows = b.op("Slice", bias, b.op("Sub", k_len, q_len), k_len, b.ints(2))
            mask = b.op("Slice", rows, b.ints(0), k_len, b.ints(3))
        else:
            square = b.op("Concat", b.dim(q, 2), b.dim(q, 2), axis=0)
            ones = b.op(
                "ConstantOfShape", square, value=numpy_helper.from_array(np.ones(1, np.float32))
            )
            mask = b.op("Cast", b.op("Trilu", ones, upper=0), to=TensorProto.BOOL)
        scores = b.op("Where", mask, scores, b.const(_FLOAT_MIN))
        out = b.op("MatMul", b.op("Softmax", scores, axis=-1), v)
        out = b.op("Transpose", out, perm=[0, 2, 1, 3])
        out = b.reshape_dynamic(out, [(out, 0), (out, 1), dim])
        x = b.op("Add", b.linear(out, dim, dim), x)
        h = gelu_new(b.linear(b.layer_norm(x, dim), dim, 4 * dim))
        x = b.op("Add", b.linear(h, 4 * dim, dim), x)
    x = b.layer_norm(x, dim)
    b.nodes.append(helper.make_node("MatMul", [x, b.op("Transpose", wte, perm=[1, 0])], ["logits"]))
    model = b.model(
        [_value("input_ids", I64, ["batch_size", "sequence_length"])],
        [_value("logits", F32, ["batch_size", "sequence_length", vocab])],
        name="gpt2",
    )
    ids = np.random.default_rng(seed + 1).integers(0, vocab, (batch, seq)).astype(np.int64)
    return RealWorldModel(model, {"input_ids": [batch, seq]}, {"input_ids": ids})


def llama_decoder(batch: int = 2, seq: int = 6, opset: int = 17, seed: int = 0) -> RealWorldModel:
    """A LLaMA-style block: RMSNorm (decomposed; fused ``RMSNormalization`` at opset 23),
    rotary embeddings from a Range-built cos/sin table, ``rotate_half`` with Slice/Neg/
    Concat, a Trilu causal mask plus the padding mask (both ``finfo.min``) expanded to
    [B, 1, S, S], and a SiLU-gated MLP."""
    vocab, dim, heads, ffn = 40, 32, 4, 48
    head_dim = dim // heads
    b = Builder(np.random.default_rng(seed), opset)

    def rms_norm(t: str) -> str:
        w = b.param(b.rng.uniform(0.5, 1.5, dim).astype(np.float32))
        if opset >= 23:
            return b.op("RMSNormalization", t, w, axis=-1, epsilon=1e-6)
        var = b.reduce_mean(b.op("Pow", t, b.const(np.float32(2.0))), -1)
        inv = b.op("Reciprocal", b.op("Sqrt", b.op("Add", var, b.const(np.float32(1e-6)))))
        return b.op("Mul", w, b.op("Mul", t, inv))

    x = b.op("Gather", b.weight(vocab, dim, scale=0.5), "input_ids")
    # Rotary tables: t = arange(S); freqs = outer(t, inv_freq); emb = cat(freqs, freqs).
    seq_len = b.op("Gather", b.op("Shape", "input_ids"), b.const(np.array(1, np.int64)), axis=0)
    t = b.op(
        "Cast",
        b.op("Range", b.const(np.array(0, np.int64)), seq_len, b.const(np.array(1, np.int64))),
        to=F32,
    )
    inv_freq = b.param(
        (1.0 / 10000 ** (np.arange(0, head_dim, 2) / head_dim)).astype(np.float32), "inv_freq"
    )
    freqs = b.op("Mul", b.unsqueeze(t, 1), b.unsqueeze(inv_freq, 0))
    emb = b.op("Concat", freqs, freqs, axis=-1)
    cos, sin = b.unsqueeze(b.op("Cos", emb), 0, 1), b.unsqueeze(b.op("Sin", emb), 0, 1)

    def rotary(t: str) -> str:
        half = head_dim // 2
        x1 = b.op("Slice", t, b.ints(0), b.ints(half), b.ints(-1))
        x2 = b.op("Slice", t, b.ints(half), b.ints(2**62), b.ints(-1))
        rotated = b.op("Concat", b.op("Neg", x2), x1, axis=-1)
        return b.op("Add", b.op("Mul", t, cos), b.op("Mul", rotated, sin))

    # Causal (Trilu over a ConstantOfShape) plus padding, both as finfo.min, [B, 1, S, S].
    square = b.op("Concat", b.dim("input_ids", 1), b.dim("input_ids", 1), axis=0)
    full = b.op("ConstantOfShape", square, value=numpy_helper.from_array(np.array([_FLOAT_MIN])))
    causal = b.op("Trilu", full, b.const(np.array(1, np.int64)), upper=1)
    padding = b.op("Cast", b.unsqueeze("attention_mask", 1, 2), to=F32)
    padding = b.op("Mul", b.op("Sub", b.const(np.float32(1.0)), padding), b.const(_FLOAT_MIN))
    target = b.op("Concat", b.dim("input_ids", 0), b.ints(1), square, axis=0)
    mask = b.op("Add", b.op("Expand", causal, target), padding)

    for _ in range(2):
        h = rms_norm(x)
        q, k, v = (
            b.op(
                "Transpose",
                b.reshape_dynamic(
                    b.op("MatMul", h, b.weight(dim, dim)),
                    [("input_ids", 0), ("input_ids", 1), heads, head_dim],
                ),
                perm=[0, 2, 1, 3],
            )
            for _ in range(3)
        )
        q, k = rotary(q), rotary(k)
        scores = b.op("MatMul", q, b.op("Transpose", k, perm=[0, 1, 3, 2]))
        scores = b.op("Add", b.op("Div", scores, b.const(np.float32(math.sqrt(head_dim)))), mask)
        out = b.op("MatMul", b.op("Softmax", scores, axis=-1), v)
        out = b.reshape_dynamic(
            b.op("Transpose", out, perm=[0, 2, 1, 3]), [("input_ids", 0), ("input_ids", 1), dim]
        )
        x = b.op("Add", x, b.op("MatMul", out, b.weight(dim, dim)))
        h = rms_norm(x)
        gate = b.silu(b.op("MatMul", h, b.weight(dim, ffn)))
        up = b.op("MatMul", h, b.weight(dim, ffn))
        x = b.op("Add", x, b.op("MatMul", b.op("Mul", gate, up), b.weight(ffn, dim)))
    b.nodes.append(helper.make_node("MatMul", [rms_norm(x), b.weight(dim, vocab)], ["logits"]))
    model = b.model(
        [
            _value("input_ids", I64, ["batch", "seq"]),
            _value("attention_mask", I64, ["batch", "seq"]),
        ],
        [_value("logits", F32, ["batch", "seq", vocab])],
        name="llama",
    )
    rng = np.random.default_rng(seed + 1)
    mask = np.ones((batch, seq), np.int64)
    mask[-1, :2] = 0  # left padding on the last sequence
    feeds = {
        "input_ids": rng.integers(0, vocab, (batch, seq)).astype(np.int64),
        "attention_mask": mask,
    }
    return RealWorldModel(model, {"input_ids": [batch, seq], "attention_mask": [batch, seq]}, feeds)


# -- more CNN and detector exporters ------------------------------------------------------------


def tf2onnx_cnn(batch: int = 2, size: int = 24, seed: int = 0) -> RealWorldModel:
    """A Keras CNN as tf2onnx converts it (opset 13): NHWC input with an ``unk__`` batch
    dimension, Transpose to NCHW, ``auto_pad=SAME_UPPER`` convs, an explicit Pad, ReLU6
    as Clip, a depthwise conv, Transpose back, ReduceMean over H and W without keepdims,
    MatMul + Add and Softmax."""
    b = Builder(np.random.default_rng(seed), 13)
    x = b.op("Transpose", "input_1", perm=[0, 3, 1, 2])

    def conv(
        t: str, c_in: int, c_out: int, k: int, s: int, group: int = 1, pad: str = "SAME_UPPER"
    ) -> str:
        return b.op(
            "Conv",
            t,
            b.weight(c_out, c_in // group, k, k),
            b.weight(c_out, scale=0.1),
            kernel_shape=[k, k],
            strides=[s, s],
            group=group,
            auto_pad=pad,
        )

    relu6 = lambda t: b.op("Clip", t, b.const(np.float32(0.0)), b.const(np.float32(6.0)))  # noqa: E731
    x = relu6(conv(x, 3, 16, 3, 2))
    x = relu6(conv(x, 16, 16, 3, 1, group=16))
    x = b.op("Pad", x, b.ints(0, 0, 0, 1, 0, 0, 1, 2), b.const(np.float32(0.0)), mode="constant")
    x = b.op("Relu", conv(x, 16, 24, 3, 2, pad="VALID"))
    y = relu6(conv(x, 24, 24, 5, 1, group=24))
    x = b.op("Add", x, conv(y, 24, 24, 1, 1))
    x = b.op("Transpose", x, perm=[0, 2, 3, 1])
    x = b.op("ReduceMean", x, axes=[1, 2], keepdims=0)
    logits = b.op("Add", b.op("MatMul", x, b.weight(24, 5)), b.weight(5, scale=0.1))
    b.nodes.append(helper.make_node("Softmax", [logits], ["dense"], axis=-1))
    model = b.model(
        [_value("input_1", F32, ["unk__617", size, size, 3])],
        [_value("dense", F32, ["unk__618", 5])],
        name="tf2onnx",
    )
    feeds = {"input_1": np.random.default_rng(seed + 1).random((batch, size, size, 3), np.float32)}
    return RealWorldModel(model, {"input_1": [batch, size, size, 3]}, feeds)


def yolov8_head(size: int = 64, seed: int = 0) -> RealWorldModel:
    """A YOLOv8 detect head (opset 17): per-level box (4×16 DFL bins) and class convs,
    Reshape to [B, C, -1] by Shape, Concat over levels, Split, the DFL as Softmax plus a
    1×1 Conv with arange weights, anchor-point decoding (Slice, Sub, Add, Div, Concat),
    stride Mul and class Sigmoid → [B, 4 + classes, anchors]."""
    b = Builder(np.random.default_rng(seed), 17)
    n_cls, reg = 12, 16
    x = b.silu(b.conv("images", 3, 16, 3, 2))
    feats = []
    for c_in, c_out in ((16, 24), (24, 32), (32, 32)):
        x = b.silu(b.conv(x, c_in, c_out, 3, 2))
        feats.append((x, c_out))
    feats = feats[-3:]
    levels, anchors, strides = [], [], []
    for feat, c in feats:
        box = b.conv(b.silu(b.conv(feat, c, 16, 3)), 16, 4 * reg, 1)
        cls = b.conv(b.silu(b.conv(feat, c, 16, 3)), 16, n_cls, 1)
        level = b.op("Concat", box, cls, axis=1)
        levels.append(b.reshape_dynamic(level, [(level, 0), 4 * reg + n_cls, -1]))
    for stride in (4, 8, 16):
        n = size // stride
        yv, xv = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
        anchors.append(np.stack([xv.ravel(), yv.ravel()]))
        strides.append(np.full(n * n, stride))
    anchor_points = np.concatenate(anchors, 1)[None].astype(np.float32)  # [1, 2, A]
    stride_row = np.concatenate(strides)[None].astype(np.float32)  # [1, A]
    n_anchors = anchor_points.shape[-1]
    y = b.op("Concat", *levels, axis=2)
    box, cls = b.op("Split", y, b.ints(4 * reg, n_cls), axis=1, outputs=2)
    box = b.op("Reshape", box, b.ints(1, 4, reg, n_anchors))
    box = b.op("Softmax", b.op("Transpose", box, perm=[0, 2, 1, 3]), axis=1)
    bins = b.param(np.arange(reg, dtype=np.float32).reshape(1, reg, 1, 1), "dfl")
    dist = b.op("Reshape", b.op("Conv", box, bins), b.ints(1, 4, n_anchors))
    lt, rb = b.op("Split", dist, b.ints(2, 2), axis=1, outputs=2)
    points = b.param(anchor_points, "anchors")
    x1y1, x2y2 = b.op("Sub", points, lt), b.op("Add", points, rb)
    centre = b.op("Div", b.op("Add", x1y1, x2y2), b.const(np.float32(2.0)))
    boxes = b.op(
        "Mul",
        b.op("Concat", centre, b.op("Sub", x2y2, x1y1), axis=1),
        b.param(stride_row, "strides"),
    )
    b.nodes.append(helper.make_node("Concat", [boxes, b.op("Sigmoid", cls)], ["output0"], axis=1))
    model = b.model(
        [_value("images", F32, [1, 3, size, size])],
        [_value("output0", F32, [1, 4 + n_cls, n_anchors])],
        name="yolov8",
    )
    feeds = {"images": np.random.default_rng(seed + 1).random((1, 3, size, size), np.float32)}
    return RealWorldModel(model, {}, feeds)


def qdq_cnn(batch: int = 1, size: int = 16, seed: int = 0) -> RealWorldModel:
    """A QDQ-quantized CNN as ONNX Runtime's quantization tool writes it (opset 13):
    QuantizeLinear→DequantizeLinear pairs on activations, int8 per-channel weights and
    int32 biases behind DequantizeLinear, Conv, Relu, GlobalAveragePool and Gemm."""
    b = Builder(np.random.default_rng(seed), 13)

    def qdq(x: str, scale: float, zp: int = 128) -> str:
        s, z = b.param(np.float32(scale)), b.param(np.uint8(zp))
        return b.op("DequantizeLinear", b.op("QuantizeLinear", x, s, z), s, z)

    def weight(shape: tuple[int, ...], in_scale: float) -> tuple[str, str]:
        w = b.rng.standard_normal(shape).astype(np.float32) / math.sqrt(math.prod(shape[1:]))
        scales = (np.abs(w).reshape(shape[0], -1).max(1) / 127).astype(np.float32)
        q = np.round(w / scales.reshape((-1,) + (1,) * (len(shape) - 1))).astype(np.int8)
        wq = b.op(
            "DequantizeLinear",
            b.param(q),
            b.param(scales),
            b.param(np.zeros(shape[0], np.int8)),
            axis=0,
        )
        bias = np.round(b.rng.standard_normal(shape[0]) * 0.1 / (scales * in_scale)).astype(
            np.int32
        )
        bq = b.op(
            "DequantizeLinear",
            b.param(bias),
            b.param((scales * in_scale).astype(np.float32)),
            b.param(np.zeros(shape[0], np.int32)),
            axis=0,
        )
        return wq, bq

    x = qdq("input", 4.0 / 255)
    w, bias = weight((8, 3, 3, 3), 4.0 / 255)
    x = qdq(b.op("Relu", b.op("Conv", x, w, bias, kernel_shape=[3, 3], pads=[1, 1, 1, 1])), 0.02, 0)
    w, bias = weight((16, 8, 3, 3), 0.02)
    x = qdq(
        b.op(
            "Relu", b.op("Conv", x, w, bias, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        ),
        0.02,
        0,
    )
    x = qdq(b.op("Flatten", b.op("GlobalAveragePool", x)), 0.01, 0)
    w, bias = weight((10, 16), 0.01)
    b.nodes.append(helper.make_node("Gemm", [x, w, bias], ["logits"], transB=1))
    model = b.model(
        [_value("input", F32, ["batch", 3, size, size])],
        [_value("logits", F32, ["batch", 10])],
        name="qdq_cnn",
    )
    feeds = {
        "input": np.random.default_rng(seed + 1)
        .uniform(-2, 2, (batch, 3, size, size))
        .astype(np.float32)
    }
    return RealWorldModel(model, {"input": [batch, 3, size, size]}, feeds)
