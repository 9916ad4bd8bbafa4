"""AIMET's own encodings writer and strict loader, mirrored from aimet-onnx's source.

aimet-onnx (PyPI, 2.42) needs PyTorch, which this project never installs, so its code
cannot run here. These functions follow its source step by step instead (read from the
wheel, ``pip download aimet-onnx --no-deps``):

* ``Affine``: ``aimet_onnx/_encoding.py`` ``AffineEncoding`` (``x_q = clamp(round(x /
  scale - offset), qmin, qmax)`` for its dtype; ``min = (offset + qmin) * scale``) with
  ``_to_0_6_1`` / ``_to_1_0_0`` / ``_to_2_0_0`` and ``_from_*`` (no blockwise/LPBQ);
* ``aimet_document``: ``QuantizationSimModel._export_encodings`` (``producer`` first,
  2.x activations forced unsigned, ``quantizer_args`` for 0.6.1/1.0.0);
* ``load_strict``: ``quantsim.load_encodings_to_sim(sim, path, strict=True)`` — the
  version check, the per-version entry validation (``_validate_encoding_entry``,
  ``_validate_zero_point``), the names check (``_validate_encodings_to_load``) and the
  mismatch check of every quantizer against its entry (``QcQuantizeOp.
  _fill_mismatching_encoding_settings_info``: enabled, enc_type, bitwidth, dtype,
  symmetric, strict symmetric, unsigned symmetric), raising ``AssertionError`` on any
  mismatch as AIMET does. Not mirrored: 2.x's delegation of excess data-movement
  encodings to their producer's input (an excess encoding fails here instead: stricter);
* ``default_sim``: the quantizers ``QuantizationSimModel`` creates for a graph with
  ``quantsim_config/default_config.json`` (params symmetric, biases and BatchNorm
  statistics off, supergroups Conv/ConvTranspose/Gemm/Add+Relu, Conv+Clip, the MatMul+Add
  pass, Cast outputs off, ``op_outputs_to_ignore`` without quantizers), with the bit
  widths, param symmetry and per-channel setting a user would pass to match a file's
  ``quantizer_args``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VALID_ENCODING_VERSIONS = ("0.6.1", "1.0.0", "2.0.0", "2.1.0")
OP_OUTPUTS_TO_IGNORE = {
    "branch", "Flatten", "Gather", "Reshape", "Shape", "Unsqueeze", "Squeeze", "Split",
    "Compress", "Tile", "Transpose", "Identity",
}  # fmt: skip
SUPERGROUPS = [("Conv", "Relu"), ("ConvTranspose", "Relu"), ("Conv", "Clip"), ("Add", "Relu"),
               ("Gemm", "Relu")]  # fmt: skip
PARAM_INPUTS = {  # meta/connectedgraph.py find_all_node_info: op -> {param type: input index}
    "Conv": {"weight": 1, "bias": 2},
    "Gemm": {"weight": 1, "bias": 2},
    "ConvTranspose": {"weight": 1, "bias": 2},
    "BatchNormalization": {"weight": 1, "bias": 2, "running_mean": 3, "running_var": 4},
    "InstanceNormalization": {"weight": 1, "bias": 2},
    "LayerNormalization": {"weight": 1, "bias": 2},
    "GroupNormalization": {"weight": 1, "bias": 2},
}
PER_CHANNEL_OPS = ("Conv", "Gemm", "MatMul", "ConvTranspose")


@dataclass
class Affine:
    """``AffineEncoding`` (per tensor: 0-d scale; per channel: 1-d and an axis)."""

    scale: np.ndarray
    offset: np.ndarray  # in the dtype's own (signed or unsigned) grid
    dtype: str
    channel_axis: Any = None

    def __post_init__(self) -> None:
        self.scale = np.asarray(self.scale, dtype=np.float64)
        self.offset = np.asarray(self.offset, dtype=np.float64)
        assert self.scale.shape == self.offset.shape
        if self.channel_axis is None and self.scale.ndim != 0:
            assert self.scale.shape == (1,), "channel_axis must be specified"
            self.scale, self.offset = self.scale.squeeze(), self.offset.squeeze()

    @property
    def signed(self) -> bool:
        return not self.dtype.split("int")[0]

    @property
    def bitwidth(self) -> int:
        return int(self.dtype.split("int")[1])

    @property
    def qmin(self) -> int:
        return -(2 ** (self.bitwidth - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return 2 ** (self.bitwidth - 1) - 1 if self.signed else 2**self.bitwidth - 1

    @property
    def min(self) -> np.ndarray:
        return (self.offset + self.qmin) * self.scale

    @property
    def max(self) -> np.ndarray:
        return (self.offset + self.qmax) * self.scale

    def to_unsigned(self) -> Affine:
        if not self.signed:
            return self
        return Affine(self.scale, self.offset - 2 ** (self.bitwidth - 1), f"u{self.dtype}",
                      self.channel_axis)  # fmt: skip

    def to_0_6_1(self) -> list[dict[str, Any]]:
        return [
            {"min": mn, "max": mx, "scale": s, "offset": o, "bitwidth": self.bitwidth,
             "dtype": "int", "is_symmetric": str(self.signed)}
            for mn, mx, s, o in zip(self.min.flatten().tolist(), self.max.flatten().tolist(),
                                    self.scale.flatten().tolist(),
                                    self.to_unsigned().offset.flatten().tolist(), strict=True)
        ]  # fmt: skip

    def to_1_0_0(self) -> dict[str, Any]:
        offset = self.to_unsigned().offset.astype(np.float64)
        out = {"dtype": "INT", "bw": self.bitwidth, "is_sym": self.signed,
               "scale": self.scale.flatten().tolist(), "offset": (offset // 1.0).flatten().tolist()}  # fmt: skip
        out["enc_type"] = "PER_TENSOR" if self.scale.ndim == 0 else "PER_CHANNEL"
        return out

    def to_2_0_0(self) -> dict[str, Any]:
        zero = -self.offset
        zero = zero.astype(np.int64 if np.all(zero % 1.0 == 0) else np.float64)
        if self.channel_axis is not None:
            scale, zero, axis = self.scale.flatten(), zero.flatten(), self.channel_axis
        else:
            scale, zero, axis = self.scale.squeeze(), zero.squeeze(), None
        out: dict[str, Any] = {"output_dtype": self.dtype, "y_scale": scale.tolist()}
        if not np.all(zero == 0):
            out["y_zero_point"] = zero.tolist()
        if axis is not None:
            out["axis"] = axis
        return out

    @classmethod
    def from_dict(cls, d: Any, default_channel_axis: Any = None) -> Affine:
        """``AffineEncoding.from_qnn_encoding_dict``: the version comes from the entry's shape."""
        if isinstance(d, list):  # 0.6.1
            bitwidth, signed = d[0]["bitwidth"], d[0]["is_symmetric"] == "True"
            scale = np.array([e["scale"] for e in d], dtype=np.float64).squeeze()
            offset = np.array([e["offset"] for e in d], dtype=np.float64).squeeze()
            if signed:
                offset += 2 ** (bitwidth - 1)
            return cls(scale, offset, f"{'' if signed else 'u'}int{bitwidth}",
                       None if scale.ndim == 0 else "auto")  # fmt: skip
        if "bw" in d:  # 1.0.0
            dtype = f"{'' if d['is_sym'] else 'u'}int{d['bw']}"
            scale = np.array(d["scale"], dtype=np.float64)
            offset = np.array(d["offset"], dtype=np.float64) + d.get("zero_point_shift", 0.0)
            if d["enc_type"] == "PER_TENSOR":
                enc = cls(scale.reshape([]), offset.reshape([]), dtype)
            elif d["enc_type"] == "PER_CHANNEL":
                axis = "auto" if default_channel_axis is None else default_channel_axis
                enc = cls(scale.reshape([scale.size]), offset.reshape([scale.size]), dtype, axis)
            else:
                raise RuntimeError(f"Unsupported enc_type: {d['enc_type']}")
            enc.offset = enc.offset - enc.qmin  # "legacy behavior is to shift offset by qmin"
            return enc
        zp = d.get("y_zero_point")
        scale = np.array(d["y_scale"], dtype=np.float64)
        offset = np.zeros_like(scale) if zp is None else -np.array(zp, dtype=np.float64)
        return cls(scale, offset, d["output_dtype"], d.get("axis"))


