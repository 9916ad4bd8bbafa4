"""Build the bundled demo: a synthetic shapes dataset and a small CNN trained on it.

Run ``python -m workbench.data.make_demo`` to regenerate ``workbench/data/demo/``.
Everything is numpy: the images are drawn procedurally, the network is trained
with a hand-written forward/backward pass (im2col convolutions, Adam), and the
result is exported to ONNX with ``onnx.helper``. A fixed seed makes the run
repeatable; it takes a few minutes on two cores.

The task is deliberately not trivial: shapes are drawn at random positions,
sizes, rotations and colours over textured backgrounds with sensor-like noise,
and a fraction of the samples have little contrast, so even a good model stays
below 100 %. The network is shaped like a tiny mobile net (a BatchNorm to fold,
a depthwise convolution, Conv→ReLU→Conv chains for cross-layer equalization)
so that every quantization technique in the workbench has something to do.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASS_NAMES = [
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "blob",
    "horizontal_stripes",
    "vertical_stripes",
    "diagonal_stripes",
    "checker",
]
SEED = 20240611
SIZE = 32
# The model's input is (pixel / 255 - MEAN) / STD, every channel alike.
NORM_MEAN = 0.5
NORM_STD = 0.25

N_TRAIN = 12000
N_HOLDOUT = 2000
N_VALIDATION = 200
N_CALIBRATION = 48
EPOCHS = 16
BATCH = 64
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 2e-4

DEMO_DIR = Path(__file__).resolve().parent / "demo"


# --------------------------------------------------------------------------- data


def _smooth_noise(rng: np.random.Generator, n: int, grid: int, channels: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a coarse random grid, bilinearly upsampled."""
    coarse = rng.uniform(-1.0, 1.0, size=(n, channels, grid, grid)).astype(np.float32)
    pos = np.linspace(0.0, grid - 1.0, SIZE, dtype=np.float32)
    i0 = np.minimum(pos.astype(np.int64), grid - 2)
    f = pos - i0
    rows = coarse[:, :, i0, :] * (1 - f)[:, None] + coarse[:, :, i0 + 1, :] * f[:, None]
    return rows[:, :, :, i0] * (1 - f) + rows[:, :, :, i0 + 1] * f


def _uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, size=(n, 1, 1)).astype(np.float32)


