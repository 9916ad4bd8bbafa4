"""``import_tflite`` / ``load_tflite``: a ``.tflite`` file to an IR graph (and container).

The order: read and check the whole flatbuffer (``reader``); refuse, all at once, every
operator without a converter (custom and flex operators included); fix the input shapes
(``--input-dim``); decide whether the model is quantized; convert operator by operator
(``ops`` through the ``Builder``), naming every form a converter cannot express, again
all at once; then put the outputs back in the model's layout under their own names,
fold the Transposes the layout boundaries left (``layout.simplify_transposes``), prune,
sort and validate. Nothing is written anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.container import Container, make_manifest
from workbench.engine.graph import Graph, StateVar, TensorInfo
from workbench.engine.input_dims import advice, propose
from workbench.engine.inputs import INPUT_DTYPES
from workbench.engine.ops.registry import check_supported
from workbench.engine.quant.encoding import AnyEncoding, ChannelEncoding, Encoding
from workbench.engine.tflite import layout, ops, quant
from workbench.engine.tflite import sequence_ops as _sequence_ops  # noqa: F401 (its converters)
from workbench.engine.tflite import signal_ops as _signal_ops  # noqa: F401 (its converters)
from workbench.engine.tflite.builder import Builder, Unsupported, _base_names
from workbench.engine.tflite.reader import Model, Operator, Tensor, read_tflite
from workbench.errors import BadInput, ModelError, UnsupportedOperators
from workbench.vocabulary import SYMMETRIC, TF, TFLITE_ROUNDING

_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


@dataclass(frozen=True)
class TfliteImport:
    """An imported TFLite model.

    ``graph`` is the float graph (quantized constants dequantized; float16 widened).
    For a quantized model, ``encodings`` holds every activation's encoding and
    ``codes`` / ``param_encodings`` the stored integers of every quantized parameter, as
    ``quantize_container`` lays them out (``quantized_graph``, ``to_container``).
    """

    graph: Graph
    quantized: bool = False
    encodings: dict[str, Encoding] = field(default_factory=dict)
    param_encodings: dict[str, AnyEncoding] = field(default_factory=dict)
    codes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # Inputs the model takes as int8/uint8 (full-integer interface): the container takes
    # float32 there, and input files may hold the integers (``inputs.INPUT_DTYPES``).
    input_dtypes: dict[str, str] = field(default_factory=dict)

    def quantized_graph(self) -> Graph:
        """The graph with quantized parameters stored as their integer codes."""
        g = self.graph.copy()
        g.params.update(self.codes)
        return g

    def to_container(self, converter: Mapping[str, Any], *, enable_hta: bool = False) -> Container:
        """A float container, or for a quantized model a quantized one (the model's own
        encodings, no calibration), with ``converter`` as the manifest's converter entry.

        ``enable_hta`` adds the HTA subnet records ``quantize --enable-hta`` writes (the
        AIP runtime needs them, and ``quantize`` refuses a container already quantized).
        """
        if not self.quantized:
            return Container(manifest=make_manifest(converter=converter), graph=self.graph)
        from workbench.engine.quant.quantizer import QuantOptions

        weights = [
            self.param_encodings[n] for n in self.codes if self.param_encodings[n].bitwidth < 32
        ]
        options = QuantOptions(
            param_quantizer=SYMMETRIC if weights and all(e.symmetric for e in weights) else TF,
            act_bitwidth=max((e.bitwidth for e in self.encodings.values()), default=8),
            bias_bitwidth=32,
            per_channel=any(isinstance(e, ChannelEncoding) for e in weights),
            rounding=TFLITE_ROUNDING,  # the model's own kernels' arithmetic, to the bit
        )
        quantizer = {
            "command": converter.get("command", ""),
            "options": options.to_dict(),
            "calibration_samples": 0,
            "added_params": {},
            "encodings_from": "tflite",
        }
        records: dict[str, bytes] = {}
        graph = self.quantized_graph()
        if enable_hta:
            from workbench.engine.quant.hta import build_hta_records

            records = build_hta_records(graph, self.encodings, self.param_encodings)
            options = replace(options, enable_hta=True)
        quantizer = {**quantizer, "options": options.to_dict()}
        if self.input_dtypes:
            converter = {**converter, INPUT_DTYPES: dict(self.input_dtypes)}
        manifest = make_manifest(
            converter=converter, quantizer=quantizer, rounding=options.rounding
        )
        return Container(
            manifest=manifest,
            graph=graph,
            encodings={k: e.to_dict() for k, e in self.encodings.items()},
            param_encodings={k: e.to_dict() for k, e in self.param_encodings.items()},
            records=records,
        )


def import_tflite(path: str | Path, input_dims: Mapping[str, Sequence[int]] | None = None) -> Graph:
    """Load ``path`` and return it as a float ``Graph`` ready for planning.

    ``input_dims`` maps input names to full shapes, in the model's own (NHWC) layout; it
    resolves dynamic dimensions and may override declared ones. A quantized model comes
    back with its weights dequantized: ``load_tflite`` keeps its encodings.
    """
    return load_tflite(path, input_dims).graph


def load_tflite(
    path: str | Path, input_dims: Mapping[str, Sequence[int]] | None = None
) -> TfliteImport:
    """Load ``path`` with everything the container needs (see ``TfliteImport``)."""
    path = Path(path)
    model = read_tflite(path)
    names = _base_names(model)
    _refuse_unknown_operators(model, names)
    shapes, changed = _input_shapes(model, names, input_dims or {})
    quantized = is_quantized_model(model)
    b = Builder(model, shapes, quantized, declared_shapes_hold=not changed)
    _convert_all(b, model, names)
    graph = b.finish(path.stem)
    renamed = layout.simplify_transposes(graph)
    for old, new in renamed.items():
        if old in b.act_encs:
            b.act_encs[new] = b.act_encs.pop(old)
    graph.prune()
    graph.toposort()
    graph.validate()
    check_supported(graph.nodes)
    _tidy_tensors(graph)
    graph.state = [
        StateVar(names[read], names[write], _real_value(value), name=var)
        for var, read, write, value in model.state
    ]
    if any(t.dtype == "float16" for t in model.tensors):
        graph.notes.append(
            "float16 tensors converted to float32 (the container computes in float32)"
        )
    if not quantized:
        return TfliteImport(graph)
    live = _float_activations(graph)
    encodings = {k: e for k, e in b.act_encs.items() if k in live}
    integer_inputs = {
        names[t]: model.tensors[t].dtype
        for t in model.inputs
        if model.tensors[t].dtype in ("int8", "uint8") and names[t] in encodings
    }
    return TfliteImport(
        graph=graph,
        quantized=True,
        input_dtypes=integer_inputs,
        encodings=encodings,
        param_encodings={k: e for k, e in b.param_encs.items() if k in graph.params},
        codes={k: c for k, c in b.codes.items() if k in graph.params},
    )


def _real_value(tensor: Tensor) -> np.ndarray:
    """A constant's real value (float32 for a quantized or float16 one)."""
    if quant.is_quantized(tensor.dtype, tensor.quant):
        return quant.dequantize(tensor.data, tensor.quant).astype(np.float32)
    if tensor.dtype == "float16":
        return tensor.data.astype(np.float32)
    return np.array(tensor.data)


