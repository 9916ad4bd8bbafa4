"""bench / advise / demo / import snpe-bench and `run` on every runtime, through the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.modelzoo import small_cnn, write_inputs

FIXTURES = Path(__file__).parents[1] / "jobs" / "fixtures"
ROW_KEYS = {
    "container",
    "quantized",
    "runtime",
    "cpu_fxp",
    "batch",
    "status",
    "error",
    "size_bytes",
    "init_ms",
    "init_breakdown_ms",
    "init_peak_bytes",
    "latency_ms",
    "accuracy",
    "run_id",
}


@pytest.fixture
def containers(cli, tmp_path):
    cli.json("convert", str(small_cnn(tmp_path / "m.onnx")), "-o", str(tmp_path / "m.dlc"))
    listing, _ = write_inputs(tmp_path, 3)
    cli.json(
        "quantize", str(tmp_path / "m.dlc"), "--input-list", str(listing),
        "-o", str(tmp_path / "q.dlc"), "--enable-hta", "--no-analysis",
    )  # fmt: skip
    return tmp_path / "m.dlc", tmp_path / "q.dlc", listing


def test_bench_json_rows_and_csv(cli, containers, tmp_path):
    float_dlc, q_dlc, listing = containers
    out = tmp_path / "rows.csv"
    rows = cli.json(
        "bench", str(float_dlc), str(q_dlc), "--input-list", str(listing),
        "--iterations", "2", "--cpu-fxp", "--csv", str(out),
    )  # fmt: skip
    assert len(rows) == 11 and all(ROW_KEYS <= set(r) for r in rows)
    refused = [r for r in rows if r["status"] == "refused"]
    assert [(Path(r["container"]).name, r["runtime"]) for r in refused] == [("m.dlc", "aip")]
    dsp = next(r for r in rows if r["runtime"] == "dsp" and r["quantized"])
    assert set(dsp["latency_ms"]) == {"mean", "p50", "p90", "min"}
    assert set(dsp["accuracy"]) == {
        "sqnr_db", "cosine", "max_abs_err", "top1_agreement", "label_accuracy",
    }  # fmt: skip
    assert dsp["accuracy"]["sqnr_db"] > 10 and dsp["init_breakdown_ms"]["plan"] > 0
    with out.open() as f:
        assert len(list(csv.DictReader(f))) == 11
    listed = cli.json("runs", "list", "--kind", "bench", "--limit", "100")
    assert {r["run_id"] for r in rows} <= {r["id"] for r in listed["runs"]}
    text = cli("bench", str(float_dlc), "--input-list", str(listing), "--runtimes", "aip,cpu")
    assert (
        text.exit_code == 0 and "refused" in text.stdout and "AIP does not support" in text.stdout
    )


def test_bench_bad_runtime_is_one_line(cli, containers):
    float_dlc, _, listing = containers
    result = cli("bench", str(float_dlc), "--input-list", str(listing), "--runtimes", "tpu")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "tpu" in result.stderr


@pytest.mark.parametrize("runtime", ["gpu", "gpu_fp16", "dsp", "aip"])
def test_run_on_every_runtime(cli, containers, tmp_path, runtime):
    float_dlc, q_dlc, listing = containers
    out = tmp_path / f"out_{runtime}"
    result = cli.json(
        "run", str(q_dlc), "--input-list", str(listing), "--output-dir", str(out),
        "--runtime", runtime,
    )  # fmt: skip
    assert result["inferences"] == 3
    probs = np.fromfile(out / "Result_2" / "prob:0.raw", dtype="<f4")
    assert probs.shape == (10,) and abs(float(probs.sum()) - 1) < 0.05


def test_run_refusal_is_a_clear_error(cli, containers, tmp_path):
    float_dlc, q_dlc, listing = containers
    result = cli(
        "run", str(float_dlc), "--input-list", str(listing), "--output-dir", str(tmp_path / "o"),
        "--runtime", "aip",
    )  # fmt: skip
    assert result.exit_code == 2 and "AIP does not support non-quantized" in result.stderr
    batch = cli(
        "run", str(q_dlc), "--input-list", str(listing), "--output-dir", str(tmp_path / "o"),
        "--runtime", "aip", "--batch", "2",
    )  # fmt: skip
    assert batch.exit_code == 2 and "every layer is in an HTA subnet" in batch.stderr


def test_advise_prints_the_table(cli, containers):
    float_dlc, q_dlc, listing = containers
    result = cli(
        "advise", str(float_dlc), "--input-list", str(listing), "--quantized", str(q_dlc),
        "--iterations", "1", "--experiment", "mine",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    for word in ("quantized container", "non-quantized container", "DSP: quantized", "AIP"):
        assert word in result.stdout
    assert len(cli.json("experiment", "show", "mine")["run_ids"]) == 11

    again = cli("experiment", "advice", "mine")  # from the store alone
    assert again.exit_code == 0, again.stderr
    assert "rebuilt from 11 stored benchmark run(s)" in again.stdout
    for word in ("quantized container", "DSP: quantized", "AIP"):
        assert word in again.stdout
    data = cli.json("experiment", "advice", "mine")
    assert [r["runtime"] for r in data["advice"]["recommendations"]][:2] == ["cpu", "gpu"]
    missing = cli("experiment", "advice", "nope")
    assert missing.exit_code == 2 and missing.stderr.count("error:") == 1


def test_import_snpe_bench(cli):
    data = cli.json("import", "snpe-bench", str(FIXTURES / "benchmark_stats_demo.csv"))
    assert [r["runtime"] for r in data["runs"]] == ["cpu", "gpu", "dsp"]
    shown = cli.json("runs", "show", str(data["runs"][0]["run_id"]))
    assert shown["details"]["device_measured"] is True
