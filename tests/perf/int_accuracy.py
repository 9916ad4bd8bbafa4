"""Integer-true accuracy on the mobile set: fake-quant, integer-true (JIT off / on) and QDQ in ORT.

    python tests/perf/int_accuracy.py [--models ppocr_v4_det_480,selfie_segmentation,...]
        [--inputs images|noise|both] [--calibration 16] [--eval 4] [--no-qdq] [--no-local]
        [--plant OP] [--json out.json] [--markdown]

For every model of ``mobile_models.py`` (published and re-created; default: the seven
below) it quantizes with the tests' fixture quantizer
(``tests/engine/quant/qfixtures.quantize_for_tests``: tf activations from the calibration
samples' min/max, 8-bit per-channel symmetric weights, 32-bit biases) and prints the
output SQNR against the float graph (energies over every output, as
``workbench.engine.quant.analysis.check_integer_path`` sums them) of

* **fake-quant**: ``FakeQuantPlan`` (float kernels, every encoded tensor rounded);
* **int JIT0 / JIT1**: ``IntegerPlan`` (the dsp runtime's integer-true emulator) built
  with ``WORKBENCH_JIT=0`` (numpy kernels) and ``=1`` (compiled kernels), each through
  ``check_integer_path`` (``ok`` unless more than ``INTEGER_GAP_DB`` below fake-quant
  *and* more than ``INTEGER_LSB_RMS`` from it in output steps; ``rms step``: that RMS);
* **QDQ ORT**: the container's QDQ export (``export_qdq``) in ONNX Runtime with
  ``session.disable_quant_qdq`` (the QDQ semantics, no integer fusions);
* **op LSB**: the emulator bisected per op: every node of the integer plan on its own
  (unfused) gets fake-quant's inputs as codes, and its output codes are compared with
  fake-quant's, on every eval sample; the worst difference in LSB of the output's
  encoding (JIT 0 / 1) and the op where it is. A kernel bug shows here as many LSB at
  one op; rounding (the float path's float32 accumulation against exact integers, at
  near-ties) as 1 LSB;
* **exact**: the bit-exactness the code promises, on the integer output codes of the
  eval samples: ``J`` compiled kernels = numpy kernels (JIT 1 = JIT 0), ``F`` the fused
  plan (a Conv with its activation chain as one table) = every node on its own.

Two input settings (``--inputs``):

* ``noise``: what ``bench_mobile.py`` used before this script: uniform(-1, 1) noise,
  calibrated on 4 samples (seeds 0-3), evaluated on seed 123;
* ``images``: synthetic images in the range the model expects (``NORMALISATION``):
  smooth shaded backgrounds with filled shapes and sensor noise, or dark glyph-like
  strokes on paper for the OCR models; ``--calibration`` samples to calibrate and
  ``--eval`` other samples (different seeds) to measure.

``--plant Conv`` (any op with an integer kernel) plants a defect to see the columns
catch one: that kernel's output codes moved up by 2 (clamped) wherever they are below
the top.

Each model runs in its own process; ``uptime``'s load is printed at start and end.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

DEFAULT_MODELS = (
    "ppocr_v4_det_480",
    "selfie_segmentation",
    "ppocr_v4_rec",
    "mobilenet_v2",
    "efficientnet_lite0",
    "blazeface_short",
    "palm_detection_lite",
)

# Pixel range [0, 1] -> model input: (x - mean) / std. The published models' own
# preprocessing (RapidOCR 1.4.4's config.yaml: mean = std = 0.5; MediaPipe's graphs:
# face detection [-1, 1], the others [0, 1]); the re-creations take ImageNet's.
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_MINUS1_1 = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
_UNIT = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
NORMALISATION = {
    "ppocr_v4_det_480": _MINUS1_1,
    "ppocr_v4_rec": _MINUS1_1,
    "ppocr_mobile_cls": _MINUS1_1,
    "blazeface_short": _MINUS1_1,
    "face_landmark": _UNIT,
    "hand_landmark_lite": _UNIT,
    "palm_detection_lite": _UNIT,
    "selfie_segmentation": _UNIT,
}
TEXT_MODELS = {"ppocr_v4_det_480", "ppocr_v4_rec", "ppocr_mobile_cls"}


# -- inputs -------------------------------------------------------------------------------


def _smooth(rng: np.random.Generator, h: int, w: int, cells: int, channels: int) -> np.ndarray:
    """A (h, w, channels) field, bilinear between random values on a cells x cells grid."""
    grid = rng.uniform(0, 1, (cells + 1, cells + 1, channels))
    ys = np.linspace(0, cells, h)
    xs = np.linspace(0, cells, w)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) pixels in [0, 1]: shaded background, filled ellipses and boxes, noise."""
    img = 0.25 + 0.5 * _smooth(rng, h, w, 4, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(rng.integers(3, 9)):
        colour = rng.uniform(0, 1, 3)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.05, 0.35) * h, rng.uniform(0.05, 0.35) * w
        if rng.random() < 0.5:
            mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            mask = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        shade = 0.8 + 0.4 * _smooth(rng, h, w, 2, 1)
        img = np.where(mask[..., None], colour * shade, img)
    img += rng.normal(0, 0.02, img.shape)
    return np.clip(img, 0, 1)


