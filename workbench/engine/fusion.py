"""Plan-time fusion: a Conv and the elementwise chain after it become one step.

A chain is what a mobile network puts after almost every convolution: activations
(Relu, Clip, HardSwish, HardSigmoid, Sigmoid, SiLU as ``Mul(y, Sigmoid(y))``, LeakyRelu,
PRelu with per-channel slopes, Tanh; hard-swish as exporters spell it out,
``y * Clip(y + 3, 0, 6) / 6`` or ``y * HardSigmoid(y)``; ``Affine``: Mul / Add / Sub /
Div by a constant scalar, PP-LCNet's learnable affine blocks), then possibly a residual
``Add`` of a tensor of the same shape, then possibly more activations. (BatchNormalization after a Conv is
already folded into its weights by the importer's passes.) The fused kernel computes
the whole chain on each row while it is in cache, instead of one pass over memory per
node.

``find_chains`` only rewrites what no one else may see: every intermediate has exactly
the chain's next node as its reader, and none is a graph output or a tensor the caller
asked to keep. Plans run with a hook (calibration observers, ``--debug`` dumps) use the
unfused steps, so every tensor is still produced there.

A fused group runs at the position of its last node, so the residual is computed by
then; its inputs are the Conv's, plus the residual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from workbench.engine.graph import Graph, Node

# Activation kinds the fused kernels implement (float), by op type.
ACTIVATIONS = frozenset(
    {"Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "LeakyRelu", "PRelu", "Tanh"}
)
# Patterns of several nodes, recognized by ``_Walker.activation``.
PATTERNS = frozenset({"SiLU", "Affine", "HardSwish"})
_AFFINE_OPS = ("Mul", "Add", "Sub", "Div")


@dataclass(frozen=True)
class Activation:
    """One activation of a chain: ``kind`` (an op type, or ``SiLU``) and its constants."""

    kind: str
    a: float = 0.0
    b: float = 0.0
    slope: np.ndarray | None = None  # PRelu: one slope per channel
    nodes: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Chain:
    """What follows a head node: activations, an optional residual add, activations."""

    pre: tuple[Activation, ...] = ()
    residual: str = ""  # the other input of the Add, "" when there is none
    post: tuple[Activation, ...] = ()
    output: str = ""  # the tensor the whole group produces
    source: str = ""  # the head's own output, which the chain starts from

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The absorbed nodes, in execution order."""
        out: list[Node] = []
        for act in self.pre:
            out.extend(act.nodes)
        if self.residual:
            out.append(self._add)
        for act in self.post:
            out.extend(act.nodes)
        return tuple(out)

    _add: Node | None = None


def _scalar(graph: Graph, name: str) -> float | None:
    p = graph.params.get(name) if name else None
    if p is None or p.size != 1:
        return None
    return float(np.asarray(p).reshape(()))


def _activation(
    graph: Graph, node: Node, channels: int, opset: int
) -> tuple[float, float, np.ndarray | None] | None:
    """The constants of ``node`` as a fused activation, or None if it cannot be one."""
    op = node.op_type
    if op in ("Relu", "Sigmoid", "Tanh"):
        return 0.0, 0.0, None
    if op == "HardSwish":
        return 1.0 / 6.0, 0.5, None
    if op == "HardSigmoid":
        return float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5)), None
    if op == "LeakyRelu":
        return float(node.attr("alpha", 0.01)), 0.0, None
    if op == "Clip":
        if opset < 11:
            lo, hi = float(node.attr("min", -np.inf)), float(node.attr("max", np.inf))
        else:
            names = list(node.inputs[1:3]) + ["", ""]
            if any(n and n not in graph.params for n in names[:2]):
                return None
            lo = _scalar(graph, names[0]) if names[0] else -np.inf
            hi = _scalar(graph, names[1]) if names[1] else np.inf
            if lo is None or hi is None:
                return None
        return (lo, hi, None) if lo <= hi else None
    if op == "PRelu":
        slope = graph.params.get(node.inputs[1]) if len(node.inputs) > 1 else None
        if slope is None or slope.dtype != np.float32:
            return None
        if slope.size == 1:
            return float(slope.reshape(())), 0.0, None
        # Per channel: (C, 1, 1) or (1, C, 1, 1) against an NCHW output.
        squeezed = slope.reshape(-1)
        if squeezed.size != channels or slope.ndim < 3 or slope.shape[-2:] != (1, 1):
            return None
        return 0.0, 0.0, squeezed.astype(np.float32)
    return None


