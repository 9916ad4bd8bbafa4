"""Sensitivity: which part of the quantization costs accuracy, and which knob helps.

Measured on the model's decision metric with the evaluator (``engine.evaluate``), over
the analysis samples, against the prepared float graph's outputs:

* the whole model with only its weights quantized (activations float), and with only
  its activations quantized (weights float): which half dominates;
* per layer, the same two halves for that layer alone (its weights only; its outputs
  only), for the layers whose *local* quantization noise is largest (candidates: the
  worst weight SQNRs of their own parameters, the worst activation SQNRs of their own
  outputs, both cheap to read off the float pass); the layers are ranked by the
  costlier of their two halves;
* one layer's whole quantization alone (its weights and its outputs, everything else
  float): ``layer_alone``, the debugger's per-layer metric contribution;
* the knob that helps: weights dominate → per-channel encodings, or CLE and bias
  correction (``--per-channel``, ``--algorithms cle,bc``), or wider weights;
  activations dominate → wider activations or a clipping quantizer (``--act-bitwidth
  16``, ``--act-quantizer enhanced``). What the container was already quantized with
  is left out of the suggestion.

Every configuration is a ``SimulatedQuantPlan`` (analysis.py): quantize-dequantize of
the chosen parameters and outputs on float kernels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, Protocol

import numpy as np

from workbench.engine.container import Container
from workbench.engine.evaluate import Evaluation, Evaluator
from workbench.engine.executor import TensorHook
from workbench.engine.metrics import get_metric
from workbench.engine.quant.simulate import SimulatedQuantPlan
from workbench.vocabulary import ACT_BITWIDTHS, BC, CLE, ENHANCED, SQNR, WEIGHT_BITWIDTHS

Feeds = Mapping[str, np.ndarray]
Progress = Callable[[str, int, int], None]
WEIGHTS, ACTIVATIONS = "weights", "activations"


class Runner(Protocol):
    def run(self, feeds: Feeds, hook: TensorHook | None = None) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class Part:
    """One configuration's result: the decision metric's value and the output SQNR."""

    value: float | None  # the metric (None: not applicable, or non-finite outputs)
    sqnr_db: float | None
    shown: str  # for people: "23.4 dB", "97.0%"

    @classmethod
    def of(cls, evaluation: Evaluation, metric: str) -> Part:
        shown = evaluation.shown(metric)
        if metric != SQNR and evaluation.usable:
            shown += f" ({evaluation.shown(SQNR)})"
        return cls(evaluation.value(metric), evaluation.value(SQNR), shown)


@dataclass(frozen=True)
class LayerSensitivity:
    """One layer quantized alone: its weights only, and its outputs only."""

    node: str
    op_type: str
    weights: Part | None  # None: the layer has no quantized parameter
    activations: Part | None  # None: its outputs keep another tensor's encoding
    dominant: str  # WEIGHTS | ACTIVATIONS

    @property
    def output_sqnr_db(self) -> float | None:
        """The output SQNR of the costlier half (the old report's column)."""
        values = [
            p.sqnr_db for p in (self.weights, self.activations) if p and p.sqnr_db is not None
        ]
        return min(values) if values else None


@dataclass(frozen=True)
class Sensitivity:
    metric: str
    samples: int
    full: Part  # everything quantized (the fake-quant path)
    weights_only: Part
    activations_only: Part
    layers: tuple[LayerSensitivity, ...]  # costliest first
    dominant: str  # WEIGHTS | ACTIVATIONS
    suggestion: str  # "weights dominate: try --per-channel or --algorithms cle,bc"
    seconds: float

    @property
    def full_sqnr_db(self) -> float | None:
        return self.full.sqnr_db

    @property
    def weights_only_sqnr_db(self) -> float | None:
        return self.weights_only.sqnr_db

    @property
    def activations_only_sqnr_db(self) -> float | None:
        return self.activations_only.sqnr_db


@dataclass(frozen=True)
class Candidate:
    """A layer worth measuring alone, and how noisy its own quantization is."""

    node: str
    op_type: str
    nodes: tuple[str, ...]  # the layer's nodes (two for a fused Conv+Relu)
    weight_sqnr_db: float | None  # its parameters against their float values
    activation_sqnr_db: float | None  # its outputs against their float values


@dataclass(frozen=True)
class Setup:
    """What every configuration of one analysis shares."""

    container: Container
    float_params: Mapping[str, np.ndarray]  # the prepared float graph's parameters
    feeds: Sequence[Feeds]
    reference: Sequence[Mapping[str, np.ndarray]]  # the prepared float graph's outputs
    output: str
    metric: str
    labels: Sequence[int] | None = None


def evaluate_runner(setup: Setup, runner: Runner) -> Evaluation:
    """``runner``'s outputs against the float reference on the analysis samples."""
    evaluator = Evaluator(setup.output, labels=setup.labels)
    for ref, feeds in zip(setup.reference, setup.feeds, strict=True):
        evaluator.add(ref[setup.output], runner.run(feeds)[setup.output])
    return evaluator.result()


def _plan(setup: Setup, *, weights: bool, activations: bool, only=None) -> Runner:
    return SimulatedQuantPlan(
        setup.container,
        float_params=setup.float_params,
        quantize_weights=weights,
        quantize_activations=activations,
        only=only,
    )


def layer_alone(setup: Setup, nodes: Sequence[str]) -> Part:
    """The decision metric with only ``nodes`` quantized (their weights and outputs)."""
    run = _plan(setup, weights=True, activations=True, only=nodes)
    return Part.of(evaluate_runner(setup, run), setup.metric)


def _badness(part: Part | None, metric: str) -> tuple[float, float]:
    """A sort key: the costlier configuration first (by the metric, then by SQNR)."""
    if part is None:
        return (float("inf"), float("inf"))
    m = get_metric(metric)
    if part.value is None:
        key = float("-inf")  # not finite: the worst
    else:
        key = part.value if m.higher_is_better else -part.value
    return (key, part.sqnr_db if part.sqnr_db is not None else float("-inf"))


def _worse(a: Part | None, b: Part | None, metric: str) -> str:
    """Which half costs more: WEIGHTS when ``a`` (weights) is the worse."""
    return WEIGHTS if _badness(a, metric) <= _badness(b, metric) else ACTIVATIONS


def pick_candidates(candidates: Sequence[Candidate], limit: int) -> list[Candidate]:
    """Up to ``limit`` layers: the noisiest weights and the noisiest outputs, in turn."""
    by_weights = sorted(
        (c for c in candidates if c.weight_sqnr_db is not None), key=lambda c: c.weight_sqnr_db
    )
    by_acts = sorted(
        (c for c in candidates if c.activation_sqnr_db is not None),
        key=lambda c: c.activation_sqnr_db,
    )
    chosen: dict[str, Candidate] = {}
    for pair in zip_longest(by_weights, by_acts):
        for c in pair:
            if c is not None and len(chosen) < limit:
                chosen.setdefault(c.node, c)
    return list(chosen.values())


def measure_sensitivity(
    setup: Setup,
    full: Evaluation,
    candidates: Sequence[Candidate],
    *,
    limit: int = 8,
    progress: Progress | None = None,
) -> Sensitivity:
    """Weights-only and activations-only, whole and per candidate layer (module doc)."""
    started = time.perf_counter()
    metric = setup.metric
    weights_only = Part.of(
        evaluate_runner(setup, _plan(setup, weights=True, activations=False)), metric
    )
    acts_only = Part.of(
        evaluate_runner(setup, _plan(setup, weights=False, activations=True)), metric
    )
    chosen = pick_candidates(candidates, limit)
    layers = []
    for i, c in enumerate(chosen, start=1):
        w = a = None
        if c.weight_sqnr_db is not None:
            run = _plan(setup, weights=True, activations=False, only=c.nodes)
            w = Part.of(evaluate_runner(setup, run), metric)
        if c.activation_sqnr_db is not None:
            run = _plan(setup, weights=False, activations=True, only=c.nodes)
            a = Part.of(evaluate_runner(setup, run), metric)
        layers.append(LayerSensitivity(c.node, c.op_type, w, a, _worse(w, a, metric)))
        if progress:
            progress("sensitivity", i, len(chosen))
    layers.sort(key=lambda s: min(_badness(s.weights, metric), _badness(s.activations, metric)))
    dominant = _worse(weights_only, acts_only, metric)
    return Sensitivity(
        metric=metric,
        samples=len(setup.feeds),
        full=Part.of(full, metric),
        weights_only=weights_only,
        activations_only=acts_only,
        layers=tuple(layers),
        dominant=dominant,
        suggestion=suggest(dominant, weights_only, acts_only, layers, _options(setup.container)),
        seconds=time.perf_counter() - started,
    )


def _options(container: Container) -> dict[str, Any]:
    return dict((container.manifest.get("quantizer") or {}).get("options") or {})


CLOSE_DB = 1.0  # weights-only and activations-only this close: neither dominates


def suggest(
    dominant: str,
    weights_only: Part,
    acts_only: Part,
    layers: Sequence[LayerSensitivity],
    options: Mapping[str, Any],
) -> str:
    """The knob that helps, leaving out what the container was quantized with already."""
    w_db, a_db = weights_only.sqnr_db, acts_only.sqnr_db
    w_knobs, a_knobs = _weight_knobs(options), _act_knobs(options)
    if w_db is not None and a_db is not None and abs(w_db - a_db) < CLOSE_DB:
        # Neither half stands out: the first knob of each kind.
        knobs = w_knobs[:1] + a_knobs[:1]
        head = (
            f"weights and activations cost about the same (weights only {weights_only.shown}, "
            f"activations only {acts_only.shown})"
        )
    elif dominant == WEIGHTS:
        knobs = w_knobs
        head = f"weights dominate (weights only {weights_only.shown}, activations only {acts_only.shown})"
    else:
        knobs = a_knobs
        head = (
            f"activations dominate (activations only {acts_only.shown}, weights only "
            f"{weights_only.shown})"
        )
    return _with_layer(head + (f": try {' or '.join(knobs)}" if knobs else ""), layers)


def _weight_knobs(options: Mapping[str, Any]) -> list[str]:
    algorithms = set(options.get("algorithms") or ())
    knobs = []
    if not options.get("per_channel"):
        knobs.append("--per-channel")
    missing = [a for a in (CLE, BC) if a not in algorithms]
    if missing:
        knobs.append(
            "--algorithms " + ",".join(sorted(algorithms | set(missing), key=[CLE, BC].index))
        )
    wider = [b for b in WEIGHT_BITWIDTHS if b > int(options.get("weights_bitwidth") or 8)]
    if not knobs and wider:
        knobs.append(f"--weights-bitwidth {wider[0]}")
    return knobs


def _act_knobs(options: Mapping[str, Any]) -> list[str]:
    knobs = []
    wider = [b for b in ACT_BITWIDTHS if b > int(options.get("act_bitwidth") or 8)]
    if wider:
        knobs.append(f"--act-bitwidth {wider[0]}")
    if options.get("act_quantizer") != ENHANCED:
        knobs.append(f"--act-quantizer {ENHANCED}")
    return knobs


def _with_layer(text: str, layers: Sequence[LayerSensitivity]) -> str:
    """``text`` and the costliest layer, with the half that costs there."""
    worst = layers[0] if layers else None
    if worst is not None:
        part = worst.weights if worst.dominant == WEIGHTS else worst.activations
        what = "its weights" if worst.dominant == WEIGHTS else "its outputs"
        if part is not None:
            text += f"; costliest layer: {worst.node} ({worst.op_type}, {what} alone: {part.shown})"
    return text


__all__ = [
    "ACTIVATIONS",
    "WEIGHTS",
    "Candidate",
    "LayerSensitivity",
    "Part",
    "Sensitivity",
    "Setup",
    "evaluate_runner",
    "layer_alone",
    "measure_sensitivity",
    "pick_candidates",
    "suggest",
]
