"""What the plots show: the Pareto front, the trade-off points, stored histograms."""

from __future__ import annotations

from tests.tui.seed import seed_store
from workbench.jobs.plots import Histogram, layer_histograms, pareto_front, tradeoff


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
