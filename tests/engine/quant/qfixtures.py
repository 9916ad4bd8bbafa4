"""Small quantized containers for tests, written by the contract the quantizer follows.

``quantize_for_tests(graph, samples)`` runs the float graph on the samples, gives every
float activation the tf encoding of its observed min/max (data movement propagates its
input's encoding), and quantizes every data parameter: weights per-channel symmetric
(or tf per tensor), biases 32-bit (``in_delta * w_delta``) or 8-bit, other float data
constants tf per tensor. Deliberately independent of the real quantizer, so the
executors can be tested against the contract itself.

Also: small ONNX test models (a CNN, an attention block), random He-scaled weights for
the ``light`` models, and feeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from workbench.engine.container import Container, make_manifest
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.encoding import (
    AnyEncoding,
    Encoding,
    bias_encoding_8bit,
    bias_encoding_32bit,
    per_channel_symmetric,
    quantize,
    tf_encoding,
    tf_encoding_of,
)

MOVES = {
    "Reshape",
    "Flatten",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Slice",
    "Split",
    "Gather",
    "Expand",
    "Tile",
    "DepthToSpace",
    "SpaceToDepth",
    "MaxPool",
    "GlobalMaxPool",
}
SETTINGS = {"Clip": {1, 2}, "Resize": {1, 2}, "Upsample": {1}, "Pad": {2}, "Pow": {1}}
WEIGHTED = {"Conv", "Gemm", "ConvTranspose"}


def _weight_axis(node: Node, i: int, ndim: int) -> int:
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        return 1
    if node.op_type == "Gemm":
        return 0 if node.attr("transB", 0) else 1
    return ndim - 1 if i == 1 else ndim - 2


def quantize_for_tests(
    graph: Graph,
    samples: Sequence[dict[str, np.ndarray]],
    *,
    act_bitwidth: int = 8,
    weight_bitwidth: int = 8,
    bias_bitwidth: int = 32,
    per_channel: bool = True,
) -> Container:
    """A quantized container of ``graph`` calibrated on ``samples`` (see the module doc)."""
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}

    def observe(name: str, x: np.ndarray) -> None:
        if x.dtype.kind == "f":
            lo[name] = min(lo.get(name, np.inf), float(x.min()))
            hi[name] = max(hi.get(name, -np.inf), float(x.max()))

    plan = Plan(graph)
    for feeds in samples:
        for name, x in feeds.items():
            observe(name, x)
        plan.run(feeds, observe)
    encodings: dict[str, Encoding] = {
        name: tf_encoding(lo[name], hi[name], act_bitwidth) for name in lo
    }
    for node in graph.nodes:  # data movement keeps its input's encoding
        src = encodings.get(node.inputs[0]) if node.inputs else None
        if node.op_type in MOVES and src is not None and node.inputs[0] not in graph.params:
            for out in node.outputs if node.op_type == "Split" else node.outputs[:1]:
                if out in encodings:
                    encodings[out] = src

    param_encs: dict[str, AnyEncoding] = {}
    biases: list[tuple[str, str, str]] = []  # (bias, input tensor, weight)
    for node in graph.nodes:
        for i, name in enumerate(node.inputs):
            p = graph.params.get(name)
            if p is None or p.dtype != np.float32 or name in param_encs or p.size == 0:
                continue
            if i in SETTINGS.get(node.op_type, ()):
                continue
            weight = (node.op_type in WEIGHTED and i == 1) or (
                node.op_type == "MatMul" and p.ndim >= 2 and node.inputs[1 - i] not in graph.params
            )
            if weight:
                axis = _weight_axis(node, i, p.ndim)
                param_encs[name] = (
                    per_channel_symmetric(p, axis, weight_bitwidth, name)
                    if per_channel
                    else tf_encoding_of(p, weight_bitwidth, name)
                )
            elif node.op_type in WEIGHTED and i == 2:
                biases.append((name, node.inputs[0], node.inputs[1]))
            else:
                param_encs[name] = tf_encoding_of(p, weight_bitwidth, name)
    for name, x_name, w_name in biases:
        if bias_bitwidth == 32:
            w_enc = param_encs[w_name]
            param_encs[name] = bias_encoding_32bit(encodings[x_name].delta, w_enc.delta)
        else:
            param_encs[name] = bias_encoding_8bit(graph.params[name], name)

    qgraph = graph.copy()
    for name, enc in param_encs.items():
        qgraph.params[name] = quantize(graph.params[name], enc)
    manifest = make_manifest(quantizer={"command": "tests", "options": {}})
    return Container(
        manifest=manifest,
        graph=qgraph,
        encodings={k: v.to_dict() for k, v in encodings.items()},
        param_encodings={k: v.to_dict() for k, v in param_encs.items()},
    )


# -- models -------------------------------------------------------------------------------


def _save(nodes, inputs, outputs, inits, path: Path, opset: int = 17) -> Path:
    g = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def _he(rng: np.random.Generator, name: str, *shape: int) -> onnx.TensorProto:
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    return numpy_helper.from_array(w.astype(np.float32), name)


def _small(rng: np.random.Generator, name: str, *shape: int, scale: float = 0.1):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def cnn_model(path: Path, seed: int = 0) -> Path:
    """Conv, depthwise Conv, Relu, Clip, Add, Concat, HardSwish, pools, Gemm: a tiny mobile net."""
    rng = np.random.default_rng(seed)
    f = np.float32
    inits = [
        _he(rng, "w1", 16, 3, 3, 3),
        _small(rng, "b1", 16),
        _he(rng, "wd", 16, 1, 3, 3),
        _small(rng, "bd", 16),
        _he(rng, "w2", 24, 16, 1, 1),
        _small(rng, "b2", 24),
        _he(rng, "w3", 24, 24, 3, 3),
        _he(rng, "w4", 8, 16, 1, 1),
        _he(rng, "wg", 10, 32),
        _small(rng, "bg", 10),
        numpy_helper.from_array(np.array(0.0, f), "zero"),
        numpy_helper.from_array(np.array(6.0, f), "six"),
    ]
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "wd", "bd"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2], group=16),
        n("Clip", ["c2", "zero", "six"], ["r2"]),
        n("Conv", ["r2", "w2", "b2"], ["c3"]),
        n("Relu", ["c3"], ["r3"]),
        n("Conv", ["r3", "w3"], ["c4"], pads=[1, 1, 1, 1]),
        n("Add", ["c4", "c3"], ["a1"]),
        n("HardSwish", ["a1"], ["h1"]),
        n("MaxPool", ["h1"], ["m1"], kernel_shape=[2, 2], strides=[2, 2]),
        n("Conv", ["r2", "w4"], ["c5"], strides=[2, 2]),
        n("Concat", ["m1", "c5"], ["cat"], axis=1),
        n("AveragePool", ["cat"], ["p1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        n("GlobalAveragePool", ["p1"], ["g1"]),
        n("Flatten", ["g1"], ["fl"]),
        n("Gemm", ["fl", "wg", "bg"], ["y"], transB=1),
    ]
    return _save(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
        path,
    )


def attention_model(path: Path, seq: int = 16, dim: int = 32, heads: int = 2, mlp: int = 2) -> Path:
    """An encoder block: LayerNorm, MatMul projections, MatMul/Softmax attention, Add, Gelu.

    ``mlp`` is the hidden width of the feed-forward part, in multiples of ``dim``.
    """
    rng = np.random.default_rng(1)
    hd = dim // heads
    inits = [
        _small(rng, "ln_s", dim, scale=0.2),
        _small(rng, "ln_b", dim),
        _he(rng, "wq", dim, dim),
        _he(rng, "wk", dim, dim),
        _he(rng, "wv", dim, dim),
        _he(rng, "wo", dim, dim),
        _he(rng, "w1", dim, mlp * dim),
        _small(rng, "b1", mlp * dim),
        _he(rng, "w2", mlp * dim, dim),
        numpy_helper.from_array(np.array([1, seq, heads, hd], np.int64), "split_shape"),
        numpy_helper.from_array(np.array([1, seq, dim], np.int64), "merge_shape"),
        numpy_helper.from_array(np.array(1.0 / np.sqrt(hd), np.float32), "scale"),
    ]
    n = helper.make_node
    nodes = [
        n("LayerNormalization", ["x", "ln_s", "ln_b"], ["h"], axis=-1),
        n("MatMul", ["h", "wq"], ["q0"]),
        n("MatMul", ["h", "wk"], ["k0"]),
        n("MatMul", ["h", "wv"], ["v0"]),
        n("Reshape", ["q0", "split_shape"], ["q1"]),
        n("Reshape", ["k0", "split_shape"], ["k1"]),
        n("Reshape", ["v0", "split_shape"], ["v1"]),
        n("Transpose", ["q1"], ["q"], perm=[0, 2, 1, 3]),
        n("Transpose", ["k1"], ["kt"], perm=[0, 2, 3, 1]),
        n("Transpose", ["v1"], ["v"], perm=[0, 2, 1, 3]),
        n("MatMul", ["q", "kt"], ["s0"]),
        n("Mul", ["s0", "scale"], ["s"]),
        n("Softmax", ["s"], ["p"], axis=-1),
        n("MatMul", ["p", "v"], ["a0"]),
        n("Transpose", ["a0"], ["a1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["a1", "merge_shape"], ["a2"]),
        n("MatMul", ["a2", "wo"], ["a"]),
        n("Add", ["x", "a"], ["r1"]),
        n("MatMul", ["r1", "w1"], ["m0"]),
        n("Add", ["m0", "b1"], ["m1"]),
        n("Gelu", ["m1"], ["m2"]),
        n("MatMul", ["m2", "w2"], ["m3"]),
        n("Add", ["r1", "m3"], ["y"]),
    ]
    return _save(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, seq, dim])],
        inits,
        path,
        opset=20,
    )


def feeds_for(graph: Graph, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``n`` random standard-normal feeds for every graph input."""
    rng = np.random.default_rng(seed)
    return [
        {t.name: rng.standard_normal(t.shape).astype(np.float32) for t in graph.inputs}
        for _ in range(n)
    ]


def load(path: Path) -> Graph:
    return import_onnx(path)


def randomize_weights(graph: Graph, seed: int = 0) -> Graph:
    """Random He-scaled weights and small biases for every Conv / Gemm / MatMul (light models)."""
    rng = np.random.default_rng(seed)
    g = graph.copy()
    for node in graph.nodes:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        for i, name in enumerate(node.inputs[1:3], start=1):
            p = graph.params.get(name)
            if p is None or p.dtype != np.float32 or name in g.params and g.params[name] is not p:
                continue
            if i == 1 and p.ndim >= 2:
                fan_in = int(np.prod(p.shape[1:])) if node.op_type != "MatMul" else p.shape[0]
                if node.op_type == "Gemm" and not node.attr("transB", 0):
                    fan_in = p.shape[0]
                w = rng.standard_normal(p.shape) * np.sqrt(2.0 / fan_in)
            else:
                w = rng.standard_normal(p.shape) * 0.05
            g.params[name] = w.astype(np.float32)
    return g
