"""GPU: float32 natively; a quantized container is dequantized at init."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.runtimes.spec import DEQUANTIZE, FLOAT, NATIVE, KindRule, Runtime, VendorName
from workbench.vocabulary import FP32, GPU

if TYPE_CHECKING:
    from workbench.engine.container import Container
    from workbench.engine.runtimes.network import InitRequest, Network


def _float(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.float_plan import float_init

    return float_init(container, request)


def _dequantized(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.float_plan import dequantized_init

    return dequantized_init(container, request)


RUNTIME = Runtime(
    name=GPU,
    label="GPU",
    native=FLOAT,
    float=KindRule(
        NATIVE,
        "native: float32",
        phases=("plan",),
        init=_float,
        advice="native format: no dequantization at init",
    ),
    quantized=KindRule(
        DEQUANTIZE,
        "compatible: dequantized at init",
        phases=("dequantize", "plan"),
        conversion=("dequantize",),
        init=_dequantized,
    ),
    vendor_names=(
        VendorName("GPU", FP32, "float32 math, float16 storage (GPU default)"),
        VendorName("GPU_s", FP32, "float32 math, float16 storage (libSNPE_G)", sdk="1.x"),
        VendorName("GPU_FP32", FP32, "float32 (--gpu_mode default)", sdk="1.x"),
    ),
)