class _Walker:
    def __init__(self, graph: Graph, retained: set[str], opset: int):
        self.graph = graph
        self.retained = retained
        self.opset = opset
        self.structural = False  # see INT_CHAIN
        self.consumers: dict[str, list[Node]] = {}
        for n in graph.nodes:
            for i in set(n.inputs):
                if i:
                    self.consumers.setdefault(i, []).append(n)

    def private(self, name: str) -> bool:
        """Nobody but the chain sees ``name``: not an output, not kept."""
        return name not in self.retained

    def sole_reader(self, name: str) -> Node | None:
        readers = self.consumers.get(name, [])
        if len(readers) != 1 or not self.private(name):
            return None
        node = readers[0]
        return node if not node.domain else None

    def activation(self, name: str, channels: int, kinds: frozenset[str]) -> Activation | None:
        """The activation applied to ``name`` next (its only use), if there is one."""
        readers = self.consumers.get(name, [])
        if not self.private(name):
            return None
        if len(readers) == 2:
            return self._gated(name, readers, kinds)
        node = self.sole_reader(name)
        if node is not None and node.op_type in _AFFINE_OPS and "Affine" in kinds:
            return self._affine(name, node)
        if node is None or node.op_type not in kinds or node.inputs[0] != name:
            return None
        if len([o for o in node.outputs if o]) != 1:
            return None
        consts = _activation(self.graph, node, channels, self.opset)
        if consts is None:
            return None
        a, b, slope = consts
        return Activation(node.op_type, a, b, slope, (node,))

    def _const(self, name: str) -> float | None:
        p = self.graph.params.get(name)
        if p is None or p.size != 1 or (p.dtype.kind != "f" and not self.structural):
            return None
        return float(np.asarray(p).reshape(()))

    def _affine(self, name: str, node: Node) -> Activation | None:
        """``name`` times, plus, minus or over a constant scalar: ``a * x + b``."""
        if len(node.inputs) != 2 or len([o for o in node.outputs if o]) != 1:
            return None
        first = node.inputs[0] == name
        c = self._const(node.inputs[1] if first else node.inputs[0])
        if c is None or node.inputs[0] == node.inputs[1]:
            return None
        op = node.op_type
        if op == "Mul":
            a, b = c, 0.0
        elif op == "Add":
            a, b = 1.0, c
        elif op == "Sub":
            a, b = (1.0, -c) if first else (-1.0, c)
        elif first and c != 0.0:  # Div by a constant
            a, b = 1.0 / c, 0.0
        else:
            return None
        return Activation("Affine", a, b, None, (node,))

    def _gated(self, name: str, readers: list[Node], kinds: frozenset[str]) -> Activation | None:
        """``name`` times a function of itself: SiLU, ``x * HardSigmoid(x)`` and
        ``x * Clip(x + 3, 0, 6) / 6`` (hard-swish as exporters write it)."""
        if any(n.domain for n in readers):
            return None
        mul = next((n for n in readers if n.op_type == "Mul"), None)
        gate = next((n for n in readers if n is not mul), None)
        if mul is None or gate is None:
            return None
        if gate.op_type == "Sigmoid" and "SiLU" in kinds:
            g = gate.outputs[0]
            if set(mul.inputs) == {name, g} and self.sole_reader(g) is mul:
                return Activation("SiLU", nodes=(gate, mul))
            return None
        if "HardSwish" not in kinds:
            return None
        if gate.op_type == "HardSigmoid":
            g = gate.outputs[0]
            if set(mul.inputs) == {name, g} and self.sole_reader(g) is mul:
                alpha, beta = float(gate.attr("alpha", 0.2)), float(gate.attr("beta", 0.5))
                return Activation("HardSwish", alpha, beta, None, (gate, mul))
            return None
        # x * Clip(x + 3, 0, 6) / 6
        shift = self._affine(name, gate) if gate.op_type == "Add" else None
        if shift is None or (shift.b != 3.0 and not self.structural):
            return None
        clip = self.sole_reader(gate.outputs[0])
        if clip is None or clip.op_type != "Clip" or not self.private(clip.outputs[0]):
            return None
        bounds = _activation(self.graph, clip, 0, self.opset)
        if bounds is None or (bounds[:2] != (0.0, 6.0) and not self.structural):
            return None
        g = clip.outputs[0]
        if set(mul.inputs) != {name, g} or self.sole_reader(g) is not mul:
            return None
        scale = self.sole_reader(mul.outputs[0])
        step = self._affine(mul.outputs[0], scale) if scale is not None else None
        if step is None or not (
            self.structural or (step.b == 0.0 and abs(step.a - 1.0 / 6.0) <= 1e-6)
        ):
            return None
        return Activation("HardSwish", 1.0 / 6.0, 0.5, None, (gate, clip, mul, scale))

    def residual(self, name: str) -> Node | None:
        node = self.sole_reader(name)
        if node is None or node.op_type != "Add" or len(node.inputs) != 2:
            return None
        other = node.inputs[1] if node.inputs[0] == name else node.inputs[0]
        if other == name or other in self.graph.params:
            return None
        mine, theirs = self.graph.info(name), self.graph.info(other)
        if mine is None or theirs is None or mine.shape != theirs.shape:
            return None
        if mine.dtype != theirs.dtype:
            return None
        return node


