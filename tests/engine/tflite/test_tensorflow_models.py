"""Keras and tf.function models converted by TensorFlow's TFLiteConverter, imported by us,
run by us, compared with the TFLite interpreter (float: tight tolerance; int8: our
integer-true output codes within 1 LSB of the interpreter's on at least 99%)."""

from __future__ import annotations

import pytest

from tests.engine.tflite.conftest import SKIP_REASON, TENSORFLOW_MISSING
from tests.engine.tflite.make_models import EXTRA_VARIANTS, MODELS
from tests.engine.tflite.reference import float_error, integer_agreement, recordings

if TENSORFLOW_MISSING:
    pytest.skip(SKIP_REASON, allow_module_level=True)

FLOAT = [f"{name}_float" for name in MODELS]
QUANTIZED = [f"{name}_int8" for name in MODELS] + [
    f"{name}_{v}" for name, variants in EXTRA_VARIANTS.items() for v in variants
]
FLOAT_TOLERANCE = 1e-5  # relative to max(1, |output|)
MIN_WITHIN_ONE_LSB = 0.99


@pytest.fixture(scope="module")
def recorded(tensorflow_models):
    return recordings(tensorflow_models)


@pytest.mark.parametrize("stem", FLOAT)
def test_float_model_matches_the_interpreter(recorded, stem):
    error = float_error(recorded[stem])
    print(f"{stem}: max error {error:.2e}")
    assert error <= FLOAT_TOLERANCE


@pytest.mark.parametrize("stem", QUANTIZED)
def test_int8_model_runs_integer_true_like_the_interpreter(recorded, stem):
    agreement = integer_agreement(recorded[stem])
    print(f"{stem}: {agreement}")
    assert agreement.within_one >= MIN_WITHIN_ONE_LSB, str(agreement)
