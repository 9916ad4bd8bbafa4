"""What ``workbench info`` and ``workbench diff`` show, as plain data (nothing is printed).

MACs count the multiply-accumulates of the linear operators only:

* Conv: ``out_elems * (Cin / groups) * kh * kw`` (every output element reads one
  ``Cin/groups x kh x kw`` window), i.e. ``out_elems * prod(W.shape[1:])``;
* ConvTranspose: ``in_elems * (Cout / groups) * kh * kw`` (every input element is
  scattered through a ``Cout/groups x kh x kw`` kernel), i.e. ``in_elems * prod(W.shape[1:])``;
* Gemm and MatMul (batched): ``out_elems * K``, which is ``M * N * K`` per matrix.

Every other operator counts 0: elementwise ops, activations, normalization, pooling and
data movement are memory bound and carry no multiply-accumulate work worth comparing.
A linear layer whose shapes are unknown has ``macs=None``.

A layer's parameter count is the number of elements of its constant (parameter) inputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.engine.container import Container
from workbench.engine.graph import Node, TensorInfo

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerRow:
    """One node of the graph as ``workbench info`` lists it."""

    index: int
    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    output_dims: tuple[Shape | None, ...]
    param_count: int
    macs: int | None
    encoding_summary: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "op_type": self.op_type,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "output_dims": [None if d is None else list(d) for d in self.output_dims],
            "param_count": self.param_count,
            "macs": self.macs,
            "encoding_summary": self.encoding_summary,
        }


@dataclass(frozen=True)
class Summary:
    """A container at a glance: layers, totals, inputs and outputs, records."""

    name: str
    opset: int
    quantized: bool
    rows: tuple[LayerRow, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    param_count: int
    param_bytes: int
    total_macs: int
    file_size: int | None
    records: tuple[tuple[str, int], ...]  # (name, size in bytes)
    converter: dict[str, Any] | None
    quantizer: dict[str, Any] | None
    created: str | None
    rounding: str | None = None  # a quantized container's rounding mode

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "opset": self.opset,
            "quantized": self.quantized,
            "layers": [r.to_dict() for r in self.rows],
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "param_count": self.param_count,
            "param_bytes": self.param_bytes,
            "total_macs": self.total_macs,
            "file_size": self.file_size,
            "records": [{"name": n, "size": s} for n, s in self.records],
            "converter": self.converter,
            "quantizer": self.quantizer,
            "created": self.created,
            "rounding": self.rounding,
        }


def summarize(container: Container) -> Summary:
    """Layers with shapes, parameter counts, MACs and encodings, plus totals."""
    graph = container.graph
    params = container.param_infos

    def info(name: str) -> TensorInfo | None:
        return graph.tensors.get(name) or params.get(name)

    rows = []
    for index, node in enumerate(graph.nodes):
        param_inputs = [i for i in node.inputs if i in params]
        rows.append(
            LayerRow(
                index=index,
                name=node.name,
                op_type=node.op_type,
                inputs=tuple(i for i in node.inputs if i),
                outputs=tuple(o for o in node.outputs if o),
                output_dims=tuple(_shape(info(o)) for o in node.outputs if o),
                param_count=sum(params[i].size for i in param_inputs) + _body_params(node),
                macs=node_macs(node, info),
                encoding_summary=_layer_encodings(node, container),
            )
        )
    return Summary(
        name=graph.name,
        opset=graph.opset,
        quantized=container.quantized,
        rows=tuple(rows),
        inputs=tuple(graph.inputs),
        outputs=tuple(graph.outputs),
        param_count=sum(p.size for p in params.values()) + sum(map(_body_params, graph.nodes)),
        param_bytes=sum(p.size * np.dtype(p.dtype).itemsize for p in params.values())
        + sum(_body_params(n, nbytes=True) for n in graph.nodes),
        total_macs=sum(r.macs or 0 for r in rows),
        file_size=container.file_size,
        records=tuple(container.record_sizes.items()),
        converter=container.manifest.get("converter"),
        quantizer=container.manifest.get("quantizer"),
        created=container.manifest.get("created"),
        rounding=container.rounding if container.quantized else None,
    )


def _body_params(node: Node, nbytes: bool = False) -> int:
    """Parameters held inside a control-flow node's bodies (elements, or bytes)."""
    total = 0
    for body in node.subgraphs.values():
        for p in body.params.values():
            total += p.size * (p.dtype.itemsize if nbytes else 1)
        total += sum(_body_params(n, nbytes) for n in body.nodes)
    return total


_RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def node_macs(node: Node, info: Callable[[str], TensorInfo | None]) -> int | None:
    """Multiply-accumulates of one node (see the module docstring for the rules)."""
    op = node.op_type
    if op in _RECURRENT_GATES and not node.domain:
        # Per step and direction: the input and recurrent products, G*H*(I+H) each.
        x, w = (info(node.inputs[i]) if len(node.inputs) > i else None for i in (0, 1))
        if x is None or w is None or len(x.shape) != 3 or len(w.shape) != 3:
            return None
        steps_batch = x.shape[0] * x.shape[1]
        dirs, gh, inp = w.shape
        hidden = gh // _RECURRENT_GATES[op]
        return steps_batch * dirs * gh * (inp + hidden)
    if op == "If" and not node.domain:
        # The costlier branch (one of them runs).
        costs = []
        for body in node.subgraphs.values():
            costs.append(sum(node_macs(n, body.info) or 0 for n in body.nodes))
        return max(costs, default=0)
    if op not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
        return 0

    def shape(k: int, outputs: bool = False) -> Shape | None:
        names = node.outputs if outputs else node.inputs
        return _shape(info(names[k])) if len(names) > k and names[k] else None

    out, a, b = shape(0, outputs=True), shape(0), shape(1)
    if op == "Conv":
        if out is None or b is None:
            return None
        return _prod(out) * _prod(b[1:])
    if op == "ConvTranspose":
        if a is None or b is None:
            return None
        return _prod(a) * _prod(b[1:])
    if out is None or a is None or not a:
        return None
    if op == "Gemm":
        k = a[0] if node.attr("transA", 0) else a[-1]
    else:
        k = a[-1]  # MatMul: a 1-D A is a vector of length K too
    return _prod(out) * k


def _shape(t: TensorInfo | None) -> Shape | None:
    return None if t is None else tuple(t.shape)


def _prod(shape: Shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


# -- encodings --------------------------------------------------------------------------------


def describe_encoding(value: Any) -> str:
    """A short human description of one tensor's encoding, whatever its exact layout."""
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        if len(value) == 1:
            return describe_encoding(value[0])
        bw = value[0].get("bitwidth")
        return (
            f"{bw}b per-channel x{len(value)}" if bw is not None else f"per-channel x{len(value)}"
        )
    if isinstance(value, Mapping):
        bw = value.get("bitwidth")
        prefix = f"{bw}b " if bw is not None else ""
        if isinstance(value.get("delta"), list) and "axis" in value:  # ChannelEncoding.to_dict()
            return f"{prefix}per-channel x{len(value['delta'])} (axis {value['axis']})"
        if isinstance(value.get("min"), (int, float)) and isinstance(
            value.get("max"), (int, float)
        ):
            return f"{prefix}[{value['min']:.6g}, {value['max']:.6g}]"
        if isinstance(value.get("scale"), (int, float)):
            return f"{prefix}scale={value['scale']:.6g} offset={value.get('offset')}"
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 48 else text[:45] + "..."


def _layer_encodings(node: Node, container: Container) -> str | None:
    parts = []
    for out in node.outputs:
        if out in container.encodings:
            label = "out" if len(node.outputs) == 1 else out
            parts.append(f"{label}: {describe_encoding(container.encodings[out])}")
    roles = {1: "weight", 2: "bias"} if node.op_type in _LINEAR else {}
    for k, name in enumerate(node.inputs):
        if name in container.param_encodings:
            label = roles.get(k, name)
            parts.append(f"{label}: {describe_encoding(container.param_encodings[name])}")
    return "; ".join(parts) or None


_LINEAR = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})


