"""What the plots show: the Pareto front, the trade-off points, stored histograms."""

from __future__ import annotations

from tests.tui.seed import seed_store
from workbench.jobs.plots import (
    Histogram,
    layer_histograms,
    pareto_front,
    tradeoff,
    tradeoff_of,
)


def test_pareto_front_by_hand() -> None:
    # (cost, value): b beats a (cheaper, better); d ties c on cost with a lower value;
    # e is dearer than c and no better; f is dearest and best.
    points = {"a": (3, 1.0), "b": (2, 2.0), "c": (5, 3.0), "d": (5, 2.5), "e": (6, 3.0),
              "f": (9, 4.0), "g": (1, 0.5)}  # fmt: skip
    front = pareto_front(list(points), lambda k: points[k][0], lambda k: points[k][1])
    assert front == ["g", "b", "c", "f"]
    assert pareto_front([], lambda k: 0, lambda k: 0) == []


def test_tradeoff_of_benchmark_runs(store) -> None:
    seeded = seed_store(store)
    t = tradeoff(store, seeded.bench_runs[:9] + seeded.quantize_runs[:1])
    assert t.metric == "label accuracy (%)" and t.init_label == "init (ms)"
    assert len(t.points) == 9  # the quantization run is not a point
    assert all(p.accuracy is not None and 0 < p.accuracy <= 100 for p in t.points)
    front = t.front("size")
    assert front[0].size_bytes == min(p.size_bytes for p in t.points)
    accuracies = [p.accuracy for p in front]
    assert accuracies == sorted(accuracies) and len(set(accuracies)) == len(accuracies)
    assert t.points[0].label.endswith(f"· {t.points[0].runtime}")


def test_stored_histograms_read_back() -> None:
    stored = {"lo": -1.0, "hi": 5.0, "counts": [0, 1, 2], "below": 1, "above": 0,
              "enc_min": 0.0, "enc_max": 4.0, "clipped": 1, "count": 4, "min": -2.0,
              "max": 4.0}  # fmt: skip
    layers = [
        {"layer_index": 0, "layer_name": "conv1", "op_type": "Conv", "sqnr_db": 30.0,
         "histograms": {"output": stored, "weights": stored}},
        {"layer_index": 1, "layer_name": "flatten", "op_type": "Flatten", "sqnr_db": 30.0,
         "histograms": None},
    ]  # fmt: skip
    found = layer_histograms(layers)
    assert [la.layer for la in found] == ["conv1"]
    h = found[0].output
    assert isinstance(h, Histogram) and h.centers == [0.0, 2.0, 4.0] and h.clipped_share == 0.25
    assert h.clipped_text == "25.00% clipped"
    assert h.detail == "encoding [0, 4], values [-2, 4] (1 below the plot)"
    none = Histogram.from_dict("x", "Conv", "weights", {**stored, "clipped": 0})
    assert none.clipped_text == "none clipped"


def _view(run_id: int, size: int, **details):
    from types import SimpleNamespace

    container = SimpleNamespace(path=f"/m/q{run_id}.dlc", quantized=True, size_bytes=size)
    detail = SimpleNamespace(id=run_id, details={"runtime": "dsp", "init_time_ms": 5.0,
                                                 "container_size_bytes": size, **details})  # fmt: skip
    return SimpleNamespace(detail=detail, container=container)


def test_tradeoff_plots_the_runs_decision_metric() -> None:
    # Label accuracy is measured too, but the model decides on SQNR: the plot shows SQNR.
    views = [
        _view(1, 100, decision_metric="sqnr", sqnr_db=20.0, label_accuracy=0.9),
        _view(2, 200, decision_metric="sqnr", sqnr_db=30.0, label_accuracy=0.9),
    ]
    t = tradeoff_of(views)
    assert t.metric == "SQNR vs float (dB)"
    assert [p.accuracy for p in t.points] == [20.0, 30.0]
    # A lower-is-better metric is plotted negated, so the front still keeps the best.
    views = [
        _view(1, 100, decision_metric="max-abs", max_abs_err=0.5, sqnr_db=20.0),
        _view(2, 200, decision_metric="max-abs", max_abs_err=0.1, sqnr_db=30.0),
        _view(3, 300, decision_metric="max-abs", max_abs_err=0.3, sqnr_db=25.0),
    ]
    t = tradeoff_of(views)
    assert t.metric == "-max abs error (up is better)"
    assert [p.run_id for p in t.front("size")] == [1, 2]
    # Runs deciding on different metrics share none: the first one all of them have.
    views[0].detail.details["decision_metric"] = "top1"
    assert tradeoff_of(views).metric == "SQNR vs float (dB)"
