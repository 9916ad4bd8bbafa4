"""Float emulation latency, side by side: ONNX Runtime, ours, onnx.reference.

    python tests/perf/bench_float.py [--iterations 20] [--models resnet50,squeezenet]
        [--reference-budget 120]

Targets (SPEC §8): ours ≤ 1.5× ONNX Runtime (2 threads), ≥ 100× faster than
``onnx.reference.ReferenceEvaluator``. Models: the ``light`` architectures that
ship with the onnx package (their weights are ConstantOfShape fills, folded by
our converter), the bundled demo model, and a transformer encoder block built
here. Every row also checks our output against ONNX Runtime.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for tests.*

from tests.engine.quant.qfixtures import attention_model  # noqa: E402
from workbench.engine.executor import Plan  # noqa: E402
from workbench.engine.onnx_import import import_onnx  # noqa: E402


def transformer_block(path: Path, seq: int = 128, dim: int = 256, heads: int = 4) -> Path:
    """One encoder block (the tests' attention fixture) at a BERT-small-like size."""
    return attention_model(path, seq=seq, dim=dim, heads=heads, mlp=4)


def model_paths(tmp: Path) -> dict[str, Path]:
    light = Path(onnx.__file__).parent / "backend/test/data/light"
    paths = {
        Path(p).stem.removeprefix("light_"): Path(p) for p in sorted(glob.glob(f"{light}/*.onnx"))
    }
    try:
        from workbench.data import demo_dir

        paths["demo"] = demo_dir() / "demo.onnx"
    except Exception:  # the demo is optional for this script
        pass
    paths["transformer_block"] = transformer_block(tmp / "transformer_block.onnx")
    return paths


def ort_session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def timed(fn, iterations: int, warmup: int = 2, budget_s: float | None = None) -> float:
    """Median wall time of ``fn`` in ms (fewer iterations if ``budget_s`` runs out)."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if budget_s is not None and time.perf_counter() - start > budget_s:
            break
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--models", default="", help="comma-separated subset")
    ap.add_argument("--reference-budget", type=float, default=60.0, help="seconds per model")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = model_paths(Path(tmp))
        wanted = [m for m in args.models.split(",") if m] or list(paths)
        header = f"{'model':<18} {'ORT ms':>9} {'ours ms':>9} {'ref ms':>11} {'ours/ORT':>9} {'ref/ours':>9} {'max rel err':>12}"
        print(header)
        print("-" * len(header))
        for name in wanted:
            path = paths[name]
            sess = ort_session(path)
            inp = sess.get_inputs()[0]
            shape = [d if isinstance(d, int) else 1 for d in inp.shape]
            x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
            feeds = {inp.name: x}
            ort_out = sess.run(None, feeds)[0]
            ort_ms = timed(lambda: sess.run(None, feeds), args.iterations)  # noqa: B023

            graph = import_onnx(path)
            plan = Plan(graph)
            ours_out = plan.run(feeds)[graph.output_names[0]]
            ours_ms = timed(lambda: plan.run(feeds), args.iterations)  # noqa: B023
            scale = float(np.abs(ort_out).max()) or 1.0
            err = float(np.abs(ours_out - ort_out).max()) / scale

            from onnx.reference import ReferenceEvaluator

            ref = ReferenceEvaluator(str(path))
            ref_ms = timed(
                lambda: ref.run(None, feeds),  # noqa: B023
                3,
                warmup=0,
                budget_s=args.reference_budget,
            )
            print(
                f"{name:<18} {ort_ms:>9.2f} {ours_ms:>9.2f} {ref_ms:>11.1f} "
                f"{ours_ms / ort_ms:>8.2f}x {ref_ms / ours_ms:>8.0f}x {err:>12.2e}",
                flush=True,
            )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
