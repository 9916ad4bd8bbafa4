"""TFLite quantization parameters as workbench encodings, and integer codes as stored codes.

TFLite: ``real = scale * (q - zero_point)`` with ``q`` an int8 (``[-128, 127]``), uint8 or
int16 integer. Workbench (``quant/encoding.py``): ``real = delta * (c + offset)`` with
``c`` an *unsigned* code (``[0, 255]`` for 8 bits). The two meet with

    c = q - qmin_signed          (int8: c = q + 128; uint8: c = q; int16: c = q + 32768)
    delta = scale
    offset = -(zero_point - qmin_signed)     (int8: offset = -(zero_point + 128))

so an int8 activation with zero point ``z`` is a workbench encoding with offset
``-(z + 128)`` (in ``[-255, 0]``, zero exactly representable, as our rule requires), and
the per-channel symmetric int8 weights of a full-integer model (zero point 0, codes in
``[-127, 127]``) are ``ChannelEncoding``s with offset ``-128``, exactly what
``quantize --per-channel`` writes. 32-bit biases stay int32 with offset 0; their delta
is taken as ``input delta * weight delta`` (``bias_encoding_32bit``), which is the scale
TFLite's integer kernels use for them whatever the file records.
"""

from __future__ import annotations

import numpy as np

from workbench.engine.quant.encoding import ChannelEncoding, Encoding
from workbench.engine.tflite.reader import Quantization

# dtype -> (bitwidth, the signed minimum subtracted to make codes unsigned)
_CODE_TYPES = {"int8": (8, -128), "uint8": (8, 0), "int16": (16, -32768)}
# Activation types whose tensors are quantized activations.
QUANTIZED_TYPES = frozenset(_CODE_TYPES)


def is_quantized(dtype: str, quant: Quantization | None) -> bool:
    """Does a tensor of ``dtype`` with ``quant`` hold quantized real values?"""
    return quant is not None and dtype in (*QUANTIZED_TYPES, "int32", "int64")


def activation_encoding(dtype: str, quant: Quantization) -> Encoding:
    """The per-tensor encoding of a quantized activation (or per-tensor constant)."""
    bitwidth, qmin = _CODE_TYPES[dtype]
    scale = float(quant.scale[0])
    offset = -(int(quant.zero_point[0]) - qmin)
    levels = 2**bitwidth - 1
    return Encoding(offset * scale, (offset + levels) * scale, scale, offset, bitwidth, False)


def weight_encoding(dtype: str, quant: Quantization, axis: int) -> Encoding | ChannelEncoding:
    """A quantized constant's encoding; per channel (along IR ``axis``) when the model has it."""
    bitwidth, qmin = _CODE_TYPES[dtype]
    offsets = -(quant.zero_point - qmin)
    symmetric = bool((quant.zero_point == 0).all()) and dtype != "uint8"
    levels = 2**bitwidth - 1
    if quant.scale.size == 1:
        scale, offset = float(quant.scale[0]), int(offsets[0])
        return Encoding(
            offset * scale, (offset + levels) * scale, scale, offset, bitwidth, symmetric
        )
    return ChannelEncoding(
        axis=axis,
        min=offsets * quant.scale,
        max=(offsets + levels) * quant.scale,
        delta=quant.scale,
        offset=offsets,
        bitwidth=bitwidth,
        symmetric=symmetric,
    )


def codes(data: np.ndarray) -> np.ndarray:
    """Stored integers as the workbench keeps them: unsigned codes (8/16-bit) or int32."""
    if data.dtype == np.int8:
        return (data.astype(np.int16) + 128).astype(np.uint8)
    if data.dtype == np.int16:
        return (data.astype(np.int32) + 32768).astype(np.uint16)
    if data.dtype == np.int64:
        if data.size and (data.min() < -(2**31) or data.max() >= 2**31):
            raise ValueError("a 64-bit bias does not fit in 32 bits")
        return data.astype(np.int32)
    return data.copy()


def dequantize(data: np.ndarray, quant: Quantization) -> np.ndarray:
    """``scale * (q - zero_point)`` as float32, per channel along ``quant.axis``."""
    q = data.astype(np.float64)
    if quant.scale.size > 1:
        shape = [1] * data.ndim
        shape[quant.axis] = quant.scale.size
        scale, zp = quant.scale.reshape(shape), quant.zero_point.reshape(shape)
    else:
        scale, zp = quant.scale[0], quant.zero_point[0]
    return ((q - zp) * scale).astype(np.float32)
