"""Fused integer convolutions are bit-exact with the unfused integer path.

The reference is today's path: the integer plan on numpy kernels (``WORKBENCH_JIT=0``)
run with a hook, which runs every node on its own. The fused plan (compiled kernels,
the Conv's requantization and the activation chain's lookup table in one pass) must
give the same codes, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.quant.qfixtures import feeds_for, quantize_for_tests
from tests.engine.test_fusion import conv_chain_graph
from workbench.engine import jit
from workbench.engine.quant.int_exec import IntegerPlan

pytestmark = pytest.mark.skipif(jit.kernels() is None, reason="compiled kernels unavailable")

CONVS = [
    ("dw3 s1", 8, (9, 11), {"group": 8, "pads": [1, 1, 1, 1]}, (8, 1, 3, 3)),
    ("dw3 s2", 6, (11, 12), {"group": 6, "pads": [0, 1, 1, 0], "strides": [2, 2]}, (6, 1, 3, 3)),
    ("dw5 s2", 4, (13, 13), {"group": 4, "pads": [2, 2, 2, 2], "strides": [2, 2]}, (4, 1, 5, 5)),
    ("pointwise", 16, (7, 9), {}, (24, 16, 1, 1)),
    ("pointwise s2", 16, (8, 8), {"strides": [2, 2]}, (12, 16, 1, 1)),
    ("dense 3x3", 6, (9, 9), {"pads": [1, 1, 1, 1]}, (10, 6, 3, 3)),
]
CHAINS = [
    ("none", []),
    ("relu6", [("Clip", {}, [0.0, 6.0])]),
    ("hardswish", [("HardSwish", {}, [])]),
    ("silu", [("SiLU", {}, [])]),
    ("relu-sigmoid", [("Relu", {}, []), ("Sigmoid", {}, [])]),
    ("affine-hardswish ops", [("Mul", {}, [1.5]), ("Add", {}, [-0.25]), ("HardSwishOps", {}, [])]),
]


def _unfused_reference(container, feeds, monkeypatch):
    monkeypatch.setenv("WORKBENCH_JIT", "0")
    plan = IntegerPlan(container)
    return plan.run_integer(feeds, hook=lambda *_: None), plan.float_fallback_nodes


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("conv", CONVS, ids=[c[0] for c in CONVS])
@pytest.mark.parametrize("chain", CHAINS, ids=[c[0] for c in CHAINS])
def test_fused_integer_conv_is_bit_exact(conv, chain, bits, monkeypatch):
    _, cin, size, attrs, w_shape = conv
    graph = conv_chain_graph(cin, size, attrs, w_shape, chain[1])
    container = quantize_for_tests(graph, feeds_for(graph, 3, seed=1), act_bitwidth=bits)
    feeds = feeds_for(graph, 1, seed=2)[0]
    want, fallback = _unfused_reference(container, feeds, monkeypatch)
    monkeypatch.setenv("WORKBENCH_JIT", "1")
    fused = IntegerPlan(container)
    got = fused.run_integer(feeds)
    out = graph.output_names[0]
    assert got[out].dtype == want[out].dtype
    np.testing.assert_array_equal(got[out], want[out])
    assert len(fused._plan.steps) == 1  # the chain went into the Conv's pass
    assert fused.float_fallback_nodes == fallback  # a 16-bit Mul runs in float, tabulated


def test_per_tensor_weights_and_the_slow_requantization_path_are_bit_exact(monkeypatch):
    graph = conv_chain_graph(8, (10, 10), {"group": 8, "pads": [1, 1, 1, 1]}, (8, 1, 3, 3),
                             [("HardSwish", {}, [])])  # fmt: skip
    container = quantize_for_tests(graph, feeds_for(graph, 3, seed=1), per_channel=False)
    feeds = feeds_for(graph, 1, seed=5)[0]
    want, _ = _unfused_reference(container, feeds, monkeypatch)
    monkeypatch.setenv("WORKBENCH_JIT", "1")
    plan = IntegerPlan(container)
    np.testing.assert_array_equal(plan.run_integer(feeds)[graph.output_names[0]],
                                  want[graph.output_names[0]])  # fmt: skip


@pytest.mark.parametrize("real", [0.7, 3.1e-4, 2.5, 1.0 / 3.0])
@pytest.mark.parametrize("bits", [8, 16])
def test_compiled_requantization_is_the_integer_formula(real, bits):
    """Both compiled paths against ``requant.requantize``, ties and saturation included."""
    from workbench.engine.quant.requant import quantize_multiplier, requantize

    rng = np.random.default_rng(int(real * 1000) + bits)
    m, shift = quantize_multiplier(real)
    qmax = (1 << bits) - 1
    zp = qmax // 3
    acc = rng.integers(-(2**22), 2**22, (1, 3, 4000)).astype(np.float32)
    acc[0, 0, :8] = [0, 1, -1, 2**24 - 1, -(2**24), 0.5 / real, -0.5 / real, 1.5 / real]
    acc = np.round(acc)
    dtype = np.uint8 if bits == 8 else np.uint16
    want = requantize(acc.astype(np.int64), m, shift, zp, 0, qmax, dtype)
    kernels = jit.kernels()
    real_q = np.full(3, float(m) * 2.0 ** -(31 + int(shift)))
    mult, shifts = np.full(3, int(m), np.int64), np.full(3, int(shift), np.int64)
    table = np.zeros(1, dtype)
    got = np.empty_like(want)
    kernels.requantize(acc, np.zeros(3, np.float32), real_q, mult, shifts, zp, 0, qmax, False, table, False, got,
                       0, 1, 0, 3, 0, 4000)  # fmt: skip
    np.testing.assert_array_equal(got, want)
    # The fast path where the plan proves it exact (|acc| below the bound it was given).
    from workbench.engine.quant.requant import Requantizer

    small = np.round(acc / 2**12)
    r = Requantizer.build(real, zp, 0, qmax, acc_bound=float(np.abs(small).max()))
    if r.fast:
        kernels.requantize(small, np.zeros(3, np.float32), real_q, mult, shifts, zp, 0, qmax, True, table, False, got,
                           0, 1, 0, 3, 0, 4000)  # fmt: skip
        np.testing.assert_array_equal(got, r(small))
