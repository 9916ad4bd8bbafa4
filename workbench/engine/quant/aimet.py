"""AIMET encodings JSON: export a quantized container's encodings, load overrides.

The versions AIMET writes and reads (``Docs/techniques/encoding_spec.rst``, and
aimet-onnx's ``_encoding.py`` / ``quantsim.load_encodings_to_sim``). Every file AIMET
writes starts with ``"producer": {"package": ..., "version": ...}``; it is kept.

**0.6.1** — dicts keyed by tensor name, each a list of entries (one per channel for a
per-channel encoding); AIMET writes offsets as floats::

    {"version": "0.6.1",
     "activation_encodings": {"x": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False",
                                     "max": 0.99, "min": -1.0, "offset": -128.0, "scale": 0.0078}]},
     "param_encodings": {"w": [{...}, {...}]},
     "quantizer_args": {...}}

**1.0.0** — lists of entries carrying their name; per-channel is one entry with arrays::

    {"version": "1.0.0",
     "activation_encodings": [{"name": "x", "dtype": "INT", "enc_type": "PER_TENSOR",
                               "bw": 8, "is_sym": false, "scale": [0.0078], "offset": [-128.0]}],
     "param_encodings": [{"name": "w", "dtype": "INT", "enc_type": "PER_CHANNEL", "bw": 8,
                          "is_sym": true, "scale": [...], "offset": [...]}],
     "quantizer_args": {...}}

**2.0.0** (and **2.1.0**, which differs only in how it spells LPBQ) — one flat list in
ONNX ``QuantizeLinear`` terms, no activation/parameter split (parameters are told apart
by the graph)::

    {"version": "2.0.0",
     "encodings": [{"name": "x", "output_dtype": "uint8", "y_scale": 0.0078,
                    "y_zero_point": 128},
                   {"name": "w", "output_dtype": "int8", "y_scale": [...], "axis": 0},
                   {"name": "b", "output_dtype": "int32", "y_scale": [...], "axis": 0}]}

Mapping to our ``Encoding`` (``x_hat = (q + offset) * delta``, q unsigned): AIMET's
``scale`` / ``y_scale`` is ``delta``. In 0.6.1 and 1.0.0 AIMET's ``offset`` is written
for the *unsigned* grid and *is* our offset (``<= 0``; 8-bit symmetric ``-128``); a
32-bit (int32 bias) encoding is written with offset ``-2**31`` there, and is our
signed int32 with offset 0. In 2.x a ``uintN`` encoding has ``y_zero_point = -offset``
and an ``intN`` one ``y_zero_point = -(offset + 2**(N-1))`` (0, so left out, for a
symmetric encoding); ``int32`` is our 32-bit bias. (AIMET's export writes every
activation as ``uintN``; ours writes a symmetric activation as ``intN``, which AIMET
reads as the symmetric encoding it is.) min/max are rebuilt as ``min =
offset * scale``, ``max = min + (2**bw - 1) * scale`` (32-bit: ``[-2**31, 2**31 - 1] *
scale``), which is how AIMET computes them and how every encoding we make is built,
so an export loads back identical. A 0.6.1 file from an old TF exporter that wrote the
offset with the opposite sign (``min ≈ -offset * scale``) is read by its min.

Per-channel parameter encodings carry no axis in 0.6.1/1.0.0 (AIMET: "the output
channel dimension"); the axis comes from the parameter's role in the graph
(``weight_axis``: Conv 0, ConvTranspose 1, Gemm by transB, MatMul last; a bias 0), or
an ``axis`` key when present (2.x always has it). Float encodings (``dtype: float``,
``output_dtype: float16``) cannot be represented in an integer container and are
refused, as are per-block/LPBQ entries.

**What an export holds.** AIMET's quantization simulation (aimet-onnx 2.x with its
default config, ``quantsim_config/default_config.json``) has no quantizer, or a
disabled one, for some tensors the container encodes; a file naming them fails
AIMET's ``load_encodings_to_sim(..., strict=True)``. So by default an export leaves
out (``aimet_skipped``): the outputs of the ops whose outputs AIMET never quantizes
(``op_outputs_to_ignore``: Reshape, Flatten, Transpose, Squeeze, ... and Cast); biases
(the ``bias`` inputs of Conv / ConvTranspose / Gemm / the normalizations, which the
config leaves unquantized); and the output of the first op of each supergroup the
config fuses (Conv/ConvTranspose/Gemm/Add → Relu, Conv → Clip, and MatMul → Add with a
1-D constant, whose bias goes too). ``all_tensors=True`` writes every encoding
(``export encodings --all-tensors``), e.g. to rebuild this very container with
``--override-params``. ``quantizer_args`` is written with JSON booleans and AIMET's
scheme names (``QuantScheme.name``: ``min_max``, ``post_training_tf_enhanced``,
``post_training_percentile``); it says per-channel when any weight is per channel
(``--per-channel``, or per-channel weights installed by ``--override-params``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.container import Container
from workbench.engine.files import parse_json, read_regular_text
from workbench.engine.graph import Graph
from workbench.engine.quant.encoding import (
    INT32_MAX,
    INT32_MIN,
    AnyEncoding,
    ChannelEncoding,
    Encoding,
    encoding_from_dict,
)
from workbench.engine.quant.layer_precision import float_layers
from workbench.engine.quant.roles import param_roles
from workbench.errors import BadInput, ContainerError
from workbench.vocabulary import ENHANCED, PERCENTILE, SYMMETRIC, TF

VERSIONS = ("0.6.1", "1.0.0", "2.0.0", "2.1.0")
PRODUCER = "workbench"
# QuantScheme names as aimet-onnx 2.x writes them (post_training_tf is min_max's alias).
_SCHEME_NAMES = {
    TF: "min_max",
    SYMMETRIC: "min_max",
    ENHANCED: "post_training_tf_enhanced",
    PERCENTILE: "post_training_percentile",
}
# aimet-onnx quantsim.op_outputs_to_ignore, and Cast (default config: is_output_quantized False).
_UNQUANTIZED_OUTPUTS = frozenset(
    {
        "Flatten",
        "Gather",
        "Reshape",
        "Shape",
        "Unsqueeze",
        "Squeeze",
        "Split",
        "Compress",
        "Tile",
        "Transpose",
        "Identity",
        "Cast",
    }
)
# Ops whose input 2 AIMET's connected graph calls "bias" (meta/connectedgraph.py).
_BIAS_OPS = frozenset(
    {
        "Conv",
        "ConvTranspose",
        "Gemm",
        "BatchNormalization",
        "InstanceNormalization",
        "LayerNormalization",
        "GroupNormalization",
    }
)
# default_config.json "supergroups": the first op's output quantizer is disabled.
_SUPERGROUPS = frozenset(
    {("Conv", "Relu"), ("ConvTranspose", "Relu"), ("Conv", "Clip"), ("Add", "Relu"),
     ("Gemm", "Relu")}
)  # fmt: skip


def aimet_skipped(graph: Graph) -> dict[str, str]:
    """``{tensor: why}``: tensors AIMET's default quantsim does not quantize (module doc)."""
    skipped: dict[str, str] = {}
    consumers = graph.consumers()
    outputs = set(graph.output_names)
    for n in graph.nodes:
        if n.domain:
            continue
        if n.op_type in _UNQUANTIZED_OUTPUTS:
            for o in n.outputs:
                if o:
                    skipped.setdefault(o, f"AIMET does not quantize {n.op_type} outputs")
        if n.op_type in _BIAS_OPS and len(n.inputs) > 2 and n.inputs[2] in graph.params:
            skipped.setdefault(n.inputs[2], f"AIMET leaves the bias of {n.op_type} unquantized")
        out = n.outputs[0] if n.outputs else ""
        users = consumers.get(out, [])
        if not out or out in outputs or len(users) != 1:
            continue
        nxt = users[0]
        if (n.op_type, nxt.op_type) in _SUPERGROUPS and nxt.inputs and nxt.inputs[0] == out:
            skipped.setdefault(out, f"AIMET fuses {n.op_type}+{nxt.op_type}")
        elif (
            n.op_type == "MatMul"
            and nxt.op_type == "Add"
            and any(i in graph.params for i in n.inputs[:2])
        ):
            bias = [i for i in nxt.inputs if i != out and i in graph.params]
            if bias and graph.params[bias[0]].ndim == 1:
                skipped.setdefault(out, "AIMET fuses MatMul+Add")
                skipped.setdefault(bias[0], "AIMET leaves the bias of MatMul+Add unquantized")
    return skipped


