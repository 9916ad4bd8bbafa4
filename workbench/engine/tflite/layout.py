"""Layout arithmetic for the TFLite importer: padding, permutations, and Transpose cleanup.

A *layout* is a permutation ``perm`` relating an IR tensor to the TFLite tensor it stands
for: ``ir = tflite.transpose(perm)``, so IR axis ``i`` is TFLite axis ``perm[i]`` and
TFLite axis ``a`` sits at IR axis ``perm.index(a)``. ``NCHW = (0, 3, 1, 2)`` is the
layout of 4-D tensors the convolution-like operators produce; the identity is "as the
TFLite model has it" (NHWC).

Padding follows TFLite (``tensorflow/lite/kernels/padding.h``): ``SAME`` gives
``ceil(in / stride)`` outputs and pads ``total = max((out - 1) * stride + (k - 1) *
dilation + 1 - in, 0)``, the smaller half (``total // 2``) before and the rest after,
which is ONNX's ``SAME_UPPER``; ``VALID`` pads nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from workbench.engine.graph import Graph, Node, TensorInfo

Perm = tuple[int, ...]
NCHW: Perm = (0, 3, 1, 2)


# -- padding ------------------------------------------------------------------------------


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """``(out, before, after)`` of TFLite ``SAME`` padding along one axis."""
    extent = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return out, total // 2, total - total // 2


def valid_output(size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Outputs of TFLite ``VALID`` padding along one axis (``ceil((in - extent + 1) / stride)``)."""
    extent = (kernel - 1) * dilation + 1
    return max(-(-(size - extent + 1) // stride), 0)


def conv_pads(
    spatial: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    same: bool,
) -> list[int]:
    """ONNX ``pads`` (all begins, then all ends) for a TFLite convolution or pooling."""
    if not same:
        return [0] * (2 * len(spatial))
    axes = zip(spatial, kernel, strides, dilations, strict=True)
    parts = [same_padding(s, k, st, d) for s, k, st, d in axes]
    return [p[1] for p in parts] + [p[2] for p in parts]


def transpose_conv_pads(
    out_size: int, in_size: int, kernel: int, stride: int, same: bool
) -> tuple[int, int, int]:
    """``(begin, end, output_padding)`` of a TFLite ``TRANSPOSE_CONV`` along one axis.

    TFLite pads as the forward convolution from the requested output back to the input
    would: ``begin`` is that convolution's ``SAME`` padding before (0 for ``VALID``); the
    full transposed result ``(in - 1) * stride + kernel`` is then cropped to ``out_size``
    from ``begin`` on. What is left beyond the full result becomes ONNX output padding.
    """
    begin = same_padding(out_size, kernel, stride)[1] if same else 0
    full = (in_size - 1) * stride + kernel
    end = full - out_size - begin
    return begin, max(end, 0), max(-end, 0)


# -- permutations -------------------------------------------------------------------------


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def is_identity(perm: Perm) -> bool:
    return perm == identity(len(perm))


def inverse(perm: Perm) -> Perm:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def compose(first: Perm, then: Perm) -> Perm:
    """The single Transpose perm equal to ``transpose(first)`` followed by ``transpose(then)``."""
    return tuple(first[t] for t in then)


def between(source: Perm, target: Perm) -> Perm:
    """The Transpose perm taking a tensor in layout ``source`` to layout ``target``."""
    return compose(inverse(source), target)


def axis_in(perm: Perm, axis: int) -> int:
    """Where TFLite axis ``axis`` (negative allowed) sits in an IR tensor of layout ``perm``."""
    return perm.index(axis % len(perm))


def drop_axes(perm: Perm, axes: Sequence[int]) -> Perm:
    """The layout left when TFLite ``axes`` are removed (a reduction without keepdims, Squeeze)."""
    gone = {a % len(perm) for a in axes}
    kept = [p for p in perm if p not in gone]
    order = sorted(kept)
    return tuple(order.index(p) for p in kept)


def permute_shape(shape: Sequence[int], perm: Perm) -> tuple[int, ...]:
    return tuple(shape[p] for p in perm)


def broadcast_const(value: np.ndarray, rank: int, perm: Perm) -> np.ndarray:
    """A constant that broadcasts against a TFLite tensor of ``rank``, for its IR layout."""
    if value.ndim > rank:
        raise ValueError(f"a rank-{value.ndim} constant cannot broadcast to rank {rank}")
    if is_identity(perm) and value.ndim <= rank:
        return value
    aligned = value.reshape((1,) * (rank - value.ndim) + value.shape)
    return np.ascontiguousarray(aligned.transpose(perm))


def moves_only_units(shape: Sequence[int], perm: Perm) -> bool:
    """Is ``transpose(perm)`` of ``shape`` a mere reshape (non-unit axes keep their order)?"""
    kept = [p for p in perm if shape[p] != 1]
    return kept == sorted(kept)


# -- Transpose cleanup --------------------------------------------------------------------


def simplify_transposes(graph: Graph) -> dict[str, str]:
    """Fold away what the NHWC/NCHW boundaries left, in place; returns the renamed tensors.

    * Transpose of a Transpose becomes one Transpose of the first one's input (the first
      is pruned once nothing else reads it); one whose perm is the identity disappears;
    * a Transpose that only moves unit axes becomes a Reshape;
    * Reshape of a Reshape becomes one Reshape; a Reshape to its input's shape disappears.

    A disappearing node's consumers read its input instead; when its output is a graph
    output, the producer of its input writes that name instead (if it is a node's): the
    result maps such old names to new ones, for whoever keys data by tensor name.
    """
    renamed: dict[str, str] = {}
    while _one_sweep(graph, renamed):
        graph.prune()
    graph.prune()
    return renamed


def _shape(graph: Graph, name: str) -> tuple[int, ...] | None:
    info = graph.info(name)
    return None if info is None else tuple(info.shape)


def _one_sweep(graph: Graph, renamed: dict[str, str]) -> bool:
    producers = graph.producers()
    outputs = set(graph.output_names)
    for idx, node in enumerate(graph.nodes):
        if node.op_type not in ("Transpose", "Reshape") or node.domain:
            continue
        src = node.inputs[0]
        parent = producers.get(src)
        if node.op_type == "Transpose":
            perm = tuple(int(p) for p in node.attr("perm"))
            if parent is not None and parent.op_type == "Transpose":
                merged = compose(tuple(int(p) for p in parent.attr("perm")), perm)
                graph.nodes[idx] = replace(
                    node, inputs=(parent.inputs[0],), attrs={**node.attrs, "perm": list(merged)}
                )
                return True
            if is_identity(perm):
                if _bypass(graph, idx, outputs, producers, renamed):
                    return True
                continue
            shape = _shape(graph, src)
            out = _shape(graph, node.outputs[0])
            if shape is not None and out is not None and moves_only_units(shape, perm):
                target = f"{node.outputs[0]}__shape"
                graph.params[target] = np.array(out, dtype=np.int64)
                graph.nodes[idx] = Node(
                    node.name, "Reshape", (src, target), node.outputs, {}, node.domain
                )
                return True
            continue
        # Reshape
        target = graph.params.get(node.inputs[1])
        if (
            parent is not None
            and parent.op_type == "Reshape"
            and target is not None
            and 0 not in target
        ):
            graph.nodes[idx] = replace(node, inputs=(parent.inputs[0], node.inputs[1]))
            return True
        shape = _shape(graph, src)
        if shape is not None and shape == _shape(graph, node.outputs[0]):
            if _bypass(graph, idx, outputs, producers, renamed):
                return True
    return False


def _bypass(
    graph: Graph,
    idx: int,
    outputs: set[str],
    producers: dict[str, Node],
    renamed: dict[str, str],
) -> bool:
    """Remove node ``idx`` (an identity) by rewiring; False if it must stay."""
    node = graph.nodes[idx]
    src, dst = node.inputs[0], node.outputs[0]
    if dst in outputs:
        parent = producers.get(src)
        if parent is None or src in outputs or src in graph.input_names:
            return False  # an input or another output passed through: keep the node
        _rename(graph, src, dst)
        for old, new in renamed.items():
            if new == src:
                renamed[old] = dst
        renamed[src] = dst
        del graph.nodes[idx]
        return True
    del graph.nodes[idx]
    graph.nodes[:] = [
        replace(n, inputs=tuple(src if i == dst else i for i in n.inputs)) for n in graph.nodes
    ]
    return True


def _rename(graph: Graph, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` everywhere (nodes, infos)."""
    graph.nodes[:] = [
        replace(
            n,
            inputs=tuple(new if i == old else i for i in n.inputs),
            outputs=tuple(new if o == old else o for o in n.outputs),
        )
        for n in graph.nodes
    ]
    info = graph.tensors.pop(old, None)
    if info is not None:
        graph.tensors[new] = TensorInfo(new, info.shape, info.dtype)
