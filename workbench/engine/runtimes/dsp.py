"""DSP: a quantized container natively, integer-true with its encodings; a float one gets
its parameters quantized at init and its activations quantized per inference
(``dynamic_dsp.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.runtimes.spec import (
    NATIVE,
    QUANTIZE,
    QUANTIZED,
    KindRule,
    PrecisionRule,
    Runtime,
    VendorName,
)
from workbench.vocabulary import A16W8, DSP, FP16, INT8

if TYPE_CHECKING:
    from workbench.engine.container import Container
    from workbench.engine.runtimes.network import InitRequest, Network


def _quantized(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.integer_plan import integer_init

    return integer_init(container, request)


def _float(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.dynamic_dsp import dynamic_init

    return dynamic_init(container, request)


RUNTIME = Runtime(
    name=DSP,
    label="DSP",
    native=QUANTIZED,
    float=KindRule(
        QUANTIZE,
        "compatible: quantized at init (activations per inference)",
        phases=("quantize", "plan"),
        conversion=("quantize",),
        init=_float,
        converting="quantizing its parameters",
    ),
    quantized=KindRule(
        NATIVE,
        "native: fixed point",
        phases=("plan",),
        init=_quantized,
        advice="native format: runs in fixed point with the offline encodings",
    ),
    precision=PrecisionRule(
        activation_bits=(8, 16), wide_weights_need_wide_acts=True, processor="the DSP (HTP)"
    ),
    vendor_names=(
        VendorName("DSP", INT8, "8-bit fixed point", layer_cycles=True),
        VendorName(
            "DSP_ACT16", A16W8, "fixed point, 16-bit activations", sdk="2.x", layer_cycles=True
        ),
        VendorName("DSP_FP16", FP16, "float16 on the HTP", sdk="2.x", layer_cycles=True),
    ),
)