def is_quantized_model(model: Model) -> bool:
    """Does any operator (other than QUANTIZE/DEQUANTIZE) compute on quantized activations?"""
    for op in model.operators:
        if op.op_type in _BOUNDARY_OPS:
            continue
        for t in (*op.inputs, *op.outputs):
            tensor = model.tensors[t] if t >= 0 else None
            if (
                tensor is not None
                and not tensor.is_const
                and tensor.dtype in quant.QUANTIZED_TYPES
                and tensor.quant is not None
            ):
                return True
    return False


def _label(op: Operator, names: Mapping[int, str]) -> str:
    out = next((t for t in op.outputs if t >= 0), None)
    return f"op {op.index}" if out is None else f"op {op.index} -> tensor {out} {names[out]!r}"


def _refuse_unknown_operators(model: Model, names: Mapping[int, str]) -> None:
    supported = ops.supported_tflite_ops()
    missing: dict[str, list[str]] = {}
    for op in model.operators:
        if op.op_type not in supported:
            missing.setdefault(op.op_type, []).append(_label(op, names))
    if missing:
        raise UnsupportedOperators(missing)


def _convert_all(b: Builder, model: Model, names: Mapping[int, str]) -> None:
    """Convert every operator; refuse all inconvertible forms together at the end."""
    missing: dict[str, list[str]] = {}
    poisoned: set[int] = set()
    for op in model.operators:
        if any(t in poisoned for t in op.inputs):
            poisoned.update(op.outputs)  # downstream of a refused operator: not reported
            continue
        b.op = op
        for t in (*op.inputs, *op.outputs):
            if t >= 0 and model.tensors[t].sparse:
                missing.setdefault(f"{op.op_type} (sparse tensors)", []).append(_label(op, names))
                poisoned.update(op.outputs)
                break
        else:
            try:
                ops.convert(b, op)
            except Unsupported as exc:
                missing.setdefault(f"{op.op_type} ({exc})", []).append(_label(op, names))
                poisoned.update(op.outputs)
    b.op = None
    if missing:
        raise UnsupportedOperators(missing)
    unwritten = [t for t in model.outputs if t not in b.values and not b.is_const(t)]
    if unwritten:
        raise ModelError(
            f"{model.path}: graph output {names[unwritten[0]]!r} is never written by an operator"
        )


