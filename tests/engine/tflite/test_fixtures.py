"""Committed TFLite models made by TensorFlow's converter (``fixtures/``): the importer
against real converter output, without TensorFlow installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.engine.tflite.reference import float_error, integer_agreement, recordings
from workbench.engine.tflite import load_tflite

FIXTURES = Path(__file__).parent / "fixtures"
OUTPUT = "StatefulPartitionedCall_1:0"
RECORDED = recordings(FIXTURES)


@pytest.mark.parametrize("stem", sorted(s for s in RECORDED if s.endswith("_float")))
def test_float_fixture_matches_the_interpreter(stem):
    assert float_error(RECORDED[stem]) <= 1e-5


@pytest.mark.parametrize("stem", sorted(s for s in RECORDED if not s.endswith("_float")))
def test_int8_fixture_matches_the_interpreter(stem):
    agreement = integer_agreement(RECORDED[stem])
    print(f"{stem}: {agreement}")
    assert agreement.within_one >= 0.99, str(agreement)


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
