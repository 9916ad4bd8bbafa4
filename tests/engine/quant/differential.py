"""The differential check over the quantizer's option space (issue 21), as reusable parts.

One *cell* is a model and one set of quantize options. For a cell, ``run_cell`` quantizes
the float model with the real quantizer and compares, on evaluation samples the
calibration covered (the first calibration samples, as ``quantize``'s own check does):

* **integer-true vs fake-quant, layer by layer** (``layer_lsb``): every node's fake-quant
  kernel is fed the integer path's own inputs (dequantized codes, exactly on the grid),
  and its output is compared with the integer path's output in steps (LSB) of that
  output's encoding. Feeding each layer the same inputs measures the emulator's kernels
  themselves: end to end, one step flipped upstream becomes several downstream, which
  says nothing about the kernel where it is seen.
* **QDQ export vs fake-quant**, the same way: ONNX Runtime runs the exported QDQ model
  (QDQ semantics, ``session.disable_quant_qdq``) and reports every encoded tensor; each
  of our fake-quant kernels is fed ORT's inputs and compared with ORT's output.
* **end to end**: the SQNR against float of the fake-quant, integer-true and QDQ outputs.

``CELL_BOUNDS`` are the acceptance bounds; ``tests/engine/quant/test_differential.py``
runs the cells (a fixed-seed sample by default, all with ``WORKBENCH_FULL_MATRIX=1``).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from workbench.engine.container import Container, make_manifest
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph
from workbench.engine.onnx_import import import_onnx, import_onnx_model
from workbench.engine.quant.encoding import encoding_from_dict
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.propagation import fused_activation_inputs
from workbench.engine.quant.qdq import export_qdq
from workbench.engine.quant.quantizer import quantize_container
from workbench.options import QuantOptions
from workbench.vocabulary import ACT_BITWIDTHS, BIAS_BITWIDTHS, SCHEMES, WEIGHT_BITWIDTHS

Feeds = dict[str, np.ndarray]

ALGORITHMS = ((), ("cle",), ("bc",))


def option_space() -> list[QuantOptions]:
    """Every combination the issue names: 3 x 2 x 2 x 2 x 4 x 3 = 288."""
    return [
        QuantOptions(
            param_quantizer=scheme,
            act_quantizer=scheme,
            weights_bitwidth=w,
            act_bitwidth=a,
            bias_bitwidth=b,
            per_channel=pc,
            algorithms=algo,
        )
        for w, a, b, pc, scheme, algo in itertools.product(
            WEIGHT_BITWIDTHS, ACT_BITWIDTHS, BIAS_BITWIDTHS, (False, True), SCHEMES, ALGORITHMS
        )
    ]


def options_id(o: QuantOptions) -> str:
    algo = "+".join(o.algorithms) or "none"
    pc = "pc" if o.per_channel else "pt"
    return (
        f"w{o.weights_bitwidth}a{o.act_bitwidth}b{o.bias_bitwidth}-{pc}-{o.param_quantizer}-{algo}"
    )


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Model:
    """A float model and its samples: calibration, and evaluation (covered by calibration)."""

    name: str
    families: tuple[str, ...]
    graph: Graph
    calibration: tuple[Feeds, ...]
    evaluation: tuple[Feeds, ...]


def _around(base: Feeds, n: int, seed: int, spread: float = 0.25) -> list[Feeds]:
    """``base`` and ``n - 1`` perturbed copies of its float inputs (integer inputs kept)."""
    rng = np.random.default_rng(seed)
    out = [dict(base)]
    for _ in range(n - 1):
        f = {}
        for k, v in base.items():
            if v.dtype.kind == "f":
                noise = rng.standard_normal(v.shape) * (float(np.std(v)) or 1.0) * spread
                f[k] = (v + noise).astype(v.dtype)
            else:
                f[k] = v
        out.append(f)
    return out


def _model(name, families, graph, calibration, n_eval=2) -> Model:
    return Model(name, tuple(families), graph, tuple(calibration), tuple(calibration[:n_eval]))


def demo_model() -> Model:
    from workbench.data import demo_model_path, load_demo_images

    graph = import_onnx(demo_model_path())
    images = load_demo_images("calibration")[:8]
    feeds = [{"image": img[None].astype(np.float32)} for img in images]
    return _model("demo", ("convs", "depthwise", "pooling", "gemm"), graph, feeds)


CONFORMANCE = {  # backend-test model -> the families it covers
    "pytorch-converted/test_Conv2d_depthwise_with_multiplier": ("depthwise",),
    "pytorch-converted/test_Conv2d_groups": ("convs",),
    "pytorch-converted/test_Conv1d_dilated": ("convs",),
    "pytorch-converted/test_ConvTranspose2d": ("convs",),
    "pytorch-converted/test_AvgPool2d_stride": ("pooling",),
    "pytorch-converted/test_Linear": ("gemm",),
    "pytorch-converted/test_PReLU_2d_multiparam": ("elementwise",),
    "pytorch-converted/test_PixelShuffle": ("movement",),
    "pytorch-converted/test_ReflectionPad2d": ("movement",),
    "pytorch-converted/test_Embedding": ("movement",),
    "pytorch-operator/test_operator_concat2": ("concat",),
    "pytorch-operator/test_operator_exp": ("elementwise",),
    "pytorch-operator/test_operator_selu": ("elementwise",),
    "pytorch-operator/test_operator_maxpool": ("pooling",),
}


def conformance_model(case: str) -> Model:
    from tests.engine.test_conformance import DATA, Case, _feeds

    folder = DATA / case
    data = folder / "test_data_set_0"
    c = Case(case, folder / "model.onnx", tuple(sorted(data.glob("input_*.pb"))), ())
    base = _feeds(c, onnx.load(str(c.model)))
    # Quantization is at batch 1 (the guide's rule): take the first sample of a batch.
    dims = {k: [1, *v.shape[1:]] for k, v in base.items() if v.ndim and v.shape[0] != 1}
    graph = import_onnx(c.model, dims or None)
    base = {k: v[:1] if k in dims else v for k, v in base.items()}
    return _model(case.split("/")[1], CONFORMANCE[case], graph, _around(base, 4, 0))


REALWORLD = {  # builder name -> (families, keyword arguments)
    "mobilenet_v2": (("convs", "depthwise", "elementwise", "pooling", "gemm"), {"batch": 1}),
    "efficientnet": (("depthwise", "elementwise", "pooling"), {"batch": 1}),
    "vit": (("matmul", "attention", "concat"), {"batch": 1}),
    "bert_encoder": (("matmul", "attention", "elementwise"), {"batch": 1}),
    "yolo_detector": (("convs", "resize", "concat", "pooling"), {"size": 32}),
    "yolov8_head": (("convs", "concat", "elementwise"), {"size": 32}),
}


def realworld_model(name: str, tmp: Path) -> Model:
    from tests.engine import realworld_models as rw

    families, kwargs = REALWORLD[name]
    case = getattr(rw, name)(**kwargs)
    path = tmp / f"{name}.onnx"
    onnx.save(case.model, str(path))
    dims = {k: [1, *v[1:]] for k, v in case.input_dims.items()}
    graph = import_onnx(path, dims or None)
    base = {k: v[:1] for k, v in case.feeds.items()}
    return _model(name, families, graph, _around(base, 4, 0))


MODEL_NAMES = (
    "demo",
    *(f"conformance/{c}" for c in CONFORMANCE),
    *(f"realworld/{r}" for r in REALWORLD),
)


@cache
def load_model(name: str) -> Model:
    if name == "demo":
        return demo_model()
    kind, rest = name.split("/", 1)
    if kind == "conformance":
        return conformance_model(rest)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return realworld_model(rest, Path(tmp))


# Generated graphs (hypothesis draws a ``GraphSpec``): small chains of the ops whose integer
# kernels differ most from float, over shapes and value ranges the fixtures do not have.
GENERATED_OPS = (
    "conv3",  # 3x3, pad 1, a new channel count
    "conv1s2",  # 1x1, stride 2
    "depthwise",  # 3x3, one group per channel
    "relu",
    "sigmoid",
    "add_branch",  # x + Conv1x1(x)
    "mul_self",  # x * x (two activations)
    "mul_channel",  # x * per-channel constant
    "avgpool",
    "maxpool",
    "concat",  # Concat(x, Relu(x)) on channels
    "resize",  # nearest, x2
    "gap",  # GlobalAveragePool
    "matmul",  # (C, HW) x (HW, C): two activations, then back to 4-D
    "gemm",  # Flatten, Gemm (ends the chain)
)


@dataclass(frozen=True)
class GraphSpec:
    channels: int
    height: int
    width: int
    ops: tuple[str, ...]
    input_scale: float  # input magnitude
    input_sign: str  # "centered", "positive" or "negative"
    weight_scale: float
    seed: int


def generated_model(spec: GraphSpec) -> Model:
    """The float model ``spec`` describes, with calibration samples from its input range."""
    rng = np.random.default_rng(spec.seed)
    nodes, inits = [], []
    shape = [1, spec.channels, spec.height, spec.width]
    count = itertools.count()

    def name(base: str) -> str:
        return f"{base}{next(count)}"

    def const(value: np.ndarray) -> str:
        n = name("c")
        inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = name(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def weight(*dims: int) -> np.ndarray:
        fan_in = math.prod(dims[1:]) or 1
        return (rng.standard_normal(dims) * spec.weight_scale / math.sqrt(fan_in)).astype(
            np.float32
        )

    def conv(x: str, c_out: int, k: int, stride: int = 1, group: int = 1) -> str:
        c_in = shape[1]
        w = const(weight(c_out, c_in // group, k, k))
        b = const((rng.standard_normal(c_out) * spec.weight_scale * 0.1).astype(np.float32))
        pad = k // 2
        y = op("Conv", [x, w, b], pads=[pad] * 4, strides=[stride] * 2, group=group)
        shape[1] = c_out
        shape[2] = (shape[2] + 2 * pad - k) // stride + 1
        shape[3] = (shape[3] + 2 * pad - k) // stride + 1
        return y

    x = "x"
    flat = False
    for kind in spec.ops:
        if flat and kind not in ("relu", "sigmoid", "mul_self"):
            continue  # after a Gemm only elementwise ops apply
        if kind == "conv3":
            x = conv(x, int(rng.integers(1, 9)), 3)
        elif kind == "conv1s2":
            x = conv(x, int(rng.integers(1, 9)), 1, stride=2)
        elif kind == "depthwise":
            x = conv(x, shape[1], 3, group=shape[1])
        elif kind == "relu":
            x = op("Relu", [x])
        elif kind == "sigmoid":
            x = op("Sigmoid", [x])
        elif kind == "add_branch":
            branch = conv(x, shape[1], 1)
            x = op("Add", [x, branch])
        elif kind == "mul_self":
            x = op("Mul", [x, x])
        elif kind == "mul_channel":
            x = op("Mul", [x, const(weight(1, shape[1], 1, 1) * 3.0)])
        elif kind == "avgpool" and min(shape[2:]) >= 2:
            x = op("AveragePool", [x], kernel_shape=[2, 2], pads=[0, 0, 1, 1])
        elif kind == "maxpool" and min(shape[2:]) >= 2:
            x = op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
            shape[2], shape[3] = shape[2] // 2, shape[3] // 2
        elif kind == "concat":
            x = op("Concat", [x, op("Relu", [x])], axis=1)
            shape[1] *= 2
        elif kind == "resize" and max(shape[2:]) <= 8:
            scales = const(np.array([1, 1, 2, 2], np.float32))
            x = op("Resize", [x, "", scales], mode="nearest")
            shape[2], shape[3] = shape[2] * 2, shape[3] * 2
        elif kind == "gap":
            x = op("GlobalAveragePool", [x])
            shape[2] = shape[3] = 1
        elif kind == "matmul":
            c, hw = shape[1], shape[2] * shape[3]
            a = op("Reshape", [x, const(np.array([1, c, hw], np.int64))])
            t = op("Transpose", [a], perm=[0, 2, 1])
            x = op("MatMul", [a, t])  # (1, C, C)
            x = op("Reshape", [x, const(np.array([1, c, c, 1], np.int64))])
            shape[2], shape[3] = c, 1
        elif kind == "gemm":
            n_in = shape[1] * shape[2] * shape[3]
            n_out = int(rng.integers(1, 9))
            f = op("Flatten", [x], axis=1)
            w = const(weight(n_out, n_in))
            b = const((rng.standard_normal(n_out) * 0.1 * spec.weight_scale).astype(np.float32))
            x = op("Gemm", [f, w, b], transB=1)
            flat = True
            shape = [1, n_out]
    if x == "x":
        x = op("Relu", [x])
    nodes.append(helper.make_node("Identity", [x], ["y"], name="out"))
    g = helper.make_graph(
        nodes,
        "generated",
        [
            helper.make_tensor_value_info(
                "x", TensorProto.FLOAT, [1, spec.channels, spec.height, spec.width]
            )
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        initializer=inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    model = onnx.shape_inference.infer_shapes(model)
    graph = import_onnx_model(model, source="generated.onnx")
    feeds = []
    for _ in range(4):
        v = rng.standard_normal((1, spec.channels, spec.height, spec.width)) * spec.input_scale
        if spec.input_sign == "positive":
            v = np.abs(v)
        elif spec.input_sign == "negative":
            v = -np.abs(v)
        feeds.append({"x": v.astype(np.float32)})
    return _model("generated", ("generated",), graph, feeds)


# --------------------------------------------------------------------------- comparisons


# Both sides of a comparison are on the output's grid (codes dequantized in float32), so
# a difference is a whole number of steps up to float32's rounding of the two values:
# ``2**-24`` of a value of up to 65535 steps is 0.004 of a step.
OFF_GRID = 0.02


@dataclass
class LsbStats:
    """Differences in steps (LSB) of each output's encoding, over every compared element."""

    count: int = 0
    within_one: int = 0  # elements at most one step apart
    differing: int = 0  # elements at least one step apart
    beyond: int = 0  # elements past their layer's allowance (LAYER_MAX_LSB, or more: below)
    max_lsb: int = 0
    worst: str = ""  # the node with the largest difference
    off_grid: float = 0.0  # largest distance of a difference from a whole step

    def add(self, node: str, lsb: np.ndarray, allowance: int = 1) -> None:
        if lsb.size == 0:
            return
        steps = np.rint(lsb)
        self.off_grid = max(self.off_grid, float(np.max(np.abs(lsb - steps))))
        self.count += int(lsb.size)
        self.within_one += int(np.count_nonzero(steps <= 1))
        self.differing += int(np.count_nonzero(steps >= 1))
        self.beyond += int(np.count_nonzero(~(steps <= allowance)))
        top = int(steps.max()) if np.isfinite(steps).all() else 2**31
        if top > self.max_lsb:
            self.max_lsb, self.worst = top, node

    @property
    def share_within_one(self) -> float:
        return self.within_one / self.count if self.count else 1.0

    @property
    def share_differing(self) -> float:
        return self.differing / self.count if self.count else 0.0


