"""Recurrent layers: ONNX LSTM, GRU and RNN (every direction, sequence lengths, initial
states, activations with their alpha/beta, clip, layout).

The input projection of every time step is one GEMM (``X @ W^T + bias``) before the
loop; each step then adds ``H @ R^T`` and applies the gates, whole batch at a time.
Constant weights are transposed (and biases summed) once, at plan time. Sequence
lengths mask the steps past each sequence's end: the state stops changing there and
``Y`` is zero, as ONNX specifies; the reverse direction reverses each sequence within
its own length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register

Activation = Callable[[np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a negative argument only: no overflow warnings, exact at both ends.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _activation(name: str, alpha: float, beta: float) -> Activation:
    kind = name.lower()
    if kind == "sigmoid":
        return _sigmoid
    if kind == "tanh":
        return np.tanh
    if kind == "relu":
        return lambda x: np.maximum(x, 0).astype(x.dtype, copy=False)
    if kind == "affine":
        return lambda x: (alpha * x + beta).astype(x.dtype, copy=False)
    if kind == "leakyrelu":
        return lambda x: np.where(x >= 0, x, alpha * x).astype(x.dtype, copy=False)
    if kind == "thresholdedrelu":
        return lambda x: np.where(x >= alpha, x, 0).astype(x.dtype, copy=False)
    if kind == "scaledtanh":
        return lambda x: (alpha * np.tanh(beta * x)).astype(x.dtype, copy=False)
    if kind == "hardsigmoid":
        return lambda x: np.clip(alpha * x + beta, 0, 1).astype(x.dtype, copy=False)
    if kind == "elu":
        return lambda x: np.where(x >= 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)).astype(
            x.dtype, copy=False
        )
    if kind == "softsign":
        return lambda x: (x / (1 + np.abs(x))).astype(x.dtype, copy=False)
    if kind == "softplus":
        return lambda x: np.logaddexp(0, x).astype(x.dtype, copy=False)
    raise ValueError(f"unknown activation {name!r}")


# Which activations read alpha / beta, and their defaults (as ONNX Runtime has them).
_USES = {
    "affine": (True, True),
    "leakyrelu": (True, False),
    "thresholdedrelu": (True, False),
    "scaledtanh": (True, True),
    "hardsigmoid": (True, True),
    "elu": (True, False),
}
_DEFAULTS = {"leakyrelu": (0.01, 0.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, 0.0)}
_DEFAULT_ACTIVATIONS = {
    "LSTM": ("Sigmoid", "Tanh", "Tanh"),
    "GRU": ("Sigmoid", "Tanh"),
    "RNN": ("Tanh",),
}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def activations(
    kind: str,
    directions: int,
    names: Sequence[str] | None,
    alphas: Sequence[float] = (),
    betas: Sequence[float] = (),
) -> list[list[Activation]]:
    """Per direction, the layer's activation functions (alpha/beta consumed in order)."""
    per_dir = len(_DEFAULT_ACTIVATIONS[kind])
    names = list(names) if names else list(_DEFAULT_ACTIVATIONS[kind]) * directions
    if len(names) == per_dir and directions == 2:
        names = names * 2
    if len(names) != per_dir * directions:
        raise ValueError(f"{kind} takes {per_dir * directions} activations, got {len(names)}")
    a, b = list(alphas), list(betas)
    funcs = []
    for name in names:
        key = str(name).lower()
        uses_a, uses_b = _USES.get(key, (False, False))
        da, db = _DEFAULTS.get(key, (0.0, 0.0))
        alpha = a.pop(0) if uses_a and a else da
        beta = b.pop(0) if uses_b and b else db
        funcs.append(_activation(str(name), float(alpha), float(beta)))
    return [funcs[d * per_dir : (d + 1) * per_dir] for d in range(directions)]


@dataclass(frozen=True)
class Cell:
    """One recurrent layer's settings, resolved from the node's attributes."""

    kind: str
    hidden: int
    directions: tuple[str, ...]  # "forward" / "reverse" per direction index
    acts: list[list[Activation]]
    clip: float | None = None
    input_forget: bool = False
    linear_before_reset: bool = False
    layout: int = 0


def cell_from(ctx: OpContext, kind: str) -> Cell:
    direction = str(ctx.attr("direction", "forward"))
    dirs = {
        "forward": ("forward",),
        "reverse": ("reverse",),
        "bidirectional": ("forward", "reverse"),
    }.get(direction)
    if dirs is None:
        raise ctx.fail(f"unknown direction {direction!r}")
    hidden = ctx.attr("hidden_size")
    r = ctx.const(2)
    if hidden is None and r is not None:
        hidden = r.shape[-1]
    if hidden is None:
        raise ctx.fail("hidden_size is not given and R is not constant")
    clip = ctx.attr("clip")
    acts = activations(
        kind,
        len(dirs),
        ctx.attr("activations"),
        ctx.attr("activation_alpha", []),
        ctx.attr("activation_beta", []),
    )
    return Cell(
        kind=kind,
        hidden=int(hidden),
        directions=dirs,
        acts=acts,
        clip=None if clip is None else float(clip),
        input_forget=bool(ctx.attr("input_forget", 0)),
        linear_before_reset=bool(ctx.attr("linear_before_reset", 0)),
        layout=int(ctx.attr("layout", 0)),
    )