def aimet_document(
    version: str,
    params: dict[str, Affine],
    activations: dict[str, Affine],
    quant_args: dict[str, Any],
    *,
    package_version: str = "2.42.0",
) -> dict[str, Any]:
    """``QuantizationSimModel._export_encodings`` (activations forced unsigned in 2.x)."""
    doc: dict[str, Any] = {
        "producer": {"package": "aimet-onnx", "version": package_version},
        "version": version,
    }
    if version.startswith("2."):
        encodings = [{**e.to_2_0_0(), "name": n} for n, e in params.items()]
        encodings += [{**e.to_unsigned().to_2_0_0(), "name": n} for n, e in activations.items()]
        doc["encodings"] = encodings
        return doc
    if version == "0.6.1":
        doc["activation_encodings"] = {n: e.to_0_6_1() for n, e in activations.items()}
        doc["param_encodings"] = {n: e.to_0_6_1() for n, e in params.items()}
    else:
        doc["activation_encodings"] = [{**e.to_1_0_0(), "name": n} for n, e in activations.items()]
        doc["param_encodings"] = [{**e.to_1_0_0(), "name": n} for n, e in params.items()]
    doc["quantizer_args"] = quant_args
    return doc


def write_document(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc, indent=4))  # save_json_yaml: json.dump(indent=4)
    return path