def bias_allowances(q: Container) -> dict[str, int]:
    """Layers whose integer result may part from fake-quant by more than one step.

    A bias with its own encoding (8-bit) is added in the accumulator's unit, rounded to
    it as the device's int32 bias is (``int_ops.linear.bias_to_accumulator``): up to half
    a unit, ``r / 2`` output steps for ``r = in_delta * w_delta / out_delta``. Where the
    output grid is finer than the accumulator's (``r > 1``: tiny weights on a coarse
    4-bit grid) that is more than the one step of rounding alone; the allowance is
    ``1 + floor(r / 2)`` steps there (1 elsewhere).
    """
    acts = {n: encoding_from_dict(d) for n, d in q.encodings.items()}
    params = {n: encoding_from_dict(d) for n, d in q.param_encodings.items()}
    out: dict[str, int] = {}
    for n in q.graph.nodes:
        if n.op_type not in ("Conv", "ConvTranspose", "Gemm") or len(n.inputs) < 3:
            continue
        x, w, b = (acts.get(n.inputs[0]), params.get(n.inputs[1]), params.get(n.inputs[2]))
        y = acts.get(n.outputs[0])
        if None in (x, w, b, y) or b.bitwidth == 32:
            continue
        r = float(np.max(x.delta * np.asarray(w.delta))) / y.delta
        out[n.name] = 1 + math.floor(r / 2 + 2**-20)
    return out


