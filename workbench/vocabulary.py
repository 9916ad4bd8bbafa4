"""The product's vocabulary, defined once: every layer imports its nouns from here.

Runtime names, quantizer schemes, bitwidths, algorithms, rounding modes, metrics, run
kinds and statuses, the limits options are checked against, and the two formatters every
screen shares (bytes, and dB with the "infinite SQNR" cap). No numpy, no
SQLAlchemy, no click: parsing the command line imports this and nothing heavy.

The rules of each runtime live beside its code (``workbench/engine/runtimes/``, one
module per runtime, one registry); the options of each job are declared in
``workbench/options.py``.
"""

from __future__ import annotations

import math

# --------------------------------------------------------------------------- runtimes

CPU = "cpu"
GPU = "gpu"
GPU_FP16 = "gpu_fp16"
DSP = "dsp"
AIP = "aip"
# The built-in runtimes, in the order of the guide's table. The live list (with any
# runtime registered later) is ``workbench.engine.runtimes.runtime_names()``.
RUNTIMES = (CPU, GPU, GPU_FP16, DSP, AIP)
REFERENCE_RUNTIME = CPU  # where a float container's reference outputs are computed

# The names in the engine's runtime registry, kept in step by its register/unregister
# so that option parsing (below the engine) sees a runtime registered later too.
_registered: dict[str, None] = {}


def registered_runtimes() -> tuple[str, ...]:
    """The live runtime names (the built-ins until the engine's registry is loaded)."""
    return tuple(_registered) or RUNTIMES


def note_runtime(name: str, registered: bool = True) -> None:
    """Called by ``workbench.engine.runtimes.registry`` only."""
    if registered:
        _registered[name] = None
    else:
        _registered.pop(name, None)


# The arithmetic a runtime mode computes in (a device-measured run records its mode's).
FP32 = "fp32"
FP16 = "fp16"
INT8 = "int8"  # 8-bit fixed point
A16W8 = "a16w8"  # fixed point, 16-bit activations and 8-bit weights
PRECISIONS = (FP32, FP16, INT8, A16W8)

# --------------------------------------------------------------------------- quantizer

TF = "tf"
ENHANCED = "enhanced"
SYMMETRIC = "symmetric"
PERCENTILE = "percentile"
SCHEMES = (TF, ENHANCED, SYMMETRIC, PERCENTILE)

WEIGHT_BITWIDTHS = (4, 8, 16)
ACT_BITWIDTHS = (8, 16)

# A layer's activation precision (``--layer-precision PATTERN=...``): 8- or 16-bit fixed
# point, or float (no encoding; on the DSP and AIP the layer falls back to the CPU).
INT8_LAYER = "int8"
INT16_LAYER = "int16"
FLOAT_LAYER = "float"
LAYER_PRECISIONS = (INT8_LAYER, INT16_LAYER, FLOAT_LAYER)
LAYER_PRECISION_BITS = {INT8_LAYER: 8, INT16_LAYER: 16}
# How a layer pattern names layers: an exact node name, ``type:OpType`` or ``re:REGEX``.
TYPE_PATTERN = "type:"
REGEX_PATTERN = "re:"
BIAS_BITWIDTHS = (8, 32)

CLE = "cle"  # cross-layer equalization
BC = "bc"  # bias correction
ADAROUND = "adaround"  # learned weight rounding
ALGORITHMS = (CLE, BC, ADAROUND)

# How values round onto a grid at ties (a quantized container records its mode):
# half away from zero is the vendor's fixed point (AIMET/SNPE's quantizer library rounds
# with C round()), half to even is ONNX QuantizeLinear's (so ONNX Runtime's). ``tflite``
# is TensorFlow Lite's integer kernels: half away onto grids, and requantization by its
# double rounding (gemmlowp's rounding doubling high multiply, then a rounding shift),
# with TFLite's own add, average-pool and lookup-table arithmetic; a quantized TFLite
# model converted with its own encodings records it.
HALF_AWAY = "half-away"
HALF_EVEN = "half-even"
TFLITE_ROUNDING = "tflite"
ROUNDING_MODES = (HALF_AWAY, HALF_EVEN, TFLITE_ROUNDING)
DEFAULT_ROUNDING = HALF_AWAY

# --------------------------------------------------------------------------- metrics

