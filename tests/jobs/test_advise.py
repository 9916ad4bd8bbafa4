"""advise_job: the guide's table measured, a recommendation per runtime, saved as an experiment."""

from __future__ import annotations

from dataclasses import replace

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
    assert aip.choice == "refused" and "--enable-hta" in aip.reasons[0]  # no HTA records
    with pytest.raises(BadInput, match="quantized already"):
        advise_job(store, "default", AdviseRequest(q, listing, {"quantized": q}))
    with pytest.raises(BadInput, match="not a quantized container"):
        advise_job(store, "default", AdviseRequest(dlc, listing, {"quantized": dlc}))
    with pytest.raises(BadInput, match="float already"):
        advise_job(store, "default", AdviseRequest(dlc, listing, {"float": dlc}))


def test_a_quantized_only_container_is_advised_against_its_twin_or_itself(store, model, tmp_path):
    dlc, listing, _ = model
    q = tmp_path / "only.dlc"
    quantize_job(store, "default", QuantizeRequest(dlc, listing, q, QuantOptions(), False))
    alone = advise_job(store, "default", AdviseRequest(q, listing, {"iterations": 1}))
    twin = tmp_path / "only_dequantized.dlc"
    assert alone.advice.float_container == str(twin) and twin.is_file()
    assert "no float twin" in alone.advice.reference_note
    assert any("dequantized network" in n for n in alone.notes)
    rows = {r.label: r for r in alone.advice.rows}
    # The dequantized network is the reference: the CPU's dequantized run matches it.
    assert rows["CPU"].quantized.sqnr_db >= 100 and rows["CPU"].float.sqnr_db >= 100
    given = advise_job(store, "default", AdviseRequest(q, listing, {"float": dlc, "iterations": 1}))
    assert given.advice.float_container == str(dlc) and given.advice.reference_note is None
    assert 5 < {r.label: r for r in given.advice.rows}["DSP"].quantized.sqnr_db < 100


