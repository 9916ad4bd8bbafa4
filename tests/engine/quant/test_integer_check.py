"""The integer-true check (``analysis.check_integer_path``): a defect warns, sub-step
rounding differences on an output whose float values are below one step do not."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.engine.quant.qfixtures import _save, quantize_for_tests
from workbench.engine.container import Container, make_manifest
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.analysis import INTEGER_LSB_RMS, check_integer_path
from workbench.engine.quant.int_exec import IntegerPlan


@pytest.fixture(scope="module")
def sigmoid_head(tmp_path_factory):
    """Logits -> Sigmoid over 64 values, calibrated where the sigmoid reaches 0.5; the
    eval logits sit at -12, where the float output (6e-6) is far below one step (~2e-3)."""
    path = tmp_path_factory.mktemp("ic") / "sig.onnx"
    node = helper.make_node("Sigmoid", ["x"], ["y"])
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 64]) for n in "xy"]
    graph = import_onnx(_save([node], vi[:1], vi[1:], [], path))
    cal = [{"x": np.linspace(-12, 0, 64, dtype=np.float32)[None]}]
    q = quantize_for_tests(graph, cal)
    f = Container(make_manifest(converter={"command": "test"}), graph)
    ev = [{"x": np.full((1, 64), -12.0, np.float32)}]
    return f, q, ev


class _Shifted:
    """The integer plan's output moved by ``steps`` steps of its encoding at ``where``."""

    def __init__(self, q: Container, steps: float, where: slice):
        self.plan, self.steps, self.where = IntegerPlan(q), steps, where
        self.delta = q.encodings["y"]["delta"]

    def run(self, feeds, hook=None):
        out = self.plan.run(feeds)
        y = out["y"].copy()
        y[:, self.where] += np.float32(self.steps * self.delta)
        return {"y": y}


def test_the_paths_agree_on_a_sub_step_output(sigmoid_head):
    f, q, ev = sigmoid_head
    check = check_integer_path(f, q, ev)
    assert check.ok and check.fake_quant_sqnr_db == pytest.approx(0.0)  # all rounded to 0
    assert check.lsb_rms == 0.0 and check.to_dict()["lsb_rms"] == 0.0


def test_one_step_on_a_few_codes_of_a_sub_step_output_is_no_defect(sigmoid_head):
    # 1 step on 1 of 64 codes: -23 dB against a 6e-6 signal, yet 0.125 step RMS.
    f, q, ev = sigmoid_head
    check = check_integer_path(f, q, ev, integer=_Shifted(q, 1, slice(0, 1)))
    assert check.gap_db > 20 and check.lsb_rms == pytest.approx(0.125, rel=1e-3)
    assert check.ok, check.warning


@pytest.mark.parametrize("steps, where", [(1, slice(None)), (40, slice(0, 4))])
def test_a_shift_past_rounding_noise_still_warns(sigmoid_head, steps, where):
    f, q, ev = sigmoid_head
    check = check_integer_path(f, q, ev, integer=_Shifted(q, steps, where))
    assert check.lsb_rms > INTEGER_LSB_RMS and not check.ok
    assert "emulator defect" in check.warning
