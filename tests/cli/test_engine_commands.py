"""convert / info / diff / run through the CLI, on a small model built here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.modelzoo import small_cnn, write_inputs


def ort_outputs(model: Path, arrays: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return [sess.run(None, {"x": a})[0] for a in arrays]


@pytest.fixture
def converted(cli, tmp_path):
    model = small_cnn(tmp_path / "small.onnx")
    result = cli.json("convert", str(model), "-o", str(tmp_path / "small.dlc"))
    return model, tmp_path / "small.dlc", result


def test_convert_writes_container_and_records_model(cli, converted):
    _, dlc, result = converted
    assert dlc.exists() and result["size_bytes"] == dlc.stat().st_size
    assert result["layers"] == 5
    assert result["param_count"] == 4 * 27 + 4 + 10 * 144 + 2
    # Conv: 4x6x6 outputs x 27 MACs; Gemm: 10 x 144.
    assert result["macs"] == 4 * 36 * 27 + 10 * 144
    project = cli.json("project", "show")
    assert project["models"] == 1 and project["containers"] == 1


def test_info_lists_layers_and_totals(cli, converted):
    _, dlc, _ = converted
    info = cli.json("info", str(dlc))
    assert [r["op_type"] for r in info["layers"]] == ["Conv", "Relu", "Reshape", "Gemm", "Softmax"]
    conv = info["layers"][0]
    assert conv["output_dims"] == [[1, 4, 6, 6]] and conv["param_count"] == 112
    assert info["quantized"] is False
    text = cli("info", str(dlc))
    assert text.exit_code == 0 and "Conv" in text.stdout and "MACs" in text.stdout


def test_diff_identical_and_different(cli, converted, tmp_path):
    _, dlc, _ = converted
    same = cli.json("diff", str(dlc), str(dlc))
    assert same["identical"] is True
    other = small_cnn(tmp_path / "other.onnx", seed=1)
    cli.json("convert", str(other), "-o", str(tmp_path / "other.dlc"))
    report = cli.json("diff", str(dlc), str(tmp_path / "other.dlc"))
    assert report["identical"] is False
    changed = {c["name"] for c in report["params"]}
    assert {"w", "fc"} <= changed


def test_run_matches_onnxruntime_and_is_recorded(cli, converted, tmp_path):
    model, dlc, _ = converted
    listing, arrays = write_inputs(tmp_path, 3)
    out = tmp_path / "out"
    result = cli.json("run", str(dlc), "--input-list", str(listing), "--output-dir", str(out))
    assert result["inferences"] == 3
    expected = ort_outputs(model, arrays)
    for i, exp in enumerate(expected):
        # Tensor names are kept, as snpe-net-run writes them: "prob:0" -> "prob:0.raw".
        got = np.fromfile(out / f"Result_{i}" / "prob:0.raw", dtype="<f4").reshape(exp.shape)
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)
    run = cli.json("runs", "show", str(result["run_id"]))
    assert run["status"] == "succeeded" and run["details"]["runtime"] == "cpu"
    assert run["details"]["iterations"] == 3


def test_run_batch_resize_groups_lines(cli, converted, tmp_path):
    model, dlc, _ = converted
    listing, arrays = write_inputs(tmp_path, 5)
    out = tmp_path / "out"
    result = cli.json(
        "run", str(dlc), "--input-list", str(listing), "--output-dir", str(out), "--batch", "2"
    )
    assert result["inferences"] == 5
    for i, exp in enumerate(ort_outputs(model, arrays)):
        got = np.fromfile(out / f"Result_{i}" / "prob:0.raw", dtype="<f4").reshape(exp.shape)
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-6)


def test_run_debug_writes_every_layer(cli, converted, tmp_path):
    _, dlc, _ = converted
    listing, _ = write_inputs(tmp_path, 1)
    out = tmp_path / "out"
    cli.json("run", str(dlc), "--input-list", str(listing), "--output-dir", str(out), "--debug")
    names = {p.name for p in (out / "Result_0").iterdir()}
    assert {"c.raw", "r.raw", "f.raw", "logits.raw", "prob:0.raw"} <= names


def test_run_output_header_keeps_named_tensors(cli, converted, tmp_path):
    _, dlc, _ = converted
    listing, _ = write_inputs(tmp_path, 2)
    listing.write_text("#logits\n" + listing.read_text())
    out = tmp_path / "out"
    cli.json("run", str(dlc), "--input-list", str(listing), "--output-dir", str(out))
    assert sorted(p.name for p in (out / "Result_1").iterdir()) == ["logits.raw"]


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, m: ["convert", str(d / "missing.onnx"), "-o", str(d / "x.dlc")], "not found"),
        (lambda d, m: ["convert", str(m), "-o", str(d / "x.zip")], "should end in .dlc"),
        (lambda d, m: ["convert", str(m), "-o", str(d / "x.dlc"), "--input-dim", "nope", "1,3,8,8"], "nope"),
        (lambda d, m: ["convert", str(m), "-o", str(d / "x.dlc"), "--input-dim", "x", "1,a"], "integers"),
        (lambda d, m: ["info", str(m)], "not a workbench container"),
        (lambda d, m: ["info", str(d / "nothing.dlc")], "nothing.dlc"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2(cli, tmp_path, make_args, message):
    model = small_cnn(tmp_path / "small.onnx")
    result = cli(*make_args(tmp_path, model))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / "x.dlc").exists()


def test_unresolved_dim_names_the_flag(cli, tmp_path):
    model = small_cnn(tmp_path / "dyn.onnx", batch="N")
    result = cli("convert", str(model), "-o", str(tmp_path / "dyn.dlc"))
    assert result.exit_code == 2 and "--input-dim x" in result.stderr
    ok = cli.json(
        "convert", str(model), "-o", str(tmp_path / "dyn.dlc"), "--input-dim", "x", "1,3,8,8"
    )
    assert ok["layers"] == 5


def test_run_wrong_input_size_fails_cleanly_and_records_nothing_running(cli, converted, tmp_path):
    _, dlc, _ = converted
    (tmp_path / "bad.raw").write_bytes(b"\0" * 12)
    (tmp_path / "list.txt").write_text("bad.raw\n")
    result = cli(
        "run",
        str(dlc),
        "--input-list",
        str(tmp_path / "list.txt"),
        "--output-dir",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 2 and "expects float32 [1, 3, 8, 8]" in result.stderr
    runs = cli.json("runs", "list")
    assert all(r["status"] != "running" for r in runs["runs"])


def test_unsupported_operator_lists_nodes_and_writes_nothing(cli, tmp_path):
    nodes = [
        helper.make_node("Frob", ["x"], ["y"], name="frob1", domain="com.example"),
        helper.make_node("Frob", ["y"], ["z"], name="frob2", domain="com.example"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)],
    )
    model.ir_version = 8
    onnx.save(model, tmp_path / "frob.onnx")
    result = cli("convert", str(tmp_path / "frob.onnx"), "-o", str(tmp_path / "frob.dlc"))
    assert result.exit_code == 2
    assert "frob1" in result.stderr and "frob2" in result.stderr
    assert not (tmp_path / "frob.dlc").exists()
    assert json.loads(cli("--json", "project", "show").stdout)["containers"] == 0
