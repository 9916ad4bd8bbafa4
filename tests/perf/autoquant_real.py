"""Autoquant on a real recogniser: default, best single knob, autoquant, ORT quantize_static.

    python tests/perf/autoquant_real.py [--goal 'sqnr>=25'] [--calibration 16] [--eval 8]
        [--budget-minutes 40] [--workdir DIR] [--json out.json]

The model is PP-OCRv4's text recogniser (SVTR-LCNet, 48x320, 397 layers) from the
``rapidocr-onnxruntime==1.4.4`` wheel (``mobile_models.fetch``: pip download into the
user cache), converted with its input pinned to 1x3x48x320. Calibration and evaluation
are distinct synthetic text lines in the model's own normalisation
(``int_accuracy.image_feeds``: glyph strokes on paper). Every number is the output SQNR
against the float model on the eval lines:

* **default**: ``quantize`` with no option (tf, W8A8 per-tensor, 8-bit biases),
  integer-true on the DSP (the quantize job's headline);
* **single knobs**: each option alone on top of the default (enhanced, percentile,
  per-channel, 32-bit biases, CLE+BC); the best one is the table's "best single knob";
* **autoquant**: ``autoquant_job`` with ``--goal`` on the DSP: its chosen candidate, its
  mix (layers with 16-bit outputs or weights, float layers) and how many candidates;
* **ORT quantize_static**: QDQ, MinMax, per-tensor uint8 activations and weights, on the
  same calibration lines, run by ONNX Runtime's CPU provider against ORT float.

``uptime`` is printed at the start and the end: the figures are accuracies, not times,
but the autoquant budget is wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.perf.int_accuracy import image_feeds  # noqa: E402
from tests.perf.mobile_models import PUBLISHED, fetch  # noqa: E402

MODEL = "ppocr_v4_rec"
SHAPE = (1, 3, 48, 320)
KNOBS = {
    "enhanced": {"act_quantizer": "enhanced", "param_quantizer": "enhanced"},
    "percentile": {"act_quantizer": "percentile"},
    "per-channel": {"per_channel": True},
    "bias 32": {"bias_bitwidth": 32},
    "cle+bc": {"algorithms": ("cle", "bc")},
}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def write_lists(folder: Path, n_cal: int, n_eval: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    lists = []
    for kind, seeds in (("cal", range(n_cal)), ("eval", range(10_000, 10_000 + n_eval))):
        lines = []
        for seed in seeds:
            path = folder / f"{kind}{seed}.npy"
            np.save(path, image_feeds(MODEL, {"x": SHAPE}, seed)["x"])
            lines.append(str(path))
        listing = folder / f"{kind}.txt"
        listing.write_text("\n".join(lines) + "\n")
        lists.append(listing)
    return lists[0], lists[1]


def pinned_onnx(path: Path, folder: Path) -> Path:
    import onnx

    model = onnx.load(path)
    for inp in model.graph.input:
        for d, v in zip(inp.type.tensor_type.shape.dim, SHAPE, strict=True):
            d.ClearField("dim_param")
            d.dim_value = v
    out = folder / path.name
    onnx.save(model, out)
    return out


def ort_static(onnx_path: Path, cal: Path, evl: Path, folder: Path) -> float:
    """ORT quantize_static (QDQ, MinMax, per-tensor uint8) output SQNR vs ORT float."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    files = cal.read_text().split()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(files)

        def get_next(self):
            f = next(self.it, None)
            return None if f is None else {"x": np.load(f)}

    out = folder / "ort_static.onnx"
    quantize_static(
        str(onnx_path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=False,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )  # fmt: skip
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    ref = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    q = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    signal = noise = 0.0
    for f in evl.read_text().split():
        x = {"x": np.load(f)}
        r = ref.run(None, x)[0].astype(np.float64)
        y = q.run(None, x)[0].astype(np.float64)
        signal += float(np.sum(r**2))
        noise += float(np.sum((r - y) ** 2))
    return 10 * np.log10(signal / noise)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--goal", default="sqnr>=25")
    parser.add_argument("--calibration", type=int, default=16)
    parser.add_argument("--eval", type=int, default=8)
    parser.add_argument("--budget-minutes", type=float, default=40.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip-knobs", action="store_true", help="Only default and autoquant.")
    parser.add_argument("--knobs-json", type=Path, default=None,
                        help="Default and knob rows measured before (same data: knobs.json "
                             "of an earlier --workdir), instead of measuring them again.")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from workbench.jobs.autoquant import AutoquantRequest, autoquant_job
    from workbench.jobs.convert import convert_model
    from workbench.jobs.quantize import QuantizeRequest, quantize_job
    from workbench.options import QuantOptions
    from workbench.store.database import open_store

    print(f"start: {uptime()}", flush=True)
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="autoquant_real_"))
    folder.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{folder / 'wb.db'}")
    onnx_path = pinned_onnx(fetch(PUBLISHED[MODEL]), folder)
    dlc = folder / "rec.dlc"
    convert_model(store, "default", onnx_path, dlc)
    cal, evl = write_lists(folder / "data", args.calibration, args.eval)
    rows: list[dict] = []

    def quantize(name: str, **options) -> dict:
        started = time.perf_counter()
        request = QuantizeRequest(dlc, cal, folder / f"{name.replace(' ', '_')}.dlc",
                                  QuantOptions(**options), analyze=False, eval_list=evl)  # fmt: skip
        result = quantize_job(store, "default", request)
        row = {"what": name, "sqnr_db": result.sqnr_db, "size_bytes": result.size_bytes,
               "seconds": time.perf_counter() - started}  # fmt: skip
        print(f"{name}: {result.sqnr_db:.2f} dB, {result.size_bytes:,} bytes", flush=True)
        return row

    if args.knobs_json is not None and args.knobs_json.exists():
        rows += json.loads(args.knobs_json.read_text())
        print(f"default and knobs from {args.knobs_json}", flush=True)
    else:
        rows.append(quantize("default"))
        if not args.skip_knobs:
            knobs = [quantize(name, **options) for name, options in KNOBS.items()]
            best = max(knobs, key=lambda r: r["sqnr_db"])
            rows += [{**r, "what": f"knob: {r['what']}"} for r in knobs]
            rows.append({**best, "what": f"best single knob ({best['what']})"})
        (folder / "knobs.json").write_text(json.dumps(rows, indent=1))

    started = time.perf_counter()
    request = AutoquantRequest(dlc, cal, evl, folder / "best.dlc",
                               {"goal": args.goal, "budget_minutes": args.budget_minutes})  # fmt: skip
    result = autoquant_job(
        store, "default", request, progress=lambda s, d, t: print(f"  {s} {d}/{t}", end="\r")
    )
    print()
    for c in result.candidates:
        share = f"{c.wide_share:.1%}" if c.wide_share is not None else "-"
        print(f"  #{c.index} {c.label}: {c.sqnr_db} dB, {c.size_bytes} B, "
              f">8 bit {c.wide_layers}/{c.layers} ({share}), float {c.float_layers}, "
              f"{c.seconds:.0f}s{'  MEETS' if c.meets else ''}", flush=True)  # fmt: skip
    for line in result.skipped:
        print(f"  skipped: {line}")
    print(result.why)
    chosen = result.candidate(result.chosen)
    rows.append({
        "what": f"autoquant ({chosen.label})" if chosen else "autoquant (nothing)",
        "sqnr_db": chosen.sqnr_db if chosen else None,
        "size_bytes": chosen.size_bytes if chosen else None,
        "wide_layers": chosen.wide_layers if chosen else None,
        "layers": chosen.layers if chosen else None,
        "float_layers": chosen.float_layers if chosen else None,
        "wide_names": list(chosen.wide_names) if chosen else [],
        "candidates": len(result.candidates),
        "met": result.met,
        "seconds": time.perf_counter() - started,
    })  # fmt: skip
    try:
        rows.append({"what": "ORT quantize_static (QDQ, MinMax, per-tensor u8)",
                     "sqnr_db": ort_static(onnx_path, cal, evl, folder)})  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - the table still prints
        rows.append({"what": f"ORT quantize_static failed: {exc}", "sqnr_db": None})

    end = uptime()
    print(f"\n{MODEL}, {args.calibration} calibration / {args.eval} eval text lines, "
          f"output SQNR vs float on the eval lines\n")  # fmt: skip
    print("| configuration | output SQNR | size | layers > 8 bits | float layers |")
    print("|---|---|---|---|---|")
    for r in rows:
        wide = (f"{r['wide_layers']}/{r['layers']} ({r['wide_layers'] / r['layers']:.1%})"
                if r.get("layers") else "-")  # fmt: skip
        sqnr = "-" if r.get("sqnr_db") is None else f"{r['sqnr_db']:.2f} dB"
        size = f"{r['size_bytes'] / 2**20:.2f} MiB" if r.get("size_bytes") else "-"
        print(f"| {r['what']} | {sqnr} | {size} | {wide} | {r.get('float_layers', '-')} |")
    print(f"\nend: {end}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "why": result.why}, indent=1, default=str))


if __name__ == "__main__":
    main()