def _out(act_or_node: Activation | Node) -> str:
    node = act_or_node.nodes[-1] if isinstance(act_or_node, Activation) else act_or_node
    return node.outputs[0]


def find_chain(
    walker: _Walker,
    head: Node,
    kinds: frozenset[str],
    residual: bool,
    max_pre: int = 1,
    max_post: int = 1,
) -> Chain | None:
    """The chain after ``head`` (None when nothing follows it that can be fused)."""
    out = head.outputs[0]
    info = walker.graph.info(out)
    if info is None or len(info.shape) < 2:
        return None
    channels = info.shape[1]
    pre: list[Activation] = []
    while len(pre) < max_pre:
        act = walker.activation(out, channels, kinds)
        if act is None:
            break
        pre.append(act)
        out = _out(act)
    add = walker.residual(out) if residual else None
    post: list[Activation] = []
    if add is not None:
        out = add.outputs[0]
        while len(post) < max_post:
            act = walker.activation(out, channels, kinds)
            if act is None:
                break
            post.append(act)
            out = _out(act)
    if not pre and add is None:
        return None
    other = ""
    if add is not None:
        prev = _out(pre[-1]) if pre else head.outputs[0]
        other = add.inputs[1] if add.inputs[0] == prev else add.inputs[0]
    return Chain(tuple(pre), other, tuple(post), out, head.outputs[0], add)


@dataclass(frozen=True)
class FusedGroup:
    head: Node
    chain: Chain
    node: Node  # the head rewritten: inputs + residual, output = the chain's