# -- diff -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference between container A and container B.

    ``kind`` says what differs: ``only_in_a``/``only_in_b`` for a whole item, or the field
    (``op_type``, ``output_dims``, ``inputs``, ``attr``, ``shape``, ``dtype``, ``values``,
    ``size``, ``content``, ``changed``). ``a`` and ``b`` are JSON-able descriptions.
    """

    name: str
    kind: str
    a: Any = None
    b: Any = None
    max_abs_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "kind": self.kind, "a": self.a, "b": self.b}
        if self.max_abs_diff is not None:
            d["max_abs_diff"] = self.max_abs_diff
        return d


@dataclass(frozen=True)
class DiffReport:
    """Everything that differs between two containers; empty when they are equivalent."""

    layers_only_in_a: tuple[str, ...]
    layers_only_in_b: tuple[str, ...]
    layers: tuple[Change, ...]
    params: tuple[Change, ...]
    encodings: tuple[Change, ...]
    param_encodings: tuple[Change, ...]
    manifest: tuple[Change, ...]
    records: tuple[Change, ...]

    @property
    def identical(self) -> bool:
        return not any(
            (
                self.layers_only_in_a,
                self.layers_only_in_b,
                self.layers,
                self.params,
                self.encodings,
                self.param_encodings,
                self.manifest,
                self.records,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "layers_only_in_a": list(self.layers_only_in_a),
            "layers_only_in_b": list(self.layers_only_in_b),
            "layers": [c.to_dict() for c in self.layers],
            "params": [c.to_dict() for c in self.params],
            "encodings": [c.to_dict() for c in self.encodings],
            "param_encodings": [c.to_dict() for c in self.param_encodings],
            "manifest": [c.to_dict() for c in self.manifest],
            "records": [c.to_dict() for c in self.records],
        }


# Manifest fields that differ between any two writes and say nothing about the model.
_MANIFEST_IGNORED = frozenset({"created", "entries"})


def diff(a: Container, b: Container) -> DiffReport:
    """Compare two containers layer by layer (matched by name), parameter by parameter."""
    nodes_a = {n.name: n for n in a.graph.nodes}
    nodes_b = {n.name: n for n in b.graph.nodes}
    return DiffReport(
        layers_only_in_a=tuple(n for n in nodes_a if n not in nodes_b),
        layers_only_in_b=tuple(n for n in nodes_b if n not in nodes_a),
        layers=tuple(_layer_changes(a, b, nodes_a, nodes_b)),
        params=tuple(_param_changes(a, b)),
        encodings=tuple(_mapping_changes(a.encodings, b.encodings)),
        param_encodings=tuple(_mapping_changes(a.param_encodings, b.param_encodings)),
        manifest=tuple(_manifest_changes(a.manifest, b.manifest)),
        records=tuple(_record_changes(a, b)),
    )


def _layer_changes(
    a: Container, b: Container, nodes_a: Mapping[str, Node], nodes_b: Mapping[str, Node]
) -> list[Change]:
    changes = []
    infos_a, infos_b = a.param_infos, b.param_infos
    for name, na in nodes_a.items():
        nb = nodes_b.get(name)
        if nb is None:
            continue
        if na.op_type != nb.op_type:
            changes.append(Change(name, "op_type", na.op_type, nb.op_type))
        if na.inputs != nb.inputs:
            changes.append(Change(name, "inputs", list(na.inputs), list(nb.inputs)))
        dims_a = [_dims(o, a.graph.tensors, infos_a) for o in na.outputs if o]
        dims_b = [_dims(o, b.graph.tensors, infos_b) for o in nb.outputs if o]
        if dims_a != dims_b:
            changes.append(Change(name, "output_dims", dims_a, dims_b))
        for key in sorted(set(na.attrs) | set(nb.attrs)):
            va, vb = na.attrs.get(key, _MISSING), nb.attrs.get(key, _MISSING)
            if not _attr_equal(va, vb):
                changes.append(
                    Change(f"{name}.{key}", "attr", _describe_attr(va), _describe_attr(vb))
                )
    return changes


def _dims(name: str, tensors: Mapping[str, TensorInfo], params: Mapping[str, TensorInfo]):
    t = tensors.get(name) or params.get(name)
    return None if t is None else list(t.shape)


_MISSING = object()


def _attr_equal(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return (
            isinstance(x, np.ndarray)
            and isinstance(y, np.ndarray)
            and x.dtype == y.dtype
            and x.shape == y.shape
            and bool(np.array_equal(x, y, equal_nan=x.dtype.kind == "f"))
        )
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_attr_equal(i, j) for i, j in zip(x, y, strict=True))
    return type(x) is type(y) and x == y


def _describe_attr(value: Any) -> Any:
    if value is _MISSING:
        return None
    if isinstance(value, np.ndarray):
        if value.size <= 16:
            return {"dtype": value.dtype.name, "shape": list(value.shape), "values": value.tolist()}
        return {"dtype": value.dtype.name, "shape": list(value.shape)}
    if isinstance(value, list):
        return [_describe_attr(v) for v in value]
    return value


def _param_changes(a: Container, b: Container) -> list[Change]:
    changes = []
    infos_a, infos_b = a.param_infos, b.param_infos
    for name in [*infos_a, *(n for n in infos_b if n not in infos_a)]:
        ia, ib = infos_a.get(name), infos_b.get(name)
        if ib is None:
            changes.append(Change(name, "only_in_a", ia.to_dict() if ia else None))
            continue
        if ia is None:
            changes.append(Change(name, "only_in_b", None, ib.to_dict()))
            continue
        if ia.shape != ib.shape:
            changes.append(Change(name, "shape", list(ia.shape), list(ib.shape)))
            continue
        if ia.dtype != ib.dtype:
            # Different storage (float vs quantized): values are only comparable once
            # dequantized with the encodings, which is the quantizer's business.
            changes.append(Change(name, "dtype", ia.dtype, ib.dtype))
            continue
        pa, pb = a.graph.params.get(name), b.graph.params.get(name)
        if pa is None or pb is None:
            continue  # not loaded: shapes and dtypes are all we can compare
        max_diff = _max_abs_diff(pa, pb)
        if max_diff != 0.0:
            changes.append(Change(name, "values", max_abs_diff=max_diff))
    return changes


def _max_abs_diff(x: np.ndarray, y: np.ndarray) -> float:
    """Largest absolute difference; a NaN against anything but NaN counts as infinite."""
    if x.dtype.kind in "fc":
        if np.array_equal(x, y, equal_nan=True):
            return 0.0
        xf, yf = x.astype(np.float64), y.astype(np.float64)
    else:
        if np.array_equal(x, y):
            return 0.0
        # Integers can exceed float64's exact range only beyond 2**53; fine for a report.
        xf, yf = x.astype(np.float64), y.astype(np.float64)
    d = np.abs(xf - yf)
    both_nan = np.isnan(xf) & np.isnan(yf)
    d[np.isnan(d) & ~both_nan] = np.inf
    d[both_nan] = 0.0
    return float(d.max()) if d.size else 0.0


def _mapping_changes(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> list[Change]:
    changes = []
    for key in [*ma, *(k for k in mb if k not in ma)]:
        if key not in mb:
            changes.append(Change(key, "only_in_a", ma[key]))
        elif key not in ma:
            changes.append(Change(key, "only_in_b", None, mb[key]))
        elif _canonical(ma[key]) != _canonical(mb[key]):
            changes.append(Change(key, "changed", ma[key], mb[key]))
    return changes


def _canonical(value: Any) -> str:
    # Compare JSON-able values as JSON, so a tuple equals a list and key order is irrelevant.
    return json.dumps(value, sort_keys=True, default=str)


def _manifest_changes(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> list[Change]:
    keep_a = {k: v for k, v in ma.items() if k not in _MANIFEST_IGNORED}
    keep_b = {k: v for k, v in mb.items() if k not in _MANIFEST_IGNORED}
    return _nested_changes(keep_a, keep_b, "")


def _nested_changes(ma: Mapping[str, Any], mb: Mapping[str, Any], prefix: str) -> list[Change]:
    """Changed fields as dotted paths (``quantizer.options.bitwidth``), recursing into objects."""
    changes = []
    for key in [*ma, *(k for k in mb if k not in ma)]:
        path = f"{prefix}{key}"
        va, vb = ma.get(key), mb.get(key)
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            changes += _nested_changes(va, vb, f"{path}.")
        elif key not in ma or key not in mb or _canonical(va) != _canonical(vb):
            changes.append(Change(path, "changed", va, vb))
    return changes


def _record_changes(a: Container, b: Container) -> list[Change]:
    """Records compared by size and sha256 (from the manifests: no record is inflated)."""
    ra, rb = a.record_sizes, b.record_sizes
    da, db = a.record_digests, b.record_digests
    changes = []
    for name in [*ra, *(n for n in rb if n not in ra)]:
        if name not in rb:
            changes.append(Change(name, "only_in_a", ra[name]))
        elif name not in ra:
            changes.append(Change(name, "only_in_b", None, rb[name]))
        elif da[name] != db[name]:
            kind = "size" if ra[name] != rb[name] else "content"
            changes.append(Change(name, kind, ra[name], rb[name]))
    return changes