def _shape_mask(cls: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """Coverage in [0, 1] of ``n`` random instances of one class, shape (n, 32, 32)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    name = CLASS_NAMES[cls]
    texture = name.endswith("stripes") or name == "checker"
    extent = _uniform(rng, 7.0, 12.5, n) if texture else _uniform(rng, 5.5, 11.0, n)
    margin = 0.7 * extent if texture else 1.05 * extent
    cx = margin + rng.uniform(0, 1, (n, 1, 1)).astype(np.float32) * (SIZE - 2 * margin)
    cy = margin + rng.uniform(0, 1, (n, 1, 1)).astype(np.float32) * (SIZE - 2 * margin)
    dx, dy = xx - cx, yy - cy

    def rotated(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.cos(theta), np.sin(theta)
        return dx * c + dy * s, -dx * s + dy * c

    def coverage(sdf: np.ndarray) -> np.ndarray:
        # Signed distance in pixels -> anti-aliased coverage over about one pixel.
        return np.clip(0.5 - sdf, 0.0, 1.0)

    def tilt(degrees: float) -> np.ndarray:
        return np.deg2rad(_uniform(rng, -degrees, degrees, n))

    if name == "circle":
        return coverage(np.hypot(dx, dy) - extent)
    if name == "square":
        u, v = rotated(tilt(25))
        return coverage(np.maximum(np.abs(u), np.abs(v)) - 0.85 * extent)
    if name == "triangle":
        theta = _uniform(rng, 0, 2 * np.pi, n)
        planes = [
            dx * np.cos(theta + k * 2 * np.pi / 3) + dy * np.sin(theta + k * 2 * np.pi / 3)
            for k in range(3)
        ]
        return coverage(np.maximum.reduce(planes) - 0.55 * extent)
    if name == "cross":
        u, v = rotated(tilt(30))
        width = _uniform(rng, 1.2, 2.8, n)
        bar_u = np.maximum(np.abs(u) - extent, np.abs(v) - width)
        bar_v = np.maximum(np.abs(u) - width, np.abs(v) - extent)
        return coverage(np.minimum(bar_u, bar_v))
    if name == "ring":
        thickness = _uniform(rng, 1.5, 3.5, n)
        radius = np.maximum(extent + 1.0, thickness + 2.5)
        return coverage(np.abs(np.hypot(dx, dy) - radius) - thickness / 2)
    if name == "blob":
        phi = np.arctan2(dy, dx)
        wobble = np.zeros_like(phi)
        for k in (2, 3, 4):
            amp = _uniform(rng, 0.1, 0.3, n) / (k - 1) ** 0.5
            wobble += amp * np.cos(k * phi + _uniform(rng, 0, 2 * np.pi, n))
        return coverage(np.hypot(dx, dy) - extent * (1 + wobble))

    # Textures inside a soft elliptical window.
    aspect = _uniform(rng, 0.75, 1.3, n)
    window = coverage((np.hypot(dx * aspect, dy / aspect) - extent) * 1.5)
    period = _uniform(rng, 3.5, 7.0, n)
    phase = _uniform(rng, 0, 2 * np.pi, n)
    if name == "horizontal_stripes":
        u, v = rotated(tilt(12))
    elif name == "vertical_stripes":
        u, v = rotated(tilt(12) + np.pi / 2)
    elif name == "diagonal_stripes":
        side = np.where(rng.uniform(size=(n, 1, 1)) < 0.5, 1.0, -1.0).astype(np.float32)
        u, v = rotated(side * (np.pi / 4 + tilt(12)))
    else:  # checker
        u, v = rotated(tilt(20))
        wave = np.sin(2 * np.pi * u / period + phase) * np.sin(2 * np.pi * v / period + phase)
        return window * np.clip(0.5 + 2.0 * wave, 0.0, 1.0)
    wave = np.sin(2 * np.pi * v / period + phase)
    return window * np.clip(0.5 + 2.0 * wave, 0.0, 1.0)


def render(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one image per label: uint8, NCHW, shape (n, 3, 32, 32)."""
    n = len(labels)
    mask = np.empty((n, SIZE, SIZE), np.float32)
    for cls in range(len(CLASS_NAMES)):
        idx = np.flatnonzero(labels == cls)
        if len(idx):
            mask[idx] = _shape_mask(cls, rng, len(idx))

    bg = rng.uniform(0.1, 0.9, (n, 3, 1, 1)).astype(np.float32)
    bg_texture = _smooth_noise(rng, n, 5, 3) * rng.uniform(0.0, 0.18, (n, 1, 1, 1))
    gradient = _smooth_noise(rng, n, 2, 1) * rng.uniform(0.0, 0.2, (n, 1, 1, 1))
    background = bg + bg_texture + gradient

    # The foreground differs from the background by a random colour step whose
    # size (contrast) sometimes is small compared with the noise: the hard cases.
    # Mostly a brightness step (usually towards the side with more room), with a tint.
    darker = (bg.mean(axis=1, keepdims=True) > 0.5) ^ (rng.uniform(size=(n, 1, 1, 1)) < 0.2)
    sign = np.where(darker, -1.0, 1.0)
    direction = (sign + 0.6 * rng.normal(size=(n, 3, 1, 1))).astype(np.float32)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    contrast = rng.uniform(0.12, 0.75, (n, 1, 1, 1)).astype(np.float32)
    fg = np.clip(bg + contrast * direction * np.sqrt(3), 0.0, 1.0)
    fg_texture = _smooth_noise(rng, n, 4, 1) * rng.uniform(0.0, 0.1, (n, 1, 1, 1))
    foreground = fg + fg_texture

    alpha = mask[:, None]
    image = background * (1 - alpha) + foreground * alpha

    # Clutter: a faint thin line across some images.
    clutter = rng.uniform(size=n) < 0.35
    k = int(clutter.sum())
    if k:
        yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
        theta = rng.uniform(0, np.pi, (k, 1, 1)).astype(np.float32)
        offset = rng.uniform(-12, 12, (k, 1, 1)).astype(np.float32)
        dist = np.abs((xx - 16) * np.cos(theta) + (yy - 16) * np.sin(theta) - offset)
        line = np.clip(1.0 - dist, 0.0, 1.0)[:, None]
        shade = rng.uniform(-0.25, 0.25, (k, 3, 1, 1)).astype(np.float32)
        image[clutter] += line * shade

    sigma = rng.uniform(0.02, 0.13, (n, 1, 1, 1)).astype(np.float32)
    image += sigma * rng.normal(size=image.shape).astype(np.float32)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def normalize(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels -> the float32 input the model expects."""
    return ((pixels.astype(np.float32) / 255.0 - NORM_MEAN) / NORM_STD).astype(np.float32)


def balanced_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    labels = np.arange(n) % len(CLASS_NAMES)
    return rng.permutation(labels).astype(np.int64)


# ------------------------------------------------------------------------ network
#
# Activations are NHWC inside the trainer (im2col is a concatenation of shifted
# views along the channel axis); weights are exported to ONNX's OIHW at the end.


def _im2col(x: np.ndarray, stride: int) -> np.ndarray:
    """3x3, pad 1: (n, h, w, c) -> (n, ho, wo, 9 * c), tap-major."""
    n, h, w, _ = x.shape
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    taps = [
        xp[:, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride]
        for i in range(3)
        for j in range(3)
    ]
    return np.concatenate(taps, axis=-1)


def _col2im(cols: np.ndarray, shape: tuple[int, ...], stride: int) -> np.ndarray:
    """Adjoint of ``_im2col``: (n, ho, wo, 9, c) -> (n, h, w, c)."""
    n, h, w, c = shape
    ho, wo = cols.shape[1], cols.shape[2]
    xp = np.zeros((n, h + 2, w + 2, c), cols.dtype)
    for k in range(9):
        i, j = divmod(k, 3)
        xp[:, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride] += (
            cols[:, :, :, k]
        )
    return xp[:, 1:-1, 1:-1]


@dataclass
class Conv:
    """Dense 3x3 (pad 1) or 1x1 convolution with bias."""

    name: str
    cin: int
    cout: int
    k: int = 3
    stride: int = 1
    bias: bool = True
    input_grad: bool = True  # the first layer needs no gradient for the image

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        fan_in = self.k * self.k * self.cin
        w = rng.normal(0, np.sqrt(2.0 / fan_in), (self.k * self.k * self.cin, self.cout))
        params = {"w": w.astype(np.float32)}
        if self.bias:
            params["b"] = np.zeros(self.cout, np.float32)
        return params

    def forward(self, p, x, train):
        cols = _im2col(x, self.stride) if self.k == 3 else x
        y = cols.reshape(-1, cols.shape[-1]) @ p["w"]
        if self.bias:
            y += p["b"]
        return y.reshape(*cols.shape[:3], self.cout), (cols, x.shape)

    def backward(self, p, cache, dy):
        cols, x_shape = cache
        dy2 = dy.reshape(-1, self.cout)
        grads = {"w": cols.reshape(-1, cols.shape[-1]).T @ dy2}
        if self.bias:
            grads["b"] = dy2.sum(axis=0)
        if not self.input_grad:
            return None, grads
        dcols = (dy2 @ p["w"].T).reshape(cols.shape)
        if self.k == 1:
            return dcols, grads
        dcols = dcols.reshape(*cols.shape[:3], 9, self.cin)
        return _col2im(dcols, x_shape, self.stride), grads

    def onnx_weight(self, p) -> np.ndarray:
        w = p["w"].reshape(self.k, self.k, self.cin, self.cout)
        return np.ascontiguousarray(w.transpose(3, 2, 0, 1))


@dataclass
class DepthwiseConv:
    """3x3 depthwise convolution (group == channels), pad 1, with bias."""

    name: str
    channels: int
    stride: int = 1

    def init(self, rng):
        w = rng.normal(0, np.sqrt(2.0 / 9), (9, self.channels))
        return {"w": w.astype(np.float32), "b": np.zeros(self.channels, np.float32)}

    def _taps(self, xp: np.ndarray, ho: int, wo: int):
        s = self.stride
        for k in range(9):
            i, j = divmod(k, 3)
            yield (
                k,
                (slice(None), slice(i, i + s * (ho - 1) + 1, s), slice(j, j + s * (wo - 1) + 1, s)),
            )

    def forward(self, p, x, train):
        n, h, w, c = x.shape
        ho, wo = (h - 1) // self.stride + 1, (w - 1) // self.stride + 1
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        y = np.broadcast_to(p["b"], (n, ho, wo, c)).copy()
        for k, window in self._taps(xp, ho, wo):
            y += xp[window] * p["w"][k]
        return y, xp

    def backward(self, p, xp, dy):
        n, ho, wo, c = dy.shape
        dw = np.empty_like(p["w"])
        dxp = np.zeros_like(xp)
        for k, window in self._taps(xp, ho, wo):
            dw[k] = np.einsum("nhwc,nhwc->c", xp[window], dy)
            dxp[window] += dy * p["w"][k]
        return dxp[:, 1:-1, 1:-1], {"w": dw, "b": dy.sum(axis=(0, 1, 2))}

    def onnx_weight(self, p) -> np.ndarray:
        return np.ascontiguousarray(p["w"].T.reshape(self.channels, 1, 3, 3))


@dataclass
class BatchNorm:
    name: str
    channels: int
    momentum: float = 0.9
    eps: float = 1e-5

    def init(self, rng):
        c = self.channels
        return {"gamma": np.ones(c, np.float32), "beta": np.zeros(c, np.float32)}

    def state(self) -> dict[str, np.ndarray]:
        return {
            "mean": np.zeros(self.channels, np.float32),
            "var": np.ones(self.channels, np.float32),
        }

    def forward(self, p, x, train, state=None):
        if train:
            flat = x.reshape(-1, self.channels)
            ones = np.full(len(flat), 1.0 / len(flat), np.float32)
            mean = ones @ flat
            var = np.maximum(ones @ (flat * flat) - mean * mean, 0.0)
            state["mean"] = self.momentum * state["mean"] + (1 - self.momentum) * mean
            state["var"] = self.momentum * state["var"] + (1 - self.momentum) * var
        else:
            mean, var = state["mean"], state["var"]
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mean) * inv
        return xhat * p["gamma"] + p["beta"], (xhat, inv)

    def backward(self, p, cache, dy):
        xhat, inv = cache
        m = dy.shape[0] * dy.shape[1] * dy.shape[2]
        grads = {"gamma": (dy * xhat).sum(axis=(0, 1, 2)), "beta": dy.sum(axis=(0, 1, 2))}
        dxhat = dy * p["gamma"]
        dx = (
            inv
            / m
            * (m * dxhat - dxhat.sum(axis=(0, 1, 2)) - xhat * (dxhat * xhat).sum(axis=(0, 1, 2)))
        )
        return dx, grads


class Relu:
    name = "relu"

    def forward(self, p, x, train):
        y = np.maximum(x, 0)
        return y, y > 0

    def backward(self, p, cache, dy):
        return dy * cache, {}


@dataclass
class Dense:
    """Global average pool, then a fully connected layer (Gemm, transB=1)."""

    name: str
    cin: int
    cout: int

    def init(self, rng):
        w = rng.normal(0, np.sqrt(1.0 / self.cin), (self.cout, self.cin))
        return {"w": w.astype(np.float32), "b": np.zeros(self.cout, np.float32)}

    def forward(self, p, x, train):
        pooled = x.mean(axis=(1, 2))
        return pooled @ p["w"].T + p["b"], (pooled, x.shape)

    def backward(self, p, cache, dy):
        pooled, x_shape = cache
        grads = {"w": dy.T @ pooled, "b": dy.sum(axis=0)}
        dpooled = dy @ p["w"]
        n, h, w, c = x_shape
        dx = np.broadcast_to(dpooled[:, None, None, :] / (h * w), x_shape)
        return dx, grads


def build_layers() -> list:
    """The demo architecture, in order (ReLUs between)."""
    return [
        Conv("conv1", 3, 16, stride=2, bias=False, input_grad=False),
        BatchNorm("bn1", 16),
        Relu(),
        Conv("conv2", 16, 32, bias=False),
        BatchNorm("bn2", 32),
        Relu(),
        DepthwiseConv("dwconv3", 32, stride=2),
        Relu(),
        Conv("conv4", 32, 64, k=1, bias=False),
        BatchNorm("bn4", 64),
        Relu(),
        Conv("conv5", 64, 64, stride=2, bias=False),
        BatchNorm("bn5", 64),
        Relu(),
        Dense("fc", 64, len(CLASS_NAMES)),
    ]


class Network:
    def __init__(self, rng: np.random.Generator):
        self.layers = build_layers()
        self.params = {
            layer.name: layer.init(rng) for layer in self.layers if not isinstance(layer, Relu)
        }
        self.state = {
            layer.name: layer.state() for layer in self.layers if isinstance(layer, BatchNorm)
        }

    def forward(self, x_nchw: np.ndarray, train: bool = False):
        x = np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1))
        caches = []
        for layer in self.layers:
            p = self.params.get(layer.name)
            if isinstance(layer, BatchNorm):
                x, cache = layer.forward(p, x, train, self.state[layer.name])
            else:
                x, cache = layer.forward(p, x, train)
            caches.append(cache)
        return x, caches

    def backward(self, caches, dlogits):
        grads = {}
        dy = dlogits
        for layer, cache in zip(reversed(self.layers), reversed(caches), strict=True):
            dy, g = layer.backward(self.params.get(layer.name), cache, dy)
            if g:
                grads[layer.name] = g
        return grads

    def predict(self, x_nchw: np.ndarray, batch: int = 500) -> np.ndarray:
        out = [self.forward(x_nchw[i : i + batch])[0] for i in range(0, len(x_nchw), batch)]
        return np.concatenate(out)

    def parameter_count(self) -> int:
        trainable = sum(a.size for p in self.params.values() for a in p.values())
        return trainable + sum(a.size for s in self.state.values() for a in s.values())


# ----------------------------------------------------------------------- training


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -float(log_p[np.arange(n), labels].mean())
    dlogits = np.exp(log_p)
    dlogits[np.arange(n), labels] -= 1.0
    return loss, (dlogits / n).astype(np.float32)


class Adam:
    """AdamW: Adam with decoupled weight decay on the convolution and dense weights."""

    def __init__(self, params: dict, weight_decay: float):
        self.m = {k: {n: np.zeros_like(a) for n, a in p.items()} for k, p in params.items()}
        self.v = {k: {n: np.zeros_like(a) for n, a in p.items()} for k, p in params.items()}
        self.t = 0
        self.weight_decay = weight_decay

    def step(self, params: dict, grads: dict, lr: float, b1=0.9, b2=0.999, eps=1e-8) -> None:
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for layer, g in grads.items():
            for name, grad in g.items():
                m, v, p = self.m[layer][name], self.v[layer][name], params[layer][name]
                m *= b1
                m += (1 - b1) * grad
                v *= b2
                v += (1 - b2) * grad * grad
                if name == "w":
                    p *= 1 - lr * self.weight_decay
                p -= lr * (m / c1) / (np.sqrt(v / c2) + eps)


def train(
    net: Network,
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int,
    rng: np.random.Generator,
    log=print,
) -> None:
    """Mini-batch AdamW with a cosine learning-rate schedule and random flips."""
    opt = Adam(net.params, WEIGHT_DECAY)
    steps_per_epoch = len(images) // BATCH
    total = epochs * steps_per_epoch
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        losses, correct = [], 0
        start = time.perf_counter()
        for b in range(steps_per_epoch):
            idx = order[b * BATCH : (b + 1) * BATCH]
            x = normalize(images[idx])
            # Every class is symmetric under horizontal and vertical flips.
            if rng.uniform() < 0.5:
                x = x[:, :, :, ::-1]
            if rng.uniform() < 0.5:
                x = x[:, :, ::-1, :]
            y = labels[idx]
            lr = LEARNING_RATE * 0.5 * (1 + np.cos(np.pi * step / total))
            logits, caches = net.forward(x, train=True)
            loss, dlogits = _softmax_cross_entropy(logits, y)
            opt.step(net.params, net.backward(caches, dlogits), lr)
            losses.append(loss)
            correct += int((logits.argmax(axis=1) == y).sum())
            step += 1
        log(
            f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.3f}, "
            f"train acc {correct / (steps_per_epoch * BATCH):.3f}, "
            f"{time.perf_counter() - start:.1f} s"
        )


# ------------------------------------------------------------------------- export


def to_onnx(net: Network):
    """The trained network as an ONNX model (opset 13), NCHW, batch 1."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    initializers = []
    nodes = []

    def const(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    x = "image"
    for layer in net.layers:
        p = net.params.get(layer.name)
        if isinstance(layer, Conv | DepthwiseConv):
            inputs = [x, const(f"{layer.name}.weight", layer.onnx_weight(p))]
            if "b" in p:
                inputs.append(const(f"{layer.name}.bias", p["b"]))
            group = layer.channels if isinstance(layer, DepthwiseConv) else 1
            k = getattr(layer, "k", 3)
            nodes.append(
                helper.make_node(
                    "Conv",
                    inputs,
                    [layer.name],
                    name=layer.name,
                    kernel_shape=[k, k],
                    strides=[layer.stride, layer.stride],
                    pads=[k // 2] * 4,
                    group=group,
                )
            )
            x = layer.name
        elif isinstance(layer, BatchNorm):
            s = net.state[layer.name]
            inputs = [
                x,
                const(f"{layer.name}.scale", p["gamma"]),
                const(f"{layer.name}.bias", p["beta"]),
                const(f"{layer.name}.mean", s["mean"]),
                const(f"{layer.name}.var", s["var"]),
            ]
            nodes.append(
                helper.make_node(
                    "BatchNormalization",
                    inputs,
                    [layer.name],
                    name=layer.name,
                    epsilon=layer.eps,
                )
            )
            x = layer.name
        elif isinstance(layer, Relu):
            name = f"{x}.relu"
            nodes.append(helper.make_node("Relu", [x], [name], name=name))
            x = name
        elif isinstance(layer, Dense):
            nodes += [
                helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"),
                helper.make_node("Flatten", ["pool"], ["features"], name="flatten", axis=1),
                helper.make_node(
                    "Gemm",
                    ["features", const("fc.weight", p["w"]), const("fc.bias", p["b"])],
                    ["logits"],
                    name="fc",
                    transB=1,
                ),
            ]
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1))

    classes = len(CLASS_NAMES)
    graph = helper.make_graph(
        nodes,
        "workbench_demo_shapes",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, classes]),
        ],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="workbench.data.make_demo",
        doc_string=(
            "Shapes classifier for the Quantization Workbench demo. Input: "
            f"(pixel / 255 - {NORM_MEAN}) / {NORM_STD}, NCHW RGB. Classes: "
            + ", ".join(CLASS_NAMES)
        ),
    )
    model.ir_version = 8  # readable by older ONNX Runtime releases too
    onnx.checker.check_model(model, full_check=True)
    return model