# One-input activations whose integer kernels are functions of the code alone: a chain
# of them after an integer Conv folds into one lookup table (``int_exec``).
TABLE_KINDS = frozenset(
    {"Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "SiLU", "LeakyRelu", "Tanh", "Affine"}
)
# Structural: constants may be quantized, and their values do not matter (the table is
# computed by running the chain's own kernels over every code).
INT_CHAIN = {
    "kinds": TABLE_KINDS,
    "residual": False,
    "max_pre": 8,
    "max_post": 0,
    "structural": True,
}

# Which nodes may absorb a chain, and what kind: see ``fuse``.
FusionPolicy = Callable[[Node], Mapping[str, object] | None]

FLOAT_CHAIN = {"kinds": ACTIVATIONS | PATTERNS, "residual": True, "max_pre": 8, "max_post": 4}
# Without the compiled kernels: the chains numpy applies in place, one pass per node
# (``conv.numpy_epilogue``), exactly as the unfused kernels compute them.
NUMPY_KINDS = frozenset({"Relu", "Clip"})
NUMPY_CHAIN = {"kinds": NUMPY_KINDS, "residual": True, "max_pre": 2, "max_post": 2}


def float_fusion(graph: Graph, compiled: bool = True) -> FusionPolicy:
    """The float kernels' rule: a Conv with constant weights absorbs any chain
    (``compiled=False``: the chains of ``NUMPY_KINDS``)."""
    policy = FLOAT_CHAIN if compiled else NUMPY_CHAIN

    def accepts(node: Node) -> Mapping[str, object] | None:
        if node.op_type != "Conv" or node.domain or len(node.inputs) < 2:
            return None
        w = graph.params.get(node.inputs[1])
        if w is None or w.dtype != np.float32 or w.ndim < 3:
            return None
        if len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] not in graph.params:
            return None
        info = graph.info(node.outputs[0])
        return policy if info is not None and info.dtype == "float32" else None

    return accepts


def fuse(
    graph: Graph,
    retained: set[str],
    accepts: FusionPolicy,
) -> tuple[list[Node], dict[str, FusedGroup]]:
    """The node list with every fusable group replaced by one node, and the groups by
    the rewritten node's name.

    ``accepts(head)`` says whether a node can absorb a chain, and which: a mapping with
    ``kinds`` (activation kinds), ``residual`` (bool), ``max_pre`` / ``max_post``; None
    for a node that fuses nothing.
    """
    walker = _Walker(graph, retained | set(graph.output_names), graph.opset)
    groups: dict[str, FusedGroup] = {}
    absorbed: dict[str, str] = {}  # absorbed node name -> head name
    for node in graph.nodes:
        if node.name in absorbed or not node.outputs or len(node.outputs) != 1:
            continue
        policy = accepts(node)
        if policy is None:
            continue
        walker.structural = bool(policy.get("structural", False))
        chain = find_chain(
            walker,
            node,
            frozenset(policy.get("kinds", ACTIVATIONS)),  # type: ignore[arg-type]
            bool(policy.get("residual", True)),
            int(policy.get("max_pre", 1)),  # type: ignore[call-overload]
            int(policy.get("max_post", 1)),  # type: ignore[call-overload]
        )
        if chain is None or any(n.name in absorbed for n in chain.nodes):
            continue
        inputs = node.inputs + ((chain.residual,) if chain.residual else ())
        fused = replace(node, inputs=inputs, outputs=(chain.output,))
        groups[node.name] = FusedGroup(node, chain, fused)
        for n in chain.nodes:
            absorbed[n.name] = node.name
    if not groups:
        return list(graph.nodes), {}
    # The group runs where its last node ran (its residual is ready by then).
    last = {head: chain_last for head, chain_last in _last_nodes(groups).items()}
    at_last: dict[str, FusedGroup] = {last[h]: g for h, g in groups.items()}
    nodes: list[Node] = []
    for node in graph.nodes:
        if node.name in groups:
            continue
        if node.name in at_last:
            nodes.append(at_last[node.name].node)
        elif node.name not in absorbed:
            nodes.append(node)
    return nodes, groups


def _last_nodes(groups: Mapping[str, FusedGroup]) -> dict[str, str]:
    return {h: g.chain.nodes[-1].name for h, g in groups.items()}
