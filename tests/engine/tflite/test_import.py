"""The TFLite importer on hand-written flatbuffers (no TensorFlow): layouts, axes, padding,
quantization mapping and refusals, checked against numpy references written out here."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.engine.tflite.flatbuild import TfliteWriter
from workbench.engine.container import read_container, write_container
from workbench.engine.executor import Plan
from workbench.engine.quant.encoding import ChannelEncoding, Encoding
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.tflite import import_tflite, load_tflite
from workbench.errors import BadInput, ModelError, UnsupportedOperators, WorkbenchError

RNG = np.random.default_rng(0)
RELU6 = 3


def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def conv_nhwc(x, w, b, stride, pads, dilation=1, groups=1):
    """TFLite CONV_2D by definition: x NHWC, w OHWI, explicit pads (top, bottom, left, right)."""
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    o, kh, kw, ci = w.shape
    oh = (xp.shape[1] - (kh - 1) * dilation - 1) // stride + 1
    ow = (xp.shape[2] - (kw - 1) * dilation - 1) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, o), np.float64)
    per_group = o // groups
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride : i * stride + (kh - 1) * dilation + 1 : dilation,
                       j * stride : j * stride + (kw - 1) * dilation + 1 : dilation, :]  # fmt: skip
            for m in range(o):
                g = m // per_group
                out[:, i, j, m] = np.einsum("nhwc,hwc->n", patch[..., g * ci : (g + 1) * ci], w[m])
    return (out + (0 if b is None else b)).astype(np.float32)


def write(tmp_path, w: TfliteWriter, inputs, outputs, name="m.tflite"):
    path = tmp_path / name
    path.write_bytes(w.build(inputs, outputs))
    return path


def run(graph, **feeds):
    return Plan(graph).run(feeds)


# -- float models ----------------------------------------------------------------------


def test_conv_same_padding_is_asymmetric_like_tflite(tmp_path):
    x_val, k_val, b_val = normal(1, 6, 6, 2), normal(3, 3, 3, 2), normal(3)
    w = TfliteWriter()
    x = w.tensor("x", (1, 6, 6, 2))
    k = w.tensor("k", (3, 3, 3, 2), data=k_val)
    b = w.tensor("b", (3,), data=b_val)
    y = w.tensor("y", (1, 3, 3, 3))
    w.op("CONV_2D", [x, k, b], [y], "Conv2DOptions", padding=0, stride_w=2, stride_h=2,
         fused_activation_function=RELU6)  # fmt: skip
    g = import_tflite(write(tmp_path, w, [x], [y]))
    # 6 wide, k3, s2 SAME: 3 outputs, 1 padding column, after (TF pads the end).
    conv = next(n for n in g.nodes if n.op_type == "Conv")
    assert conv.attrs["pads"] == [0, 0, 1, 1]
    assert [t.shape for t in g.inputs] == [(1, 6, 6, 2)]  # the NHWC interface stays
    want = np.clip(conv_nhwc(x_val, k_val, b_val, 2, (0, 1, 0, 1)), 0, 6)
    np.testing.assert_allclose(run(g, x=x_val)["y"], want, atol=1e-5)


def test_depthwise_with_multiplier(tmp_path):
    x_val, k_val, b_val = normal(1, 5, 5, 2), normal(1, 3, 3, 4), normal(4)
    w = TfliteWriter()
    x = w.tensor("x", (1, 5, 5, 2))
    k = w.tensor("k", (1, 3, 3, 4), data=k_val)
    b = w.tensor("b", (4,), data=b_val)
    y = w.tensor("y", (1, 5, 5, 4))
    w.op("DEPTHWISE_CONV_2D", [x, k, b], [y], "DepthwiseConv2DOptions", padding=0,
         stride_w=1, stride_h=1, depth_multiplier=2)  # fmt: skip
    g = import_tflite(write(tmp_path, w, [x], [y]))
    # Output channel c*2+m reads input channel c: a group conv, one group per channel.
    w_grouped = k_val[0].transpose(2, 0, 1)[..., None]  # (4, 3, 3, 1) OHWI, groups of 2
    want = conv_nhwc(x_val, w_grouped, b_val, 1, (1, 1, 1, 1), groups=2)
    np.testing.assert_allclose(run(g, x=x_val)["y"], want, atol=1e-5)


def test_flatten_after_conv_keeps_nhwc_element_order(tmp_path):
    x_val, k_val = normal(1, 2, 3, 4), normal(5, 1, 1, 4)
    fc_val, fcb_val = normal(7, 30), normal(7)
    w = TfliteWriter()
    x = w.tensor("x", (1, 2, 3, 4))
    k = w.tensor("k", (5, 1, 1, 4), data=k_val)
    b = w.tensor("b", (5,), data=np.zeros(5))
    c = w.tensor("c", (1, 2, 3, 5))
    shape = w.tensor("shape", (2,), "int32", data=[1, 30])
    flat = w.tensor("flat", (1, 30))
    fw = w.tensor("fw", (7, 30), data=fc_val)
    fb = w.tensor("fb", (7,), data=fcb_val)
    y = w.tensor("y", (1, 7))
    w.op("CONV_2D", [x, k, b], [c], "Conv2DOptions", padding=1, stride_w=1, stride_h=1)
    w.op("RESHAPE", [c, shape], [flat])
    w.op("FULLY_CONNECTED", [flat, fw, fb], [y], "FullyConnectedOptions")
    g = import_tflite(write(tmp_path, w, [x], [y]))
    conv = np.einsum("nhwc,oc->nhwo", x_val, k_val[:, 0, 0, :])
    want = conv.reshape(1, 30) @ fc_val.T + fcb_val
    np.testing.assert_allclose(run(g, x=x_val)["y"], want, atol=1e-4)


def test_fully_connected_keep_num_dims(tmp_path):
    x_val, fc_val, fcb_val = normal(2, 3, 4), normal(5, 4), normal(5)
    w = TfliteWriter()
    x = w.tensor("x", (2, 3, 4))
    fw = w.tensor("fw", (5, 4), data=fc_val)
    fb = w.tensor("fb", (5,), data=fcb_val)
    y = w.tensor("y", (2, 3, 5))
    flat = w.tensor("flat", (6, 5))
    w.op("FULLY_CONNECTED", [x, fw, fb], [y], "FullyConnectedOptions", keep_num_dims=True,
         fused_activation_function=1)  # fmt: skip
    w.op("FULLY_CONNECTED", [x, fw, fb], [flat], "FullyConnectedOptions")
    g = import_tflite(write(tmp_path, w, [x], [y, flat]))
    out = run(g, x=x_val)
    np.testing.assert_allclose(out["y"], np.maximum(x_val @ fc_val.T + fcb_val, 0), atol=1e-5)
    np.testing.assert_allclose(out["flat"], x_val.reshape(6, 4) @ fc_val.T + fcb_val, atol=1e-5)


def test_axes_are_remapped_across_the_layout_change(tmp_path):
    x_val, k_val = normal(1, 4, 5, 3), normal(3, 1, 1, 3)
    w = TfliteWriter()
    x = w.tensor("x", (1, 4, 5, 3))
    k = w.tensor("k", (3, 1, 1, 3), data=k_val)
    b = w.tensor("b", (3,), data=np.zeros(3))
    c = w.tensor("c", (1, 4, 5, 3))
    cat = w.tensor("cat", (1, 4, 5, 6))
    pads = w.tensor("pads", (4, 2), "int32", data=[[0, 0], [1, 0], [0, 2], [0, 0]])
    padded = w.tensor("padded", (1, 5, 7, 6))
    soft = w.tensor("soft", (1, 5, 7, 6))
    axes = w.tensor("axes", (2,), "int32", data=[1, 2])
    mean = w.tensor("mean", (1, 3))
    hmean_axes = w.tensor("hmean_axes", (1,), "int32", data=[1])
    hmean = w.tensor("hmean", (1, 1, 5, 3))
    squeezed = w.tensor("squeezed", (5, 3))
    w.op("CONV_2D", [x, k, b], [c], "Conv2DOptions", padding=1, stride_w=1, stride_h=1)
    w.op("CONCATENATION", [c, x], [cat], "ConcatenationOptions", axis=-1)
    w.op("PAD", [cat, pads], [padded])
    w.op("SOFTMAX", [padded], [soft], "SoftmaxOptions", beta=1.0)
    w.op("MEAN", [c, axes], [mean], "ReducerOptions", keep_dims=False)
    w.op("MEAN", [c, hmean_axes], [hmean], "ReducerOptions", keep_dims=True)
    w.op("SQUEEZE", [hmean], [squeezed], "SqueezeOptions", squeeze_dims=[0, 1])
    g = import_tflite(write(tmp_path, w, [x], [soft, mean, squeezed]))
    assert g.output_names == ["soft", "mean", "squeezed"]
    out = run(g, x=x_val)
    conv = np.einsum("nhwc,oc->nhwo", x_val, k_val[:, 0, 0, :])
    p = np.pad(np.concatenate([conv, x_val], axis=-1), ((0, 0), (1, 0), (0, 2), (0, 0)))
    e = np.exp(p - p.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(out["soft"], e / e.sum(axis=-1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(out["mean"], conv.mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(out["squeezed"], conv.mean(axis=1)[0], atol=1e-5)
    # The spatial mean runs as a pooling layer (an integer kernel once quantized).
    assert "GlobalAveragePool" in [n.op_type for n in g.nodes]


def test_transpose_and_strided_slice(tmp_path):
    x_val, k_val = normal(1, 4, 5, 3), normal(3, 1, 1, 3)
    w = TfliteWriter()
    x = w.tensor("x", (1, 4, 5, 3))
    k = w.tensor("k", (3, 1, 1, 3), data=k_val)
    b = w.tensor("b", (3,), data=np.zeros(3))
    c = w.tensor("c", (1, 4, 5, 3))
    perm = w.tensor("perm", (4,), "int32", data=[0, 2, 1, 3])
    t = w.tensor("t", (1, 5, 4, 3))
    begin = w.tensor("begin", (4,), "int32", data=[0, 4, 0, 1])
    end = w.tensor("end", (4,), "int32", data=[1, 0, 4, 3])
    strides = w.tensor("strides", (4,), "int32", data=[1, -2, 1, 1])
    y = w.tensor("y", (2, 4, 2))
    w.op("CONV_2D", [x, k, b], [c], "Conv2DOptions", padding=1, stride_w=1, stride_h=1)
    w.op("TRANSPOSE", [c, perm], [t])
    w.op("STRIDED_SLICE", [t, begin, end, strides], [y], "StridedSliceOptions", shrink_axis_mask=1)
    g = import_tflite(write(tmp_path, w, [x], [y]))
    conv = np.einsum("nhwc,oc->nhwo", x_val, k_val[:, 0, 0, :])
    want = conv.transpose(0, 2, 1, 3)[0, 4:0:-2, 0:4, 1:3]
    np.testing.assert_allclose(run(g, x=x_val)["y"], want, atol=1e-5)


def test_float16_weights_are_dequantized_at_import(tmp_path):
    x_val, k_val = normal(1, 4, 4, 2), normal(3, 3, 3, 2).astype(np.float16)
    w = TfliteWriter()
    x = w.tensor("x", (1, 4, 4, 2))
    k16 = w.tensor("k16", (3, 3, 3, 2), "float16", data=k_val)
    k = w.tensor("k", (3, 3, 3, 2))
    b = w.tensor("b", (3,), data=np.zeros(3))
    y = w.tensor("y", (1, 4, 4, 3))
    w.op("DEQUANTIZE", [k16], [k])
    w.op("CONV_2D", [x, k, b], [y], "Conv2DOptions", padding=0, stride_w=1, stride_h=1)
    g = import_tflite(write(tmp_path, w, [x], [y]))
    assert "DequantizeLinear" not in [n.op_type for n in g.nodes]
    assert all(p.dtype != np.float16 for p in g.params.values())
    want = conv_nhwc(x_val, k_val.astype(np.float32), None, 1, (1, 1, 1, 1))
    np.testing.assert_allclose(run(g, x=x_val)["y"], want, atol=1e-5)


def test_input_dims_override_and_checks(tmp_path):
    w = TfliteWriter()
    x = w.tensor("x", (1, 6, 6, 2), signature=(-1, -1, -1, 2))
    k = w.tensor("k", (3, 3, 3, 2), data=normal(3, 3, 3, 2))
    b = w.tensor("b", (3,), data=np.zeros(3))
    y = w.tensor("y", (1, 3, 3, 3))
    w.op("CONV_2D", [x, k, b], [y], "Conv2DOptions", padding=0, stride_w=2, stride_h=2)
    path = write(tmp_path, w, [x], [y])
    # A spatial size is never proposed as 1: H and W are left for the user.
    with pytest.raises(
        BadInput, match=r"unresolved dimensions: x \[\?, \?, \?, 2\].*--input-dim x 1,H,W,2"
    ):
        import_tflite(path)
    g = import_tflite(path, {"x": (1, 9, 10, 2)})
    assert g.outputs[0].shape == (1, 5, 5, 3)
    with pytest.raises(BadInput, match="no input 'images'"):
        import_tflite(path, {"images": (1, 6, 6, 2)})
    with pytest.raises(BadInput, match="4 dimensions"):
        import_tflite(path, {"x": (6, 6, 2)})


# -- refusals and malformed files -------------------------------------------------------


def test_unsupported_operators_are_named_together(tmp_path):
    w = TfliteWriter()
    x = w.tensor("x", (1, 2, 2, 2, 1))
    a = w.tensor("a", (1, 2, 2, 2, 1))
    y = w.tensor("y", (1, 2, 2, 2, 1))
    w.op("custom:MyOp", [x], [a])
    w.op("CONV_3D", [a], [y])
    with pytest.raises(UnsupportedOperators) as info:
        import_tflite(write(tmp_path, w, [x], [y]))
    message = str(info.value)
    assert "custom 'MyOp' [op 0 -> tensor 1 'a']" in message
    assert "CONV_3D [op 1 -> tensor 2 'y']" in message


def test_unsupported_forms_are_named_with_their_reason(tmp_path):
    w = TfliteWriter()
    x = w.tensor("x", (1, 4, 4, 2))
    pads = w.tensor("pads", (4, 2), "int32", data=[[0, 0], [1, 1], [1, 1], [0, 0]])
    y = w.tensor("y", (1, 6, 6, 2))
    w.op("MIRROR_PAD", [x, pads], [y], "MirrorPadOptions", mode=1)
    with pytest.raises(UnsupportedOperators, match=r"MIRROR_PAD \(SYMMETRIC mirror padding\)"):
        import_tflite(write(tmp_path, w, [x], [y]))


def _valid_model_bytes() -> bytes:
    w = TfliteWriter()
    x = w.tensor("x", (1, 4, 4, 2))
    k = w.tensor("k", (3, 3, 3, 2), data=normal(3, 3, 3, 2))
    b = w.tensor("b", (3,), data=np.zeros(3))
    y = w.tensor("y", (1, 4, 4, 3))
    w.op("CONV_2D", [x, k, b], [y], "Conv2DOptions", padding=0, stride_w=1, stride_h=1)
    return w.build([x], [y])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "too short"),
        (b"TFL3", "too short"),
        (b"\x00" * 64, "no TFL3 file identifier"),
        (b"\x10\x00\x00\x00TFL3" + b"\xff" * 40, "truncated or corrupt"),
    ],
)
def test_malformed_files_are_model_errors(tmp_path, content, message):
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as info:
        import_tflite(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_and_corrupted_files_never_escape_as_tracebacks(tmp_path):
    data = _valid_model_bytes()
    path = tmp_path / "m.tflite"
    # The last bytes may be an unused vtable: cutting them leaves a valid model.
    for cut in range(8, len(data) - 16, max(1, len(data) // 60)):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelError):
            import_tflite(path)
    for cut in range(len(data) - 16, len(data)):
        path.write_bytes(data[:cut])
        try:
            import_tflite(path)
        except ModelError:
            pass
    rng = np.random.default_rng(1)
    for _ in range(150):
        corrupt = bytearray(data)
        for pos in rng.integers(8, len(data), size=3):
            corrupt[pos] = int(rng.integers(0, 256))
        path.write_bytes(bytes(corrupt))
        try:
            import_tflite(path)
        except WorkbenchError:
            pass  # refused with a message: fine; anything else fails the test


# -- quantized models ---------------------------------------------------------------------

X_SCALE, X_ZP = 0.05, -3
W_SCALES = [0.01, 0.02, 0.015]
Y_SCALE, Y_ZP = 0.04, -128


def _int8_conv(w: TfliteWriter, float_interface: bool = False):
    """An int8 per-channel CONV_2D with fused ReLU: returns (input, output, values)."""
    wq = RNG.integers(-127, 128, size=(3, 3, 3, 2)).astype(np.int8)
    bq = RNG.integers(-2000, 2000, size=3).astype(np.int32)
    bias_scales = [X_SCALE * s for s in W_SCALES]
    xq = w.tensor("xq", (1, 4, 4, 2), "int8", quant=([X_SCALE], [X_ZP], 0))
    k = w.tensor("k", (3, 3, 3, 2), "int8", data=wq, quant=(W_SCALES, [0, 0, 0], 0))
    b = w.tensor("b", (3,), "int32", data=bq, quant=(bias_scales, [0, 0, 0], 0))
    yq = w.tensor("yq", (1, 4, 4, 3), "int8", quant=([Y_SCALE], [Y_ZP], 0))
    if float_interface:
        x = w.tensor("x", (1, 4, 4, 2))
        w.op("QUANTIZE", [x], [xq])
    w.op("CONV_2D", [xq, k, b], [yq], "Conv2DOptions", padding=0, stride_w=1, stride_h=1,
         fused_activation_function=1)  # fmt: skip
    if not float_interface:
        return xq, yq, (wq, bq)
    y = w.tensor("y", (1, 4, 4, 3))
    w.op("DEQUANTIZE", [yq], [y])
    return x, y, (wq, bq)


def _int8_reference(x_real: np.ndarray, wq: np.ndarray, bq: np.ndarray) -> np.ndarray:
    """The real-valued layer on the quantized values, requantized to the output grid (int8)."""
    w_real = wq.astype(np.float64) * np.asarray(W_SCALES)[:, None, None, None]
    b_real = bq * X_SCALE * np.asarray(W_SCALES)
    y = np.maximum(conv_nhwc(x_real.astype(np.float64), w_real, b_real, 1, (1, 1, 1, 1)), 0)
    return np.clip(np.round(y / Y_SCALE) + Y_ZP, -128, 127)


def test_int8_model_becomes_a_container_with_its_own_encodings(tmp_path):
    w = TfliteWriter()
    x, y, (wq, bq) = _int8_conv(w)
    imp = load_tflite(write(tmp_path, w, [x], [y]))
    assert imp.quantized
    g = imp.graph
    assert g.inputs[0].dtype == "float32" and g.inputs[0].shape == (1, 4, 4, 2)
    # int8 zero point z is offset -(z + 128) on codes q + 128.
    scale = float(np.float32(X_SCALE))  # scales are float32 in the file
    assert imp.encodings["xq"] == Encoding(-125 * scale, 130 * scale, scale, -125, 8)
    assert imp.encodings["yq"].offset == 0 and imp.encodings["yq"].delta == np.float32(Y_SCALE)
    (conv,) = [n for n in g.nodes if n.op_type == "Conv"]
    w_name, b_name = conv.inputs[1], conv.inputs[2]
    w_enc = imp.param_encodings[w_name]
    assert isinstance(w_enc, ChannelEncoding) and w_enc.axis == 0 and w_enc.symmetric
    np.testing.assert_array_equal(w_enc.offset, [-128] * 3)
    np.testing.assert_allclose(w_enc.delta, np.float32(W_SCALES))
    np.testing.assert_array_equal(imp.codes[w_name], wq.transpose(0, 3, 1, 2).astype(int) + 128)
    assert imp.codes[w_name].dtype == np.uint8
    b_enc = imp.param_encodings[b_name]
    assert b_enc.bitwidth == 32
    np.testing.assert_allclose(b_enc.delta, np.float32(X_SCALE) * np.float32(W_SCALES))
    np.testing.assert_array_equal(imp.codes[b_name], bq)
    # The fused ReLU's input runs on the ReLU's output grid.
    relu = next(n for n in g.nodes if n.op_type == "Relu")
    assert imp.encodings[relu.inputs[0]] == imp.encodings["yq"]

    container = imp.to_container({"command": "test"})
    assert container.quantized and container.manifest["quantizer"]["encodings_from"] == "tflite"
    write_container(tmp_path / "q.dlc", container)
    stored = read_container(tmp_path / "q.dlc")
    xq_codes = RNG.integers(-128, 128, size=(1, 4, 4, 2))
    x_real = ((xq_codes - X_ZP) * np.float32(X_SCALE)).astype(np.float32)
    codes = IntegerPlan(stored).run_integer({"xq": x_real})["yq"].astype(int) - 128
    diff = np.abs(codes - _int8_reference(x_real, wq, bq))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.95


def test_float_interface_absorbs_quantize_and_dequantize(tmp_path):
    w = TfliteWriter()
    x, y, (wq, bq) = _int8_conv(w, float_interface=True)
    imp = load_tflite(write(tmp_path, w, [x], [y]))
    g = imp.graph
    assert g.input_names == ["x"] and g.output_names == ["y"]
    assert not {"QuantizeLinear", "DequantizeLinear"} & {n.op_type for n in g.nodes}
    assert imp.encodings["x"].offset == -125 and imp.encodings["y"].offset == 0
    x_real = normal(1, 4, 4, 2)
    codes = IntegerPlan(imp.to_container({})).run_integer({"x": x_real})["y"].astype(int) - 128
    x_hat = (np.clip(np.round(x_real / X_SCALE) + X_ZP, -128, 127) - X_ZP) * X_SCALE
    assert np.abs(codes - _int8_reference(x_hat, wq, bq)).max() <= 1


def test_requantize_between_grids_is_an_identity_with_its_own_encoding(tmp_path):
    w = TfliteWriter()
    xq = w.tensor("xq", (1, 8), "int8", quant=([0.1], [0], 0))
    yq = w.tensor("yq", (1, 8), "int8", quant=([0.05], [10], 0))
    zq = w.tensor("zq", (1, 8), "int8", quant=([0.05], [10], 0))
    w.op("QUANTIZE", [xq], [yq])
    w.op("RELU", [yq], [zq])
    imp = load_tflite(write(tmp_path, w, [xq], [zq]))
    assert [n.op_type for n in imp.graph.nodes] == ["Identity", "Relu"]
    x_real = (np.arange(-4, 4, dtype=np.float32) * 0.1 * 3).reshape(1, 8)
    out = IntegerPlan(imp.to_container({})).run({"xq": x_real})["zq"]
    np.testing.assert_allclose(out, np.maximum(x_real, 0).clip(max=(127 - 10) * 0.05), atol=1e-6)


def _stateful(assign_first: bool, call_once: bool) -> bytes:
    """x + state, where the state is a resource variable (a streaming model's)."""
    w = TfliteWriter()
    x = w.tensor("x", (1, 4))
    handle = w.tensor("h", (), dtype="int32")  # a resource tensor, as far as shape goes
    state = w.tensor("state", (1, 4))
    y = w.tensor("y", (1, 4))
    if call_once:
        w.op("CALL_ONCE", [], [], "CallOnceOptions", init_subgraph_index=1)
    w.op("VAR_HANDLE", [], [handle])
    if assign_first:
        w.op("ASSIGN_VARIABLE", [handle, x], [])
    w.op("READ_VARIABLE", [handle], [state])
    w.op("ADD", [x, state], [y])
    return w.build([x], [y])


@pytest.mark.parametrize(
    ("assign_first", "call_once", "message"),
    [
        (False, False, "unsupported model state: '/' has no initial value"),
        (True, False, "'/' is read after it is assigned in one invocation"),
        (False, True, "CALL_ONCE refers to missing subgraph 1"),
    ],
)
def test_model_state_that_cannot_be_frozen_is_refused(tmp_path, assign_first, call_once, message):
    path = tmp_path / "state.tflite"
    path.write_bytes(_stateful(assign_first, call_once))
    with pytest.raises(ModelError, match=re.escape(message)) as info:
        load_tflite(path)
    assert str(path) in str(info.value)
