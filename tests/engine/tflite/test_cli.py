"""``workbench convert model.tflite`` and what follows (info, run, bench, quantize), in-process
through the CLI, on the committed TensorFlow-made fixtures; and the refusals (exit 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from tests.engine.tflite.flatbuild import TfliteWriter
from tests.engine.tflite.reference import recordings
from workbench.engine.container import read_container
from workbench.engine.quant.int_exec import IntegerPlan

FIXTURES = Path(__file__).parent / "fixtures"
INPUT = "serving_default_keras_tensor:0"
OUTPUT = "StatefulPartitionedCall_1:0"


@pytest.fixture
def inputs(tmp_path) -> Path:
    """An input list of three NHWC float32 .npy tensors, as the TFLite model declares them."""
    rng = np.random.default_rng(5)
    lines = []
    for i in range(3):
        np.save(tmp_path / f"x{i}.npy", rng.standard_normal((1, 32, 32, 3)).astype(np.float32))
        lines.append(f"x{i}.npy")
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def test_int8_tflite_converts_to_a_quantized_container(cli, store, tmp_path, inputs):
    from workbench.store import Container as ContainerRow

    dlc = tmp_path / "m.dlc"
    result = cli.json("convert", str(FIXTURES / "mobilenet_int8.tflite"), "-o", str(dlc))
    assert result["layers"] > 0 and dlc.stat().st_size == result["size_bytes"]
    with store.read() as session:
        (row,) = session.scalars(select(ContainerRow)).all()
        assert row.quantized and row.manifest["converter"]["source_format"] == "tflite"

    info = cli.json("info", str(dlc))
    assert info["quantized"] is True and info["rounding"] == "tflite"  # TFLite's arithmetic
    assert [t["name"] for t in info["inputs"]] == [INPUT]
    assert info["inputs"][0]["shape"] == [1, 32, 32, 3]  # the model's own NHWC interface
    conv = next(r for r in info["layers"] if r["op_type"] == "Conv")
    assert "per-channel x16 (axis 0)" in conv["encoding_summary"]
    text = cli("info", str(dlc))
    assert text.exit_code == 0 and "encoding" in text.stdout
    assert any(line.split()[:2] == ["rounding", "tflite"] for line in text.stdout.splitlines())

    out = tmp_path / "out"
    run = cli.json("run", str(dlc), "--input-list", str(inputs), "--output-dir", str(out),
                   "--runtime", "dsp")  # fmt: skip
    assert run["inferences"] == 3
    written = np.fromfile(out / "Result_1" / "StatefulPartitionedCall_1:0.raw", dtype="<f4")
    x1 = np.load(tmp_path / "x1.npy")
    want = IntegerPlan(read_container(dlc)).run({INPUT: x1})[OUTPUT]
    np.testing.assert_array_equal(written, want.reshape(-1))
    assert abs(float(written.sum()) - 1) < 0.05  # a softmax

    rows = cli.json("bench", str(dlc), "--input-list", str(inputs), "--runtimes", "cpu,gpu,dsp",
                    "--iterations", "1")  # fmt: skip
    assert [(r["runtime"], r["status"]) for r in rows] == [
        ("cpu", "succeeded"),
        ("gpu", "succeeded"),
        ("dsp", "succeeded"),
    ]


def test_int8_tflite_runs_on_aip_with_its_own_encodings(cli, tmp_path, inputs):
    plain, hta = tmp_path / "m.dlc", tmp_path / "h.dlc"
    model = str(FIXTURES / "mobilenet_int8.tflite")
    cli.json("convert", model, "-o", str(plain))
    refused = cli("run", str(plain), "--input-list", str(inputs), "--runtime", "aip",
                  "--output-dir", str(tmp_path / "x"))  # fmt: skip
    assert refused.exit_code == 2 and "convert it with --enable-hta" in refused.stderr

    cli.json("convert", model, "-o", str(hta), "--enable-hta")
    container = read_container(hta)
    assert container.manifest["quantizer"]["encodings_from"] == "tflite"
    assert container.encodings == read_container(plain).encodings  # no re-calibration
    outs = {}
    for runtime in ("dsp", "aip"):
        run = cli.json("run", str(hta), "--input-list", str(inputs), "--runtime", runtime,
                       "--output-dir", str(tmp_path / runtime))  # fmt: skip
        assert run["inferences"] == 3
        outs[runtime] = np.fromfile(tmp_path / runtime / "Result_2" / f"{OUTPUT}.raw", "<f4")
    np.testing.assert_array_equal(outs["aip"], outs["dsp"])  # HTA layers from the records
    bench = cli.json("bench", str(hta), "--input-list", str(inputs), "--runtimes", "aip",
                     "--iterations", "1")  # fmt: skip
    assert bench[0]["status"] == "succeeded"


def test_enable_hta_is_refused_for_a_float_model(cli, tmp_path):
    result = cli("convert", str(FIXTURES / "mobilenet_float.tflite"), "-o",
                 str(tmp_path / "f.dlc"), "--enable-hta")  # fmt: skip
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--enable-hta needs a quantized TFLite model" in result.stderr
    assert not (tmp_path / "f.dlc").exists()


def test_float_tflite_quantizes_and_runs_on_every_runtime(cli, tmp_path, inputs):
    dlc, q_dlc = tmp_path / "f.dlc", tmp_path / "q.dlc"
    cli.json("convert", str(FIXTURES / "mobilenet_float.tflite"), "-o", str(dlc))
    assert cli.json("info", str(dlc))["quantized"] is False
    cli.json("quantize", str(dlc), "--input-list", str(inputs), "-o", str(q_dlc),
             "--enable-hta", "--no-analysis")  # fmt: skip
    rows = cli.json("bench", str(dlc), str(q_dlc), "--input-list", str(inputs),
                    "--runtimes", "cpu,gpu,dsp,aip", "--iterations", "1")  # fmt: skip
    status = {(Path(r["container"]).name, r["runtime"]): r["status"] for r in rows}
    assert status == {
        ("f.dlc", "cpu"): "succeeded",
        ("f.dlc", "gpu"): "succeeded",
        ("f.dlc", "dsp"): "succeeded",
        ("f.dlc", "aip"): "refused",  # the guide: AIP needs a quantized container
        ("q.dlc", "cpu"): "succeeded",
        ("q.dlc", "gpu"): "succeeded",
        ("q.dlc", "dsp"): "succeeded",
        ("q.dlc", "aip"): "succeeded",
    }
    aip = next(r for r in rows if r["runtime"] == "aip" and r["status"] == "succeeded")
    assert aip["accuracy"]["top1_agreement"] == 1.0


def test_float_tflite_matches_the_interpreter_through_run(cli, tmp_path):
    rec = recordings(FIXTURES)["mobilenet_float"]
    feeds, refs = rec.samples[0]
    np.save(tmp_path / "x.npy", feeds[INPUT])
    (tmp_path / "list.txt").write_text("x.npy\n")
    dlc = tmp_path / "f.dlc"
    cli.json("convert", str(rec.path), "-o", str(dlc))
    cli.json("run", str(dlc), "--input-list", str(tmp_path / "list.txt"),
             "--output-dir", str(tmp_path / "out"), "--runtime", "cpu")  # fmt: skip
    got = np.fromfile(tmp_path / "out" / "Result_0" / "StatefulPartitionedCall_1:0.raw", "<f4")
    np.testing.assert_allclose(got, refs[0].reshape(-1), atol=1e-6)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "too short"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "no TFL3 file identifier"),
        (None, "truncated or corrupt"),  # a real model cut in half
    ],
)
def test_bad_tflite_is_one_line_exit_2(cli, tmp_path, content, message):
    if content is None:
        data = (FIXTURES / "mobilenet_int8.tflite").read_bytes()
        content = data[: len(data) // 2]
    model = tmp_path / "bad.tflite"
    model.write_bytes(content)
    result = cli("convert", str(model), "-o", str(tmp_path / "bad.dlc"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert str(model) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "bad.dlc").exists()


def test_unsupported_operators_are_refused_before_anything_is_written(cli, tmp_path):
    w = TfliteWriter()
    x = w.tensor("x", (1, 4))
    a = w.tensor("a", (1, 4))
    y = w.tensor("y", (1, 4))
    w.op("custom:TFLite_Detection_PostProcess", [x], [a])
    w.op("custom:FlexErf", [a], [y])
    model = tmp_path / "custom.tflite"
    model.write_bytes(w.build([x], [y]))
    result = cli("convert", str(model), "-o", str(tmp_path / "c.dlc"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "custom 'TFLite_Detection_PostProcess' [op 0 -> tensor 1 'a']" in result.stderr
    assert "flex 'FlexErf' [op 1 -> tensor 2 'y']" in result.stderr
    assert not (tmp_path / "c.dlc").exists()
    assert cli.json("project", "show")["models"] == 0


def test_missing_tflite_is_not_found(cli, tmp_path):
    result = cli("convert", str(tmp_path / "nope.tflite"), "-o", str(tmp_path / "n.dlc"))
    assert result.exit_code == 2 and "not found" in result.stderr
