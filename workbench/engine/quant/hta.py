"""The HTA record format: ``subnets.json`` and ``hta_<i>.bin`` (writer and reader).

``quantize --enable-hta`` (and ``convert --enable-hta`` for a quantized TFLite model)
writes them with ``build_hta_records``; the AIP runtime reads them back with
``read_hta_record``. The layout is documented on ``build_hta_records``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from workbench.engine.graph import Graph, Node
from workbench.engine.quant.encoding import (
    AnyEncoding,
    ChannelEncoding,
    Encoding,
)
from workbench.errors import BadInput
from workbench.vocabulary import DEFAULT_ROUNDING

# Ops an HTA subnet may hold (Conv: group 1 or depthwise).
HTA_OPS = frozenset(
    {
        "Conv",
        "Relu",
        "Clip",
        "MaxPool",
        "AveragePool",
        "Add",
        "Concat",
        "Reshape",
        "Flatten",
        "Transpose",  # data movement: the NHWC-to-NCHW entry of an imported TFLite model
        "Gemm",
    }
)
HTA_MAGIC = b"WBHTA\x00\x01\x00"  # format 1
_HTA_ALIGN = 16


def hta_supported(node: Node, graph: Graph) -> bool:
    """Can ``node`` run on the HTA (``HTA_OPS``; a Conv must be plain or depthwise)?"""
    if node.domain or node.op_type not in HTA_OPS:
        return False
    if node.op_type == "Conv":
        group = int(node.attr("group", 1))
        w = graph.params.get(node.inputs[1]) if len(node.inputs) > 1 else None
        if w is None:
            return False
        return group == 1 or (w.shape[1] == 1 and group == w.shape[0])
    if node.op_type == "Gemm":
        return len(node.inputs) > 1 and node.inputs[1] in graph.params
    return True


def hta_partition(graph: Graph, off_hta: Collection[str] = ()) -> list[tuple[str, int, int]]:
    """``[(kind, start, end)]`` node ranges: the supported run from the first node is
    subnet 0 ``"hta"``; everything after it is one ``"hnn"`` subnet. Layers in
    ``off_hta`` (wider than 8 bits, float: ``not_8_bit``) end the HTA run."""
    k = 0
    while (
        k < len(graph.nodes)
        and graph.nodes[k].name not in off_hta
        and hta_supported(graph.nodes[k], graph)
    ):
        k += 1
    parts = []
    if k:
        parts.append(("hta", 0, k))
    if k < len(graph.nodes):
        parts.append(("hnn", k, len(graph.nodes)))
    return parts


def not_8_bit(
    graph: Graph,
    act_encs: Mapping[str, AnyEncoding],
    param_encs: Mapping[str, AnyEncoding],
    float_layers: Collection[str] = (),
) -> set[str]:
    """Layers the HTA cannot hold (it is 8-bit only): float layers, and layers with an
    activation or weight encoding wider than 8 bits (a 32-bit bias is the accumulator's)."""
    off = set(float_layers)
    for n in graph.nodes:
        for t in (*n.inputs, *n.outputs):
            enc = act_encs.get(t) if t not in graph.params else param_encs.get(t)
            if enc is not None and 8 < enc.bitwidth < 32:
                off.add(n.name)
                break
    return off


def _boundary(graph: Graph, start: int, end: int) -> tuple[list[str], list[str]]:
    inside = graph.nodes[start:end]
    produced = {o for n in inside for o in n.outputs if o}
    inputs: list[str] = []
    for n in inside:
        for i in n.inputs:
            if i and i not in produced and i not in graph.params and i not in inputs:
                inputs.append(i)
    later = {i for n in graph.nodes[end:] for i in n.inputs if i}
    outputs = [
        o for n in inside for o in n.outputs if o and (o in later or o in graph.output_names)
    ]
    return inputs, outputs


class _Packer:
    """Data sections of an HTA record: little-endian arrays, each 16-byte aligned."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.offset = 0

    def section(self, array: np.ndarray) -> dict[str, Any]:
        a = np.ascontiguousarray(array)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        data = a.tobytes()
        pad = (-len(data)) % _HTA_ALIGN
        info = {
            "offset": self.offset,
            "nbytes": len(data),
            "dtype": a.dtype.name,
            "shape": list(a.shape),
        }
        self.blobs.append(data + b"\x00" * pad)
        self.offset += len(data) + pad
        return info


def build_hta_records(
    graph: Graph,
    act_encs: Mapping[str, AnyEncoding],
    param_encs: Mapping[str, AnyEncoding],
    rounding: str = DEFAULT_ROUNDING,
    *,
    float_layers: Collection[str] = (),
) -> dict[str, bytes]:
    """HTA subnet records for ``--enable-hta``: ``subnets.json`` and ``hta_<i>.bin``.

    ``graph`` is the quantized graph (integer parameters). ``subnets.json``::

        {"format": 1, "supported_ops": [...], "all_layers_hta": bool,
         "subnets": [{"index", "kind": "hta" | "hnn", "layers": [start, end),
                      "nodes": [names], "inputs": [{"name", "encoding"}],
                      "outputs": [{"name", "encoding"}], "record": "hta_0.bin" | null}]}

    ``hta_<i>.bin``: ``HTA_MAGIC`` (8 bytes), the index length (uint32 LE), the index
    (UTF-8 JSON), zero padding to 16 bytes, then the data sections, each 16-byte
    aligned, at offsets relative to the start of the data. The index lists one entry
    per layer: ``{"node", "op_type", "inputs", "outputs", "sections": {name: {"offset",
    "nbytes", "dtype", "shape"}}, ...}``. Sections (little-endian):

    * ``weight``: the stored integers as in the container (uint8/uint16), with
      ``weight_offset`` (per channel list or one int) and ``weight_axis``;
    * ``bias``: int32 in units of ``in_delta * w_delta`` (the 32-bit bias itself, or an
      8-bit bias re-expressed at that scale, rounded by the container's ``rounding``);
    * ``multiplier`` / ``shift``: int32 requantization of the accumulator to the output,
      ``real = in_delta * w_delta / out_delta`` (per channel when the weight is) through
      ``requant.quantize_multiplier``, the integer executor's function;
    * ``multiplier_<k>`` / ``shift_<k>`` for the inputs of Add / Concat and the input of
      pooling, activation and reshape layers: ``real = in_k_delta / out_delta``.
    """
    from workbench.engine.quant.encoding import dequantize, round_to_int
    from workbench.engine.quant.requant import quantize_multiplier

    parts = hta_partition(graph, not_8_bit(graph, act_encs, param_encs, float_layers))
    subnets = []
    records: dict[str, bytes] = {}

    def enc_dict(name: str) -> dict[str, Any] | None:
        e = act_encs.get(name)
        return None if e is None else e.to_dict()

    for idx, (kind, start, end) in enumerate(parts):
        inputs, outputs = _boundary(graph, start, end)
        record = f"hta_{idx}.bin" if kind == "hta" else None
        subnets.append(
            {
                "index": idx,
                "kind": kind,
                "layers": [start, end],
                "nodes": [n.name for n in graph.nodes[start:end]],
                "inputs": [{"name": t, "encoding": enc_dict(t)} for t in inputs],
                "outputs": [{"name": t, "encoding": enc_dict(t)} for t in outputs],
                "record": record,
            }
        )
        if record is None:
            continue
        layers = []
        packer = _Packer()
        section = packer.section
        for n in graph.nodes[start:end]:
            entry: dict[str, Any] = {
                "node": n.name,
                "op_type": n.op_type,
                "inputs": [i for i in n.inputs if i],
                "outputs": [o for o in n.outputs if o],
                "sections": {},
            }
            out_enc = act_encs.get(n.outputs[0])
            secs = entry["sections"]
            if n.op_type in ("Conv", "Gemm"):
                in_enc = act_encs.get(n.inputs[0])
                wname = n.inputs[1]
                w_enc = param_encs.get(wname)
                if not isinstance(in_enc, Encoding) or w_enc is None or out_enc is None:
                    raise BadInput(
                        f"HTA layer {n.name!r} lacks encodings for its input, weight or output"
                    )
                w_delta = np.atleast_1d(np.asarray(w_enc.delta, dtype=np.float64))
                acc_delta = in_enc.delta * w_delta
                secs["weight"] = section(graph.params[wname])
                entry["weight_offset"] = np.asarray(w_enc.offset).tolist()
                entry["weight_axis"] = w_enc.axis if isinstance(w_enc, ChannelEncoding) else None
                m, sh = quantize_multiplier(acc_delta / out_enc.delta)
                secs["multiplier"] = section(np.asarray(m, dtype=np.int32).reshape(-1))
                secs["shift"] = section(np.asarray(sh, dtype=np.int32).reshape(-1))
                if len(n.inputs) > 2 and n.inputs[2]:
                    bname = n.inputs[2]
                    b_enc = param_encs[bname]
                    b_hat = dequantize(graph.params[bname], b_enc).astype(np.float64).reshape(-1)
                    scale = (
                        acc_delta
                        if acc_delta.size == b_hat.size
                        else np.resize(acc_delta, b_hat.size)
                    )
                    b32 = np.clip(round_to_int(b_hat / scale, rounding), -(2**31), 2**31 - 1)
                    secs["bias"] = section(b32.astype(np.int32))
            else:
                for k, i in enumerate(x for x in n.inputs if x and x not in graph.params):
                    in_enc = act_encs.get(i)
                    if isinstance(in_enc, Encoding) and isinstance(out_enc, Encoding):
                        m, sh = quantize_multiplier(in_enc.delta / out_enc.delta)
                        secs[f"multiplier_{k}"] = section(np.asarray(m, np.int32).reshape(-1))
                        secs[f"shift_{k}"] = section(np.asarray(sh, np.int32).reshape(-1))
            layers.append(entry)
        index = json.dumps({"format": 1, "subnet": idx, "layers": layers}).encode()
        head = HTA_MAGIC + struct.pack("<I", len(index)) + index
        head += b"\x00" * ((-len(head)) % _HTA_ALIGN)
        records[record] = head + b"".join(packer.blobs)

    doc = {
        "format": 1,
        "supported_ops": sorted(HTA_OPS),
        "all_layers_hta": len(parts) == 1 and parts[0][0] == "hta",
        "subnets": subnets,
    }
    records["subnets.json"] = json.dumps(doc, indent=1).encode()
    return records


def read_hta_record(data: bytes) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Parse ``hta_<i>.bin``: its index and, per layer, its sections as arrays."""
    if len(data) < 12 or data[:8] != HTA_MAGIC:
        raise BadInput("not an HTA record (bad magic)")
    (length,) = struct.unpack_from("<I", data, 8)
    if 12 + length > len(data):
        raise BadInput("truncated HTA record index")
    try:
        index = json.loads(data[12 : 12 + length])
    except ValueError as exc:
        raise BadInput(f"malformed HTA record index: {exc}") from None
    base = 12 + length + ((-(12 + length)) % _HTA_ALIGN)
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for layer in index["layers"]:
        got = {}
        for name, sec in layer["sections"].items():
            start = base + int(sec["offset"])
            end = start + int(sec["nbytes"])
            if end > len(data):
                raise BadInput(f"HTA record section {name!r} of {layer['node']!r} is truncated")
            dtype = np.dtype(sec["dtype"]).newbyteorder("<")
            got[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(sec["shape"])
        arrays[layer["node"]] = got
    return index, arrays
