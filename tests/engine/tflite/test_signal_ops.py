"""TFLite RFFT2D (and the complex operators after it), RANGE and REVERSE_V2, built with
the flatbuffer writer and compared with the TFLite interpreter (builtin kernels)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.tflite.flatbuild import TfliteWriter
from tests.engine.tflite.test_sequence_ops import compare, f32
from tests.tfmodels import HAVE_TF
from workbench.engine.tflite import load_tflite
from workbench.errors import UnsupportedOperators

pytestmark = pytest.mark.skipif(not HAVE_TF, reason="needs the tensorflow extra")


def _i32(w: TfliteWriter, name: str, values) -> int:
    values = np.asarray(values, np.int32)
    return w.tensor(name, values.shape, "int32", data=values)


def test_rfft2d_and_complex_parts(tmp_path):
    w = TfliteWriter()
    x = w.tensor("x", (2, 3, 12))
    # A 2-D FFT with the rows padded to 4 and the columns cropped to 8 (powers of 2).
    z = w.tensor("z", (2, 4, 5), "complex64")
    w.op("RFFT2D", [x, _i32(w, "len", [4, 8])], [z])
    outs = []
    for op, name in (("COMPLEX_ABS", "abs"), ("REAL", "re"), ("IMAG", "im")):
        t = w.tensor(name, (2, 4, 5))
        w.op(op, [z], [t])
        outs.append(t)
    # BirdNET's form: frames of one row, squeezed, cast to real (TensorFlow keeps the
    # real part).
    y = w.tensor("y", (1, 2, 1, 16))
    zy = w.tensor("zy", (1, 2, 1, 9), "complex64")
    w.op("RFFT2D", [y, _i32(w, "len1", [1, 16])], [zy])
    sq = w.tensor("sq", (1, 2, 9), "complex64")
    w.op("SQUEEZE", [zy], [sq], "SqueezeOptions", squeeze_dims=[2])
    real = w.tensor("real", (1, 2, 9))
    w.op("CAST", [sq], [real])
    path = tmp_path / "rfft.tflite"
    path.write_bytes(w.build([x, y], [*outs, real]))
    compare(path, [f32(2, 3, 12), f32(1, 2, 1, 16)], {"DFT"}, atol=1e-5)


def test_a_complex_tensor_reaching_another_operator_is_refused(tmp_path):
    w = TfliteWriter()
    x = w.tensor("x", (1, 1, 8))
    z = w.tensor("z", (1, 1, 5), "complex64")
    w.op("RFFT2D", [x, _i32(w, "len", [1, 8])], [z])
    t = w.tensor("t", (1, 5, 1), "complex64")
    w.op("TRANSPOSE", [z, _i32(w, "perm", [0, 2, 1])], [t])
    out = w.tensor("out", (1, 5, 1))
    w.op("COMPLEX_ABS", [t], [out])
    path = tmp_path / "bad.tflite"
    path.write_bytes(w.build([x], [out]))
    with pytest.raises(UnsupportedOperators, match="TRANSPOSE"):
        load_tflite(path)


def test_range_and_reverse(tmp_path):
    w = TfliteWriter()
    x = w.tensor("x", (2, 3, 4))
    outs = []
    for axis in (1, -1):
        r = w.tensor(f"rev{axis}", (2, 3, 4))
        w.op("REVERSE_V2", [x, _i32(w, f"axis{axis}", [axis])], [r])
        outs.append(r)
    # RANGE of constants (folded at import), added to an input so that it is computed.
    rng = w.tensor("range", (5,), "int32")
    w.op("RANGE", [_i32(w, "s", 2), _i32(w, "l", 17), _i32(w, "d", 3)], [rng])
    k = w.tensor("k", (5,), "int32")
    plus = w.tensor("plus", (5,), "int32")
    w.op("ADD", [rng, k], [plus], "AddOptions")
    path = tmp_path / "rev.tflite"
    path.write_bytes(w.build([x, k], [*outs, plus]))
    compare(path, [f32(2, 3, 4), np.arange(5, dtype=np.int32)], {"Slice"})


@pytest.mark.parametrize("dynamic", [True, False])
def test_placeholder_shapes_of_dynamic_tensors(tmp_path, dynamic):
    """BirdNET's converter wrote (1, 1) for tensors whose signature is (-1, -1): only the
    static dimensions are checked against the converted shapes."""
    from workbench.errors import ModelError

    w = TfliteWriter()
    x = w.tensor("x", (1, 8))
    r = w.tensor("r", (1, 1), signature=(-1, -1) if dynamic else None)
    w.op("RESHAPE", [x, _i32(w, "shape", [2, 4])], [r])
    path = tmp_path / "dyn.tflite"
    path.write_bytes(w.build([x], [r]))
    if dynamic:
        compare(path, [f32(1, 8)], {"Reshape"})
    else:
        with pytest.raises(ModelError, match=r"has shape \[2, 4\], the model says \[1, 1\]"):
            load_tflite(path)
