"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization"; AIMET's CLE).

Two layers in a row, ``y = W2 · f(W1 · x + b1)``, compute the same function after
output channel ``i`` of the first is divided by ``s_i > 0`` and input channel ``i``
of the second multiplied by it, as long as ``f`` is positively homogeneous
(``f(x / s) = f(x) / s``: ReLU, LeakyReLU, or no activation). Choosing

    s_i = sqrt(r1_i * r2_i) / r2_i

where ``r1_i`` is the largest ``|w|`` of output channel ``i`` of W1 and ``r2_i`` that
of input channel ``i`` of W2, makes both ranges equal to ``sqrt(r1_i * r2_i)``: no
channel is left with a tiny range next to a huge one, so per-tensor weight
quantization loses much less. Only weights and biases change; the float function is
the same up to float32 rounding.

Pairs we equalize (``W1 → [Relu | LeakyRelu] → W2``):

* Conv (group 1) or depthwise Conv (group = channels, one input channel per group)
  followed by Conv (group 1) or depthwise Conv; Gemm followed by Gemm (``transA = 0``).
  A depthwise Conv in the middle of a chain is both a second layer (its channel ``i``
  is multiplied) and a first layer (divided), as in the paper's separable blocks.
* The tensor between them has exactly one consumer (and the activation's output
  too), is not a graph output, and every weight and bias involved is a parameter
  used by that layer alone.

A chain of pairs is iterated (pair by pair, in graph order) until the scales settle
(``max |log s| < tol``) or ``iterations`` rounds. The iteration works on each layer's
small (out × in) matrix of ``|w|`` maxima over the kernel and two scale vectors, so a
round costs no pass over the weights; the weights and biases are rescaled once at the
end, in float64, stored back as float32. High-bias absorption is not done.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.engine.graph import Graph, Node

HOMOGENEOUS_ACTIVATIONS = frozenset({"Relu", "LeakyRelu"})


@dataclass(frozen=True)
class _Layer:
    node: Node
    weight: str
    bias: str | None
    out_axis: int
    in_axis: int
    channels_out: int
    channels_in: int


@dataclass(frozen=True)
class EqualizedPair:
    """One equalized pair, with the spread (max / min) of the first layer's channel ranges."""

    first: str
    second: str
    activation: str | None
    channels: int
    spread_before: float
    spread_after: float


@dataclass(frozen=True)
class CleReport:
    pairs: tuple[EqualizedPair, ...]
    iterations: int


def _layer(node: Node, graph: Graph, uses: dict[str, int]) -> _Layer | None:
    """The equalizable view of ``node``, or None."""
    if node.domain or len(node.inputs) < 2:
        return None
    wname = node.inputs[1]
    w = graph.params.get(wname)
    if w is None or w.dtype != np.float32 or uses.get(wname, 0) != 1:
        return None
    bname = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    if bname is not None:
        b = graph.params.get(bname)
        if b is None or b.dtype != np.float32 or uses.get(bname, 0) != 1:
            return None
    if node.op_type == "Conv" and w.ndim >= 3:
        group = int(node.attr("group", 1))
        m, cg = w.shape[0], w.shape[1]
        if bname is not None and graph.params[bname].shape != (m,):
            return None
        if group == 1:
            return _Layer(node, wname, bname, 0, 1, m, cg)
        if cg == 1 and group == m:  # depthwise: channel i in, channel i out
            return _Layer(node, wname, bname, 0, 0, m, m)
        return None
    if node.op_type == "Gemm" and w.ndim == 2 and not int(node.attr("transA", 0)):
        trans_b = bool(int(node.attr("transB", 0)))
        out_axis, in_axis = (0, 1) if trans_b else (1, 0)
        n = w.shape[out_axis]
        if bname is not None:
            b = graph.params[bname]
            if b.shape != (n,) or float(node.attr("beta", 1.0)) == 0.0:
                return None
        return _Layer(node, wname, bname, out_axis, in_axis, n, w.shape[in_axis])
    return None


def find_pairs(graph: Graph) -> list[tuple[_Layer, Node | None, _Layer]]:
    """Every ``(first, activation or None, second)`` that may be equalized, in graph order."""
    uses: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            if i:
                uses[i] = uses.get(i, 0) + 1
    consumers = graph.consumers()
    outputs = set(graph.output_names)
    pairs = []
    for node in graph.nodes:
        first = _layer(node, graph, uses)
        if first is None or not node.outputs or not node.outputs[0]:
            continue
        t = node.outputs[0]
        act = None
        nxt = consumers.get(t, [])
        if t in outputs or len(nxt) != 1:
            continue
        if nxt[0].op_type in HOMOGENEOUS_ACTIVATIONS and not nxt[0].domain:
            act = nxt[0]
            t = act.outputs[0]
            nxt = consumers.get(t, [])
            if t in outputs or len(nxt) != 1:
                continue
        second_node = nxt[0]
        if second_node.inputs[0] != t or t in second_node.inputs[1:]:
            continue
        second = _layer(second_node, graph, uses)
        if second is None or second.node.op_type != first.node.op_type:
            continue  # Conv feeds Conv, Gemm feeds Gemm (no flatten in between)
        if second.channels_in != first.channels_out:
            continue
        pairs.append((first, act, second))
    return pairs


