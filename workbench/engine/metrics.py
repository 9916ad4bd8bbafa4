"""Accuracy metrics, in one registry: how a network's outputs compare with its float reference.

Every metric reads one ``Tally`` (statistics accumulated in one pass over the samples,
``evaluate.Evaluator`` fills it) and declares what the advisor needs to decide by it:

======================  =====================================================  ==============
metric                  value                                                  loss (unit)
======================  =====================================================  ==============
``sqnr``                signal-to-quantization-noise ratio over every value    the SQNR (dB),
                        (dB; an exact match is infinite)                       a minimum
``cosine``              cosine similarity of the flattened outputs             1 − cosine
``max-abs``             largest absolute difference                            itself
``mae``                 mean absolute difference                               itself
``top1``                argmax (last axis) agreement with float, per row       points lost
``label-accuracy``      argmax of the first row == the label (``--labels``)    points lost vs
                                                                               float's
``iou``                 intersection over union of the thresholded maps (0.5   points lost
                        for probabilities in [0, 1], else 0: logits); none
                        when neither map has a value above it
======================  =====================================================  ==============

``propose_metric`` picks a model's decision metric from its graph when it is first seen,
and says why ("1×1000 probabilities → top1", "1×1×H×W map → iou", "1×N vector →
cosine", "1×1 scores (Sigmoid) → mae", else sqnr). No numpy work happens at import.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.errors import BadInput
from workbench.vocabulary import (
    COSINE,
    IOU,
    LABEL_ACCURACY,
    LOWER_IS_BETTER,
    MAE,
    MAX_ABS,
    METRICS,
    SQNR,
    TOP1,
    format_db,
)

if TYPE_CHECKING:
    from workbench.engine.graph import Graph


@dataclass
class Tally:
    """Running statistics of (reference, test) pairs over the finite values of one output."""

    samples: int = 0
    count: int = 0  # values compared (both finite)
    signal: float = 0.0  # sum ref²
    noise: float = 0.0  # sum (ref - test)²
    test_energy: float = 0.0  # sum test²
    dot: float = 0.0  # sum ref·test
    abs_sum: float = 0.0  # sum |ref - test|
    max_abs: float = 0.0
    ref_absmax: float = 0.0
    ref_min: float = math.inf
    rows: int = 0  # argmax rows compared (top1)
    rows_agree: int = 0
    labelled: int = 0  # samples with a label
    test_correct: int = 0
    ref_correct: int = 0
    intersection: int = 0  # iou: thresholded maps
    union: int = 0


def reference_scale(t: Tally) -> float:
    """What a default error budget is a percent of: 1 when every float value lies in
    [0, 1] (probabilities, a wake word's score, normalized coordinates: their range is
    [0, 1] whatever the samples reached), else the largest magnitude seen."""
    return 1.0 if t.count and t.ref_min >= 0.0 and t.ref_absmax <= 1.0 else t.ref_absmax


def _sqnr(t: Tally) -> float | None:
    if not t.count:
        return None
    if t.noise == 0.0:
        return math.inf
    if t.signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(t.signal / t.noise)


def _cosine(t: Tally) -> float | None:
    if not t.count:
        return None
    na, nb = math.sqrt(t.signal), math.sqrt(t.test_energy)
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return max(-1.0, min(1.0, t.dot / (na * nb)))


def _max_abs(t: Tally) -> float | None:
    return t.max_abs if t.count else None


def _mae(t: Tally) -> float | None:
    return t.abs_sum / t.count if t.count else None


def _top1(t: Tally) -> float | None:
    return t.rows_agree / t.rows if t.rows else None


def _label_accuracy(t: Tally) -> float | None:
    return t.test_correct / t.labelled if t.labelled else None


def _float_label_accuracy(t: Tally) -> float | None:
    return t.ref_correct / t.labelled if t.labelled else None


def _iou(t: Tally) -> float | None:
    if not t.count:
        return None
    # Both maps empty everywhere: nothing to compare (not a perfect score: the maps may
    # still be far apart below the threshold).
    return t.intersection / t.union if t.union else None


def _pts(v: float) -> str:
    return f"{v:.1f} pts"


def _pct(v: float) -> str:
    return f"{v:.1%}"


def _num(v: float) -> str:
    return f"{v:.4g}"


@dataclass(frozen=True)
class Metric:
    """One accuracy metric: how to read it off a ``Tally`` and how to decide by it.

    ``loss`` turns a value (and the float reference's own, for label accuracy) into the
    number a threshold (``advise --max-accuracy-drop``) applies to, in ``loss_unit``:
    ``loss <= threshold`` passes, except for a ``minimum`` metric (SQNR), whose value
    must reach the threshold.
    """

    name: str
    label: str  # "top-1 agreement"
    value: Callable[[Tally], float | None]
    show: Callable[[float], str]  # a value for people
    loss: Callable[[float, float | None], float | None]  # (value, float's value) -> loss
    loss_unit: str
    default_threshold: Callable[[float], float]  # of the float output's largest |value|
    show_loss: Callable[[float], str]
    classification: bool = False  # decides by classes (argmax): top1, label-accuracy
    needs_labels: bool = False
    minimum: bool = False  # the threshold is the lowest acceptable value, not a loss
    higher_is_better: bool = True
    reference: Callable[[Tally], float | None] = lambda t: None  # float's own value

    def loss_of(self, tally: Tally) -> float | None:
        v = self.value(tally)
        return None if v is None else self.loss(v, self.reference(tally))

    def passes(self, loss: float | None, threshold: float) -> bool | None:
        """Does ``loss`` meet ``threshold``? None when there is no loss to judge."""
        if loss is None:
            return None
        return loss >= threshold if self.minimum else loss <= threshold

    def rule(self, threshold: float) -> str:
        """The threshold as a rule: ``SQNR >= 30.00 dB``, ``top-1 agreement loss <= 1.0 pts``."""
        if self.minimum:
            return f"{self.label} >= {self.show_loss(threshold)}"
        return f"{self.label} loss <= {self.show_loss(threshold)}"

    def shown(self, tally: Tally) -> str:
        """The value for people, ``-`` when there is none."""
        v = self.value(tally)
        return "-" if v is None else self.show(v)


def _points(value: float, _reference: float | None) -> float:
    """The loss of a [0, 1] agreement, in percentage points."""
    return (1.0 - value) * 100.0


def _label_points(value: float, reference: float | None) -> float | None:
    return None if reference is None else (reference - value) * 100.0


def _itself(value: float, _reference: float | None) -> float:
    return value


def _cosine_loss(value: float, _reference: float | None) -> float:
    return 1.0 - value


def _output_percent(ref_absmax: float) -> float:
    """1 % of the float output's largest magnitude: a default error budget in its units."""
    return 0.01 * ref_absmax if ref_absmax > 0 else 1e-6


def _db(v: float) -> str:
    return format_db(v)


_REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.name in _REGISTRY:
        raise ValueError(f"metric {metric.name!r} is registered already")
    _REGISTRY[metric.name] = metric
    return metric


for _metric in (
    Metric(SQNR, "SQNR", _sqnr, _db, _itself, "dB", lambda m: 30.0, _db, minimum=True),
    Metric(COSINE, "cosine", _cosine, lambda v: f"{v:.5f}", _cosine_loss, "1 - cosine",
           lambda m: 0.001, _num),
    Metric(MAX_ABS, "max abs error", _max_abs, _num, _itself, "output units", _output_percent,
           _num, higher_is_better=False),
    Metric(MAE, "mean abs error", _mae, _num, _itself, "output units", _output_percent, _num,
           higher_is_better=False),
    Metric(TOP1, "top-1 agreement", _top1, _pct, _points, "pts", lambda m: 1.0, _pts,
           classification=True),
    Metric(LABEL_ACCURACY, "label accuracy", _label_accuracy, _pct, _label_points, "pts",
           lambda m: 1.0, _pts, classification=True, needs_labels=True,
           reference=_float_label_accuracy),
    Metric(IOU, "IoU", _iou, _pct, _points, "pts", lambda m: 1.0, _pts),
):  # fmt: skip
    register(_metric)
assert tuple(_REGISTRY) == METRICS, "the registry and vocabulary.METRICS must agree"
assert {m.name for m in _REGISTRY.values() if not m.higher_is_better} == set(LOWER_IS_BETTER)


def get_metric(name: str) -> Metric:
    """The metric called ``name``; ``BadInput`` naming the known ones otherwise."""
    found = _REGISTRY.get(name) if isinstance(name, str) else None
    if found is None:
        raise BadInput(f"unknown metric {name!r} (known: {', '.join(_REGISTRY)})")
    return found


def metrics() -> tuple[Metric, ...]:
    return tuple(_REGISTRY.values())


def float_label_accuracy(tally: Tally) -> float | None:
    """The float reference's own label accuracy (what label-accuracy loss is measured from)."""
    return _float_label_accuracy(tally)


# --------------------------------------------------------------------------- proposal


@dataclass(frozen=True)
class Proposal:
    """A decision metric for a model, and why."""

    metric: str
    reason: str  # "1×1000 probabilities → top1"


_PASS_THROUGH = frozenset(
    {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Cast", "Dropout"}
)
_PROBABILITIES = {"Softmax": "probabilities", "LogSoftmax": "log-probabilities"}
_CLASS_CONSUMERS = frozenset({"Softmax", "LogSoftmax", "ArgMax", "TopK"})
_MAP_ACTIVATIONS = frozenset({"Sigmoid", "HardSigmoid"})
_FEW_SCORES = 16  # a detector's few probabilities (a wake word's): judged by their error


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) or "scalar"


def _producer_op(graph: Graph, name: str) -> str | None:
    """The op that computes ``name``, looking through reshapes and transposes."""
    producers = graph.producers()
    seen = 0
    while name in producers and seen < 64:
        node = producers[name]
        if node.op_type not in _PASS_THROUGH or not node.inputs or not node.inputs[0]:
            return node.op_type
        name, seen = node.inputs[0], seen + 1
    return None


def _spelled_softmax(graph: Graph, name: str) -> bool:
    """``exp(x - max) / sum(exp(...))`` written out (a jax2tf export's softmax)."""
    producers = graph.producers()
    seen = 0
    while name in producers and seen < 64:
        node = producers[name]
        if node.op_type == "Div":
            return bool(node.inputs) and _producer_op(graph, node.inputs[0]) == "Exp"
        if node.op_type not in _PASS_THROUGH or not node.inputs:
            return False
        name, seen = node.inputs[0], seen + 1
    return False


def _feeds_classes(graph: Graph, name: str) -> str | None:
    """A Softmax/ArgMax the output feeds (logits of a classifier), looking through reshapes."""
    consumers = graph.consumers()
    frontier, seen = [name], 0
    while frontier and seen < 64:
        current = frontier.pop()
        for node in consumers.get(current, ()):
            if node.op_type in _CLASS_CONSUMERS:
                return node.op_type
            if node.op_type in _PASS_THROUGH:
                frontier.extend(o for o in node.outputs if o)
        seen += 1
    return None


def _is_map(shape: tuple[int, ...]) -> bool:
    """One channel over two spatial dims larger than 1: NCHW 1×1×H×W or NHWC 1×H×W×1."""
    if len(shape) == 4 and shape[0] == 1:
        return (shape[1] == 1 and min(shape[2:]) > 1) or (shape[3] == 1 and min(shape[1:3]) > 1)
    return len(shape) == 3 and shape[0] == 1 and min(shape[1:]) > 1  # 1×H×W


def propose_metric(graph: Graph, output: str | None = None) -> Proposal:
    """The decision metric for ``graph`` judged by ``output`` (default: the first output)."""
    if output is None and not graph.output_names:
        return Proposal(SQNR, "no output → sqnr")
    name = output or graph.output_names[0]
    info = graph.info(name)
    shape = tuple(info.shape) if info is not None else ()
    dims = _dims(shape)
    producer = _producer_op(graph, name)
    classes = shape[-1] if shape else 0
    if producer in _PROBABILITIES and classes >= 2:
        return Proposal(TOP1, f"{dims} {_PROBABILITIES[producer]} → top1")
    if _spelled_softmax(graph, name) and classes >= 2:
        return Proposal(TOP1, f"{dims} probabilities (Exp / Sum) → top1")
    consumer = _feeds_classes(graph, name)
    if consumer is not None and classes >= 2:
        return Proposal(TOP1, f"{dims} logits ({consumer} follows) → top1")
    if _is_map(shape) and producer in _MAP_ACTIVATIONS:
        return Proposal(IOU, f"{dims} map ({producer}) → iou")
    if producer in _MAP_ACTIVATIONS and 0 < math.prod(shape) <= _FEW_SCORES:
        return Proposal(MAE, f"{dims} scores ({producer}) → mae")
    if len([d for d in shape if d != 1]) == 1:
        return Proposal(COSINE, f"{dims} vector → cosine")
    return Proposal(SQNR, f"{dims} tensor → sqnr")


__all__ = [
    "Metric",
    "Proposal",
    "Tally",
    "float_label_accuracy",
    "get_metric",
    "metrics",
    "propose_metric",
    "reference_scale",
    "register",
]
