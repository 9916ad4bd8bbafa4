"""The evaluator and the metric registry: hand-checkable numbers, findings, proposals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.engine.evaluate import Evaluator, evaluate
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.engine.metrics import get_metric, metrics, propose_metric, reference_scale
from workbench.errors import BadInput
from workbench.vocabulary import METRICS


def test_every_vocabulary_metric_is_registered_once():
    assert tuple(m.name for m in metrics()) == METRICS
    with pytest.raises(BadInput, match="unknown metric 'f1'"):
        get_metric("f1")


def test_metrics_by_hand():
    ref = [np.array([[3.0, 4.0]]), np.array([[0.0, 1.0]])]
    out = [np.array([[3.0, 3.0]]), np.array([[0.0, 2.0]])]
    e = evaluate([{"y": r} for r in ref], [{"y": o} for o in out], "y", labels=[0, 1])
    assert e.samples == 2 and e.usable and e.values == 4
    # signal 9+16+0+1 = 26, noise 1+1 = 2
    assert e.value("sqnr") == pytest.approx(10 * math.log10(13))
    assert e.value("max-abs") == 1.0 and e.value("mae") == 0.5
    dot, na, nb = 9 + 12 + 2, math.sqrt(26), math.sqrt(9 + 9 + 4)
    assert e.value("cosine") == pytest.approx(dot / (na * nb))
    # argmax rows: [1, 1] vs [0 or 1 (tie: first), 1]
    assert e.value("top1") == 0.5
    # labels [0, 1]: the test gets both (a tie takes the first class), the float one of two
    assert e.value("label-accuracy") == 1.0 and e.loss("label-accuracy") == pytest.approx(-50.0)
    # iou over values > 0 (not probabilities): ref {3,4,1} out {3,3,2}: all three agree
    assert e.value("iou") == 1.0
    assert e.shown("top1") == "50.0%" and e.shown("sqnr").endswith(" dB")


def test_label_loss_is_measured_from_the_float_reference():
    ref = [{"y": np.array([[0.1, 0.9]])}, {"y": np.array([[0.8, 0.2]])}]
    out = [{"y": np.array([[0.6, 0.4]])}, {"y": np.array([[0.8, 0.2]])}]
    e = evaluate(ref, out, "y", labels=[1, 0])
    assert e.value("label-accuracy") == 0.5 and e.loss("label-accuracy") == pytest.approx(50.0)
    # probabilities: thresholded at 0.5 -> ref {0.9, 0.8}, out {0.6, 0.8}: 1 shared of 3
    assert e.value("iou") == pytest.approx(1 / 3)


def test_non_finite_outputs_are_a_finding_never_a_metric():
    ref = [{"y": np.full((1, 160), 70000.0, np.float32)}]
    out = [{"y": np.full((1, 160), np.inf, np.float32)}]
    finding = "fp16 overflow: {count} of {total} values exceed the float16 range"
    e = evaluate(ref, out, "y", runtime="gpu_fp16", finding=finding)
    assert not e.usable and e.nonfinite == 160
    assert e.finding == "fp16 overflow: 160 of 160 values exceed the float16 range on gpu_fp16"
    assert all(v is None for v in e.metric_values().values())
    assert e.shown("sqnr") == "unusable" and e.to_dict()["usable"] is False
    generic = evaluate(ref, [{"y": np.full((1, 160), np.nan)}], "y")
    assert generic.finding == "non-finite outputs: 160 of 160 values are NaN or infinite"


def test_reference_infinities_are_left_out_and_equal_ones_agree():
    ref = np.array([[-np.inf, 1.0, 2.0]])  # a masked log-probability
    ev = Evaluator("y")
    ev.add(ref, np.array([[-np.inf, 1.0, 2.5]]))
    ev.add(ref, np.array([[-30.0, 1.0, 2.0]]))
    e = ev.result()
    assert e.usable and e.nonfinite == 0 and e.reference_nonfinite == 2
    assert e.value("max-abs") == 0.5 and e.value("top1") == 1.0


def test_error_budgets_scale_with_the_outputs_range():
    """A wake word's score near 0 on silence is still a [0, 1] probability: 1 % of 1."""
    quiet = evaluate([{"y": np.array([[6.6e-4]])}], [{"y": np.array([[1e-3]])}], "y")
    assert reference_scale(quiet.tally) == 1.0
    assert get_metric("mae").default_threshold(reference_scale(quiet.tally)) == 0.01
    wide = evaluate([{"y": np.array([[-3.0, 250.0]])}], [{"y": np.array([[-3.0, 250.0]])}], "y")
    assert reference_scale(wide.tally) == 250.0 and wide.to_dict()["reference_scale"] == 250.0


