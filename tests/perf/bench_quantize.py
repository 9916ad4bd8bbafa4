"""Quantize, side by side: ours vs ONNX Runtime's ``quantize_static`` (QDQ, MinMax, per-tensor).

    python tests/perf/bench_quantize.py [--models demo,squeezenet,resnet50,shufflenet,transformer]
        [--calibration 32] [--heldout 16]

Targets (SPEC §8): quantize ≤ 0.5× ORT ``quantize_static`` wall time on the same model
and data; output SQNR vs float ≥ ORT with tf, and enhanced / CLE / BC beat it.

Setup, per model:

* Models: the bundled demo (when present; its own calibration images), and the
  ``light`` squeezenet / resnet50 / shufflenet that ship with the onnx package, whose
  weights are constant fills there: we write an ONNX copy with random weights instead
  (He-normal, each output channel scaled by a log-uniform factor in [0.1, 10]
  normalized to unit mean square — trained nets have such unequal channel ranges;
  BatchNorm with moderate random statistics; the final Softmax dropped so SQNR is
  measured on logits), and a transformer encoder block (``bench_float.py``'s).
* Data: the demo's own calibration images and its whole validation set; otherwise
  smooth random images (low-frequency noise, as photos are), 32 calibration
  samples written as ``.raw`` files in a vendor input list, both tools reading the same
  files lazily (ORT through a ``CalibrationDataReader``); 16 other held-out samples.
* ORT gets its recommended pre-processing first (``quant_pre_process``: BatchNorm fused
  into Conv, as our converter does; untimed like our convert).
* Each tool runs in its own subprocess, 2 threads (``--repeat N``: N fresh processes
  each, the fastest kept — the machine may be shared). **Time**: wall time of file in →
  file out: ours ``read_container`` (float .dlc) + ``quantize_container`` +
  ``write_container``; ORT ``quantize_static`` (reads the .onnx, writes the QDQ .onnx).
  ``time`` is the wall-time ratio ours / ORT, ``cpu`` the ratio of process CPU seconds
  (user + system, all threads), steadier on a shared machine.
  **Memory**: peak RSS of the timed section minus the RSS just before it (Linux
  ``VmHWM`` after resetting it through ``/proc/self/clear_refs``; resident-set growth
  covers ORT's native allocations, which tracemalloc would not see).
* **SQNR** vs the float model (ORT float outputs on the held-out samples): ours through
  fake quantization of the quantized container (the integer/fake-quant executor when
  it exists, else ``analysis.SimulatedQuantPlan``); ORT by running its QDQ model.
* Rows: tf (both: 8-bit asymmetric uint8 weights and activations, int32 bias with
  scale in_scale × w_scale; ORT ``QUInt8`` with symmetric off), tf b8 (ours with the
  vendor's default 8-bit bias), enhanced, tf + cle + bc (ours only; ORT the same
  MinMax row), and 16-bit activations (ORT ``QUInt16`` activations).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

HERE = Path(__file__).resolve().parent
# Our rows use 32-bit biases (scale = in_scale x w_scale), the scheme ORT's QDQ uses;
# "tf b8" is the vendor default (8-bit bias with its own encoding), for comparison.
B32 = {"bias_bitwidth": 32}
CONFIGS = {
    "tf": {"options": B32, "ort_act16": False},
    "tf b8": {"options": {}, "ort_act16": False},
    "enhanced": {
        "options": {**B32, "param_quantizer": "enhanced", "act_quantizer": "enhanced"},
        "ort_act16": False,
    },
    "tf+cle+bc": {"options": {**B32, "algorithms": ["cle", "bc"]}, "ort_act16": False},
    "tf a16": {"options": {**B32, "act_bitwidth": 16}, "ort_act16": True},
}


# --------------------------------------------------------------------------- models


def randomized_light(name: str, out: Path, seed: int = 0) -> Path:
    """The light model with random structured weights instead of constant fills."""
    src = Path(onnx.__file__).parent / "backend/test/data/light" / f"light_{name}.onnx"
    model = onnx.load(str(src))
    g = model.graph
    rng = np.random.default_rng(seed)
    shapes = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for n in g.node:
        for k, i in enumerate(n.input):
            consumers.setdefault(i, []).append((n, k))
    new_inits = []
    keep_nodes = []
    for n in g.node:
        if n.op_type != "ConstantOfShape":
            keep_nodes.append(n)
            continue
        shape = tuple(int(d) for d in shapes[n.input[0]])
        name_out = n.output[0]
        users = consumers.get(name_out, [])
        op, idx = (users[0][0].op_type, users[0][1]) if users else ("", -1)
        if op in ("Conv", "Gemm") and idx == 1:
            fan_in = int(np.prod(shape[1:])) if op == "Conv" else shape[1]
            if op == "Conv":
                group = next((a.i for a in users[0][0].attribute if a.name == "group"), 1)
                fan_in = int(np.prod(shape[1:]))
                del group
            w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
            f = 10.0 ** rng.uniform(-1, 1, size=shape[0])
            f /= np.sqrt(np.mean(f * f))
            w *= f.reshape(-1, *[1] * (len(shape) - 1))
            value = w
        elif op == "BatchNormalization":
            value = {
                1: 1.0 + 0.1 * rng.standard_normal(shape),
                2: 0.1 * rng.standard_normal(shape),
                3: 0.1 * rng.standard_normal(shape),
                4: rng.uniform(0.5, 1.5, shape),
            }[idx]
        else:  # biases and anything else
            value = 0.05 * rng.standard_normal(shape)
        new_inits.append(numpy_helper.from_array(value.astype(np.float32), name_out))
    used = {i for n in keep_nodes for i in n.input}
    inits = [i for i in g.initializer if i.name in used] + new_inits
    # Drop a final Softmax: SQNR on logits is the sensitive measure.
    outputs = list(g.output)
    last = keep_nodes[-1]
    if last.op_type == "Softmax" and last.output[0] == outputs[0].name:
        keep_nodes = keep_nodes[:-1]
        outputs = [helper.make_empty_tensor_value_info(last.input[0])]
    # Only real data inputs (the fills' shape inputs are gone; IR >= 4 needs no others).
    inputs = [i for i in g.input if i.name in used and i.name not in shapes]
    graph = helper.make_graph(keep_nodes, g.name, inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=list(model.opset_import))
    m.ir_version = 7
    m = onnx.shape_inference.infer_shapes(m)
    onnx.save(m, str(out))
    return out


def model_list(tmp: Path, wanted: list[str]) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for name in wanted:
        if name == "demo":
            try:
                from workbench.data import demo_model_path

                p = demo_model_path()
                if p.exists():
                    paths[name] = p
                else:
                    print("demo model not present yet: skipped", file=sys.stderr)
            except Exception as exc:  # the demo is optional here
                print(f"demo model unavailable ({exc}): skipped", file=sys.stderr)
        elif name == "transformer":
            sys.path.insert(0, str(HERE))
            from bench_float import transformer_block

            paths[name] = transformer_block(tmp / "transformer.onnx")
        else:
            paths[name] = randomized_light(name, tmp / f"{name}.onnx")
    return paths


def smooth_images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Low-frequency noise images, roughly zero mean and unit variance."""
    if len(shape) != 4:
        return rng.standard_normal((n, *shape[1:])).astype(np.float32)
    c, h, w = shape[1:]
    grid = 8
    coarse = rng.standard_normal((n, c, grid, grid))
    ys = np.linspace(0, grid - 1, h)
    xs = np.linspace(0, grid - 1, w)
    y0 = np.minimum(ys.astype(int), grid - 2)
    x0 = np.minimum(xs.astype(int), grid - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = coarse[:, :, y0][:, :, :, x0]
    b = coarse[:, :, y0][:, :, :, x0 + 1]
    cc = coarse[:, :, y0 + 1][:, :, :, x0]
    d = coarse[:, :, y0 + 1][:, :, :, x0 + 1]
    img = a * (1 - fy) * (1 - fx) + b * (1 - fy) * fx + cc * fy * (1 - fx) + d * fy * fx
    img += 0.1 * rng.standard_normal(img.shape)
    img = (img - img.mean()) / img.std()
    return img.astype(np.float32)


def write_list(arrays: np.ndarray, folder: Path, input_name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, a in enumerate(arrays):
        p = folder / f"s{i:04d}.raw"
        np.ascontiguousarray(a, dtype="<f4").tofile(p)
        lines.append(f"{input_name}:={p}")
    path = folder / "list.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- workers


def _rss() -> int:
    """Current RSS, after resetting the kernel's high-water mark (VmHWM) to it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset peak RSS
    except OSError:
        pass
    import psutil

    return psutil.Process().memory_info().rss


def _cpu() -> float:
    """User + system CPU seconds of this process (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss() -> int:
    """Peak RSS since ``_rss()``: VmHWM (reset there), else ru_maxrss (since process start)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker_ours(args: argparse.Namespace) -> dict:
    from workbench.engine.container import read_container, write_container
    from workbench.engine.inputs import parse_input_list
    from workbench.engine.quant.analysis import SimulatedQuantPlan
    from workbench.engine.quant.quantizer import QuantOptions, quantize_container

    opts = QuantOptions.from_dict(json.loads(args.options))
    base = _rss()
    c0 = _cpu()
    t0 = time.perf_counter()
    fc = read_container(args.dlc)
    lst = parse_input_list(args.list, fc.graph.input_names)
    result = quantize_container(fc, lst, opts)
    write_container(args.out, result.container)
    wall = time.perf_counter() - t0
    cpu = _cpu() - c0
    mem = _peak_rss() - base
    # Accuracy (untimed): fake quantization of the quantized container.
    try:
        from workbench.engine.quant.fakequant import FakeQuantPlan  # the shared executor

        runner = FakeQuantPlan(result.container)
        runner_name = "FakeQuantPlan"
    except Exception:
        runner = SimulatedQuantPlan(result.container)
        runner_name = "SimulatedQuantPlan"
    ref = np.load(args.reference)
    held = np.load(args.heldout)
    name = fc.graph.input_names[0]
    out_name = fc.graph.output_names[0]
    sig = noise = 0.0
    for x, r in zip(held, ref, strict=True):
        y = runner.run({name: x[None]})[out_name].astype(np.float64).reshape(r.shape)
        sig += float(np.sum(r.astype(np.float64) ** 2))
        noise += float(np.sum((y - r) ** 2))
    return {
        "wall": wall,
        "cpu": cpu,
        "mem": mem,
        "sqnr": 10 * np.log10(sig / noise) if noise else float("inf"),
        "timings": result.timings,
        "runner": runner_name,
        "size": os.path.getsize(args.out),
    }


def worker_ort(args: argparse.Namespace) -> dict:
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    input_name = args.input_name
    files = [line.split(":=", 1)[1] for line in Path(args.list).read_text().split()]
    shape = tuple(json.loads(args.shape))

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(files)

        def get_next(self):
            f = next(self.it, None)
            if f is None:
                return None
            return {input_name: np.fromfile(f, dtype="<f4").reshape(shape)}

    base = _rss()
    c0 = _cpu()
    t0 = time.perf_counter()
    quantize_static(
        args.onnx,
        args.out,
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=False,
        activation_type=QuantType.QUInt16 if args.act16 else QuantType.QUInt8,
        weight_type=QuantType.QUInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": False},
    )
    wall = time.perf_counter() - t0
    cpu = _cpu() - c0
    mem = _peak_rss() - base
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.out, so, providers=["CPUExecutionProvider"])
    ref = np.load(args.reference)
    held = np.load(args.heldout)
    sig = noise = 0.0
    for x, r in zip(held, ref, strict=True):
        y = sess.run(None, {input_name: x[None]})[0].astype(np.float64).reshape(r.shape)
        sig += float(np.sum(r.astype(np.float64) ** 2))
        noise += float(np.sum((y - r) ** 2))
    return {
        "wall": wall,
        "cpu": cpu,
        "mem": mem,
        "sqnr": 10 * np.log10(sig / noise) if noise else float("inf"),
        "size": os.path.getsize(args.out),
    }


# --------------------------------------------------------------------------- driver


def run_worker(cmd: list[str], repeat: int = 1) -> dict:
    """Run a worker ``repeat`` times in fresh processes; keep the fastest run."""
    best: dict | None = None
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *cmd],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(HERE.parent.parent)},
        )
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if best is None or result["wall"] < best["wall"]:
            best = result
    assert best is not None
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default="demo,squeezenet,resnet50,shufflenet,transformer")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--calibration", type=int, default=32)
    ap.add_argument("--heldout", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest is kept")
    ap.add_argument("--worker", choices=["ours", "ort"])
    for opt in (
        "dlc",
        "list",
        "options",
        "out",
        "reference",
        "heldout-file",
        "onnx",
        "input-name",
        "shape",
    ):
        ap.add_argument(f"--{opt}")
    ap.add_argument("--act16", action="store_true")
    args = ap.parse_args()
    if args.worker:
        args.heldout = args.heldout_file
        result = worker_ours(args) if args.worker == "ours" else worker_ort(args)
        print(json.dumps(result))
        return

    import onnxruntime as ort

    from workbench.engine.container import Container, make_manifest, write_container
    from workbench.engine.onnx_import import import_onnx

    configs = [c for c in args.configs.split(",") if c]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        paths = model_list(tmp, [m for m in args.models.split(",") if m])
        header = (
            f"{'model':<12} {'config':<10} {'ours s':>7} {'ORT s':>7} {'time':>6} {'cpu':>6} "
            f"{'ours MB':>8} {'ORT MB':>7} {'ours dB':>8} {'ORT dB':>7} {'Δ dB':>6}"
        )
        print(header)
        print("-" * len(header), flush=True)
        for name, path in paths.items():
            graph = import_onnx(path)
            dlc = tmp / f"{name}.dlc"
            write_container(dlc, Container(make_manifest(converter={"command": "bench"}), graph))
            info = graph.inputs[0]
            rng = np.random.default_rng(7)
            if name == "demo":
                from workbench.data import load_demo_images

                calib = load_demo_images("calibration")[: args.calibration]
                held = load_demo_images("validation")  # all of it: the model is small
            else:
                calib = smooth_images(rng, args.calibration, info.shape)
                held = smooth_images(rng, args.heldout, info.shape)
            lst = write_list(calib, tmp / f"{name}-calib", info.name)
            held_path = tmp / f"{name}-held.npy"
            np.save(held_path, held)
            so = ort.SessionOptions()
            so.intra_op_num_threads = 2
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            ref = np.stack([sess.run(None, {info.name: x[None]})[0] for x in held])
            # ORT's recommended pre-processing (BatchNorm fused into Conv, as our converter
            # does): untimed, like our convert. Without it ORT keeps BatchNorm in float
            # between a quantized Conv and its ReLU, which no fixed-point target can.
            ort_model = tmp / f"{name}-pre.onnx"
            from onnxruntime.quantization.shape_inference import quant_pre_process

            quant_pre_process(str(path), str(ort_model), skip_symbolic_shape=True)
            ref_path = tmp / f"{name}-ref.npy"
            np.save(ref_path, ref)
            common = [
                "--list",
                str(lst),
                "--reference",
                str(ref_path),
                "--heldout-file",
                str(held_path),
            ]
            ort_rows: dict[bool, dict] = {}
            for config in configs:
                spec = CONFIGS[config]
                act16 = spec["ort_act16"]
                if act16 not in ort_rows:
                    ort_rows[act16] = run_worker(
                        [
                            "--worker",
                            "ort",
                            "--onnx",
                            str(ort_model),
                            "--out",
                            str(tmp / f"{name}-ort.onnx"),
                            "--input-name",
                            info.name,
                            "--shape",
                            json.dumps(list(info.shape)),
                            *(["--act16"] if act16 else []),
                            *common,
                        ],
                        args.repeat,
                    )
                o = ort_rows[act16]
                ours = run_worker(
                    [
                        "--worker",
                        "ours",
                        "--dlc",
                        str(dlc),
                        "--out",
                        str(tmp / f"{name}-q.dlc"),
                        "--options",
                        json.dumps(spec["options"]),
                        *common,
                    ],
                    args.repeat,
                )
                if "error" in ours or "error" in o:
                    print(
                        f"{name:<12} {config:<10} ours: {ours.get('error', 'ok')} | ORT: {o.get('error', 'ok')}"
                    )
                    continue
                print(
                    f"{name:<12} {config:<10} {ours['wall']:>7.2f} {o['wall']:>7.2f} "
                    f"{ours['wall'] / o['wall']:>5.2f}x {ours['cpu'] / o['cpu']:>5.2f}x "
                    f"{ours['mem'] / 2**20:>8.1f} {o['mem'] / 2**20:>7.1f} "
                    f"{ours['sqnr']:>8.2f} {o['sqnr']:>7.2f} {ours['sqnr'] - o['sqnr']:>+6.2f}",
                    flush=True,
                )
                stages = ", ".join(
                    f"{k} {v:.2f}" for k, v in ours["timings"].items() if k != "total"
                )
                print(
                    f"{'':<12} {'':<10} ours: {stages}; fake-quant by {ours['runner']}", flush=True
                )


if __name__ == "__main__":
    main()
