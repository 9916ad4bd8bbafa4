"""The integer linear kernels' accumulator bound, at its boundaries (``int_ops.linear`` doc).

Each layer sums exactly in the cheapest arithmetic its plan-time bound allows: float32
below 2**24, float64 below 2**53, int64 below 2**62. The cases here put the *actual*
accumulator one past each boundary, where the cheaper arithmetic would be off by one,
and read it back through a requantization that keeps that last unit.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.quant.qfixtures import quantize_for_tests
from tests.engine.quant.test_int_exec import _encs, conv_reference, one_node, positive_feeds
from workbench.engine.graph import Node
from workbench.engine.ops.registry import OpContext
from workbench.engine.quant.encoding import Encoding
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.int_ops import IntContext, NotInteger, centered_param, linear
from workbench.engine.quant.int_ops.linear import accumulator_arithmetic


def rha(p: int, s: int) -> int:
    """Round half away from zero of ``p / 2**s`` with Python's integers."""
    q, r = divmod(abs(p), 2**s)
    q += 2 * r >= 2**s
    return q if p >= 0 else -q


@pytest.mark.parametrize(
    ("bound", "arithmetic"),
    [
        (2**24 - 1, "float32"),
        (2**24, "float64"),
        (2**53 - 1, "float64"),
        (2**53, "int64"),
        (2**62 - 1, "int64"),
    ],
)
def test_arithmetic_by_bound(bound: int, arithmetic: str) -> None:
    assert accumulator_arithmetic(bound) == arithmetic


def test_past_2_62_there_is_no_exact_path() -> None:
    with pytest.raises(NotInteger):
        accumulator_arithmetic(2**62)


def gemm(
    w_centered: np.ndarray, bias: int, x_bits: int, w_bits: int, out_shift: int
) -> tuple[object, int]:
    """A Gemm kernel over one column of symmetric weights, its input at zero point 0, a
    32-bit bias in the accumulator's scale and a 32-bit output ``acc * 2**-out_shift``.
    Returns the kernel and the layer's plan-time bound."""
    k = w_centered.shape[0]
    half = 2 ** (w_bits - 1)
    x_enc = Encoding(0.0, 2.0**x_bits - 1, 1.0, 0, x_bits)
    w_enc = Encoding(-half, half - 1, 1.0, -half, w_bits, symmetric=True)
    b_enc = Encoding(-(2.0**31), 2.0**31 - 1, 1.0, 0, 32, symmetric=True)
    d = 2.0**out_shift
    out = Encoding(-(2.0**31) * d, (2.0**31 - 1) * d, d, 0, 32, symmetric=True)
    w_q = (w_centered.reshape(k, 1) + half).astype(w_enc.dtype)
    b_q = np.array([bias], dtype=np.int32)
    node = Node("fc", "Gemm", ("x", "w", "b"), ("y",), {})
    op = OpContext(node, {1: w_q, 2: b_q})
    kernel = linear.gemm(IntContext(op, op, (x_enc, w_enc, b_enc), (out,)))
    bound = int(np.abs(w_centered).sum()) * (2**x_bits - 1) + abs(bias)
    return kernel, bound


def _weights_summing_to(total: int, top: int) -> np.ndarray:
    """Non-negative integers up to ``top`` summing to ``total`` (as many ``top`` as fit)."""
    n, rest = divmod(total, top)
    return np.array([top] * n + ([rest] if rest else []), dtype=np.int64)


@pytest.mark.parametrize("past", [False, True])
def test_float32_boundary(past: bool) -> None:
    # 8-bit codes at 255 times 8-bit weights summing to 65793: 255 * 65793 = 2**24 - 1;
    # a bias of 2 puts the sum one past 2**24, where float32 would give 2**24.
    target = 2**24 + 1 if past else 2**24 - 1
    w = _weights_summing_to(65793, 127)
    kernel, bound = gemm(w, target - 255 * 65793, 8, 8, 0)
    assert bound == target
    assert accumulator_arithmetic(bound) == ("float64" if past else "float32")
    y = kernel(np.full((1, w.size), 255, np.uint8))[0]
    assert int(y[0, 0]) == target


