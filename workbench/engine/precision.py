"""Float precision at import: float16, bfloat16 and float64 models become float32 graphs.

A container computes in float32 (the runtimes then choose their own storage: float16 on
``gpu_fp16``, integers on the DSP), so an imported model's other float types are widened
once, at import: parameters, tensor attributes (ConstantOfShape's value), the dtype
attributes that choose a result type (Cast's ``to``, the Random* and EyeLike ``dtype``),
graph inputs and outputs, tensor infos, and every body of If/Loop/Scan. Widening float16
or bfloat16 is exact; narrowing float64 rounds each value once, so a float64 model
matches its reference within float32 tolerance.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from workbench.engine.graph import Graph, Node, TensorInfo

WIDENED = ("float16", "bfloat16", "float64")
# ONNX TensorProto data types: FLOAT16, DOUBLE, BFLOAT16 -> FLOAT.
_ONNX_FLOAT = 1
_ONNX_WIDENED = {10: "float16", 11: "float64", 16: "bfloat16"}
# Attributes naming the output type of their node (ONNX data type numbers).
_TYPE_ATTRS = {
    "Cast": "to",
    "RandomNormal": "dtype",
    "RandomUniform": "dtype",
    "RandomNormalLike": "dtype",
    "RandomUniformLike": "dtype",
    "EyeLike": "dtype",
    "Multinomial": "dtype",
    "Bernoulli": "dtype",
}


def _array(value: np.ndarray, seen: set[str]) -> np.ndarray:
    if value.dtype.kind == "f" and value.dtype != np.float32 or value.dtype.name == "bfloat16":
        seen.add(value.dtype.name)
        return np.ascontiguousarray(value.astype(np.float32))
    return value


def _info(info: TensorInfo, seen: set[str]) -> TensorInfo:
    if info.dtype in WIDENED:
        seen.add(info.dtype)
        return replace(info, dtype="float32")
    return info


def _node(node: Node, seen: set[str]) -> Node:
    attrs = dict(node.attrs)
    changed = False
    key = _TYPE_ATTRS.get(node.op_type) if not node.domain else None
    if key is not None and attrs.get(key) in _ONNX_WIDENED:
        seen.add(_ONNX_WIDENED[attrs[key]])
        attrs[key] = _ONNX_FLOAT
        changed = True
    for k, v in node.attrs.items():
        if isinstance(v, np.ndarray):
            new = _array(v, seen)
            if new is not v:
                attrs[k], changed = new, True
        elif isinstance(v, Graph):
            attrs[k] = widen_to_float32(v, seen)
            changed = True
    return replace(node, attrs=attrs) if changed else node


def widen_to_float32(graph: Graph, seen: set[str] | None = None) -> Graph:
    """``graph`` (changed in place, and returned) computing in float32 throughout.

    ``seen`` collects the float types that were widened (numpy names).
    """
    seen = set() if seen is None else seen
    graph.params = {k: _array(v, seen) for k, v in graph.params.items()}
    graph.inputs = [_info(t, seen) for t in graph.inputs]
    graph.outputs = [_info(t, seen) for t in graph.outputs]
    graph.tensors = {k: _info(v, seen) for k, v in graph.tensors.items()}
    graph.nodes = [_node(n, seen) for n in graph.nodes]
    return graph


def widening_note(seen: set[str]) -> str | None:
    """What convert tells the user, or None when the model was float32 already."""
    if not seen:
        return None
    kinds = ", ".join(sorted(seen))
    return f"{kinds} tensors converted to float32 (the container computes in float32)"
