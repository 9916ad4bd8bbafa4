"""Published TFLite models (MediaPipe's, see ``wild/README.md``): import, agreement with the
TFLite interpreter, and the whole workbench path (convert, quantize, every runtime)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from workbench.engine.executor import Plan
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.runtimes import load_network
from workbench.engine.state import fill_initial
from workbench.engine.tflite import load_tflite
from workbench.engine.tflite.reader import read_tflite
from workbench.errors import UnsupportedOperators
from workbench.options import RunOptions

WILD = Path(__file__).parent / "wild"
FACE = WILD / "face_detection_short_range.tflite"
SELFIE = WILD / "selfie_segmentation.tflite"


def test_face_detector_matches_the_interpreter():
    imported = load_tflite(FACE)
    g = imported.graph
    assert not imported.quantized
    assert [(t.name, t.shape) for t in g.inputs] == [("input", (1, 128, 128, 3))]
    ref = np.load(WILD / "face_detection_short_range.npz")
    x = np.random.default_rng(int(ref["seed"])).uniform(-1, 1, (1, 128, 128, 3))
    out = Plan(g).run({"input": x.astype(np.float32)})
    for name in ("regressors", "classificators"):
        scale = max(1.0, float(np.abs(ref[name]).max()))
        assert np.abs(out[name] - ref[name]).max() / scale < 1e-5
    # float16 weights are float32 parameters now; no DEQUANTIZE is left to run.
    assert all(p.dtype != np.float16 for p in g.params.values())
    assert "DequantizeLinear" not in {n.op_type for n in g.nodes}


def test_selfie_segmenter_custom_transpose_conv_matches_numpy():
    g = load_tflite(SELFIE).graph
    conv = next(n for n in g.nodes if n.op_type == "ConvTranspose")
    x = np.random.default_rng(0).uniform(0, 1, g.inputs[0].shape).astype(np.float32)
    out = Plan(g, keep=[conv.inputs[0], conv.outputs[0]]).run({g.inputs[0].name: x})
    # The custom op's weights and bias are float16 constants behind DEQUANTIZE.
    model = read_tflite(SELFIE)
    op = next(o for o in model.operators if "Convolution2DTransposeBias" in o.op_type)
    source = {o.outputs[0]: o.inputs[0] for o in model.operators if o.op_type == "DEQUANTIZE"}
    w = model.tensors[source[op.inputs[1]]].data.astype(np.float64)  # (M, 2, 2, C)
    b = model.tensors[source[op.inputs[2]]].data.astype(np.float64)
    xin = out[conv.inputs[0]].transpose(0, 2, 3, 1)  # the IR runs NCHW
    want = np.zeros((1, 2 * xin.shape[1], 2 * xin.shape[2], w.shape[0])) + b
    for ky in range(2):  # stride 2, kernel 2, SAME: every output has exactly one tap
        for kx in range(2):
            want[:, ky::2, kx::2, :] += np.einsum("nhwc,mc->nhwm", xin, w[:, ky, kx, :])
    got = out[conv.outputs[0]].transpose(0, 2, 3, 1)
    assert np.abs(got - want).max() / np.abs(want).max() < 1e-5


def test_face_detector_on_every_runtime(cli, tmp_path):
    rng = np.random.default_rng(1)
    for i in range(2):
        np.save(tmp_path / f"x{i}.npy", rng.uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32))
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"x{i}.npy\n" for i in range(2)))
    f_dlc, q_dlc = tmp_path / "f.dlc", tmp_path / "q.dlc"
    cli.json("convert", str(FACE), "-o", str(f_dlc))
    cli.json("quantize", str(f_dlc), "--input-list", str(listing), "-o", str(q_dlc),
             "--enable-hta", "--no-analysis")  # fmt: skip
    rows = cli.json("bench", str(f_dlc), str(q_dlc), "--input-list", str(listing),
                    "--runtimes", "cpu,gpu,dsp,aip", "--iterations", "1")  # fmt: skip
    ok = {(Path(r["container"]).name, r["runtime"]) for r in rows if r["status"] == "succeeded"}
    assert ok == {(c, r) for c in ("f.dlc", "q.dlc") for r in ("cpu", "gpu", "dsp", "aip")} - {
        ("f.dlc", "aip")  # refused by the guide: AIP needs a quantized container
    }


WILD_FOLDER = os.environ.get("WORKBENCH_WILD_TFLITE")


@pytest.mark.skipif(
    not WILD_FOLDER, reason="set WORKBENCH_WILD_TFLITE to a folder of .tflite models to sweep"
)
def test_every_wild_model_imports_or_is_refused_by_name():
    from workbench.engine.container import Container

    found = sorted(Path(WILD_FOLDER).rglob("*.tflite"))
    assert found, f"no .tflite files under {WILD_FOLDER}"
    for path in found:
        try:
            imported = load_tflite(path)
        except UnsupportedOperators as exc:
            print(f"{path.name}: refused: {str(exc)[:160]}")
            continue
        container = imported.to_container({"command": "test"})
        feeds = {t.name: np.zeros(t.shape, t.dtype) for t in imported.graph.inputs}
        feeds = fill_initial({}, imported.graph.state, {}) | feeds
        for runtime in ("cpu", "gpu", "dsp"):
            outputs = load_network(container, runtime).run(feeds)
            assert set(outputs) == set(imported.graph.output_names)
        assert isinstance(container, Container)
        print(f"{path.name}: {len(imported.graph.nodes)} layers, ran on cpu, gpu, dsp")


JARVIS = WILD / "hey_jarvis.tflite"


def _jarvis_reference() -> tuple[np.ndarray, dict[str, tuple[np.ndarray, float, int]]]:
    ref = np.load(WILD / "hey_jarvis.npz")
    tensors = {
        str(name): (ref[f"t{i}"], float(ref["scales"][i]), int(ref["zero_points"][i]))
        for i, name in enumerate(ref["names"])
    }
    return ref["input_codes"], tensors


def test_int8_wake_word_model_keeps_its_encodings_and_matches_the_interpreter():
    # microWakeWord's streaming int8 model: its six state variables are input/output pairs
    # with the initial value the init subgraph assigns (here: each run starts from it).
    imported = load_tflite(JARVIS)
    model = read_tflite(JARVIS)
    assert imported.quantized and len(model.state) == 6 and not model.frozen_state
    assert not {"READ_VARIABLE", "ASSIGN_VARIABLE"} & {o.op_type for o in model.operators}
    state = imported.graph.state
    assert len(imported.graph.inputs) == 7 and [t.name for t in imported.graph.inputs[1:]] == [
        s.input for s in state
    ]
    for s in state:  # the state flows on one grid: carried without requantization
        assert imported.encodings[s.input] == imported.encodings[s.output]
    by_name = {t.name: t for t in model.tensors}
    logits = imported.encodings["model/dense/MatMul"]  # the model's own scale and zero point
    q = by_name["model/dense/MatMul;model/dense/BiasAdd"].quant
    assert logits.delta == pytest.approx(float(q.scale[0]), rel=1e-12)
    assert logits.offset == -(int(q.zero_point[0]) + 128)  # int8 codes held as uint8

    container = imported.to_container({"command": "test"})
    codes, tensors = _jarvis_reference()
    plan = IntegerPlan(container, keep=list(tensors))
    x = container.graph.inputs[0]
    q_in = model.tensors[model.inputs[0]].quant
    scale, zero = float(q_in.scale[0]), int(q_in.zero_point[0])
    compared = within = 0
    initial = {v.input: v.initial for v in state}
    for s, xq in enumerate(codes):
        out = plan.run(
            {x.name: ((xq.astype(np.float64) - zero) * scale).astype(np.float32), **initial}
        )
        for name, (want, t_scale, t_zero) in tensors.items():
            got, shape = out[name], want[s].shape
            if got.shape != shape and got.ndim == 4:
                got = got.transpose(0, 2, 3, 1)  # a tensor the IR runs NCHW
            if got.shape != shape:
                continue  # a constant of the same name (the dense layer's weights)
            got_codes = np.round(got / t_scale) + t_zero
            diff = np.abs(got_codes - want[s].astype(np.float64))
            compared += diff.size
            within += int((diff <= 1).sum())
    assert compared > 16000 and within == compared  # 17 tensors, every element within 1 LSB


def test_int8_wake_word_model_runs_on_every_runtime(cli, tmp_path):
    codes, _ = _jarvis_reference()
    model = read_tflite(JARVIS)
    q = model.tensors[model.inputs[0]].quant
    for i, xq in enumerate(codes[:2]):
        x = (xq.astype(np.float64) - q.zero_point[0]) * q.scale[0]
        np.save(tmp_path / f"x{i}.npy", x.astype(np.float32))
    listing = tmp_path / "list.txt"
    listing.write_text("x0.npy\nx1.npy\n")
    dlc = tmp_path / "j.dlc"
    cli.json("convert", str(JARVIS), "-o", str(dlc), "--enable-hta")
    assert cli.json("info", str(dlc))["quantized"] is True
    rows = cli.json("bench", str(dlc), "--input-list", str(listing),
                    "--runtimes", "cpu,gpu,dsp,aip", "--iterations", "1")  # fmt: skip
    assert {(r["runtime"], r["status"]) for r in rows} == {
        (r, "succeeded") for r in ("cpu", "gpu", "dsp", "aip")
    }


def _interpreter_sequence(path: Path, inputs: list[np.ndarray], names: list[str]) -> list[dict]:
    """The TFLite interpreter invoked once per input, its variables carried between calls:
    the codes of the tensors whose name starts with each of ``names``, per invocation."""
    from tests.tfmodels import HAVE_TF, tf_quietly

    if not HAVE_TF:
        pytest.skip("needs the tensorflow extra")
    tf = tf_quietly()
    interp = tf.lite.Interpreter(
        str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    by_name = {d["name"].split(";")[0]: d for d in interp.get_tensor_details()}
    inp = interp.get_input_details()[0]
    results = []
    for x in inputs:
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        results.append({n: interp.get_tensor(by_name[n]["index"]).copy() for n in names})
    return results


def test_stateful_run_carries_the_wake_word_state_like_the_interpreter(store, tmp_path):
    """``run --stateful`` over an input list equals the interpreter invoked line after line
    (it keeps its variables); without it every line is a first invocation."""
    from workbench.jobs.convert import convert_model
    from workbench.jobs.infer import run_container

    imported = load_tflite(JARVIS)
    model = read_tflite(JARVIS)
    q_in = model.tensors[model.inputs[0]].quant
    rng = np.random.default_rng(5)
    codes = [rng.integers(-128, 128, (1, 3, 40), dtype=np.int8) for _ in range(5)]
    for i, xq in enumerate(codes):
        real = (xq.astype(np.float64) - q_in.zero_point[0]) * q_in.scale[0]
        np.save(tmp_path / f"x{i}.npy", real.astype(np.float32))
    probes = ["model/dense/MatMul", *(v.output for v in imported.graph.state)]
    listing = tmp_path / "list.txt"
    listing.write_text("#" + " ".join(probes) + "\n" + "".join(f"x{i}.npy\n" for i in range(5)))
    dlc = tmp_path / "j.dlc"
    convert_model(store, "default", JARVIS, dlc)
    carried = _interpreter_sequence(JARVIS, codes, probes)
    fresh = [_interpreter_sequence(JARVIS, [x], probes)[0] for x in codes]
    logits = "model/dense/MatMul"
    assert not np.array_equal(carried[-1][logits], fresh[-1][logits])  # the state matters
    compared = 0
    for stateful, expected in ((True, carried), (False, fresh)):
        out = tmp_path / f"out_{stateful}"
        options = RunOptions(runtime="dsp", stateful=stateful)
        files = run_container(store, "default", dlc, listing, out, options).files
        for i, want in enumerate(expected):
            for name in probes:
                enc = imported.encodings[name]
                got = np.fromfile(out / f"Result_{i}" / files[name], np.float32)
                got_codes = np.round(got / enc.delta) - enc.offset - 128  # int8 codes
                ref = want[name].astype(np.float64).reshape(-1)
                if got_codes.size != ref.size:  # an NCHW tensor in the IR
                    continue
                assert np.abs(got_codes - ref).max() <= 1, (stateful, i, name)
                compared += 1
    assert compared >= 2 * 5 * 2  # the logits and at least one state tensor, every line
