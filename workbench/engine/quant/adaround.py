"""AdaRound: learned rounding of weights on the calibration data, layer by layer.

Nagel et al., "Up or Down? Adaptive Rounding for Post-Training Quantization" (ICML
2020). For each weight layer (Conv of any group, Gemm, MatMul with a constant weight)
and its fixed encoding (scale ``delta``, integer grid ``[o, o + levels]``), the rounding
of every weight is learned instead of taken to the nearest level::

    W~ = delta * clip(floor(W / delta) + h(V), o, o + levels)
    h(V) = clip(sigmoid(V) * (zeta - gamma) + gamma, 0, 1)     zeta = 1.1, gamma = -0.1

minimising the layer's output reconstruction error on its (float) calibration inputs
plus the regulariser that drives ``h`` to 0 or 1::

    || W x - W~ x ||^2 / n  +  lambda * sum(1 - |2 h(V) - 1|^beta)

with ``beta`` annealed from 20 to 2 after a warm-up (the paper's schedule), Adam on
``V``, ``V`` started where ``h(V)`` equals the fractional part (nearest rounding's
neighbourhood). The reconstruction term is exact over every sampled input row through
their Gram matrix ``G = X^T X`` (per Conv group), so an iteration costs one
``(M x K) @ (K x K)`` product, whatever the number of samples. At the end every weight
is rounded up where ``h >= 0.5``, else down; the rounded weights lie on the grid, so the
quantizer's ``quantize`` stores exactly the learned integers.

A **time budget** bounds the whole: each layer gets an equal share of what is left (and
``MAX_ITERATIONS`` at most); a layer whose Gram matrix would not fit ``MAX_GRAM_BYTES``,
or that the budget does not reach, keeps nearest rounding (the report says which). A
layer whose learned rounding does not lower the reconstruction error keeps nearest too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node
from workbench.engine.quant.encoding import AnyEncoding, ChannelEncoding

ZETA, GAMMA = 1.1, -0.1
LAMBDA = 0.01
BETA_START, BETA_END = 20.0, 2.0
WARMUP = 0.2  # share of the iterations before the regulariser starts
LEARNING_RATE = 1e-2
MAX_ITERATIONS = 1000
MAX_GRAM_BYTES = 64 * 2**20  # per layer
ROWS_PER_SAMPLE = 512  # input rows (output positions) sampled per calibration sample

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LayerRounding:
    weight: str
    node: str
    mse_nearest: float  # reconstruction error (per sampled output row) with nearest rounding
    mse_learned: float  # ... with the learned rounding (= nearest when kept)
    flipped: float  # share of weights rounded the other way than nearest
    iterations: int
    seconds: float
    kept_nearest: str = ""  # why nearest rounding was kept, if it was


@dataclass
class _Target:
    name: str
    node: Node
    kind: str  # "conv" | "gemm" | "matmul"
    wmat: np.ndarray  # (M, K_total) float64: rows = output channels
    delta: np.ndarray  # (M, 1)
    low: np.ndarray  # (M, 1) lowest integer level (the encoding's offset)
    high: np.ndarray  # (M, 1)
    groups: int
    kernel: tuple[int, ...] = ()  # a Conv's kernel shape
    gram: list[np.ndarray] | None = None
    rows: int = 0


def _rows_view(w: np.ndarray, node: Node, kind: str) -> np.ndarray:
    """The weight as (output channels, inputs per channel)."""
    if kind == "conv":
        return w.reshape(w.shape[0], -1)
    if kind == "gemm" and int(node.attr("transB", 0)):
        return w
    return w.T  # Gemm (K, N), MatMul (K, N)


def _from_rows(rows: np.ndarray, shape: tuple[int, ...], node: Node, kind: str) -> np.ndarray:
    if kind == "conv":
        return rows.reshape(shape)
    if kind == "gemm" and int(node.attr("transB", 0)):
        return rows
    return rows.T


def _grid(enc: AnyEncoding, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    delta = np.broadcast_to(np.asarray(enc.delta, dtype=np.float64).reshape(-1), (m,))
    low = np.broadcast_to(np.asarray(enc.offset, dtype=np.float64).reshape(-1), (m,))
    return delta[:, None].copy(), low[:, None].copy(), (low + enc.levels)[:, None].copy()


def _kind(node: Node, graph: Graph, name: str) -> str | None:
    if node.domain or len(node.inputs) < 2 or node.inputs[1] != name:
        return None
    if node.op_type == "Conv" and graph.params[name].ndim >= 3:
        return "conv"
    if node.op_type == "Gemm" and not int(node.attr("transA", 0)):
        return "gemm"
    if node.op_type == "MatMul" and graph.params[name].ndim == 2:
        return "matmul"
    return None


def _conv_rows(x: np.ndarray, node: Node, w_shape: tuple[int, ...], group: int) -> np.ndarray:
    """im2col of one group's input: (positions, Cg * kernel) for an N-d Conv."""
    n, c = x.shape[:2]
    spatial = x.ndim - 2
    kernel = tuple(w_shape[2:])
    strides = tuple(node.attr("strides", [1] * spatial))
    dilations = tuple(node.attr("dilations", [1] * spatial))
    pads = list(node.attr("pads", [0] * (2 * spatial)))
    auto = node.attr("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for d in range(spatial):
            size = x.shape[2 + d]
            out = -(-size // strides[d])
            total = max(0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - size)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if auto == "SAME_UPPER" else (big, small))
        pad_width = [(0, 0), (0, 0), *pads]
    else:
        pad_width = [(0, 0), (0, 0), *[(pads[d], pads[d + spatial]) for d in range(spatial)]]
    groups = int(node.attr("group", 1))
    cg = c // groups
    xg = np.pad(x[:, group * cg : (group + 1) * cg], pad_width)
    span = tuple((k - 1) * dl + 1 for k, dl in zip(kernel, dilations, strict=True))
    win = np.lib.stride_tricks.sliding_window_view(xg, span, axis=tuple(range(2, 2 + spatial)))
    index = (slice(None), slice(None))
    index += tuple(slice(None, None, s) for s in strides)
    index += tuple(slice(None, None, dl) for dl in dilations)
    win = win[index]  # (n, cg, out..., k...)
    outs = win.shape[2 : 2 + spatial]
    order = (0, *range(2, 2 + spatial), 1, *range(2 + spatial, 2 + 2 * spatial))
    return win.transpose(order).reshape(n * int(np.prod(outs)), cg * int(np.prod(kernel)))


def _input_rows(t: _Target, x: np.ndarray, group: int) -> np.ndarray:
    if t.kind == "conv":
        shape = (t.wmat.shape[0], -1, *t.kernel)
        return _conv_rows(np.asarray(x, dtype=np.float64), t.node, shape, group)
    return np.asarray(x, dtype=np.float64).reshape(-1, t.wmat.shape[1])


def adaround(
    graph: Graph,
    samples: Iterable[Mapping[str, np.ndarray]],
    param_encs: Mapping[str, AnyEncoding],
    weights: Iterable[str],
    *,
    budget_s: float = 60.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[dict[str, np.ndarray], tuple[LayerRounding, ...]]:
    """Learned rounding for ``weights`` (parameter names with encodings in ``param_encs``)
    of ``graph`` (float) on the calibration ``samples`` (re-iterable). Returns the rounded
    float weights (on their grid; only for the layers where it helped) and one
    ``LayerRounding`` per weight considered. See the module doc."""
    start = time.perf_counter()
    targets: list[_Target] = []
    skipped: list[LayerRounding] = []
    by_name = {}
    for n in graph.nodes:
        for i in n.inputs[1:2]:
            by_name.setdefault(i, n)
    for name in weights:
        node = by_name.get(name)
        enc = param_encs.get(name)
        kind = _kind(node, graph, name) if node is not None and enc is not None else None
        if kind is None:
            continue
        w = np.asarray(graph.params[name], dtype=np.float64)
        wmat = _rows_view(w, node, kind)
        if isinstance(enc, ChannelEncoding) and len(enc) != wmat.shape[0]:
            continue  # per-channel along another axis than the output channels
        delta, low, high = _grid(enc, wmat.shape[0])
        groups = int(node.attr("group", 1)) if kind == "conv" else 1
        t = _Target(name, node, kind, wmat, delta, low, high, groups, tuple(w.shape[2:]))
        k = wmat.shape[1]
        if groups * k * k * 8 > MAX_GRAM_BYTES:
            skipped.append(
                LayerRounding(name, node.name, float("nan"), float("nan"), 0.0, 0, 0.0,
                              f"its Gram matrix ({k} inputs per channel) is too large")
            )  # fmt: skip
            continue
        targets.append(t)

    # One calibration pass gathers every target's Gram matrices (their sizes are bounded).
    wanted = {t.node.inputs[0] for t in targets}
    rng = np.random.default_rng(seed)
    if targets:
        plan = Plan(graph, keep=tuple(wanted))
        for t in targets:
            k = t.wmat.shape[1]
            t.gram = [np.zeros((k, k)) for _ in range(t.groups)]
        for item in samples:  # feed dicts, or a FeedSource's (label, feeds)
            feeds = item[1] if isinstance(item, tuple) else item
            seen: dict[str, np.ndarray] = {n: v for n, v in feeds.items() if n in wanted}

            def hook(name: str, value: np.ndarray, seen=seen) -> None:
                if name in wanted:
                    seen[name] = value

            plan.run(feeds, hook=hook)
            for t in targets:
                x = seen.get(t.node.inputs[0])
                if x is None:
                    continue
                pick = None
                for g in range(t.groups):
                    rows = _input_rows(t, x, g)
                    if pick is None:
                        count = rows.shape[0]
                        pick = (
                            rng.choice(count, ROWS_PER_SAMPLE, replace=False)
                            if count > ROWS_PER_SAMPLE
                            else slice(None)
                        )
                    rows = rows[pick]
                    t.gram[g] += rows.T @ rows
                    if g == 0:
                        t.rows += rows.shape[0]

    rounded: dict[str, np.ndarray] = {}
    report: list[LayerRounding] = list(skipped)
    for done, t in enumerate(targets, start=1):
        left = budget_s - (time.perf_counter() - start)
        share = left / (len(targets) - done + 1)
        if t.rows == 0 or share <= 0:
            why = "the time budget ran out" if share <= 0 else "no calibration input reached it"
            report.append(LayerRounding(t.name, t.node.name, float("nan"), float("nan"), 0.0,
                                        0, 0.0, why))  # fmt: skip
            continue
        result, row = _learn(t, share)
        report.append(row)
        if result is not None:
            shape = graph.params[t.name].shape
            rounded[t.name] = _from_rows(result, shape, t.node, t.kind).astype(np.float32)
        if progress:
            progress("adaround", done, len(targets))
    return rounded, tuple(report)


def _loss(t: _Target, diff: np.ndarray) -> tuple[float, np.ndarray]:
    """Reconstruction error per sampled row, and its gradient in the weights."""
    m = diff.shape[0]
    per = m // t.groups
    total = 0.0
    grad = np.empty_like(diff)
    for g in range(t.groups):
        d = diff[g * per : (g + 1) * per]
        dg = d @ t.gram[g]
        total += float(np.sum(d * dg))
        grad[g * per : (g + 1) * per] = 2.0 * dg
    return total / t.rows, grad / t.rows


def _learn(t: _Target, seconds: float) -> tuple[np.ndarray | None, LayerRounding]:
    t0 = time.perf_counter()
    scaled = t.wmat / t.delta
    floor = np.floor(scaled)
    frac = scaled - floor
    nearest = np.clip(np.where(frac >= 0.5, floor + 1, floor), t.low, t.high) * t.delta
    base, _ = _loss(t, nearest - t.wmat)
    # V where h(V) = frac: sigmoid(V) = (frac - gamma) / (zeta - gamma)
    p = np.clip((frac - GAMMA) / (ZETA - GAMMA), 1e-4, 1 - 1e-4)
    v = np.log(p / (1 - p))
    m1 = np.zeros_like(v)
    m2 = np.zeros_like(v)
    it = 0
    # The schedule spans the iterations the time share allows (measured on the first
    # few), so the regulariser anneals fully even when the budget is short.
    total = MAX_ITERATIONS
    warm = int(WARMUP * total)
    while it < total and (it < 3 or time.perf_counter() - t0 < seconds):
        it += 1
        if it == 4:
            per = (time.perf_counter() - t0) / 3
            total = int(min(MAX_ITERATIONS, max(10, seconds / max(per, 1e-9))))
            warm = int(WARMUP * total)
        sig = 1.0 / (1.0 + np.exp(-v))
        h_raw = sig * (ZETA - GAMMA) + GAMMA
        h = np.clip(h_raw, 0.0, 1.0)
        level = floor + h
        inside = (level >= t.low) & (level <= t.high)
        w_soft = np.clip(level, t.low, t.high) * t.delta
        _, grad_w = _loss(t, w_soft - t.wmat)
        dh = sig * (1 - sig) * (ZETA - GAMMA) * ((h_raw > 0) & (h_raw < 1))
        grad = grad_w * t.delta * inside * dh
        if it > warm:
            progress_ = min(1.0, (it - warm) / max(1, total - warm))
            beta = BETA_END + 0.5 * (BETA_START - BETA_END) * (1 + np.cos(np.pi * progress_))
            u = 2 * h - 1
            # d/dh of (1 - |2h - 1|^beta) = -2 beta |u|^(beta-1) sign(u)
            grad_reg = -2.0 * beta * np.abs(u) ** (beta - 1) * np.sign(u)
            grad = grad + LAMBDA * grad_reg * dh
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad * grad
        v -= LEARNING_RATE * (m1 / (1 - 0.9**it)) / (np.sqrt(m2 / (1 - 0.999**it)) + 1e-8)
    h = np.clip(1.0 / (1.0 + np.exp(-v)) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)
    learned = np.clip(floor + (h >= 0.5), t.low, t.high) * t.delta
    mse, _ = _loss(t, learned - t.wmat)
    flipped = float(np.mean(learned != nearest))
    spent = time.perf_counter() - t0
    if not mse < base:
        row = LayerRounding(t.name, t.node.name, base, base, 0.0, it, spent,
                            "the learned rounding did not lower the error")  # fmt: skip
        return None, row
    return learned, LayerRounding(t.name, t.node.name, base, mse, flipped, it, spent)
