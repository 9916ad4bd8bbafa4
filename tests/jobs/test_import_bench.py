"""Importing snpe_bench.py results as device-measured benchmark runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.modelzoo import small_cnn
from workbench.errors import BadInput, NotFound
from workbench.jobs.convert import convert_model
from workbench.jobs.import_bench import import_snpe_bench, map_runtime, parse_snpe_bench
from workbench.jobs.runs import show_run

FIXTURES = Path(__file__).parent / "fixtures"
CSV_FILE = FIXTURES / "benchmark_stats_demo.csv"
JSON_FILE = FIXTURES / "benchmark_stats_demo.json"


def test_parse_the_vendor_csv():
    fmt, meta, stats = parse_snpe_bench(CSV_FILE)
    assert fmt == "csv" and meta["sdk_version"] == "1.68.0.3932"
    assert meta["device"]["ro.product.model"] == "SM-G998B"
    assert meta["configuration"]["Runtimes"] == "CPU, GPU, DSP"
    timing = [s for s in stats if s.measure == "timing"]
    assert [s.vendor_runtime for s in timing] == ["CPU_ub_float", "GPU_ub_float", "DSP_ub_tf8"]
    dsp = timing[2]
    assert dsp.runs == 10
    assert dsp.channels["Init"] == {"avg": 154891, "max": 158400, "min": 153300}
    assert "layer_000 (Name:conv1 Type:convolutional)" in dsp.channels
    mem = [s for s in stats if s.measure == "mem"]
    assert mem[0].channels["Memory"]["avg"] == 31250


@pytest.mark.parametrize(
    "vendor, ours",
    [
        ("CPU_ub_float", ("cpu", False)),
        ("CPU_FXP8_ub_float", ("cpu", True)),
        ("GPU_s_ub_float", ("gpu", False)),
        ("GPU_FP16_ub_float", ("gpu_fp16", False)),
        ("DSP_ub_tf8", ("dsp", False)),
        ("AIP", ("aip", False)),
    ],
)
def test_vendor_runtime_names(vendor, ours):
    assert map_runtime(vendor) == ours


def test_import_csv_stores_device_measured_runs(store, tmp_path):
    convert_model(store, "default", small_cnn(tmp_path / "m.onnx"), tmp_path / "m.dlc")
    result = import_snpe_bench(store, "default", CSV_FILE, container_path=tmp_path / "m.dlc")
    assert [(r.runtime, r.cpu_fxp) for r in result.runs] == [
        ("cpu", False),
        ("gpu", False),
        ("dsp", False),
    ]
    dsp = show_run(store, result.runs[2].run_id)
    d = dsp.details
    assert dsp.status == "succeeded" and d["device_measured"] is True
    assert d["init_time_ms"] == pytest.approx(154.891)
    assert d["init_breakdown"]["load"] == pytest.approx(2.080)
    assert d["init_breakdown"]["create"] == pytest.approx(151.2)
    assert d["init_breakdown"]["rpc_init"] == pytest.approx(120.3)
    assert d["latency_mean_ms"] == pytest.approx(0.402)
    assert d["latency_min_ms"] == pytest.approx(0.390)
    assert d["latency_p50_ms"] is None and d["iterations"] == 10
    assert d["options"]["vendor_runtime"] == "DSP_ub_tf8"
    assert d["options"]["memory_kb"]["Memory"]["avg"] == 28400
    assert d["options"]["device"]["ro.product.model"] == "SM-G998B"
    assert d["options"]["layer_ms"]["layer_000 (Name:conv1 Type:convolutional)"] == 0.04
    assert dsp.container_id is not None and dsp.model == "m"


def test_import_json(store):
    result = import_snpe_bench(store, "default", JSON_FILE)
    assert result.format == "json" and result.sdk_version == "1.68.0.3932"
    cpu, aip = result.runs
    assert (cpu.runtime, cpu.cpu_fxp, cpu.iterations) == ("cpu", True, 10)
    assert cpu.init_ms == pytest.approx(6.722) and aip.latency_mean_ms == pytest.approx(0.31)
    assert show_run(store, aip.run_id).details["device_measured"] is True


def test_bad_files(store, tmp_path):
    with pytest.raises(NotFound):
        import_snpe_bench(store, "default", tmp_path / "missing.csv")
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    with pytest.raises(BadInput, match="no benchmark table"):
        import_snpe_bench(store, "default", junk)
    odd = tmp_path / "odd.csv"
    odd.write_text(",, ,NPU_timing(3 runs), , , \n,,Init,1,2,3,NPU\n")
    with pytest.raises(BadInput, match="unknown vendor runtime"):
        import_snpe_bench(store, "default", odd)