# --------------------------------------------------------------------------- export


def _signed(enc: AnyEncoding) -> bool:
    """Is this encoding AIMET's signed kind (intN): 32-bit, or symmetric with zero at 0?"""
    if enc.bitwidth == 32:
        return True
    return bool(enc.symmetric and np.all(np.asarray(enc.offset) == -(2 ** (enc.bitwidth - 1))))


def _aimet_offsets(enc: AnyEncoding) -> list[float]:
    """Offsets as AIMET writes them in 0.6.1/1.0.0: floats, for the unsigned grid."""
    if enc.bitwidth == 32:
        return [float(INT32_MIN)] * np.atleast_1d(enc.delta).size
    return [float(v) for v in np.atleast_1d(enc.offset)]


def _entry_061(enc: Encoding) -> dict[str, Any]:
    return {
        "bitwidth": enc.bitwidth,
        "dtype": "int",
        "is_symmetric": str(_signed(enc)),
        "max": enc.max,
        "min": enc.min,
        "offset": _aimet_offsets(enc)[0],
        "scale": enc.delta,
    }


def _entries_061(enc: AnyEncoding) -> list[dict[str, Any]]:
    if isinstance(enc, ChannelEncoding):
        return [_entry_061(enc.channel(i)) for i in range(len(enc))]
    return [_entry_061(enc)]


