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

from workbench.engine.graph import Node, TensorInfo
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

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attrs.get(name, default)

    def const(self, index: int) -> np.ndarray | None:
        """The value of input ``index`` if it is known at plan time, else ``None``."""
        return self.consts.get(index)

    def has_input(self, index: int) -> bool:
        return index < len(self.node.inputs) and bool(self.node.inputs[index])

    def fail(self, message: str) -> ModelError:
        """An error naming this node, to ``raise`` from a prepare function."""
        return ModelError(f"{self.node.op_type} node {self.node.name!r}: {message}")


Prepare = Callable[[OpContext], Kernel]

_REGISTRY: dict[str, Prepare] = {}


def register(*op_types: str) -> Callable[[Prepare], Prepare]:
    """Register ``prepare`` for each ONNX op type (default domain)."""

    def wrap(fn: Prepare) -> Prepare:
        for op in op_types:
            if op in _REGISTRY:
                raise RuntimeError(f"operator {op} registered twice")
            _REGISTRY[op] = fn
        return fn

    return wrap


# The table is full whenever this module is usable: importing it runs the package's
# __init__ first, which imports every operator module.


def supported_ops() -> frozenset[str]:
    return frozenset(_REGISTRY)


def check_supported(nodes: Sequence[Node]) -> None:
    """Raise ``UnsupportedOperators`` listing every unsupported op type with its nodes."""
    missing: dict[str, list[str]] = {}
    for n in nodes:
        key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        if n.domain not in ("", "ai.onnx") or n.op_type not in _REGISTRY:
            missing.setdefault(key, []).append(n.name)
    if missing:
        raise UnsupportedOperators(missing)


def prepare(ctx: OpContext) -> Kernel:
    """The kernel for ``ctx.node``; raises ``UnsupportedOperators`` if there is none."""
    fn = _REGISTRY.get(ctx.node.op_type)
    if fn is None or ctx.node.domain not in ("", "ai.onnx"):
        raise UnsupportedOperators({ctx.node.op_type: [ctx.node.name]})
    return fn(ctx)
