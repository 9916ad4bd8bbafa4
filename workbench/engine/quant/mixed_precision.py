"""Mixed precision: which layers to widen, ranked by the noise each one adds at the output.

``rank_layers`` measures, on a few samples, every layer of a quantized container alone
(``SimulatedQuantPlan`` with ``only``: the rest float, against the prepared float graph):

* its **outputs** alone quantized (the layers that own an output encoding: not data
  movement, which follows its input): the noise that widening them to 16 bits removes;
* its **weights** alone quantized (Conv, ConvTranspose, Gemm, MatMul with a constant
  weight): the noise 16-bit weights remove. The DSP runs 16-bit weights only on
  16-bit input activations (A16W16), so such a fix also widens the layer that owns its
  input's encoding (``Fix.needs``).

Each measurement is kept as the ratio of output noise to output signal (``noise``,
10^(-SQNR/10)): quantization noise of different layers adds up at the output, nearly,
so ``predict_sqnr`` estimates a mix from the whole container's measured noise less the
share of the summed noise that its fixes remove. The autoquant search uses the prediction only to skip
mixes predicted to miss the goal by far; every mix it keeps is measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from workbench.engine.container import Container
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node
from workbench.engine.quant.analysis import prepared_float_graph
from workbench.engine.quant.propagation import fused_activation_inputs, propagates
from workbench.engine.quant.roles import param_roles
from workbench.engine.quant.sensitivity import Part, Setup, evaluate_runner
from workbench.engine.quant.simulate import SimulatedQuantPlan
from workbench.vocabulary import SQNR

Feeds = Mapping[str, np.ndarray]
Progress = Callable[[str, int, int], None]

ACTIVATIONS, WEIGHTS = "activations", "weights"
PREDICTED_CAP_DB = 90.0  # a mix predicted to remove all the noise: this many dB


@dataclass(frozen=True)
class Fix:
    """Widening one layer's outputs (``ACTIVATIONS``) or weights (``WEIGHTS``) to 16 bits."""

    kind: str
    node: str
    op_type: str
    noise: float  # output noise / signal with only this part quantized (8-bit)
    sqnr_db: float | None
    needs: str | None = None  # a weights fix: the layer whose outputs must be 16-bit too


@dataclass(frozen=True)
class Ranking:
    """Every layer's fixes, the noisiest first, and how they were measured."""

    fixes: tuple[Fix, ...]
    samples: int
    layers: int  # nodes of the graph

    def of(self, kind: str) -> list[Fix]:
        return [f for f in self.fixes if f.kind == kind]


def _noise(part: Part) -> float:
    db = part.sqnr_db
    if db is None or math.isnan(db):
        return math.inf
    return 0.0 if math.isinf(db) and db > 0 else 10.0 ** (-db / 10.0)


def encoding_owners(graph: Graph, encodings: Mapping[str, object]) -> dict[str, str]:
    """``{tensor: node whose --layer-precision sets its encoding}``: a tensor written by
    data movement belongs to its input's owner; a tensor fused into an activation is the
    activation's (either node of the fused pair takes a rule)."""
    fused = {v: k for k, v in fused_activation_inputs(graph).items()}  # act out -> conv out
    producers = {o: n for n in graph.nodes for o in n.outputs if o}
    owners: dict[str, str] = {}
    for n in graph.nodes:
        for o in n.outputs:
            if not o:
                continue
            if propagates(n, graph) and n.inputs[0] in owners:
                owners[o] = owners[n.inputs[0]]
            elif o in fused and fused[o] in producers:
                owners[o] = producers[fused[o]].name
            else:
                owners[o] = n.name
    return {t: owner for t, owner in owners.items() if t in encodings}


def _weighted(prepared: Graph, params: Mapping[str, object]) -> dict[str, tuple[Node, str]]:
    """``{node: (node, activation input)}`` for layers with a quantized weight at input 1
    (roles read on the float graph: the quantized one holds integers)."""
    found = {}
    for role in param_roles(prepared).values():
        node = prepared.nodes[role.node_index]
        if role.kind == "weight" and role.input_index == 1 and node.inputs[1] in params:
            found[node.name] = (node, node.inputs[0])
    return found


def rank_layers(
    float_container: Container,
    quantized: Container,
    feeds: Sequence[Feeds],
    *,
    output: str | None = None,
    progress: Progress | None = None,
) -> Ranking:
    """Every layer's outputs alone and weights alone, quantized on ``feeds`` (module doc)."""
    prepared = prepared_float_graph(float_container, quantized)
    graph = quantized.graph
    output = output or graph.output_names[0]
    reference = [Plan(prepared).run(f) for f in feeds]
    setup = Setup(quantized, prepared.params, list(feeds), reference, output, SQNR)
    owners = encoding_owners(graph, quantized.encodings)
    own = [n for n in graph.nodes if any(owners.get(o) == n.name for o in n.outputs if o)]
    weighted = _weighted(prepared, quantized.param_encodings)
    ops = {n.name: n.op_type for n in graph.nodes}
    weighted = {k: v for k, v in weighted.items() if k in ops}
    total, done = len(own) + len(weighted), 0
    fixes: list[Fix] = []

    def measure(kind: str, node: str, needs: str | None = None) -> None:
        nonlocal done
        run = SimulatedQuantPlan(
            quantized,
            float_params=prepared.params,
            quantize_weights=kind == WEIGHTS,
            quantize_activations=kind == ACTIVATIONS,
            only=(node,),
        )
        part = Part.of(evaluate_runner(setup, run), SQNR)
        fixes.append(Fix(kind, node, ops[node], _noise(part), part.sqnr_db, needs))
        done += 1
        if progress:
            progress("rank layers", done, total)

    for n in own:
        measure(ACTIVATIONS, n.name)
    for name, (_node, act_input) in weighted.items():
        measure(WEIGHTS, name, owners.get(act_input))
    fixes.sort(key=lambda f: -f.noise)
    return Ranking(tuple(f for f in fixes if f.noise > 0.0), len(feeds), len(graph.nodes))


def predict_sqnr(
    measured_db: float | None,
    fixes: Iterable[Fix],
    ranking: Ranking,
    applied: Iterable[Fix] = (),
) -> float | None:
    """The SQNR predicted once ``fixes`` remove their share of the noise from a mix
    measured at ``measured_db`` that has ``applied`` already: noise adds up at the
    output, so each fix removes its part of the summed noise left in the mix from the
    measured total (the parts, measured one at a time in fake-quant, sum to less than
    the whole: the measurement scales them). Capped at ``PREDICTED_CAP_DB``."""
    if measured_db is None:
        return None
    done = {(f.kind, f.node) for f in applied}
    total = sum(f.noise for f in ranking.fixes
                if math.isfinite(f.noise) and (f.kind, f.node) not in done)  # fmt: skip
    if math.isinf(measured_db) or total <= 0.0:
        return PREDICTED_CAP_DB if math.isinf(measured_db) else measured_db
    fresh = [f for f in fixes if math.isfinite(f.noise) and (f.kind, f.node) not in done]
    removed = min(1.0, sum(f.noise for f in fresh) / total)
    left = 10.0 ** (-measured_db / 10.0) * max(0.0, 1.0 - removed)
    floor = 10.0 ** (-PREDICTED_CAP_DB / 10.0)
    return min(PREDICTED_CAP_DB, -10.0 * math.log10(max(left, floor)))


__all__ = [
    "ACTIVATIONS",
    "WEIGHTS",
    "Fix",
    "Ranking",
    "encoding_owners",
    "predict_sqnr",
    "rank_layers",
]
