"""LSTM, GRU and RNN against ONNX Runtime: every direction, sequence lengths, initial
states, layouts, clip and non-default activations."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.opcheck import check_op
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo

RNG = np.random.default_rng(7)
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _case(kind, *, dirs=1, seq=5, batch=3, inp=4, hidden=6, layout=0, lens=None, init=False,
          peephole=False, const=True):  # fmt: skip
    g = GATES[kind]
    x = RNG.standard_normal((batch, seq, inp) if layout else (seq, batch, inp)).astype(np.float32)
    w = (RNG.standard_normal((dirs, g * hidden, inp)) * 0.5).astype(np.float32)
    r = (RNG.standard_normal((dirs, g * hidden, hidden)) * 0.5).astype(np.float32)
    b = (RNG.standard_normal((dirs, 2 * g * hidden)) * 0.1).astype(np.float32)
    weights = {"W": w, "R": r, "B": b}
    inputs: dict = {"X": x}
    order = ["X", "W", "R", "B"]
    if lens is not None:
        inputs["L"] = np.asarray(lens, np.int32)
        order.append("L")
    else:
        order.append("")
    if init:
        shape = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
        inputs["H0"] = RNG.standard_normal(shape).astype(np.float32)
        order.append("H0")
        if kind == "LSTM":
            inputs["C0"] = RNG.standard_normal(shape).astype(np.float32)
            order.append("C0")
    if peephole:
        if not init:
            order += ["", ""]
        weights["P"] = (RNG.standard_normal((dirs, 3 * hidden)) * 0.3).astype(np.float32)
        order.append("P")
    while order and order[-1] == "":
        order.pop()
    if const:
        return inputs, weights, order
    return {**inputs, **weights}, {}, order


def run_node(kind, inputs, consts, order, n_outputs, domain="", **attrs):
    """Our engine alone on one node (for forms ONNX Runtime does not run)."""
    outs = [f"out{i}" for i in range(n_outputs)]
    g = Graph(
        "g",
        [TensorInfo(k, v.shape, v.dtype.name) for k, v in inputs.items()],
        [TensorInfo(o, ()) for o in outs],
        [Node("n", kind, tuple(order), tuple(outs), attrs, domain)],
        params=dict(consts),
        opset=14,
    )
    result = Plan(g).run(inputs)
    return [result[o] for o in outs]


def _check(kind, n_outputs, attrs, **case):
    inputs, consts, order = _case(kind, **case)
    check_op(kind, inputs, consts, n_outputs=n_outputs, input_order=order, opset=14,
             rtol=1e-4, atol=1e-5, **attrs)  # fmt: skip


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_lengths_and_initial_states(kind, direction):
    dirs = 2 if direction == "bidirectional" else 1
    outs = 3 if kind == "LSTM" else 2
    attrs = {"hidden_size": 6, "direction": direction}
    _check(kind, outs, attrs, dirs=dirs)
    _check(kind, outs, attrs, dirs=dirs, lens=[5, 2, 4], init=True)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_batch_first_layout(kind):
    """``layout=1`` (ONNX Runtime refuses it): ORT's layout-0 result, transposed."""
    outs = 3 if kind == "LSTM" else 2
    attrs = {"hidden_size": 6, "direction": "bidirectional"}
    inputs, consts, order = _case(kind, dirs=2, init=True, lens=[3, 5, 1])
    expected = check_op(kind, inputs, consts, n_outputs=outs, input_order=order, opset=14,
                        **attrs)  # fmt: skip
    batch_first = {
        k: (v.transpose(1, 0, 2) if k in ("X", "H0", "C0") else v) for k, v in inputs.items()
    }
    got = run_node(kind, batch_first, consts, order, outs, layout=1, **attrs)
    np.testing.assert_allclose(got[0], expected[0].transpose(2, 0, 1, 3), rtol=1e-5, atol=1e-6)
    for ours, ref in zip(got[1:], expected[1:], strict=True):
        np.testing.assert_allclose(ours, ref.transpose(1, 0, 2), rtol=1e-5, atol=1e-6)


def test_lstm_peepholes_clip_and_coupled_gates():
    _check("LSTM", 3, {"hidden_size": 6, "clip": 0.7}, peephole=True, init=True)
    _check("LSTM", 3, {"hidden_size": 6, "input_forget": 1}, init=True)


def test_gru_linear_before_reset_and_runtime_weights():
    _check("GRU", 2, {"hidden_size": 6, "linear_before_reset": 1}, init=True, lens=[1, 5, 3])
    _check("GRU", 2, {"hidden_size": 6}, const=False)


@pytest.mark.parametrize(
    ("kind", "acts", "alpha", "beta"),
    [
        ("RNN", ["Relu"], [], []),
        ("RNN", ["LeakyRelu"], [0.2], []),
        ("RNN", ["ScaledTanh"], [1.5], [0.5]),
        ("GRU", ["HardSigmoid", "Softsign"], [0.3], [0.4]),
        ("LSTM", ["HardSigmoid", "Tanh", "Softsign"], [], []),
        ("LSTM", ["Sigmoid", "Affine", "Elu"], [0.8, 0.5], [0.1]),
        ("GRU", ["Sigmoid", "Softplus", "Sigmoid", "ThresholdedRelu"], [0.1], []),
    ],
)
def test_non_default_activations(kind, acts, alpha, beta):
    dirs = 2 if len(acts) == 2 * {"LSTM": 3, "GRU": 2, "RNN": 1}[kind] else 1
    attrs = {
        "hidden_size": 6,
        "activations": acts,
        "direction": "bidirectional" if dirs == 2 else "forward",
    }
    if alpha:
        attrs["activation_alpha"] = alpha
    if beta:
        attrs["activation_beta"] = beta
    _check(kind, 3 if kind == "LSTM" else 2, attrs, dirs=dirs, init=True)
