"""Import TFLite models (``.tflite``) into the graph IR: the snpe-tensorflow-to-dlc of the workbench.

``import_tflite(path, input_dims=None) -> Graph`` has ``import_onnx``'s signature and
semantics (a float graph with static shapes; every unsupported operator refused at
once); ``load_tflite`` also returns a quantized model's own encodings, and
``TfliteImport.to_container`` makes the container ``workbench convert`` writes.
Only the ``tflite`` package's generated flatbuffer accessors are used (no TensorFlow).

Layout
------
TFLite is NHWC; our kernels (ONNX semantics) are NCHW. The container keeps the model's
**external interface as the TFLite model declares it**: inputs and outputs keep their
names, NHWC shapes and element order, so an input list written for the TFLite model
works as is. Inside, convolution-like operators (CONV_2D, DEPTHWISE_CONV_2D,
TRANSPOSE_CONV, pooling, RESIZE_*, DEPTH_TO_SPACE, ...) run in NCHW with weights
re-laid-out at import (OHWI -> OIHW; depthwise 1HW(C*M) -> (C*M)1HW as a group
convolution with one group per input channel; TRANSPOSE_CONV OHWI -> IOHW). Every IR
tensor carries the permutation relating it to its TFLite tensor (``layout.py``): a
Transpose is inserted where an operator needs another layout (the graph boundaries;
RESHAPE and FULLY_CONNECTED's flatten, which depend on NHWC element order), axis
attributes are remapped (CONCATENATION, MEAN, SQUEEZE, PAD, SOFTMAX, STRIDED_SLICE,
SPLIT, ...), and constants of elementwise operators are broadcast and transposed in
numpy. Finally Transpose pairs cancel, Transposes that only move unit axes become
Reshapes and Reshape chains merge (a global pool followed by a flatten is one Reshape).

Padding is TFLite's: SAME pads ``total = max((ceil(in/s) - 1) * s + (k - 1) * d + 1 - in, 0)``
with the smaller half first (``layout.same_padding``), written as explicit ``pads``.

Quantized models
----------------
A model whose operators compute on int8/uint8 (or int16) activations (full-integer
post-training quantization, or quantization-aware training) becomes a **quantized
container with the model's own encodings**, laid out as ``quantize_container`` lays one
out: weights and other quantized constants stored as their integer codes with
``param_encodings`` (per-channel ``ChannelEncoding`` along the re-laid-out output-channel
axis where the model is per-channel), int32 biases with ``delta = input delta x weight
delta``, and an encoding for every activation. An int8 zero point ``z`` is our offset
``-(z + 128)`` on unsigned codes ``q + 128`` (``quant.py``); uint8 maps directly.
Fused activations are separate Relu/Clip nodes whose input takes the activation's
output encoding (the quantizer's fused-activation convention).

The interface of a quantized container stays **float**: an int8 graph input becomes a
float32 input whose encoding is the int8 tensor's (the integer executor quantizes the
feed with it, which is the model's input quantization), and an int8 output is produced
on its int8 grid (``IntegerPlan.run_integer`` returns the codes; ``codes - 128`` are the
TFLite interpreter's int8 outputs). A float-interface model's input QUANTIZE and output
DEQUANTIZE are absorbed the same way. QUANTIZE between two integer grids is a
requantizing Identity. Float islands in a partly quantized model keep float parameters
and run as float fallbacks in the integer executor.
"""

from workbench.engine.tflite.importer import (
    TfliteImport,
    import_tflite,
    is_quantized_model,
    load_tflite,
)
from workbench.engine.tflite.ops import supported_tflite_ops

__all__ = [
    "TfliteImport",
    "import_tflite",
    "is_quantized_model",
    "load_tflite",
    "supported_tflite_ops",
]
