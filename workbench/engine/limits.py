"""Will it fit? The memory a job needs for a model, checked before the model is loaded.

A model bigger than memory does not fail cleanly: the kernel's OOM killer ends the
process without a word and its run stays ``running`` until the next start-up sweep.
So a job first estimates what loading needs from what the file *declares* (tensor
dims and dtypes; no data is read) and refuses with the sizes when it cannot fit::

    model.onnx needs ~12.0 GiB of memory to convert (3x its 4.0 GiB of parameters);
    only 2.1 GiB available

Parameters are not all: a 2 KB model whose graph makes ``ConstantOfShape([3e9])`` has
no parameters and needs 36 GB to run. So the jobs that execute a graph add its planned
activations (``activation_bytes``: the tensors alive at once, from the shapes the
container declares, walking the nodes in order as the executor frees them), times the
batch, plus what the job keeps (every tensor under ``--debug`` or the quantizer's
analysis; bench's samples and reference outputs)::

    big.dlc needs ~33.5 GiB of memory to run (2x its 8 B of parameters, and 33.5 GiB
    of activations); only 21.0 GiB available

``check_fits`` is the pure rule; ``onnx_parameter_bytes`` reads an ONNX file's declared
sizes by walking the protobuf wire format over a memory map, skipping tensor data, so
an absurd declaration (2**40 elements, or external data larger than memory) costs
nothing to refuse; ``available_memory`` (``memory.py``) asks psutil, cgroups and rlimits.
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from workbench.engine.memory import available_memory as available_memory  # the jobs' import
from workbench.errors import WorkbenchError
from workbench.vocabulary import format_bytes as _format_bytes

if TYPE_CHECKING:
    from workbench.engine.container import Container
    from workbench.engine.graph import Graph, TensorInfo

# How many times its parameters' in-memory size a job holds at its peak, rounded down
# from measured peak RSS (a 256 MiB float model: convert 3.1x, quantize 4x, run/bench
# 2.4-3.7x): what is refused could not have run; what passes may still be tight.
LOAD_FACTOR = {"convert": 3, "quantize": 3, "run": 2, "bench": 2, "export": 3, "inspect": 1}
# A TensorFlow model converts through TensorFlow and tf2onnx, which hold many copies of
# every weight at once (the loaded variables, the frozen graph, grappler's rewrite, the
# ONNX proto): peak RSS over TensorFlow's own was 53-55x the declared variables of
# SavedModels of 16 and 64 MiB, 43x on MobileNetV2's export (27 MiB declared: Keras
# writes each weight twice), 65x its .keras file's 14 MiB; rounded down.
TENSORFLOW_CONVERT_FACTOR = 40


class TooLargeForMemory(WorkbenchError):
    """A model or container needs more memory than this machine (or process) has."""


def check_fits(
    what: str,
    parameter_bytes: int,
    available: int | None,
    job: str,
    activations: int = 0,
    *,
    factor: int | None = None,
) -> None:
    """Raise ``TooLargeForMemory`` when ``job`` on ``what`` cannot fit in ``available`` bytes.

    ``parameter_bytes`` is the parameters' in-memory size, ``activations`` what the job's
    inferences and kept results add (``activation_bytes``); ``available`` None means
    unknown (nothing is refused). ``factor`` overrides the job's ``LOAD_FACTOR``.
    """
    factor = LOAD_FACTOR[job] if factor is None else factor
    need = factor * parameter_bytes + activations
    if available is None or need <= available:
        return
    plus = f", and {format_bytes(activations)} of activations" if activations else ""
    raise TooLargeForMemory(
        f"{what} needs ~{format_bytes(need)} of memory to {job} ({factor}x its "
        f"{format_bytes(parameter_bytes)} of parameters{plus}); only "
        f"{format_bytes(available)} available"
    )


def check_onnx_fits(path: str | os.PathLike[str], available: int | None) -> None:
    """Refuse to convert an ONNX model whose declared tensors cannot fit in ``available``.

    A file that cannot be read or parsed passes: the importer reports it better.
    """
    declared = onnx_parameter_bytes(path)
    if declared is not None:
        check_fits(str(path), declared, available, "convert")


def check_tflite_fits(path: str | os.PathLike[str], available: int | None) -> None:
    """Refuse to convert a TFLite file that cannot fit: read whole, its weights (int8 at
    the least) widened to float32, so 4 bytes a file byte at most."""
    try:
        size = os.stat(path).st_size
    except (OSError, ValueError):
        return  # the importer says what is wrong with the path
    check_fits(str(path), 4 * size, available, "convert")


def check_tensorflow_fits(
    what: str, parameter_bytes: int, largest_tensor: int, available: int | None
) -> None:
    """Refuse to convert a TensorFlow model whose declared variables and constants
    (``parameter_bytes``) cannot fit through TensorFlow and tf2onnx; constant folding
    may also materialize its largest tensor of known shape (with one temporary)."""
    check_fits(
        what, parameter_bytes, available, "convert", 2 * largest_tensor,
        factor=TENSORFLOW_CONVERT_FACTOR,
    )  # fmt: skip


def check_container_fits(
    path: str | os.PathLike[str],
    job: str,
    available: int | None,
    *,
    head: Container | None = None,
    batch: int = 1,
    keep: Iterable[str] = (),
    retain_all: bool = False,
    extra: int = 0,
) -> None:
    """Refuse ``job`` on the container at ``path`` when its parameters and planned
    activations cannot fit: one inference of ``batch`` (``retain_all``: every tensor kept,
    as ``--debug`` and the quantizer's analysis do) plus ``extra`` bytes the job holds.

    Reads only the container's graph (or uses ``head``, read with ``load_params=False``).
    Jobs that run no graph (``inspect``, ``export``) count parameters only.
    """
    if head is None:
        from workbench.engine.container import read_container

        head = read_container(path, load_params=False, load_records=False)
    activations = extra
    if job in ("run", "bench"):
        activations += activation_bytes(
            head.graph, batch=batch, keep=keep, retain_all=retain_all, params=head.param_infos
        )
    elif job == "quantize":
        activations += quantize_activation_bytes(head, analyze=retain_all)
    check_fits(str(path), container_parameter_bytes(head), available, job, activations)


def quantize_activation_bytes(head: Container, *, analyze: bool) -> int:
    """What quantize holds beyond its parameters: a calibration pass (observers and the
    fake-quant arithmetic make about one more temporary per tensor: twice the peak) and,
    with the analysis, one sample's every float tensor kept to compare with. Measured on a
    generator of 2 GB: 5.8 GB peak RSS, where the plain peak says 4."""
    peak = activation_bytes(head.graph, params=head.param_infos)
    kept = activation_bytes(head.graph, params=head.param_infos, retain_all=True) if analyze else 0
    return 2 * peak + kept


def activation_bytes(
    graph: Graph,
    *,
    batch: int = 1,
    keep: Iterable[str] = (),
    retain_all: bool = False,
    params: Iterable[str] = (),
) -> int:
    """Peak bytes of the activations one inference holds, from the declared shapes.

    Walks the nodes in order as the executor runs them: a tensor lives from its node to
    its last reader (graph outputs and ``keep`` to the end; with ``retain_all`` every
    tensor does), and a node needs room for its outputs twice (the result and one
    temporary of its size, as numpy expressions make). Float tensors count 4 bytes an
    element at least (the runtimes compute in float32); a tensor of unknown shape
    counts nothing. Parameters (``graph.params``, and ``params`` when they were not
    loaded) are not included.
    """
    params = set(graph.params) | set(params)
    sizes: dict[str, int] = {}

    def size(name: str) -> int:
        if name not in sizes:
            info = graph.tensors.get(name) or next(
                (t for t in graph.inputs if t.name == name), None
            )
            sizes[name] = 0 if info is None or name in params else _info_bytes(info) * batch
        return sizes[name]

    retained = set(graph.output_names) | set(keep)
    last_use: dict[str, int] = {}
    for index, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name:
                last_use[name] = index
    live = sum(size(t.name) for t in graph.inputs)
    peak = live
    for index, node in enumerate(graph.nodes):
        produced = sum(size(o) for o in node.outputs if o)
        peak = max(peak, live + 2 * produced)
        live += produced
        if retain_all:
            continue
        for name in set(node.inputs):
            if name and last_use.get(name) == index and name not in retained:
                live -= size(name)
        for name in node.outputs:
            if name and name not in last_use and name not in retained:
                live -= size(name)
    return peak


def io_bytes(infos: Iterable[TensorInfo]) -> int:
    """Bytes of one sample of these tensors (a graph's inputs or outputs) in memory."""
    return sum(_info_bytes(info) for info in infos)


def _info_bytes(info: TensorInfo) -> int:
    import numpy as np

    try:
        dtype = np.dtype(info.dtype)
    except TypeError:
        return 0
    itemsize = max(dtype.itemsize, 4) if dtype.kind == "f" else dtype.itemsize
    return math.prod(max(0, int(d)) for d in info.shape) * itemsize


def container_parameter_bytes(container: Container) -> int:
    """In-memory size of a container's parameters, from their declared shapes and dtypes,
    at least 4 bytes an element (runtimes and the quantizer compute in float32)."""
    import numpy as np

    total = 0
    for info in container.param_infos.values():
        itemsize = np.dtype(info.dtype).itemsize
        total += math.prod(max(0, int(d)) for d in info.shape) * max(itemsize, 4)
    return total + sum(container.record_sizes.values())


def format_bytes(n: int) -> str:
    """``n`` bytes for a message: ``512 B``, ``1.5 KiB``, ... ``3.0 TiB``."""
    return _format_bytes(n, smallest="B")


# ----------------------------------------------------------------------------- ONNX

# Field numbers of onnx.proto (stable by protobuf's rules; a test checks them).
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_FUNCTION_NODE = 7
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_NODE_ATTRIBUTE = 5
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS = 5, 6, 10, 11
_ATTR_SPARSE_TENSOR, _ATTR_SPARSE_TENSORS = 22, 23
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_DIMS, _TENSOR_DATA_TYPE, _TENSOR_STRING_DATA = 1, 2, 6
_STRING = 8
# Bytes per element of TensorProto.DataType values (sub-byte types round up to 1).
_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8,
             14: 8, 15: 16, 16: 2}  # fmt: skip
_MAX_NESTING = 64


class _Malformed(Exception):
    pass


def onnx_parameter_bytes(path: str | os.PathLike[str]) -> int | None:
    """Declared in-memory size of every tensor in an ONNX file (initializers, constants,
    subgraphs, functions, external data), at least 4 bytes an element as the importer
    widens to float32. Reads no tensor data; None when the file is not readable protobuf.
    """
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return None
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                try:
                    return _model_bytes(mm)
                except (_Malformed, IndexError, ValueError):
                    return None
    except (OSError, ValueError):
        return None


def _model_bytes(buf: mmap.mmap) -> int:
    total = 0
    for number, start, end in _submessages(buf, 0, len(buf)):
        if number == _MODEL_GRAPH:
            total += _graph_bytes(buf, start, end, 0)
        elif number == _MODEL_FUNCTIONS:
            for n, s, e in _submessages(buf, start, end):
                if n == _FUNCTION_NODE:
                    total += _node_bytes(buf, s, e, 0)
    return total


def _graph_bytes(buf: mmap.mmap, start: int, end: int, depth: int) -> int:
    if depth > _MAX_NESTING:
        raise _Malformed("subgraphs nested too deep")
    total = 0
    for number, s, e in _submessages(buf, start, end):
        if number == _GRAPH_INITIALIZER:
            total += _tensor_bytes(buf, s, e)
        elif number == _GRAPH_SPARSE_INITIALIZER:
            total += _sparse_bytes(buf, s, e)
        elif number == _GRAPH_NODE:
            total += _node_bytes(buf, s, e, depth)
    return total


def _node_bytes(buf: mmap.mmap, start: int, end: int, depth: int) -> int:
    total = 0
    for number, s, e in _submessages(buf, start, end):
        if number != _NODE_ATTRIBUTE:
            continue
        for n, s2, e2 in _submessages(buf, s, e):
            if n in (_ATTR_T, _ATTR_TENSORS):
                total += _tensor_bytes(buf, s2, e2)
            elif n in (_ATTR_G, _ATTR_GRAPHS):
                total += _graph_bytes(buf, s2, e2, depth + 1)
            elif n in (_ATTR_SPARSE_TENSOR, _ATTR_SPARSE_TENSORS):
                total += _sparse_bytes(buf, s2, e2)
    return total


def _sparse_bytes(buf: mmap.mmap, start: int, end: int) -> int:
    return sum(
        _tensor_bytes(buf, s, e)
        for n, s, e in _submessages(buf, start, end)
        if n in (_SPARSE_VALUES, _SPARSE_INDICES)
    )


def _tensor_bytes(buf: mmap.mmap, start: int, end: int) -> int:
    dims: list[int] = []
    data_type = 0
    strings = 0
    for number, wire, value in _fields(buf, start, end):
        if number == _TENSOR_DIMS:
            if wire == 0:
                dims.append(_signed(value))
            elif wire == 2:
                dims.extend(_signed(v) for v in _packed_varints(buf, *value))
        elif number == _TENSOR_DATA_TYPE and wire == 0:
            data_type = value
        elif number == _TENSOR_STRING_DATA and wire == 2:
            strings += value[1] - value[0]
    if data_type == _STRING:
        return strings
    count = math.prod(max(0, d) for d in dims)  # a negative dim is the importer's to refuse
    return count * max(_ITEMSIZE.get(data_type, 4), 4)


def _submessages(buf: mmap.mmap, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    for number, wire, value in _fields(buf, start, end):
        if wire == 2:
            yield number, value[0], value[1]


def _fields(buf: mmap.mmap, start: int, end: int) -> Iterator[tuple[int, int, object]]:
    """``(field number, wire type, value)``: an int for varints, ``(start, end)`` for
    length-delimited fields; fixed-width fields are skipped."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise _Malformed("field runs past its message")
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise _Malformed(f"wire type {wire}")
    if pos != end:
        raise _Malformed("message ends inside a field")


def _packed_varints(buf: mmap.mmap, start: int, end: int) -> Iterable[int]:
    pos = start
    while pos < end:
        value, pos = _varint(buf, pos)
        yield value


def _varint(buf: mmap.mmap, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Malformed("varint too long")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
