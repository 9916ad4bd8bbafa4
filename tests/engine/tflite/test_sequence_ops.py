"""TFLite recurrent layers, SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND and comparisons, built
with the flatbuffer writer and compared with the TFLite interpreter (builtin kernels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.engine.tflite.flatbuild import TfliteWriter
from tests.tfmodels import HAVE_TF, tf_quietly
from workbench.engine.executor import Plan
from workbench.engine.graph import walk_nodes
from workbench.engine.tflite import load_tflite

pytestmark = pytest.mark.skipif(not HAVE_TF, reason="needs the tensorflow extra")
RNG = np.random.default_rng(11)
TANH, RELU = 4, 1


def interpreter_run(path: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    tf = tf_quietly()
    interp = tf.lite.Interpreter(
        str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), feeds, strict=True):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


def compare(path: Path, feeds: list[np.ndarray], ops: set[str], atol: float = 1e-5) -> None:
    imported = load_tflite(path)
    graph = imported.graph
    assert ops <= {n.op_type for _, n in walk_nodes(graph)}
    ours = Plan(graph).run(dict(zip(graph.input_names, feeds, strict=True)))
    for name, ref in zip(graph.output_names, interpreter_run(path, feeds), strict=True):
        assert ours[name].shape == ref.shape, name
        np.testing.assert_allclose(ours[name], ref, rtol=1e-4, atol=atol, err_msg=name)


def f32(*shape, scale=0.5):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _lstm_weights(w: TfliteWriter, prefix: str, inp: int, hidden: int, cifg: bool, peephole: bool):
    ids = []
    for k in "ifco":  # input-to-gate
        ids.append(
            -1
            if cifg and k == "i"
            else w.tensor(f"{prefix}w{k}", (hidden, inp), data=f32(hidden, inp))
        )
    for k in "ifco":  # recurrent-to-gate
        ids.append(
            -1
            if cifg and k == "i"
            else w.tensor(f"{prefix}r{k}", (hidden, hidden), data=f32(hidden, hidden))
        )
    for k in "ifo":  # peepholes
        ids.append(
            w.tensor(f"{prefix}p{k}", (hidden,), data=f32(hidden))
            if peephole and not (cifg and k == "i")
            else -1
        )
    for k in "ifco":  # biases
        ids.append(
            -1
            if cifg and k == "i"
            else w.tensor(f"{prefix}b{k}", (hidden,), data=f32(hidden, scale=0.1))
        )
    ids += [-1, -1]  # projection
    return ids  # fmt: skip


@pytest.mark.parametrize(
    ("time_major", "cifg", "peephole", "act"),
    [(True, False, False, TANH), (False, False, True, TANH), (False, True, True, TANH),
     (True, False, False, RELU)],
)  # fmt: skip
def test_unidirectional_lstm(tmp_path, time_major, cifg, peephole, act):
    steps, batch, inp, hidden = 5, 2, 3, 4
    w = TfliteWriter()
    shape = (steps, batch, inp) if time_major else (batch, steps, inp)
    x = w.tensor("x", shape)
    weights = _lstm_weights(w, "", inp, hidden, cifg, peephole)
    h = w.tensor("h_state", (batch, hidden), variable=True)
    c = w.tensor("c_state", (batch, hidden), variable=True)
    y = w.tensor("y", shape[:2] + (hidden,))
    w.op("UNIDIRECTIONAL_SEQUENCE_LSTM", [x, *weights, h, c], [y],
         "UnidirectionalSequenceLSTMOptions", fused_activation_function=act, time_major=time_major)  # fmt: skip
    path = tmp_path / "lstm.tflite"
    path.write_bytes(w.build([x], [y]))
    compare(path, [f32(*shape, scale=1.0)], {"LSTM"})


@pytest.mark.parametrize("merge", [False, True])
def test_bidirectional_lstm(tmp_path, merge):
    steps, batch, inp, hidden = 4, 2, 3, 5
    w = TfliteWriter()
    x = w.tensor("x", (steps, batch, inp))
    fw = _lstm_weights(w, "fw", inp, hidden, False, False)
    bw = _lstm_weights(w, "bw", inp, hidden, False, True)
    states = [w.tensor(n, (batch, hidden), variable=True) for n in ("fh", "fc", "bh", "bc")]
    if merge:
        outs = [w.tensor("y", (steps, batch, 2 * hidden))]
    else:
        outs = [w.tensor("y_fw", (steps, batch, hidden)), w.tensor("y_bw", (steps, batch, hidden))]
    w.op("BIDIRECTIONAL_SEQUENCE_LSTM", [x, *fw, *bw, *states] + [-1] * 9, outs,
         "BidirectionalSequenceLSTMOptions", fused_activation_function=TANH, time_major=True,
         merge_outputs=merge)  # fmt: skip
    path = tmp_path / "bilstm.tflite"
    path.write_bytes(w.build([x], outs))
    compare(path, [f32(steps, batch, inp, scale=1.0)], {"LSTM"})


@pytest.mark.parametrize(("time_major", "act"), [(False, TANH), (True, RELU), (False, 0)])
def test_unidirectional_rnn(tmp_path, time_major, act):
    steps, batch, inp, hidden = 6, 2, 3, 4
    w = TfliteWriter()
    shape = (steps, batch, inp) if time_major else (batch, steps, inp)
    x = w.tensor("x", shape)
    wi = w.tensor("wi", (hidden, inp), data=f32(hidden, inp))
    wr = w.tensor("wr", (hidden, hidden), data=f32(hidden, hidden))
    bias = w.tensor("b", (hidden,), data=f32(hidden))
    h = w.tensor("h", (batch, hidden), variable=True)
    y = w.tensor("y", shape[:2] + (hidden,))
    w.op("UNIDIRECTIONAL_SEQUENCE_RNN", [x, wi, wr, bias, h], [y], "SequenceRNNOptions",
         time_major=time_major, fused_activation_function=act)  # fmt: skip
    path = tmp_path / "rnn.tflite"
    path.write_bytes(w.build([x], [y]))
    compare(path, [f32(*shape, scale=1.0)], {"RNN"})


def test_dilated_convolution_through_space_to_batch(tmp_path):
    """The TFLite converter's form of a dilated convolution: SPACE_TO_BATCH_ND, CONV_2D,
    BATCH_TO_SPACE_ND (with paddings and crops)."""
    w = TfliteWriter()
    x = w.tensor("x", (1, 10, 10, 3))
    block = w.tensor("block", (2,), "int32", data=[2, 2])
    pads = w.tensor("pads", (2, 2), "int32", data=[[2, 4], [2, 4]])
    s2b = w.tensor("s2b", (4, 8, 8, 3))
    k = w.tensor("k", (5, 3, 3, 3), data=f32(5, 3, 3, 3))
    bias = w.tensor("kb", (5,), data=f32(5))
    conv = w.tensor("conv", (4, 6, 6, 5))
    crops = w.tensor("crops", (2, 2), "int32", data=[[0, 2], [0, 2]])
    y = w.tensor("y", (1, 10, 10, 5))
    w.op("SPACE_TO_BATCH_ND", [x, block, pads], [s2b])
    w.op("CONV_2D", [s2b, k, bias], [conv], "Conv2DOptions", padding=1, stride_w=1, stride_h=1)
    w.op("BATCH_TO_SPACE_ND", [conv, block, crops], [y])
    path = tmp_path / "dilated.tflite"
    path.write_bytes(w.build([x], [y]))
    compare(path, [f32(1, 10, 10, 3, scale=1.0)], {"Conv", "Transpose"})


def test_comparisons_select_and_floor_division(tmp_path):
    w = TfliteWriter()
    a = w.tensor("a", (2, 3, 4))
    c = w.tensor("c", (4,), data=np.array([0.5, -0.2, 1.0, 0.0], np.float32))
    outs = []
    for op in ("GREATER", "LESS_EQUAL", "NOT_EQUAL"):
        t = w.tensor(op.lower(), (2, 3, 4), "bool")
        w.op(op, [a, c], [t])
        outs.append(t)
    sel = w.tensor("sel", (2, 3, 4))
    w.op("SELECT_V2", [outs[0], a, c], [sel])
    div = w.tensor("fdiv", (2, 3, 4))
    w.op("FLOOR_DIV", [a, w.tensor("d", (), data=np.float32(0.3))], [div])
    mod = w.tensor("fmod", (2, 3, 4))
    w.op("FLOOR_MOD", [a, w.tensor("m", (), data=np.float32(-0.7))], [mod])
    path = tmp_path / "cmp.tflite"
    path.write_bytes(w.build([a], [*outs, sel, div, mod]))
    compare(path, [f32(2, 3, 4, scale=2.0)], {"Where", "Greater", "Not"})
