"""advise_job: the guide's table measured, a recommendation per runtime, saved as an experiment."""

from __future__ import annotations

import pytest

from tests.modelzoo import small_cnn, write_inputs
from workbench.engine.quant.quantizer import QuantOptions
from workbench.errors import BadInput
from workbench.jobs.advise import AdviseRequest, advise_job, build_advice, saved_advice, table_rows
from workbench.jobs.bench import BenchResult, BenchRow
from workbench.jobs.convert import convert_model
from workbench.jobs.experiments import add_runs, create_experiment, show_experiment
from workbench.jobs.quantize import QuantizeRequest, quantize_job


@pytest.fixture
def model(store, tmp_path):
    convert_model(store, "default", small_cnn(tmp_path / "m.onnx"), tmp_path / "m.dlc")
    listing, _ = write_inputs(tmp_path, 4)
    labels = tmp_path / "labels.txt"
    labels.write_text("0\n1\n2\n3\n")
    return tmp_path / "m.dlc", listing, labels


def test_advise_quantizes_benches_and_saves_an_experiment(store, model, tmp_path):
    dlc, listing, labels = model
    request = AdviseRequest(dlc, listing, {"labels": labels, "iterations": 1})
    result = advise_job(store, "default", request)
    advice = result.advice
    assert (tmp_path / "m_quantized.dlc").is_file() and result.quantize_run_id is not None
    assert [r.label for r in advice.rows] == [label for label, _, _ in table_rows()]
    rows = {r.label: r for r in advice.rows}
    assert rows["AIP"].float.status == "refused"
    assert "non-quantized" in rows["AIP"].float.compatibility
    assert rows["AIP"].quantized.status == "succeeded"  # quantized with --enable-hta
    assert rows["DSP"].quantized.compatibility.startswith("native")
    assert rows["DSP"].float.compatibility.startswith("compatible: quantized at init")
    assert rows["CPU"].quantized.compatibility == "compatible: dequantized at init"
    assert rows["CPU --cpu-fxp"].float.status == "n/a"
    text = "\n".join(rows["DSP"].quantized.lines())
    assert "init" in text and "file" in text and "SQNR" in text and "accuracy" in text
    recs = {r.runtime: r for r in advice.recommendations}
    assert list(recs) == ["cpu", "gpu", "gpu_fp16", "dsp", "aip"]
    assert recs["dsp"].choice == "quantized" and recs["aip"].choice == "quantized"
    assert recs["gpu"].choice == "float"
    assert any("smaller" in reason for reason in recs["dsp"].reasons)
    saved = show_experiment(store, "default", result.experiment)
    assert set(saved.run_ids) == set(result.run_ids) and len(saved.run_ids) == 12
    assert "dsp: quantized" in saved.note

    rebuilt = saved_advice(store, "default", result.experiment)
    assert rebuilt.advice == advice  # every cell and recommendation, from the store alone
    assert rebuilt.quantize_run_id == result.quantize_run_id and rebuilt.samples == 4
    strict = saved_advice(store, "default", result.experiment, max_accuracy_drop=0.0)
    assert len(strict.advice.rows) == len(advice.rows)


def test_saved_advice_refuses_an_experiment_that_is_not_advice(store, model, tmp_path):
    dlc, listing, _ = model
    create_experiment(store, "default", "empty")
    with pytest.raises(BadInput, match="not advice"):
        saved_advice(store, "default", "empty")
    q = tmp_path / "q.dlc"
    run = quantize_job(store, "default", QuantizeRequest(dlc, listing, q, QuantOptions(), False))
    add_runs(store, "default", "empty", [run.run_id])
    with pytest.raises(BadInput, match="exactly one float and at least one quantized"):
        saved_advice(store, "default", "empty")
    with pytest.raises(BadInput, match="max-accuracy-drop"):
        saved_advice(store, "default", "empty", max_accuracy_drop=-1)


def test_advise_with_a_given_quantized_container(store, model, tmp_path):
    dlc, listing, _ = model
    q = tmp_path / "q.dlc"
    quantize_job(store, "default", QuantizeRequest(dlc, listing, q, QuantOptions(), False))
    options = {"quantized": q, "iterations": 1, "experiment": "two"}
    result = advise_job(store, "default", AdviseRequest(dlc, listing, options))
    assert result.quantize_run_id is None and len(result.run_ids) == 11
    aip = next(r for r in result.advice.recommendations if r.runtime == "aip")
    assert aip.choice == "none" and "--enable-hta" in aip.reasons[0]  # no HTA records
    with pytest.raises(BadInput, match="advise takes the float container"):
        advise_job(store, "default", AdviseRequest(q, listing))
    with pytest.raises(BadInput, match="not a quantized container"):
        advise_job(store, "default", AdviseRequest(dlc, listing, {"quantized": dlc}))


def _row(container, runtime, *, fxp=False, quantized=False, label=None, phases=("plan",)):
    return BenchRow(
        container=container,
        quantized=quantized,
        runtime=runtime,
        cpu_fxp=fxp,
        batch=1,
        status="succeeded",
        error=None,
        size_bytes=1000 if quantized else 4000,
        init_ms=10.0 if quantized else 20.0,
        init_breakdown_ms={"load": 1.0, **dict.fromkeys(phases, 1.0)},
        init_peak_bytes=100 if quantized else 400,
        create_ms=1.0,
        accuracy={"sqnr_db": 30.0, "top1_agreement": 0.99, "label_accuracy": label},
    )


@pytest.mark.parametrize("q_accuracy, choice", [(0.895, "quantized --cpu-fxp"), (0.85, "float")])
def test_cpu_choice_follows_the_accuracy_threshold(q_accuracy, choice):
    rows = []
    for runtime in ("cpu", "gpu", "gpu_fp16", "dsp"):
        rows.append(_row("f.dlc", runtime, label=0.9))
        rows.append(_row("q.dlc", runtime, quantized=True, label=q_accuracy))
    rows.append(_row("q.dlc", "cpu", fxp=True, quantized=True, label=q_accuracy))
    bench = BenchResult(rows=tuple(rows), samples=10, input_list="l", labels="x")
    advice = build_advice(bench, "f.dlc", "q.dlc", max_accuracy_drop=1.0)
    cpu = next(r for r in advice.recommendations if r.runtime == "cpu")
    assert cpu.choice == choice
    dsp = next(r for r in advice.recommendations if r.runtime == "dsp")
    assert dsp.choice == "quantized"
    assert "init 2.0x faster (10.0 ms vs 20.0 ms)" in dsp.reasons
    assert "init peak 4.0x lower (100 B vs 400 B)" in dsp.reasons
    assert "file 4.0x smaller (1000 B vs 3.9 KiB)" in dsp.reasons