# --------------------------------------------------------------------------- the sim


@dataclass
class Quantizer:
    """The settings of one ``QcQuantizeOp`` that the strict check compares."""

    enabled: bool
    bitwidth: int
    symmetric: bool
    per_channel: bool = False
    strict_symmetric: bool = False
    unsigned_symmetric: bool = False


def default_sim(graph, quant_args: dict[str, Any]) -> dict[str, Quantizer]:
    """The quantizers aimet-onnx's default config gives ``graph`` (our IR), see module doc."""
    float_types = {"float32", "float16"}
    act_bw, param_bw = quant_args["activation_bitwidth"], quant_args["param_bitwidth"]
    params: dict[str, Quantizer] = {}
    for n in graph.nodes:
        kinds = dict(PARAM_INPUTS.get(n.op_type, {}))
        if n.op_type == "MatMul":
            kinds = {"weight": next((i for i in (1, 0) if n.inputs[i] in graph.params), None)}
        for kind, i in kinds.items():
            if i is None or i >= len(n.inputs) or n.inputs[i] not in graph.params:
                continue
            per_channel = kind == "weight" and n.op_type in PER_CHANNEL_OPS and bool(
                quant_args["per_channel_quantization"])  # fmt: skip
            params[n.inputs[i]] = Quantizer(
                enabled=kind not in ("bias", "running_mean", "running_var"),
                bitwidth=param_bw,
                symmetric=bool(quant_args["is_symmetric"]),
                per_channel=per_channel,
            )
    producers = {o: n for n in graph.nodes for o in n.outputs if o}
    consumers = graph.consumers()
    acts: dict[str, Quantizer] = {}

    def quantizable(name: str) -> bool:
        info = graph.info(name)
        if info is None or str(info.dtype) not in float_types or name in params:
            return False
        if any(c.op_type == "Resize" and c.inputs[0] != name for c in consumers.get(name, [])):
            return False
        producer = producers.get(name)
        return producer is None or producer.op_type not in OP_OUTPUTS_TO_IGNORE

    names = list(graph.input_names)
    for n in graph.nodes:
        names += [t for t in (*n.inputs, *n.outputs) if t]
    for name in names:
        if name not in acts and quantizable(name):
            acts[name] = Quantizer(enabled=True, bitwidth=act_bw, symmetric=False)
    for n in graph.nodes:  # supergroups, the MatMul+Add pass, Cast
        out = n.outputs[0] if n.outputs else ""
        users = consumers.get(out, [])
        if n.op_type == "Cast" and out in acts:
            acts[out].enabled = False
        if out not in acts or len(users) != 1 or out in graph.output_names:
            continue
        if (n.op_type, users[0].op_type) in SUPERGROUPS:
            acts[out].enabled = False
        if (
            n.op_type == "MatMul"
            and users[0].op_type == "Add"
            and any(i in graph.params for i in n.inputs[:2])
        ):
            bias = [i for i in users[0].inputs if i != out and i in graph.params]
            if bias and graph.params[bias[0]].ndim == 1:
                acts[out].enabled = False
                if bias[0] in acts:
                    acts[bias[0]].enabled = False
    return {**params, **acts}


# --------------------------------------------------------------------------- strict load

_REQUIRED = {"0.6.1": ("bitwidth", "dtype"), "1.0.0": ("bw", "dtype", "enc_type"),
             "2.0.0": ("output_dtype",), "2.1.0": ("output_dtype",)}  # fmt: skip
_FOREIGN = {"0.6.1": (), "1.0.0": (), "2.0.0": ("bw",), "2.1.0": ("bw",)}


