"""Which tensors share another tensor's encoding instead of being calibrated.

Data-movement ops (``PROPAGATED_OPS``) move values without computing new ones, so their
outputs keep their data input's encoding and run without requantization. A tensor whose
only consumer is a fused activation (``FUSED_ACTIVATIONS``) takes that activation's
output encoding, as the vendor runtime fuses Conv+ReLU into one layer. The quantizer,
the analysis and the DSP's dynamic quantization all follow these rules.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from workbench.engine.graph import Graph, Node
from workbench.engine.quant.encoding import AnyEncoding

# Ops whose output encoding is their data input's (values are moved, never computed).
PROPAGATED_OPS = frozenset(
    {
        "Reshape",
        "Flatten",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Identity",
        "Dropout",
        "Slice",
        "Split",
        "Gather",
        "Expand",
        "Tile",
        "DepthToSpace",
        "SpaceToDepth",
        "MaxPool",
        "GlobalMaxPool",
        "Pad",
    }
)
# Activations fused into their producer: the producer's output takes their encoding.
FUSED_ACTIVATIONS = frozenset({"Relu", "Clip"})
# Ops whose every output is propagated (the others: only output 0).
_ALL_OUTPUTS_PROPAGATED = frozenset({"Split"})


def _pad_is_data_movement(node: Node, graph: Graph) -> bool:
    mode = node.attr("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode != "constant":
        return True
    if len(node.inputs) > 2 and node.inputs[2]:
        value = graph.params.get(node.inputs[2])
        return (
            value is not None
            and value.size <= 1
            and float(np.asarray(value).reshape(-1)[0] if value.size else 0.0) == 0.0
        )
    return float(node.attr("value", 0.0)) == 0.0


def propagates(node: Node, graph: Graph) -> bool:
    """Does ``node``'s output take its data input's encoding (``PROPAGATED_OPS``)?"""
    if node.domain or node.op_type not in PROPAGATED_OPS or not node.inputs or not node.inputs[0]:
        return False
    if node.inputs[0] in graph.params:
        return False  # constant data (an embedding table): the output is calibrated
    if node.op_type == "Pad":
        return _pad_is_data_movement(node, graph)
    return True


def propagated_outputs(node: Node) -> tuple[str, ...]:
    outs = node.outputs if node.op_type in _ALL_OUTPUTS_PROPAGATED else node.outputs[:1]
    return tuple(o for o in outs if o)


def fused_activation_inputs(graph: Graph) -> dict[str, str]:
    """``{tensor: activation output}`` for tensors whose only consumer is a fused activation."""
    consumers = graph.consumers()
    outputs = set(graph.output_names) | set(graph.input_names)
    fused = {}
    for n in graph.nodes:
        if n.domain or n.op_type not in FUSED_ACTIVATIONS or not n.inputs or not n.outputs:
            continue
        t = n.inputs[0]
        if t and t not in outputs and t not in graph.params and consumers.get(t) == [n]:
            fused[t] = n.outputs[0]
    return fused


def propagate_encodings(
    graph: Graph, encodings: dict[str, AnyEncoding], keep: Iterable[str] = ()
) -> None:
    """Fill the derived encodings in place (fused activations, then data movement).

    A tensor fused into a following activation takes the activation's output encoding;
    data-movement outputs take their input's, in graph order. Tensors in ``keep``
    (overrides) keep their own encoding and propagate it onwards.
    """
    pinned = set(keep)
    for t, act_out in fused_activation_inputs(graph).items():
        if t not in pinned and act_out in encodings:
            encodings[t] = encodings[act_out]
    for n in graph.nodes:
        if not propagates(n, graph):
            continue
        source = encodings.get(n.inputs[0])
        if source is None:
            continue  # integer data: no encoding
        for o in propagated_outputs(n):
            if o not in pinned:
                encodings[o] = source
