"""The AIP: HTA subnets run from their records, HNN subnets with the DSP's semantics.

``subnets.json`` (written by ``quantize --enable-hta``) must cover the graph node for
node; each ``hta_<i>.bin`` is parsed and its packed weights checked against the
container's. HTA Conv and Gemm layers then run from the record: its weights, its int32
biases (in the accumulator's scale) and its requantization multipliers and shifts,
with exact integer accumulation and the integer requantization rule. The other HTA
layers and every HNN layer run with the integer kernels and the container's encodings
(the DSP's semantics).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from workbench.engine.batch import resize_batch
from workbench.engine.container import Container
from workbench.engine.graph import Graph, Node
from workbench.engine.ops.registry import Kernel, OpContext, prepare
from workbench.engine.quant.hta import read_hta_record
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.requant import INT32_MAX, INT32_MIN, requantize, tflite_half_up
from workbench.engine.runtimes.integer_plan import cpu_fallback, fallback_notes
from workbench.engine.runtimes.network import InitRequest, Network, network
from workbench.errors import BadInput, RuntimeRefused


def hta_init(container: Container, request: InitRequest) -> Network:
    """A quantized container with HTA records: phases ``hta_records``, (``resize``), ``plan``."""
    return _aip(container, request.batch, request.keep, request.phases)


def _imported_hint(container: Container) -> str:
    """For a container whose encodings came with the model (a quantized TFLite import)."""
    if (container.manifest.get("quantizer") or {}).get("encodings_from") == "tflite":
        return " (or, to keep the model's own encodings, convert it with --enable-hta)"
    return ""


def subnets_doc(container: Container, label: str = "AIP") -> dict[str, Any]:
    """The container's ``subnets.json``, checked against its graph (``RuntimeRefused``)."""
    raw = container.records.get("subnets.json")
    if raw is None:
        raise RuntimeRefused(
            f"{label} needs the HTA subnet records that `workbench quantize --enable-hta` "
            "generates, and this container has none: quantize again with --enable-hta"
            + _imported_hint(container)
        )
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise RuntimeRefused(f"the container's HTA records are malformed ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("subnets"), list):
        raise RuntimeRefused("the container's HTA records are malformed (no subnets)")
    _check_partition(doc, container.graph)
    return doc


def _check_partition(doc: dict[str, Any], graph: Graph) -> None:
    """The subnets must cover the graph's nodes in order, by name."""
    stale = RuntimeRefused(
        "the container's HTA records do not match its graph; quantize again with --enable-hta"
    )
    at = 0
    for s in doc["subnets"]:
        if not isinstance(s, dict):
            raise stale
        layers, nodes = s.get("layers"), s.get("nodes")
        if (
            not isinstance(layers, list)
            or len(layers) != 2
            or layers[0] != at
            or not isinstance(nodes, list)
            or s.get("kind") not in ("hta", "hnn")
        ):
            raise stale
        start, end = layers
        if [n.name for n in graph.nodes[start:end]] != nodes or end <= start:
            raise stale
        at = end
    if at != len(graph.nodes):
        raise stale


def all_hta(doc: dict[str, Any], graph: Graph) -> bool:
    """Is every layer in an HTA subnet?"""
    return all(s["kind"] == "hta" for s in doc["subnets"]) and bool(graph.nodes)


def first_hnn_layer(doc: dict[str, Any]) -> str:
    """The first layer outside the HTA subnets ("?" when there is none)."""
    hnn = [s for s in doc["subnets"] if s.get("kind") != "hta"]
    return hnn[0]["nodes"][0] if hnn and hnn[0].get("nodes") else "?"


def _aip(container: Container, batch: int, keep, phases) -> Network:
    doc = subnets_doc(container)
    layers = _hta_layers(container, doc)
    phases.done("hta_records")
    if batch != 1:
        container = replace(container, graph=resize_batch(container.graph, batch))
        phases.done("resize")
    plan = _AipPlan(container, layers, keep)
    phases.done("plan")
    hta = sum(len(s["nodes"]) for s in doc["subnets"] if s["kind"] == "hta")
    n_hta = sum(1 for s in doc["subnets"] if s["kind"] == "hta")
    n_hnn = len(doc["subnets"]) - n_hta
    net = network(
        f"integer: {n_hta} HTA subnet(s) with {hta} layer(s), {n_hnn} HNN subnet(s)",
        plan.run,
        plan.run_integer,
    )
    net.notes.append(
        f"{len(plan.from_records)} layer(s) run from the HTA records; "
        f"{len(container.graph.nodes) - hta} layer(s) in HNN subnets (DSP semantics)"
    )
    net.notes.extend(fallback_notes(plan))
    cpu_fallback(net, plan)
    return net


@dataclass(frozen=True)
class _HtaLayer:
    weight: np.ndarray  # centered integers (q + offset), float64
    bias: np.ndarray | None  # int32 in the accumulator's scale, as float64
    multiplier: np.ndarray
    shift: np.ndarray


def _hta_layers(container: Container, doc: dict[str, Any]) -> dict[str, _HtaLayer]:
    """Parse every HTA record; the Conv/Gemm layers that will run from them, by node name."""
    graph = container.graph
    by_name = {n.name: n for n in graph.nodes}
    stale = "quantize again with --enable-hta"
    layers: dict[str, _HtaLayer] = {}
    for s in doc["subnets"]:
        if s["kind"] != "hta":
            continue
        record = s.get("record")
        data = container.records.get(record) if isinstance(record, str) else None
        if data is None:
            raise RuntimeRefused(f"HTA subnet {s.get('index')} has no record {record!r}; {stale}")
        try:
            index, arrays = read_hta_record(data)
            if not isinstance(index, dict) or not all(
                isinstance(e, dict) for e in index.get("layers", [])
            ):
                raise ValueError("layers must be objects")
        except (BadInput, *_MALFORMED_RECORD) as exc:
            raise RuntimeRefused(f"HTA record {record!r} is malformed ({exc}); {stale}") from None
        members = set(s["nodes"])
        for entry in index.get("layers", []):
            name = entry.get("node")
            node = by_name.get(name)
            if node is None or name not in members:
                raise RuntimeRefused(f"HTA record {record!r} names unknown layer {name!r}; {stale}")
            if node.op_type not in ("Conv", "Gemm") or not _plain_linear(node):
                continue
            secs = arrays.get(name, {})
            stored = graph.params.get(node.inputs[1])
            weight = secs.get("weight")
            if weight is None or stored is None or not np.array_equal(weight, stored):
                raise RuntimeRefused(
                    f"HTA record {record!r}: the weights of layer {name!r} differ from the "
                    f"container's; {stale}"
                )
            try:
                layers[name] = _HtaLayer(
                    weight=_centered(
                        weight, entry.get("weight_offset", 0), entry.get("weight_axis")
                    ),
                    bias=secs["bias"].astype(np.float64) if "bias" in secs else None,
                    multiplier=np.asarray(secs["multiplier"], dtype=np.int64),
                    shift=np.asarray(secs["shift"], dtype=np.int64),
                )
            except _MALFORMED_RECORD as exc:
                raise RuntimeRefused(
                    f"HTA record {record!r}: layer {name!r} is malformed ({exc}); {stale}"
                ) from None
    return layers


# What parsing a hand-edited or corrupt HTA record raises (wrong types, missing keys).
_MALFORMED_RECORD = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


def _plain_linear(node: Node) -> bool:
    if node.op_type == "Gemm":
        return (
            float(node.attr("alpha", 1.0)) == 1.0
            and float(node.attr("beta", 1.0)) == 1.0
            and not int(node.attr("transA", 0))
        )
    return True


def _centered(q: np.ndarray, offset: Any, axis: int | None) -> np.ndarray:
    off = np.asarray(offset, dtype=np.float64)
    if off.ndim and axis is not None:
        shape = [1] * q.ndim
        shape[axis] = off.size
        off = off.reshape(shape)
    elif off.ndim:
        off = off.reshape(-1)[0]
    return q.astype(np.float64) + off


def _hta_kernel(
    ctx: OpContext, layer: _HtaLayer, in_enc: Any, out_enc: Any, rounding: str
) -> Kernel:
    """An HTA Conv/Gemm: exact accumulation in float64, the record's requantization."""
    node = ctx.node
    zp_in, zp_out = -in_enc.offset, -out_enc.offset
    qmin, qmax, dtype = out_enc.qmin, out_enc.qmax, out_enc.dtype
    if node.op_type == "Conv":
        m = layer.weight.shape[0]
        sub = Node(node.name, "Conv", ("x", "w", "b"), node.outputs, node.attrs)
        bias = layer.bias if layer.bias is not None else np.zeros(m)
        conv = prepare(OpContext(sub, {1: layer.weight, 2: bias.reshape(-1)}, opset=ctx.opset))
        spatial = (1,) * (layer.weight.ndim - 2)
        mult = layer.multiplier.reshape(-1, *spatial)
        shift = layer.shift.reshape(-1, *spatial)

        def accumulate(x: np.ndarray) -> np.ndarray:
            return conv(x)[0]
    else:
        w = layer.weight.T if int(node.attr("transB", 0)) else layer.weight  # (K, N)
        bias = layer.bias.reshape(-1) if layer.bias is not None else 0.0
        mult, shift = layer.multiplier.reshape(-1), layer.shift.reshape(-1)

        def accumulate(x: np.ndarray) -> np.ndarray:
            return x @ w + bias

    def run(q: np.ndarray, *_: np.ndarray | None) -> tuple[np.ndarray, ...]:
        acc = accumulate(q.astype(np.float64) - zp_in)
        np.clip(acc, INT32_MIN, INT32_MAX, out=acc)
        return (requantize(acc, mult, shift, zp_out, qmin, qmax, dtype, rounding),)

    return run


class _AipPlan(IntegerPlan):
    """The integer plan, with HTA Conv/Gemm layers running from their records."""

    def __init__(self, container: Container, layers: dict[str, _HtaLayer], keep) -> None:
        self._hta = layers
        self.from_records: list[str] = []
        super().__init__(container, keep=keep)

    def _prepare(self, ctx: OpContext) -> Kernel:
        layer = self._hta.get(ctx.node.name)
        in_enc = self.encodings.get(ctx.node.inputs[0]) if ctx.node.inputs else None
        out_enc = self.encodings.get(ctx.node.outputs[0]) if ctx.node.outputs else None
        w_enc = self.param_encodings.get(ctx.node.inputs[1]) if len(ctx.node.inputs) > 1 else None
        eight_bit = all(e is not None and e.bitwidth <= 8 for e in (in_enc, out_enc, w_enc))
        if layer is None or not eight_bit:  # the HTA is 8-bit only (SPEC 11): DSP semantics
            return super()._prepare(ctx)
        self.from_records.append(ctx.node.name)
        # A TFLite model's Conv/Gemm round as TFLite's convolution kernels do (half up).
        return _hta_kernel(ctx, layer, in_enc, out_enc, tflite_half_up(self.rounding))
