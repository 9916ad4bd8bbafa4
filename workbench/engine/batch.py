"""Resize a network's batch at initialisation, as the runtimes do (``--batch N``).

The container is built for batch 1 (the quantizer requires it). Resizing sets the
leading dimension of every input to N and rewrites what baked the old batch in:
static tensor shapes and constant Reshape / Expand / ConstantOfShape shapes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from workbench.engine.graph import Graph, TensorInfo
from workbench.errors import BadInput

# MAX_BATCH, the largest batch a network is resized to: beyond it the padded batch of
# one input list line alone outgrows memory, and nothing is measured that a smaller
# one misses.
from workbench.vocabulary import MAX_BATCH

# (op type, index of the constant shape input) whose leading entry is the batch.
_SHAPE_INPUTS = {"Reshape": 1, "Expand": 1, "ConstantOfShape": 0}


def graph_batch(graph: Graph) -> int:
    """The batch the graph was built for: the leading dimension of its inputs."""
    dims = {t.shape[0] for t in graph.inputs if t.shape}
    return dims.pop() if len(dims) == 1 else 1


def resize_batch(graph: Graph, batch: int) -> Graph:
    """A copy of ``graph`` whose inputs (and everything downstream) have batch ``batch``."""
    if batch < 1 or batch > MAX_BATCH:
        raise BadInput(f"--batch must be an integer from 1 to {MAX_BATCH}, got {batch}")
    old = graph_batch(graph)
    if batch == old:
        return graph
    if any(not t.shape or t.shape[0] != old for t in graph.inputs):
        raise BadInput("the batch can only be resized when every input has a leading batch dim")
    g = graph.copy()

    def rebatch(t: TensorInfo) -> TensorInfo:
        if t.shape and t.shape[0] == old and t.name not in graph.params:
            return replace(t, shape=(batch, *t.shape[1:]))
        return t

    g.inputs = [rebatch(t) for t in g.inputs]
    g.outputs = [rebatch(t) for t in g.outputs]
    # Intermediate static shapes are not rewritten (a leading 1 is not always the
    # batch): kernels then take shapes from the tensors they are given.
    g.tensors = {t.name: t for t in (*g.inputs, *g.outputs)}
    for n in g.nodes:
        i = _SHAPE_INPUTS.get(n.op_type)
        if i is None or i >= len(n.inputs) or n.inputs[i] not in g.params:
            continue
        shape = g.params[n.inputs[i]]
        if shape.ndim == 1 and shape.size and shape[0] == old and shape.dtype.kind == "i":
            new = shape.copy()
            new[0] = batch
            # Give the rewritten shape its own name: the original may be shared.
            name = f"{n.inputs[i]}__batch{batch}"
            g.params[name] = new.astype(np.int64)
            idx = g.nodes.index(n)
            inputs = list(n.inputs)
            inputs[i] = name
            g.nodes[idx] = replace(n, inputs=tuple(inputs))
    return g
