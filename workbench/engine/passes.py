"""Graph passes the importers run, in order, each a small function over a ``Graph``.

1. ``remove_passthrough``: drop Identity and (inference-mode) Dropout.
2. ``fold_constants``: Shape/Size of statically shaped tensors, then every node
   whose inputs are all parameters, evaluated with our own kernels. Folding can
   reveal shapes (a Reshape whose target became constant), so when the importer
   gives a shape-inference function, folding and inference alternate until
   nothing more folds. Generators (ConstantOfShape, Expand, Tile, Range) too big to
   fold stay nodes; ones beyond ``MAX_TENSOR_ELEMENTS`` are refused.
3. ``fold_batchnorm``: BatchNormalization into a preceding Conv, ConvTranspose or Gemm.
4. prune dead nodes and parameters, sort topologically, validate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from workbench.engine.executor import Plan
from workbench.engine.graph import MAX_TENSOR_ELEMENTS, Graph, Node, TensorInfo, rename_unique
from workbench.engine.ops.registry import supported_ops
from workbench.errors import ModelError

# Folding these would freeze one random draw into the model.
_NONDETERMINISTIC = frozenset(
    {
        "RandomNormal",
        "RandomUniform",
        "RandomNormalLike",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
    }
)


# Static infos of the graph's tensors, as far as they can be inferred (by name).
ShapeInference = Callable[[Graph], Mapping[str, TensorInfo]]

# Rounds of fold-then-infer; real exports settle in two or three.
_MAX_FOLD_ROUNDS = 20


def run_all(graph: Graph, infer_shapes: ShapeInference | None = None) -> Graph:
    """Every pass in order, on a copy of ``graph``.

    ``infer_shapes`` (from the importer) re-infers tensor infos after each round of
    constant folding, so Shape nodes of tensors whose shapes only folding revealed
    fold too.
    """
    graph = graph.copy()
    graph.toposort()
    remove_passthrough(graph)
    for round_ in range(_MAX_FOLD_ROUNDS):
        folded = fold_constants(graph)
        # Inference always runs once (it may know more than the importer's first pass);
        # after that only when folding changed the graph.
        if infer_shapes is None or (round_ > 0 and not folded):
            break
        graph.prune()
        revealed = {k: v for k, v in infer_shapes(graph).items() if k not in graph.params}
        if not revealed.keys() - graph.tensors.keys():
            break
        graph.tensors.update(revealed)
    fold_batchnorm(graph)
    graph.prune()
    graph.toposort()
    graph.validate()
    return graph


# -- Identity / Dropout ---------------------------------------------------------------


def _is_passthrough(node: Node, graph_outputs: set[str], consumers: dict[str, list[Node]]) -> bool:
    if node.domain or not node.inputs or not node.inputs[0] or not node.outputs[0]:
        return False
    if node.op_type == "Identity":
        return True
    if node.op_type == "Dropout":
        # Inference mode: the data passes through; only a used mask keeps the node.
        mask = node.outputs[1] if len(node.outputs) > 1 else ""
        return not mask or (mask not in consumers and mask not in graph_outputs)
    return False


def remove_passthrough(graph: Graph) -> None:
    """Remove Identity and Dropout nodes, rewiring their consumers to their input.

    When the removed node's output is a graph output, the producer's output is
    renamed to it instead, so graph output names stay stable.
    """
    graph_outputs = set(graph.output_names)
    fixed = set(graph.input_names) | set(graph.params) | graph_outputs
    consumers = graph.consumers()
    sub: dict[str, str] = {}

    def resolve(name: str) -> str:
        while name in sub:
            name = sub[name]
        return name

    kept = []
    for node in graph.nodes:
        if not _is_passthrough(node, graph_outputs, consumers):
            kept.append(node)
            continue
        src, dst = resolve(node.inputs[0]), node.outputs[0]
        if dst not in graph_outputs:
            sub[dst] = src
        elif src not in fixed:
            sub[src] = dst  # the producer now writes the graph output directly
        else:
            # An input, parameter or other output passed straight to an output.
            kept.append(replace(node, inputs=(src,), outputs=(dst,)))
    if not sub:
        return
    graph.nodes = [
        replace(
            n,
            inputs=tuple(resolve(i) if i else i for i in n.inputs),
            outputs=tuple(resolve(o) if o else o for o in n.outputs),
        )
        for n in kept
    ]


# -- constant folding -----------------------------------------------------------------


def _static_shape_value(graph: Graph, node: Node) -> np.ndarray | None:
    """The value of a Shape or Size node whose input has a known static shape."""
    if node.domain or node.op_type not in ("Shape", "Size") or not node.inputs:
        return None
    info = graph.info(node.inputs[0])
    if info is None:
        return None
    if node.op_type == "Size":
        return np.array(info.size, dtype=np.int64)
    # Shape's start/end (opset 15) clamp like Python slices.
    start = int(node.attr("start", 0))
    end = node.attr("end")
    dims = info.shape[start:] if end is None else info.shape[start : int(end)]
    return np.array(dims, dtype=np.int64)


def _is_constant(graph: Graph, node: Node, supported: frozenset[str]) -> bool:
    used = [i for i in node.inputs if i]
    return (
        not node.domain
        and node.op_type in supported
        and node.op_type not in _NONDETERMINISTIC
        and bool(used)
        and all(i in graph.params for i in used)
    )


def _evaluate(graph: Graph, node: Node) -> dict[str, np.ndarray]:
    """Run one node on its constant inputs with our kernels."""
    names = [t for t in (*node.inputs, *node.outputs) if t]
    outputs = [o for o in node.outputs if o]
    for o in outputs:
        info = graph.info(o)
        if info is not None and math.prod(info.shape) > MAX_TENSOR_ELEMENTS:
            raise ModelError(
                f"{node.op_type} node {node.name!r} would make {o!r} of shape "
                f"{list(info.shape)}, more than the {MAX_TENSOR_ELEMENTS} elements a tensor may have"
            )
    single = Graph(
        name=node.name,
        inputs=[],
        outputs=[graph.info(o) or TensorInfo(o, ()) for o in outputs],
        nodes=[node],
        params={i: graph.params[i] for i in node.inputs if i},
        tensors={k: graph.tensors[k] for k in names if k in graph.tensors},
        opset=graph.opset,
    )
    try:
        results = Plan(single).run({})
    except MemoryError as exc:  # a shape only folding revealed, too big to hold
        raise ModelError(
            f"{node.op_type} node {node.name!r}: its constant output does not fit in memory ({exc})"
        ) from None
    return {o: np.asarray(results[o]) for o in outputs}


# A node that makes a tensor from a few numbers (ConstantOfShape, Expand, Tile, Range)
# folds only below this many elements: a constant bigger than that would bloat the
# container, and a hostile one (2**40 zeros) must not be allocated at all.
FOLD_GENERATED_ELEMENTS = 1 << 24


def generated_elements(graph: Graph, node: Node) -> int | None:
    """Elements a value-shaped generator would make from its constant inputs, if it is one."""

    def const(i: int) -> np.ndarray | None:
        name = node.inputs[i] if i < len(node.inputs) else ""
        return graph.params.get(name) if name else None

    def ints(a: np.ndarray) -> list[int]:
        return [int(v) for v in np.asarray(a).reshape(-1)]

    try:
        if node.op_type == "ConstantOfShape" and const(0) is not None:
            return math.prod(ints(const(0)))
        if node.op_type == "Expand" and const(0) is not None and const(1) is not None:
            data, shape = list(const(0).shape), ints(const(1))
            rank = max(len(data), len(shape))
            data, shape = [1] * (rank - len(data)) + data, [1] * (rank - len(shape)) + shape
            return math.prod(max(a, b) for a, b in zip(data, shape, strict=True))
        if node.op_type == "Tile" and const(0) is not None and const(1) is not None:
            return const(0).size * math.prod(ints(const(1)))
        if node.op_type == "Range" and all(const(i) is not None for i in range(3)):
            start, limit, delta = (float(np.asarray(const(i)).reshape(-1)[0]) for i in range(3))
            return max(math.ceil((limit - start) / delta), 0) if delta else None
    except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError):
        return None  # malformed: the kernel reports it
    return None


def _small_enough_to_fold(graph: Graph, node: Node) -> bool:
    size = generated_elements(graph, node)
    if size is not None and size > MAX_TENSOR_ELEMENTS:
        raise ModelError(
            f"{node.op_type} node {node.name!r} would make a tensor of {size} elements, more "
            f"than the {MAX_TENSOR_ELEMENTS} a tensor may have"
        )
    if size is None:
        # Any other op (an outer-product MatMul, a Pad of constants) is bounded by its
        # inferred outputs: folding it would allocate them at convert time.
        infos = [graph.info(o) for o in node.outputs if o]
        size = sum(math.prod(i.shape) for i in infos if i is not None) or None
    return size is None or size <= FOLD_GENERATED_ELEMENTS


def fold_constants(graph: Graph) -> int:
    """Replace every node computable at import time by parameters holding its outputs.

    ``Shape``/``Size`` of a tensor with a static shape count as constant, so
    Shape→Gather→Unsqueeze→Concat→Reshape chains fold down to a constant shape.
    Returns the number of nodes folded.
    """
    supported = supported_ops()
    kept = []
    for node in graph.nodes:  # topological order: a chain folds in one sweep
        shape = _static_shape_value(graph, node)
        if shape is not None:
            graph.params[node.outputs[0]] = shape
        elif _is_constant(graph, node, supported) and _small_enough_to_fold(graph, node):
            graph.params.update(_evaluate(graph, node))
        else:
            kept.append(node)
    folded = len(graph.nodes) - len(kept)
    graph.nodes = kept
    return folded


# -- BatchNormalization folding -------------------------------------------------------

_BN_HOSTS = ("Conv", "ConvTranspose", "Gemm")


def _bn_scale_shift(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel ``(s, t)`` with ``BN(y) = s*y + t``, if all statistics are constant."""
    if len(bn.inputs) < 5 or not all(i in graph.params for i in bn.inputs[1:5]):
        return None
    gamma, beta, mean, var = (graph.params[i].astype(np.float64) for i in bn.inputs[1:5])
    if not (gamma.ndim == beta.ndim == mean.ndim == var.ndim == 1):
        return None
    eps = float(bn.attr("epsilon", 1e-5))
    s = gamma / np.sqrt(var + eps)
    return s, beta - mean * s


