"""The float32 operator registry: one small unit per operator, registered in one table.

Each operator module registers a *prepare* function for one or more ONNX op types::

    @register("Relu")
    def relu(ctx: OpContext) -> Kernel:
        return lambda x: (np.maximum(x, 0, dtype=x.dtype),)

``prepare`` runs once, at plan time: it reads attributes (applying ONNX defaults),
pre-computes what it can from constant inputs (``ctx.const(i)``: parameters and
folded constants, e.g. a Conv weight reshaped for one BLAS call), and returns a
*kernel*: a callable that takes every input of the node positionally (``None`` for
an omitted optional input) and returns a tuple with one array per node output.
Kernels are whole-tensor numpy, never per-element Python, and they must not mutate
their inputs (intermediates and parameters are shared).

Attribute forms that moved to inputs across opsets (Split/Squeeze/Unsqueeze/Reduce*
axes, Clip min/max, Pad pads, Slice starts/ends, Resize/Upsample scales) are accepted
in both forms; ``ctx.opset`` tells the semantic changes (e.g. Softmax before 13).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.errors import ModelError, UnsupportedOperators

Kernel = Callable[..., tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class OpContext:
    """Everything a prepare function may know about a node before running it."""

    node: Node
    consts: Mapping[int, np.ndarray] = field(default_factory=dict)
    inputs: Sequence[TensorInfo | None] = ()
    outputs: Sequence[TensorInfo | None] = ()
    opset: int = 17
    # Set by plans that fuse (``workbench.engine.fusion``): the elementwise chain this
    # node's kernel computes after it (its extra input, if any, is the residual), and
    # the compiled-kernel module when the plan uses it (``workbench.engine.jit``).
    chain: Any = None
    jit: Any = None
    # Plans a body graph (If, Loop, Scan) the way the enclosing plan is planned (same
    # kernel wrapping: fake-quant, float16, ...); whoever prepares a node with bodies
    # gives it (the executor does).
    plan_body: Callable[[Graph], Any] | None = None

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attrs.get(name, default)

    def const(self, index: int) -> np.ndarray | None:
        """The value of input ``index`` if it is known at plan time, else ``None``."""
        return self.consts.get(index)

    def has_input(self, index: int) -> bool:
        return index < len(self.node.inputs) and bool(self.node.inputs[index])

    def body(self, key: str) -> Any:
        """The plan of body graph attribute ``key`` (a ``Plan``-like: ``run``, ``graph``)."""
        graph = self.node.attrs.get(key)
        if not isinstance(graph, Graph):
            raise self.fail(f"attribute {key!r} is not a graph")
        if self.plan_body is None:
            raise self.fail(f"no planner was given for its body {key!r}")
        return self.plan_body(graph)

    def fail(self, message: str) -> ModelError:
        """An error naming this node, to ``raise`` from a prepare function."""
        return ModelError(f"{self.node.op_type} node {self.node.name!r}: {message}")


Prepare = Callable[[OpContext], Kernel]

_REGISTRY: dict[str, Prepare] = {}
_DEFAULT_DOMAINS = ("", "ai.onnx")
# Operator sets beside ai.onnx whose operators the engine implements (ONNX Runtime's
# contrib operators, as its transformer optimizer and exporters write them).
CONTRIB_DOMAIN = "com.microsoft"


def op_key(op_type: str, domain: str = "") -> str:
    """The registry key of an operator: its type, prefixed by a non-default domain."""
    return op_type if domain in _DEFAULT_DOMAINS else f"{domain}.{op_type}"


def register(*op_types: str, domain: str = "") -> Callable[[Prepare], Prepare]:
    """Register ``prepare`` for each op type (of the default domain unless ``domain``)."""

    def wrap(fn: Prepare) -> Prepare:
        for op in op_types:
            key = op_key(op, domain)
            if key in _REGISTRY:
                raise RuntimeError(f"operator {key} registered twice")
            _REGISTRY[key] = fn
        return fn

    return wrap


# The table is full whenever this module is usable: importing it runs the package's
# __init__ first, which imports every operator module.


def supported_ops() -> frozenset[str]:
    """Registry keys: default-domain op types, and ``domain.op`` for the others."""
    return frozenset(_REGISTRY)


def is_supported(node: Node) -> bool:
    return op_key(node.op_type, node.domain) in _REGISTRY


def check_supported(nodes: Sequence[Node]) -> None:
    """Raise ``UnsupportedOperators`` listing every unsupported op type with its nodes
    (the nodes of If/Loop/Scan bodies too)."""
    missing: dict[str, list[str]] = {}

    def walk(nodes: Sequence[Node]) -> None:
        for n in nodes:
            key = op_key(n.op_type, n.domain)
            if key not in _REGISTRY:
                missing.setdefault(key, []).append(n.name)
            for body in n.subgraphs.values():
                walk(body.nodes)

    walk(nodes)
    if missing:
        raise UnsupportedOperators(missing)


def prepare(ctx: OpContext) -> Kernel:
    """The kernel for ``ctx.node``; raises ``UnsupportedOperators`` if there is none."""
    key = op_key(ctx.node.op_type, ctx.node.domain)
    fn = _REGISTRY.get(key)
    if fn is None:
        raise UnsupportedOperators({key: [ctx.node.name]})
    return fn(ctx)