def ort_logits(model_bytes: bytes, images: np.ndarray) -> np.ndarray:
    """Logits from ONNX Runtime, one image per run (the model has batch 1)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(["logits"], {"image": x[None]})[0] for x in images])


# --------------------------------------------------------------------------- main


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


def _assert_disjoint(*sets: np.ndarray) -> None:
    """No image may appear in two sets (with this much noise a clash means a seeding bug)."""
    seen: set[bytes] = set()
    for images in sets:
        digests = {img.tobytes() for img in images}
        if seen & digests:
            raise RuntimeError("the demo image sets overlap")
        seen |= digests


def build(out_dir: Path, epochs: int = EPOCHS, n_train: int = N_TRAIN, log=print) -> dict:
    """Generate the data, train, export, evaluate with ONNX Runtime and write ``out_dir``."""
    started = time.perf_counter()
    # Independent streams, so changing one set's size leaves the others alone.
    streams = np.random.SeedSequence(SEED).spawn(6)
    rng_train, rng_holdout, rng_val, rng_cal, rng_init, rng_order = (
        np.random.default_rng(s) for s in streams
    )
    train_labels = balanced_labels(rng_train, n_train)
    train_images = render(train_labels, rng_train)
    holdout_labels = balanced_labels(rng_holdout, N_HOLDOUT)
    holdout_images = render(holdout_labels, rng_holdout)
    val_labels = balanced_labels(rng_val, N_VALIDATION)
    val_images = render(val_labels, rng_val)
    cal_images = render(balanced_labels(rng_cal, N_CALIBRATION), rng_cal)
    _assert_disjoint(train_images, holdout_images, val_images, cal_images)
    log(f"rendered the image sets in {time.perf_counter() - started:.1f} s")

    net = Network(rng_init)
    train_start = time.perf_counter()
    train(net, train_images, train_labels, epochs, rng_order, log=log)
    train_seconds = time.perf_counter() - train_start

    model = to_onnx(net)
    model_bytes = model.SerializeToString()
    val_logits = ort_logits(model_bytes, normalize(val_images))
    holdout_logits = ort_logits(model_bytes, normalize(holdout_images))
    # The exported graph must compute what the trainer computed.
    mismatch = float(np.abs(val_logits - net.predict(normalize(val_images))).max())
    if mismatch > 1e-3:
        raise RuntimeError(f"ONNX export disagrees with the trainer (max |diff| {mismatch:.2e})")

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "demo.onnx").write_bytes(model_bytes)
    np.save(out_dir / "validation_images.npy", val_images)
    np.save(out_dir / "validation_labels.npy", val_labels)
    np.save(out_dir / "calibration_images.npy", cal_images)
    meta = {
        "format": 1,
        "model": "demo.onnx",
        "input": {"name": "image", "shape": [1, 3, SIZE, SIZE], "layout": "NCHW", "colour": "RGB"},
        "outputs": ["logits", "probabilities"],
        "classes": CLASS_NAMES,
        "normalization": {
            "formula": "(pixel / 255 - mean) / std",
            "mean": NORM_MEAN,
            "std": NORM_STD,
        },
        "seed": SEED,
        "parameters": net.parameter_count(),
        "validation": {
            "count": N_VALIDATION,
            "accuracy": round(_accuracy(val_logits, val_labels), 4),
            "measured_by": "onnxruntime on demo.onnx",
        },
        "holdout": {
            "count": N_HOLDOUT,
            "accuracy": round(_accuracy(holdout_logits, holdout_labels), 4),
            "note": "a larger set drawn like the validation set, not shipped",
        },
        "calibration": {"count": N_CALIBRATION},
        "training": {
            "samples": n_train,
            "epochs": epochs,
            "batch": BATCH,
            "optimizer": "AdamW, cosine learning rate",
            "learning_rate": LEARNING_RATE,
            "weight_decay": WEIGHT_DECAY,
            "augmentation": "random horizontal and vertical flips",
            "seconds": round(train_seconds, 1),
            "numpy_vs_onnxruntime_max_abs_diff": float(f"{mismatch:.2e}"),
        },
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    log(
        f"validation accuracy {meta['validation']['accuracy']:.3f} "
        f"(holdout {meta['holdout']['accuracy']:.3f}), trained in {train_seconds:.0f} s, "
        f"total {time.perf_counter() - started:.0f} s"
    )
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m workbench.data.make_demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=DEMO_DIR, help="output folder")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--train-size", type=int, default=N_TRAIN)
    args = parser.parse_args(argv)
    build(args.out, epochs=args.epochs, n_train=args.train_size)


if __name__ == "__main__":
    main()
