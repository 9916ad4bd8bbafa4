"""Import an ONNX model into the workbench graph IR (the analogue of snpe-onnx-to-dlc).

``import_onnx`` loads and checks the file (external data only from inside the
model's folder), upgrades models older than opset 7 with ONNX's version converter,
fixes symbolic input dimensions, runs ONNX shape inference, resolves attributes and
parameters to plain Python / numpy, then runs the graph passes in
``workbench.engine.passes`` (constant folding alternating with shape inference on
the folded graph; where ONNX's inference gives up, shapes are read off one run on
placeholder inputs) and refuses, all at once, any operator the engine does not
implement. The result is a float (non-quantized) ``Graph`` whose every output has a
static shape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import onnx
from onnx import (
    AttributeProto,
    GraphProto,
    ModelProto,
    TensorProto,
    helper,
    numpy_helper,
    version_converter,
)

from workbench.engine import passes
from workbench.engine.executor import Plan
from workbench.engine.graph import (
    CAPTURED,
    DTYPES,
    MAX_TENSOR_ELEMENTS,
    Graph,
    Node,
    TensorInfo,
    rename_unique,
)
from workbench.engine.graph_checks import check_attributes
from workbench.engine.input_dims import advice, onnx_metadata, propose
from workbench.engine.limits import activation_bytes
from workbench.engine.onnx_export import onnx_node, opset_imports
from workbench.engine.ops.registry import CONTRIB_DOMAIN, check_supported, is_supported
from workbench.engine.precision import widen_to_float32, widening_note
from workbench.errors import BadInput, ModelError, NotFound, UnsupportedOperators, naming

MIN_OPSET = 7
_DEFAULT_DOMAINS = ("", "ai.onnx")
# Python's protobuf refuses messages above 2 GiB; bigger models are checked by path.
_PROTOBUF_LIMIT = 2**31 - 1
# Initializers up to this many elements go into shape inference with their values
# (shape tensors, Slice starts, Resize scales); bigger ones only as typed inputs.
_INFERENCE_VALUE_LIMIT = 4096
# Shapes are read off a run on zero inputs only when these fit in this many bytes: a
# broken model must not cost minutes (or all memory) before it is refused.
_PLACEHOLDER_RUN_BYTES = 64 << 20


def import_onnx(path: str | Path, input_dims: Mapping[str, Sequence[int]] | None = None) -> Graph:
    """Load ``path`` and return it as a float ``Graph`` ready for planning.

    ``input_dims`` maps input names to full shapes (the CLI's ``--input-dim``); it
    resolves symbolic dimensions and may override declared ones.
    """
    path = Path(path)
    return import_onnx_model(_load_model(path), input_dims, source=path)


def import_onnx_model(
    model: ModelProto,
    input_dims: Mapping[str, Sequence[int]] | None = None,
    *,
    source: str | Path = "model",
) -> Graph:
    """``import_onnx`` for a model already in memory (another importer's output).

    ``source`` names the model in error messages; ``model`` may be modified.
    """
    path = Path(source)
    with naming(path):
        _adopt_contrib_layer_norms(model)
        _check_model(model, path)
        model = upgrade_old_opset(model, path)
        opset = _ai_onnx_opset(model, path)
        if len(model.graph.sparse_initializer) > 0:
            names = ", ".join(s.values.name for s in model.graph.sparse_initializer)
            raise ModelError(f"{path}: sparse initializers are not supported ({names})")
        if len(model.functions) > 0:
            model = _inline_functions(model, path)
        _fix_input_dims(model, input_dims or {})
        _check_input_sizes(model)
        tensors = _infer_tensor_infos(model)
        _check_tensor_sizes(tensors)

        graph, unsupported = _to_graph(model, path, opset, tensors)
        # Before anything runs a node (folding, the placeholder run for shapes): a kernel
        # of size 0 or a stride of -1 would loop or allocate without end.
        check_attributes(graph, str(path))
        widened: set[str] = set()
        widen_to_float32(graph, widened)
        note = widening_note(widened)
        graph = passes.run_all(graph, infer_shapes=_infer_for_folding)
        _check_operators(graph, unsupported)
        _refresh_tensor_infos(graph)
        if note:
            graph.notes.append(note)
    return graph


# -- loading ----------------------------------------------------------------------


def _load_model(path: Path) -> ModelProto:
    if not path.exists():
        raise NotFound(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"{path}: not a valid ONNX model: not a regular file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: not a valid ONNX model: the file is empty")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, RuntimeWarning, ... all mean the same
        raise ModelError(f"{path}: not a valid ONNX model: {_first_line(exc)}") from exc
    if not model.HasField("graph"):
        raise ModelError(f"{path}: not a valid ONNX model: it has no graph")
    _load_external_data(model, path)
    return model


def _adopt_contrib_layer_norms(model: ModelProto) -> None:
    """LayerNormalization in a model older than opset 17: ONNX Runtime's own operator
    (its transformer optimizer writes it so), moved to its ``com.microsoft`` domain."""
    if not _has_ai_onnx(model) or _ai_onnx_opset(model, "model") >= 17:
        return
    moved = False
    for node in _nodes_everywhere(model.graph.node):
        if node.op_type == "LayerNormalization" and node.domain in _DEFAULT_DOMAINS:
            node.domain = CONTRIB_DOMAIN
            moved = True
    if moved and not any(o.domain == CONTRIB_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(CONTRIB_DOMAIN, 1))


def _has_ai_onnx(model: ModelProto) -> bool:
    return any(o.domain in _DEFAULT_DOMAINS for o in model.opset_import)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _tensors_in_graph(g: GraphProto) -> Iterator[TensorProto]:
    yield from g.initializer
    for sparse in g.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    yield from _tensors_in_nodes(g.node)


def _tensors_in_nodes(nodes: Sequence[onnx.NodeProto]) -> Iterator[TensorProto]:
    for node in nodes:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("sparse_tensor"):
                yield a.sparse_tensor.values
                yield a.sparse_tensor.indices
            if a.HasField("g"):
                yield from _tensors_in_graph(a.g)
            for sub in a.graphs:
                yield from _tensors_in_graph(sub)


def _all_tensors(model: ModelProto) -> Iterator[TensorProto]:
    yield from _tensors_in_graph(model.graph)
    for fn in model.functions:
        yield from _tensors_in_nodes(fn.node)


def _load_external_data(model: ModelProto, path: Path) -> None:
    """Read every external tensor ourselves, after checking it stays in the model's folder."""
    root = path.parent.resolve()
    for tensor in _all_tensors(model):
        if tensor.data_location == TensorProto.EXTERNAL:
            _read_external_tensor(tensor, root, path)


def _read_external_tensor(tensor: TensorProto, root: Path, path: Path) -> None:
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    what = f"{path}: tensor {tensor.name or '<unnamed>'!r} has external data"
    if not location:
        raise ModelError(f"{what} without a location")
    if "\x00" in location:
        raise ModelError(f"{what} at a location with a NUL byte; refused")
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or location[0] in "/\\":
        raise ModelError(f"{what} at an absolute location ({location}); refused")
    if ".." in re.split(r"[\\/]", location):
        raise ModelError(f"{what} outside the model's folder ({location}); refused")
    target = (root / location).resolve()
    if not target.is_relative_to(root):
        raise ModelError(
            f"{what} in {location}, which resolves outside the model's folder; refused"
        )
    if not target.exists():
        raise ModelError(f"{what} in {location}, which does not exist")
    if not target.is_file():
        raise ModelError(f"{what} in {location}, which is not a regular file; refused")
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError as exc:
        raise ModelError(f"{what} with a malformed offset or length") from exc
    size = target.stat().st_size
    end = size if length is None else offset + length
    if offset < 0 or (length is not None and length < 0) or end > size:
        raise ModelError(f"{what} beyond the end of {location} ({size} bytes)")
    with open(target, "rb") as f:
        f.seek(offset)
        data = f.read(end - offset)
    tensor.raw_data = data
    del tensor.external_data[:]
    tensor.data_location = TensorProto.DEFAULT


def _check_model(model: ModelProto, path: Path) -> None:
    # Full checking (strict shape inference) only works once symbolic dimensions
    # are fixed; ``_infer_tensor_infos`` does that part.
    target: ModelProto | str = model if model.ByteSize() < _PROTOBUF_LIMIT else str(path)
    try:
        onnx.checker.check_model(target)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ModelError(f"{path}: invalid ONNX model: {_first_line(exc)}") from exc


def _ai_onnx_opset(model: ModelProto, path: Path | str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS]
    if not versions:
        raise ModelError(f"{path}: the model does not import the ai.onnx operator set")
    return max(versions)


def upgrade_old_opset(model: ModelProto, path: Path | str = "model") -> ModelProto:
    """``model`` itself if it uses ai.onnx opset 7 or later, else a copy upgraded to 7.

    Opset 7 brought numpy broadcasting; older semantics (``broadcast``/``axis``
    attributes, ``consumed_inputs``) are what ``onnx.version_converter`` rewrites.
    """
    opset = _ai_onnx_opset(model, path)
    if opset >= MIN_OPSET:
        return model
    try:
        model = _align_axis_broadcasts(model)
        upgraded = version_converter.convert_version(model, MIN_OPSET)
        _channelwise_prelu_slopes(upgraded)
    except Exception as exc:  # the converter raises plain RuntimeErrors, among others
        raise ModelError(
            f"{path}: the model uses ai.onnx opset {opset}, and upgrading it to opset "
            f"{MIN_OPSET} (the oldest the workbench reads) failed: {_first_line(exc)}"
        ) from exc
    return upgraded


# Opset 1-6 operators whose ``broadcast=1`` aligns input B at ``axis`` of input A.
_AXIS_BROADCAST_OPS = frozenset(
    {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less"}
)


def _ranks(model: ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*g.input, *g.value_info, *g.output]
        if v.type.tensor_type.HasField("shape")
    }
    ranks.update({t.name: len(t.dims) for t in model.graph.initializer})
    return ranks


def _align_axis_broadcasts(model: ModelProto) -> ModelProto:
    """Rewrite opset-6 ``broadcast=1, axis=k`` as trailing-aligned (numpy) broadcasting.

    The version converter's adapter appends ``rank(A) - rank(B)`` unit dimensions to B
    whatever the axis, which is only right for ``axis = 0``: Caffe2's per-channel bias
    (``axis=1`` on NCHW) would silently broadcast to the wrong shape. B gets exactly the
    ``rank(A) - axis - rank(B)`` trailing ones it needs, and the axis goes.
    """
    nodes = [
        n
        for n in model.graph.node
        if n.op_type in _AXIS_BROADCAST_OPS
        and n.domain in _DEFAULT_DOMAINS
        and any(a.name == "axis" for a in n.attribute)
    ]
    if not nodes:
        return model
    model = ModelProto.FromString(model.SerializeToString())
    ranks = _ranks(model)
    inits = {t.name: t for t in model.graph.initializer}
    listed = {v.name: v for v in model.graph.input}
    taken = {t for n in model.graph.node for t in (*n.input, *n.output)} | set(inits)
    rewritten = []
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type not in _AXIS_BROADCAST_OPS or "axis" not in attrs or len(node.input) < 2:
            rewritten.append(node)
            continue
        a_name, b_name = node.input[0], node.input[1]
        if a_name not in ranks or b_name not in ranks:
            raise ModelError(f"cannot tell the ranks of {node.op_type} node {node.name!r}'s inputs")
        axis = attrs["axis"].i % max(ranks[a_name], 1)
        trailing = ranks[a_name] - axis - ranks[b_name]
        if trailing > 0 and helper.get_attribute_value(attrs.get("broadcast", _NO_BROADCAST)):
            aligned = rename_unique(taken, f"{b_name}_aligned")
            taken.add(aligned)
            axes = list(range(ranks[b_name], ranks[b_name] + trailing))
            if b_name in inits:
                value = numpy_helper.to_array(inits[b_name])
                value = value.reshape(value.shape + (1,) * trailing)
                model.graph.initializer.append(numpy_helper.from_array(value, aligned))
                if b_name in listed:  # ir_version 3 lists initializers as inputs
                    model.graph.input.append(
                        helper.make_tensor_value_info(
                            aligned, inits[b_name].data_type, list(value.shape)
                        )
                    )
            else:
                rewritten.append(helper.make_node("Unsqueeze", [b_name], [aligned], axes=axes))
            node.input[1] = aligned
        kept = [a for a in node.attribute if a.name != "axis"]
        del node.attribute[:]
        node.attribute.extend(kept)
        rewritten.append(node)
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    return model


_NO_BROADCAST = helper.make_attribute("broadcast", 0)


def _channelwise_prelu_slopes(model: ModelProto) -> None:
    """The PRelu 6→7 adapter the version converter lacks.

    PRelu-6 applied a ``[C]`` slope per channel (PyTorch's export relies on it);
    PRelu-7 broadcasts numpy-style, so the slope must become ``[C, 1, ..., 1]``.
    """
    ranks = _ranks(model)
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "PRelu" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        slope, rank = inits[node.input[1]], ranks.get(node.input[0], 0)
        if len(slope.dims) == 1 and slope.dims[0] > 1 and rank > 2:
            value = numpy_helper.to_array(slope).reshape((-1,) + (1,) * (rank - 2))
            slope.CopyFrom(numpy_helper.from_array(value, slope.name))
            for v in model.graph.input:  # ir_version 3 lists initializers as inputs
                if v.name == slope.name:
                    v.CopyFrom(helper.make_tensor_value_info(v.name, slope.data_type, value.shape))


def _inline_functions(model: ModelProto, path: Path) -> ModelProto:
    import onnx.inliner

    try:
        return onnx.inliner.inline_local_functions(model)
    except Exception as exc:
        raise ModelError(
            f"{path}: cannot inline the model's local functions: {_first_line(exc)}"
        ) from exc


# -- inputs and shapes -------------------------------------------------------------


def _initializer_names(model: ModelProto) -> set[str]:
    return {t.name for t in model.graph.initializer} | {
        s.values.name for s in model.graph.sparse_initializer
    }


def _model_inputs(model: ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are real inputs (old models also list their initializers)."""
    params = _initializer_names(model)
    return [v for v in model.graph.input if v.name not in params]


def _dims_text(value: onnx.ValueInfoProto) -> list[str]:
    return [
        str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
        for d in value.type.tensor_type.shape.dim
    ]


def _fix_input_dims(model: ModelProto, input_dims: Mapping[str, Sequence[int]]) -> None:
    """Apply ``--input-dim`` values and insist every input dimension is then known."""
    inputs = _model_inputs(model)
    by_name = {v.name: v for v in inputs}
    params = _initializer_names(model)
    for name in input_dims:
        if name in params:
            raise BadInput(f"--input-dim {name}: {name!r} is a parameter, not a model input")
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise BadInput(f"--input-dim {name}: the model has no input {name!r} (inputs: {known})")

    # A symbolic dimension a given input fixes is fixed in every input that shares it
    # (input_ids [batch, seq] given: attention_mask [batch, seq] follows).
    symbols: dict[str, int] = {}
    for value in inputs:
        if not value.type.HasField("tensor_type"):
            raise ModelError(
                f"input {value.name!r} is not a tensor; only tensor inputs are supported"
            )
        tensor_type = value.type.tensor_type
        declared = tensor_type.shape.dim if tensor_type.HasField("shape") else None
        if value.name in input_dims:
            dims = _parse_dims(value.name, input_dims[value.name])
            if declared is not None and len(declared) != len(dims):
                raise BadInput(
                    f"--input-dim {value.name}: {len(dims)} dimensions given, but the input "
                    f"has rank {len(declared)} (shape [{', '.join(_dims_text(value))}])"
                )
            if declared is not None:
                for d, n in zip(declared, dims, strict=True):
                    if d.dim_param:
                        symbols.setdefault(d.dim_param, n)
            tensor_type.shape.ClearField("dim")
            for d in dims:
                tensor_type.shape.dim.add().dim_value = d
    unresolved = []
    metadata = onnx_metadata(model.metadata_props)
    batch_symbols = frozenset(
        v.type.tensor_type.shape.dim[0].dim_param
        for v in inputs
        if v.type.tensor_type.HasField("shape")
        and len(v.type.tensor_type.shape.dim) > 1
        and v.type.tensor_type.shape.dim[0].dim_param
    )
    for value in inputs:
        if value.name in input_dims:
            continue
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            unresolved.append(propose(value.name, [None], metadata))
            continue
        for d in tensor_type.shape.dim:
            if not d.HasField("dim_value") and d.dim_param in symbols:
                d.dim_value = symbols[d.dim_param]
        dims = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
            for d in tensor_type.shape.dim
        ]
        if not all(isinstance(d, int) for d in dims):
            unresolved.append(propose(value.name, dims, metadata, batch_symbols))
    if unresolved:
        raise BadInput(advice(unresolved))


def _check_input_sizes(model: ModelProto) -> None:
    for value in _model_inputs(model):
        dims = [int(d.dim_value) for d in value.type.tensor_type.shape.dim]
        if math.prod(dims) > MAX_TENSOR_ELEMENTS:
            raise ModelError(
                f"input {value.name!r} has shape {dims}, more than the {MAX_TENSOR_ELEMENTS} "
                "elements a tensor may have; fix it with --input-dim"
            )


def _check_tensor_sizes(tensors: Mapping[str, TensorInfo]) -> None:
    """Refuse absurd inferred shapes before anything (constant folding) allocates them."""
    for info in tensors.values():
        if math.prod(info.shape) > MAX_TENSOR_ELEMENTS:
            raise ModelError(
                f"tensor {info.name!r} would have shape {list(info.shape)}, more than the "
                f"{MAX_TENSOR_ELEMENTS} elements a tensor may have"
            )


def _parse_dims(name: str, dims: Sequence[int]) -> list[int]:
    try:
        result = [int(d) for d in dims]
    except (TypeError, ValueError) as exc:
        raise BadInput(f"--input-dim {name}: dimensions must be integers") from exc
    if not result or any(d <= 0 for d in result):
        raise BadInput(f"--input-dim {name}: dimensions must be positive integers, got {result}")
    return result


def _np_dtype_name(elem_type: int) -> str | None:
    try:
        name = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        return None
    return name if name in DTYPES or name == "bfloat16" else None  # bfloat16: widened later


def _tensor_info(value: onnx.ValueInfoProto) -> TensorInfo | None:
    """The static info of a typed value, or None if its type or any dimension is unknown."""
    if not value.type.HasField("tensor_type"):
        return None
    tt = value.type.tensor_type
    dtype = _np_dtype_name(tt.elem_type)
    if dtype is None or not tt.HasField("shape"):
        return None
    if not all(d.HasField("dim_value") for d in tt.shape.dim):
        return None
    return TensorInfo(value.name, tuple(int(d.dim_value) for d in tt.shape.dim), dtype)


def _infer(skeleton: ModelProto) -> ModelProto:
    data_prop = _data_prop_is_safe(skeleton)
    try:
        return onnx.shape_inference.infer_shapes(
            skeleton, check_type=True, strict_mode=True, data_prop=data_prop
        )
    except Exception:  # InferenceError, mostly; anything strict dislikes
        pass
    # Strict inference trips over some valid exported models (conflicting stale
    # annotations); the lenient pass still yields every shape it can.
    try:
        return onnx.shape_inference.infer_shapes(skeleton, data_prop=data_prop)
    except Exception as exc:
        raise ModelError(f"ONNX shape inference failed: {_first_line(exc)}") from exc


# ONNX's data propagation computes the values of 1-D tensors that may be shapes,
# including all a generator (ConstantOfShape, Expand, Tile, Range) makes: a model of a
# few hundred bytes can ask it for gigabytes (it dies of std::bad_alloc, or the OOM
# killer ends the process). It runs only when plain inference shows those outputs small.
_DATA_PROP_OPS = frozenset({"ConstantOfShape", "Expand", "Tile", "Range"})
_DATA_PROP_ELEMENTS = 1 << 16


def _nodes_everywhere(nodes: Sequence[onnx.NodeProto]) -> Iterator[onnx.NodeProto]:
    for node in nodes:
        yield node
        for a in node.attribute:
            for sub in [a.g] if a.HasField("g") else list(a.graphs):
                yield from _nodes_everywhere(sub.node)


def _data_prop_is_safe(model: ModelProto) -> bool:
    risky = [
        n
        for n in _nodes_everywhere(model.graph.node)
        if n.op_type in _DATA_PROP_OPS and n.domain in _DEFAULT_DOMAINS
    ]
    if not risky:
        return True
    try:
        plain = onnx.shape_inference.infer_shapes(model)
    except Exception:  # whatever fails here fails below too, and says so there
        return False
    infos = {v.name: _tensor_info(v) for v in [*plain.graph.value_info, *plain.graph.output]}
    for node in risky:
        info = infos.get(node.output[0]) if len(node.output) else None
        if info is None or math.prod(info.shape) > _DATA_PROP_ELEMENTS:
            return False
    return True


def _skeleton(model: ModelProto) -> ModelProto:
    """The model without big initializer data and stale annotations, for shape inference."""
    g = model.graph
    inputs = list(g.input)
    listed = {v.name for v in inputs}
    small = []
    for init in g.initializer:
        n_elements = math.prod(init.dims)
        if n_elements <= _INFERENCE_VALUE_LIMIT:
            small.append(init)
        elif init.name not in listed:
            inputs.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    outputs = []
    for out in g.output:
        # Declared output shapes may predate --input-dim; keep only the type.
        elem = out.type.tensor_type.elem_type if out.type.HasField("tensor_type") else 0
        outputs.append(helper.make_tensor_value_info(out.name, elem, None) if elem else out)
    graph = helper.make_graph(
        list(g.node), g.name, inputs, outputs, initializer=small, sparse_initializer=[]
    )
    skeleton = helper.make_model(graph, opset_imports=list(model.opset_import))
    skeleton.ir_version = model.ir_version
    return skeleton


def _infer_tensor_infos(model: ModelProto) -> dict[str, TensorInfo]:
    inferred = _infer(_skeleton(model))
    g = inferred.graph
    infos: dict[str, TensorInfo] = {}
    for value in [*g.input, *g.value_info, *g.output]:
        info = _tensor_info(value)
        if info is not None:
            infos[value.name] = info
    for name in _initializer_names(model):
        infos.pop(name, None)  # parameters describe themselves
    # Inside If/Loop/Scan bodies (ONNX names are unique across scopes): what inference
    # knows there, with -1 for the dimensions that vary (loop-carried values).
    for node in _nodes_everywhere(g.node):
        for a in node.attribute:
            for sub in [a.g] if a.HasField("g") else list(a.graphs):
                for value in [*sub.input, *sub.value_info, *sub.output]:
                    info = _body_tensor_info(value)
                    if info is not None and value.name not in infos:
                        infos[value.name] = info
    return infos


def _body_tensor_info(value: onnx.ValueInfoProto) -> TensorInfo | None:
    """A body tensor's dtype and shape, -1 for an unknown dimension (``TensorInfo.static``)."""
    if not value.type.HasField("tensor_type"):
        return None
    tt = value.type.tensor_type
    dtype = _np_dtype_name(tt.elem_type)
    if dtype is None:
        return None
    if not tt.HasField("shape"):
        return TensorInfo(value.name, (-1,), dtype)
    dims = tuple(int(d.dim_value) if d.HasField("dim_value") else -1 for d in tt.shape.dim)
    return TensorInfo(value.name, dims, dtype)


# -- conversion to the IR ----------------------------------------------------------


class _Unconvertible(Exception):
    """An attribute we cannot represent (subgraphs, sparse tensors, type protos)."""


def _attr_value(a: AttributeProto) -> Any:
    kind = a.type
    if kind == AttributeProto.INT:
        return int(a.i)
    if kind == AttributeProto.FLOAT:
        return float(a.f)
    if kind == AttributeProto.STRING:
        return a.s.decode("utf-8", errors="replace")
    if kind == AttributeProto.TENSOR:
        return _to_array(a.t)
    if kind == AttributeProto.INTS:
        return [int(v) for v in a.ints]
    if kind == AttributeProto.FLOATS:
        return [float(v) for v in a.floats]
    if kind == AttributeProto.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in a.strings]
    raise _Unconvertible(_enum_name(AttributeProto.AttributeType, kind))


def _enum_name(enum: Any, value: int) -> str:
    """The protobuf enum name of ``value``, or the number when a file holds an unknown one."""
    try:
        return enum.Name(value)
    except ValueError:
        return f"<unknown {value}>"


def _to_array(tensor: TensorProto) -> np.ndarray:
    try:
        array = numpy_helper.to_array(tensor)
    except Exception as exc:
        raise ModelError(f"tensor {tensor.name!r} cannot be read: {_first_line(exc)}") from exc
    if array.dtype.name not in DTYPES and array.dtype.name != "bfloat16":  # widened later
        raise ModelError(
            f"tensor {tensor.name!r} has type {_enum_name(TensorProto.DataType, tensor.data_type)}, "
            "which the workbench does not support"
        )
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return array if array.flags.c_contiguous else array.copy()


def _constant_value(node: onnx.NodeProto) -> np.ndarray:
    """The value of a ``Constant`` node."""
    if len(node.attribute) != 1:
        raise ModelError(f"Constant node {node.name!r} must have exactly one value attribute")
    a = node.attribute[0]
    if a.name == "value" and a.type == AttributeProto.TENSOR:
        return _to_array(a.t)
    if a.name == "value_float":
        return np.array(a.f, dtype=np.float32)
    if a.name == "value_floats":
        return np.array(list(a.floats), dtype=np.float32)
    if a.name == "value_int":
        return np.array(a.i, dtype=np.int64)
    if a.name == "value_ints":
        return np.array(list(a.ints), dtype=np.int64)
    raise ModelError(f"Constant node {node.name!r}: attribute {a.name!r} is not supported")


def _node_names(nodes: Sequence[onnx.NodeProto]) -> list[str]:
    """A unique, non-empty name per node; ``<op_type>_<index>`` where ONNX gave none."""
    taken = {n.name for n in nodes if n.name}
    used: set[str] = set()
    names = []
    for idx, n in enumerate(nodes):
        if n.name and n.name not in used:
            name = n.name
        else:
            name = rename_unique(taken | used, n.name or f"{n.op_type}_{idx}")
        used.add(name)
        names.append(name)
    return names


def _to_graph(
    model: ModelProto, path: Path, opset: int, tensors: dict[str, TensorInfo]
) -> tuple[Graph, dict[str, list[str]]]:
    """The IR graph, plus nodes that cannot be represented (op type -> node names)."""
    g = model.graph
    params: dict[str, np.ndarray] = {t.name: _to_array(t) for t in g.initializer}
    unsupported: dict[str, list[str]] = {}
    scope = _Scope(tensors, opset, unsupported)
    nodes = scope.nodes(g.node, params)

    declared_types = {v.name: v.type.tensor_type.elem_type for v in g.output}
    inputs = [_input_info(v) for v in _model_inputs(model)]
    outputs = []
    for out in g.output:
        info = tensors.get(out.name)
        dtype = _np_dtype_name(declared_types.get(out.name, 0)) or (info.dtype if info else None)
        if dtype is None:
            raise ModelError(f"output {out.name!r} has a type the workbench does not support")
        outputs.append(TensorInfo(out.name, info.shape if info else (), dtype))
    graph = Graph(
        name=g.name or path.stem,
        inputs=inputs,
        outputs=outputs,
        nodes=nodes,
        params=params,
        tensors=dict(tensors),
        opset=opset,
    )
    return graph, unsupported


class _Scope:
    """Converts node lists, recursing into If/Loop/Scan bodies (closed over captures)."""

    def __init__(
        self, tensors: Mapping[str, TensorInfo], opset: int, unsupported: dict[str, list[str]]
    ):
        self.tensors = tensors
        self.opset = opset
        self.unsupported = unsupported

    def nodes(self, protos: Sequence[onnx.NodeProto], params: dict[str, np.ndarray]) -> list[Node]:
        """IR nodes of ``protos``; Constant nodes become ``params`` entries."""
        nodes: list[Node] = []
        for name, proto in zip(_node_names(protos), protos, strict=True):
            domain = "" if proto.domain in _DEFAULT_DOMAINS else proto.domain
            if proto.op_type == "Constant" and not domain:
                params[proto.output[0]] = _constant_value(proto)
                continue
            attrs: dict[str, Any] = {}
            bodies: dict[str, tuple[Graph, list[str]]] = {}
            for a in proto.attribute:
                if a.type == AttributeProto.GRAPH:
                    bodies[a.name] = self.body(a.g, params)
                    continue
                try:
                    attrs[a.name] = _attr_value(a)
                except _Unconvertible:
                    # Sparse tensors, type protos, lists of graphs: reported with the
                    # other unsupported operators, unless folding removes the node.
                    key = proto.op_type if not domain else f"{domain}.{proto.op_type}"
                    reported = self.unsupported.setdefault(key, [])
                    if name not in reported:
                        reported.append(name)
            inputs = tuple(proto.input)
            if bodies:
                captured = list(dict.fromkeys(t for _, free in bodies.values() for t in free))
                for key, (body, _) in bodies.items():
                    body.inputs += [self.capture_info(t, params) for t in captured]
                    attrs[key] = body
                if captured:
                    attrs[CAPTURED] = len(captured)
                inputs += tuple(captured)
            nodes.append(Node(name, proto.op_type, inputs, tuple(proto.output), attrs, domain))
        return nodes

    def capture_info(self, name: str, params: Mapping[str, np.ndarray]) -> TensorInfo:
        if name in params:
            p = params[name]
            return TensorInfo(name, tuple(p.shape), p.dtype.name)
        info = self.tensors.get(name)
        return info if info is not None else TensorInfo(name, (-1,), "float32")

    def body(self, g: GraphProto, outer: Mapping[str, np.ndarray]) -> tuple[Graph, list[str]]:
        """A body as a closed ``Graph`` (formal inputs only, so far) and the outer tensors
        it reads, in order of first use."""
        params: dict[str, np.ndarray] = {t.name: _to_array(t) for t in g.initializer}
        if len(g.sparse_initializer) > 0:
            raise ModelError(f"body {g.name!r}: sparse initializers are not supported")
        nodes = self.nodes(g.node, params)
        inputs = []
        for v in g.input:
            info = _body_tensor_info(v) or self.tensors.get(v.name)
            if info is None:
                raise ModelError(f"body {g.name!r}: input {v.name!r} has an unsupported type")
            inputs.append(info)
        defined = {t.name for t in inputs} | set(params)
        free: list[str] = []
        for n in nodes:
            for i in n.inputs:
                if i and i not in defined and i not in free:
                    free.append(i)
            defined.update(o for o in n.outputs if o)
        for o in g.output:
            if o.name not in defined and o.name not in free:
                free.append(o.name)
        outputs = [
            self.tensors.get(o.name) or _body_tensor_info(o) or TensorInfo(o.name, (-1,))
            for o in g.output
        ]
        names = {t for n in nodes for t in (*n.inputs, *n.outputs)} | {t.name for t in inputs}
        tensors = {k: self.tensors[k] for k in names if k in self.tensors and k not in params}
        graph = Graph(
            name=g.name or "body",
            inputs=inputs,
            outputs=outputs,
            nodes=nodes,
            params=params,
            tensors=tensors,
            opset=self.opset,
        )
        return graph, free


def _input_info(value: onnx.ValueInfoProto) -> TensorInfo:
    info = _tensor_info(value)
    if info is None:
        elem = value.type.tensor_type.elem_type
        raise ModelError(
            f"input {value.name!r} has type {_enum_name(TensorProto.DataType, elem)}, "
            "which the workbench does not support"
        )
    return info


def _check_operators(graph: Graph, unrepresentable: dict[str, list[str]]) -> None:
    """Refuse every unsupported operator at once (after folding, so folded ops don't count)."""
    live = {n.name for n in graph.nodes}
    missing = {op: [n for n in names if n in live] for op, names in unrepresentable.items()}
    missing = {op: names for op, names in missing.items() if names}
    try:
        check_supported(graph.nodes)
    except UnsupportedOperators as exc:
        for op, names in exc.missing.items():
            for n in names:
                if n not in missing.get(op, []):
                    missing.setdefault(op, []).append(n)
    if missing:
        raise UnsupportedOperators(missing)


# -- final tensor infos ------------------------------------------------------------


def _refresh_tensor_infos(graph: Graph) -> None:
    """Keep infos of live tensors, describe parameters, and re-infer what folding revealed."""
    live = set(graph.input_names) | set(graph.output_names) | set(graph.params)
    for n in graph.nodes:
        live.update(t for t in (*n.inputs, *n.outputs) if t)
    tensors = {k: v for k, v in graph.tensors.items() if k in live and k not in graph.params}
    for name, p in graph.params.items():
        tensors[name] = TensorInfo(name, tuple(p.shape), p.dtype.name)
    graph.tensors = tensors

    wanted = {o for n in graph.nodes for o in n.outputs if o and o not in tensors}
    wanted |= {o for o in graph.output_names if o not in tensors}
    if wanted:
        for name, info in _infer_ir_graph(graph).items():
            if name in live:
                tensors.setdefault(name, info)
        wanted -= tensors.keys()
    if wanted:
        tensors.update(_infer_by_running(graph, wanted))
        wanted -= tensors.keys()
    if wanted:
        tensors.update(passes.branch_output_infos(graph, wanted))

    outputs = []
    for out in graph.outputs:
        info = tensors.get(out.name)
        if info is None:
            raise ModelError(
                f"output {out.name!r} has no static shape (it depends on input values); "
                "the workbench needs static output shapes"
            )
        outputs.append(TensorInfo(out.name, info.shape, info.dtype))
    graph.outputs = outputs


def _infer_for_folding(graph: Graph) -> dict[str, TensorInfo]:
    """Tensor infos for another round of folding: ONNX shape inference on the folded
    graph, and a placeholder run for Shape/Size inputs that inference leaves unknown."""
    infos = _infer_ir_graph(graph)
    known = infos.keys() | graph.tensors.keys() | graph.params.keys()
    unknown = {
        n.inputs[0]
        for n in graph.nodes
        if n.op_type in ("Shape", "Size") and not n.domain and n.inputs and n.inputs[0] not in known
    }
    if unknown:
        infos.update(_infer_by_running(graph, unknown))
    return infos


# Inputs whose *values* set an operator's output shape (by position).
_SHAPE_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "Slice": (1, 2, 3, 4),
    "Range": (0, 1, 2),
    "ConstantOfShape": (0,),
    "OneHot": (1,),
    "Pad": (1, 3),
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "Split": (1,),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "TopK": (1,),
    "CenterCropPad": (1, 2),
    "Col2Im": (1, 2),
    "MaxUnpool": (2,),
    "DFT": (1, 2),
}
_SHAPE_INPUTS.update(
    {
        op: (1,)
        for op in (
            "ReduceSum",
            "ReduceMean",
            "ReduceMax",
            "ReduceMin",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceLogSum",
            "ReduceLogSumExp",
            "ReduceSumSquare",
        )
    }
)
# Operators whose output shape depends on the values of their data input.
_VALUE_SHAPED_OPS = frozenset({"NonZero", "Unique", "Compress", "NonMaxSuppression"})


def _value_shaped(graph: Graph) -> set[str]:
    """Tensors whose shape may depend on input values (conservatively, and downstream)."""
    shaped: set[str] = set()
    for n in graph.nodes:
        dynamic_shape_input = any(
            i < len(n.inputs) and n.inputs[i] and n.inputs[i] not in graph.params
            for i in _SHAPE_INPUTS.get(n.op_type, ())
        )
        if (
            (n.domain and not is_supported(n))
            or n.op_type in _VALUE_SHAPED_OPS
            or dynamic_shape_input
            or any(i in shaped for i in n.inputs)
        ):
            shaped.update(o for o in n.outputs if o)
    return shaped


def _infer_by_running(graph: Graph, wanted: set[str]) -> dict[str, TensorInfo]:
    """Infos of ``wanted`` tensors read off one run of the graph on zero-filled inputs.

    The fallback where ONNX shape inference gives up (function operators such as
    MeanVarianceNormalization, chains it does not follow). Inputs are fixed in shape,
    so a tensor's shape is the same on every run unless it depends on input values;
    such tensors are left out.
    """
    targets = wanted - _value_shaped(graph)
    if not targets:
        return {}
    found: dict[str, TensorInfo] = {}

    def record(name: str, value: np.ndarray) -> None:
        if name in targets:
            array = np.asarray(value)
            if array.dtype.name in DTYPES:
                found[name] = TensorInfo(name, tuple(array.shape), array.dtype.name)

    if sum(t.size * np.dtype(t.dtype).itemsize for t in graph.inputs) > _PLACEHOLDER_RUN_BYTES:
        return {}
    if any(
        (passes.generated_elements(graph, n) or 0) > passes.FOLD_GENERATED_ELEMENTS
        for n in graph.nodes
    ):
        return {}  # a generator too big to fold is too big to run for shapes
    if activation_bytes(graph) > _PLACEHOLDER_RUN_BYTES:
        return {}  # the shapes known already say this run would hold too much
    try:
        feeds = {t.name: np.zeros(t.shape, t.dtype) for t in graph.inputs}
        Plan(graph).run(feeds, hook=record)
    except Exception:  # unsupported or failing kernels: only ONNX's inference counts
        return {}
    return found


def _infer_ir_graph(graph: Graph) -> dict[str, TensorInfo]:
    """Run ONNX shape inference on the folded IR graph (constant shapes are now known)."""
    try:
        onnx_nodes = [onnx_node(n) for n in graph.nodes]
    except ModelError:
        return {}
    inputs = [
        helper.make_tensor_value_info(
            t.name, helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype)), t.shape
        )
        for t in graph.inputs
    ]
    inits = []
    for name, p in graph.params.items():
        if p.size <= _INFERENCE_VALUE_LIMIT:
            inits.append(numpy_helper.from_array(p, name))
        else:
            inputs.append(
                helper.make_tensor_value_info(
                    name, helper.np_dtype_to_tensor_dtype(p.dtype), p.shape
                )
            )
    outputs = [onnx.ValueInfoProto(name=o) for o in graph.output_names]
    g = helper.make_graph(onnx_nodes, graph.name, inputs, outputs, initializer=inits)
    model = helper.make_model(g, opset_imports=opset_imports(graph))
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=_data_prop_is_safe(model))
    except Exception:
        return {}
    infos = {}
    for value in [*inferred.graph.value_info, *inferred.graph.output]:
        info = _tensor_info(value)
        if info is not None:
            infos[value.name] = info
    return infos
