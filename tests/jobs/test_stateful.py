"""``run`` and ``bench`` with ``--stateful``: state carried from one input-list line to the
next. A streaming GRU fed one frame per line must equal ONNX Runtime running the whole
sequence at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workbench.errors import BadInput
from workbench.jobs.bench import BenchRequest, bench_job
from workbench.jobs.browse import run_view
from workbench.jobs.convert import convert_model
from workbench.jobs.infer import run_container
from workbench.options import BenchOptions, RunOptions

HIDDEN, FEATURES, FRAMES = 6, 4, 7


def _gru(path: Path, frames: int) -> Path:
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((1, 3 * HIDDEN, FEATURES)) * 0.5).astype(np.float32)
    r = (rng.standard_normal((1, 3 * HIDDEN, HIDDEN)) * 0.5).astype(np.float32)
    b = (rng.standard_normal((1, 6 * HIDDEN)) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("GRU", ["x", "W", "R", "B", "", "h"], ["y", "h_next"], hidden_size=HIDDEN),
        helper.make_node("Squeeze", ["y", "axes"], ["out"]),
    ]
    g = helper.make_graph(
        nodes,
        "gru",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [frames, 1, FEATURES]),
            helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, HIDDEN]),
        ],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, [frames, 1, HIDDEN]),
            helper.make_tensor_value_info("h_next", TensorProto.FLOAT, [1, 1, HIDDEN]),
        ],
        initializer=[
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(r, "R"),
            numpy_helper.from_array(b, "B"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


@pytest.fixture
def streaming(store, tmp_path: Path):
    frames = np.random.default_rng(3).standard_normal((FRAMES, 1, FEATURES)).astype(np.float32)
    for i, frame in enumerate(frames):
        np.save(tmp_path / f"f{i}.npy", frame[None])
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"x:=f{i}.npy\n" for i in range(FRAMES)))
    dlc = tmp_path / "gru.dlc"
    convert_model(store, "default", _gru(tmp_path / "gru.onnx", 1), dlc)
    return frames, listing, dlc


def test_stateful_run_equals_the_whole_sequence(store, tmp_path, streaming):
    import onnxruntime as ort

    frames, listing, dlc = streaming
    whole = _gru(tmp_path / "whole.onnx", FRAMES)
    expected = ort.InferenceSession(str(whole)).run(
        ["out"], {"x": frames, "h": np.zeros((1, 1, HIDDEN), np.float32)}
    )[0]
    out = tmp_path / "out"
    options = RunOptions(stateful=True, state=["h=h_next"])
    run_container(store, "default", dlc, listing, out, options)
    got = np.stack(
        [np.fromfile(out / f"Result_{i}" / "out.raw", np.float32) for i in range(FRAMES)]
    )
    np.testing.assert_allclose(got, expected.reshape(FRAMES, HIDDEN), rtol=1e-5, atol=1e-6)
    # Without carrying, every line starts from zero state: only the first frame agrees.
    out2 = tmp_path / "out2"
    with pytest.raises(BadInput, match="add --stateful"):
        run_container(store, "default", dlc, listing, out2, RunOptions(state=["h=h_next"]))


def test_state_pairs_are_checked(store, tmp_path, streaming):
    _, listing, dlc = streaming
    out = tmp_path / "o"

    def run(**options):
        run_container(store, "default", dlc, listing, out, RunOptions(stateful=True, **options))

    with pytest.raises(BadInput, match="not a model input"):
        run(state=["hx=h_next"])
    with pytest.raises(BadInput, match="INPUT=OUTPUT"):
        run(state=["h"])
    with pytest.raises(BadInput, match="declares no state"):
        run()
    with pytest.raises(BadInput, match="--batch must be 1"):
        run(state=["h=h_next"], batch=2)
    with pytest.raises(BadInput, match="--batch must be 1"):
        options = BenchOptions(stateful=True, state="h=h_next", batch=2)
        bench_job(store, "default", BenchRequest([dlc], listing, options))


def test_stateful_bench_compares_carried_sequences(store, tmp_path, streaming):
    _, listing, dlc = streaming
    options = BenchOptions(runtimes="cpu,dsp", iterations=2, stateful=True, state=["h=h_next"])
    rows = bench_job(store, "default", BenchRequest([dlc], listing, options, init_repeats=1)).rows
    by_runtime = {r.runtime: r for r in rows}
    assert by_runtime["cpu"].accuracy["sqnr_db"] >= 999  # the same carried sequence exactly
    assert by_runtime["dsp"].status == "succeeded"
    recorded = run_view(store, by_runtime["cpu"].run_id).options
    assert recorded["stateful"] is True and recorded["state"] == ["h=h_next"]


def test_cli_flags(cli, tmp_path):
    frames = np.random.default_rng(4).standard_normal((3, 1, 1, FEATURES)).astype(np.float32)
    for i, frame in enumerate(frames):
        np.save(tmp_path / f"f{i}.npy", frame)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"x:=f{i}.npy\n" for i in range(3)))
    dlc = tmp_path / "gru.dlc"
    cli.json("convert", str(_gru(tmp_path / "gru.onnx", 1)), "-o", str(dlc))
    out = tmp_path / "out"
    result = cli.json("run", str(dlc), "--input-list", str(listing), "--output-dir", str(out),
                      "--stateful", "--state", "h=h_next")  # fmt: skip
    assert result["inferences"] == 3
    rows = cli.json("bench", str(dlc), "--input-list", str(listing), "--runtimes", "cpu",
                    "--iterations", "1", "--stateful", "--state", "h=h_next")  # fmt: skip
    assert rows[0]["status"] == "succeeded"
    bad = cli("run", str(dlc), "--input-list", str(listing), "--output-dir", str(out),
              "--state", "h=h_next")  # fmt: skip
    assert bad.exit_code == 2 and "add --stateful" in bad.stderr
    bad = cli("bench", str(dlc), "--input-list", str(listing), "--stateful", "--state", "h")
    assert bad.exit_code == 2 and "INPUT=OUTPUT" in bad.stderr