@pytest.mark.parametrize(
    ("target", "arithmetic"),
    [(2**53 - 2**22 - 1, "float64"), (2**53 + 2**22 - 1, "int64")],
)
def test_float64_boundary(target: int, arithmetic: str) -> None:
    # 16-bit codes at 65535 times 16-bit weights: about 4.2 million taps reach 2**53.
    # Read back as RHA(acc / 2**23): target / 2**23 is a hair below a half, so the last
    # unit decides between 2**30 and 2**30 + 1 (float64 rounds 2**53 + 2**22 - 1 up to
    # the half, and the half away).
    s = target // 65535
    w = _weights_summing_to(s, 32767)
    kernel, bound = gemm(w, target - 65535 * s, 16, 16, 23)
    assert bound == target
    assert accumulator_arithmetic(bound) == arithmetic
    y = kernel(np.full((1, w.size), 65535, np.uint16))[0]
    assert int(y[0, 0]) == rha(target, 23)


def test_sixteen_bit_conv_sums_past_int32_exactly(tmp_path) -> None:
    # 16-bit activations times 16-bit weights: the worst case is far past 2**31 and real
    # sums pass it too; nothing saturates, the result is the documented rule on the int64 sum.
    rng = np.random.default_rng(3)
    weight = rng.uniform(-1, 1, (8, 64, 3, 3)).astype(np.float32)
    g = one_node(tmp_path, "Conv", {"x": (1, 64, 6, 6)}, {"w": weight}, pads=[1, 1, 1, 1])
    container = quantize_for_tests(g, positive_feeds(g, 2, 0), act_bitwidth=16, weight_bitwidth=16)
    plan = IntegerPlan(container)
    assert plan.float_fallback_nodes == []
    x_enc, w_enc, out_enc = _encs(container, "x", "w", "y0")
    feeds = positive_feeds(g, 1, 5)[0]
    q = plan.quantize_inputs(feeds)["x"]
    x = q.astype(np.int64) + x_enc.offset
    wc = centered_param(container.graph.params["w"], w_enc)
    acc = np.einsum("nchw,mc->nmhw", x[:, :, 1:5, 1:5], wc[:, :, 1, 1])  # centre tap alone
    assert np.abs(acc).max() > 2**31  # the sums themselves pass int32
    got = plan.run_integer(feeds)["y0"]
    ref = conv_reference(
        q,
        x_enc,
        container.graph.params["w"],
        w_enc,
        None,
        out_enc,
        strides=[1, 1],
        pads=[1, 1, 1, 1],
        dilations=[1, 1],
        group=1,
    )
    assert got.dtype == np.uint16
    assert np.array_equal(got, ref)


def test_int64_conv_sums_float64_chunks(tmp_path, monkeypatch) -> None:
    # The int64 Conv path (float64 input-channel chunks summed in int64) only starts past
    # 2**53, millions of taps at 16 x 16 bits; lower the float64 limit to reach it here.
    rng = np.random.default_rng(4)
    weight = rng.uniform(-1, 1, (6, 32, 3, 3)).astype(np.float32)
    g = one_node(tmp_path, "Conv", {"x": (1, 32, 5, 5)}, {"w": weight}, pads=[1, 1, 1, 1])
    container = quantize_for_tests(g, positive_feeds(g, 2, 0), act_bitwidth=16, weight_bitwidth=16)
    monkeypatch.setattr(linear, "F64_EXACT", 2**36)
    plan = IntegerPlan(container)
    assert plan.float_fallback_nodes == []
    x_enc, w_enc, out_enc = _encs(container, "x", "w", "y0")
    feeds = positive_feeds(g, 1, 6)[0]
    got = plan.run_integer(feeds)["y0"]
    ref = conv_reference(
        plan.quantize_inputs(feeds)["x"],
        x_enc,
        container.graph.params["w"],
        w_enc,
        None,
        out_enc,
        strides=[1, 1],
        pads=[1, 1, 1, 1],
        dilations=[1, 1],
        group=1,
    )
    assert np.array_equal(got, ref)
