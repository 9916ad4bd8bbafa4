"""Our IR back to ONNX protobuf: nodes (bodies included) and whole float graphs.

The inverse of the importer's conversion, used by shape inference on folded graphs and
by the QDQ export. A body's captured inputs (``graph.CAPTURED``) go back to being what
ONNX has: references to the outer tensors by name, not inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from workbench.engine.graph import CAPTURED, Graph, Node, TensorInfo, walk_nodes
from workbench.errors import ModelError


def attribute_value(value: Any) -> Any:
    """An IR attribute value as ``helper.make_attribute`` takes it (graphs excepted)."""
    if isinstance(value, np.ndarray):
        return numpy_helper.from_array(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [attribute_value(v) for v in value]
    return value


def value_info(info: TensorInfo | None, name: str) -> onnx.ValueInfoProto:
    """A typed value (dimensions left unknown where the IR has -1)."""
    if info is None:
        return onnx.ValueInfoProto(name=name)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(info.dtype))
    if info.shape == (-1,):  # nothing known about it but its type
        return helper.make_tensor_value_info(name, elem, None)
    return helper.make_tensor_value_info(name, elem, [d if d >= 0 else None for d in info.shape])


def onnx_node(n: Node, rename: Mapping[str, str] | None = None) -> onnx.NodeProto:
    """``n`` as an ONNX node; ``rename`` maps tensor names of the enclosing scope."""
    rename = rename or {}
    captured = n.captured
    real_inputs = n.inputs[: len(n.inputs) - captured] if captured else n.inputs
    outer = [rename.get(i, i) for i in n.inputs[len(n.inputs) - captured :]] if captured else []
    attrs: dict[str, Any] = {}
    for k, v in n.attrs.items():
        if k == CAPTURED or (isinstance(v, list) and not v):  # an empty list has no type
            continue
        attrs[k] = onnx_body(v, outer) if isinstance(v, Graph) else attribute_value(v)
    try:
        return helper.make_node(
            n.op_type,
            [rename.get(i, i) for i in real_inputs],
            [rename.get(o, o) for o in n.outputs],
            name=n.name,
            domain=n.domain or None,
            **attrs,
        )
    except (ValueError, TypeError) as exc:  # mixed or unsupported attribute values
        raise ModelError(
            f"{n.op_type} node {n.name!r} has an attribute ONNX cannot hold: {exc}"
        ) from None


def onnx_body(body: Graph, outer: Sequence[str]) -> onnx.GraphProto:
    """A body graph for ONNX: its last ``len(outer)`` inputs become references to ``outer``."""
    n_formal = len(body.inputs) - len(outer)
    rename = {t.name: o for t, o in zip(body.inputs[n_formal:], outer, strict=True)}
    nodes = [onnx_node(n, rename) for n in body.nodes]
    inits = [numpy_helper.from_array(np.asarray(p), name) for name, p in body.params.items()]
    inputs = [value_info(t, t.name) for t in body.inputs[:n_formal]]
    outputs = []
    for k, t in enumerate(body.outputs):
        info = body.tensors.get(t.name) or t
        name = t.name
        if name in rename:  # an outer tensor returned as is: ONNX wants it produced here
            name = f"{t.name}/output_{k}"
            nodes.append(helper.make_node("Identity", [rename[t.name]], [name], name=name))
        outputs.append(value_info(info, name))
    return helper.make_graph(nodes, body.name or "body", inputs, outputs, initializer=inits)


def opset_imports(graph: Graph, opset: int | None = None) -> list[onnx.OperatorSetIdProto]:
    """ai.onnx at ``opset`` (the graph's own by default), and version 1 of every other
    domain a node uses (ONNX Runtime's contrib operators)."""
    domains = sorted({n.domain for _, n in walk_nodes(graph) if n.domain})
    return [
        helper.make_opsetid("", opset or graph.opset),
        *(helper.make_opsetid(d, 1) for d in domains),
    ]
