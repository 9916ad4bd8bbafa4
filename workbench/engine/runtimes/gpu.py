"""GPU: float32 natively; a quantized container is dequantized at init."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.runtimes.spec import DEQUANTIZE, FLOAT, NATIVE, KindRule, Runtime
from workbench.vocabulary import GPU

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
    vendor_names=("GPU", "GPU_S"),
)
