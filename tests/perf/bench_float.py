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
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from workbench.engine.executor import Plan
from workbench.engine.onnx_import import import_onnx


def transformer_block(path: Path, seq: int = 128, dim: int = 256, heads: int = 4) -> Path:
    """One pre-norm encoder block: LayerNorm, MHA (MatMul/Softmax), GELU MLP."""
    rng = np.random.default_rng(0)
    hd = dim // heads

    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.05).astype(np.float32), name)

    inits = [
        w("ln_s", dim),
        w("ln_b", dim),
        w("wq", dim, dim),
        w("wk", dim, dim),
        w("wv", dim, dim),
        w("wo", dim, dim),
        w("w1", dim, 4 * dim),
        w("b1", 4 * dim),
        w("w2", 4 * dim, dim),
        numpy_helper.from_array(np.array([1, seq, heads, hd], np.int64), "split_shape"),
        numpy_helper.from_array(np.array([1, seq, dim], np.int64), "merge_shape"),
        numpy_helper.from_array(np.array(1.0 / np.sqrt(hd), np.float32), "scale"),
    ]
    n = helper.make_node
    nodes = [
        n("LayerNormalization", ["x", "ln_s", "ln_b"], ["h"], axis=-1),
        n("MatMul", ["h", "wq"], ["q0"]),
        n("MatMul", ["h", "wk"], ["k0"]),
        n("MatMul", ["h", "wv"], ["v0"]),
        n("Reshape", ["q0", "split_shape"], ["q1"]),
        n("Reshape", ["k0", "split_shape"], ["k1"]),
        n("Reshape", ["v0", "split_shape"], ["v1"]),
        n("Transpose", ["q1"], ["q"], perm=[0, 2, 1, 3]),
        n("Transpose", ["k1"], ["kt"], perm=[0, 2, 3, 1]),
        n("Transpose", ["v1"], ["v"], perm=[0, 2, 1, 3]),
        n("MatMul", ["q", "kt"], ["s0"]),
        n("Mul", ["s0", "scale"], ["s"]),
        n("Softmax", ["s"], ["p"], axis=-1),
        n("MatMul", ["p", "v"], ["a0"]),
        n("Transpose", ["a0"], ["a1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["a1", "merge_shape"], ["a2"]),
        n("MatMul", ["a2", "wo"], ["a"]),
        n("Add", ["x", "a"], ["r1"]),
        n("LayerNormalization", ["r1", "ln_s", "ln_b"], ["h2"], axis=-1),
        n("MatMul", ["h2", "w1"], ["m0"]),
        n("Add", ["m0", "b1"], ["m1"]),
        n("Gelu", ["m1"], ["m2"]),
        n("MatMul", ["m2", "w2"], ["m3"]),
        n("Add", ["r1", "m3"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        "transformer_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, seq, dim])],
        initializer=inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


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
