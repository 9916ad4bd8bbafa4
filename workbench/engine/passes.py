"""Graph passes the importers run, in order, each a small function over a ``Graph``.

1. ``remove_passthrough``: drop Identity and (inference-mode) Dropout.
2. ``fold_constants``: Shape/Size of statically shaped tensors, then every node
   whose inputs are all parameters, evaluated with our own kernels. Folding can
   reveal shapes (a Reshape whose target became constant), so when the importer
   gives a shape-inference function, folding and inference alternate until
   nothing more folds. Generators (ConstantOfShape, Expand, Tile, Range) too big to
   fold stay nodes; ones beyond ``MAX_TENSOR_ELEMENTS`` are refused.
   An ``If`` whose condition is constant is replaced by the nodes of the branch it
   takes (``inline_constant_ifs``).
3. ``simplify_bodies``: the bodies of the If/Loop/Scan nodes that remain get the same
   passes, with the outer constants they read moved inside; outer tensors a body no
   longer reads stop being captured.
4. ``fold_batchnorm``: BatchNormalization into a preceding Conv, ConvTranspose or Gemm.
5. prune dead nodes and parameters, sort topologically, validate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from workbench.engine.executor import Plan
from workbench.engine.graph import (
    CAPTURED,
    MAX_TENSOR_ELEMENTS,
    Graph,
    Node,
    TensorInfo,
    rename_unique,
)
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
    _fold_and_infer(graph, infer_shapes)
    if simplify_bodies(graph, infer_shapes):
        # If outputs whose branches now have static shapes reveal more downstream.
        unknown = {o for n in graph.nodes if n.op_type == "If" for o in n.outputs if o}
        unknown -= {k for k, v in graph.tensors.items() if v.static}
        graph.tensors.update(branch_output_infos(graph, unknown))
        _fold_and_infer(graph, infer_shapes)
    fold_batchnorm(graph)
    graph.prune()
    graph.toposort()
    graph.validate()
    # A body's outputs learn their shapes here (the importer refreshes the top graph's).
    graph.outputs = [
        t if t.static or not graph.tensors.get(t.name, t).static else graph.tensors[t.name]
        for t in graph.outputs
    ]
    return graph


def _fold_and_infer(graph: Graph, infer_shapes: ShapeInference | None) -> None:
    """Constant folding alternating with shape inference until nothing more folds."""
    for round_ in range(_MAX_FOLD_ROUNDS):
        folded = fold_constants(graph)
        # Inference always runs once (it may know more than the importer's first pass);
        # after that only when folding changed the graph.
        if infer_shapes is None or (round_ > 0 and not folded):
            break
        graph.prune()
        revealed = {k: v for k, v in infer_shapes(graph).items() if k not in graph.params}
        known = {k for k, v in graph.tensors.items() if v.static}
        if not revealed.keys() - known:
            break
        graph.tensors.update(revealed)


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
    Shape→Gather→Unsqueeze→Concat→Reshape chains fold down to a constant shape; an If
    with a constant condition becomes its branch's nodes, which fold in turn.
    Returns the number of nodes folded.
    """
    supported = supported_ops()
    total = 0
    while True:
        kept = []
        changed = 0
        for node in graph.nodes:  # topological order: a chain folds in one sweep
            shape = _static_shape_value(graph, node)
            if shape is not None:
                graph.params[node.outputs[0]] = shape
            elif _constant_if(graph, node):
                kept.extend(inline_if(graph, node))  # its nodes fold on the next sweep
            elif _is_constant(graph, node, supported) and _small_enough_to_fold(graph, node):
                graph.params.update(_evaluate(graph, node))
            else:
                kept.append(node)
                continue
            changed += 1
        graph.nodes = kept
        total += changed
        if not changed:
            return total


# -- control flow -----------------------------------------------------------------------


def _constant_if(graph: Graph, node: Node) -> bool:
    return (
        node.op_type == "If"
        and not node.domain
        and bool(node.inputs)
        and node.inputs[0] in graph.params
        and np.asarray(graph.params[node.inputs[0]]).size == 1
    )


def _graph_names(graph: Graph) -> set[str]:
    names = set(graph.input_names) | set(graph.params) | set(graph.tensors)
    for n in graph.nodes:
        names.update(t for t in (*n.inputs, *n.outputs) if t)
    return names


