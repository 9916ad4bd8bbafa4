"""Micro-benchmark of the heavy float kernels against ONNX Runtime (CPU, 2 threads).

    python tests/perf/bench_kernels.py [--reps 30] [--filter conv]

Prints, per case, ONNX Runtime's latency, ours and the ratio (ours / ORT). Both
sides run the same one-node model with weights as initializers; rounds of the two
are interleaved and each side reports its best round (the 25th percentile too),
so a busy machine hurts both alike.

On a shared, busy machine wall times swing wildly (OpenBLAS threads suffer most);
``--cpu`` compares single-thread CPU time instead: ORT with one intra-op thread
(it then runs on the calling thread) against ours with whatever BLAS threads the
environment gives, so run it as ``OPENBLAS_NUM_THREADS=1 python ... --cpu``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo

_RNG = np.random.default_rng(0)


def _f(*shape: int) -> np.ndarray:
    return _RNG.standard_normal(shape).astype(np.float32)


@dataclass
class Case:
    name: str
    op: str
    x: np.ndarray
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    opset: int = 17


def _cases() -> list[Case]:
    bn = {"s": _f(64), "b": _f(64), "m": _f(64), "v": np.abs(_f(64)) + 0.1}
    ln = {"s": _f(768), "b": _f(768)}
    return [
        Case(
            "conv 3x3 64->64 @56 (resnet)",
            "Conv",
            _f(1, 64, 56, 56),
            {"w": _f(64, 64, 3, 3), "b": _f(64)},
            {"pads": [1, 1, 1, 1]},
        ),
        Case(
            "conv 3x3 128->128 @28",
            "Conv",
            _f(1, 128, 28, 28),
            {"w": _f(128, 128, 3, 3), "b": _f(128)},
            {"pads": [1, 1, 1, 1]},
        ),
        Case(
            "conv 3x3 256->256 @14",
            "Conv",
            _f(1, 256, 14, 14),
            {"w": _f(256, 256, 3, 3), "b": _f(256)},
            {"pads": [1, 1, 1, 1]},
        ),
        Case(
            "conv 3x3 512->512 @7",
            "Conv",
            _f(1, 512, 7, 7),
            {"w": _f(512, 512, 3, 3), "b": _f(512)},
            {"pads": [1, 1, 1, 1]},
        ),
        Case(
            "conv 3x3 s2 128->128 @56",
            "Conv",
            _f(1, 128, 56, 56),
            {"w": _f(128, 128, 3, 3), "b": _f(128)},
            {"pads": [1, 1, 1, 1], "strides": [2, 2]},
        ),
        Case(
            "conv 1x1 256->64 @56",
            "Conv",
            _f(1, 256, 56, 56),
            {"w": _f(64, 256, 1, 1), "b": _f(64)},
        ),
        Case(
            "conv 1x1 64->256 @56",
            "Conv",
            _f(1, 64, 56, 56),
            {"w": _f(256, 64, 1, 1), "b": _f(256)},
        ),
        Case(
            "conv 1x1 s2 512->1024 @28",
            "Conv",
            _f(1, 512, 28, 28),
            {"w": _f(1024, 512, 1, 1)},
            {"strides": [2, 2]},
        ),
        Case(
            "conv 7x7 s2 stem 3->64 @224",
            "Conv",
            _f(1, 3, 224, 224),
            {"w": _f(64, 3, 7, 7), "b": _f(64)},
            {"pads": [3, 3, 3, 3], "strides": [2, 2]},
        ),
        Case(
            "conv 3x3 s2 stem 3->32 @224",
            "Conv",
            _f(1, 3, 224, 224),
            {"w": _f(32, 3, 3, 3), "b": _f(32)},
            {"pads": [1, 1, 1, 1], "strides": [2, 2]},
        ),
        Case(
            "conv 3x3 64->64 @224 (vgg)",
            "Conv",
            _f(1, 64, 224, 224),
            {"w": _f(64, 64, 3, 3), "b": _f(64)},
            {"pads": [1, 1, 1, 1]},
        ),
        Case(
            "dwconv 3x3 32 @112",
            "Conv",
            _f(1, 32, 112, 112),
            {"w": _f(32, 1, 3, 3), "b": _f(32)},
            {"pads": [1, 1, 1, 1], "group": 32},
        ),
        Case(
            "dwconv 3x3 s2 96 @112",
            "Conv",
            _f(1, 96, 112, 112),
            {"w": _f(96, 1, 3, 3), "b": _f(96)},
            {"pads": [1, 1, 1, 1], "group": 96, "strides": [2, 2]},
        ),
        Case(
            "dwconv 3x3 576 @14",
            "Conv",
            _f(1, 576, 14, 14),
            {"w": _f(576, 1, 3, 3), "b": _f(576)},
            {"pads": [1, 1, 1, 1], "group": 576},
        ),
        Case(
            "dwconv 5x5 240 @28",
            "Conv",
            _f(1, 240, 28, 28),
            {"w": _f(240, 1, 5, 5), "b": _f(240)},
            {"pads": [2, 2, 2, 2], "group": 240},
        ),
        Case(
            "conv 3x3 128->32 @56 (densenet)",
            "Conv",
            _f(1, 128, 56, 56),
            {"w": _f(32, 128, 3, 3), "b": _f(32)},
            {"pads": [1, 1, 1, 1]},
        ),
        Case(
            "group conv 3x3 g32 128 @56",
            "Conv",
            _f(1, 128, 56, 56),
            {"w": _f(128, 4, 3, 3)},
            {"pads": [1, 1, 1, 1], "group": 32},
        ),
        Case(
            "inception conv 1x7 128 @17",
            "Conv",
            _f(1, 128, 17, 17),
            {"w": _f(128, 128, 1, 7)},
            {"pads": [0, 3, 0, 3]},
        ),
        Case(
            "convT 4x4 s2 256->128 @16",
            "ConvTranspose",
            _f(1, 256, 16, 16),
            {"w": _f(256, 128, 4, 4)},
            {"strides": [2, 2], "pads": [1, 1, 1, 1]},
        ),
        Case(
            "maxpool 3x3 s2 64 @112",
            "MaxPool",
            _f(1, 64, 112, 112),
            {},
            {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        ),
        Case(
            "maxpool 2x2 s2 64 @224 (vgg)",
            "MaxPool",
            _f(1, 64, 224, 224),
            {},
            {"kernel_shape": [2, 2], "strides": [2, 2]},
        ),
        Case(
            "avgpool 3x3 s1 192 @28",
            "AveragePool",
            _f(1, 192, 28, 28),
            {},
            {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
        ),
        Case("globalavgpool 2048 @7", "GlobalAveragePool", _f(1, 2048, 7, 7)),
        Case("batchnorm 64 @112", "BatchNormalization", _f(1, 64, 112, 112), bn),
        Case("layernorm 128x768", "LayerNormalization", _f(1, 128, 768), ln),
        Case(
            "gemm 1x2048 -> 1000",
            "Gemm",
            _f(1, 2048),
            {"w": _f(1000, 2048), "b": _f(1000)},
            {"transB": 1},
        ),
        Case("matmul 128x768 @ 768x3072", "MatMul", _f(1, 128, 768), {"w": _f(768, 3072)}),
        Case(
            "resize nearest x2 256 @20",
            "Resize",
            _f(1, 256, 20, 20),
            {"roi": np.zeros(0, np.float32), "sc": np.array([1, 1, 2, 2], np.float32)},
            {"mode": "nearest"},
        ),
        Case(
            "resize linear x2 64 @56",
            "Resize",
            _f(1, 64, 56, 56),
            {"roi": np.zeros(0, np.float32), "sc": np.array([1, 1, 2, 2], np.float32)},
            {"mode": "linear"},
        ),
        Case(
            "pad reflect 64 @56",
            "Pad",
            _f(1, 64, 56, 56),
            {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)},
            {"mode": "reflect"},
        ),
    ]


def _onnx_model(case: Case) -> onnx.ModelProto:
    inputs = ["x", *case.consts]
    node = helper.make_node(case.op, inputs, ["y"], **case.attrs)
    graph = helper.make_graph(
        [node],
        "bench",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, case.x.shape)],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in case.consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", case.opset)])
    model.ir_version = 9
    return model


def _ours(case: Case) -> Plan:
    graph = Graph(
        name="bench",
        inputs=[TensorInfo("x", tuple(case.x.shape))],
        outputs=[TensorInfo("y", ())],
        nodes=[Node(case.op, case.op, ("x", *case.consts), ("y",), dict(case.attrs))],
        params=dict(case.consts),
        tensors={"x": TensorInfo("x", tuple(case.x.shape))},
        opset=case.opset,
    )
    return Plan(graph)


def _time(fn, reps: int, clock=time.perf_counter) -> list[float]:
    times = []
    for _ in range(reps):
        t = clock()
        fn()
        times.append(clock() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--filter", default="")
    parser.add_argument("--cpu", action="store_true", help="single-thread CPU time")
    args = parser.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1 if args.cpu else 2
    clock = time.thread_time if args.cpu else time.perf_counter
    print(f"{'case':36s} {'ORT ms':>9s} {'ours ms':>9s} {'ratio':>6s} {'p25':>6s}")
    ratios = []
    for case in _cases():
        if args.filter not in case.name:
            continue
        sess = ort.InferenceSession(
            _onnx_model(case).SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        plan = _ours(case)
        feeds = {"x": case.x}
        expected = sess.run(None, feeds)[0]
        got = plan.run(feeds)["y"]
        err = float(np.max(np.abs(got - expected)) / (np.max(np.abs(expected)) + 1e-12))
        ort_t, our_t = [], []
        for _ in range(3):  # warm up, then interleave rounds so drift hits both sides
            sess.run(None, feeds)
            plan.run(feeds)
        for _ in range(5):
            ort_t += _time(lambda s=sess, f=feeds: s.run(None, f), max(1, args.reps // 5), clock)
            our_t += _time(lambda p=plan, f=feeds: p.run(f), max(1, args.reps // 5), clock)
        o, u = np.min(ort_t) * 1e3, np.min(our_t) * 1e3
        q = np.percentile(our_t, 25) / np.percentile(ort_t, 25)
        ratios.append(u / o)
        flag = "" if err < 1e-4 else f"  (max rel err {err:.1e})"
        print(f"{case.name:36s} {o:9.3f} {u:9.3f} {u / o:6.2f} {q:6.2f}{flag}")
    if ratios:
        print(
            f"{'geometric mean ratio':36s} {'':9s} {'':9s} {np.exp(np.mean(np.log(ratios))):6.2f}"
        )


if __name__ == "__main__":
    main()
