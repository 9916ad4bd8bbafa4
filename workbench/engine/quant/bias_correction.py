"""Empirical bias correction (Nagel et al. 2019, section 4.2; AIMET's bias correction).

Quantizing a layer's weights, ``W_hat = W + dW``, shifts the mean of its output by
``E[dW · x]`` per output channel: rounding errors do not average out when they are
correlated over a channel, and at 4 bits they are large. Bias correction subtracts
that expected shift from the layer's bias (creating a bias if it has none), so the
quantized layer's output is right on average.

How we measure it — *float inputs, one pass*: each layer's expected shift is taken
with its **float** input, over the calibration data. The layer is linear in its
input, so ``mean over samples of f(x_s; dW) = f(mean of x_s; dW)``: the calibration
pass (``InputSums``, a collector of ``calibrate``) keeps one running sum per layer
input — fixed memory, whatever the number of samples; only the per-channel mean for
an input that feeds only 1×1 unpadded stride-1 convolutions — and afterwards each layer's
kernel runs once on the mean input with ``dW`` as its weight and no bias. The output
averaged over every axis but the channel axis is the shift per channel. Padding
zeros are accounted for exactly (the kernel itself pads).

Each layer is corrected for its own weight error only, so every correction can be
applied at once (no layer-by-layer re-runs); activation quantization noise and the
shifts already corrected upstream are not part of it (AIMET's empirical mode feeds
quantized inputs of corrected layers instead, at one pass per layer).

Layers: Conv, ConvTranspose (bias per output channel, axis 1 of the output) and Gemm
(``C`` broadcast over the last axis; ``C`` is divided by ``beta``). A layer whose
weight or bias is shared with another node, or whose ``Gemm`` has ``beta = 0``, is
left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from workbench.engine.graph import Graph, Node, TensorInfo, rename_unique
from workbench.engine.ops.registry import OpContext, prepare

CORRECTED_OPS = frozenset({"Conv", "ConvTranspose", "Gemm"})


class InputSums:
    """A calibration collector: running sums of the chosen tensors (fixed size).

    Tensors in ``pointwise`` feed only 1×1, stride-1, unpadded convolutions, whose mean
    output needs only the per-channel mean input: they are summed over their spatial
    axes (kept as size 1), so a big feature map costs a few numbers, not a copy.
    """

    def __init__(self, tensors: set[str], pointwise: set[str] = frozenset()):
        self.tensors = set(tensors)
        self.pointwise = set(pointwise)
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}

    @classmethod
    def for_layers(cls, graph: Graph, layers: list[Node]) -> InputSums:
        """The sums bias correction of ``layers`` needs."""
        inputs = {n.inputs[0] for n in layers}
        readers: dict[str, list[Node]] = {}
        for n in layers:
            readers.setdefault(n.inputs[0], []).append(n)
        pointwise = {t for t, ns in readers.items() if all(_is_pointwise(n, graph) for n in ns)}
        return cls(inputs, pointwise)

    def _add(self, name: str, value: np.ndarray) -> None:
        if name in self.pointwise and value.ndim > 2:
            value = value.mean(axis=tuple(range(2, value.ndim)), keepdims=True, dtype=np.float64)
        acc = self.sums.get(name)
        if acc is None:
            # Full feature maps are summed in float32 (half the memory; relative error
            # ~1e-6 over hundreds of samples, far below a quantization step).
            self.sums[name] = value.astype(np.float64 if value.size <= 65536 else np.float32)
        elif acc.shape == value.shape:
            acc += value
        else:  # shapes that vary per sample have no mean input; the layer is skipped
            self.tensors.discard(name)
            del self.sums[name]
            return
        self.counts[name] = self.counts.get(name, 0) + 1

    def feed(self, feeds: Mapping[str, np.ndarray]) -> None:
        for name, value in feeds.items():
            if name in self.tensors:
                self._add(name, np.asarray(value))

    def hook(self, name: str, value: np.ndarray) -> None:
        if name in self.tensors:
            self._add(name, value)

    def mean(self, name: str) -> np.ndarray | None:
        """The mean input (for a pointwise input: its per-channel mean, spatial size 1)."""
        if name not in self.sums:
            return None
        return self.sums[name].astype(np.float64) / self.counts[name]


def _is_pointwise(node: Node, graph: Graph) -> bool:
    if node.op_type != "Conv":
        return False
    w = graph.params.get(node.inputs[1])
    if w is None or any(k != 1 for k in w.shape[2:]):
        return False
    if any(int(s) != 1 for s in node.attr("strides", []) or []):
        return False
    if any(int(p) != 0 for p in node.attr("pads", []) or []):
        return False
    auto_pad = node.attr("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    return auto_pad in ("NOTSET", "VALID", "")


@dataclass(frozen=True)
class BiasCorrection:
    """The correction of one layer: ``shift`` is the expected error subtracted per channel."""

    node: str
    bias: str
    created: bool
    shift: np.ndarray

    @property
    def mean_abs_shift(self) -> float:
        return float(np.mean(np.abs(self.shift))) if self.shift.size else 0.0


def correctable_layers(graph: Graph) -> list[Node]:
    """Layers bias correction may change: constant float weight and bias used by them alone."""
    return [graph.nodes[i] for i in _correctable(graph)]


def _correctable(graph: Graph) -> list[int]:
    uses: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            if i:
                uses[i] = uses.get(i, 0) + 1
    layers = []
    for idx, n in enumerate(graph.nodes):
        if n.op_type not in CORRECTED_OPS or n.domain or len(n.inputs) < 2:
            continue
        if n.inputs[0] in graph.params:
            continue
        w = graph.params.get(n.inputs[1])
        if w is None or w.dtype != np.float32 or uses[n.inputs[1]] != 1:
            continue
        if n.op_type == "Gemm" and float(n.attr("beta", 1.0)) == 0.0:
            continue
        bias = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
        if bias is not None:
            b = graph.params.get(bias)
            if b is None or b.dtype != np.float32 or uses[bias] != 1:
                continue
        layers.append(idx)
    return layers


def _channels(node: Node, w: np.ndarray) -> int:
    if node.op_type == "Conv":
        return w.shape[0]
    if node.op_type == "ConvTranspose":
        return w.shape[1] * int(node.attr("group", 1))
    return w.shape[0] if int(node.attr("transB", 0)) else w.shape[1]


def expected_shift(
    node: Node, graph: Graph, mean_input: np.ndarray, quantized_weight: np.ndarray
) -> np.ndarray:
    """Per output channel, the mean change of ``node``'s output when its weight is quantized."""
    w = graph.params[node.inputs[1]]
    dw = quantized_weight.astype(np.float64) - w.astype(np.float64)
    bare = replace(node, inputs=node.inputs[:2])
    info = graph.info(node.inputs[0])
    ctx = OpContext(
        node=bare,
        consts={1: dw},
        inputs=(
            TensorInfo(node.inputs[0], tuple(mean_input.shape), "float64")
            if info is None
            else replace(info, shape=tuple(mean_input.shape), dtype="float64"),
            TensorInfo(node.inputs[1], tuple(dw.shape), "float64"),
        ),
        outputs=(None,),
        opset=graph.opset,
    )
    y = np.asarray(prepare(ctx)(mean_input, dw)[0], dtype=np.float64)
    channel_axis = 1 if node.op_type in ("Conv", "ConvTranspose") else y.ndim - 1
    others = tuple(i for i in range(y.ndim) if i != channel_axis)
    shift = y.mean(axis=others) if others else y
    return shift  # Gemm's alpha is inside: the kernel folds it into the constant weight


