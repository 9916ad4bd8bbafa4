"""CPU: float32 natively; a quantized container is dequantized at init, or run integer-true
with its encodings in fixed-point mode (``--cpu-fxp``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.runtimes.spec import (
    DEQUANTIZE,
    FLOAT,
    FLOAT_NATIVE,
    NATIVE,
    KindRule,
    PrecisionRule,
    Runtime,
    VendorName,
)
from workbench.vocabulary import CPU, FP32, INT8

if TYPE_CHECKING:
    from workbench.engine.container import Container
    from workbench.engine.runtimes.network import InitRequest, Network


def _float(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.float_plan import float_init

    return float_init(container, request)


def _dequantized(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.float_plan import dequantized_init

    return dequantized_init(container, request)


def _fixed_point(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.integer_plan import integer_init

    return integer_init(container, request)


RUNTIME = Runtime(
    name=CPU,
    label="CPU",
    native=FLOAT,
    float=KindRule(
        NATIVE,
        "native: float32",
        phases=("plan",),
        init=_float,
        advice="native format: runs in float32, nothing converted at init",
    ),
    quantized=KindRule(
        DEQUANTIZE,
        "compatible: dequantized at init",
        phases=("dequantize", "plan"),
        conversion=("dequantize",),
        init=_dequantized,
        converting="dequantizing",
    ),
    fixed_point=KindRule(
        NATIVE,
        "native: fixed point (--cpu-fxp)",
        phases=("plan",),
        init=_fixed_point,
        label="CPU --cpu-fxp",
        vendor_names=(VendorName("CPU_FXP8", INT8, "8-bit fixed point", sdk="1.x"),),
    ),
    vendor_names=(VendorName("CPU", FP32, "float32"),),
    # --cpu-fxp: 8- and 16-bit activations in the emulator; a float layer is the CPU's own.
    precision=PrecisionRule(float_layers=FLOAT_NATIVE, processor="the CPU in fixed point"),
)
