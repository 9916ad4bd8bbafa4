"""How closely the QDQ export run by ONNX Runtime agrees with our paths, on real images.

    python tests/perf/qdq_agreement.py [--rounding half-away|half-even]
        [--bias-bitwidth 8|32] [--per-channel] [--images N]

Quantizes the bundled demo model (its 48 calibration images, the quantizer's default
options unless given), exports it as QDQ ONNX, and runs the demo's validation images
(200) through ONNX Runtime on the QDQ semantics (``session.disable_quant_qdq``), ORT
with its QDQ fusions (its integer kernels), our fake-quant path and our integer path.
Every output (``logits``, ``probabilities``) is compared as codes of its own encoding:
the share of codes that are equal, within 1 LSB, and the worst difference. Also counts
the input values that sit exactly on a tie (``x / delta`` an exact half in the float32
arithmetic ``quantize`` uses): the demo's ``pixel / 255`` inputs do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from workbench.data import demo_model_path, load_demo_images  # noqa: E402
from workbench.engine.container import Container, make_manifest  # noqa: E402
from workbench.engine.onnx_import import import_onnx  # noqa: E402
from workbench.engine.quant.encoding import Encoding, quantize  # noqa: E402
from workbench.engine.quant.fakequant import FakeQuantPlan  # noqa: E402
from workbench.engine.quant.int_exec import IntegerPlan  # noqa: E402
from workbench.engine.quant.qdq import export_qdq  # noqa: E402
from workbench.engine.quant.quantizer import QuantOptions, quantize_container  # noqa: E402

OUTPUTS = ("logits", "probabilities")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounding", default="half-away")
    p.add_argument("--bias-bitwidth", type=int, default=8)
    p.add_argument("--per-channel", action="store_true")
    p.add_argument("--images", type=int, default=200)
    args = p.parse_args()
    options = QuantOptions(
        rounding=args.rounding, bias_bitwidth=args.bias_bitwidth, per_channel=args.per_channel
    )
    graph = import_onnx(demo_model_path())
    calibration = [{"image": x[None]} for x in load_demo_images("calibration")]
    float_container = Container(make_manifest(converter={"command": "demo"}), graph)
    q = quantize_container(float_container, calibration, options).container
    model = export_qdq(q).SerializeToString()
    qdq_opts = ort.SessionOptions()
    qdq_opts.add_session_config_entry("session.disable_quant_qdq", "1")
    runners = {
        "ORT QDQ": ort.InferenceSession(model, qdq_opts, providers=["CPUExecutionProvider"]),
        "ORT fused": ort.InferenceSession(model, providers=["CPUExecutionProvider"]),
    }
    ours = {
        "fake-quant": FakeQuantPlan(q, keep=OUTPUTS),
        "integer": IntegerPlan(q, keep=OUTPUTS),
    }
    encs = {o: Encoding.from_dict(q.encodings[o]) for o in OUTPUTS}
    pairs = [("ORT QDQ", "fake-quant"), ("ORT QDQ", "integer"), ("ORT fused", "integer"),
             ("fake-quant", "integer")]  # fmt: skip
    diffs: dict[tuple[str, str, str], list[np.ndarray]] = {}
    images = load_demo_images("validation")[: args.images]
    for x in images:
        feed = {"image": x[None]}
        codes = {}
        for name, sess in runners.items():
            got = dict(zip(OUTPUTS, sess.run(list(OUTPUTS), feed), strict=True))
            codes[name] = {o: quantize(got[o], encs[o], q.rounding) for o in OUTPUTS}
        for name, plan in ours.items():
            got = plan.run(feed)
            codes[name] = {o: quantize(got[o], encs[o], q.rounding) for o in OUTPUTS}
        for a, b in pairs:
            for o in OUTPUTS:
                d = np.abs(codes[a][o].astype(np.int64) - codes[b][o].astype(np.int64)).ravel()
                diffs.setdefault((a, b, o), []).append(d)
    print(f"demo, {len(images)} validation images, options: rounding={q.rounding}, "
          f"bias {args.bias_bitwidth}-bit, per-channel={args.per_channel}")  # fmt: skip
    print(f"{'pair':<26}{'output':<15}{'codes':>7}{'exact':>9}{'<=1 LSB':>9}{'worst':>7}")
    for a, b in pairs:
        for o in (*OUTPUTS, "all"):
            keys = [(a, b, o)] if o != "all" else [(a, b, k) for k in OUTPUTS]
            d = np.concatenate([v for k in keys for v in diffs[k]])
            print(f"{a + ' vs ' + b:<26}{o:<15}{d.size:>7}{np.mean(d == 0):>9.2%}"
                  f"{np.mean(d <= 1):>9.2%}{int(d.max()):>7}")  # fmt: skip
    enc = Encoding.from_dict(q.encodings["image"])
    v = images.astype(np.float32) / np.float32(enc.delta)
    ties = int(np.count_nonzero(np.abs(v - np.trunc(v)) == np.float32(0.5)))
    print(f"input values on a tie (x / delta an exact half, float32): {ties} of {v.size}")


if __name__ == "__main__":
    main()
