"""AIP: a quantized container with the HTA records of ``quantize --enable-hta``; HTA
subnets run from the records, HNN subnets as on the DSP (``hta_plan.py``). A float
container is refused, and a batch above 1 needs every layer in an HTA subnet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.engine.runtimes.spec import (
    ALL_HTA,
    NATIVE,
    QUANTIZED,
    REFUSE,
    BatchRule,
    KindRule,
    PrecisionRule,
    Runtime,
    VendorName,
)
from workbench.vocabulary import A16W8, AIP, DSP, INT8

if TYPE_CHECKING:
    from workbench.engine.container import Container
    from workbench.engine.runtimes.network import InitRequest, Network


def _quantized(container: Container, request: InitRequest) -> Network:
    from workbench.engine.runtimes.hta_plan import hta_init

    return hta_init(container, request)


RUNTIME = Runtime(
    name=AIP,
    label="AIP",
    native=QUANTIZED,
    float=KindRule(
        REFUSE,
        "refused",
        reason="AIP does not support non-quantized containers: quantize it first "
        "(workbench quantize M.dlc --input-list LIST -o Q.dlc --enable-hta)",
    ),
    quantized=KindRule(
        NATIVE,
        "native: HTA records + HNN (fixed point)",
        phases=("hta_records", "plan"),
        init=_quantized,
        advice="the only format AIP runs: it refuses non-quantized containers",
    ),
    needs_hta_records=True,
    precision=PrecisionRule(
        activation_bits=(8, 16),
        wide_weights_need_wide_acts=True,
        hta_bits=8,
        processor="the AIP (HTA + HNN on the HTP)",
    ),
    batch=BatchRule(
        ALL_HTA,
        "AIP runs a batch above 1 only when every layer is in an HTA subnet; layers from "
        f"{{first!r}} on run as an HNN subnet (use --batch 1 or the {DSP} runtime)",
    ),
    vendor_names=(
        VendorName("AIP", INT8, "8-bit fixed point", layer_cycles=True),
        VendorName(
            "AIP_ACT16", A16W8, "fixed point, 16-bit activations", sdk="2.x", layer_cycles=True
        ),
    ),
)