def _entry_100(name: str, enc: AnyEncoding) -> dict[str, Any]:
    per_channel = isinstance(enc, ChannelEncoding)
    entry: dict[str, Any] = {
        "name": name,
        "dtype": "INT",
        "enc_type": "PER_CHANNEL" if per_channel else "PER_TENSOR",
        "bw": enc.bitwidth,
        "is_sym": _signed(enc),
        "scale": [float(v) for v in np.atleast_1d(enc.delta)],
        "offset": _aimet_offsets(enc),
    }
    if per_channel:
        entry["axis"] = enc.axis  # not AIMET's; AIMET ignores it, our reader uses it
    return entry


def _entry_2x(name: str, enc: AnyEncoding) -> dict[str, Any]:
    signed = _signed(enc)
    shift = 0 if enc.bitwidth == 32 or not signed else 2 ** (enc.bitwidth - 1)
    zero = [int(-(o + shift)) for o in np.atleast_1d(enc.offset)]
    scale = [float(v) for v in np.atleast_1d(enc.delta)]
    per_channel = isinstance(enc, ChannelEncoding)
    entry: dict[str, Any] = {
        "name": name,
        "output_dtype": f"{'' if signed else 'u'}int{enc.bitwidth}",
        "y_scale": scale if per_channel else scale[0],
    }
    if any(zero):
        entry["y_zero_point"] = zero if per_channel else zero[0]
    if per_channel:
        entry["axis"] = enc.axis
    return entry


def export_encodings(
    container: Container, version: str = "1.0.0", *, all_tensors: bool = False
) -> dict[str, Any]:
    """The container's encodings as an AIMET encodings document (a JSON-able dict).

    Without ``all_tensors``, the tensors ``aimet_skipped`` names are left out.
    """
    from workbench import __version__

    if version not in VERSIONS:
        raise BadInput(
            f"AIMET encodings version must be one of {', '.join(VERSIONS)}, got {version!r}"
        )
    if not container.quantized:
        raise BadInput("only a quantized container has encodings to export; quantize it first")
    skip = {} if all_tensors else aimet_skipped(container.graph)
    acts = {n: encoding_from_dict(d) for n, d in container.encodings.items() if n not in skip}
    params = {
        n: encoding_from_dict(d) for n, d in container.param_encodings.items() if n not in skip
    }
    producer = {"package": PRODUCER, "version": __version__}
    if version.startswith("2."):
        entries = [_entry_2x(n, e) for n, e in (*acts.items(), *params.items())]
        return {"producer": producer, "version": version, "encodings": entries}
    args = quantizer_args(container)
    if version == "0.6.1":
        return {
            "producer": producer,
            "version": "0.6.1",
            "activation_encodings": {n: _entries_061(e) for n, e in acts.items()},
            "param_encodings": {n: _entries_061(e) for n, e in params.items()},
            "quantizer_args": args,
            "excluded_layers": sorted(float_layers(container.manifest)),
        }
    return {
        "producer": producer,
        "version": "1.0.0",
        "activation_encodings": [_entry_100(n, e) for n, e in acts.items()],
        "param_encodings": [_entry_100(n, e) for n, e in params.items()],
        "quantizer_args": args,
        # Layers kept in float (--layer-precision X=float): AIMET's excluded layers.
        "excluded_layers": sorted(float_layers(container.manifest)),
    }


