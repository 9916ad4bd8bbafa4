"""Integer-true fixed-point latency against ONNX Runtime float, side by side.

    python tests/perf/bench_int.py [--iterations 10] [--models resnet50,squeezenet,demo]
        [--threads 2] [--profile]

Target (SPEC §8): integer-true emulation ≤ 3× ONNX Runtime float latency (2 threads).
Models: the bundled demo model when present, and the ``light`` resnet50 / squeezenet
shipped with the onnx package, whose ConstantOfShape-filled weights are replaced by
random He-scaled ones so quantization means something. SQNRs are of the logits when
the model ends in Softmax (a saturated softmax would hide every error). Each model is quantized by the
test fixture (tf encodings from 4 random samples, 8-bit per-channel weights, 32-bit
bias) and evaluated on a fresh random input. Columns: ORT float ms, our float ms,
our fake-quant ms, our integer ms, int / ORT, and output SQNR of int vs float and of
int vs fake-quant, plus the nodes that fell back to float.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _option(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


# BLAS reads these once, at import: set them before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _option("--blas-threads", _option("--threads", "2")))

import numpy  # noqa: E402,F401  (imported after the BLAS thread variables are set)
import onnx  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.engine.quant.qfixtures import feeds_for, quantize_for_tests, randomize_weights  # noqa: E402
from workbench.engine.executor import Plan  # noqa: E402
from workbench.engine.onnx_import import import_onnx  # noqa: E402
from workbench.engine.quant.fakequant import FakeQuantPlan  # noqa: E402
from workbench.engine.quant.int_exec import IntegerPlan  # noqa: E402
from workbench.engine.quant.sqnr import sqnr_db  # noqa: E402


def model_paths() -> dict[str, tuple[Path, bool]]:
    """name -> (path, randomize weights)."""
    light = Path(onnx.__file__).parent / "backend/test/data/light"
    paths = {}
    for name in ("resnet50", "squeezenet"):
        p = light / f"light_{name}.onnx"
        if p.exists():
            paths[name] = (p, True)
    try:
        from workbench.data import demo_dir

        demo = demo_dir() / "demo.onnx"
        if demo.exists():
            paths["demo"] = (demo, False)
    except Exception:  # the demo is optional for this script
        pass
    for p in sorted(glob.glob(str(ROOT / "workbench/data/demo/*.onnx"))):
        paths.setdefault("demo", (Path(p), False))
    return paths


def ort_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def timed(fns: dict[str, object], iterations: int, warmup: int = 2) -> dict[str, float]:
    """Median wall time of each function in ms, run in interleaved rounds.

    Interleaving gives every contender the same share of a busy machine's bad moments.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(iterations):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def profile(plan: IntegerPlan, feeds) -> list[tuple[str, float]]:
    """Time per op type of one integer run (ms), slowest first."""
    totals: collections.Counter[str] = collections.Counter()
    steps = plan._plan.steps
    original = [s.kernel for s in steps]
    try:
        for s in steps:

            def timed_kernel(*args, _k=s.kernel, _op=s.node.op_type):
                t0 = time.perf_counter()
                out = _k(*args)
                totals[_op] += (time.perf_counter() - t0) * 1e3
                return out

            object.__setattr__(s, "kernel", timed_kernel)
        plan.run(feeds)
    finally:
        for s, k in zip(steps, original, strict=True):
            object.__setattr__(s, "kernel", k)
    return totals.most_common()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--models", default="", help="comma-separated subset")
    ap.add_argument("--threads", type=int, default=2, help="ORT intra-op threads (and BLAS)")
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="numpy BLAS threads if not --threads (1 is faster on a busy machine)",
    )
    ap.add_argument("--profile", action="store_true", help="time per op type of the int run")
    args = ap.parse_args()

    paths = model_paths()
    wanted = [m for m in args.models.split(",") if m] or list(paths)
    header = (
        f"{'model':<11} {'ORT ms':>8} {'float ms':>9} {'fq ms':>8} {'int ms':>8} "
        f"{'int/ORT':>8} {'int~float dB':>13} {'fq~float dB':>12} {'int~fq dB':>10}  fallback"
    )
    print(header)
    print("-" * len(header))
    for name in wanted:
        path, randomize = paths[name]
        sess = ort_session(path, args.threads)
        graph = import_onnx(path)
        if randomize:
            graph = randomize_weights(graph)
        feeds = feeds_for(graph, 1, seed=123)[0]

        container = quantize_for_tests(graph, feeds_for(graph, 4, seed=7))
        out = graph.output_names[0]
        last = graph.producers()[out]
        if last.op_type == "Softmax":  # a saturated softmax hides the error: use the logits
            out = last.inputs[0]
        float_plan = Plan(graph, keep=[out])
        fq_plan = FakeQuantPlan(container, keep=[out])
        int_plan = IntegerPlan(container, keep=[out])
        y_float = float_plan.run(feeds)[out]
        y_fq = fq_plan.run(feeds)[out]
        y_int = int_plan.run(feeds)[out]
        ms = timed(
            {
                "ort": lambda: sess.run(None, feeds),  # noqa: B023
                "float": lambda: float_plan.run(feeds),  # noqa: B023
                "fq": lambda: fq_plan.run(feeds),  # noqa: B023
                "int": lambda: int_plan.run(feeds),  # noqa: B023
            },
            args.iterations,
        )
        ort_ms, float_ms, fq_ms, int_ms = ms["ort"], ms["float"], ms["fq"], ms["int"]
        fallback = ",".join(sorted({op for _, op in int_plan.float_fallback_nodes})) or "-"
        print(
            f"{name:<11} {ort_ms:>8.1f} {float_ms:>9.1f} {fq_ms:>8.1f} {int_ms:>8.1f} "
            f"{int_ms / ort_ms:>7.2f}x {sqnr_db(y_float, y_int):>13.1f} "
            f"{sqnr_db(y_float, y_fq):>12.1f} {sqnr_db(y_fq, y_int):>10.1f}  {fallback}",
            flush=True,
        )
        if args.profile:
            for op, ms in profile(int_plan, feeds):
                print(f"    {op:<20} {ms:8.2f} ms")


if __name__ == "__main__":
    main()
