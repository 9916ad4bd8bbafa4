"""The graph IR shared by importers, the container, the executors and the quantizer.

A ``Graph`` is a topologically ordered list of ``Node`` values over named tensors.
Parameters (ONNX initializers, folded constants) live in ``Graph.params`` as numpy
arrays. Attributes are plain Python values resolved at import time: ``int``,
``float``, ``str``, ``list[int]``, ``list[float]``, ``list[str]``, ``np.ndarray``
(tensor attributes) or ``Graph`` (the bodies of If, Loop and Scan). Nothing downstream
parses protobuf.

A body is a closed graph: the outer tensors it reads (ONNX's implicit inputs) are made
explicit. They are appended to the control-flow node's ``inputs`` and, under the body's
own names, to the end of each body's ``inputs``; the node's ``CAPTURED`` attribute
counts them. So every pass that walks ``inputs`` (pruning, sorting, lifetimes, renaming)
sees what a body reads, and a body never depends on outer names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from workbench.errors import ModelError

# No tensor of a real network comes near this many elements (16 GiB of float32); a
# model or container declaring more is hostile or broken, and its sizes would
# overflow the int64 arithmetic of sizes and MACs.
MAX_TENSOR_ELEMENTS = 2**32

# Attribute of a control-flow node: how many of its last inputs are captured outer
# tensors (see the module docstring).
CAPTURED = "captured_inputs"

# dtypes a tensor may have in the IR (numpy names).
DTYPES = frozenset(
    {
        "float32",
        "float16",
        "float64",
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "bool",
    }
)


@dataclass(frozen=True)
class TensorInfo:
    """A named tensor with a static shape and a numpy dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def static(self) -> bool:
        """False for a body input whose dimensions vary (``-1``: a loop-carried value)."""
        return all(d >= 0 for d in self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorInfo:
        return cls(str(d["name"]), tuple(int(x) for x in d["shape"]), str(d["dtype"]))


@dataclass(frozen=True, eq=False)
class StateVar:
    """A state tensor across inferences (``workbench.engine.state``): read from graph input
    ``input``; its next value is the tensor ``output``."""

    input: str
    output: str
    initial: np.ndarray | None = None  # None: zeros of the input's shape
    name: str = ""  # the variable's own name in the source model, when it has one

    def initial_value(self, info: TensorInfo | None) -> np.ndarray:
        if self.initial is not None:
            return self.initial
        if info is None:
            raise ModelError(f"state input {self.input!r} has no initial value and no shape")
        return np.zeros(info.shape, info.dtype)


@dataclass(frozen=True)
class Node:
    """One operator application. ``inputs`` uses ``""`` for an omitted optional input."""

    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    domain: str = ""

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    @property
    def subgraphs(self) -> dict[str, Graph]:
        """The body graphs among the attributes (If's branches, Loop's and Scan's body)."""
        return {k: v for k, v in self.attrs.items() if isinstance(v, Graph)}

    @property
    def captured(self) -> int:
        """How many of the last inputs are outer tensors the bodies read."""
        return int(self.attrs.get(CAPTURED, 0))


# Identity equality: graphs hold arrays, which have no single truth value.
@dataclass(eq=False)
class Graph:
    """A whole network: inputs, outputs, nodes in execution order, parameters, tensor infos."""

    name: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    nodes: list[Node]
    params: dict[str, np.ndarray] = field(default_factory=dict)
    # Static info for every tensor we know a shape for: inputs, intermediates,
    # outputs and parameters. Filled by the importer (ONNX shape inference).
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    opset: int = 17
    # What an importer changed that the user should hear about at convert (float16
    # parameters widened, ...). Not stored in containers.
    notes: list[str] = field(default_factory=list)
    # State carried across inferences that the model itself declares (TFLite resource
    # variables): input/output pairs with their initial values.
    state: list[StateVar] = field(default_factory=list)

    # -- queries -----------------------------------------------------------------

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def info(self, name: str) -> TensorInfo | None:
        """The static info of a tensor, or None if unknown (or varying, in a body)."""
        if name in self.tensors:
            info = self.tensors[name]
            return info if info.static else None
        if name in self.params:
            p = self.params[name]
            return TensorInfo(name, tuple(p.shape), p.dtype.name)
        for t in self.inputs:
            if t.name == name:
                return t if t.static else None
        return None

    def producers(self) -> dict[str, Node]:
        return {out: n for n in self.nodes for out in n.outputs if out}

    def consumers(self) -> dict[str, list[Node]]:
        result: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    result.setdefault(i, []).append(n)
        return result

    def param_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # -- transformations ----------------------------------------------------------

    def copy(self) -> Graph:
        """A shallow structural copy: lists and dicts are new, arrays are shared."""
        return replace(
            self,
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            nodes=list(self.nodes),
            params=dict(self.params),
            tensors=dict(self.tensors),
            notes=list(self.notes),
            state=list(self.state),
        )

    def toposort(self) -> None:
        """Order nodes so every input is produced before it is consumed (stable)."""
        available = set(self.input_names) | set(self.params) | {""}
        pending = list(self.nodes)
        ordered: list[Node] = []
        while pending:
            progress = False
            rest = []
            for n in pending:
                if all(i in available for i in n.inputs):
                    ordered.append(n)
                    available.update(n.outputs)
                    progress = True
                else:
                    rest.append(n)
            if not progress:
                missing = sorted({i for n in rest for i in n.inputs if i not in available})
                raise ModelError(f"graph has a cycle or dangling inputs: {', '.join(missing[:5])}")
            pending = rest
        self.nodes = ordered

    def prune(self) -> None:
        """Drop nodes and parameters that no graph output depends on."""
        needed = set(self.output_names)
        kept: list[Node] = []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.outputs):
                kept.append(n)
                needed.update(i for i in n.inputs if i)
        self.nodes = kept[::-1]
        self.params = {k: v for k, v in self.params.items() if k in needed}

    def validate(self) -> None:
        """Check names are defined once and every consumed tensor exists, in order
        (bodies too, each in its own scope)."""
        defined: set[str] = set(self.input_names) | set(self.params)
        for n in self.nodes:
            for key, body in n.subgraphs.items():
                try:
                    body.validate()
                except ModelError as exc:
                    raise ModelError(f"{n.op_type} node {n.name!r} {key}: {exc}") from None
            for i in n.inputs:
                if i and i not in defined:
                    raise ModelError(f"node {n.name!r} ({n.op_type}) reads undefined tensor {i!r}")
            for o in n.outputs:
                if o and o in defined:
                    raise ModelError(f"tensor {o!r} is defined twice (node {n.name!r})")
                if o:
                    defined.add(o)
        for o in self.output_names:
            if o not in defined:
                raise ModelError(f"graph output {o!r} is never produced")


def walk_nodes(graph: Graph) -> Iterable[tuple[Graph, Node]]:
    """Every node of ``graph`` and of its bodies (depth first), with the graph holding it."""
    for n in graph.nodes:
        yield graph, n
        for body in n.subgraphs.values():
            yield from walk_nodes(body)


def rename_unique(names: Iterable[str], base: str) -> str:
    """A name starting with ``base`` that is not among ``names``."""
    taken = set(names)
    if base not in taken:
        return base
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"
