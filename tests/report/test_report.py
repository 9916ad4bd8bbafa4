"""``workbench report``: one self-contained HTML file about a run or an experiment."""

from __future__ import annotations

import re

import pytest

from tests.tui.seed import seed_store
from workbench.errors import BadInput
from workbench.jobs.report import build_report, parse_target, write_report
from workbench.report.html import render


def test_an_experiment_report_holds_the_guide_table_charts_options_and_environment(
    store, tmp_path
) -> None:
    seeded = seed_store(store)
    out = tmp_path / "report.html"
    result = write_report(store, "default", out, experiment=seeded.experiment)
    page = out.read_text(encoding="utf-8")
    # Two benchmark runs: accuracy against file size, and against init.
    assert result.size_bytes == len(page.encode()) and result.charts == 2
    for part in ("Recommendation", "The guide's table, measured", "Benchmark runs",
                 "Environment", "numpy", "mobilenet_v2_q.dlc"):  # fmt: skip
        assert part in page, part
    # Self-contained: no script, no stylesheet or image fetched, no link out.
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert set(re.findall(r"https?://[^\"' <]+", page)) == {"http://www.w3.org/2000/svg"}
    assert page.count('<svg class="chart"') == result.charts


def test_a_quantization_run_report_has_its_histograms_and_layers(store, tmp_path) -> None:
    seeded = seed_store(store)
    run = seeded.quantize_runs[1]
    data = build_report(store, "default", run_id=run)
    assert data.subject == f"run {run}" and len(data.quantize) == 1 and not data.bench
    section = data.quantize[0]
    assert len(section.histograms) == 12 and section.histograms_left_out == 0
    page = render(data)
    # Every layer's output and the 6 weight layers' (label and title of each chart).
    assert page.count("histogram of") == 2 * (12 + 6)
    assert "dw2 output" in page and "<th>--param-quantizer</th><td>enhanced</td>" in page
    assert "Per-layer SQNR" in page


def test_experiment_reports_show_the_worst_layers_histograms(store) -> None:
    seeded = seed_store(store)
    from workbench.jobs.experiments import add_runs, create_experiment

    create_experiment(store, "default", "all-quant")
    add_runs(store, "default", "all-quant", seeded.quantize_runs[:4])
    data = build_report(store, "default", experiment="all-quant")
    assert len(data.quantize) == 4 and data.overlay is not None
    assert all(len(s.histograms) == 8 and s.histograms_left_out == 4 for s in data.quantize)
    worst = min(data.quantize[0].view.layers, key=lambda p: p.sqnr_db)
    assert worst.name in {h.layer for h in data.quantize[0].histograms}
    assert data.advice is None and not data.bench and data.tradeoff is None  # no bench runs


def test_targets_and_bad_input(store, tmp_path) -> None:
    assert parse_target("12", None) == (12, None)
    assert parse_target("demo 2026", None) == (None, "demo 2026")
    assert parse_target("", "2024") == (None, "2024")
    with pytest.raises(BadInput):
        parse_target("", None)
    with pytest.raises(BadInput, match="folder"):
        write_report(store, "default", tmp_path, run_id=1)
    seed_store(store)
    with pytest.raises(BadInput, match="no folder"):
        write_report(store, "default", tmp_path / "nowhere" / "r.html", run_id=1)
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_command(cli, store, tmp_path) -> None:
    seeded = seed_store(store)
    out = tmp_path / "r.html"
    result = cli("report", str(seeded.bench_runs[0]), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert f"wrote {out}" in result.stdout and "open it in a browser" in result.stdout
    assert "init phases (ms)" in out.read_text()
    missing = cli("report", "no-such-experiment", "-o", str(out))
    assert missing.exit_code == 2 and "no-such-experiment" in missing.stderr
