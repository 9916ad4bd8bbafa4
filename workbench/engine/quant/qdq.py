"""Export a quantized container as a QDQ ONNX model that ONNX Runtime runs.

The float operators of the graph, rebuilt from our IR, with:

* every quantized parameter as its integer initializer followed by ``DequantizeLinear``:
  ``scale = delta``, ``zero_point = -offset`` (uint8 / uint16); a symmetric per-channel
  weight as signed integers (``to_signed``: int8 / int16, zero point 0) with ``axis``
  (or unsigned with ``signed_weights=False``);
  a 32-bit bias as int32 with zero point 0 and ``scale = in_scale * w_scale``;
* every encoded activation (graph inputs and node outputs) passed through
  ``QuantizeLinear`` then ``DequantizeLinear`` with its scale and zero point (uint8, or
  uint16 for 16-bit activations, which needs opset 21).

The model keeps the container's opset when it can (13 at least, for per-axis
``DequantizeLinear``; 21 with 16-bit tensors), converting older graphs with
``onnx.version_converter`` first. Tensor names are kept: a node output ``t`` is produced
as ``t/float`` and ``t`` is its dequantized value, so graph outputs are fake-quantized
like ``FakeQuantPlan``'s.

**Rounding.** ONNX ``QuantizeLinear`` (so ONNX Runtime) rounds half to even. A container
quantized with ``--rounding half-even`` rounds the same way everywhere, and its export
then agrees with our paths to the bit: on the demo's 200 validation images (outputs
``logits`` and ``probabilities``, 4,000 output codes), quantized with ``--rounding
half-even --bias-bitwidth 32``, ORT on the QDQ semantics gives exactly the integer
path's and the fake-quant path's codes (``tests/engine/quant/test_rounding.py``). With an
8-bit bias the fake-quant path still matches to the bit, the integer path on 92.6 % of
the codes (98.8 % within 1 LSB): it re-expresses that bias at the accumulator's scale
in integers, as a device must, and QDQ's float bias is not rounded. A container
rounding half away from zero (the default, the vendor's rule) differs at every tie,
and real inputs sit on ties: the demo's normalized pixels divided by the input's delta
are exact halves for 196,563 of its 614,400 input values. On those 200 images with the
default options, ORT's QDQ semantics vs our integer path: 76.7 % of the output codes
exact, 96.2 % within 1 LSB, worst 22 LSB (the softmax output; the logits alone: 99.5 %
within 1 LSB, worst 2); vs the fake-quant path: 96.0 % within 1 LSB, worst 22 LSB
(``python tests/perf/qdq_agreement.py``). So the export records the container's mode
as model metadata (``workbench.rounding``) and ``rounding_note`` says when the modes
differ. On random Gaussian inputs, where ties do not occur, the unit tests' models
agree with the fake-quant path within 1 LSB on ≥ 99.9 % of output elements
(``tests/engine/quant/test_qdq.py``).

That holds for the QDQ semantics (ORT with ``session.disable_quant_qdq = 1``, or basic
optimizations). With its QDQ fusions on (the default, ``ORT_ENABLE_EXTENDED`` and up)
ORT replaces the patterns by its own integer kernels; on x86 CPUs without VNNI their
u8s8 (int8 weight) path sums pairs of products in saturating int16 and can be tens of
LSB off — export with ``signed_weights=False`` for ORT's exact u8u8 path there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from workbench.engine.container import Container
from workbench.engine.graph import Graph
from workbench.engine.onnx_export import onnx_node, opset_imports
from workbench.engine.quant.dequant import dequantize_graph
from workbench.engine.quant.encoding import (
    AnyEncoding,
    ChannelEncoding,
    Encoding,
    encoding_from_dict,
    to_signed,
)
from workbench.engine.quant.fakequant import activation_encodings
from workbench.errors import BadInput
from workbench.vocabulary import HALF_EVEN, TFLITE_ROUNDING

MIN_OPSET = 13  # per-axis DequantizeLinear
UINT16_OPSET = 21  # 16-bit QuantizeLinear / DequantizeLinear
_FLOAT = {"float32", "float16", "float64"}


def float_model(graph: Graph, opset: int | None = None) -> onnx.ModelProto:
    """Our IR graph as an ONNX model (parameters as initializers), at its own opset."""
    nodes = [onnx_node(n) for n in graph.nodes]
    inits = [numpy_helper.from_array(np.asarray(p), name) for name, p in graph.params.items()]

    def value_info(name: str) -> onnx.ValueInfoProto:
        info = graph.info(name)
        if info is None:
            return onnx.ValueInfoProto(name=name)
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(info.dtype))
        return helper.make_tensor_value_info(name, elem, list(info.shape))

    g = helper.make_graph(
        nodes,
        graph.name or "graph",
        [value_info(t.name) for t in graph.inputs],
        [value_info(t.name) for t in graph.outputs],
        initializer=inits,
    )
    model = helper.make_model(g, opset_imports=opset_imports(graph, opset))
    model.ir_version = _ir_version(opset or graph.opset)
    model.producer_name = "workbench"
    return model


def _ir_version(opset: int) -> int:
    return 9 if opset <= 20 else 10


def _zero_point_type(enc: AnyEncoding, signed: bool) -> int:
    if enc.bitwidth == 32:
        return TensorProto.INT32
    if enc.bitwidth <= 8:
        return TensorProto.INT8 if signed else TensorProto.UINT8
    return TensorProto.INT16 if signed else TensorProto.UINT16


class _Builder:
    def __init__(self, taken: set[str]):
        self.taken = set(taken)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []

    def name(self, base: str) -> str:
        candidate, i = base, 1
        while candidate in self.taken:
            candidate = f"{base}_{i}"
            i += 1
        self.taken.add(candidate)
        return candidate

    def scalar(self, base: str, value: Any, elem: int) -> str:
        name = self.name(base)
        arr = np.asarray(value, dtype=helper.tensor_dtype_to_np_dtype(elem))
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def param(self, name: str, q: np.ndarray, enc: AnyEncoding, signed_weights: bool) -> None:
        """Initializer ``name/quantized`` and a DequantizeLinear producing ``name``."""
        half = 2 ** (enc.bitwidth - 1)
        symmetric = isinstance(enc, ChannelEncoding) and bool(np.all(enc.offset == -half))
        signed = enc.bitwidth == 32 or (signed_weights and symmetric)
        elem = _zero_point_type(enc, signed)
        if enc.bitwidth == 32:
            values = np.asarray(q, dtype=np.int32)
        else:
            values = to_signed(q, enc) if signed else q
        values = np.asarray(values, dtype=helper.tensor_dtype_to_np_dtype(elem))
        qname = self.name(f"{name}/quantized")
        self.inits.append(numpy_helper.from_array(values, qname))
        attrs: dict[str, Any] = {}
        if isinstance(enc, ChannelEncoding):
            zp = np.zeros(len(enc)) if signed else -enc.offset
            scale = self.scalar(f"{name}/scale", enc.delta.astype(np.float32), TensorProto.FLOAT)
            zero = self.scalar(f"{name}/zero_point", zp, elem)
            attrs["axis"] = enc.axis
        else:
            zp = 0 if signed else -enc.offset
            scale = self.scalar(f"{name}/scale", np.float32(enc.delta), TensorProto.FLOAT)
            zero = self.scalar(f"{name}/zero_point", zp, elem)
        self.nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [qname, scale, zero],
                [name],
                name=self.name(f"{name}/dq"),
                **attrs,
            )
        )

    def qdq(self, src: str, dst: str, enc: Encoding) -> None:
        """``dst = DequantizeLinear(QuantizeLinear(src))`` with ``enc``'s scale and zero point."""
        elem = _zero_point_type(enc, signed=False)
        scale = self.scalar(f"{dst}/scale", np.float32(enc.delta), TensorProto.FLOAT)
        zero = self.scalar(f"{dst}/zero_point", -enc.offset, elem)
        q = self.name(f"{dst}/quantized")
        self.nodes.append(
            helper.make_node("QuantizeLinear", [src, scale, zero], [q], name=self.name(f"{dst}/q"))
        )
        self.nodes.append(
            helper.make_node(
                "DequantizeLinear", [q, scale, zero], [dst], name=self.name(f"{dst}/dq")
            )
        )