def _can_fold(graph: Graph, bn: Node, host: Node | None, consumers: dict[str, list[Node]]) -> bool:
    if bn.domain or bn.op_type != "BatchNormalization":
        return False
    if host is None or host.domain or host.op_type not in _BN_HOSTS:
        return False
    # Training outputs in use, training mode, or per-activation statistics: keep it.
    extra = [o for o in bn.outputs[1:] if o]
    if any(o in consumers or o in graph.output_names for o in extra):
        return False
    if bn.attr("training_mode", 0) or not bn.attr("spatial", 1):
        return False
    x = bn.inputs[0]
    if len(consumers.get(x, [])) != 1 or x in graph.output_names:
        return False
    weight = host.inputs[1] if len(host.inputs) > 1 else ""
    bias = host.inputs[2] if len(host.inputs) > 2 else ""
    return weight in graph.params and (not bias or bias in graph.params)


def _scaled_host(
    graph: Graph, host: Node, s: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """New weight, bias and attributes for ``host`` followed by ``s*y + t``."""
    w = graph.params[host.inputs[1]]
    b_name = host.inputs[2] if len(host.inputs) > 2 else ""
    b = graph.params[b_name].astype(np.float64) if b_name else None
    w64 = w.astype(np.float64)
    attrs = dict(host.attrs)
    if host.op_type == "Conv":
        if w.ndim < 2 or w.shape[0] != s.size:
            return None
        new_w = w64 * s.reshape((-1,) + (1,) * (w.ndim - 1))
        new_b = (b if b is not None else 0.0) * s + t
    elif host.op_type == "ConvTranspose":
        group = int(host.attr("group", 1))
        if w.ndim < 2 or w.shape[0] % group or w.shape[1] * group != s.size:
            return None
        # Weight [C_in, C_out/group, k...]; output channel g*(C_out/group) + j.
        grouped = w64.reshape((group, w.shape[0] // group) + w.shape[1:])
        scale = s.reshape((group, 1, w.shape[1]) + (1,) * (w.ndim - 2))
        new_w = (grouped * scale).reshape(w.shape)
        new_b = (b if b is not None else 0.0) * s + t
    else:  # Gemm: Y = alpha * A @ B' + beta * C, channels are the columns of Y.
        if w.ndim != 2:
            return None
        trans_b = int(host.attr("transB", 0))
        if w.shape[0 if trans_b else 1] != s.size:
            return None
        new_w = w64 * (s[:, None] if trans_b else s[None, :])
        c = 0.0 if b is None else float(host.attr("beta", 1.0)) * b
        new_b = c * s + t
        attrs["beta"] = 1.0
    dtype = w.dtype
    return new_w.astype(dtype), np.asarray(new_b, dtype=dtype), attrs


def _param_slot(
    graph: Graph, name: str, host: Node, users: dict[str, list[Node]], base: str
) -> str:
    """``name`` if only ``host`` reads it (overwrite in place), else a fresh name."""
    if name and all(u.name == host.name for u in users.get(name, [])):
        return name
    taken = set(graph.params) | set(graph.tensors) | {o for n in graph.nodes for o in n.outputs}
    return rename_unique(taken, base)


def fold_batchnorm(graph: Graph) -> None:
    """Fold BatchNormalization into a Conv, ConvTranspose or Gemm it alone consumes.

    ``W' = W * s`` per output channel and ``b' = (b - mean) * s + beta`` with
    ``s = gamma / sqrt(var + eps)``. A BatchNormalization with no such producer stays.
    """
    producers = graph.producers()
    consumers = graph.consumers()
    replaced: dict[str, Node] = {}  # host name -> folded host
    removed: set[str] = set()
    for bn in graph.nodes:
        host = producers.get(bn.inputs[0]) if bn.inputs else None
        if host is not None:
            host = replaced.get(host.name, host)
        if not _can_fold(graph, bn, host, consumers):
            continue
        st = _bn_scale_shift(graph, bn)
        folded = _scaled_host(graph, host, *st) if st is not None else None
        if folded is None:
            continue
        new_w, new_b, attrs = folded
        w_name = _param_slot(graph, host.inputs[1], host, consumers, f"{host.inputs[1]}_bn")
        old_b = host.inputs[2] if len(host.inputs) > 2 else ""
        b_name = _param_slot(
            graph, old_b, host, consumers, old_b + "_bn" if old_b else f"{host.name}_bias"
        )
        graph.params[w_name] = new_w
        graph.params[b_name] = new_b
        new_host = replace(
            host,
            inputs=(host.inputs[0], w_name, b_name),
            outputs=(bn.outputs[0],) + tuple(host.outputs[1:]),
            attrs=attrs,
        )
        replaced[host.name] = new_host
        producers[bn.outputs[0]] = new_host
        removed.add(bn.name)
    if replaced or removed:
        graph.nodes = [replaced.get(n.name, n) for n in graph.nodes if n.name not in removed]
