"""bench_job: every (container, runtime) pair measured, refused pairs kept, runs recorded."""

from __future__ import annotations

import csv
import shutil

import pytest

from tests.modelzoo import small_cnn, write_inputs
from workbench.engine.quant.quantizer import QuantOptions
from workbench.errors import BadInput
from workbench.jobs.bench import CSV_COLUMNS, BenchRequest, bench_job, read_labels, write_csv
from workbench.jobs.convert import convert_model
from workbench.jobs.quantize import QuantizeRequest, quantize_job
from workbench.jobs.runs import show_run
from workbench.options import BenchOptions


@pytest.fixture
def setup(store, tmp_path):
    model = small_cnn(tmp_path / "m.onnx")
    convert_model(store, "default", model, tmp_path / "m.dlc")
    listing, _ = write_inputs(tmp_path, 4)
    labels = tmp_path / "labels.txt"
    labels.write_text("3\n1\n4\n1\n")
    request = QuantizeRequest(
        tmp_path / "m.dlc", listing, tmp_path / "q.dlc", QuantOptions(enable_hta=True), False
    )
    q = quantize_job(store, "default", request)
    return {
        "float": tmp_path / "m.dlc",
        "quant": tmp_path / "q.dlc",
        "list": listing,
        "labels": labels,
        "quantize_run": q.run_id,
    }


def bench(store, containers, input_list, **options):
    return bench_job(store, "default", BenchRequest(containers, input_list, options))


def test_every_pair_is_a_row_and_a_run(store, setup):
    options = BenchOptions(iterations=2, cpu_fxp=True, labels=setup["labels"])
    request = BenchRequest([setup["float"], setup["quant"]], setup["list"], options)
    result = bench_job(store, "default", request)
    keys = [(r.container.endswith("q.dlc"), r.runtime, r.cpu_fxp) for r in result.rows]
    assert keys == [
        (False, "cpu", False),
        (False, "gpu", False),
        (False, "gpu_fp16", False),
        (False, "dsp", False),
        (False, "aip", False),
        (True, "cpu", False),
        (True, "cpu", True),
        (True, "gpu", False),
        (True, "gpu_fp16", False),
        (True, "dsp", False),
        (True, "aip", False),
    ]
    assert len(set(result.run_ids)) == 11
    by = {(r.container.endswith("q.dlc"), r.runtime, r.cpu_fxp): r for r in result.rows}
    refused = by[(False, "aip", False)]
    assert refused.status == "refused" and "non-quantized" in refused.error
    assert refused.init_ms is None and refused.accuracy["sqnr_db"] is None
    for key, row in by.items():
        if key != (False, "aip", False):
            assert row.status == "succeeded", row.error
            assert row.reference == str(setup["float"])
            assert row.init_ms > 0 and row.init_peak_bytes > 0 and row.latency_ms["min"] > 0
            assert row.accuracy["label_accuracy"] is not None
    assert by[(False, "cpu", False)].accuracy["sqnr_db"] == 999.0  # itself: exact
    assert by[(True, "dsp", False)].accuracy["sqnr_db"] < 80

    stored = show_run(store, refused.run_id)
    assert stored.status == "failed" and "non-quantized" in stored.error
    assert stored.details["options"]["refused"] is True
    ok = show_run(store, by[(True, "dsp", False)].run_id)
    assert ok.status == "succeeded" and ok.details["runtime"] == "dsp"
    assert ok.details["init_time_ms"] > 0 and ok.details["sqnr_db"] < 80
    assert ok.details["device_measured"] is False
    assert ok.details["reference_container_id"] is not None
    assert ok.details["options"]["mode"].startswith("integer")


def test_quantized_alone_finds_its_float_reference(store, setup, tmp_path):
    # From the manifest (the quantizer records the source path and sha256).
    rows = bench(store, [setup["quant"]], setup["list"], runtimes=["dsp"], iterations=1)
    assert rows.rows[0].reference == str(setup["float"].resolve())
    assert rows.rows[0].accuracy["sqnr_db"] is not None
    # Moved: the store knows where the same content lives now.
    moved = tmp_path / "moved" / "m.dlc"
    moved.parent.mkdir()
    shutil.move(setup["float"], moved)
    from workbench.jobs.artifacts import record_container

    record_container(store, "default", moved)
    rows = bench(store, [setup["quant"]], setup["list"], runtimes=["cpu"], iterations=1)
    assert rows.rows[0].reference == str(moved.resolve())
    # Gone: no accuracy, and the row says why.
    moved.unlink()
    rows = bench(store, [setup["quant"]], setup["list"], runtimes=["cpu"], iterations=1)
    row = rows.rows[0]
    assert row.status == "succeeded" and row.accuracy["sqnr_db"] is None
    assert any("no float reference" in n for n in row.notes)


def test_batch_rows_and_aip_batch_refusal(store, setup):
    result = bench(
        store, [setup["quant"]], setup["list"], runtimes="cpu,aip", iterations=1, batch=2,
        threads=1,
    )  # fmt: skip
    from workbench.store import BenchmarkRun

    with store.read() as session:  # the thread count is recorded: latency depends on it
        assert session.get(BenchmarkRun, result.rows[0].run_id).options["threads"] == 1
    cpu, aip = result.rows
    assert cpu.status == "succeeded" and cpu.batch == 2 and cpu.accuracy["sqnr_db"] > 20
    assert aip.status == "refused" and "HTA subnet" in aip.error


def test_csv_export(store, setup, tmp_path):
    result = bench(store, [setup["float"]], setup["list"], runtimes="cpu,aip", iterations=1)
    path = write_csv(result.rows, tmp_path / "out.csv")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["status"] for r in rows] == ["succeeded", "refused"]
    assert float(rows[0]["init_ms"]) > 0 and rows[1]["init_ms"] == ""


def test_bad_arguments(store, setup, tmp_path):
    with pytest.raises(BadInput, match="unknown: npu"):
        bench(store, [setup["float"]], setup["list"], runtimes="cpu,npu")
    bad = tmp_path / "bad_labels.txt"
    bad.write_text("1\n2\n")
    with pytest.raises(BadInput, match="2 labels but the input list has 4"):
        bench(store, [setup["float"]], setup["list"], runtimes="cpu", labels=bad)
    bad.write_text("1\ncat\n")
    with pytest.raises(BadInput, match="one integer class per line"):
        read_labels(bad)
    for kwargs, message in [
        ({"iterations": 0}, "--iterations must be between 1 and 1,000,000, got 0"),
        ({"iterations": 10**19}, "--iterations must be between 1 and 1,000,000"),
        ({"batch": 0}, "--batch must be between 1 and 4096, got 0"),
        ({"batch": 10**6}, "--batch must be between 1 and 4096"),
        ({"threads": 0}, "--threads must be between 1 and 64, got 0"),
    ]:
        with pytest.raises(BadInput, match=message):
            bench(store, [setup["float"]], setup["list"], runtimes="cpu", **kwargs)