def layer_lsb(
    fq: FakeQuantPlan,
    values: Mapping[str, np.ndarray],
    stats: LsbStats | None = None,
    allowances: Mapping[str, int] | None = None,
) -> LsbStats:
    """Each node's fake-quant kernel on ``values``' inputs vs ``values``' outputs (module doc)."""
    stats = stats or LsbStats()
    allowances = allowances or {}
    params = fq.graph.params
    for step in fq._plan.steps:
        node = step.node
        outs = [
            (i, o, fq.encodings.get(o))
            for i, o in enumerate(node.outputs)
            if o and o in values and fq.encodings.get(o) is not None
        ]
        if not outs:
            continue
        args = []
        for name in node.inputs:
            if not name:
                args.append(None)
            elif name in values:
                args.append(values[name])
            elif name in params:
                args.append(params[name])
            else:
                break
        else:
            with np.errstate(all="ignore"):
                results = step.kernel(*args)
            for i, o, enc in outs:
                ours, theirs = results[i], values[o]
                if ours.dtype.kind != "f" or ours.shape != theirs.shape:
                    continue
                lsb = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)) / enc.delta
                allowance = allowances.get(node.name, LAYER_MAX_LSB)
                stats.add(node.name, np.nan_to_num(lsb, nan=np.inf).ravel(), allowance)
    return stats