def text_page(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) pixels in [0, 1]: light paper, lines of dark glyph-like strokes."""
    img = 0.8 + 0.15 * _smooth(rng, h, w, 3, 1) * np.ones(3)
    ink = rng.uniform(0, 0.3, 3)
    line_h = int(rng.integers(max(8, h // 16), max(9, h // 5))) if h > 64 else int(h * 0.6)
    top = int(rng.integers(0, max(1, line_h // 2)))
    while top + line_h <= h:
        x = int(rng.integers(0, max(1, w // 8)))
        while x < w - line_h:
            for _ in range(rng.integers(2, 8)):  # a word: glyphs of strokes
                gw = max(3, int(line_h * rng.uniform(0.4, 0.8)))
                if x + gw >= w:
                    break
                stroke = max(1, line_h // 8)
                for _ in range(rng.integers(1, 4)):
                    if rng.random() < 0.5:  # vertical stroke
                        sx = x + int(rng.integers(0, gw - stroke + 1))
                        img[top : top + line_h, sx : sx + stroke] = ink
                    else:  # horizontal stroke
                        sy = top + int(rng.integers(0, line_h - stroke + 1))
                        img[sy : sy + stroke, x : x + gw] = ink
                x += gw + max(1, line_h // 6)
            x += line_h  # space between words
        top += int(line_h * rng.uniform(1.3, 2.5))
        if h <= 64:
            break
    img += rng.normal(0, 0.02, img.shape)
    return np.clip(img, 0, 1)


def image_feeds(model: str, shapes: dict[str, tuple[int, ...]], seed: int) -> dict:
    """One sample per input: a picture in the model's layout and normalisation."""
    rng = np.random.default_rng(seed)
    mean, std = NORMALISATION.get(model, _IMAGENET)
    feeds = {}
    for name, shape in shapes.items():
        nhwc = shape[-1] == 3
        h, w = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
        draw = text_page if model in TEXT_MODELS else scene
        px = (draw(rng, h, w) - np.array(mean)) / np.array(std)
        x = px[None] if nhwc else px.transpose(2, 0, 1)[None]
        feeds[name] = x.astype(np.float32)
    return feeds


def noise_feeds(shapes: dict[str, tuple[int, ...]], seed: int) -> dict:
    """``bench_mobile``'s inputs before: uniform(-1, 1)."""
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(-1, 1, v).astype(np.float32) for k, v in shapes.items()}


def samples_for(model: str, shapes: dict, inputs: str, n_cal: int, n_eval: int):
    """(calibration samples, evaluation samples): distinct seeds."""
    if inputs == "noise":
        return [noise_feeds(shapes, s) for s in range(4)], [noise_feeds(shapes, 123)]
    cal = [image_feeds(model, shapes, s) for s in range(n_cal)]
    ev = [image_feeds(model, shapes, 10_000 + s) for s in range(n_eval)]
    return cal, ev


# -- the per-op bisection -----------------------------------------------------------------


def op_divergence(ip, fq, feeds: dict) -> tuple[float, float, str]:
    """Worst |integer - fake-quant| in output LSB over the integer plan's unfused steps,
    each run on fake-quant's inputs as codes: (worst LSB, share of elements > 1 LSB
    there, where)."""
    from workbench.engine.quant.encoding import quantize

    rec: dict[str, np.ndarray] = {}
    fq.run(feeds, lambda n, v: rec.__setitem__(n, np.asarray(v)))
    graph = ip.graph
    worst, share, where = 0.0, 0.0, "-"
    for step in ip._plan._unfused_steps():
        args = []
        for name in step.node.inputs:
            if not name:
                args.append(None)
                continue
            if name in graph.params:
                args.append(graph.params[name])
                continue
            v = feeds[name] if name in feeds else rec[name]
            enc = ip.encodings.get(name)
            if enc is not None and v.dtype.kind == "f":
                v = quantize(v, enc, ip.rounding)
            args.append(v)
        for out, got in zip(step.node.outputs, step.kernel(*args), strict=False):
            enc = ip.encodings.get(out) if out else None
            if enc is None or out not in rec or rec[out].dtype.kind != "f":
                continue
            want = quantize(rec[out], enc, ip.rounding).astype(np.int64)
            got = np.asarray(got)
            if got.dtype.kind == "f":
                got = quantize(got, enc, ip.rounding)
            d = np.abs(got.astype(np.int64) - want)
            if d.size and d.max() > worst:
                worst, share = float(d.max()), float(np.mean(d > 1))
                where = f"{step.node.op_type} {step.node.name}"
    return worst, share, where