def inline_if(graph: Graph, node: Node) -> list[Node]:
    """The nodes of the branch a constant-condition ``If`` takes, renamed into ``graph``.

    Body inputs become the node's captured inputs, body parameters outer ones, and the
    branch's outputs the node's outputs (an Identity where a branch returns an input or
    a constant directly).
    """
    cond = bool(np.asarray(graph.params[node.inputs[0]]).reshape(-1)[0])
    body = node.attrs["then_branch" if cond else "else_branch"]
    taken = _graph_names(graph)
    node_names = {n.name for n in graph.nodes}
    sub: dict[str, str] = dict(zip(body.input_names, node.inputs[1:], strict=False))

    def fresh(name: str) -> str:
        new = rename_unique(taken, name)
        taken.add(new)
        return new

    for name, value in body.params.items():
        sub[name] = fresh(name)
        graph.params[sub[name]] = value
    produced = {o for n in body.nodes for o in n.outputs if o}
    finals: dict[str, str] = {}
    extra: list[Node] = []
    for k, (out, target) in enumerate(zip(body.output_names, node.outputs, strict=True)):
        if not target:
            continue
        if out in produced and out not in finals:
            finals[out] = target
        else:  # an input or constant returned as is, or one value returned twice
            source = finals.get(out) or sub.get(out, out)
            extra.append(Node(fresh(f"{node.name}/output_{k}"), "Identity", (source,), (target,)))
    for o in produced:
        sub[o] = finals.get(o) or fresh(o)
    inlined = []
    for n in body.nodes:
        name = rename_unique(node_names, n.name)
        node_names.add(name)
        inlined.append(
            replace(
                n,
                name=name,
                inputs=tuple(sub.get(i, i) if i else i for i in n.inputs),
                outputs=tuple(sub.get(o, o) if o else o for o in n.outputs),
            )
        )
    for name, info in body.tensors.items():
        if name in sub and name not in body.params and info.static:
            graph.tensors.setdefault(sub[name], replace(info, name=sub[name]))
    return inlined + extra


def branch_output_infos(graph: Graph, wanted: set[str]) -> dict[str, TensorInfo]:
    """Static infos of If outputs whose branches agree where both are known.

    A branch the inputs cannot take as given (a model's 8 kHz branch fed 16 kHz frames)
    may leave its shapes open; the branch with a static shape that the other does not
    contradict decides.
    """
    found = {}
    for n in graph.nodes:
        if n.op_type != "If" or n.domain:
            continue
        branches = [n.attrs.get("then_branch"), n.attrs.get("else_branch")]
        if not all(isinstance(b, Graph) for b in branches):
            continue
        for k, o in enumerate(n.outputs):
            if o not in wanted:
                continue
            infos = [b.tensors.get(b.outputs[k].name, b.outputs[k]) for b in branches]
            static = [i for i in infos if i.static]
            if not static or len({i.dtype for i in infos}) != 1:
                continue
            shape = static[0].shape
            if all(
                len(i.shape) == len(shape)
                and all(d in (-1, s) for d, s in zip(i.shape, shape, strict=False))
                or i.shape == (-1,)
                for i in infos
            ):
                found[o] = TensorInfo(o, shape, static[0].dtype)
    return found


def simplify_bodies(graph: Graph, infer_shapes: ShapeInference | None = None) -> bool:
    """Run the graph passes inside every If/Loop/Scan body (recursively).

    Outer constants a body reads move into it (so its shapes and conditions can fold),
    and captured tensors that no body reads any more are dropped from the node. Returns
    whether anything changed.
    """
    changed = False
    nodes = []
    for node in graph.nodes:
        if not node.subgraphs:
            nodes.append(node)
            continue
        new = _simplified(graph, node, infer_shapes)
        changed |= new is not node
        nodes.append(new)
    graph.nodes = nodes
    return changed


def _simplified(graph: Graph, node: Node, infer_shapes: ShapeInference | None) -> Node:
    captured = node.captured
    first = len(node.inputs) - captured
    outer = list(node.inputs[first:])
    bodies = dict(node.subgraphs)
    for key, body in bodies.items():
        body = body.copy()
        names = body.input_names[len(body.inputs) - captured :]
        for local, name in zip(names, outer, strict=True):
            if name in graph.params:
                body.params[local] = graph.params[name]
        body.inputs = [t for t in body.inputs if t.name not in body.params]
        # Shape inference only where every input's shape is known (If bodies, mostly).
        static = all(t.static for t in body.inputs)
        simplified = run_all(body, infer_shapes if static else None)
        if static and not all(t.static for t in simplified.outputs):
            # A branch these input sizes cannot take (a model's 8 kHz branch fed 16 kHz
            # frames): specialising it would freeze shapes it never has. It stays as the
            # model wrote it (only its captured constants moved in).
            simplified = body
        bodies[key] = simplified

    # Keep a capture only if some body still reads it (and it is not a constant now).
    def reads(key: str, k: int) -> bool:
        original, body = node.subgraphs[key], bodies[key]
        local = original.input_names[len(original.inputs) - captured + k]
        return local in body.output_names or any(local in n.inputs for n in body.nodes)

    keep = [
        k
        for k, name in enumerate(outer)
        if name not in graph.params and any(reads(key, k) for key in bodies)
    ]
    for key, body in bodies.items():
        original = node.subgraphs[key]
        formal = original.inputs[: len(original.inputs) - captured]
        locals_ = original.inputs[len(original.inputs) - captured :]
        body.inputs = [*formal, *(locals_[k] for k in keep)]
        body.prune()
        body.validate()
    attrs = {**node.attrs, **bodies}
    if keep:
        attrs[CAPTURED] = len(keep)
    else:
        attrs.pop(CAPTURED, None)
    inputs = (*node.inputs[:first], *(outer[k] for k in keep))
    return replace(node, inputs=inputs, attrs=attrs)


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
