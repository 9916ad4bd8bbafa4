"""The TFLite flatbuffer reader's tables, field by field, and each of its refusals by its
own message (``workbench/engine/tflite/reader.py``): hand-written files, no TensorFlow."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.engine.tflite.flatbuild import TfliteWriter
from workbench.engine.tflite.reader import MAX_ELEMENTS, read_tflite
from workbench.errors import ModelError, NotFound


def _write(tmp_path: Path, w: TfliteWriter, inputs, outputs, **build) -> Path:
    path = tmp_path / "m.tflite"
    path.write_bytes(w.build(inputs, outputs, **build))
    return path


def _model(w: TfliteWriter) -> tuple[list[int], list[int]]:
    """A small model touching every kind of table the reader copies out."""
    x = w.tensor("x", (1, 4, 4, 2), signature=(-1, 4, 4, 2))
    weights = (np.arange(54) - 27).reshape(3, 3, 3, 2)
    k = w.tensor("k", (3, 3, 3, 2), "int8", data=weights, quant=([0.5, 0.25, 0.125], [0], 3))
    y = w.tensor("", (1, 4, 4, 3), "int8", quant=([0.1], None, 0))  # no name, no zero point
    z = w.tensor("z", (1, 48), variable=True)
    shape = w.tensor("shape", (2,), "int32", data=[1, 48])
    w.op("CONV_2D", [x, k, -1], [y], "Conv2DOptions", padding=1, stride_w=2, stride_h=1,
         fused_activation_function=3)  # fmt: skip
    w.op("RESHAPE", [y, shape], [z], "ReshapeOptions", new_shape=[1, 48])
    w.op("custom:MyOp", [z], [z], custom_options=b"\x01\x02")
    w.op("custom:FlexAddV2", [z], [z])
    return [x], [z]


@pytest.mark.parametrize("external", [False, True])
def test_every_table_is_copied_out(tmp_path, external) -> None:
    w = TfliteWriter()
    path = _write(tmp_path, w, *_model(w), external=external)
    m = read_tflite(path)
    assert (m.path, m.version, m.subgraphs) == (path, 3, 1)
    assert m.description == "made by tests/engine/tflite/flatbuild.py"
    assert (m.inputs, m.outputs) == ((0,), (3,))
    assert [t.name for t in m.tensors] == ["x", "k", "tensor_2", "z", "shape"]
    assert [t.index for t in m.tensors] == [0, 1, 2, 3, 4]
    assert [t.dtype for t in m.tensors] == ["float32", "int8", "int8", "float32", "int32"]
    x, k, y, z, shape = m.tensors
    assert x.shape == (1, 4, 4, 2) and x.signature == (-1, 4, 4, 2) and k.signature is None
    assert not x.is_const and x.quant is None and not x.variable and not x.sparse
    assert z.variable and not y.variable
    # constants: little-endian bytes become native arrays of the tensor's shape
    assert k.is_const and k.data.dtype == np.int8 and k.data.shape == (3, 3, 3, 2)
    np.testing.assert_array_equal(k.data.ravel(), np.arange(54) - 27)
    assert shape.data.dtype == np.int32 and shape.data.tolist() == [1, 48]
    assert k.data.flags.writeable  # a copy of the file's bytes, not a view
    # quantization: float32 scales as float64, one zero point broadcast per channel
    assert k.quant.scale.dtype == np.float64 and k.quant.scale.tolist() == [0.5, 0.25, 0.125]
    assert k.quant.zero_point.dtype == np.int64 and k.quant.zero_point.tolist() == [0, 0, 0]
    assert k.quant.axis == 3 and k.quant.per_channel
    assert y.quant.zero_point.tolist() == [0] and not y.quant.per_channel  # absent: zero
    assert y.quant.scale.tolist() == [float(np.float32(0.1))]
    conv, reshape, custom, flex = m.operators
    assert (conv.index, conv.op_type, conv.builtin) == (0, "CONV_2D", True)
    assert conv.inputs == (0, 1, -1) and conv.outputs == (2,)  # -1: an omitted input
    assert {k: conv.options[k] for k in ("padding", "stride_w", "stride_h")} == {
        "padding": 1,
        "stride_w": 2,
        "stride_h": 1,
    }
    assert conv.options["fused_activation_function"] == 3
    assert conv.options["dilation_wfactor"] == 1 and conv.options["dilation_hfactor"] == 1
    assert reshape.op_type == "RESHAPE" and reshape.options == {"new_shape": (1, 48)}
    assert (custom.op_type, custom.builtin) == ("custom 'MyOp'", False)
    assert custom.options == {"custom_options": b"\x01\x02"}
    assert (flex.op_type, flex.builtin, flex.options) == ("flex 'FlexAddV2'", False, {
        "custom_options": b""
    })  # fmt: skip


def test_operator_options_keep_strings_and_flags(tmp_path) -> None:
    w = TfliteWriter()
    x = w.tensor("x", (1, 4))
    y = w.tensor("y", (1, 4))
    w.op("ADD", [x, x], [y], "AddOptions", fused_activation_function=1, pot_scale_int16=True)
    (add,) = read_tflite(_write(tmp_path, w, [x], [y])).operators
    assert add.options == {"fused_activation_function": 1, "pot_scale_int16": True}
    # strings: a variable is named "container/shared_name" from its VAR_HANDLE's options
    w = TfliteWriter()
    x = w.tensor("x", (1, 4))
    h = w.tensor("h", (), "int32")
    state = w.tensor("state", (1, 4))
    y = w.tensor("y", (1, 4))
    w.op("VAR_HANDLE", [], [h], "VarHandleOptions", container="run", shared_name="state")
    w.op("READ_VARIABLE", [h], [state])
    w.op("ADD", [x, state], [y])
    path = _write(tmp_path, w, [x], [y])
    with pytest.raises(ModelError, match=r"unsupported model state: 'run/state' has no initial"):
        read_tflite(path)


def test_quantization_without_scales_is_none_and_a_zero_scale_is_kept(tmp_path) -> None:
    w = TfliteWriter()
    a = w.tensor("a", (2,), "int8", quant=([], [], 0))
    b = w.tensor("b", (2,), "int8", quant=([0.0], [3], 0))
    c = w.tensor("c", (2,), "int8", quant=([1.0, 2.0], [4, 5], 0))
    w.op("ADD", [a, b], [c])
    m = read_tflite(_write(tmp_path, w, [a, b], [c]))
    assert m.tensors[0].quant is None
    assert m.tensors[1].quant.scale.tolist() == [0.0]
    assert m.tensors[1].quant.zero_point.tolist() == [3]
    assert m.tensors[2].quant.zero_point.tolist() == [4, 5]


def test_the_largest_allowed_tensor_is_read(tmp_path) -> None:
    w = TfliteWriter()
    x = w.tensor("x", (1, 1 << 14, 1 << 14))  # exactly MAX_ELEMENTS, not allocated
    y = w.tensor("y", (1, 1 << 14, 1 << 14))
    w.op("RELU", [x], [y])
    m = read_tflite(_write(tmp_path, w, [x], [y]))
    assert (
        m.tensors[0].shape
        == (1, 1 << 14, 1 << 14)
        == (1, *divmod(MAX_ELEMENTS, 1 << 14)[:1], 1 << 14)
    )


def _refused(path: Path, message: str) -> None:
    with pytest.raises(
        ModelError, match=f"^{re.escape(f'{path}: not a valid TFLite model: {message}')}$"
    ):
        read_tflite(path)


def test_each_malformed_table_is_refused_by_its_own_check(tmp_path) -> None:
    cases = []

    w = TfliteWriter()
    x = w.tensor("x", (1, -4))
    cases.append((w, [x], [x], "tensor 0 ('x') has a negative dimension [1, -4]"))

    w = TfliteWriter()
    x = w.tensor("x", (2, 1 << 14, 1 << 14))
    cases.append((w, [x], [x], "tensor 0 ('x') is impossibly large [2, 16384, 16384]"))

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    k = w.tensor("k", (2,), buffer=3)
    cases.append((w, [x], [x], "tensor 1 ('k') refers to missing buffer 3"))

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    k = w.tensor("k", (2, 2), raw=b"\0" * 12)
    cases.append(
        (w, [x], [k], "constant tensor 1 ('k') holds 12 bytes, expected 16 for float32[2, 2]")
    )

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    k = w.tensor("k", (3,), "int8", data=[1, 2, 3], quant=([0.1, 0.2, 0.3], [0, 0], 0))
    cases.append((w, [x], [x], "tensor 1 ('k') has 3 scales and 2 zero points"))

    for scale in (-0.5, float("nan"), float("inf")):
        w = TfliteWriter()
        x = w.tensor("x", (1, 2), "int8", quant=([0.5, scale], [0, 0], 1))
        cases.append((w, [x], [x], "tensor 0 ('x') has a negative or non-finite scale"))

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    w.op("RELU", [x], [x], opcode=1)
    cases.append((w, [x], [x], "operator 0 refers to missing opcode 1"))

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    w.op("RELU", [x], [x], opcode=7)
    cases.append((w, [x], [x], "operator 0 refers to missing opcode 7"))

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    w.op("RELU", [x, 1], [x])
    cases.append((w, [x], [x], "operator 0 input refers to tensor 1, but there are 1"))

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    w.op("RELU", [x], [-2])
    cases.append((w, [x], [x], "operator 0 output refers to tensor -2, but there are 1"))

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    cases.append((w, [2], [x], "graph input refers to tensor 2, but there are 1"))

    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    cases.append((w, [x], [1], "graph output refers to tensor 1, but there are 1"))

    for i, (writer, inputs, outputs, message) in enumerate(cases):
        path = tmp_path / f"bad{i}.tflite"
        path.write_bytes(writer.build(inputs, outputs))
        _refused(path, message)


def test_an_external_buffer_past_the_end_is_refused(tmp_path) -> None:
    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    k = w.tensor("k", (2,), data=[1.0, 2.0])
    w.op("ADD", [x, k], [x])
    fits = _write(tmp_path, w, [x], [x], external=True)  # the last byte is the file's last
    assert read_tflite(fits).tensors[1].data.tolist() == [1.0, 2.0]
    _refused(_write(tmp_path, w, [x], [x], external=True, spill=1),
             "buffer 1 lies beyond the end of the file")  # fmt: skip


def test_files_that_are_not_models(tmp_path) -> None:
    with pytest.raises(
        NotFound, match=f"^model file not found: {re.escape(str(tmp_path / 'no'))}$"
    ):
        read_tflite(tmp_path / "no")
    with pytest.raises(ModelError, match="not a valid TFLite model: not a regular file$"):
        read_tflite(tmp_path)
    short = tmp_path / "short.tflite"
    short.write_bytes(b"\0\0\0\0TFL")  # 7 bytes
    _refused(short, "the file is too short")
    short.write_bytes(b"\0\0\0\0TFL3")  # 8 bytes: past the length check, an empty root
    _refused(short, "it has no subgraph")
    short.write_bytes(b"\0\0\0\0TFL4" + b"\0" * 32)
    _refused(short, "no TFL3 file identifier (is it a TFLite file?)")


def test_names_sizes_and_odd_constants(tmp_path) -> None:
    w = TfliteWriter()
    x = w.tensor("x~~~", (2, 0))  # renamed below to bytes that are not UTF-8; (2, 0) is legal
    s = w.tensor("words", (2,), "string", raw=b"\x02\x00\x00\x00ab")  # kept as bytes
    q = w.tensor("q", (2,), "int8", data=[1, 2], quant=([0.5, 0.25], [5], 0))
    w.op("ADD", [x, s], [q])
    path = tmp_path / "m.tflite"
    data = w.build([x], [q]).replace(b"x~~~", b"x\xff\xfe\xfd")  # same length
    path.write_bytes(data)
    m = read_tflite(path)
    x_t, s_t, q_t = m.tensors
    assert x_t.name == "x\ufffd\ufffd\ufffd" and x_t.shape == (2, 0)
    assert s_t.dtype == "string" and s_t.data.dtype == np.uint8
    assert bytes(s_t.data) == b"\x02\x00\x00\x00ab"
    assert q_t.quant.zero_point.tolist() == [5, 5]  # one zero point for two channels
    assert q_t.data.dtype.byteorder in ("=", "|")


def test_a_buffer_index_one_past_the_last_is_refused(tmp_path) -> None:
    w = TfliteWriter()
    x = w.tensor("x", (1, 2))
    k = w.tensor("k", (2,), data=[1.0, 2.0])  # buffer 1 of [empty, k]
    bad = w.tensor("bad", (2,), buffer=2)
    w.op("ADD", [x, k], [bad])
    _refused(_write(tmp_path, w, [x], [bad]), "tensor 2 ('bad') refers to missing buffer 2")
