"""AIMET encodings JSON: export a quantized container's encodings, load overrides.

Two versions of AIMET's format (``Docs/techniques/encoding_spec.rst`` in AIMET):

**0.6.1** — dicts keyed by tensor name, each a list of entries (one per channel for a
per-channel encoding)::

    {"version": "0.6.1",
     "activation_encodings": {"x": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "False",
                                     "max": 0.99, "min": -1.0, "offset": -128, "scale": 0.0078}]},
     "param_encodings": {"w": [{...}, {...}]},
     "quantizer_args": {...}}

**1.0.0** — lists of entries carrying their name; per-channel is one entry with arrays::

    {"version": "1.0.0",
     "activation_encodings": [{"name": "x", "dtype": "INT", "enc_type": "PER_TENSOR",
                               "bw": 8, "is_sym": false, "scale": [0.0078], "offset": [-128]}],
     "param_encodings": [{"name": "w", "dtype": "INT", "enc_type": "PER_CHANNEL", "bw": 8,
                          "is_sym": true, "scale": [...], "offset": [...]}],
     "quantizer_args": {...}, "excluded_layers": []}

Mapping to our ``Encoding`` (``x_hat = (q + offset) * delta``, q unsigned): AIMET's
``scale`` is ``delta`` and AIMET's ``offset`` *is* our offset (``<= 0``, the negated
ONNX zero point: 8-bit symmetric is ``-128``; 32-bit bias ``0``), in both versions.
1.0.0 has no min/max: ``min = offset * scale``, ``max = min + (2**bw - 1) * scale``
(32-bit: ``[-2**31, 2**31 - 1] * scale``), which is how every encoding we make is built,
so an export loads back identical. A 0.6.1 file from an old TF exporter that wrote
the offset with the opposite sign (``min ≈ -offset * scale``) is read by its min.

Per-channel parameter encodings have no axis in the files (AIMET: "the output channel
dimension"); the axis comes from the parameter's role in the graph (``weight_axis``:
Conv 0, ConvTranspose 1, Gemm by transB, MatMul last; a bias 0), or a 1.0.0 ``axis``
key when present. ``dtype: float`` entries (float16 tensors) cannot be represented in
an integer container and are refused, as are per-block/LPBQ entries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
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
from workbench.engine.quant.quantizer import param_roles
from workbench.errors import BadInput

VERSIONS = ("0.6.1", "1.0.0")
_SCHEME_NAMES = {
    "tf": "post_training_tf",
    "enhanced": "post_training_tf_enhanced",
    "symmetric": "post_training_tf",
    "percentile": "post_training_percentile",
}


# --------------------------------------------------------------------------- export


def _entry_061(enc: Encoding) -> dict[str, Any]:
    return {
        "bitwidth": enc.bitwidth,
        "dtype": "int",
        "is_symmetric": str(enc.symmetric),
        "max": enc.max,
        "min": enc.min,
        "offset": enc.offset,
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
        "is_sym": enc.symmetric,
        "scale": [float(v) for v in np.atleast_1d(enc.delta)],
        "offset": [int(v) for v in np.atleast_1d(enc.offset)],
    }
    if per_channel:
        entry["axis"] = enc.axis
    return entry


def export_encodings(container: Container, version: str = "1.0.0") -> dict[str, Any]:
    """The container's encodings as an AIMET encodings document (a JSON-able dict)."""
    if version not in VERSIONS:
        raise BadInput(
            f"AIMET encodings version must be one of {', '.join(VERSIONS)}, got {version!r}"
        )
    if not container.quantized:
        raise BadInput("only a quantized container has encodings to export; quantize it first")
    acts = {n: encoding_from_dict(d) for n, d in container.encodings.items()}
    params = {n: encoding_from_dict(d) for n, d in container.param_encodings.items()}
    options = ((container.manifest.get("quantizer") or {}).get("options")) or {}
    args = {
        "activation_bitwidth": options.get("act_bitwidth", 8),
        "dtype": "int",
        "is_symmetric": options.get("param_quantizer") == "symmetric"
        or bool(options.get("per_channel")),
        "param_bitwidth": options.get("weights_bitwidth", 8),
        "per_channel_quantization": bool(options.get("per_channel", False)),
        "quant_scheme": _SCHEME_NAMES.get(options.get("act_quantizer", "tf"), "post_training_tf"),
    }
    if version == "0.6.1":
        return {
            "version": "0.6.1",
            "activation_encodings": {n: _entries_061(e) for n, e in acts.items()},
            "param_encodings": {n: _entries_061(e) for n, e in params.items()},
            "quantizer_args": {
                **args,
                "is_symmetric": str(args["is_symmetric"]),
                "per_channel_quantization": str(args["per_channel_quantization"]),
            },
        }
    return {
        "version": "1.0.0",
        "activation_encodings": [_entry_100(n, e) for n, e in acts.items()],
        "param_encodings": [_entry_100(n, e) for n, e in params.items()],
        "quantizer_args": args,
        "excluded_layers": [],
    }


