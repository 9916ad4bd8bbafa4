"""What an imported graph must satisfy before it becomes a container.

The container reader never trusts a file: tensor shapes must be non-negative and of
bounded size, the opset sane. An importer that let through what the reader refuses
would write containers that ``info`` and ``run`` then reject (a MaxPool kernel larger
than its input makes a shape ``[1, 1, -95, -95]``). So ``check_importable`` holds an
imported graph to the reader's rules, naming the node at fault, and adds the attribute
rules the kernels assume and ONNX states: kernel sizes, strides and dilations of at
least 1, no negative pads, Resize scales and sizes above zero, an opset this
workbench's ONNX knows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from workbench.engine.graph import DTYPES, MAX_TENSOR_ELEMENTS, Graph, Node, TensorInfo
from workbench.errors import ModelError

# Ops whose spatial attributes follow ONNX's pooling/convolution rules.
_WINDOWED = frozenset(
    {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool",
     "LpPool", "MaxUnpool", "Im2Col", "Col2Im", "DeformConv"}
)  # fmt: skip
_AT_LEAST_ONE = ("kernel_shape", "strides", "dilations")
_RESIZE_SIZES = {"Resize": 3}


def max_opset() -> int:
    """The newest ai.onnx opset the installed ONNX package defines."""
    import onnx

    return int(onnx.defs.onnx_opset_version())


def check_importable(graph: Graph, source: str) -> None:
    """``ModelError`` (naming ``source`` and the node) for what the reader or the kernels
    would refuse later; nothing is returned."""
    newest = max_opset()
    if not 1 <= graph.opset <= newest:
        raise ModelError(
            f"{source}: ai.onnx opset {graph.opset} is not one this workbench knows (1 to {newest})"
        )
    check_attributes(graph, source)
    producers = graph.producers()
    for info in _infos(graph):
        problem = _shape_problem(info)
        if problem is not None:
            node = producers.get(info.name)
            at = f"{node.op_type} node '{node.name}': " if node is not None else ""
            raise ModelError(f"{source}: {at}tensor '{info.name}' {problem}")


def check_attributes(graph: Graph, source: str) -> None:
    """``ModelError`` for a node whose attributes ONNX forbids (before anything runs it)."""
    for node in graph.nodes:
        problem = _attribute_problem(node, graph)
        if problem is not None:
            raise ModelError(f"{source}: {node.op_type} node '{node.name}': {problem}")
        for body in node.subgraphs.values():  # an If/Loop/Scan body runs its nodes too
            check_attributes(body, source)


def _infos(graph: Graph) -> Iterable[TensorInfo]:
    yield from graph.inputs
    yield from graph.outputs
    yield from graph.tensors.values()


def _shape_problem(info: TensorInfo) -> str | None:
    shape = info.shape
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape):
        return f"has a malformed shape {list(shape)}"
    if any(d < 0 for d in shape):
        return (
            f"has shape {list(shape)}: a negative size (a kernel or padding larger than "
            "its input, or a negative scale?)"
        )
    if math.prod(int(d) for d in shape) > MAX_TENSOR_ELEMENTS:
        return f"has shape {list(shape)}, more than {MAX_TENSOR_ELEMENTS} elements"
    if info.dtype not in DTYPES:
        return f"has unsupported dtype {info.dtype!r}"
    return None


def _ints(value: Any) -> list[int] | None:
    if value is None:
        return None
    values = value.tolist() if isinstance(value, np.ndarray) else value
    if not isinstance(values, (list, tuple)):
        values = [values]
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return None
    return [int(v) for v in values]


def _attribute_problem(node: Node, graph: Graph) -> str | None:
    if node.op_type in _WINDOWED:
        for key in _AT_LEAST_ONE:
            values = _ints(node.attrs.get(key))
            if values is not None and any(v < 1 for v in values):
                return f"{key} {values} must all be at least 1"
        pads = _ints(node.attrs.get("pads"))
        if pads is not None and any(p < 0 for p in pads):
            return f"pads {pads} must not be negative"
    if node.op_type in ("Resize", "Upsample"):
        # The scales input: (X, scales) for Upsample and Resize-10, (X, roi, scales, sizes) after.
        index = 2 if node.op_type == "Resize" and graph.opset >= 11 else 1
        scales = _constant(node, index, graph)
        if scales is None:
            scales = node.attrs.get("scales")
        if scales is not None:
            values = np.asarray(scales, dtype=np.float64).ravel()
            if values.size and not (np.isfinite(values) & (values > 0)).all():
                return f"scales {values.tolist()} must be finite and above zero"
    if node.op_type in _RESIZE_SIZES:
        sizes = _constant(node, _RESIZE_SIZES[node.op_type], graph)
        if sizes is not None and np.asarray(sizes).size and (np.asarray(sizes) <= 0).any():
            return f"sizes {np.asarray(sizes).tolist()} must be above zero"
    return None


def _constant(node: Node, index: int, graph: Graph) -> np.ndarray | None:
    if index < len(node.inputs) and node.inputs[index]:
        value = graph.params.get(node.inputs[index])
        if value is not None and value.dtype.kind in "fiu":
            return value
    return None