def rounding_note(container: Container) -> str | None:
    """Why the export will not match the container at ties, or None when it will."""
    if container.rounding == HALF_EVEN:
        return None
    if container.rounding == TFLITE_ROUNDING:
        return (
            "this container computes as TFLite's integer kernels do (rounding tflite: half "
            "away onto grids, requantization rounded twice); the QDQ export is ONNX's "
            "float-between-grids semantics, rounding half to even: expect outputs a step "
            "apart where TFLite's arithmetic and ONNX's differ"
        )
    return (
        f"this container rounds {container.rounding} (half away from zero) but ONNX "
        "QuantizeLinear rounds half to even: values on a tie (e.g. pixel/255 inputs) "
        "quantize one step apart; quantize with --rounding half-even for an export that "
        "matches to the bit"
    )


def export_qdq(container: Container, signed_weights: bool = True) -> onnx.ModelProto:
    """The quantized container as a QDQ ONNX model (see the module docstring).

    ``signed_weights=False`` stores symmetric per-channel weights unsigned (zero point
    ``2**(bw-1)``) instead of int8: same values, but ONNX Runtime's fused QDQ kernels then
    take their u8u8 path, exact on x86 CPUs without VNNI where u8s8 saturates int16 sums.
    """
    if not container.quantized:
        raise BadInput("only a quantized container can be exported as QDQ ONNX")
    if not container.params_loaded:
        raise BadInput("the container was read without its parameters (load_params=False)")
    graph = container.graph
    acts = activation_encodings(container.encodings)
    params = {n: encoding_from_dict(dict(d)) for n, d in container.param_encodings.items()}
    wide = any(e.bitwidth > 8 for e in (*acts.values(), *params.values()) if e.bitwidth != 32)
    opset = max(graph.opset, UINT16_OPSET if wide else MIN_OPSET)

    # The float graph at the target opset; quantized parameters come from DQ nodes below.
    # It is built from the dequantized parameters: the version converter infers types,
    # and a quantized parameter's integer type must not leak into the float graph
    # (``value_info`` saying uint8 for what a DequantizeLinear now produces).
    model = float_model(dequantize_graph(container))
    if opset != graph.opset:
        try:
            model = onnx.version_converter.convert_version(model, opset)
        except Exception as exc:  # the converter raises bare RuntimeErrors
            raise BadInput(
                f"cannot convert the graph from opset {graph.opset} to {opset}: {exc}"
            ) from None
        model.ir_version = _ir_version(opset)
    del model.graph.value_info[:]  # annotations of the float graph; ONNX Runtime infers
    kept = [t for t in model.graph.initializer if t.name not in params]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    g = model.graph

    taken = {t for n in g.node for t in (*n.input, *n.output)} | {i.name for i in g.initializer}
    taken |= {v.name for v in g.input}
    b = _Builder(taken)
    for name, enc in params.items():
        b.param(name, graph.params[name], enc, signed_weights)

    input_names = {v.name for v in g.input}
    renamed: dict[str, str] = {}
    for name in input_names:
        if name in acts:
            renamed[name] = b.name(f"{name}/fq")
            b.qdq(name, renamed[name], acts[name])
    body: list[onnx.NodeProto] = []
    for node in g.node:
        for i, t in enumerate(node.input):
            if t in renamed:
                node.input[i] = renamed[t]
        body.append(node)
        after = []
        for i, t in enumerate(node.output):
            if t in acts and t not in input_names:
                raw = b.name(f"{t}/float")
                node.output[i] = raw
                after.append((raw, t))
        for raw, t in after:
            before = len(b.nodes)
            b.qdq(raw, t, acts[t])
            body.extend(b.nodes[before:])
            del b.nodes[before:]
    del g.node[:]
    g.node.extend([*b.nodes, *body])
    g.initializer.extend(b.inits)
    for out in g.output:
        if out.name in renamed:
            raise BadInput(f"graph input {out.name!r} is also a graph output; cannot export")
    if any(n.subgraphs for n in graph.nodes):
        _symbolic_interface(g)
    helper.set_model_props(model, {"workbench.rounding": container.rounding})
    return model


def _symbolic_interface(g: onnx.GraphProto) -> None:
    """Graph inputs and outputs with named, not fixed, dimensions (same tensors at run time).

    With fixed input sizes ONNX Runtime's constant folding specialises *every* branch of
    an If, including one these sizes never take (Silero VAD's 8 kHz branch fed 16 kHz
    frames), and refuses to load a model whose source it loads.
    """
    for value in [*g.input, *g.output]:
        if not value.type.HasField("tensor_type"):
            continue
        for i, d in enumerate(value.type.tensor_type.shape.dim):
            if d.HasField("dim_value"):
                d.dim_param = f"{value.name}_{i}"