def _row(container, runtime, *, fxp=False, quantized=False, label=None, phases=("plan",), **extra):
    breakdown = {"load": 1.0, "deserialize": 4.0 if quantized else 16.0}
    breakdown |= dict.fromkeys(phases, 1.0)
    device = sum(v for k, v in breakdown.items() if k != "plan")
    return BenchRow(
        container=container,
        quantized=quantized,
        runtime=runtime,
        cpu_fxp=fxp,
        batch=1,
        status="succeeded",
        error=None,
        size_bytes=1000 if quantized else 4000,
        init_ms=sum(breakdown.values()),
        init_breakdown_ms=breakdown,
        init_peak_bytes=100 if quantized else 400,
        create_ms=1.0,
        accuracy={"sqnr_db": 30.0, "top1_agreement": 0.99, "label_accuracy": label, "usable": True}
        | extra.pop("accuracy", {}),  # fmt: skip
        device_init_ms=device,
        device_init_peak_bytes=100 if quantized else 400,
        emulator_setup_ms=breakdown.get("plan"),
        **extra,
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
    assert cpu.label == choice
    assert advice.metric == "label-accuracy" and advice.threshold == 1.0
    dsp = next(r for r in advice.recommendations if r.runtime == "dsp")
    assert dsp.choice == "quantized"
    assert "device init 3.4x faster (5.00 ms vs 17.0 ms)" in dsp.reasons
    assert "device init peak 4.0x lower (100 B vs 400 B)" in dsp.reasons
    assert "file 4.0x smaller (1000 B vs 3.9 KiB)" in dsp.reasons


def _bench(rows, metric, reason="test"):
    return BenchResult(rows=tuple(rows), samples=4, input_list="l", labels=None, metric=metric,
                       metric_reason=reason)  # fmt: skip


def _table(q_acc, *, cpu_q_phases=("dequantize", "plan"), gpu16=None):
    """Rows of every runtime for f.dlc/q.dlc; ``q_acc`` the quantized accuracy fields."""
    rows = []
    for runtime in ("cpu", "gpu", "gpu_fp16", "dsp"):
        rows.append(
            _row(
                "f.dlc",
                runtime,
                phases=("quantize", "plan") if runtime == "dsp" else ("plan",),
                accuracy=(gpu16 or {}) if runtime == "gpu_fp16" else {},
            )
        )
        rows.append(
            _row(
                "q.dlc",
                runtime,
                quantized=True,
                accuracy=q_acc,
                phases=cpu_q_phases if runtime in ("cpu", "gpu") else ("plan",),
            )
        )
    rows.append(_row("q.dlc", "cpu", fxp=True, quantized=True, accuracy=q_acc))
    rows.append(_row("q.dlc", "aip", quantized=True, accuracy=q_acc))
    return rows


def test_a_regression_model_is_judged_by_its_own_metric_not_top1():
    """A landmark regressor at 40 dB whose argmax disagrees: fine by cosine."""
    q_acc = {"sqnr_db": 40.0, "cosine": 0.99995, "top1_agreement": 0.2}
    advice = build_advice(_bench(_table(q_acc), "cosine", "1×1404 vector → cosine"), "f.dlc",
                          "q.dlc")  # fmt: skip
    assert advice.metric == "cosine" and advice.threshold == 0.001
    assert advice.threshold_rule == "cosine loss <= 0.001"
    assert "decided by cosine (1×1404 vector → cosine)" in advice.header()[0]
    recs = {r.runtime: r for r in advice.recommendations}
    assert recs["cpu"].label == "quantized --cpu-fxp" and not recs["dsp"].warnings
    text = " ".join(r for rec in recs.values() for r in rec.reasons)
    assert "top-1" not in text and "cosine 0.99995" in text


def test_a_scores_default_budget_is_a_percent_of_its_range_not_of_a_quiet_sample():
    rows = [replace(r, reference_absmax=6.6e-4, reference_scale=1.0) for r in _table({})]
    advice = build_advice(_bench(rows, "mae", "1×1 scores (Sigmoid) → mae"), "f.dlc", "q.dlc")
    assert advice.metric == "mae" and advice.threshold == pytest.approx(0.01)


def test_an_embedding_that_misses_the_threshold_is_warned_about_on_dsp():
    q_acc = {"sqnr_db": 3.0, "cosine": 0.7, "top1_agreement": 0.99}
    advice = build_advice(_bench(_table(q_acc), "cosine"), "f.dlc", "q.dlc")
    recs = {r.runtime: r for r in advice.recommendations}
    assert recs["cpu"].choice == "float" and "misses cosine loss <= 0.001" in recs["cpu"].reasons[0]
    assert recs["dsp"].choice == "quantized" and "misses" in recs["dsp"].warnings[0]
    assert recs["aip"].warnings
    sqnr = build_advice(_bench(_table(q_acc), "sqnr"), "f.dlc", "q.dlc", max_accuracy_drop=2.0)
    assert sqnr.threshold_rule == "SQNR >= 2.00 dB"
    assert {r.runtime: r for r in sqnr.recommendations}["cpu"].cpu_fxp  # 3 dB >= 2 dB


def test_non_finite_outputs_make_a_runtime_unusable_not_blank():
    note = (
        "fp16 overflow: 160 of 160 values exceed the float16 range on gpu_fp16: accuracy unusable"
    )
    overflow = {"sqnr_db": None, "cosine": None, "usable": False}
    rows = [
        r if r.runtime != "gpu_fp16" else replace(r, nonfinite_values=160, notes=(note,),
                                                  accuracy=r.accuracy | overflow)
        for r in _table({"sqnr_db": 30.0, "cosine": 0.9999})
    ]  # fmt: skip
    advice = build_advice(_bench(rows, "cosine"), "f.dlc", "q.dlc")
    fp16 = next(r for r in advice.rows if r.runtime == "gpu_fp16")
    assert (
        fp16.float.unusable and "accuracy unusable: fp16 overflow" in advice.lines(fp16.float)[-1]
    )
    rec = {r.runtime: r for r in advice.recommendations}["gpu_fp16"]
    assert rec.choice == "refused" and "fp16 overflow: 160 of 160" in rec.reasons[0]
    assert rec.reasons[0].count("accuracy unusable") == 1  # said once


def test_the_phase_that_contradicts_the_guide_is_named():
    """CPU: the quantized container dequantizes, yet reading the 4x float file costs more."""
    advice = build_advice(_bench(_table({"sqnr_db": 40.0}), "sqnr"), "f.dlc", "q.dlc")
    cpu = {r.runtime: r for r in advice.recommendations}["cpu"]
    verdict = next(r for r in cpu.reasons if r.startswith("unlike the guide"))
    assert "deserialize decided it (4.00 ms for the quantized container vs 16.0 ms" in verdict
    assert "1000 B vs 3.9 KiB" in verdict and "1.00 ms spent dequantizing" in verdict
    dsp = {r.runtime: r for r in advice.recommendations}["dsp"]
    assert not any(r.startswith("unlike the guide") for r in dsp.reasons)  # as the guide says