def correct_biases(
    graph: Graph,
    sums: InputSums,
    quantized_weights: Mapping[str, np.ndarray] | Callable[[str], np.ndarray | None],
) -> tuple[Graph, list[BiasCorrection]]:
    """A copy of ``graph`` whose correctable layers' biases absorb their weight error.

    ``quantized_weights`` maps a weight parameter to its quantize-dequantized value (as
    the quantized container will hold it), or computes it when called with the name
    (one weight at a time: no second copy of every weight). Layers without a mean input (their input
    was not summed) or without a quantized weight are left alone.
    """
    out = graph.copy()
    names = set(graph.params) | set(graph.tensors) | {o for n in graph.nodes for o in n.outputs}
    names |= set(graph.input_names)
    done: list[BiasCorrection] = []
    for idx in _correctable(graph):
        node = out.nodes[idx]
        mean_input = sums.mean(node.inputs[0])
        w_hat = (
            quantized_weights(node.inputs[1])
            if callable(quantized_weights)
            else quantized_weights.get(node.inputs[1])
        )
        if mean_input is None or w_hat is None:
            continue
        shift = expected_shift(node, graph, mean_input, w_hat)
        w = graph.params[node.inputs[1]]
        beta = float(node.attr("beta", 1.0)) if node.op_type == "Gemm" else 1.0
        bias_name = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
        created = bias_name is None
        if created:
            bias = np.zeros(_channels(node, w), dtype=np.float64)
            bias_name = rename_unique(names, f"{node.name or node.inputs[1]}.bias")
            names.add(bias_name)
            inputs = (*node.inputs[:2], bias_name)
            out.nodes[idx] = replace(node, inputs=inputs)
        else:
            bias = graph.params[bias_name].astype(np.float64)
        correction = shift / beta
        if bias.shape != correction.shape:
            target = np.broadcast_shapes(bias.shape, correction.shape)
            bias = np.broadcast_to(bias, target)
        new_bias = (bias - correction).astype(np.float32)
        out.params[bias_name] = new_bias
        if bias_name in out.tensors or created:
            out.tensors[bias_name] = TensorInfo(bias_name, tuple(new_bias.shape), "float32")
        done.append(BiasCorrection(node.name, bias_name, created, shift.astype(np.float64)))
    return out, done