def integer_values(plan: IntegerPlan, feeds: Feeds) -> tuple[dict[str, np.ndarray], Feeds]:
    """Every tensor of one integer-true run, dequantized; and the float outputs."""
    values: dict[str, np.ndarray] = {}
    for name, q in plan.quantize_inputs(feeds).items():
        values[name] = plan.to_float(name, q)

    def hook(name: str, q: np.ndarray) -> None:
        values[name] = plan.to_float(name, q)

    outs = plan.run_integer(feeds, hook)
    return values, {k: plan.to_float(k, v) for k, v in outs.items()}


def ort_session(model: onnx.ModelProto, names: Iterable[str]):
    """ORT on the QDQ semantics, reporting ``names`` too (dequantized tensors)."""
    import onnxruntime as ort

    model = onnx.ModelProto.FromString(model.SerializeToString())
    have = {o.name for o in model.graph.output}
    for name in names:
        if name not in have:
            model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _fake_quantized_inputs(model: onnx.ModelProto) -> dict[str, str]:
    """Graph input -> the name of its fake-quantized value in an exported QDQ model."""
    inputs = {v.name for v in model.graph.input}
    q_of = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    found = {}
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and q_of.get(n.input[0]) in inputs:
            found[q_of[n.input[0]]] = n.output[0]
    return found