@dataclass(frozen=True)
class Weights:
    """One direction's weights, laid out for the loop."""

    w_t: np.ndarray  # (I, G*H)
    r_t: np.ndarray  # (H, G*H)
    bias: np.ndarray  # (G*H,): Wb + Rb (GRU with linear_before_reset: Wb + Rb except Rbh)
    rbh: np.ndarray | None = None  # GRU, linear_before_reset: Rb of the hidden gate
    peephole: np.ndarray | None = None  # LSTM: (3, H), gates i, o, f


def layer_weights(
    cell: Cell,
    w: np.ndarray,
    r: np.ndarray,
    b: np.ndarray | None,
    p: np.ndarray | None = None,
) -> list[Weights]:
    g = GATES[cell.kind]
    h = cell.hidden
    out = []
    for d in range(len(cell.directions)):
        wd, rd = w[d], r[d]
        if wd.shape[0] != g * h or rd.shape != (g * h, h):
            raise ValueError(
                f"{cell.kind} weights of shapes {w.shape} and {r.shape} for hidden size {h}"
            )
        wb = b[d][: g * h] if b is not None else np.zeros(g * h, w.dtype)
        rb = b[d][g * h :] if b is not None else np.zeros(g * h, w.dtype)
        rbh = None
        bias = wb + rb
        if cell.kind == "GRU" and cell.linear_before_reset:
            bias = np.concatenate([wb[: 2 * h] + rb[: 2 * h], wb[2 * h :]])
            rbh = np.ascontiguousarray(rb[2 * h :])
        peep = None
        if cell.kind == "LSTM" and p is not None:
            peep = np.asarray(p[d]).reshape(3, h)
        out.append(
            Weights(
                np.ascontiguousarray(wd.T),
                np.ascontiguousarray(rd.T),
                np.ascontiguousarray(bias, dtype=w.dtype),
                rbh,
                peep,
            )
        )
    return out


def _clip(x: np.ndarray, clip: float | None) -> np.ndarray:
    return x if clip is None else np.clip(x, -clip, clip, out=x)


def _reverse(x: np.ndarray, lens: np.ndarray | None) -> np.ndarray:
    """Each sequence (axis 0, batch on axis 1) reversed within its own length."""
    if lens is None:
        return x[::-1]
    t = np.arange(x.shape[0])[:, None]
    idx = np.where(t < lens[None, :], lens[None, :] - 1 - t, t)
    return np.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=0)


# Applied to (h, c) after every step: how a fixed-point runtime stores its state.
StateGrid = Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]]