def test_exact_match_is_infinite_sqnr_and_json_safe():
    y = [{"y": np.arange(6.0).reshape(1, 6)}]
    e = evaluate(y, y, "y")
    assert e.value("sqnr") == math.inf and e.metric_values()["sqnr"] == 999.0


def test_thresholds_and_rules():
    sqnr, top1, mae = get_metric("sqnr"), get_metric("top1"), get_metric("mae")
    assert sqnr.minimum and sqnr.passes(31.0, 30.0) and not sqnr.passes(29.0, 30.0)
    assert sqnr.rule(30.0) == "SQNR >= 30.00 dB"
    assert top1.passes(top1.loss(0.995, None), 1.0) and not top1.passes(top1.loss(0.98, None), 1.0)
    assert top1.rule(1.0) == "top-1 agreement loss <= 1.0 pts"
    assert mae.default_threshold(250.0) == 2.5 and not mae.higher_is_better
    assert sqnr.passes(None, 30.0) is None


def _graph(outputs: list[tuple[str, tuple[int, ...]]], nodes: list[Node]) -> Graph:
    tensors = {"x": TensorInfo("x", (1, 8))} | {n: TensorInfo(n, s) for n, s in outputs}
    return Graph(
        name="g",
        nodes=nodes,
        inputs=[TensorInfo("x", (1, 8))],
        outputs=[TensorInfo(n, s) for n, s in outputs],
        params={},
        tensors=tensors,
    )


@pytest.mark.parametrize(
    "op, shape, metric, reason",
    [
        ("Softmax", (1, 1000), "top1", "1×1000 probabilities → top1"),
        ("Sigmoid", (1, 1, 96, 96), "iou", "1×1×96×96 map (Sigmoid) → iou"),
        ("Gemm", (1, 96), "cosine", "1×96 vector → cosine"),
        ("Conv", (1, 32, 76, 1), "sqnr", "1×32×76×1 tensor → sqnr"),
        ("Sigmoid", (1, 1), "mae", "1×1 scores (Sigmoid) → mae"),
    ],
)
def test_a_metric_is_proposed_from_the_outputs(op, shape, metric, reason):
    g = _graph([("y", shape)], [Node("n", op, ("x",), ("y",))])
    proposal = propose_metric(g)
    assert (proposal.metric, proposal.reason) == (metric, reason)


def test_a_softmax_spelled_out_is_a_classifier():
    nodes = [
        Node("e", "Exp", ("x",), ("ex",)),
        Node("s", "ReduceSum", ("ex",), ("sum",)),
        Node("d", "Div", ("ex", "sum"), ("probabilities",)),
    ]
    g = _graph([("probabilities", (1, 214))], nodes)
    proposal = propose_metric(g)
    assert (proposal.metric, proposal.reason) == ("top1", "1×214 probabilities (Exp / Sum) → top1")
    plain = _graph([("y", (1, 214))], [Node("d", "Div", ("x", "x"), ("y",))])
    assert propose_metric(plain).metric == "cosine"


def test_logits_that_feed_a_softmax_are_a_classifier():
    nodes = [
        Node("fc", "Gemm", ("x",), ("logits",)),
        Node("sm", "Softmax", ("logits",), ("probabilities",)),
    ]
    g = _graph([("logits", (1, 10)), ("probabilities", (1, 10))], nodes)
    proposal = propose_metric(g)
    assert proposal.metric == "top1" and "logits (Softmax follows)" in proposal.reason
