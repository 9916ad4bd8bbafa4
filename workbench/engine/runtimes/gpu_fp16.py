"""GPU in float16 storage, float32 math: data parameters cast to float16 at init (a
quantized container dequantized first), activations stored as float16 (``fp16.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.runtimes.spec import CAST, DEQUANTIZE, FLOAT, KindRule, Runtime, VendorName
from workbench.vocabulary import FP16, GPU_FP16

if TYPE_CHECKING:
    from workbench.engine.container import Container
    from workbench.engine.runtimes.network import InitRequest, Network


def _float(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.fp16 import fp16_init

    return fp16_init(container, request)


def _dequantized(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.fp16 import fp16_dequantized_init

    return fp16_dequantized_init(container, request)


RUNTIME = Runtime(
    name=GPU_FP16,
    label="GPU fp16",
    native=FLOAT,
    float=KindRule(
        CAST,
        "compatible: cast to float16 at init",
        phases=("cast_fp16", "plan"),
        conversion=("cast_fp16",),
        init=_float,
        advice="native format: no dequantization at init",
    ),
    quantized=KindRule(
        DEQUANTIZE,
        "compatible: dequantized and cast to float16 at init",
        phases=("dequantize", "cast_fp16", "plan"),
        conversion=("dequantize", "cast_fp16"),
        init=_dequantized,
    ),
    vendor_names=(VendorName("GPU_FP16", FP16, "float16 storage and math"),),
)
