"""Every tensor of an imported int8 TFLite model against the interpreter's (needs TensorFlow):
the ``tflite`` rounding mode reproduces TFLite's integer kernels to the bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tfmodels import needs_tf
from workbench.vocabulary import HALF_AWAY

FIXTURES = Path(__file__).parent / "fixtures"
WILD = Path(__file__).parent / "wild"

pytestmark = needs_tf


@pytest.mark.parametrize(
    ("path", "scale"),
    [
        (FIXTURES / "mobilenet_int8.tflite", 1.0),  # conv, depthwise, add, hard-swish, mean, FC
        (FIXTURES / "pool_int8.tflite", 1.0),  # average and max pooling, add, concat
        (WILD / "hey_jarvis.tflite", 10.0),  # microWakeWord: streaming state, FC, slices
    ],
)
def test_every_tensor_is_the_interpreters(path, scale):
    from tests.engine.tflite.interpreter import compare

    found = compare(path, (None, HALF_AWAY), samples=3, scale=scale)
    ours, own = found[None], found[HALF_AWAY]
    assert len(ours.tensors) >= 5 and ours.outputs.elements > 0
    assert ours.differing() == [], {n: str(ours.tensors[n]) for n in ours.differing()}
    assert ours.outputs.exact == ours.outputs.elements
    # the workbench's own single rounding is a step off somewhere: the mode is what matters
    assert own.differing() and all(t.worst <= 2 for t in own.tensors.values())


def test_activation_tables_and_requantize_are_the_interpreters():
    from tests.engine.tflite.interpreter import compare

    result = compare(FIXTURES / "activations_int8.tflite", samples=3)[None]
    # Sigmoid, Tanh (lookup tables), LeakyRelu, HardSwish to the bit; the int8 requantize
    # after Tanh rounds half up in TFLite's vector loop and twice in its scalar tail, which
    # we do not split: a few elements a step off (and the Concat and Softmax after them).
    exact = {n for n, t in result.tensors.items() if t.exact == t.elements}
    kinds = {result.producers[n] for n in exact}
    assert {"Sigmoid", "Tanh", "LeakyRelu", "HardSwish"} <= kinds
    assert all(t.worst <= 1 for t in result.tensors.values())
    assert result.outputs.share_exact >= 0.999 and result.outputs.worst <= 1