# --------------------------------------------------------------------------- one cell


@dataclass
class CellResult:
    model: str
    options: str
    integer: LsbStats
    qdq: LsbStats | None
    sqnr_fq: float
    sqnr_int: float
    sqnr_qdq: float | None
    fallback: tuple[str, ...]
    widened: tuple[str, ...]
    # Over every layer output (all encoded tensors but those fused into an activation):
    # the whole network's quantization noise, thousands of elements even for a model
    # with ten outputs.
    sqnr_fq_all: float = math.nan
    sqnr_int_all: float = math.nan
    sqnr_qdq_all: float | None = None
    worst_layer_db: float = math.nan  # the lowest fake-quant SQNR of one layer output

    def to_dict(self) -> dict[str, Any]:
        def stats(s: LsbStats | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {
                "count": s.count,
                "share_within_one": s.share_within_one,
                "share_differing": s.share_differing,
                "beyond": s.beyond,
                "max_lsb": s.max_lsb,
                "worst": s.worst,
                "off_grid": s.off_grid,
            }

        return {
            "model": self.model,
            "options": self.options,
            "integer": stats(self.integer),
            "qdq": stats(self.qdq),
            "sqnr_fq": self.sqnr_fq,
            "sqnr_int": self.sqnr_int,
            "sqnr_qdq": self.sqnr_qdq,
            "fallback": list(self.fallback),
            "widened": list(self.widened),
            "sqnr_fq_all": self.sqnr_fq_all,
            "sqnr_int_all": self.sqnr_int_all,
            "sqnr_qdq_all": self.sqnr_qdq_all,
            "worst_layer_db": self.worst_layer_db,
        }


class _Energy:
    def __init__(self) -> None:
        self.signal = self.noise = 0.0

    def add(self, ref: np.ndarray, test: np.ndarray) -> None:
        # Plain reductions, not BLAS dot: an OpenBLAS thread pool spins on a busy machine.
        r = np.asarray(ref, np.float64)
        d = r - np.asarray(test, np.float64)
        self.signal += float(np.square(r).sum())
        self.noise += float(np.square(d).sum())

    @property
    def db(self) -> float:
        if self.noise == 0.0:
            return math.inf
        return 10 * math.log10(self.signal / self.noise) if self.signal else -math.inf


def run_cell(
    model_name: str, options: QuantOptions, qdq: bool = True, integer: bool = True
) -> CellResult:
    model = load_model(model_name)
    return compare(model_name, model, options, qdq=qdq, integer=integer)


def compare(
    name: str, model: Model, options: QuantOptions, *, qdq: bool = True, integer: bool = True
) -> CellResult:
    """Quantize ``model`` with ``options`` and compare the paths (the module doc)."""
    source = Container(make_manifest(converter={"command": "differential"}), model.graph)
    result = quantize_container(source, list(model.calibration), options)
    q = result.container
    fq = FakeQuantPlan(q)
    ip = IntegerPlan(q) if integer else None
    refs = [Plan(model.graph).run(f) for f in model.evaluation]
    outputs = [
        o for o in model.graph.output_names if o in q.encodings and refs[0][o].dtype.kind == "f"
    ]
    e_fq, e_int, e_qdq = _Energy(), _Energy(), _Energy()
    all_fq, all_int, all_qdq = _Energy(), _Energy(), _Energy()
    per_layer: dict[str, _Energy] = {}
    fused = set(fused_activation_inputs(q.graph))
    layer_outputs = [t for t in q.encodings if t not in fused and t not in q.graph.input_names]
    prepared = Plan(result.prepared_graph or model.graph)
    int_stats, qdq_stats = LsbStats(), None
    allowances = bias_allowances(q)
    session = fq_inputs = None
    if qdq:
        exported = export_qdq(q)
        fq_inputs = _fake_quantized_inputs(exported)
        session = ort_session(exported, [*q.encodings, *fq_inputs.values()])
        qdq_stats = LsbStats()
    for feeds, ref in zip(model.evaluation, refs, strict=True):
        values, y_int = integer_values(ip, feeds) if ip is not None else ({}, {})
        layer_lsb(fq, values, int_stats, allowances)
        fq_values: dict[str, np.ndarray] = {}
        y_fq = fq.run(feeds, fq_values.__setitem__)
        for o in outputs:
            e_fq.add(ref[o], y_fq[o])
            if ip is not None:
                e_int.add(ref[o], y_int[o])
        float_values: dict[str, np.ndarray] = {}
        prepared.run(feeds, float_values.__setitem__)
        for t in layer_outputs:
            r = float_values.get(t)
            if r is None or r.dtype.kind != "f" or t not in fq_values:
                continue
            all_fq.add(r, fq_values[t])
            per_layer.setdefault(t, _Energy()).add(r, fq_values[t])
            if t in values:
                all_int.add(r, values[t])
        if session is not None:
            names = [o.name for o in session.get_outputs()]
            ins = {i.name for i in session.get_inputs()}
            got = dict(
                zip(
                    names,
                    session.run(None, {k: v for k, v in feeds.items() if k in ins}),
                    strict=True,
                )
            )
            ort_values = {k: v for k, v in got.items() if k in q.encodings}
            for graph_input, fq_name in fq_inputs.items():
                ort_values[graph_input] = got[fq_name]
            for k, v in feeds.items():
                ort_values.setdefault(k, v)  # integer inputs
            layer_lsb(fq, ort_values, qdq_stats)
            for o in outputs:
                e_qdq.add(ref[o], got[o])
            for t in layer_outputs:
                r = float_values.get(t)
                if r is not None and t in got and r.dtype.kind == "f":
                    all_qdq.add(r, got[t])
    return CellResult(
        name,
        options_id(options),
        int_stats,
        qdq_stats,
        e_fq.db,
        e_int.db,
        e_qdq.db if qdq else None,
        tuple(sorted({op for _, op in ip.float_fallback_nodes})) if ip is not None else (),
        result.widened_weights,
        all_fq.db,
        all_int.db,
        all_qdq.db if qdq else None,
        min((e.db for e in per_layer.values() if e.signal > 0), default=math.inf),
    )


# --------------------------------------------------------------------------- the bounds

LAYER_MAX_LSB = 1  # integer-true (and QDQ) vs fake-quant, one layer, worst element (but
# see bias_allowances: a bias with its own encoding, on an output finer than the accumulator)
LAYER_SHARE = 0.999  # ... and the share of elements within one step,
SHARE_MIN_COUNT = 1000  # ... judged over at least this many elements (a share of 3 is noise)
END_TO_END_DB = 1.0  # integer-true whole-network SQNR at most this below fake-quant's
QDQ_END_TO_END_DB = 2.0  # QDQ's (ORT's float kernels round differently: see the test doc)
SQNR_SLACK_DB = 4.0  # fake-quant vs float: below the bitwidths' bound by at most this...
SQNR_SLACK_BELOW_8_DB = 8.0  # ... or this, when the narrower side has fewer than 8 bits
SMALL_NOISE_DB = 20.0  # every layer of the W8A8 run at least this: the noise is "small"


def bitwidth_gain_db(bits: int) -> float:
    """How much finer a ``bits`` grid is than an 8-bit one over the same range, in dB."""
    return 20.0 * math.log10((2**bits - 1) / 255)


@cache
def reference(
    model_name: str, bias_bitwidth: int, per_channel: bool, scheme: str, algorithms: tuple
) -> tuple[float, float]:
    """The model at 8-bit weights and activations: whole-network fake-quant SQNR, and
    its worst layer's."""
    o = QuantOptions(
        param_quantizer=scheme,
        act_quantizer=scheme,
        bias_bitwidth=bias_bitwidth,
        per_channel=per_channel,
        algorithms=algorithms,
    )
    r = run_cell(model_name, o, qdq=False, integer=False)
    return r.sqnr_fq_all, r.worst_layer_db


def sqnr_bound(model_name: str, options: QuantOptions) -> tuple[float, float]:
    """The SQNR the bitwidths allow, from the model's own W8A8 run, and the slack it has.

    Quantization noise is ``delta**2 / 12`` per quantizer, and with the same ranges every
    delta scales as ``1 / (2**bits - 1)``: noise that is all rounding gains
    ``bitwidth_gain_db(b)`` over the W8A8 run, ``b`` the narrower of the weights and the
    activations (the wider side only adds less). No gain beyond the 8-bit SQNR is
    claimed (only the rounding's loss below 8 bits is allowed) where a noise does not
    scale with bits or the scaling does not describe the noise:

    * an 8-bit bias (its own encoding, whatever the other bitwidths);
    * clipping: ``percentile`` clips the same tail at any bitwidth, ``enhanced`` trades
      clipping for rounding anew at each;
    * a model whose W8A8 run is not in the small-noise regime (a layer below
      ``SMALL_NOISE_DB``): there 8 bits lose information outright (a BERT attention
      mask of -10000 on an 8-bit grid of step 39 wipes the scores out) and more bits
      recover it non-linearly.

    Slack: ``SQNR_SLACK_DB``, or ``SQNR_SLACK_BELOW_8_DB`` under 8 bits, where a 4-bit
    grid's 15 levels are far from uniform noise and ``enhanced`` clips harder.
    """
    ref, worst_layer = reference(
        model_name,
        options.bias_bitwidth,
        options.per_channel,
        options.param_quantizer,
        options.algorithms,
    )
    bits = min(options.weights_bitwidth, options.act_bitwidth)
    gain = bitwidth_gain_db(bits)
    floor = (
        options.bias_bitwidth == 8
        or options.param_quantizer in ("percentile", "enhanced")
        or not worst_layer >= SMALL_NOISE_DB
    )
    slack = SQNR_SLACK_DB if bits >= 8 else SQNR_SLACK_BELOW_8_DB
    return ref + (min(gain, 0.0) if floor else gain), slack


def check_cell(
    r: CellResult,
    bound: tuple[float, float] | None,
    end_to_end_db: float = END_TO_END_DB,
) -> list[str]:
    """What is wrong with a cell (empty when it passes every bound above)."""
    bad = []
    for what, stats in (("integer-true", r.integer), ("QDQ", r.qdq)):
        if stats is None:
            continue
        share_low = stats.count >= SHARE_MIN_COUNT and stats.share_within_one < LAYER_SHARE
        if stats.beyond or share_low:
            bad.append(
                f"{what} vs fake-quant: {stats.max_lsb} LSB at {stats.worst!r}, "
                f"{stats.beyond} element(s) past the allowance, "
                f"{stats.share_within_one:.5f} within one"
            )
        if stats.off_grid > OFF_GRID:
            bad.append(f"{what}: values off the output grid by {stats.off_grid:.3f} of a step")
    for what, db, allowed in (
        ("integer-true", r.sqnr_int_all, end_to_end_db),
        ("QDQ", r.sqnr_qdq_all, max(end_to_end_db, QDQ_END_TO_END_DB)),
    ):
        if db is not None and not db >= r.sqnr_fq_all - allowed:
            bad.append(f"{what} whole-network SQNR {db:.2f} dB vs fake-quant {r.sqnr_fq_all:.2f}")
    if bound is not None and not r.sqnr_fq_all >= bound[0] - bound[1]:
        bad.append(
            f"fake-quant SQNR {r.sqnr_fq_all:.2f} dB below the bitwidths' {bound[0]:.2f} dB "
            f"(slack {bound[1]} dB)"
        )
    return bad


# --------------------------------------------------------------------------- the matrix


def all_cells() -> list[tuple[str, QuantOptions]]:
    return [(m, o) for m in MODEL_NAMES for o in option_space()]


ISSUE_ROWS = (  # issue 21's table, always in the sample (on the demo)
    "w8a8b32-pt-tf-none",
    "w8a16b32-pc-tf-none",
    "w16a8b32-pt-tf-none",
    "w16a16b8-pt-tf-none",
    "w16a16b8-pc-tf-none",
    "w16a16b32-pt-tf-none",
    "w16a16b32-pc-tf-none",
)


def sampled_cells(per_model: int, seed: int = 21) -> list[tuple[str, QuantOptions]]:
    """A fixed-seed sample: ``per_model`` option sets per model, spread so that every
    value of every option dimension appears, plus the issue's rows on the demo.

    The option space is shuffled once; model ``i`` takes positions ``i, i + M, i + 2M``...
    so different models see different combinations.
    """
    space = option_space()
    order = np.random.default_rng(seed).permutation(len(space))
    cells = []
    for i, m in enumerate(MODEL_NAMES):
        picks = [space[order[(i + k * len(MODEL_NAMES)) % len(space)]] for k in range(per_model)]
        cells.extend((m, o) for o in picks)
    by_id = {options_id(o): o for o in space}
    have = {(m, options_id(o)) for m, o in cells}
    cells.extend(("demo", by_id[r]) for r in ISSUE_ROWS if ("demo", r) not in have)
    return cells


def full_matrix() -> bool:
    return os.environ.get("WORKBENCH_FULL_MATRIX", "") not in ("", "0")


__all__ = [
    "CellResult",
    "LsbStats",
    "MODEL_NAMES",
    "all_cells",
    "layer_lsb",
    "load_model",
    "option_space",
    "options_id",
    "run_cell",
    "sampled_cells",
]