def _absmax(w: np.ndarray, axis: int) -> np.ndarray:
    others = tuple(i for i in range(w.ndim) if i != axis)
    return np.max(np.abs(w), axis=others) if others else np.abs(w)


def _shape(ndim: int, axis: int, n: int) -> tuple[int, ...]:
    s = [1] * ndim
    s[axis] = n
    return tuple(s)


def _spread(r: np.ndarray) -> float:
    live = r[r > 0]
    return float(live.max() / live.min()) if live.size else 1.0


class _Ranges:
    """A layer's |w| maxima as an (out, in) matrix, and the scales applied so far.

    After scaling, ``w'[o, i] = w[o, i] * in_scale[i] / out_scale[o]``, so both channel
    ranges follow from this small matrix: the iteration never touches the weights
    (a depthwise layer's matrix is its diagonal, kept as a vector).
    """

    def __init__(self, layer: _Layer, w: np.ndarray):
        self.depthwise = layer.in_axis == layer.out_axis
        if self.depthwise:
            self.a = _absmax(w, layer.out_axis).astype(np.float64)
        else:
            kernel = tuple(i for i in range(w.ndim) if i not in (layer.out_axis, layer.in_axis))
            a = np.max(np.abs(w), axis=kernel) if kernel else np.abs(w)
            # Remaining axes keep their order: transpose when in comes before out.
            self.a = (a if layer.out_axis < layer.in_axis else a.T).astype(np.float64)
        self.out_scale = np.ones(layer.channels_out)
        self.in_scale = np.ones(layer.channels_in)

    def out_range(self) -> np.ndarray:
        if self.depthwise:
            return self.a * self.in_scale / self.out_scale
        return np.max(self.a * self.in_scale[None, :], axis=1) / self.out_scale

    def in_range(self) -> np.ndarray:
        if self.depthwise:
            return self.a * self.in_scale / self.out_scale
        return np.max(self.a / self.out_scale[:, None], axis=0) * self.in_scale


def equalize(graph: Graph, iterations: int = 50, tol: float = 1e-6) -> tuple[Graph, CleReport]:
    """A copy of ``graph`` with every eligible pair equalized, and what was done."""
    pairs = find_pairs(graph)
    out = graph.copy()
    if not pairs:
        return out, CleReport((), 0)
    ranges: dict[str, _Ranges] = {}
    layers: dict[str, _Layer] = {}
    for first, _, second in pairs:
        for layer in (first, second):
            if layer.weight not in ranges:
                ranges[layer.weight] = _Ranges(layer, graph.params[layer.weight])
                layers[layer.weight] = layer

    before = [_spread(ranges[f.weight].out_range()) for f, _, _ in pairs]
    rounds = 0
    for rounds in range(1, iterations + 1):  # noqa: B007  (rounds is reported)
        worst = 0.0
        for first, _, second in pairs:
            r1 = ranges[first.weight].out_range()
            r2 = ranges[second.weight].in_range()
            live = (r1 > 0) & (r2 > 0)
            s = np.ones_like(r1)
            s[live] = np.sqrt(r1[live] * r2[live]) / r2[live]
            worst = max(worst, float(np.max(np.abs(np.log(s)))))
            ranges[first.weight].out_scale *= s
            ranges[second.weight].in_scale *= s
        if worst < tol:
            break

    # Apply the accumulated scales once, in float64.
    for wname, r in ranges.items():
        layer = layers[wname]
        w = graph.params[wname].astype(np.float64)
        if r.depthwise:
            w = w * (r.in_scale / r.out_scale).reshape(
                _shape(w.ndim, layer.out_axis, w.shape[layer.out_axis])
            )
        else:
            w = w / r.out_scale.reshape(_shape(w.ndim, layer.out_axis, layer.channels_out))
            w = w * r.in_scale.reshape(_shape(w.ndim, layer.in_axis, layer.channels_in))
        out.params[wname] = w.astype(np.float32)
        if layer.bias is not None and not np.all(r.out_scale == 1.0):
            out.params[layer.bias] = (
                graph.params[layer.bias].astype(np.float64) / r.out_scale
            ).astype(np.float32)
    done = tuple(
        EqualizedPair(
            first=f.node.name,
            second=s.node.name,
            activation=a.op_type if a is not None else None,
            channels=f.channels_out,
            spread_before=b,
            spread_after=_spread(_absmax(out.params[f.weight], f.out_axis)),
        )
        for (f, a, s), b in zip(pairs, before, strict=True)
    )
    return out, CleReport(done, rounds)