# --------------------------------------------------------------------------- load


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
    if bw != 32 and ((offset > 0).any() or (offset < -(2**bw - 1)).any()):
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
    """``"1.0.0"`` or ``"0.6.1"`` (any 0.x dict-style file reads as 0.6.1)."""
    version = doc.get("version")
    if version is not None and not isinstance(version, str):
        raise BadInput(f"{source}: encodings version must be a string, got {_short(version)}")
    if version is not None and (
        version.split(".")[0] not in ("0", "1") or (version.startswith("1.") and version != "1.0.0")
    ):
        raise BadInput(
            f"{source}: unsupported AIMET encodings version {_short(version)} "
            f"(supported: {', '.join(VERSIONS)})"
        )
    if version == "1.0.0":
        return "1.0.0"
    if version is None and isinstance(
        doc.get("activation_encodings", doc.get("param_encodings")), list
    ):
        return "1.0.0"
    return "0.6.1"


def parse_encodings(
    doc: Mapping[str, Any], graph: Graph | None = None, source: str = "encodings"
) -> tuple[dict[str, Encoding], dict[str, AnyEncoding]]:
    """Activation and parameter encodings from an AIMET document (see module doc).

    With ``graph``, every name must be one of its activation tensors / parameters, and
    per-channel parameter axes follow the parameter's role.
    """
    version = detect_version(doc, source)
    unknown_keys = set(doc) - {
        "version",
        "activation_encodings",
        "param_encodings",
        "quantizer_args",
        "excluded_layers",
    }
    if unknown_keys:
        raise BadInput(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown_keys))}")
    roles = param_roles(graph) if graph is not None else {}

    def axis_for(name: str) -> int:
        role = roles.get(name)
        return role.axis if role is not None and role.axis is not None else 0

    result: list[dict[str, Any]] = []
    for section in ("activation_encodings", "param_encodings"):
        raw = doc.get(section, {} if version == "0.6.1" else [])
        out: dict[str, AnyEncoding] = {}
        where_section = f"{source}: {section}"
        if version == "0.6.1":
            if not isinstance(raw, Mapping):
                raise BadInput(f"{where_section}: expected an object keyed by tensor name (0.6.1)")
            items = list(raw.items())
        else:
            if not isinstance(raw, list):
                raise BadInput(f"{where_section}: expected a list of encodings (1.0.0)")
            items = []
            for i, e in enumerate(raw):
                if not isinstance(e, Mapping) or not isinstance(e.get("name"), str):
                    raise BadInput(f"{where_section}[{i}]: every entry needs a string 'name'")
                items.append((e["name"], e))
        for name, value in items:
            where = f"{where_section} {name!r}"
            if name in out:
                raise BadInput(f"{where}: given twice")
            if version == "0.6.1":
                bw, sym, offset, scale, axis = _from_061(value, where)
                per_channel = scale.size > 1
            else:
                bw, sym, offset, scale, axis = _from_100(value, where)
                per_channel = str(value.get("enc_type", "PER_TENSOR")).upper() == "PER_CHANNEL"
            if section == "activation_encodings" and (per_channel or scale.size != 1):
                raise BadInput(f"{where}: activation encodings are per tensor")
            if section == "activation_encodings" and bw == 32:
                raise BadInput(f"{where}: activation bitwidth must be 2 to 16")
            if axis is None:
                axis = axis_for(name)
            out[name] = _build(name, where, bw, sym, offset, scale, per_channel, axis)
        result.append(out)
    acts, params = result
    if graph is not None:
        _check_names(graph, acts, params, source)
    return acts, params  # type: ignore[return-value]


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


def load_overrides(
    path: str | Path, graph: Graph | None = None
) -> tuple[dict[str, Encoding], dict[str, AnyEncoding]]:
    """Read an AIMET encodings file (0.6.1 or 1.0.0): ``(activation, parameter)`` encodings."""
    doc = _read_doc(path)
    return parse_encodings(doc, graph, str(path))


def write_encodings(path: str | Path, doc: Mapping[str, Any]) -> None:
    """Write an exported document as indented JSON."""
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