# Accuracy metrics of a network's outputs against its float reference. The next issue
# makes them selectable (--metric); today bench measures them all.
SQNR = "sqnr"
COSINE = "cosine"
MAX_ABS = "max-abs"
MAE = "mae"
TOP1 = "top1"
LABEL_ACCURACY = "label-accuracy"
IOU = "iou"
METRICS = (SQNR, COSINE, MAX_ABS, MAE, TOP1, LABEL_ACCURACY, IOU)
LOWER_IS_BETTER = (MAX_ABS, MAE)  # errors; the registry (engine.metrics) agrees
FRACTION_METRICS = (COSINE, TOP1, LABEL_ACCURACY, IOU)  # values in [0, 1] (cosine: [-1, 1])
DROP_SUFFIX = "-drop"  # an autoquant goal on the metric's loss: top1-drop<=1 (points)

# Where autoquant searches: the runtimes that run a quantized container in fixed point
# (the CPU in its fixed-point mode).
AUTOQUANT_RUNTIMES = (DSP, AIP, CPU)

# --------------------------------------------------------------------------- runs

QUANTIZE = "quantize"
BENCH = "bench"
DEBUG = "debug"  # a quantized container compared layer by layer with its float model
RUN_KINDS = (QUANTIZE, BENCH, DEBUG)

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
INTERRUPTED = "interrupted"
REFUSED = "refused"  # a bench row only: stored as a failed run with options.refused
RUN_STATUSES = (RUNNING, SUCCEEDED, FAILED, INTERRUPTED)
FINISHED_STATUSES = (SUCCEEDED, FAILED, INTERRUPTED)
BENCH_STATUSES = (SUCCEEDED, FAILED, REFUSED)

# --------------------------------------------------------------------------- sweeps

PENDING = "pending"  # a sweep cell not started yet
# A sweep cell: pending, running, then one ending; ``refused`` is a runtime's verdict on
# the container (AIP without HTA records), as final as ``succeeded``.
CELL_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, REFUSED, INTERRUPTED)
DONE_CELL_STATUSES = (SUCCEEDED, REFUSED)  # a rerun skips these
LOCAL = "local"  # a process pool on this machine
RAY = "ray"  # Ray tasks on a cluster (the ``ray`` extra)
EXECUTORS = (LOCAL, RAY)

# --------------------------------------------------------------------------- limits

MAX_BATCH = 4096  # runtimes resize a network to at most this batch
# Timed iterations per measurement: more would run for hours and measure nothing new,
# and a count past 2**63 does not fit the store's integers.
MAX_ITERATIONS = 1_000_000
# Threads a job may compute with (the engine's pool; BLAS stays on one thread).
MAX_THREADS = 64
# Cells a sweep measures at once (local worker processes, or Ray tasks in flight).
MAX_SWEEP_JOBS = 1024

# --------------------------------------------------------------------------- formatting

# An exact match (no noise) has an infinite SQNR; JSON and the store hold this cap.
SQNR_CAP_DB = 999.0

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def counted(n: int, noun: str) -> str:
    """``1 sample``, ``2 samples``: a count with its noun (plural by a trailing ``s``)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def format_bytes(n: float | None, *, smallest: str = "B") -> str:
    """``n`` bytes for a person: ``512 B``, ``1.5 KiB``, ... ``3.0 TiB``; ``-`` for None/NaN.

    ``smallest`` starts the scale higher (``MiB`` for memory messages: ``0.0 MiB``).
    """
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    units = _BYTE_UNITS[_BYTE_UNITS.index(smallest) :]
    size = float(n) / 1024 ** _BYTE_UNITS.index(smallest)
    for unit in units:
        if abs(size) < 1024 or unit == units[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def finite_db(value: float | None) -> float | None:
    """A dB value fit for JSON and the store: ±infinity (exact) becomes ±``SQNR_CAP_DB``,
    NaN (nothing to compare) becomes None."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return SQNR_CAP_DB if value > 0 else -SQNR_CAP_DB
    return value


def is_exact_db(value: float | None) -> bool:
    """Is this stored dB value the cap of an exact match (infinite SQNR)?"""
    return value is not None and not math.isnan(value) and value >= SQNR_CAP_DB


def format_db(value: float | None, *, decimals: int = 2, unit: str = " dB") -> str:
    """``23.46 dB``; ``exact`` for the cap (or infinity); ``-`` for None/NaN."""
    if value is None or math.isnan(value):
        return "-"
    if is_exact_db(value):
        return "exact"
    return f"{value:.{decimals}f}{unit}"
