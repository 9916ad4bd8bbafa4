"""Runtime emulators: what each runtime does with a container at initialisation.

``load_network`` takes a container (already read from disk) and returns a
``Network`` ready to run, having done the runtime's real initialisation work
(SPEC §2, the vendor guide's table), timed phase by phase. Nothing is slept or
faked: every conversion touches every parameter.

======== =========================================== ==========================================
runtime  quantized container                         float (non-quantized) container
======== =========================================== ==========================================
cpu      ``cpu_fxp``: integer-true (``IntegerPlan``)  native: float32 (``Plan``)
         with the container's encodings; phases
         ``plan``. Without it: ``dequantize`` every
         parameter, then float32; ``dequantize``,
         ``plan``
gpu      ``dequantize``, then float32                 native: float32
gpu_fp16 ``dequantize``, ``cast_fp16``, then          ``cast_fp16``, then float16 storage
         float16 storage / float32 math
dsp      native: integer-true with the container's   ``quantize``: every data parameter gets
         encodings                                   the tf encoding of its own min/max;
                                                     activations quantized dynamically (below)
aip      ``hta_records``: the HTA records are read   refused: AIP does not support
         and checked; HTA subnets run from them,     non-quantized containers
         HNN subnets with DSP semantics
======== =========================================== ==========================================

Batch resizing (``batch``) happens at init on every runtime (phase ``resize``). AIP
accepts a batch above 1 only when every layer is in an HTA subnet.

Each runtime is a module here declaring its rules as data (``spec.Runtime``: what it
does with each kind of container, the phases, HTA records, batches): ``cpu``, ``gpu``,
``gpu_fp16``, ``dsp``, ``aip``, registered in ``registry``. The work itself lives in
named common modules: ``float_plan`` (float32, dequantizing), ``fp16`` (float16
storage), ``integer_plan`` (integer-true), ``dynamic_dsp`` (a float container on the
DSP), ``hta_plan`` (the AIP's HTA records). ``load.check_runtime`` and
``load.load_network`` apply the declarations. This package imports no numpy until
``load_network`` is used, so that the command line can list the runtimes quickly.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from workbench.engine.runtimes.registry import (
    get_runtime,
    register,
    runtime_names,
    runtimes,
    unregister,
)
from workbench.engine.runtimes.spec import KindRule, Runtime
from workbench.vocabulary import RUNTIMES

# Loaded on first use: they need numpy.
_LAZY = {"check_runtime": "load", "load_network": "load", "Network": "network"}

__all__ = [
    "RUNTIMES",
    "KindRule",
    "Network",
    "Runtime",
    "check_runtime",
    "get_runtime",
    "load_network",
    "register",
    "runtime_names",
    "runtimes",
    "unregister",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