def _same_codes(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in a)


def bit_exact(plans: dict, feeds: list[dict]) -> dict[str, bool]:
    """The promises of bit-exactness on the integer outputs: the compiled kernels give
    the numpy kernels' codes (JIT 1 = JIT 0), the fused plan the unfused plan's (a run
    with a hook runs every node on its own)."""
    j0, j1 = plans["0"], plans["1"]
    same_jit = same_fused = True
    for f in feeds:
        a = j0.run_integer(f)
        same_jit &= _same_codes(a, j1.run_integer(f))
        same_fused &= _same_codes(a, j0.run_integer(f, lambda *_: None))
        same_fused &= _same_codes(a, j1.run_integer(f, lambda *_: None))
    return {"jit_exact": bool(same_jit), "fusion_exact": bool(same_fused)}


# -- one model ----------------------------------------------------------------------------


def _finite(v: float) -> float | None:
    return None if v is None or math.isnan(v) or math.isinf(v) else round(v, 2)


def measure(name: str, inputs: str, args) -> dict:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    import bench_mobile as bm

    from tests.engine.quant.qfixtures import quantize_for_tests
    from workbench.engine.container import Container, make_manifest
    from workbench.engine.quant.analysis import check_integer_path
    from workbench.engine.quant.fakequant import FakeQuantPlan
    from workbench.engine.quant.int_exec import IntegerPlan

    if args.plant:
        _plant(args.plant)
    t0 = time.perf_counter()
    row: dict = {"model": name, "inputs": inputs}
    with tempfile.TemporaryDirectory() as tmp:
        specs = bm.model_specs(Path(tmp), [name])
        if name not in specs:
            return row | {"error": "not available (offline?)"}
        spec = specs[name]
        graph = bm._load_graph(spec)
        shapes = {t.name: tuple(t.shape) for t in graph.inputs}
        cal, ev = samples_for(name, shapes, inputs, args.calibration, args.eval)
        row["calibration"], row["eval"] = len(cal), len(ev)
        q = quantize_for_tests(graph, cal)
        fc = Container(make_manifest(converter={"command": "int_accuracy"}), graph)
        fq = FakeQuantPlan(q)
        plans = {}
        for jit in ("0", "1"):
            os.environ["WORKBENCH_JIT"] = jit
            ip = plans[jit] = IntegerPlan(q)
            check = check_integer_path(fc, q, ev, fake_quant=fq, integer=ip)
            row["fake_quant_db"] = _finite(check.fake_quant_sqnr_db)
            row[f"int_jit{jit}_db"] = _finite(check.integer_sqnr_db)
            row[f"int_jit{jit}_ok"] = check.ok
            row[f"int_jit{jit}_lsb_rms"] = check.lsb_rms
            row["fallback"] = sorted({op for _, op in ip.float_fallback_nodes})
            if not args.no_local:  # the worst op over the eval samples
                w, s, where = max(op_divergence(ip, fq, f) for f in ev)
                row[f"op_lsb_jit{jit}"], row[f"op_share_jit{jit}"] = w, s
                row[f"op_where_jit{jit}"] = where
        row.update(bit_exact(plans, ev))
        if not args.no_qdq:
            row["qdq_ort_db"], row["qdq_error"] = _qdq_sqnr(q, graph, ev)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _plant(op: str) -> None:
    """A defect in ``op``'s integer kernel: its output codes + 2, clamped to the top."""
    from workbench.engine.quant import int_ops

    right = int_ops._REGISTRY[op]

    def shifted(ictx):
        kernel, top = right(ictx), ictx.out(0).qmax

        def run(*args):
            y, *rest = kernel(*args)
            return (np.minimum(y.astype(np.int64) + 2, top).astype(y.dtype), *rest)

        return run

    int_ops._REGISTRY[op] = shifted


