"""TFLite builtin operators as IR (ONNX-style) nodes: one small converter per operator.

Each converter reads one TFLite operator and emits its IR nodes through the ``Builder``,
choosing layouts: convolution-like operators take and give NCHW (``layout.NCHW``);
elementwise operators keep their operand's layout (constants are transposed to match);
operators whose meaning depends on element order (RESHAPE, FULLY_CONNECTED's flatten,
EXPAND_DIMS, GATHER, BATCH_MATMUL) take the tensor as TFLite has it, so the builder puts
it back to NHWC first; axis-taking operators (CONCATENATION, MEAN, SQUEEZE, PAD,
STRIDED_SLICE, SOFTMAX, SPLIT, ...) remap their axes to the layout they run in.

A fused activation becomes its own node after the layer (``Relu``, ``Clip``, ``Tanh``);
in a quantized model the layer's output then takes the activation's output encoding,
the quantizer's own convention for fused activations. A converter raises
``Unsupported`` for a form it cannot express; the importer names it with the others.
Recurrent, batch/space and comparison operators register in ``sequence_ops`` (the
importer imports both modules).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.engine.quant import encoding
from workbench.engine.tflite import layout, quant
from workbench.engine.tflite.builder import Builder, Out, QuantConst, Unsupported
from workbench.engine.tflite.layout import NCHW, Perm
from workbench.engine.tflite.reader import Operator

Converter = Callable[[Builder, Operator], None]

_CONVERTERS: dict[str, Converter] = {}


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    """Register a converter for each TFLite builtin operator name."""

    def wrap(fn: Converter) -> Converter:
        for op in op_types:
            if op in _CONVERTERS:
                raise RuntimeError(f"TFLite operator {op} registered twice")
            _CONVERTERS[op] = fn
        return fn

    return wrap


def supported_tflite_ops() -> frozenset[str]:
    return frozenset(_CONVERTERS)


def convert(b: Builder, op: Operator) -> None:
    """Emit the IR of one TFLite operator (``KeyError`` if there is no converter)."""
    _CONVERTERS[op.op_type](b, op)


# -- helpers -------------------------------------------------------------------------

_SAME, _VALID = 0, 1  # tflite.Padding
# tflite.ActivationFunctionType
_NONE, _RELU, _RELU_N1_TO_1, _RELU6, _TANH, _SIGN_BIT = range(6)


def _arg(op: Operator, i: int) -> int:
    """Input ``i`` of ``op``, -1 when omitted."""
    return op.inputs[i] if i < len(op.inputs) else -1


def _padding(op: Operator) -> bool:
    """True for SAME, False for VALID."""
    padding = int(op.options.get("padding", _SAME))
    if padding not in (_SAME, _VALID):
        raise Unsupported(f"padding type {padding}")
    return padding == _SAME


def _ints_param(b: Builder, values: Any, base: str) -> str:
    return b.value_param(np.asarray(list(values), dtype=np.int64), base)


def _scalar(b: Builder, value: float, base: str) -> str:
    return b.value_param(np.array(value, dtype=np.float32), base)


def _with_activation(
    b: Builder,
    op: Operator,
    op_type: str,
    inputs: list[str],
    attrs: dict[str, Any],
    out: Out,
    act: int | None = None,
) -> str:
    """Emit the layer, then its fused activation (if any) into ``out``."""
    act = int(op.options.get("fused_activation_function", _NONE)) if act is None else act
    if act == _NONE:
        return b.emit(op_type, inputs, attrs, outputs=[out])[0]
    if act == _SIGN_BIT:
        raise Unsupported("fused SIGN_BIT activation")
    base = out if isinstance(out, str) else b.name_of(out[0])
    pre = b.temp(f"{base}__{op_type.lower()}")
    b.emit(op_type, inputs, attrs, outputs=[pre])
    if act != _TANH:  # a ReLU-like clamp: the layer runs straight into its output grid
        if isinstance(out, str):
            b.share_encoding(pre, out)
        else:
            b.set_encoding_of(pre, out[0])
    return _activation(b, act, pre, out)


def _activation(b: Builder, act: int, x: str, out: Out) -> str:
    if act == _RELU:
        return b.emit("Relu", [x], outputs=[out])[0]
    if act == _TANH:
        return b.emit("Tanh", [x], outputs=[out])[0]
    lo, hi = {_RELU_N1_TO_1: (-1.0, 1.0), _RELU6: (0.0, 6.0)}[act]
    return b.emit("Clip", [x, _scalar(b, lo, "clip_min"), _scalar(b, hi, "clip_max")],
                  outputs=[out])[0]  # fmt: skip


def _nchw_input(b: Builder, t: int) -> str:
    if b.rank(t) != 4:
        raise Unsupported(f"expects a 4-D input, got rank {b.rank(t)}")
    return b.input(t, NCHW)


def _const_weight(b: Builder, t: int) -> None:
    if not b.is_const(t):
        raise Unsupported("a non-constant filter")


# -- convolutions and pooling ------------------------------------------------------------


@converter("CONV_2D")
def conv_2d(b: Builder, op: Operator) -> None:
    x, w, bias = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    _const_weight(b, w)
    xin = _nchw_input(b, x)
    _, h, wd, c = b.shape(x)
    m, kh, kw, ci = b.shape(w)
    if ci == 0 or c % ci:
        raise Unsupported(f"{c} input channels for a filter of {ci}")
    o = op.options
    strides = b.positive(stride_h=o.get("stride_h", 1), stride_w=o.get("stride_w", 1))
    dilations = b.positive(
        dilation_h=o.get("dilation_hfactor", 1), dilation_w=o.get("dilation_wfactor", 1)
    )
    weight = b.param(w, lambda a: a.transpose(0, 3, 1, 2), axis_map=(0, 3, 1, 2))  # OHWI->OIHW
    inputs = [xin, weight]
    if bias >= 0:
        inputs.append(b.bias(bias, xin, weight))
    attrs = {
        "kernel_shape": [kh, kw],
        "strides": strides,
        "dilations": dilations,
        "pads": layout.conv_pads((h, wd), (kh, kw), strides, dilations, _padding(op)),
        "group": c // ci,
    }
    _with_activation(b, op, "Conv", inputs, attrs, (op.outputs[0], NCHW))


@converter("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(b: Builder, op: Operator) -> None:
    x, w, bias = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    _const_weight(b, w)
    xin = _nchw_input(b, x)
    _, h, wd, c = b.shape(x)
    _, kh, kw, cm = b.shape(w)
    # The depth multiplier is output channels / input channels (the option is not
    # always filled in); output channel k reads input channel k // multiplier.
    if c == 0 or cm % c:
        raise Unsupported(f"{cm} filter channels for {c} input channels")
    o = op.options
    strides = b.positive(stride_h=o.get("stride_h", 1), stride_w=o.get("stride_w", 1))
    dilations = b.positive(
        dilation_h=o.get("dilation_hfactor", 1), dilation_w=o.get("dilation_wfactor", 1)
    )
    # 1HW(C*M) -> (C*M)1HW: a group convolution with one group per input channel.
    weight = b.param(w, lambda a: a.transpose(3, 0, 1, 2), axis_map=(3, 0, 1, 2))
    inputs = [xin, weight]
    if bias >= 0:
        inputs.append(b.bias(bias, xin, weight))
    attrs = {
        "kernel_shape": [kh, kw],
        "strides": strides,
        "dilations": dilations,
        "pads": layout.conv_pads((h, wd), (kh, kw), strides, dilations, _padding(op)),
        "group": c,
    }
    _with_activation(b, op, "Conv", inputs, attrs, (op.outputs[0], NCHW))


@converter("TRANSPOSE_CONV")
def transpose_conv(b: Builder, op: Operator) -> None:
    shape_t, w, x, bias = _arg(op, 0), _arg(op, 1), _arg(op, 2), _arg(op, 3)
    out_shape = b.ints(shape_t)
    o = op.options
    strides = b.positive(stride_h=o.get("stride_h", 1), stride_w=o.get("stride_w", 1))
    _transpose_conv(b, op, x, w, bias, out_shape, strides, _padding(op))


@converter("custom 'Convolution2DTransposeBias'")
def mediapipe_transpose_conv_bias(b: Builder, op: Operator) -> None:
    """MediaPipe's transpose convolution with bias (its segmentation models): options are a
    raw ``TfLiteTransposeConvParams`` (padding, stride w, stride h as int32; padding 1 is
    SAME, 2 VALID); the output is ``in * stride`` (SAME) or ``(in - 1) * stride + k``."""
    raw = op.options.get("custom_options", b"")
    if len(raw) < 12:
        raise Unsupported("custom options are not a TfLiteTransposeConvParams")
    padding, stride_w, stride_h = struct.unpack_from("<3i", raw)
    if padding not in (1, 2):
        raise Unsupported(f"padding type {padding}")
    x, w, bias = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    strides = b.positive(stride_h=stride_h, stride_w=stride_w)
    n, h, wd, _ = b.shape(x)
    m, kh, kw, _ = b.shape(w)
    if padding == 1:
        out_hw = [h * strides[0], wd * strides[1]]
    else:
        out_hw = [(h - 1) * strides[0] + kh, (wd - 1) * strides[1] + kw]
    _transpose_conv(b, op, x, w, bias, [n, *out_hw, m], strides, padding == 1)


def _transpose_conv(
    b: Builder,
    op: Operator,
    x: int,
    w: int,
    bias: int,
    out_shape: list[int],
    strides: list[int],
    same: bool,
) -> None:
    _const_weight(b, w)
    xin = _nchw_input(b, x)
    _, h, wd, _ = b.shape(x)
    m, kh, kw, _ = b.shape(w)
    if len(out_shape) != 4 or out_shape[3] != m:
        raise Unsupported(f"output shape {out_shape} for {m} filters")
    ph = layout.transpose_conv_pads(out_shape[1], h, kh, strides[0], same)
    pw = layout.transpose_conv_pads(out_shape[2], wd, kw, strides[1], same)
    # OHWI -> IOHW: ConvTranspose weights are (C_in, C_out, kH, kW).
    weight = b.param(w, lambda a: a.transpose(3, 0, 1, 2), axis_map=(3, 0, 1, 2))
    inputs = [xin, weight]
    if bias >= 0:
        inputs.append(b.bias(bias, xin, weight))
    attrs = {
        "kernel_shape": [kh, kw],
        "strides": strides,
        "pads": [ph[0], pw[0], ph[1], pw[1]],
        "output_padding": [ph[2], pw[2]],
    }
    _with_activation(b, op, "ConvTranspose", inputs, attrs, (op.outputs[0], NCHW))


def _pool(onnx_op: str) -> Converter:
    def convert_pool(b: Builder, op: Operator) -> None:
        x = _arg(op, 0)
        xin = _nchw_input(b, x)
        _, h, wd, _ = b.shape(x)
        o = op.options
        kernel = b.positive(filter_h=o.get("filter_height", 1), filter_w=o.get("filter_width", 1))
        strides = b.positive(stride_h=o.get("stride_h", 1), stride_w=o.get("stride_w", 1))
        attrs: dict[str, Any] = {
            "kernel_shape": kernel,
            "strides": strides,
            "pads": layout.conv_pads((h, wd), kernel, strides, (1, 1), _padding(op)),
        }
        if onnx_op == "AveragePool":
            attrs["count_include_pad"] = 0  # TFLite averages the valid taps only
        _with_activation(b, op, onnx_op, [xin], attrs, (op.outputs[0], NCHW))

    return convert_pool


converter("AVERAGE_POOL_2D")(_pool("AveragePool"))
converter("MAX_POOL_2D")(_pool("MaxPool"))


@converter("FULLY_CONNECTED")
def fully_connected(b: Builder, op: Operator) -> None:
    x, w, bias = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    o = op.options
    if int(o.get("weights_format", 0)) != 0:
        raise Unsupported("shuffled weights format")
    units, k = b.shape(w)
    xs = b.shape(x)
    size = math.prod(xs)
    if k == 0 or size % k:
        raise Unsupported(f"input of shape {list(xs)} for {k} input features")
    xin = b.input(x)
    if len(xs) != 2 or xs[1] != k:
        flat = b.temp(f"{b.name_of(x)}__flat")
        b.emit("Reshape", [xin, _ints_param(b, [size // k, k], "fc_shape")], outputs=[flat])
        b.share_encoding(flat, xin)
        xin = flat
    out = op.outputs[0]
    keep = bool(o.get("keep_num_dims", False)) and len(xs) != 2
    target: Out = b.temp(f"{b.name_of(out)}__2d") if keep else (out, (0, 1))
    if isinstance(target, str):
        b.set_encoding_of(target, out)
    if b.is_const(w):
        weight = b.param(w, axis_map=(0, 1))
        inputs = [xin, weight]
        if bias >= 0:
            inputs.append(b.bias(bias, xin, weight))
        _with_activation(b, op, "Gemm", inputs, {"transB": 1}, target)
    else:
        wt = b.temp(f"{b.name_of(w)}__t")
        b.emit("Transpose", [b.input(w)], {"perm": [1, 0]}, outputs=[wt])
        b.share_encoding(wt, b.input(w))
        if bias >= 0:
            product = b.temp(f"{b.name_of(out)}__matmul")
            b.emit("MatMul", [xin, wt], outputs=[product])
            _with_activation(b, op, "Add", [product, b.input(bias)], {}, target)
        else:
            _with_activation(b, op, "MatMul", [xin, wt], {}, target)
    if keep:
        shape = [*xs[:-1], units]
        b.emit("Reshape", [target, _ints_param(b, shape, "fc_out_shape")], outputs=[(out, layout.identity(len(shape)))])  # fmt: skip


# -- elementwise -----------------------------------------------------------------------


def _common_layout(b: Builder, tensors: list[int], rank: int) -> Perm:
    """The layout elementwise operands share: that of a full-rank activation operand,
    the identity when some activation operand has a lower rank (it cannot be permuted)."""
    perm = None
    for t in tensors:
        if b.is_const(t):
            continue
        if b.rank(t) != rank:
            return layout.identity(rank)
        perm = perm or b.layout_of(t)
    return perm or layout.identity(rank)


def _binary(onnx_op: str) -> Converter:
    def convert_binary(b: Builder, op: Operator) -> None:
        a, c = _arg(op, 0), _arg(op, 1)
        rank = max(b.rank(a), b.rank(c))
        perm = _common_layout(b, [a, c], rank)
        inputs = [b.broadcast(t, rank, perm) for t in (a, c)]
        _with_activation(b, op, onnx_op, inputs, {}, (op.outputs[0], perm))

    return convert_binary


for _tfl, _onnx in (
    ("ADD", "Add"),
    ("SUB", "Sub"),
    ("MUL", "Mul"),
    ("DIV", "Div"),
    ("MAXIMUM", "Max"),
    ("MINIMUM", "Min"),
    ("POW", "Pow"),
):
    converter(_tfl)(_binary(_onnx))


@converter("SQUARED_DIFFERENCE")
def squared_difference(b: Builder, op: Operator) -> None:
    a, c = _arg(op, 0), _arg(op, 1)
    rank = max(b.rank(a), b.rank(c))
    perm = _common_layout(b, [a, c], rank)
    diff = b.temp(f"{b.name_of(op.outputs[0])}__diff")
    b.emit("Sub", [b.broadcast(t, rank, perm) for t in (a, c)], outputs=[diff])
    b.emit("Mul", [diff, diff], outputs=[(op.outputs[0], perm)])


def _unary(onnx_op: str, **attrs: Any) -> Converter:
    def convert_unary(b: Builder, op: Operator) -> None:
        x = _arg(op, 0)
        perm = b.layout_of(x)
        b.emit(onnx_op, [b.input(x, perm)], attrs, outputs=[(op.outputs[0], perm)])

    return convert_unary


for _tfl, _onnx in (
    ("RELU", "Relu"),
    ("LOGISTIC", "Sigmoid"),
    ("TANH", "Tanh"),
    ("HARD_SWISH", "HardSwish"),
    ("ELU", "Elu"),
    ("EXP", "Exp"),
    ("LOG", "Log"),
    ("SQRT", "Sqrt"),
    ("ABS", "Abs"),
    ("NEG", "Neg"),
    ("FLOOR", "Floor"),
    ("CEIL", "Ceil"),
    ("ROUND", "Round"),
    ("SIN", "Sin"),
    ("COS", "Cos"),
    ("SIGN", "Sign"),
):
    converter(_tfl)(_unary(_onnx))


def _clip(lo: float, hi: float) -> Converter:
    def convert_clip(b: Builder, op: Operator) -> None:
        x = _arg(op, 0)
        perm = b.layout_of(x)
        inputs = [b.input(x, perm), _scalar(b, lo, "clip_min"), _scalar(b, hi, "clip_max")]
        b.emit("Clip", inputs, outputs=[(op.outputs[0], perm)])

    return convert_clip


converter("RELU6")(_clip(0.0, 6.0))
converter("RELU_N1_TO_1")(_clip(-1.0, 1.0))
converter("RELU_0_TO_1")(_clip(0.0, 1.0))


@converter("LEAKY_RELU")
def leaky_relu(b: Builder, op: Operator) -> None:
    x = _arg(op, 0)
    perm = b.layout_of(x)
    alpha = float(op.options.get("alpha", 0.2))
    b.emit("LeakyRelu", [b.input(x, perm)], {"alpha": alpha}, outputs=[(op.outputs[0], perm)])


@converter("GELU")
def gelu(b: Builder, op: Operator) -> None:
    x = _arg(op, 0)
    perm = b.layout_of(x)
    approx = "tanh" if op.options.get("approximate") else "none"
    b.emit("Gelu", [b.input(x, perm)], {"approximate": approx}, outputs=[(op.outputs[0], perm)])


@converter("PRELU")
def prelu(b: Builder, op: Operator) -> None:
    x, alpha = _arg(op, 0), _arg(op, 1)
    rank = b.rank(x)
    perm = b.layout_of(x)
    inputs = [b.input(x, perm), b.broadcast(alpha, rank, perm)]
    b.emit("PRelu", inputs, outputs=[(op.outputs[0], perm)])


@converter("RSQRT")
def rsqrt(b: Builder, op: Operator) -> None:
    x = _arg(op, 0)
    perm = b.layout_of(x)
    inputs = [b.input(x, perm), _scalar(b, -0.5, "rsqrt_exponent")]
    b.emit("Pow", inputs, outputs=[(op.outputs[0], perm)])


@converter("SQUARE")
def square(b: Builder, op: Operator) -> None:
    x = _arg(op, 0)
    perm = b.layout_of(x)
    xin = b.input(x, perm)
    b.emit("Mul", [xin, xin], outputs=[(op.outputs[0], perm)])


def _softmax(onnx_op: str) -> Converter:
    def convert_softmax(b: Builder, op: Operator) -> None:
        x = _arg(op, 0)
        perm = b.layout_of(x)
        xin = b.input(x, perm)
        beta = float(op.options.get("beta", 1.0))
        if beta != 1.0:
            scaled = b.temp(f"{b.name_of(x)}__beta")
            b.emit("Mul", [xin, _scalar(b, beta, "softmax_beta")], outputs=[scaled])
            xin = scaled
        axis = layout.axis_in(perm, -1)
        b.emit(onnx_op, [xin], {"axis": axis}, outputs=[(op.outputs[0], perm)])

    return convert_softmax


converter("SOFTMAX")(_softmax("Softmax"))
converter("LOG_SOFTMAX")(_softmax("LogSoftmax"))


@converter("LOCAL_RESPONSE_NORMALIZATION")
def local_response_normalization(b: Builder, op: Operator) -> None:
    x = _arg(op, 0)
    o = op.options
    size = 2 * int(o.get("radius", 5)) + 1
    attrs = {
        "size": size,
        "alpha": float(o.get("alpha", 1.0)) * size,  # ONNX divides alpha by size
        "beta": float(o.get("beta", 0.5)),
        "bias": float(o.get("bias", 1.0)),
    }
    b.emit("LRN", [_nchw_input(b, x)], attrs, outputs=[(op.outputs[0], NCHW)])


@converter("CAST")
def cast(b: Builder, op: Operator) -> None:
    x, out = _arg(op, 0), op.outputs[0]
    dtype = b.ir_dtype(b.tensor(out))
    if dtype not in _ONNX_TYPES:
        raise Unsupported(f"cast to {dtype}")
    perm = b.layout_of(x)
    if x in b.complex:  # TensorFlow's cast of a complex tensor keeps its real part
        real = b.temp(f"{b.name_of(out)}__real")
        index = b.value_param(np.array(0, np.int64), "real_part")
        b.emit("Gather", [b.complex_input(x).name, index], {"axis": -1}, outputs=[real])
        b.emit("Cast", [real], {"to": _ONNX_TYPES[dtype]}, outputs=[(out, perm)])
        return
    b.emit("Cast", [b.input(x, perm)], {"to": _ONNX_TYPES[dtype]}, outputs=[(out, perm)])


_ONNX_TYPES = {
    "float32": 1,
    "uint8": 2,
    "int8": 3,
    "uint16": 4,
    "int16": 5,
    "int32": 6,
    "int64": 7,
    "bool": 9,
    "float16": 10,
    "float64": 11,
    "uint32": 12,
    "uint64": 13,
}


# -- quantization boundaries --------------------------------------------------------------


@converter("DEQUANTIZE")
def dequantize(b: Builder, op: Operator) -> None:
    # Real values in, the same real values out: in the IR both are one tensor (a
    # quantized one keeps its encoding; float16 constants are widened by ``const``).
    b.alias(op.outputs[0], _arg(op, 0))


@converter("DENSIFY")
def densify(b: Builder, op: Operator) -> None:
    # The reader expanded the sparse constant: its dense value passes through.
    b.alias(op.outputs[0], _arg(op, 0))


@converter("QUANTIZE")
def quantize(b: Builder, op: Operator) -> None:
    x, out = _arg(op, 0), op.outputs[0]
    tensor = b.tensor(out)
    if tensor.dtype not in quant.QUANTIZED_TYPES or tensor.quant is None:
        raise Unsupported(f"quantize to {tensor.dtype}")
    if b.is_const(x):  # a constant quantized at run time: quantized here, once
        enc = quant.activation_encoding(tensor.dtype, tensor.quant)
        codes = encoding.quantize(b.const(x), enc)
        b.quant_consts[out] = QuantConst(encoding.dequantize(codes, enc), codes, enc)
        return
    source = b.input(x, b.layout_of(x))
    own = b.tensor_encoding(out)
    have = b.act_encs.get(source)
    if not b.quantized or own is None or have is None:
        # Float in: the tensor itself flows on the output's grid from here on.
        b.alias(out, x)
        if own is not None:
            b.act_encs.setdefault(source, own)
        return
    if have == own:
        b.alias(out, x)
        return
    # Integer to integer with another scale: a requantizing Identity.
    perm = b.layout_of(x)
    b.emit("Identity", [source], outputs=[(out, perm)])


# -- shapes and data movement -------------------------------------------------------------


@converter("RESHAPE")
def reshape(b: Builder, op: Operator) -> None:
    x, shape_t, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
    if shape_t >= 0 and b.is_const(shape_t):
        target = b.ints(shape_t)
    elif op.options.get("new_shape"):
        target = list(op.options["new_shape"])
    else:
        target = list(b.tensor(out).shape)
    if shape_t >= 0 and not b.is_const(shape_t) and not op.options.get("new_shape"):
        target = list(b.tensor(out).shape)
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise Unsupported(f"target shape {target}")
    inputs = [b.input(x), _ints_param(b, target, "reshape_shape")]
    rank = len(target)
    b.emit("Reshape", inputs, outputs=[(out, layout.identity(rank))])


@converter("SQUEEZE")
def squeeze(b: Builder, op: Operator) -> None:
    x, out = _arg(op, 0), op.outputs[0]
    shape = b.shape(x)
    dims = list(op.options.get("squeeze_dims") or ())
    axes = sorted(
        {d % len(shape) for d in dims} if dims else {i for i, d in enumerate(shape) if d == 1}
    )
    perm = b.layout_of(x)
    if any(shape[a] != 1 for a in axes):
        raise Unsupported(f"squeezing non-unit axes {axes} of {list(shape)}")
    ir_axes = sorted(layout.axis_in(perm, a) for a in axes)
    if x in b.complex:  # the trailing real/imaginary axis stays last
        b.complex.add(out)
        source = b.complex_input(x).name
    else:
        source = b.input(x, perm)
    inputs = [source, _ints_param(b, ir_axes, "squeeze_axes")]
    b.emit("Squeeze", inputs, outputs=[(out, layout.drop_axes(perm, axes))])


@converter("EXPAND_DIMS")
def expand_dims(b: Builder, op: Operator) -> None:
    x, axis_t, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
    rank = b.rank(x)
    (axis,) = b.ints(axis_t)
    axis = axis + rank + 1 if axis < 0 else axis
    inputs = [b.input(x), _ints_param(b, [axis], "unsqueeze_axes")]
    b.emit("Unsqueeze", inputs, outputs=[(out, layout.identity(rank + 1))])


@converter("TRANSPOSE")
def transpose(b: Builder, op: Operator) -> None:
    x, perm_t, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
    tperm = tuple(p % b.rank(x) for p in b.ints(perm_t))
    have = b.layout_of(x)
    source = b.input(x, have)
    # No data moves: the output is the input's IR tensor, read in another layout.
    same_grid = b.tensor_encoding(out) == b.act_encs.get(source)
    if same_grid and source not in b.params:
        b.bind_layout(out, source, layout.compose(layout.inverse(tperm), have))
        return
    perm = layout.between(have, tperm)
    b.emit("Transpose", [source], {"perm": list(perm)}, outputs=[(out, layout.identity(len(perm)))])  # fmt: skip


@converter("CONCATENATION")
def concatenation(b: Builder, op: Operator) -> None:
    out = op.outputs[0]
    rank = b.rank(op.inputs[0])
    perm = _common_layout(b, list(op.inputs), rank)
    axis = layout.axis_in(perm, int(op.options.get("axis", 0)))
    inputs = [b.input(t, perm) for t in op.inputs]
    _with_activation(b, op, "Concat", inputs, {"axis": axis}, (out, perm))


@converter("PACK")
def pack(b: Builder, op: Operator) -> None:
    out = op.outputs[0]
    rank = b.rank(op.inputs[0]) + 1
    axis = int(op.options.get("axis", 0)) % rank
    parts = []
    for t in op.inputs:
        part = b.temp(f"{b.name_of(t)}__unsqueezed")
        b.emit("Unsqueeze", [b.input(t), _ints_param(b, [axis], "pack_axis")], outputs=[part])
        b.share_encoding(part, b.input(t))
        parts.append(part)
    b.emit("Concat", parts, {"axis": axis}, outputs=[(out, layout.identity(rank))])


@converter("UNPACK")
def unpack(b: Builder, op: Operator) -> None:
    x = _arg(op, 0)
    rank = b.rank(x)
    axis = int(op.options.get("axis", 0)) % rank
    n = len(op.outputs)
    parts = [b.temp(f"{b.name_of(o)}__slice") for o in op.outputs]
    split = _ints_param(b, [1] * n, "unpack_split")
    b.emit("Split", [b.input(x), split], {"axis": axis}, outputs=parts)
    for part, o in zip(parts, op.outputs, strict=True):
        b.set_encoding_of(part, o)
        axes = _ints_param(b, [axis], "unpack_axis")
        b.emit("Squeeze", [part, axes], outputs=[(o, layout.identity(rank - 1))])


def _split_outputs(b: Builder, op: Operator, x: int, axis: int, sizes: list[int]) -> None:
    perm = b.layout_of(x)
    ir_axis = layout.axis_in(perm, axis)
    inputs = [b.input(x, perm), _ints_param(b, sizes, "split_sizes")]
    b.emit("Split", inputs, {"axis": ir_axis}, outputs=[(o, perm) for o in op.outputs])


@converter("SPLIT")
def split(b: Builder, op: Operator) -> None:
    axis_t, x = _arg(op, 0), _arg(op, 1)
    (axis,) = b.ints(axis_t)
    dim = b.shape(x)[axis % b.rank(x)]
    n = len(op.outputs)
    if n == 0 or dim % n:
        raise Unsupported(f"{dim} elements in {n} equal parts")
    _split_outputs(b, op, x, axis, [dim // n] * n)


@converter("SPLIT_V")
def split_v(b: Builder, op: Operator) -> None:
    x, sizes_t, axis_t = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    (axis,) = b.ints(axis_t)
    dim = b.shape(x)[axis % b.rank(x)]
    sizes = b.ints(sizes_t)
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = dim - (sum(sizes) + 1)
    if sum(sizes) != dim or any(s < 0 for s in sizes):
        raise Unsupported(f"split sizes {sizes} of {dim} elements")
    _split_outputs(b, op, x, axis, sizes)


@converter("PAD", "PADV2", "MIRROR_PAD")
def pad(b: Builder, op: Operator) -> None:
    x, pads_t, value_t = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    rank = b.rank(x)
    paddings = np.asarray(b.ints(pads_t), dtype=np.int64).reshape(rank, 2)
    if (paddings < 0).any():
        raise Unsupported("negative paddings")
    perm = b.layout_of(x)
    pads = [int(paddings[p, 0]) for p in perm] + [int(paddings[p, 1]) for p in perm]
    inputs = [b.input(x, perm), _ints_param(b, pads, "pads")]
    attrs: dict[str, Any] = {}
    if op.op_type == "MIRROR_PAD":
        if int(op.options.get("mode", 0)) != 0:
            raise Unsupported("SYMMETRIC mirror padding")
        attrs["mode"] = "reflect"
    elif value_t >= 0:
        value = b.const(value_t)
        if value is None:
            raise Unsupported("a non-constant padding value")
        inputs.append(_scalar(b, float(np.asarray(value).reshape(-1)[0]), "pad_value"))
    b.emit("Pad", inputs, attrs, outputs=[(op.outputs[0], perm)])


@converter("TILE")
def tile(b: Builder, op: Operator) -> None:
    x, reps_t = _arg(op, 0), _arg(op, 1)
    perm = b.layout_of(x)
    reps = b.ints(reps_t)
    inputs = [b.input(x, perm), _ints_param(b, [reps[p] for p in perm], "tile_repeats")]
    b.emit("Tile", inputs, outputs=[(op.outputs[0], perm)])


@converter("BROADCAST_TO")
def broadcast_to(b: Builder, op: Operator) -> None:
    x, shape_t, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
    shape = b.ints(shape_t)
    inputs = [b.input(x), _ints_param(b, shape, "broadcast_shape")]
    b.emit("Expand", inputs, outputs=[(out, layout.identity(len(shape)))])


@converter("GATHER")
def gather(b: Builder, op: Operator) -> None:
    params, indices, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
    if int(op.options.get("batch_dims", 0)):
        raise Unsupported("batch_dims")
    axis = int(op.options.get("axis", 0)) % b.rank(params)
    rank = b.rank(params) - 1 + b.rank(indices)
    b.emit("Gather", [b.input(params), b.input(indices)], {"axis": axis},
           outputs=[(out, layout.identity(rank))])  # fmt: skip


@converter("SHAPE")
def shape(b: Builder, op: Operator) -> None:
    x, out = _arg(op, 0), op.outputs[0]
    dtype = b.tensor(out).dtype if b.tensor(out).dtype in ("int32", "int64") else "int32"
    b.bind_const(out, np.asarray(b.shape(x), dtype=dtype))


@converter("STRIDED_SLICE")
def strided_slice(b: Builder, op: Operator) -> None:
    x, begin_t, end_t, strides_t = (_arg(op, i) for i in range(4))
    o = op.options
    if int(o.get("ellipsis_mask", 0)) or int(o.get("new_axis_mask", 0)):
        raise Unsupported("ellipsis or new-axis masks")
    shape = b.shape(x)
    begin, end = b.ints(begin_t), b.ints(end_t)
    strides = b.ints(strides_t) if strides_t >= 0 else [1] * len(begin)
    begin_mask, end_mask = int(o.get("begin_mask", 0)), int(o.get("end_mask", 0))
    shrink = int(o.get("shrink_axis_mask", 0))
    offset = bool(o.get("offset", False))
    specs, shrunk = [], []
    for i, dim in enumerate(shape[: len(begin)]):
        step = strides[i]
        if step == 0:
            raise Unsupported("a zero stride")
        if shrink >> i & 1:
            start = begin[i] + dim if begin[i] < 0 else begin[i]
            specs.append((i, start, start + 1, 1))
            shrunk.append(i)
            continue
        start = None if begin_mask >> i & 1 else begin[i]
        stop = None if end_mask >> i & 1 else (begin[i] + end[i] if offset else end[i])
        specs.append((i, *slice(start, stop, step).indices(dim)))
    _slice(b, op, x, shape, specs, shrunk)


@converter("SLICE")
def slice_(b: Builder, op: Operator) -> None:
    x, begin_t, size_t = _arg(op, 0), _arg(op, 1), _arg(op, 2)
    shape = b.shape(x)
    begin, size = b.ints(begin_t), b.ints(size_t)
    specs = []
    for i, dim in enumerate(shape[: len(begin)]):
        stop = dim if size[i] == -1 else begin[i] + size[i]
        specs.append((i, begin[i], stop, 1))
    _slice(b, op, x, shape, specs, [])


def _slice(
    b: Builder,
    op: Operator,
    x: int,
    shape: tuple[int, ...],
    specs: list[tuple[int, int, int, int]],
    shrunk: list[int],
) -> None:
    """Slice ``x`` by ``(axis, start, stop, step)`` (Python ``slice.indices`` values), then
    drop the ``shrunk`` axes."""
    perm = b.layout_of(x)
    out = op.outputs[0]
    live = [s for s in specs if (s[1], s[2], s[3]) != (0, shape[s[0]], 1)]
    source = b.input(x, perm)
    target: Out = (out, perm)
    if shrunk:
        target = b.temp(f"{b.name_of(out)}__slice")
        b.set_encoding_of(target, out)
    if live:
        # A negative step running past index 0 stops "before the start": INT64_MIN.
        ends = [s[2] if s[2] >= 0 or s[3] > 0 else -(2**63) for s in live]
        inputs = [
            source,
            _ints_param(b, [s[1] for s in live], "slice_starts"),
            _ints_param(b, ends, "slice_ends"),
            _ints_param(b, [layout.axis_in(perm, s[0]) for s in live], "slice_axes"),
            _ints_param(b, [s[3] for s in live], "slice_steps"),
        ]
        b.emit("Slice", inputs, outputs=[target])
    elif isinstance(target, str):
        b.emit("Identity", [source], outputs=[target])
    else:
        b.bind_layout(out, source, perm)
        return
    if shrunk:
        axes = sorted(layout.axis_in(perm, a) for a in shrunk)
        inputs = [target, _ints_param(b, axes, "squeeze_axes")]
        b.emit("Squeeze", inputs, outputs=[(out, layout.drop_axes(perm, shrunk))])


def _reduce(onnx_op: str) -> Converter:
    def convert_reduce(b: Builder, op: Operator) -> None:
        x, axes_t, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
        rank = b.rank(x)
        axes = sorted({a % rank for a in b.ints(axes_t)}) if rank else []
        keep = bool(op.options.get("keep_dims", False))
        perm = b.layout_of(x)
        out_perm = perm if keep else layout.drop_axes(perm, axes)
        if onnx_op == "ReduceMean" and rank == 4 and perm == NCHW and axes == [1, 2]:
            # Spatial mean of an NCHW tensor: GlobalAveragePool (integer kernel).
            target: Out = (out, perm) if keep else b.temp(f"{b.name_of(out)}__pooled")
            b.emit("GlobalAveragePool", [b.input(x, perm)], outputs=[target])
            if not keep:
                b.set_encoding_of(target, out)
                b.emit("Squeeze", [target, _ints_param(b, [2, 3], "squeeze_axes")],
                       outputs=[(out, out_perm)])  # fmt: skip
            return
        ir_axes = sorted(layout.axis_in(perm, a) for a in axes)
        inputs = [b.input(x, perm), _ints_param(b, ir_axes, "reduce_axes")]
        b.emit(onnx_op, inputs, {"keepdims": int(keep)}, outputs=[(out, out_perm)])

    return convert_reduce


for _tfl, _onnx in (
    ("MEAN", "ReduceMean"),
    ("SUM", "ReduceSum"),
    ("REDUCE_MAX", "ReduceMax"),
    ("REDUCE_MIN", "ReduceMin"),
    ("REDUCE_PROD", "ReduceProd"),
):
    converter(_tfl)(_reduce(_onnx))


def _arg_reduce(onnx_op: str) -> Converter:
    def convert_arg(b: Builder, op: Operator) -> None:
        x, axis_t, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
        (axis,) = b.ints(axis_t)
        perm = b.layout_of(x)
        out_perm = layout.drop_axes(perm, [axis])
        attrs = {"axis": layout.axis_in(perm, axis), "keepdims": 0}
        if b.tensor(out).dtype == "int64":
            b.emit(onnx_op, [b.input(x, perm)], attrs, outputs=[(out, out_perm)])
            return
        index = b.temp(f"{b.name_of(out)}__int64")
        b.emit(onnx_op, [b.input(x, perm)], attrs, outputs=[index])
        b.emit("Cast", [index], {"to": _ONNX_TYPES["int32"]}, outputs=[(out, out_perm)])

    return convert_arg


converter("ARG_MAX")(_arg_reduce("ArgMax"))
converter("ARG_MIN")(_arg_reduce("ArgMin"))


def _resize(bilinear: bool) -> Converter:
    def convert_resize(b: Builder, op: Operator) -> None:
        x, size_t = _arg(op, 0), _arg(op, 1)
        size = b.ints(size_t)
        if len(size) != 2:
            raise Unsupported(f"size {size}")
        align = bool(op.options.get("align_corners", False))
        half = bool(op.options.get("half_pixel_centers", False))
        if bilinear:
            coord = "align_corners" if align else "half_pixel" if half else "asymmetric"
            attrs = {"mode": "linear", "coordinate_transformation_mode": coord}
        elif align:
            # TFLite rounds (x * scale) half away from zero: upwards for these positions.
            attrs = {
                "mode": "nearest",
                "coordinate_transformation_mode": "align_corners",
                "nearest_mode": "round_prefer_ceil",
            }
        else:
            coord = "tf_half_pixel_for_nn" if half else "asymmetric"
            attrs = {"mode": "nearest", "coordinate_transformation_mode": coord, "nearest_mode": "floor"}  # fmt: skip
        attrs["axes"] = [2, 3]
        inputs = [_nchw_input(b, x), "", "", _ints_param(b, size, "resize_sizes")]
        b.emit("Resize", inputs, attrs, outputs=[(op.outputs[0], NCHW)])

    return convert_resize


converter("RESIZE_BILINEAR")(_resize(True))
converter("RESIZE_NEAREST_NEIGHBOR")(_resize(False))


def _space_depth(onnx_op: str) -> Converter:
    def convert_space_depth(b: Builder, op: Operator) -> None:
        x = _arg(op, 0)
        block = int(op.options.get("block_size", 2))
        # TFLite orders the depth as (block row, block column, channel): ONNX's DCR.
        attrs = {"blocksize": block, "mode": "DCR"} if onnx_op == "DepthToSpace" else {"blocksize": block}  # fmt: skip
        b.emit(onnx_op, [_nchw_input(b, x)], attrs, outputs=[(op.outputs[0], NCHW)])

    return convert_space_depth


converter("DEPTH_TO_SPACE")(_space_depth("DepthToSpace"))
converter("SPACE_TO_DEPTH")(_space_depth("SpaceToDepth"))


@converter("BATCH_MATMUL")
def batch_matmul(b: Builder, op: Operator) -> None:
    a, c, out = _arg(op, 0), _arg(op, 1), op.outputs[0]
    names = []
    for t, flag in ((a, "adj_x"), (c, "adj_y")):
        name = b.input(t)
        if op.options.get(flag):
            rank = b.rank(t)
            perm = [*range(rank - 2), rank - 1, rank - 2]
            flipped = b.temp(f"{b.name_of(t)}__adj")
            b.emit("Transpose", [name], {"perm": perm}, outputs=[flipped])
            b.share_encoding(flipped, name)
            name = flipped
        names.append(name)
    rank = max(b.rank(a), b.rank(c))
    b.emit("MatMul", names, outputs=[(out, layout.identity(rank))])