def _check_entry(entry: Any, name: str, version: str) -> None:
    """``_validate_encoding_entry`` and ``_validate_zero_point``."""
    elements = entry if version == "0.6.1" else [entry]
    if version == "0.6.1":
        assert isinstance(entry, list) and entry, f"{name}: 0.6.1 needs a non-empty list"
    for e in elements:
        assert isinstance(e, dict), f"{name}: entries are dicts"
        missing = [f for f in _REQUIRED[version] if f not in e]
        assert not missing, f"{name}: missing {missing} for {version}"
        foreign = [f for f in _FOREIGN[version] if f in e]
        assert not foreign, f"{name}: {foreign} in a {version} file"
        if e.get("enc_type") is not None:
            assert e["enc_type"] in ("PER_TENSOR", "PER_CHANNEL", "PER_BLOCK", "LPBQ")
        if version in ("0.6.1", "1.0.0"):
            bw = e["bitwidth" if version == "0.6.1" else "bw"]
            assert isinstance(bw, int) and not isinstance(bw, bool) and 1 <= bw <= 32
            low, high, values = -(2**bw), 2**bw - 1, e.get("offset")
        else:
            m = re.fullmatch(r"(u?)int(\d+)", e["output_dtype"])
            if not m:
                continue
            bits = int(m.group(2))
            low, high = (
                (0, 2**bits - 1) if m.group(1) else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
            )
            values = e.get("y_zero_point")
        for v in np.asarray(values if values is not None else [], dtype=object).reshape(-1):
            assert isinstance(v, (int, float)) and not isinstance(v, bool)
            assert float(v).is_integer() and low <= v <= high, f"{name}: zero point {v}"


def _flatten(doc: dict[str, Any], version: str) -> dict[str, Any]:
    if version == "0.6.1":
        assert isinstance(doc["param_encodings"], dict)
        assert isinstance(doc["activation_encodings"], dict)
        return {**doc["param_encodings"], **doc["activation_encodings"]}
    if version == "1.0.0":
        assert isinstance(doc["param_encodings"], list)
        assert isinstance(doc["activation_encodings"], list)
        return {e["name"]: e for e in (*doc["param_encodings"], *doc["activation_encodings"])}
    assert isinstance(doc["encodings"], list)
    return {e["name"]: e for e in doc["encodings"]}


def _mismatches(q: Quantizer, d: dict[str, Any] | None) -> list[str]:
    """``_fill_mismatching_encoding_settings_info`` on a 1.0.0-form entry (or None)."""
    if q.enabled and d is None:
        return ["enabled: True, loaded encoding enabled: False"]
    if not q.enabled and d is not None:
        return ["enabled: False, loaded encoding enabled: True"]
    if d is None:
        return []
    out = []
    is_sym = d["is_sym"] is True
    strict = is_sym and d["offset"][0] == -(2 ** (d["bw"] - 1)) + 1
    unsigned_sym = is_sym and d["offset"][0] == 0
    enc_type = "PER_CHANNEL" if q.per_channel else "PER_TENSOR"
    if enc_type != d["enc_type"]:
        out.append(f"encoding type: {enc_type}, loaded {d['enc_type']}")
    elif q.bitwidth != d["bw"]:
        out.append(f"bitwidth: {q.bitwidth}, loaded {d['bw']}")
    if d["dtype"] != "INT":
        out.append(f"dtype: INT, loaded {d['dtype']}")
    if q.symmetric != is_sym:
        out.append(f"symmetric: {q.symmetric}, loaded {is_sym}")
    if q.strict_symmetric != strict:
        out.append(f"strict symmetric: {q.strict_symmetric}, loaded {strict}")
    if q.unsigned_symmetric != unsigned_sym and not q.unsigned_symmetric:
        out.append(f"unsigned symmetric: {q.unsigned_symmetric}, loaded {unsigned_sym}")
    return out


def load_strict(doc: dict[str, Any], sim: dict[str, Quantizer], graph) -> dict[str, Affine]:
    """``load_encodings_to_sim(sim, doc, strict=True)``: AIMET's view of every entry."""
    version = doc.get("version")
    if version not in VALID_ENCODING_VERSIONS:
        raise NotImplementedError(f"Encoding version should be one of {VALID_ENCODING_VERSIONS}")
    entries = _flatten(doc, version)
    for name, e in entries.items():
        _check_entry(e, name, version)
    tensors = set(graph.input_names) | set(graph.params)
    tensors |= {t for n in graph.nodes for t in (*n.inputs, *n.outputs) if t}
    not_found = [n for n in entries if n not in sim and n not in tensors]
    if not_found:
        raise AssertionError(f"encoding names not found in the model: {not_found}")
    problems = [f"{n}: no quantizer (enabled mismatch)" for n in entries if n not in sim]
    loaded: dict[str, Affine] = {}
    for name, q in sim.items():
        e = entries.get(name)
        d = None
        if e is not None:
            loaded[name] = Affine.from_dict(e)
            d = loaded[name].to_1_0_0()
        problems += [f"{name}: {p}" for p in _mismatches(q, d)]
    if problems:
        raise AssertionError(
            "The following quantizers had settings not matching with provided encodings to "
            "load:\n" + "\n".join(problems)
        )
    return loaded
