"""Committed TFLite models made by TensorFlow's converter (``fixtures/``): the importer
against real converter output, without TensorFlow installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.engine.tflite.reference import float_error, integer_agreement, recordings
from workbench.engine.tflite import load_tflite
from workbench.vocabulary import HALF_AWAY, TFLITE_ROUNDING

FIXTURES = Path(__file__).parent / "fixtures"
OUTPUT = "StatefulPartitionedCall_1:0"
RECORDED = recordings(FIXTURES)


@pytest.mark.parametrize("stem", sorted(s for s in RECORDED if s.endswith("_float")))
def test_float_fixture_matches_the_interpreter(stem):
    assert float_error(RECORDED[stem]) <= 1e-5


# Every output element of every recorded sample against the interpreter's int8 codes, in
# the container's own rounding (``tflite``): (least share exact, worst difference in LSB).
# functions_*: TFLite's keep-dims mean (float32, a reciprocal estimate in its vector loop)
# is not copied; activations_int8: the requantize after Tanh rounds twice in TFLite's
# scalar tail, once half up in its vector loop (test_tensors.py); every other op is exact.
INT8_AGREEMENT = {
    "activations_int8": (0.999, 1),
    "conv_int8": (1.0, 0),
    "functions_int8": (0.999, 1),
    "functions_int8f": (0.999, 1),
    "mobilenet_int8": (1.0, 0),
    "mobilenet_int8f": (1.0, 0),
    "pool_int8": (1.0, 0),
    "resize_int8": (1.0, 0),
    "transpose_conv_int8": (1.0, 0),
}
SAMPLES = 4


def test_every_int8_fixture_has_its_bound():
    assert {s for s in RECORDED if not s.endswith("_float")} == set(INT8_AGREEMENT)


@pytest.mark.parametrize("stem", sorted(INT8_AGREEMENT))
def test_int8_fixture_matches_the_interpreter(stem):
    rec = RECORDED[stem]
    assert len(rec.samples) == SAMPLES
    agreement = integer_agreement(rec)
    print(f"{stem}: {agreement}")
    exact, worst = INT8_AGREEMENT[stem]
    assert agreement.elements == SAMPLES * sum(r.size for r in rec.samples[0][1])
    assert agreement.exact >= exact and agreement.max_diff <= worst, str(agreement)


@pytest.mark.parametrize(
    ("stem", "exact"),
    [("pool_int8", 0.95), ("activations_int8", 0.98), ("conv_int8", 0.98), ("resize_int8", 0.98)],
)
def test_the_workbench_rounding_is_not_the_interpreter(stem, exact):
    # Our own single rounding is within a step or two but not TFLite's: average pooling
    # rounds TFLite's raw int8 sum, requantization rounds twice, lookup tables multiply by
    # 1/scale, bilinear resizing weighs in 10-bit fixed point.
    rec = RECORDED[stem]
    assert load_tflite(rec.path).to_container({"command": "test"}).rounding == TFLITE_ROUNDING
    own = integer_agreement(rec, rounding=HALF_AWAY)
    assert own.exact < exact and own.max_diff >= 1, str(own)


def test_mobilenet_int8_is_quantized_per_channel_with_folded_batchnorm():
    imported = load_tflite(FIXTURES / "mobilenet_int8.tflite")
    g = imported.graph
    ops = [n.op_type for n in g.nodes]
    # Conv + BN + ReLU6 are one TFLite op: a Conv and its Clip, nothing else.
    assert "BatchNormalization" not in ops and ops.count("Conv") == 8
    assert ops.count("Transpose") == 1  # only at the input: the pool and flatten fold away
    weights = [imported.param_encodings[n.inputs[1]] for n in g.nodes if n.op_type == "Conv"]
    assert all(getattr(e, "axis", None) == 0 and e.symmetric for e in weights)
    # Every float activation has an encoding; the integer executor needs no calibration.
    assert {o for n in g.nodes for o in n.outputs} <= set(imported.encodings)


def test_imported_int8_with_hta_records_runs_on_aip_like_the_dsp():
    from workbench.engine.runtimes import load_network

    rec = RECORDED["mobilenet_int8"]
    imported = load_tflite(rec.path)
    container = imported.to_container({"command": "test"}, enable_hta=True)
    assert "subnets.json" in container.records
    assert container.manifest["quantizer"]["options"]["enable_hta"] is True
    feeds, _ = rec.samples[0]
    aip = load_network(container, "aip")
    dsp = load_network(container, "dsp")
    assert "HTA subnet" in aip.mode
    np.testing.assert_allclose(aip.run(feeds)[OUTPUT], dsp.run(feeds)[OUTPUT], atol=1 / 256)