def _recorded_options(container: Container) -> dict[str, Any]:
    """The quantizer options the manifest records, their types checked (``ContainerError``)."""
    quantizer = container.manifest.get("quantizer") or {}
    options = quantizer.get("options") if isinstance(quantizer, Mapping) else None
    if not isinstance(options, Mapping):
        return {}
    for key in ("act_bitwidth", "weights_bitwidth"):
        value = options.get(key, 8)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ContainerError(f"manifest quantizer option {key} is {value!r}, not a bitwidth")
    for key in ("act_quantizer", "param_quantizer"):
        if not isinstance(options.get(key, TF), str):
            raise ContainerError(f"manifest quantizer option {key} is not a scheme name")
    return dict(options)


def quantizer_args(container: Container) -> dict[str, Any]:
    """AIMET's ``quantizer_args`` for the container, from its quantizer options."""
    options = _recorded_options(container)
    roles = param_roles(container.graph)
    weights = [
        encoding_from_dict(d)
        for n, d in container.param_encodings.items()
        if n in roles and roles[n].kind == "weight"
    ]
    per_channel = bool(options.get("per_channel")) or any(
        isinstance(e, ChannelEncoding) for e in weights
    )
    symmetric = (
        all(_signed(e) for e in weights)
        if weights
        else options.get("param_quantizer") == SYMMETRIC or per_channel
    )
    return {
        "activation_bitwidth": int(options.get("act_bitwidth", 8)),
        "dtype": "int",
        "is_symmetric": bool(symmetric),
        "param_bitwidth": int(options.get("weights_bitwidth", 8)),
        "per_channel_quantization": per_channel,
        "quant_scheme": _SCHEME_NAMES.get(options.get("act_quantizer", TF), "min_max"),
    }


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class AimetEncodings:
    """What an AIMET encodings document holds, as our encodings."""

    version: str
    activations: dict[str, Encoding]
    params: dict[str, AnyEncoding]
    producer: dict[str, Any] | None = None
    quantizer_args: dict[str, Any] | None = None
    # Layers (node names) AIMET leaves unquantized: our float layers (0.6.1 and 1.0.0).
    excluded_layers: tuple[str, ...] = ()


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadInput(f"{where}: expected true/false, got {_short(value)}")


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{where}: expected an integer, got {_short(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise BadInput(f"{where}: expected an integer, got {value!r}")
    if not INT32_MIN <= value <= INT32_MAX:  # offsets, bitwidths, axes: all small
        raise BadInput(f"{where}: {_short(value)} is out of range")
    return int(value)


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{where}: expected a finite number, got {_short(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise BadInput(f"{where}: {_short(value)} is out of range") from None
    if not math.isfinite(number):
        raise BadInput(f"{where}: expected a finite number, got {value!r}")
    return number


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bitwidth(value: Any, where: str) -> int:
    bw = _int(value, where)
    if not (2 <= bw <= 16 or bw == 32):
        raise BadInput(f"{where}: bitwidth must be 2 to 16 or 32, got {bw}")
    return bw


def _range(bw: int, offset: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if bw == 32:
        return INT32_MIN * scale, INT32_MAX * scale
    lo = offset * scale
    return lo, (offset + (2**bw - 1)) * scale


def _check_dtype(entry: Mapping[str, Any], where: str) -> None:
    dtype = str(entry.get("dtype", "int")).lower()
    if dtype == "float":
        raise BadInput(
            f"{where}: float encodings (dtype float) are not supported; give an int encoding"
        )
    if dtype != "int":
        raise BadInput(f"{where}: unknown dtype {_short(entry.get('dtype'))} (expected int)")


def _from_061(
    entries: Any, where: str
) -> tuple[int, bool, np.ndarray, np.ndarray, np.ndarray | None]:
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{where}: expected a list of encoding entries")
    bws, syms, offsets, scales, mins = set(), set(), [], [], []
    for i, e in enumerate(entries):
        w = f"{where} entry {i}"
        if not isinstance(e, Mapping):
            raise BadInput(f"{w}: expected an object, got {type(e).__name__}")
        _check_dtype(e, w)
        for key in ("bitwidth", "offset", "scale"):
            if key not in e:
                raise BadInput(f"{w}: missing {key!r}")
        bws.add(_bitwidth(e["bitwidth"], w))
        syms.add(_bool(e.get("is_symmetric", "False"), w))
        offsets.append(_int(e["offset"], w))
        scales.append(_float(e["scale"], w))
        mins.append(_float(e["min"], w) if "min" in e else math.nan)
    if len(bws) != 1 or len(syms) != 1:
        raise BadInput(f"{where}: channels disagree on bitwidth or symmetry")
    offset = np.asarray(offsets, dtype=np.int64)
    scale = np.asarray(scales, dtype=np.float64)
    mn = np.asarray(mins, dtype=np.float64)
    # Old TF exports wrote the offset with the opposite sign: trust min when it says so.
    flip = np.isfinite(mn) & (offset != 0) & np.isclose(mn, -offset * scale, rtol=1e-3, atol=0)
    flip &= ~np.isclose(mn, offset * scale, rtol=1e-3, atol=0)
    offset = np.where(flip, -offset, offset)
    return bws.pop(), syms.pop(), offset, scale, None


def _from_100(entry: Any, where: str) -> tuple[int, bool, np.ndarray, np.ndarray, int | None]:
    if not isinstance(entry, Mapping):
        raise BadInput(f"{where}: expected an object, got {type(entry).__name__}")
    _check_dtype(entry, where)
    enc_type = str(entry.get("enc_type", "PER_TENSOR")).upper()
    if enc_type not in ("PER_TENSOR", "PER_CHANNEL"):
        raise BadInput(f"{where}: enc_type {enc_type} is not supported (PER_TENSOR or PER_CHANNEL)")
    for key in ("bw", "scale", "offset"):
        if key not in entry:
            raise BadInput(f"{where}: missing {key!r}")
    if entry.get("zero_point_shift"):
        raise BadInput(f"{where}: fractional zero points (zero_point_shift) are not supported")
    bw = _bitwidth(entry["bw"], where)
    sym = _bool(entry.get("is_sym", False), where)
    scale_raw = entry["scale"] if isinstance(entry["scale"], list) else [entry["scale"]]
    offset_raw = entry["offset"] if isinstance(entry["offset"], list) else [entry["offset"]]
    scale = np.asarray([_float(v, f"{where} scale") for v in scale_raw], dtype=np.float64)
    offset = np.asarray([_int(v, f"{where} offset") for v in offset_raw], dtype=np.int64)
    if scale.size == 0 or scale.size != offset.size:
        raise BadInput(f"{where}: scale and offset must be non-empty lists of one length")
    if enc_type == "PER_TENSOR" and scale.size != 1:
        raise BadInput(f"{where}: a PER_TENSOR encoding has one scale, got {scale.size}")
    axis = _int(entry["axis"], f"{where} axis") if "axis" in entry else None
    return bw, sym, offset, scale, axis


_DTYPE = re.compile(r"^(u?)int(\d+)$")


def _from_2x(
    entry: Mapping[str, Any], where: str
) -> tuple[int, bool, np.ndarray, np.ndarray, int | None]:
    """One 2.x entry: ``(bitwidth, symmetric, our offsets, scales, axis)``."""
    for key in ("bw", "dtype", "enc_type"):
        if key in entry:
            raise BadInput(
                f"{where}: {key!r} belongs to version 1.0.0, not to a 2.x file (re-export it)"
            )
    for key in ("per_block_int_scale", "per_channel_float_scale", "block_size"):
        if key in entry:
            raise BadInput(f"{where}: per-block (LPBQ) encodings are not supported")
    dtype = entry.get("output_dtype")
    if not isinstance(dtype, str):
        raise BadInput(f"{where}: missing 'output_dtype' (2.x encodings name one, e.g. uint8)")
    m = _DTYPE.match(dtype)
    if m is None:
        raise BadInput(
            f"{where}: output_dtype {_short(dtype)} is not supported (integer dtypes only: "
            "int8, uint8, int16, uint16, int32, ...)"
        )
    signed, bw = not m.group(1), int(m.group(2))
    if not (2 <= bw <= 16 or (bw == 32 and signed)):
        raise BadInput(f"{where}: output_dtype {dtype} is not supported (2 to 16 bits, or int32)")
    if "y_scale" not in entry:
        raise BadInput(f"{where}: missing 'y_scale'")
    raw = entry["y_scale"]
    scales = raw if isinstance(raw, list) else [raw]
    scale = np.asarray([_float(v, f"{where} y_scale") for v in scales], dtype=np.float64)
    if "y_zero_point" in entry:
        zraw = entry["y_zero_point"]
        zeros = zraw if isinstance(zraw, list) else [zraw]
    else:
        zeros = [0] * len(scales)
    zero = np.asarray([_int(v, f"{where} y_zero_point") for v in zeros], dtype=np.int64)
    if scale.size == 0 or scale.size != zero.size:
        raise BadInput(f"{where}: y_scale and y_zero_point must have one length")
    low, high = (-(2 ** (bw - 1)), 2 ** (bw - 1) - 1) if signed else (0, 2**bw - 1)
    if ((zero < low) | (zero > high)).any():
        raise BadInput(f"{where}: y_zero_point outside the range of {dtype}")
    if bw == 32 and zero.any():
        raise BadInput(f"{where}: an int32 encoding needs y_zero_point 0")
    shift = 2 ** (bw - 1) if signed and bw != 32 else 0
    offset = -(zero + shift)
    axis = _int(entry["axis"], f"{where} axis") if "axis" in entry else None
    return bw, bool(signed and not zero.any()), offset, scale, axis


def _build(
    name: str,
    where: str,
    bw: int,
    sym: bool,
    offset: np.ndarray,
    scale: np.ndarray,
    per_channel: bool,
    axis: int,
) -> AnyEncoding:
    if not (scale > 0).all():
        raise BadInput(f"{where}: scale must be positive")
    if bw == 32:
        # AIMET writes a 32-bit offset for the unsigned grid (-2**31); ours is int32, 0.
        if not np.isin(offset, (0, INT32_MIN)).all():
            raise BadInput(f"{where}: a 32-bit encoding needs a zero point of 0")
        offset = np.zeros_like(offset)
        sym = True
    elif (offset > 0).any() or (offset < -(2**bw - 1)).any():
        raise BadInput(f"{where}: offset must be in [-(2**bw - 1), 0] (the negated zero point)")
    lo, hi = _range(bw, offset, scale)
    if not per_channel:
        return Encoding(lo[0], hi[0], scale[0], offset[0], bw, sym)
    return ChannelEncoding(axis, lo, hi, scale, offset, bw, sym)


def _read_doc(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    # A regular file of bounded size only (a FIFO, a device or a huge file is refused);
    # integers are bounded and nesting errors are one line.
    doc = parse_json(read_regular_text(path, what="encodings file"), str(path))
    if not isinstance(doc, dict):
        raise BadInput(f"{path}: expected a JSON object with activation_encodings/param_encodings")
    return doc


def detect_version(doc: Mapping[str, Any], source: str = "encodings") -> str:
    """``"2.0.0"``, ``"2.1.0"``, ``"1.0.0"`` or ``"0.6.1"`` (any 0.x dict-style file: 0.6.1)."""
    version = doc.get("version")
    if version is not None and not isinstance(version, str):
        raise BadInput(f"{source}: encodings version must be a string, got {_short(version)}")
    if version is not None and (
        version.split(".")[0] not in ("0", "1", "2")
        or (version.split(".")[0] in ("1", "2") and version not in VERSIONS)
    ):
        raise BadInput(
            f"{source}: unsupported AIMET encodings version {_short(version)} "
            f"(supported: {', '.join(VERSIONS)})"
        )
    if version in VERSIONS:
        return version
    if version is None and isinstance(doc.get("encodings"), list):
        return "2.0.0"
    if version is None and isinstance(
        doc.get("activation_encodings", doc.get("param_encodings")), list
    ):
        return "1.0.0"
    return "0.6.1"


_TOP_KEYS = {
    "0.6.1": {"activation_encodings", "param_encodings", "quantizer_args", "excluded_layers"},
    "1.0.0": {"activation_encodings", "param_encodings", "quantizer_args", "excluded_layers"},
    "2.0.0": {"encodings"},
    "2.1.0": {"encodings"},
}


def _producer(doc: Mapping[str, Any], source: str) -> dict[str, Any] | None:
    producer = doc.get("producer")
    if producer is None:
        return None
    if not isinstance(producer, Mapping) or not all(
        isinstance(k, str) and (v is None or isinstance(v, (str, int, float)))
        for k, v in producer.items()
    ):
        raise BadInput(
            f"{source}: 'producer' must be an object of names and versions, got {_short(producer)}"
        )
    return dict(producer)


def _entries(
    doc: Mapping[str, Any], version: str, source: str, graph: Graph | None
) -> list[tuple[str, str, Any]]:
    """``[(section, name, raw entry)]`` with section ``activation_encodings`` or
    ``param_encodings`` (2.x: parameters are the graph's, or entries with an axis or int32)."""
    items: list[tuple[str, str, Any]] = []
    if version.startswith("2."):
        raw = doc.get("encodings", [])
        where = f"{source}: encodings"
        if not isinstance(raw, list):
            raise BadInput(f"{where}: expected a list of encodings ({version})")
        for i, e in enumerate(raw):
            if not isinstance(e, Mapping) or not isinstance(e.get("name"), str):
                raise BadInput(f"{where}[{i}]: every entry needs a string 'name'")
            name = e["name"]
            if graph is not None:
                is_param = name in graph.params
            else:
                is_param = "axis" in e or e.get("output_dtype") == "int32"
            items.append(("param_encodings" if is_param else "activation_encodings", name, e))
        return items
    for section in ("activation_encodings", "param_encodings"):
        raw = doc.get(section, {} if version == "0.6.1" else [])
        where = f"{source}: {section}"
        if version == "0.6.1":
            if not isinstance(raw, Mapping):
                raise BadInput(f"{where}: expected an object keyed by tensor name (0.6.1)")
            items.extend((section, str(n), v) for n, v in raw.items())
        else:
            if not isinstance(raw, list):
                raise BadInput(f"{where}: expected a list of encodings (1.0.0)")
            for i, e in enumerate(raw):
                if not isinstance(e, Mapping) or not isinstance(e.get("name"), str):
                    raise BadInput(f"{where}[{i}]: every entry needs a string 'name'")
                items.append((section, e["name"], e))
    return items


def read_encodings(
    doc: Mapping[str, Any], graph: Graph | None = None, source: str = "encodings"
) -> AimetEncodings:
    """Everything an AIMET document holds (see module doc), checked.

    With ``graph``, every name must be one of its activation tensors / parameters, and
    per-channel parameter axes default to the parameter's role.
    """
    version = detect_version(doc, source)
    unknown_keys = set(doc) - {"version", "producer"} - _TOP_KEYS[version]
    if unknown_keys:
        raise BadInput(
            f"{source}: unknown top-level key(s) {', '.join(sorted(unknown_keys))} "
            f"for version {version}"
        )
    producer = _producer(doc, source)
    args = doc.get("quantizer_args")
    if args is not None and not isinstance(args, Mapping):
        raise BadInput(f"{source}: 'quantizer_args' must be an object")
    roles = param_roles(graph) if graph is not None else {}

    def axis_for(name: str) -> int:
        role = roles.get(name)
        return role.axis if role is not None and role.axis is not None else 0

    result: dict[str, dict[str, AnyEncoding]] = {"activation_encodings": {}, "param_encodings": {}}
    seen: set[str] = set()
    for section, name, value in _entries(doc, version, source, graph):
        where = f"{source}: {section if not version.startswith('2.') else 'encodings'} {name!r}"
        if name in seen:
            raise BadInput(f"{where}: given twice")
        seen.add(name)
        if version == "0.6.1":
            bw, sym, offset, scale, axis = _from_061(value, where)
            per_channel = scale.size > 1
        elif version == "1.0.0":
            bw, sym, offset, scale, axis = _from_100(value, where)
            per_channel = str(value.get("enc_type", "PER_TENSOR")).upper() == "PER_CHANNEL"
        else:
            bw, sym, offset, scale, axis = _from_2x(value, where)
            per_channel = axis is not None or scale.size > 1
        if section == "activation_encodings" and (per_channel or scale.size != 1):
            raise BadInput(f"{where}: activation encodings are per tensor")
        if section == "activation_encodings" and bw == 32:
            raise BadInput(f"{where}: activation bitwidth must be 2 to 16")
        if axis is None:
            axis = axis_for(name)
        result[section][name] = _build(name, where, bw, sym, offset, scale, per_channel, axis)
    acts, params = result["activation_encodings"], result["param_encodings"]
    excluded = _excluded_layers(doc.get("excluded_layers", []), graph, source)
    if graph is not None:
        _check_names(graph, acts, params, source)
    return AimetEncodings(
        version,
        acts,  # type: ignore[arg-type]
        params,
        producer,
        dict(args) if args is not None else None,
        excluded,
    )


def _excluded_layers(raw: Any, graph: Graph | None, source: str) -> tuple[str, ...]:
    """``excluded_layers``: layer names, each a node of ``graph`` when given."""
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise BadInput(f"{source}: 'excluded_layers' must be a list of layer names")
    names = tuple(dict.fromkeys(raw))
    if graph is not None:
        nodes = {n.name for n in graph.nodes}
        missing = [n for n in names if n not in nodes]
        if missing:
            raise BadInput(
                f"{source}: excluded_layers name layers not in the graph: "
                f"{', '.join(repr(m) for m in missing[:5])}{' ...' if len(missing) > 5 else ''}"
            )
    return names


def parse_encodings(
    doc: Mapping[str, Any], graph: Graph | None = None, source: str = "encodings"
) -> tuple[dict[str, Encoding], dict[str, AnyEncoding]]:
    """Activation and parameter encodings from an AIMET document (``read_encodings``)."""
    read = read_encodings(doc, graph, source)
    return read.activations, read.params


def _check_names(
    graph: Graph, acts: Mapping[str, AnyEncoding], params: Mapping[str, AnyEncoding], source: str
) -> None:
    activations = set(graph.input_names) | {o for n in graph.nodes for o in n.outputs if o}
    missing = [n for n in acts if n not in activations]
    if missing:
        hint = (
            " (they are parameters: put them under param_encodings)"
            if all(m in graph.params for m in missing)
            else ""
        )
        raise BadInput(
            f"{source}: activation encodings name tensors not in the graph: "
            f"{', '.join(repr(m) for m in missing[:5])}{' ...' if len(missing) > 5 else ''}{hint}"
        )
    missing = [n for n in params if n not in graph.params]
    if missing:
        raise BadInput(
            f"{source}: param encodings name parameters not in the graph: "
            f"{', '.join(repr(m) for m in missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    for name, enc in params.items():
        p = graph.params[name]
        if p.dtype != np.float32:
            raise BadInput(f"{source}: parameter {name!r} is {p.dtype}, not a float parameter")
        if isinstance(enc, ChannelEncoding):
            if not (0 <= enc.axis < p.ndim) or p.shape[enc.axis] != len(enc):
                raise BadInput(
                    f"{source}: parameter {name!r} has shape {list(p.shape)}; its per-channel "
                    f"encoding has {len(enc)} channels on axis {enc.axis}"
                )


def load_encodings(path: str | Path, graph: Graph | None = None) -> AimetEncodings:
    """Read an AIMET encodings file (any of ``VERSIONS``)."""
    return read_encodings(_read_doc(path), graph, str(path))


def load_overrides(
    path: str | Path, graph: Graph | None = None
) -> tuple[dict[str, Encoding], dict[str, AnyEncoding]]:
    """Read an AIMET encodings file: ``(activation, parameter)`` encodings."""
    read = load_encodings(path, graph)
    return read.activations, read.params


def write_encodings(path: str | Path, doc: Mapping[str, Any]) -> None:
    """Write an exported document as indented JSON."""
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
