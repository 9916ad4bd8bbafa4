"""Parameter roles: how the quantizer treats each float parameter (weight, bias, data).

A parameter that carries data is quantized: a layer's ``weight`` (with its output-channel
axis for ``--per-channel``), its ``bias`` (encoded from the layer's input and weight), or
``data`` (the constants of ``DATA_PARAM_INPUTS``). Everything else (shapes, indices,
Resize scales, Clip bounds, ...) is a setting and stays as it is. The quantizer, the
runtimes that quantize at init and the AIMET encodings importer share this one answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.engine.graph import Graph, Node

WEIGHT_OPS = frozenset({"Conv", "ConvTranspose", "Gemm"})
# (op type) -> parameter input indices that carry data and are quantized (None: all).
DATA_PARAM_INPUTS: dict[str, tuple[int, ...] | None] = {
    "Add": None,
    "Sub": None,
    "Mul": None,
    "Div": None,
    "Max": None,
    "Min": None,
    "Sum": None,
    "Mean": None,
    "Concat": None,
    "Einsum": None,
    "Where": (1, 2),
    "Gemm": (0,),
    "PRelu": (1,),
    "LayerNormalization": (1, 2),
    "InstanceNormalization": (1, 2),
    "BatchNormalization": (1, 2),
    "Gather": (0,),
    "Pow": (0,),
    # Recurrent layers: W, R, B (and LSTM's peepholes P), 8-bit like other weights.
    "LSTM": (1, 2, 3, 7),
    "GRU": (1, 2, 3),
    "RNN": (1, 2, 3),
}


@dataclass(frozen=True)
class ParamRole:
    """How a parameter is quantized: as a layer's ``weight`` or ``bias``, or as ``data``."""

    kind: str
    node_index: int
    input_index: int
    axis: int | None = None  # per-channel axis of a weight


def weight_axis(node: Node, input_index: int, ndim: int) -> int:
    """The output-channel axis of a weight (the ``--per-channel`` axis)."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        return 1
    if node.op_type == "Gemm":
        return 0 if int(node.attr("transB", 0)) else 1
    # MatMul: B's columns, or A's rows when the constant is A.
    return ndim - 1 if input_index == 1 else max(ndim - 2, 0)


def param_roles(graph: Graph) -> dict[str, ParamRole]:
    """The role of every float32 parameter that is quantized (others are absent)."""
    roles: dict[str, ParamRole] = {}
    rank = {"weight": 0, "bias": 1, "data": 2}

    def offer(name: str, role: ParamRole) -> None:
        p = graph.params.get(name)
        if p is None or p.dtype != np.float32 or p.size == 0:
            return
        old = roles.get(name)
        if old is None or rank[role.kind] < rank[old.kind]:
            roles[name] = role

    for idx, n in enumerate(graph.nodes):
        if n.domain:
            continue
        for i, name in enumerate(n.inputs):
            if not name or name not in graph.params:
                continue
            ndim = graph.params[name].ndim
            if n.op_type in WEIGHT_OPS and i == 1:
                offer(name, ParamRole("weight", idx, i, weight_axis(n, i, ndim)))
            elif n.op_type in WEIGHT_OPS and i == 2:
                offer(name, ParamRole("bias", idx, i))
            elif n.op_type == "MatMul" and i in (0, 1) and ndim >= 2:
                other = n.inputs[1 - i]
                if other not in graph.params:
                    offer(name, ParamRole("weight", idx, i, weight_axis(n, i, ndim)))
            elif n.op_type in DATA_PARAM_INPUTS:
                data = DATA_PARAM_INPUTS[n.op_type]
                if data is None or i in data:
                    offer(name, ParamRole("data", idx, i))
    return roles