def _qdq_sqnr(q, graph, ev) -> tuple[float | None, str | None]:
    import onnxruntime as ort

    from workbench.engine.executor import Plan
    from workbench.engine.quant.analysis import _Energy
    from workbench.engine.quant.qdq import export_qdq

    try:
        opts = ort.SessionOptions()
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
        opts.intra_op_num_threads = 2
        sess = ort.InferenceSession(
            export_qdq(q).SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # an export or ORT refusal is a finding, not a crash
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    plan, energy = Plan(graph), _Energy()
    names = graph.output_names
    for f in ev:
        ref = plan.run(f)
        got = dict(zip(names, sess.run(names, f), strict=True))
        for n in names:
            if np.asarray(ref[n]).dtype.kind == "f":
                energy.add(ref[n], got[n])
    return _finite(energy.sqnr_db), None


def _worker(name: str, inputs: str, args, conn) -> None:
    try:
        conn.send(measure(name, inputs, args))
    except Exception as exc:
        conn.send({"model": name, "inputs": inputs, "error": f"{type(exc).__name__}: {exc}"})


# -- printing -----------------------------------------------------------------------------


def _db(v) -> str:
    return "-" if v is None else f"{v:.1f}"


HEAD = (
    f"{'model':<20} {'inputs':<7} {'cal':>3} {'fq dB':>6} {'int0 dB':>7} {'int1 dB':>7} "
    f"{'QDQ ORT':>7} {'op LSB 0/1':>10} {'exact':>5} {'rms step':>8}  worst op (JIT 1)"
)


def line(r: dict) -> str:
    if "error" in r:
        return f"{r['model']:<20} {r['inputs']:<7} error: {r['error']}"
    lsb = (
        f"{r.get('op_lsb_jit0', '-'):g}/{r.get('op_lsb_jit1', '-'):g}"
        if "op_lsb_jit0" in r
        else "-"
    )
    qdq = _db(r.get("qdq_ort_db")) if not r.get("qdq_error") else "err"
    flag = "" if r.get("int_jit0_ok") and r.get("int_jit1_ok") else " CHECK FAILED"
    return (
        f"{r['model']:<20} {r['inputs']:<7} {r['calibration']:>3} {_db(r['fake_quant_db']):>6} "
        f"{_db(r['int_jit0_db']):>7} {_db(r['int_jit1_db']):>7} {qdq:>7} {lsb:>10} "
        f"{_exact(r):>5} {_step(r.get('int_jit1_lsb_rms')):>8}  "
        f"{r.get('op_where_jit1', '-')}{flag}"
    )


def _step(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _exact(r: dict) -> str:
    return ("J" if r.get("jit_exact") else "-") + ("F" if r.get("fusion_exact") else "-")


def markdown(rows: list[dict]) -> str:
    out = [
        "| model | inputs | calibration / eval | fake-quant dB | int-true JIT 0 dB | "
        "int-true JIT 1 dB | QDQ in ORT dB | worst op LSB (JIT 0 / 1) | bit-exact | "
        "int vs fq, RMS steps | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | {r['inputs']} | error: {r['error']} |||||||||")
            continue
        lsb = f"{r.get('op_lsb_jit0', '-'):g} / {r.get('op_lsb_jit1', '-'):g}"
        qdq = _db(r.get("qdq_ort_db")) if not r.get("qdq_error") else f"({r['qdq_error']})"
        out.append(
            f"| {r['model']} | {r['inputs']} | {r['calibration']} / {r['eval']} | "
            f"{_db(r['fake_quant_db'])} | {_db(r['int_jit0_db'])} | {_db(r['int_jit1_db'])} | "
            f"{qdq} | {lsb} | {_exact(r)} | {_step(r.get('int_jit1_lsb_rms'))} | "
            f"{r['seconds']:.0f} |"
        )
    return "\n".join(out)


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cpus)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated")
    ap.add_argument("--inputs", choices=["images", "noise", "both"], default="both")
    ap.add_argument("--calibration", type=int, default=16, help="image samples to calibrate")
    ap.add_argument("--eval", type=int, default=4, help="other image samples to measure")
    ap.add_argument("--no-qdq", action="store_true", help="skip the QDQ export in ORT")
    ap.add_argument("--no-local", action="store_true", help="skip the per-op bisection")
    ap.add_argument("--plant", default="", help="plant a defect in this op's integer kernel")
    ap.add_argument("--json", type=Path, help="write every number here")
    ap.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = ap.parse_args()
    settings = ["noise", "images"] if args.inputs == "both" else [args.inputs]
    print(f"# start: {uptime()}", flush=True)
    print(HEAD)
    print("-" * len(HEAD), flush=True)
    rows = []
    ctx = mp.get_context("spawn")
    for name in [m for m in args.models.split(",") if m]:
        for inputs in settings:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(name, inputs, args, child))
            proc.start()
            row = parent.recv() if parent.poll(3600) else {"model": name, "inputs": inputs}
            proc.join(30)
            if proc.exitcode not in (0, None) and "fake_quant_db" not in row:
                row.setdefault("error", f"worker exit code {proc.exitcode}")
            rows.append(row)
            print(line(row), flush=True)
    print(f"# end: {uptime()}")
    if args.markdown:
        print()
        print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
