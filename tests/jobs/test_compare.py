"""Comparing runs: directions, deltas, diff-only, Markdown and CSV; ``runs compare``."""

from __future__ import annotations

import csv
import io

import pytest

from workbench.jobs.compare import (
    BETTER,
    CHANGED,
    METRICS_BY_KEY,
    SAME,
    WORSE,
    LayerPoint,
    RunRecord,
    build_comparison,
    compute_delta,
    format_delta,
    format_value,
    to_csv,
    to_markdown,
    worst_layers,
)


def record(run_id: int, **values) -> RunRecord:
    return RunRecord(run_id, f"r{run_id}", values)


@pytest.mark.parametrize(
    "key, baseline, value, verdict",
    [
        ("latency_mean_ms", 10.0, 8.0, BETTER),  # lower latency is better
        ("latency_mean_ms", 10.0, 12.0, WORSE),
        ("init_time_ms", 5.0, 6.0, WORSE),
        ("init_peak_bytes", 100, 50, BETTER),
        ("size_bytes", 100, 400, WORSE),
        ("sqnr_db", 30.0, 32.0, BETTER),  # higher SQNR is better
        ("cosine", 0.999, 0.99, WORSE),
        ("label_accuracy", 0.70, 0.72, BETTER),
        ("batch", 1, 4, CHANGED),  # a setting: no direction
        ("sqnr_db", 30.0, 30.0, SAME),
    ],
)
def test_verdict_follows_the_metric_direction(key, baseline, value, verdict) -> None:
    assert compute_delta(METRICS_BY_KEY[key], baseline, value).verdict == verdict


def test_deltas_read_with_sign_and_unit() -> None:
    def delta(key, a, b):
        metric = METRICS_BY_KEY[key]
        return format_delta(metric, compute_delta(metric, a, b))

    assert delta("latency_mean_ms", 10.0, 8.0) == "-20.0%"  # times: relative
    assert delta("init_peak_bytes", 1000, 1500) == "+50.0%"
    assert delta("sqnr_db", 30.0, 31.25) == "+1.25 dB"  # dB: absolute
    assert delta("top1_agreement", 0.98, 0.95) == "-3.0 pp"  # fractions: percentage points
    assert delta("batch", 1, 4) == "+3"
    assert delta("sqnr_db", 30.0, 30.0) == ""
    assert delta("latency_mean_ms", 0.0, 2.0) == "+2 ms"  # no ratio from zero
    assert compute_delta(METRICS_BY_KEY["runtime"], "cpu", "dsp") is None  # not numbers


def test_values_read_as_a_person_reads_them() -> None:
    assert format_value(METRICS_BY_KEY["init_peak_bytes"], 3 * 1024 * 1024) == "3.0 MiB"
    assert format_value(METRICS_BY_KEY["top1_agreement"], 0.975) == "97.5%"
    assert format_value(METRICS_BY_KEY["sqnr_db"], 31.456) == "31.46 dB"
    assert format_value(METRICS_BY_KEY["per_channel"], True) == "yes"
    assert format_value(METRICS_BY_KEY["latency_mean_ms"], None) == "-"


def test_baseline_first_changed_rows_and_diff_only() -> None:
    runs = [
        record(7, runtime="dsp", batch=1, latency_mean_ms=2.0, sqnr_db=30.0),
        record(3, runtime="cpu", batch=1, latency_mean_ms=8.0, sqnr_db=None),
        record(9, runtime="cpu", batch=1, latency_mean_ms=8.0, sqnr_db=None),
    ]
    comparison = build_comparison(runs, baseline_id=3)
    assert [r.id for r in comparison.runs] == [3, 7, 9]  # the baseline leads
    by_key = {row.metric.key: row for row in comparison.rows}
    assert set(by_key) == {"runtime", "batch", "latency_mean_ms", "sqnr_db"}  # all-None dropped
    assert not by_key["batch"].changed  # equal everywhere
    latency = by_key["latency_mean_ms"]
    assert [c.changed for c in latency.cells] == [False, True, False]
    assert latency.cells[1].delta.verdict == BETTER and latency.cells[1].delta.relative == -0.75
    assert by_key["sqnr_db"].cells[1].changed  # a value where the baseline has none
    visible = [row.metric.key for row in comparison.visible_rows(diff_only=True)]
    assert visible == ["runtime", "sqnr_db", "latency_mean_ms"]
    assert len(comparison.visible_rows(diff_only=False)) == 4
    with pytest.raises(ValueError):
        build_comparison(runs, baseline_id=99)


def test_markdown_and_csv_exports() -> None:
    layers_a = (LayerPoint(0, "conv", "Conv", 30.0), LayerPoint(1, "fc", "Gemm", 25.0))
    layers_b = (LayerPoint(0, "conv", "Conv", 33.0), LayerPoint(1, "fc", "Gemm", None))
    comparison = build_comparison([
        RunRecord(1, "tf w8a8", {"param_quantizer": "tf", "sqnr_db": 30.0, "duration_s": 10.0}, layers_a),
        RunRecord(2, "enhanced w8a8", {"param_quantizer": "enhanced", "sqnr_db": 31.5,
                                       "duration_s": 12.0}, layers_b),
    ])  # fmt: skip
    md = to_markdown(comparison)
    assert "| metric | #1 tf w8a8 (baseline) | #2 enhanced w8a8 |" in md
    assert "| SQNR vs float | 30.00 dB | 31.50 dB (+1.50 dB, better) |" in md
    assert "| run time | 10.00 s | 12.00 s (+20.0%, worse) |" in md
    assert "| param quantizer | tf | enhanced |" in md
    assert "| fc | Gemm | 25.00 | - |" in md  # per-layer SQNR, aligned by layer
    rows = list(csv.reader(io.StringIO(to_csv(comparison))))
    assert rows[0] == ["metric", "unit", "better", "run 1", "run 2", "run 2 delta", "run 2 verdict"]
    assert ["sqnr_db", "db", "higher", "30", "31.5", "1.5", "better"] in rows
    assert ["param_quantizer", "text", "", "tf", "enhanced", "", "changed"] in rows


def test_worst_layers_skip_unmeasured_ones() -> None:
    layers = [LayerPoint(i, f"l{i}", "Conv", v) for i, v in enumerate([30.0, None, 12.0, 25.0])]
    assert [p.name for p in worst_layers(layers, 2)] == ["l2", "l3"]


def test_runs_compare_command(cli, make_run) -> None:
    a = make_run(runtime="cpu", sqnr_db=None)
    b = make_run(runtime="dsp", sqnr_db=31.0)
    result = cli("runs", "compare", str(a), str(b))
    assert result.exit_code == 0, result.stderr
    assert "runtime" in result.stdout and "dsp" in result.stdout
    md = cli("runs", "compare", str(a), str(b), "--format", "markdown", "--baseline", str(b))
    assert md.stdout.startswith(f"## Comparison against run {b}")
    data = cli.json("runs", "compare", str(a), str(b), "--all")
    assert data["baseline"] == a and {m["metric"] for m in data["metrics"]} >= {"kind", "runtime"}
    bad = cli("runs", "compare", str(a))
    assert bad.exit_code == 2 and "at least two runs" in bad.stderr