def _input_shapes(
    model: Model, names: Mapping[int, str], input_dims: Mapping[str, Sequence[int]]
) -> tuple[dict[int, tuple[int, ...]], bool]:
    """Each input's shape (``--input-dim`` applied), and whether any differs from the file."""
    by_name = {names[t]: t for t in model.inputs}
    for name in input_dims:
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise BadInput(f"--input-dim {name}: the model has no input {name!r} (inputs: {known})")
    shapes: dict[int, tuple[int, ...]] = {}
    changed = False
    unresolved = []
    for name, t in by_name.items():
        tensor = model.tensors[t]
        if tensor.dtype not in (
            "float32",
            "float16",
            *quant.QUANTIZED_TYPES,
            "int32",
            "int64",
            "bool",
        ):
            raise ModelError(
                f"{model.path}: input {name!r} has type {tensor.dtype}, which the workbench "
                "does not support"
            )
        declared = tensor.shape
        if name in input_dims:
            shape = tuple(int(d) for d in input_dims[name])
            if len(shape) != len(declared):
                raise BadInput(
                    f"--input-dim {name}: the model's input has {len(declared)} dimensions "
                    f"({'x'.join(map(str, declared))}), got {len(shape)}"
                )
            changed |= shape != declared
        else:
            dynamic = [i for i, d in enumerate(tensor.signature or ()) if d < 0 and i > 0]
            if dynamic:
                dims = [d if d > 0 else None for d in tensor.signature or ()]
                unresolved.append(propose(name, dims))
            shape = declared
        shapes[t] = shape
    if unresolved:
        raise BadInput(advice(unresolved))
    return shapes, changed


def _float_activations(graph: Graph) -> set[str]:
    floats = {"float32", "float16", "float64"}
    names = {t.name for t in graph.inputs if t.dtype in floats}
    for n in graph.nodes:
        for o in n.outputs:
            info = graph.tensors.get(o)
            if o and info is not None and info.dtype in floats:
                names.add(o)
    return names


def _tidy_tensors(graph: Graph) -> None:
    live = set(graph.input_names) | set(graph.output_names) | set(graph.params)
    for n in graph.nodes:
        live.update(t for t in (*n.inputs, *n.outputs) if t)
    graph.tensors = {k: v for k, v in graph.tensors.items() if k in live}
    for name, p in graph.params.items():
        graph.tensors[name] = TensorInfo(name, tuple(p.shape), p.dtype.name)