def run_direction(
    cell: Cell,
    d: int,
    wts: Weights,
    x: np.ndarray,
    h: np.ndarray,
    c: np.ndarray | None,
    lens: np.ndarray | None,
    state_grid: StateGrid | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One direction over the sequence: ``Y`` (T, B, H), the last ``h`` and ``c``.

    ``state_grid`` (the integer executor's) puts the state on its storage grid after
    every step, as a runtime keeping its state in 16-bit codes does.
    """
    reverse = cell.directions[d] == "reverse"
    seq = _reverse(x, lens) if reverse else x
    steps, batch = seq.shape[:2]
    hs = cell.hidden
    # ``@``, not np.matmul: quantized weights (``integer.py``) implement ``__rmatmul__``.
    proj = (seq.reshape(steps * batch, -1) @ wts.w_t).reshape(steps, batch, -1)
    proj += wts.bias
    acts = cell.acts[d]
    y = np.zeros((steps, batch, hs), x.dtype)
    for t in range(steps):
        gates = proj[t] + h @ wts.r_t if cell.kind != "GRU" else proj[t]
        if cell.kind == "LSTM":
            h_new, c_new = _lstm_step(cell, acts, wts, gates, c)
        elif cell.kind == "GRU":
            h_new, c_new = _gru_step(cell, acts, wts, gates, h), None
        else:
            h_new, c_new = acts[0](_clip(gates, cell.clip)), None
        if state_grid is not None:
            h_new, c_new = state_grid(h_new, c_new)
        if lens is not None:
            live = (t < lens)[:, None]
            h_new = np.where(live, h_new, h)
            if c is not None:
                c_new = np.where(live, c_new, c)
            y[t] = np.where(live, h_new, 0)
        else:
            y[t] = h_new
        h, c = h_new, c_new
    if reverse:
        y = _reverse(y, lens)
    return y, h, c


def _lstm_step(cell, acts, wts: Weights, gates: np.ndarray, c: np.ndarray):
    f_act, g_act, h_act = acts
    hs = cell.hidden
    gi, go, gf, gc = (gates[:, k * hs : (k + 1) * hs] for k in range(4))
    if wts.peephole is not None:
        gi = gi + wts.peephole[0] * c
        gf = gf + wts.peephole[2] * c
    i = f_act(_clip(gi, cell.clip))
    f = 1 - i if cell.input_forget else f_act(_clip(gf, cell.clip))
    cand = g_act(_clip(gc, cell.clip))
    c_new = f * c + i * cand
    if wts.peephole is not None:
        go = go + wts.peephole[1] * c_new
    o = f_act(_clip(go, cell.clip))
    return o * h_act(c_new), c_new


def _gru_step(cell, acts, wts: Weights, proj: np.ndarray, h: np.ndarray):
    f_act, g_act = acts
    hs = cell.hidden
    rec = h @ wts.r_t[:, : 2 * hs]
    z = f_act(_clip(proj[:, :hs] + rec[:, :hs], cell.clip))
    r = f_act(_clip(proj[:, hs : 2 * hs] + rec[:, hs:], cell.clip))
    if cell.linear_before_reset:
        hh = proj[:, 2 * hs :] + r * (h @ wts.r_t[:, 2 * hs :] + wts.rbh)
    else:
        hh = proj[:, 2 * hs :] + (r * h) @ wts.r_t[:, 2 * hs :]
    cand = g_act(_clip(hh, cell.clip))
    return (1 - z) * cand + z * h


def _prepare(ctx: OpContext, kind: str) -> Kernel:
    cell = cell_from(ctx, kind)
    has_p = kind == "LSTM" and ctx.has_input(7)
    const_idx = (1, 2, 3, 7) if kind == "LSTM" else (1, 2, 3)
    constant = all(ctx.const(i) is not None for i in const_idx if ctx.has_input(i))
    ready = None
    if constant:
        b = ctx.const(3) if ctx.has_input(3) else None
        ready = layer_weights(cell, ctx.const(1), ctx.const(2), b, ctx.const(7) if has_p else None)

    def run(
        x: np.ndarray,
        w: np.ndarray,
        r: np.ndarray,
        b: np.ndarray | None = None,
        seq_lens: np.ndarray | None = None,
        h0: np.ndarray | None = None,
        c0: np.ndarray | None = None,
        p: np.ndarray | None = None,
    ) -> tuple[np.ndarray, ...]:
        weights = ready or layer_weights(cell, w, r, b, p if has_p else None)
        return run_layer(cell, weights, x, seq_lens, h0, c0, len(ctx.node.outputs))

    return run


def run_layer(
    cell: Cell,
    weights: list[Weights],
    x: np.ndarray,
    seq_lens: np.ndarray | None,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    n_outputs: int,
    state_grid: StateGrid | None = None,
) -> tuple[np.ndarray, ...]:
    """The layer over ``x`` (ONNX's inputs and outputs, in the cell's layout)."""
    kind = cell.kind
    dirs = len(cell.directions)
    if cell.layout:
        x = x.transpose(1, 0, 2)
        h0 = None if h0 is None else h0.transpose(1, 0, 2)
        c0 = None if c0 is None else c0.transpose(1, 0, 2)
    steps, batch = x.shape[:2]
    lens = None
    if seq_lens is not None:
        lens = np.asarray(seq_lens, dtype=np.int64).reshape(-1)
        if lens.size != batch:
            raise ValueError(f"sequence_lens has {lens.size} values for a batch of {batch}")
        lens = np.clip(lens, 0, steps)
        if (lens == steps).all():
            lens = None
    zeros = np.zeros((dirs, batch, cell.hidden), x.dtype)
    h0 = zeros if h0 is None else h0.astype(x.dtype, copy=False)
    c0 = (zeros if c0 is None else c0.astype(x.dtype, copy=False)) if kind == "LSTM" else None
    ys, hs, cs = [], [], []
    for d in range(dirs):
        y, h, c = run_direction(
            cell, d, weights[d], x, h0[d], None if c0 is None else c0[d], lens, state_grid
        )
        ys.append(y)
        hs.append(h)
        cs.append(c)
    y = np.stack(ys, axis=1)  # (T, dirs, B, H)
    y_h = np.stack(hs)
    if cell.layout:
        y = y.transpose(2, 0, 1, 3)
        y_h = y_h.transpose(1, 0, 2)
    out = [np.ascontiguousarray(y), np.ascontiguousarray(y_h)]
    if kind == "LSTM":
        y_c = np.stack(cs)
        out.append(np.ascontiguousarray(y_c.transpose(1, 0, 2) if cell.layout else y_c))
    return tuple(out[:n_outputs])


@register("LSTM")
def lstm(ctx: OpContext) -> Kernel:
    return _prepare(ctx, "LSTM")


@register("GRU")
def gru(ctx: OpContext) -> Kernel:
    return _prepare(ctx, "GRU")


@register("RNN")
def rnn(ctx: OpContext) -> Kernel:
    return _prepare(ctx, "RNN")
