"""quantize and export through the CLI: the container, the stored run, the interop files."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest

from tests.modelzoo import small_cnn, write_inputs


@pytest.fixture
def float_dlc(cli, tmp_path):
    model = small_cnn(tmp_path / "small.onnx")
    cli.json("convert", str(model), "-o", str(tmp_path / "small.dlc"))
    listing, _ = write_inputs(tmp_path, 6)
    return tmp_path / "small.dlc", listing


def test_quantize_writes_container_and_records_everything(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    q = tmp_path / "q.dlc"
    result = cli.json(
        "quantize", str(dlc), "--input-list", str(listing), "-o", str(q), "--bias-bitwidth", "32"
    )
    assert q.exists() and result["size_bytes"] == q.stat().st_size
    assert result["samples"] == 6
    assert result["sqnr_db"] > 20  # an 8-bit small CNN keeps its outputs
    assert "softmax (Softmax)" in result["float_fallback"]
    with zipfile.ZipFile(q) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["quantized"] is True
    assert manifest["quantizer"]["options"]["bias_bitwidth"] == 32
    assert manifest["quantizer"]["source_container"] == str(dlc.resolve())

    run = cli.json("runs", "show", str(result["run_id"]))
    assert run["status"] == "succeeded" and run["kind"] == "quantize"
    assert run["details"]["bias_bitwidth"] == 32 and run["details"]["sqnr_db"] == result["sqnr_db"]
    assert run["peak_memory_bytes"] > 0
    assert {layer["layer_name"] for layer in run["layers"]} >= {"conv/1", "fc"}
    report = run["details"]["report"]
    assert report["sensitivity"]["weights_only_sqnr_db"] >= result["sqnr_db"] - 0.5
    # quantize --json is the run detail document, with the job's own fields beside it.
    for key in ("id", "kind", "status", "details", "layers", "log", "command", "host"):
        assert result[key] == run[key], key
    # The integer-true emulator agrees with fake-quant: no warning.
    check = result["integer_check"]
    assert check["ok"] and result["warnings"] == []
    assert check["samples"] == min(8, result["eval_samples"])  # the analysis samples
    assert abs(check["integer_sqnr_db"] - check["fake_quant_sqnr_db"]) < 3.0
    assert report["integer_check"] == check
    assert f"integer-true check over {check['samples']} samples" in run["log"]
    info = cli.json("info", str(q))
    assert info["quantized"] is True
    assert info["layers"][0]["encoding_summary"]


def test_an_integer_emulator_defect_is_a_warning_not_a_result(
    cli, float_dlc, tmp_path, monkeypatch
):
    # Plant a defect in the integer Gemm kernel (its output codes mirrored): quantize still
    # writes the container, but says loudly that the integer path disagrees with it.
    from workbench.engine.quant import int_ops

    right = int_ops._REGISTRY["Gemm"]

    def mirrored(ictx):
        kernel, top = right(ictx), ictx.out(0).qmax
        return lambda *args: tuple(top - y for y in kernel(*args))

    monkeypatch.setitem(int_ops._REGISTRY, "Gemm", mirrored)
    dlc, listing = float_dlc
    args = ("quantize", str(dlc), "--input-list", str(listing), "-o", str(tmp_path / "q.dlc"))
    result = cli.json(*args, "--no-analysis")  # the check runs without the analysis too
    check = result["integer_check"]
    assert not check["ok"] and check["gap_db"] > 3.0
    assert len(result["warnings"]) == 1 and "emulator defect" in result["warnings"][0]
    run = cli.json("runs", "show", str(result["run_id"]))
    assert run["status"] == "succeeded"
    assert run["notes"] == f"warning: {result['warnings'][0]}"
    assert f"warning: {result['warnings'][0]}" in run["log"]
    assert run["details"]["report"]["integer_check"]["ok"] is False
    shown = cli(*args)
    assert shown.exit_code == 0
    assert (
        re.search(r"integer-true check over \d+ samples", shown.stdout) and "FAILED" in shown.stdout
    )
    assert "warning: integer-true output is" in shown.stdout


def test_quantized_container_runs_on_cpu_both_ways(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    q = tmp_path / "q.dlc"
    cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(q), "--no-analysis")
    outs = {}
    for mode, extra in (("float", []), ("dequant", []), ("fxp", ["--cpu-fxp"])):
        target = dlc if mode == "float" else q
        out = tmp_path / mode
        cli.json("run", str(target), "--input-list", str(listing), "--output-dir", str(out), *extra)
        outs[mode] = np.fromfile(out / "Result_0" / "prob:0.raw", dtype="<f4")
    for mode in ("dequant", "fxp"):
        assert np.abs(outs[mode] - outs["float"]).max() < 0.05
    assert not np.array_equal(outs["fxp"], outs["float"])


def test_bad_options_exit_2_without_a_run(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    bad = cli("quantize", str(dlc), "--input-list", str(listing), "-o", str(tmp_path / "q.dlc"),
              "--algorithms", "cle,magic")  # fmt: skip
    assert bad.exit_code == 2 and "--algorithms" in bad.stderr
    same = cli("quantize", str(dlc), "--input-list", str(listing), "-o", str(dlc))
    assert same.exit_code == 2 and "overwrite the input" in same.stderr
    assert cli.json("runs", "list")["total"] == 0


def test_quantizing_a_quantized_container_fails_and_is_recorded(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    q = tmp_path / "q.dlc"
    cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(q), "--no-analysis")
    again = cli("quantize", str(q), "--input-list", str(listing), "-o", str(tmp_path / "qq.dlc"))
    assert again.exit_code == 2 and again.stderr.count("\n") == 1
    assert not (tmp_path / "qq.dlc").exists()
    runs = cli.json("runs", "list", "--kind", "quantize")["runs"]
    assert [r["status"] for r in runs] == ["failed", "succeeded"]


def test_batch_other_than_one_is_refused_with_the_guides_reason(cli, tmp_path):
    model = small_cnn(tmp_path / "b2.onnx", batch=2)
    cli.json("convert", str(model), "-o", str(tmp_path / "b2.dlc"))
    rng = np.random.default_rng(0)
    rng.standard_normal((2, 3, 8, 8)).astype("<f4").tofile(tmp_path / "x.raw")
    (tmp_path / "l.txt").write_text("x.raw\n")
    result = cli("quantize", str(tmp_path / "b2.dlc"), "--input-list", str(tmp_path / "l.txt"),
                 "-o", str(tmp_path / "q.dlc"))  # fmt: skip
    assert result.exit_code == 2 and "requires batch size 1" in result.stderr


def test_export_encodings_round_trip_through_override(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    q = tmp_path / "q.dlc"
    cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(q), "--no-analysis")
    for version in ("0.6.1", "1.0.0", "2.0.0", "2.1.0"):
        enc = tmp_path / f"enc-{version}.json"
        out = cli.json("export", "encodings", str(q), "-o", str(enc), "--format-version", version)
        assert out["activations"] > 0 and out["params"] > 0 and out["version"] == version
        assert json.loads(enc.read_text())["version"] == version
        q2 = tmp_path / f"q-{version}.dlc"
        cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(q2),
                 "--override-params", str(enc), "--no-analysis")  # fmt: skip
        with zipfile.ZipFile(q) as a, zipfile.ZipFile(q2) as b:
            ea, eb = json.loads(a.read("encodings.json")), json.loads(b.read("encodings.json"))
        for name, e in ea["encodings"].items():
            assert eb["encodings"][name]["delta"] == pytest.approx(e["delta"], rel=1e-6)
            assert eb["encodings"][name]["offset"] == e["offset"]


def test_per_channel_overrides_and_their_producer_are_recorded(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    pc, enc = tmp_path / "pc.dlc", tmp_path / "pc.encodings"
    cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(pc), "--per-channel",
             "--no-analysis")  # fmt: skip
    out = cli.json("export", "encodings", str(pc), "-o", str(enc), "--format-version", "2.0.0")
    assert out["skipped"]  # biases and the fused conv outputs AIMET leaves unquantized
    doc = json.loads(enc.read_text())
    doc["producer"] = {"package": "aimet-onnx", "version": "2.42.0"}  # as AIMET writes it
    enc.write_text(json.dumps(doc))
    q = tmp_path / "q.dlc"
    run = cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(q),
                   "--override-params", str(enc), "--no-analysis")  # fmt: skip
    details = cli.json("runs", "show", str(run["run_id"]))["details"]
    assert details["per_channel"] is True and details["options"]["per_channel"] is True
    assert details["options"]["per_channel_from"] == "override_params"
    assert details["options"]["override_producer"] == doc["producer"]
    assert details["options"]["override_version"] == "2.0.0"
    again = tmp_path / "again.json"
    cli.json("export", "encodings", str(q), "-o", str(again), "--all-tensors")
    args = json.loads(again.read_text())["quantizer_args"]
    assert args["per_channel_quantization"] is True and args["is_symmetric"] is True


def test_export_qdq_runs_in_onnxruntime_like_our_fake_quant(cli, float_dlc, tmp_path):
    import onnxruntime as ort

    dlc, listing = float_dlc
    q = tmp_path / "q.dlc"
    cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(q), "--no-analysis")
    cli.json("export", "qdq", str(q), "-o", str(tmp_path / "q.onnx"))
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    sess = ort.InferenceSession(str(tmp_path / "q.onnx"), opts, providers=["CPUExecutionProvider"])
    x = np.fromfile(tmp_path / "in0.raw", dtype="<f4").reshape(1, 3, 8, 8)
    got = sess.run(None, {"x": x})[0]

    from workbench.engine.container import read_container
    from workbench.engine.quant.fakequant import FakeQuantPlan

    ours = FakeQuantPlan(read_container(q)).run({"x": x})["prob:0"]
    np.testing.assert_allclose(got, ours, atol=1e-2)


def test_export_refuses_a_float_container(cli, float_dlc, tmp_path):
    dlc, _ = float_dlc
    result = cli("export", "qdq", str(dlc), "-o", str(tmp_path / "x.onnx"))
    assert result.exit_code == 2 and "not quantized" in result.stderr


def test_the_headline_states_metric_runtime_and_n_and_equals_bench(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    (tmp_path / "held").mkdir()
    held_out, _ = write_inputs(tmp_path / "held", 5)
    q = tmp_path / "q.dlc"
    result = cli.json(
        "quantize", str(dlc), "--input-list", str(listing), "-o", str(q),
        "--eval-list", str(held_out), "--metric", "cosine", "--no-analysis",
    )  # fmt: skip
    assert result["metric"] == "cosine" and result["eval_runtime"] == "dsp"
    assert result["eval_samples"] == 5 and result["samples"] == 6
    assert result["headline"].startswith("cosine 0.9") and "on dsp, N=5" in result["headline"]
    rows = cli.json(
        "bench", str(dlc), str(q), "--input-list", str(held_out), "--runtimes", "dsp",
        "--iterations", "1",
    )  # fmt: skip
    dsp = next(r for r in rows if r["quantized"])
    assert dsp["metric"] == "cosine"  # --metric was stored on the model
    assert abs(dsp["accuracy"]["sqnr_db"] - result["sqnr_db"]) <= 0.05
    assert dsp["metric_value"] == pytest.approx(result["metric_value"], abs=1e-9)
    text = cli("quantize", str(dlc), "--input-list", str(listing), "-o", str(tmp_path / "b.dlc"))
    assert text.exit_code == 0, text.stderr
    assert "accuracy: cosine" in text.stdout and "on dsp, N=6" in text.stdout
    assert "sensitivity (cosine, N=6" in text.stdout and "nan" not in text.stdout.lower()


def test_rounding_is_an_option_recorded_with_the_run_and_the_export_says_so(
    cli, float_dlc, tmp_path
):
    dlc, listing = float_dlc
    for mode in ("half-away", "half-even", "tflite"):
        q = tmp_path / f"q-{mode}.dlc"
        run = cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(q),
                       "--rounding", mode, "--no-analysis")  # fmt: skip
        details = cli.json("runs", "show", str(run["run_id"]))["details"]
        assert details["options"]["rounding"] == mode
        with zipfile.ZipFile(q) as zf:
            assert json.loads(zf.read("manifest.json"))["rounding"] == mode
        out = cli.json("export", "qdq", str(q), "-o", str(tmp_path / f"{mode}.onnx"))
        assert out["rounding"] == mode
        assert (out["note"] is None) == (mode == "half-even")
    human = cli("export", "qdq", str(tmp_path / "q-half-away.dlc"), "-o", str(tmp_path / "h.onnx"))
    assert human.exit_code == 0 and "note:" in human.stdout and "half to even" in human.stdout
    tflite = cli.json(
        "export", "qdq", str(tmp_path / "q-tflite.dlc"), "-o", str(tmp_path / "t.onnx")
    )
    assert "TFLite's integer kernels" in tflite["note"]
    assert cli.json("info", str(tmp_path / "q-tflite.dlc"))["rounding"] == "tflite"
    bad = cli("quantize", str(dlc), "--input-list", str(listing), "-o", str(tmp_path / "x.dlc"),
              "--rounding", "up")  # fmt: skip
    assert bad.exit_code == 2


def test_layer_precision_flags_reach_the_container_the_run_and_bench(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    q = tmp_path / "mix.dlc"
    result = cli.json(
        "quantize", str(dlc), "--input-list", str(listing), "-o", str(q), "--no-analysis",
        "--layer-precision", "type:Softmax=float", "--layer-precision", "re:^conv/1$=int16",
        "--weights-bitwidth-override", "fc=4",
    )  # fmt: skip
    with zipfile.ZipFile(q) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    record = manifest["quantizer"]["layer_precision"]
    assert record["float_layers"] == ["softmax"] and record["activations"]["conv/1"] == "int16"
    assert manifest["quantizer"]["options"]["weights_bitwidth_override"] == ["fc=4"]
    run = cli.json("runs", "show", str(result["run_id"]))
    assert run["details"]["options"]["layer_precision"] == [
        "type:Softmax=float",
        "re:^conv/1$=int16",
    ]
    from workbench.options import QUANTIZE_OPTIONS, option_argv

    argv = option_argv(QUANTIZE_OPTIONS, run["details"]["options"])  # the rerun's flags
    assert argv[-6:] == [
        "--layer-precision", "type:Softmax=float", "--layer-precision", "re:^conv/1$=int16",
        "--weights-bitwidth-override", "fc=4",
    ]  # fmt: skip
    bench = cli.json("bench", str(q), "--runtimes", "dsp", "--input-list", str(listing))
    row = bench[0]
    assert row["status"] == "succeeded"
    fallback = row["cpu_fallback"]
    assert fallback["float_layers"] == 1 and fallback["boundaries"] >= 1
    assert fallback["convert_ms"] > 0
    assert any(n.startswith("CPU fallback: 1 float layer(s)") for n in row["notes"])
    bad = cli(
        "quantize", str(dlc), "--input-list", str(listing), "-o", str(tmp_path / "x.dlc"),
        "--layer-precision", "nosuchlayer=int16",
    )  # fmt: skip
    assert bad.exit_code == 2 and "no layer of the model matches 'nosuchlayer'" in bad.output


def test_debug_compares_every_layer_on_the_runtime(cli, float_dlc, tmp_path):
    dlc, listing = float_dlc
    q = tmp_path / "q.dlc"
    cli.json("quantize", str(dlc), "--input-list", str(listing), "-o", str(q), "--no-analysis")
    report = cli.json("debug", str(q), "--input-list", str(listing), "--samples", "2")
    data = report["report"]
    assert report["float_container"] == str(dlc.resolve())
    assert data["runtime"] == "dsp" and data["samples"] == 2
    names = [layer["node"] for layer in data["layers"]]
    assert names[0] == "conv/1" and "fc" in names
    assert {"integer_mean_lsb", "clipped_pct", "integer_sqnr_db", "causes"} <= set(
        data["layers"][0]
    )
    assert "softmax" in names  # a float fallback inside the integer executor: compared too
    assert data["metric"] == report["metric"] == "top1"  # the model's: 1×10 probabilities
    assert data["contribution_samples"] == 1 and data["layers"][0]["contribution"] == 1.0
    shown = cli("debug", str(q), "--input-list", str(listing), "--samples", "1")
    assert shown.exit_code == 0 and "output SQNR" in shown.stdout and "top1 alone" in shown.stdout
    # Stored as runs: listed by kind, shown in sections, every field in --json.
    listed = cli.json("runs", "list", "--kind", "debug")
    assert [r["id"] for r in listed["runs"]][-1] == report["run_id"]
    assert {r["kind"] for r in listed["runs"]} == {"debug"} and listed["total"] == 2
    stored = cli.json("runs", "show", str(report["run_id"]))
    assert stored["kind"] == "debug" and stored["details"]["runtime"] == "dsp"
    assert [la["debug"] for la in stored["layers"]] == data["layers"]
    assert stored["details"]["report"]["threshold_lsb"] == data["threshold_lsb"]
    text = cli("runs", "show", str(report["run_id"])).stdout
    for section in ("Containers", "Options", "First divergence", "Result", "Layers (4)"):
        assert section in text
    bad = cli("debug", str(q), "--input-list", str(listing), "--float", str(q))
    assert bad.exit_code == 2 and "--float takes the float container" in bad.output
