"""The container: a zip archive (``.dlc``) holding a graph, its parameters, encodings and records.

Layout, format version 1::

    manifest.json       format name and version, producer, creation time (UTC), converter
                        and quantizer (command, options, versions), the ``quantized`` flag,
                        and an index of every other entry: name, size in bytes, sha256
    graph.json          name, opset, inputs, outputs, nodes, tensors, and ``params``:
                        the parameter name -> entry table with each dtype and shape
    params/<n>.npy      one .npy buffer per parameter, stored uncompressed
    attrs/<n>.npy       tensor-valued node attributes, referenced from graph.json as
                        ``{"__ndarray__": "attrs/<n>.npy"}``; also the parameters of
                        If/Loop/Scan bodies, which are stored inline in graph.json as
                        ``{"__graph__": {name, opset, inputs, outputs, nodes, tensors,
                        params}}`` (``-1`` marks a body dimension that varies)
    (graph.json ``state``: optional, a streaming model's state across inferences: input,
    output, variable name and initial value, ``{"__ndarray__": "attrs/<n>.npy"}``)
    encodings.json      optional: ``{"encodings": {...}, "param_encodings": {...}}``, each
                        an encoding's ``to_dict()`` by tensor / parameter name (checked
                        on write and read: ``_check_encodings``)
    records/<name>      optional opaque records; ``<name>`` ends in ``.bin`` or ``.json``

Parameters are stored, not deflated: random-looking float weights barely compress, and
stored buffers keep file sizes honest (an 8-bit container is about a quarter of its float
one) and leave the door open to memory-mapping.

Reading never trusts the file. Entry names are checked before anything is extracted (no
absolute paths, ``..``, backslashes, duplicates, symlinks or names outside the layout);
every entry's size and sha256 must match the manifest index; sizes are bounded before and
during decompression; .npy buffers are parsed with ``allow_pickle=False`` from memory and
their dtype and shape checked against the graph. Every failure is a ``ContainerError``
naming the file and, where there is one, the entry.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import re
import stat
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

import numpy as np

from workbench import __version__
from workbench.engine.graph import DTYPES, MAX_TENSOR_ELEMENTS, Graph, Node, StateVar, TensorInfo
from workbench.errors import ContainerError, ModelError, NotFound

FORMAT_NAME = "workbench-dlc"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
GRAPH = "graph.json"
ENCODINGS = "encodings.json"

# Parameter dtypes a container may hold. Floating parameters are always float32 (float16 or
# float64 sources are converted on import); integer and bool parameters carry quantized
# weights (8/16-bit, int32 bias) as well as shapes, indices and masks in any container.
PARAM_DTYPES = frozenset(DTYPES - {"float16", "float64"})
# Tensor attributes keep whatever IR dtype they were imported with.
ATTR_DTYPES = DTYPES

# Bounds that make a hostile archive fail fast instead of exhausting memory.
MAX_TOTAL_BYTES = 8 << 30  # sum of declared uncompressed sizes
MAX_JSON_BYTES = 256 << 20  # any single JSON entry
MAX_ENTRIES = 1_000_000

_CHUNK = 1 << 20
# Entries at least this large are checked against the memory left before inflating.
_MEMORY_CHECK_BYTES = 64 << 20
_UNKNOWN = object()
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_RECORD_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}\.(?:bin|json)")
_ENTRY_RE = re.compile(
    r"manifest\.json|graph\.json|encodings\.json|params/\d{1,9}\.npy|attrs/\d{1,9}\.npy"
    r"|records/[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}\.(?:bin|json)"
)
_NDARRAY_KEY = "__ndarray__"
# A body graph attribute (If/Loop/Scan): ``{"__graph__": {...graph.json's fields...}}``
# with its parameters as ``attrs/<n>.npy`` arrays; nested at most this deep.
_GRAPH_KEY = "__graph__"
_MAX_BODY_DEPTH = 16
# Entries seen in the vendor's (SNPE / QNN) DLC archives.
_VENDOR_ENTRIES = frozenset(
    {"model", "model.params", "model.record", "dlc.metadata", "dlc.buildinfo"}
)
# Manifest keys the writer owns: whatever the caller passes is replaced.
_WRITER_KEYS = ("format", "format_version", "created", "producer", "entries")


@dataclass(frozen=True)
class Container:
    """A model as stored in a ``.dlc``: manifest, graph with parameters, encodings, records.

    ``encodings`` (per activation tensor) and ``param_encodings`` (per parameter) are
    JSON-able values whose meaning the quantizer defines. ``records`` are opaque named
    blobs (HTA subnets). A container read with ``load_params=False`` has an empty
    ``graph.params``; ``unloaded_params`` then describes what the file holds.
    """

    manifest: dict[str, Any]
    graph: Graph
    encodings: dict[str, Any] = field(default_factory=dict)
    param_encodings: dict[str, Any] = field(default_factory=dict)
    records: dict[str, bytes] = field(default_factory=dict)
    unloaded_params: dict[str, TensorInfo] = field(default_factory=dict)
    file_size: int | None = field(default=None, compare=False)
    # Size and sha256 of every record the file holds, from its manifest (read or not).
    record_index: dict[str, tuple[int, str]] = field(default_factory=dict, compare=False)

    @property
    def quantized(self) -> bool:
        return bool(self.manifest.get("quantized", False))

    @property
    def rounding(self) -> str:
        """How values are rounded onto this container's grids (``vocabulary.ROUNDING_MODES``).

        Recorded by the quantizer as the manifest's ``rounding``; a container without it
        (written before it was recorded, or imported) rounds half away from zero.
        """
        from workbench.vocabulary import DEFAULT_ROUNDING

        return self.manifest.get("rounding") or DEFAULT_ROUNDING

    @property
    def params_loaded(self) -> bool:
        return not self.unloaded_params

    @property
    def record_sizes(self) -> dict[str, int]:
        """Name and size of every record, loaded or not."""
        sizes = {name: size for name, (size, _) in self.record_index.items()}
        sizes.update((name, len(data)) for name, data in self.records.items())
        return sizes

    @property
    def record_digests(self) -> dict[str, str]:
        """Name and sha256 of every record, loaded or not."""
        digests = {name: digest for name, (_, digest) in self.record_index.items()}
        for name, data in self.records.items():
            if name not in digests:
                digests[name] = hashlib.sha256(data).hexdigest()
        return digests

    @property
    def param_infos(self) -> dict[str, TensorInfo]:
        """Name, shape and dtype of every parameter, loaded or not."""
        infos = {
            name: TensorInfo(name, tuple(a.shape), a.dtype.name)
            for name, a in self.graph.params.items()
        }
        infos.update(self.unloaded_params)
        return infos


def make_manifest(
    *,
    converter: Mapping[str, Any] | None = None,
    quantizer: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A manifest for a new container; converter and quantizer get this workbench's version.

    ``converter`` is e.g. ``{"command": "workbench convert m.onnx -o m.dlc", "source":
    "m.onnx", "source_sha256": ...}``; ``quantizer`` is ``{"command": ..., "options": {...}}``
    and marks the container quantized.
    """
    manifest: dict[str, Any] = dict(extra)
    manifest["converter"] = None if converter is None else {"version": __version__, **converter}
    manifest["quantizer"] = None if quantizer is None else {"version": __version__, **quantizer}
    manifest["quantized"] = quantizer is not None
    return manifest


class NotRegularFile(OSError):
    """A FIFO, device or socket where a file's content is read: it may never end (a FIFO
    nobody writes, ``/dev/zero``), so it is refused, not read."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a regular file, read in chunks (``NotRegularFile`` else)."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file (a FIFO, device or socket)")
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------
# writing


@dataclass(frozen=True)
class _Entry:
    name: str
    payload: bytes | np.ndarray  # JSON / record bytes, or an array written as .npy


def write_container(path: str | os.PathLike[str], container: Container) -> int:
    """Write ``container`` to ``path`` atomically; returns the number of bytes written.

    The archive is written to a temporary file beside the target, fsynced, then renamed
    over it: on any failure the temporary file is removed and the target is untouched.
    """
    staged = stage_container(path, container)
    staged.commit()
    return staged.size


@dataclass
class StagedContainer:
    """A container written in full under a temporary name beside its target.

    ``commit()`` renames it over the target; ``discard()`` removes it. A job that must
    not show its output before it has finished (quantize: the analysis and the store
    record come after writing) commits last.
    """

    target: str
    temporary: str
    size: int
    display: str

    def commit(self) -> None:
        try:
            os.replace(self.temporary, self.target)
        except OSError as e:
            self.discard()
            raise ContainerError(f"cannot write container {self.display}: {e.strerror or e}") from e
        _fsync_directory(os.path.dirname(self.target))

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.temporary)


def stage_container(path: str | os.PathLike[str], container: Container) -> StagedContainer:
    """Write ``container`` beside ``path`` under a temporary name (see ``StagedContainer``)."""
    if not container.params_loaded:
        raise ContainerError(
            "cannot write a container whose parameters were not loaded (read it with load_params=True)"
        )
    target = os.path.abspath(os.fspath(path))
    entries = _plan_entries(container)
    created = datetime.now(timezone.utc)
    manifest = _manifest_skeleton(container.manifest, created)

    directory, base = os.path.split(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = 0o644
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise ContainerError(f"cannot write container {path}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "w+b") as f:
            with zipfile.ZipFile(f, "w", allowZip64=True) as zf:
                index = [_write_entry(zf, e, created) for e in entries]
                manifest["entries"] = index
                data = (json.dumps(manifest, indent=2) + "\n").encode()
                _write_bytes(zf, MANIFEST, data, created, zipfile.ZIP_DEFLATED)
            f.flush()
            if hasattr(os, "fchmod"):  # mkstemp creates 0600; a container is a shareable file
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
            size = f.tell()
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise ContainerError(f"cannot write container {path}: {e.strerror or e}") from e
        raise
    return StagedContainer(target=target, temporary=tmp, size=size, display=os.fspath(path))


def _manifest_skeleton(given: Mapping[str, Any], created: datetime) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise ContainerError("container manifest must be a dict")
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "producer": {"name": "workbench", "version": __version__},
    }
    for key, value in given.items():
        if key not in _WRITER_KEYS:
            manifest[key] = value
    manifest.setdefault("converter", None)
    manifest.setdefault("quantizer", None)
    manifest.setdefault("quantized", manifest["quantizer"] is not None)
    _check_manifest_fields(manifest, "the manifest")
    try:
        json.dumps(manifest)
    except (TypeError, ValueError) as e:
        raise ContainerError(f"container manifest is not JSON-serializable: {e}") from e
    return manifest


def _plan_entries(container: Container) -> list[_Entry]:
    """Validate the container and lay out every entry except the manifest."""
    graph = container.graph
    try:
        graph.validate()
    except ModelError as e:
        raise ContainerError(f"cannot write an inconsistent graph: {e}") from e

    attr_arrays: list[np.ndarray] = []

    def encode_attr(value: Any, where: str) -> Any:
        if isinstance(value, np.ndarray):
            if value.dtype.name not in ATTR_DTYPES:
                raise ContainerError(
                    f"{where}: tensor attribute dtype {value.dtype} is not supported"
                )
            attr_arrays.append(value)
            return {_NDARRAY_KEY: f"attrs/{len(attr_arrays) - 1}.npy"}
        if isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, np.generic) and value.dtype.name in ATTR_DTYPES:
            return value.item()
        if isinstance(value, (list, tuple)):
            return [encode_attr(v, where) for v in value]
        if isinstance(value, Graph):
            return {_GRAPH_KEY: encode_body(value, where)}
        raise ContainerError(
            f"{where}: attribute value of type {type(value).__name__} cannot be stored"
        )

    def encode_nodes(nodes: list[Node]) -> list[dict[str, Any]]:
        encoded = []
        for n in nodes:
            attrs = {}
            for key, value in n.attrs.items():
                if not isinstance(key, str):
                    raise ContainerError(f"node {n.name!r}: attribute names must be strings")
                attrs[key] = encode_attr(value, f"node {n.name!r} attribute {key!r}")
            encoded.append(
                {
                    "name": n.name,
                    "op_type": n.op_type,
                    "domain": n.domain,
                    "inputs": list(n.inputs),
                    "outputs": list(n.outputs),
                    "attrs": attrs,
                }
            )
        return encoded

    def encode_body(body: Graph, where: str) -> dict[str, Any]:
        """A body graph: like graph.json, its parameters as attribute arrays."""
        for info in [*body.inputs, *body.outputs, *body.tensors.values()]:
            _checked_info(info.name, _plain_shape(info.shape), info.dtype,
                          f"cannot write the container ({where})", body=True)  # fmt: skip
        return {
            "name": body.name,
            "opset": body.opset,
            "inputs": [t.to_dict() for t in body.inputs],
            "outputs": [t.to_dict() for t in body.outputs],
            "nodes": encode_nodes(body.nodes),
            "tensors": [t.to_dict() for t in body.tensors.values()],
            "params": {
                k: encode_attr(np.asarray(v), f"{where} parameter {k!r}")
                for k, v in body.params.items()
            },  # fmt: skip
        }

    nodes = encode_nodes(graph.nodes)

    for key, info in graph.tensors.items():
        if key != info.name:
            raise ContainerError(f"graph.tensors key {key!r} holds the info of {info.name!r}")
    for info in [*graph.inputs, *graph.outputs, *graph.tensors.values()]:
        # What the reader refuses is never written: a container always reads back.
        _checked_info(info.name, _plain_shape(info.shape), info.dtype, "cannot write the container")
    if not isinstance(graph.opset, int) or graph.opset < 1:
        raise ContainerError(f"cannot write the container: invalid opset {graph.opset!r}")

    params = []
    param_arrays: list[np.ndarray] = []
    for i, (name, array) in enumerate(graph.params.items()):
        array = np.asarray(array)
        if array.dtype.name not in PARAM_DTYPES:
            raise ContainerError(
                f"parameter {name!r} has dtype {array.dtype}; a container stores "
                f"{', '.join(sorted(PARAM_DTYPES))}"
            )
        declared = graph.tensors.get(name)
        if declared is not None and declared.shape != array.shape:
            raise ContainerError(
                f"parameter {name!r} has shape {array.shape} but the graph declares {declared.shape}"
            )
        params.append(
            {
                "name": name,
                "entry": f"params/{i}.npy",
                "dtype": array.dtype.name,
                "shape": list(array.shape),
            }
        )
        param_arrays.append(array)

    doc = {
        "name": graph.name,
        "opset": graph.opset,
        "inputs": [t.to_dict() for t in graph.inputs],
        "outputs": [t.to_dict() for t in graph.outputs],
        "nodes": nodes,
        "tensors": [t.to_dict() for t in graph.tensors.values()],
        "params": params,
    }
    if graph.state:
        inputs, outputs = set(graph.input_names), set(graph.output_names)
        doc["state"] = []
        for sv in graph.state:
            if sv.input not in inputs or sv.output not in outputs:
                raise ContainerError(
                    f"state {sv.input!r} -> {sv.output!r} is not a graph input/output pair"
                )
            initial = None
            if sv.initial is not None:
                initial = encode_attr(np.asarray(sv.initial), f"state {sv.input!r}")
            doc["state"].append(
                {"input": sv.input, "output": sv.output, "name": sv.name, "initial": initial}
            )
    entries = [_Entry(GRAPH, _json_bytes(doc, "graph"))]
    entries += [_Entry(p["entry"], a) for p, a in zip(params, param_arrays, strict=True)]
    entries += [_Entry(f"attrs/{i}.npy", a) for i, a in enumerate(attr_arrays)]

    for what, value in (
        ("encodings", container.encodings),
        ("param_encodings", container.param_encodings),
    ):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ContainerError(f"container {what} must be a dict keyed by tensor name")
    if container.encodings or container.param_encodings:
        body = {
            "encodings": dict(container.encodings),
            "param_encodings": dict(container.param_encodings),
        }
        entries.append(_Entry(ENCODINGS, _json_bytes(body, "encodings")))
        if not container.quantized:
            raise ContainerError("a container with encodings must be marked quantized")
        _check_encodings(
            graph, container.encodings, container.param_encodings, "the container's encodings"
        )

    for name, data in container.records.items():
        if not isinstance(name, str) or not _RECORD_NAME_RE.fullmatch(name) or ".." in name:
            raise ContainerError(
                f"record name {name!r} must be a plain file name ending in .bin or .json "
                "(letters, digits, '_', '-', '.')"
            )
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ContainerError(f"record {name!r} must be bytes")
        entries.append(_Entry(f"records/{name}", bytes(data)))
    return entries


def _json_bytes(value: Any, what: str) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as e:
        raise ContainerError(f"the container's {what} is not JSON-serializable: {e}") from e


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, sink: IO[bytes]):
        self._sink = sink
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha256.update(view)
        self.size += view.nbytes
        self._sink.write(view)
        return view.nbytes


def _zip_info(name: str, created: datetime, compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=created.timetuple()[:6])
    info.compress_type = compress_type
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def _write_bytes(
    zf: zipfile.ZipFile, name: str, data: bytes, created: datetime, compress_type: int
) -> dict[str, Any]:
    zf.writestr(_zip_info(name, created, compress_type), data)
    return {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _write_entry(zf: zipfile.ZipFile, entry: _Entry, created: datetime) -> dict[str, Any]:
    if isinstance(entry.payload, bytes):
        method = zipfile.ZIP_DEFLATED if entry.name.endswith(".json") else zipfile.ZIP_STORED
        return _write_bytes(zf, entry.name, entry.payload, created, method)
    array = (
        entry.payload if entry.payload.flags.c_contiguous else np.array(entry.payload, order="C")
    )
    info = _zip_info(entry.name, created, zipfile.ZIP_STORED)
    with zf.open(info, "w", force_zip64=array.nbytes > (1 << 30)) as sink:
        writer = _HashingWriter(sink)
        np.lib.format.write_array(writer, array, allow_pickle=False)
    return {"name": entry.name, "size": writer.size, "sha256": writer.sha256.hexdigest()}


def _fsync_directory(directory: str) -> None:
    # Makes the rename durable; not possible on every platform, and never worth failing for.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ------------------------------------------------------------------------------------------
# reading


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a container, after checking the archive's structure; reads no other entry."""
    with _Archive(path) as archive:
        return archive.manifest


def read_container(
    path: str | os.PathLike[str],
    *,
    load_params: bool = True,
    load_records: bool | Collection[str] = True,
) -> Container:
    """Read and check a container. With ``load_params=False`` parameters are left on disk;
    ``load_records`` False (or the names to load) leaves records on disk: a command that
    does not need them never inflates them (``record_sizes`` still says what they are)."""
    with _Archive(path) as archive:
        doc = archive.read_json(GRAPH)
        graph, param_entries = _decode_graph(doc, archive)
        unloaded: dict[str, TensorInfo] = {}
        for name, entry, info in param_entries:
            if load_params:
                graph.params[name] = _load_npy(
                    archive.read(entry), archive.describe(entry), info, PARAM_DTYPES
                )
            else:
                unloaded[name] = info
        _check_graph(graph, unloaded, archive)

        encodings: dict[str, Any] = {}
        param_encodings: dict[str, Any] = {}
        if ENCODINGS in archive.index:
            body = archive.read_json(ENCODINGS)
            encodings = _expect_dict(
                body.get("encodings", {}), archive.describe(ENCODINGS), "encodings"
            )
            param_encodings = _expect_dict(
                body.get("param_encodings", {}), archive.describe(ENCODINGS), "param_encodings"
            )
            if (encodings or param_encodings) and not archive.manifest["quantized"]:
                raise archive.fail(
                    f"the manifest says not quantized, but {ENCODINGS} has encodings"
                )
            _check_encodings(
                graph, encodings, param_encodings, archive.describe(ENCODINGS), unloaded
            )
        index = {
            entry.removeprefix("records/"): archive.index[entry]
            for entry in archive.index
            if entry.startswith("records/")
        }
        wanted = index if load_records is True else (load_records or ())
        records = {name: archive.read(f"records/{name}") for name in index if name in wanted}
        return Container(
            manifest=archive.manifest,
            graph=graph,
            encodings=encodings,
            param_encodings=param_encodings,
            records=records,
            unloaded_params=unloaded,
            file_size=archive.file_size,
            record_index=index,
        )


class _Archive:
    """An open container archive whose names, manifest and index have been checked."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self._available: Any = _UNKNOWN
        self._file = _open_file(self.path)
        try:
            self.file_size = os.fstat(self._file.fileno()).st_size
            self._zip = _open_zip(self._file, self.path)
            self._infos = self._check_names()
            self.manifest = self._read_manifest()
            self.index = self._check_index()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "_zip", None) is not None:
            self._zip.close()
        self._file.close()

    def describe(self, entry: str) -> str:
        return f"{self.path}: entry {entry!r}"

    def fail(self, message: str) -> ContainerError:
        return ContainerError(f"{self.path}: {message}")

    # -- structure -------------------------------------------------------------------------

    def _check_names(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > MAX_ENTRIES:
            raise self.fail(f"archive has {len(infos)} entries (more than {MAX_ENTRIES})")
        names = {i.filename for i in infos}
        if MANIFEST not in names and (
            names & _VENDOR_ENTRIES or any(n.startswith(("model.", "dlc.")) for n in names)
        ):
            raise self.fail(_vendor_message())
        by_name: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            problem = _unsafe_name_reason(info)
            if problem:
                raise self.fail(f"refusing entry {info.orig_filename!r}: {problem}")
            if name in by_name:
                raise self.fail(f"refusing archive: duplicate entry {name!r}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise self.fail(f"refusing entry {name!r}: it is a symbolic link")
            if info.flag_bits & 0x1:
                raise self.fail(f"refusing entry {name!r}: it is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.fail(
                    f"refusing entry {name!r}: unsupported compression method {info.compress_type}"
                )
            if not _ENTRY_RE.fullmatch(name):
                raise self.fail(f"refusing archive: unexpected entry {name!r}")
            total += info.file_size
            by_name[name] = info
        if total > MAX_TOTAL_BYTES:
            raise self.fail(
                f"refusing archive: entries declare {total} bytes uncompressed (limit {MAX_TOTAL_BYTES})"
            )
        if MANIFEST not in by_name:
            raise self.fail(f"not a workbench container: it has no {MANIFEST}")
        return by_name

    def _read_manifest(self) -> dict[str, Any]:
        info = self._infos[MANIFEST]
        if info.file_size > MAX_JSON_BYTES:
            raise self.fail(f"{MANIFEST} declares {info.file_size} bytes (limit {MAX_JSON_BYTES})")
        manifest = _parse_json(self._read_raw(info, info.file_size), self.describe(MANIFEST))
        if not isinstance(manifest, dict):
            raise self.fail(f"{MANIFEST} is not a JSON object")
        if manifest.get("format") != FORMAT_NAME:
            raise self.fail(
                f"not a workbench container (manifest format is {manifest.get('format')!r})"
            )
        version = manifest.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail(f"{MANIFEST} has an invalid format_version {version!r}")
        if version > FORMAT_VERSION:
            raise self.fail(
                f"written by a newer workbench (container format version {version}; this "
                f"workbench {__version__} reads up to version {FORMAT_VERSION}): upgrade workbench"
            )
        _check_manifest_fields(manifest, f"{self.path}: {MANIFEST}")
        return manifest

    def _check_index(self) -> dict[str, tuple[int, str]]:
        entries = self.manifest.get("entries")
        if not isinstance(entries, list):
            raise self.fail(f"{MANIFEST} has no entry index")
        index: dict[str, tuple[int, str]] = {}
        for item in entries:
            if not isinstance(item, dict):
                raise self.fail(f"{MANIFEST}: malformed entry index item {item!r}")
            name, size, digest = item.get("name"), item.get("size"), item.get("sha256")
            if (
                not isinstance(name, str)
                or not isinstance(size, int)
                or isinstance(size, bool)
                or size < 0
                or not isinstance(digest, str)
                or not _SHA256_RE.fullmatch(digest)
            ):
                raise self.fail(f"{MANIFEST}: malformed entry index item {item!r}")
            if name == MANIFEST or not _ENTRY_RE.fullmatch(name) or name in index:
                raise self.fail(f"{MANIFEST}: bad or repeated entry {name!r} in the index")
            index[name] = (size, digest)
        present = set(self._infos) - {MANIFEST}
        missing = sorted(set(index) - present)
        if missing:
            raise self.fail(
                f"entry {missing[0]!r} is listed in the manifest but missing (truncated?)"
            )
        extra = sorted(present - set(index))
        if extra:
            raise self.fail(f"refusing archive: entry {extra[0]!r} is not listed in the manifest")
        for name, (size, _) in index.items():
            declared = self._infos[name].file_size
            if declared != size:
                raise self.fail(
                    f"entry {name!r} declares {declared} bytes but the manifest says {size}"
                )
        if GRAPH not in index:
            raise self.fail(f"container has no {GRAPH}")
        return index

    # -- data ------------------------------------------------------------------------------

    def _read_raw(self, info: zipfile.ZipInfo, limit: int) -> bytearray:
        """An entry's bytes, inflated into a buffer of its declared size and no more."""
        where = self.describe(info.filename)
        size = info.file_size
        if size > limit:
            raise ContainerError(f"{where} declares {size} bytes, expected at most {limit}")
        self._check_memory(size, where)
        data = bytearray(size)
        view = memoryview(data)
        got = 0
        try:
            with self._zip.open(info) as f:
                while got < size:
                    chunk = f.read(min(_CHUNK, size - got))
                    if not chunk:
                        break
                    view[got : got + len(chunk)] = chunk
                    got += len(chunk)
                extra = f.read(1)  # reading to the end checks the CRC too
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
            raise ContainerError(f"{where} is corrupt: {e}") from e
        except NotImplementedError as e:  # a zip feature (version, method) zipfile lacks
            raise ContainerError(f"{where} cannot be read: {e}") from e
        if got != size or extra:
            shown = f"more than {size}" if extra else str(got)
            raise ContainerError(f"{where} has {shown} bytes, expected {size}")
        return data

    def _check_memory(self, size: int, where: str) -> None:
        """An entry larger than the memory left is refused before it is inflated."""
        if size < _MEMORY_CHECK_BYTES:
            return
        if self._available is _UNKNOWN:
            from workbench.engine.memory import available_memory

            self._available = available_memory()
        if self._available is not None and size > self._available:
            from workbench.vocabulary import format_bytes

            raise ContainerError(
                f"{where} declares {format_bytes(size)} uncompressed, more than the "
                f"{format_bytes(self._available)} of memory available"
            )

    def read(self, name: str) -> bytearray:
        """An entry's bytes, checked against the manifest's size and sha256."""
        size, digest = self.index[name]
        data = self._read_raw(self._infos[name], size)
        if hashlib.sha256(data).hexdigest() != digest:
            raise ContainerError(
                f"{self.describe(name)} is corrupt: sha256 does not match the manifest"
            )
        return data

    def read_json(self, name: str) -> dict[str, Any]:
        size, _ = self.index[name]
        if size > MAX_JSON_BYTES:
            raise ContainerError(f"{self.describe(name)} is {size} bytes (limit {MAX_JSON_BYTES})")
        value = _parse_json(self.read(name), self.describe(name))
        if not isinstance(value, dict):
            raise ContainerError(f"{self.describe(name)} is not a JSON object")
        return value


def _vendor_message() -> str:
    return (
        "is a vendor (SNPE) DLC, not a workbench container; "
        "convert the original model with `workbench convert`"
    )


def _open_file(path: str) -> IO[bytes]:
    try:
        # A FIFO or device would block or never end: only regular files are opened.
        if not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path):
            raise ContainerError(f"{path} is not a regular file, not a container")
        return open(path, "rb")
    except ValueError as e:  # a NUL byte in the path
        raise ContainerError(f"cannot read container {path!r}: {e}") from e
    except FileNotFoundError as e:
        raise NotFound(f"container not found: {path}") from e
    except IsADirectoryError as e:
        raise ContainerError(f"{path} is a directory, not a container") from e
    except OSError as e:
        raise ContainerError(f"cannot read container {path}: {e.strerror or e}") from e


def _open_zip(f: IO[bytes], path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(f, "r")
    except NotImplementedError as e:  # e.g. "zip file version 8.4"
        raise ContainerError(f"{path} uses a zip feature this workbench cannot read: {e}") from e
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        f.seek(0)
        head = f.read(4)
        if not head:
            raise ContainerError(f"{path} is empty, not a container") from e
        if head in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ContainerError(f"{path} is a truncated or corrupt zip archive") from e
        hint = ""
        if path.lower().endswith(".dlc"):
            # Early vendor DLCs are not zip archives; we cannot tell them from garbage.
            hint = "; if it is a vendor (SNPE) DLC, convert the original model with `workbench convert`"
        raise ContainerError(
            f"{path} is not a workbench container (not a zip archive){hint}"
        ) from e


def _unsafe_name_reason(info: zipfile.ZipInfo) -> str | None:
    raw, name = info.orig_filename, info.filename
    if not raw or "\x00" in raw:
        return "empty name or NUL byte in the name"
    if "\\" in raw or "\\" in name:
        return "backslash in the name"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "path escapes the archive ('..')"
    if any(p in ("", ".") for p in parts):
        return "directory entry or empty path component"
    return None


def _parse_json(data: bytes | bytearray, where: str) -> Any:
    try:
        # Integers are bounded: a 10**400 would overflow every float conversion later.
        return json.loads(data.decode("utf-8"), parse_int=_bounded_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        detail = "nested too deeply" if isinstance(e, RecursionError) else e
        raise ContainerError(f"{where} is not valid JSON: {detail}") from None


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise ValueError(f"integer {text[:12]}... ({len(text)} digits) is out of range")
    return int(text)


def _check_manifest_fields(manifest: Mapping[str, Any], where: str) -> None:
    if not isinstance(manifest.get("quantized"), bool):
        raise ContainerError(f"{where}: 'quantized' must be true or false")
    for key in ("converter", "quantizer"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            raise ContainerError(f"{where}: {key!r} must be an object or null")
    from workbench.vocabulary import ROUNDING_MODES

    if manifest.get("rounding") is not None and manifest["rounding"] not in ROUNDING_MODES:
        raise ContainerError(
            f"{where}: unknown rounding {manifest['rounding']!r} (one of {', '.join(ROUNDING_MODES)})"
        )


def _expect_dict(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContainerError(f"{where}: {what!r} must be a JSON object")
    return value


# -- graph.json -------------------------------------------------------------------------------


def _field(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = d.get(key) if isinstance(d, Mapping) else None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ContainerError(f"{where}: missing or malformed {key!r}")
    return value


def _tensor_info(d: Any, where: str, body: bool = False) -> TensorInfo:
    """A tensor info; in a body, -1 stands for a dimension that varies."""
    name = _field(d, "name", str, where)
    shape = _field(d, "shape", list, where)
    dtype = _field(d, "dtype", str, where)
    return _checked_info(name, shape, dtype, where, body)


def _checked_info(name: str, shape: Any, dtype: str, where: str, body: bool = False) -> TensorInfo:
    """A tensor's info if the reader accepts it (the writer holds graphs to the same); in a
    body, -1 stands for a dimension that varies."""
    least = -1 if body else 0
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= least for x in shape):
        raise ContainerError(f"{where}: tensor {name!r} has a malformed shape {_short(shape)}")
    if math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise ContainerError(
            f"{where}: tensor {name!r} declares shape {shape}, more than "
            f"{MAX_TENSOR_ELEMENTS} elements"
        )
    if dtype not in DTYPES:
        raise ContainerError(f"{where}: tensor {name!r} has unsupported dtype {_short(dtype)}")
    return TensorInfo(name, tuple(shape), dtype)


def _plain_shape(shape: Any) -> list[Any]:
    return [int(d) if isinstance(d, np.integer) else d for d in shape]


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about hostile values."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ContainerError(f"{where}: expected a list of tensor names")
    return tuple(value)


def _decode_graph(
    doc: Mapping[str, Any], archive: _Archive
) -> tuple[Graph, list[tuple[str, str, TensorInfo]]]:
    where = archive.describe(GRAPH)
    referenced: set[str] = set()

    def decode_attr(value: Any, node: str, nested: bool = False, depth: int = 0) -> Any:
        if isinstance(value, dict) and _GRAPH_KEY in value and not nested:
            if set(value) != {_GRAPH_KEY} or depth >= _MAX_BODY_DEPTH:
                raise ContainerError(
                    f"{where}: node {node!r} has a malformed or too deeply nested body"
                )
            return decode_body(value[_GRAPH_KEY], node, depth + 1)
        if isinstance(value, dict):
            entry = value.get(_NDARRAY_KEY)
            if (
                set(value) != {_NDARRAY_KEY}
                or not isinstance(entry, str)
                or not entry.startswith("attrs/")
            ):
                raise ContainerError(
                    f"{where}: node {node!r} has a malformed attribute {_short(value)}"
                )
            if entry not in archive.index or entry in referenced:
                raise ContainerError(
                    f"{where}: node {node!r} references missing or reused {entry!r}"
                )
            referenced.add(entry)
            return _load_npy(archive.read(entry), archive.describe(entry), None, ATTR_DTYPES)
        if isinstance(value, list) and not nested:  # attribute lists are flat
            return [decode_attr(v, node, nested=True) for v in value]
        if isinstance(value, (bool, int, float, str)):
            return value
        raise ContainerError(f"{where}: node {node!r} has a malformed attribute {_short(value)}")

    def decode_nodes(raws: Any, depth: int) -> list[Node]:
        nodes = []
        if not isinstance(raws, list):
            raise ContainerError(f"{where}: missing or malformed 'nodes'")
        for raw in raws:
            name = _field(raw, "name", str, where)
            attrs = _field(raw, "attrs", dict, f"{where}: node {name!r}")
            nodes.append(
                Node(
                    name=name,
                    op_type=_field(raw, "op_type", str, f"{where}: node {name!r}"),
                    inputs=_str_list(raw.get("inputs"), f"{where}: node {name!r} inputs"),
                    outputs=_str_list(raw.get("outputs"), f"{where}: node {name!r} outputs"),
                    attrs={k: decode_attr(v, name, depth=depth) for k, v in attrs.items()},
                    domain=_field(raw, "domain", str, f"{where}: node {name!r}"),
                )
            )
        return nodes

    def decode_body(raw: Any, node: str, depth: int) -> Graph:
        at = f"{where}: body of node {node!r}"
        params = {}
        for k, v in _field(raw, "params", dict, at).items():
            value = decode_attr(v, node, nested=True)
            if not isinstance(value, np.ndarray):
                raise ContainerError(f"{at}: parameter {_short(k)} is not an array")
            params[k] = value
        body = Graph(
            name=_field(raw, "name", str, at),
            inputs=[_tensor_info(t, at, body=True) for t in _field(raw, "inputs", list, at)],
            outputs=[_tensor_info(t, at, body=True) for t in _field(raw, "outputs", list, at)],
            nodes=decode_nodes(raw.get("nodes"), depth),
            params=params,
            tensors={},
            opset=_field(raw, "opset", int, at),
        )
        for t in _field(raw, "tensors", list, at):
            info = _tensor_info(t, at, body=True)
            body.tensors[info.name] = info
        return body

    nodes = decode_nodes(doc.get("nodes") if isinstance(doc, Mapping) else None, 0)

    tensors: dict[str, TensorInfo] = {}
    for raw in _field(doc, "tensors", list, where):
        info = _tensor_info(raw, where)
        if info.name in tensors:
            raise ContainerError(f"{where}: tensor {info.name!r} is declared twice")
        tensors[info.name] = info

    params: list[tuple[str, str, TensorInfo]] = []
    seen: set[str] = set()
    for raw in _field(doc, "params", list, where):
        info = _tensor_info(raw, where)
        entry = _field(raw, "entry", str, where)
        if info.dtype not in PARAM_DTYPES:
            raise ContainerError(
                f"{where}: parameter {info.name!r} has disallowed dtype {info.dtype!r}"
            )
        if any(d < 0 for d in info.shape):
            raise ContainerError(f"{where}: parameter {info.name!r} has a negative dimension")
        if not entry.startswith("params/") or entry not in archive.index or entry in referenced:
            raise ContainerError(
                f"{where}: parameter {info.name!r} references missing or reused {entry!r}"
            )
        if info.name in seen:
            raise ContainerError(f"{where}: parameter {info.name!r} is declared twice")
        declared = tensors.get(info.name)
        if declared is not None and declared.shape != info.shape:
            raise ContainerError(
                f"{where}: parameter {info.name!r} has shape {info.shape} but the graph declares {declared.shape}"
            )
        referenced.add(entry)
        seen.add(info.name)
        params.append((info.name, entry, info))

    state = []
    for raw in doc.get("state", []) if isinstance(doc.get("state", []), list) else [None]:
        at = f"{where}: state"
        initial = raw.get("initial") if isinstance(raw, Mapping) else None
        state.append(
            StateVar(
                input=_field(raw, "input", str, at),
                output=_field(raw, "output", str, at),
                initial=None if initial is None else decode_attr(initial, "state", nested=True),
                name=_field(raw, "name", str, at),
            )
        )

    unreferenced = sorted(
        n for n in archive.index if n.startswith(("params/", "attrs/")) and n not in referenced
    )
    if unreferenced:
        raise archive.fail(
            f"refusing archive: entry {unreferenced[0]!r} is not referenced by {GRAPH}"
        )

    graph = Graph(
        name=_field(doc, "name", str, where),
        inputs=[_tensor_info(t, where) for t in _field(doc, "inputs", list, where)],
        outputs=[_tensor_info(t, where) for t in _field(doc, "outputs", list, where)],
        nodes=nodes,
        tensors=tensors,
        opset=_field(doc, "opset", int, where),
        state=state,
    )
    if graph.opset < 1:
        raise ContainerError(f"{where}: invalid opset {graph.opset}")
    for sv in state:
        if sv.input not in graph.input_names or sv.output not in graph.output_names:
            raise ContainerError(f"{where}: state {_short(sv.input)} is not an input/output pair")
        if sv.initial is not None and not isinstance(sv.initial, np.ndarray):
            raise ContainerError(f"{where}: state {_short(sv.input)} has a malformed initial value")
    return graph, params


def _check_graph(graph: Graph, unloaded: Mapping[str, TensorInfo], archive: _Archive) -> None:
    check = graph
    if unloaded:
        # validate() looks only at parameter names; stand-ins avoid reading the data.
        check = graph.copy()
        check.params = dict.fromkeys(unloaded, np.empty(0, np.float32))
    try:
        check.validate()
    except ModelError as e:
        raise archive.fail(f"the graph is inconsistent: {e}") from e


# -- encodings.json ----------------------------------------------------------------------------


def _check_encodings(
    graph: Graph,
    encodings: Mapping[str, Any],
    param_encodings: Mapping[str, Any],
    where: str,
    unloaded: Mapping[str, TensorInfo] | None = None,
) -> None:
    """Every encoding well formed (``encoding_from_dict``) and fitting what it encodes.

    Activation encodings are per tensor; a parameter encoding names a parameter (loaded,
    or ``unloaded``), and when parameters are loaded, its per-channel axis and length
    fit the parameter and the parameter holds the encoding's integer storage type.
    """
    from workbench.engine.quant.encoding import ChannelEncoding, encoding_from_dict
    from workbench.errors import BadInput

    def read(name: str, value: Any, what: str) -> Any:
        try:
            return encoding_from_dict(value)
        except BadInput as e:
            raise ContainerError(f"{where}: {what} {_short(name)}: {e}") from None

    for name, value in encodings.items():
        if isinstance(read(name, value, "activation"), ChannelEncoding):
            raise ContainerError(f"{where}: activation {_short(name)} has a per-channel encoding")
    for name, value in param_encodings.items():
        enc = read(name, value, "parameter")
        param = graph.params.get(name)
        if param is None:
            if name in (unloaded or {}):
                continue  # its data is not read: nothing more to check
            raise ContainerError(f"{where}: {_short(name)} is not a parameter of the graph")
        if param.dtype != enc.dtype:
            raise ContainerError(
                f"{where}: parameter {_short(name)} is stored as {param.dtype}, but its "
                f"{enc.bitwidth}-bit encoding needs {enc.dtype}"
            )
        if isinstance(enc, ChannelEncoding) and (
            enc.axis >= param.ndim or param.shape[enc.axis] != len(enc)
        ):
            raise ContainerError(
                f"{where}: parameter {_short(name)} has shape {list(param.shape)}, but its "
                f"per-channel encoding has {len(enc)} channels on axis {enc.axis}"
            )


# -- .npy -------------------------------------------------------------------------------------


# The header numpy writes for a plain array: parsed here without ``ast.literal_eval`` (a
# compile per parameter was a third of reading a container). Anything else takes numpy's
# own parser.
_NPY_HEADER = re.compile(
    rb"\{'descr': '([<>|=]?[biuf][1248])', 'fortran_order': (False|True), "
    rb"'shape': \(((?:\d+, ?)*\d*)\), \} *\n"
)


def _npy_header(data: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int] | None:
    """``(shape, fortran, dtype, data offset)`` of a version 1.0 header, fast; None when the
    header is not the plain form numpy writes."""
    if data[:8] != b"\x93NUMPY\x01\x00" or len(data) < 10:
        return None
    end = 10 + int.from_bytes(data[8:10], "little")
    found = _NPY_HEADER.fullmatch(data, 10, end)
    if found is None:
        return None
    shape = tuple(int(d) for d in found[3].split(b",") if d.strip())
    return shape, found[2] == b"True", np.dtype(found[1].decode()), end


def _load_npy(
    data: bytes, where: str, expect: TensorInfo | None, allowed: frozenset[str]
) -> np.ndarray:
    """Parse a .npy buffer from memory, checking its header before touching the data."""
    buf = io.BytesIO(data)
    try:
        fast = _npy_header(data)
        if fast is not None:
            shape, fortran, dtype, start = fast
            buf.seek(start)
        else:
            version = np.lib.format.read_magic(buf)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(buf)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(buf)
            else:
                raise ValueError(f"unsupported .npy version {version}")
    except (
        ValueError,
        SyntaxError,
        TypeError,
        EOFError,
        tokenize.TokenError,
        RecursionError,
        MemoryError,
    ) as e:
        raise ContainerError(f"{where} is not a valid .npy buffer: {e}") from e
    if dtype.hasobject or dtype.fields is not None or dtype.name not in allowed:
        raise ContainerError(f"{where} has dtype {dtype}, which a container may not hold")
    if expect is not None:
        if dtype.name != expect.dtype or tuple(shape) != expect.shape:
            raise ContainerError(
                f"{where} holds {dtype.name}{list(shape)} but the graph declares "
                f"{expect.dtype}{list(expect.shape)}"
            )
    count = math.prod(shape)  # exact: a hostile header cannot overflow it
    if len(data) - buf.tell() != count * dtype.itemsize:
        raise ContainerError(
            f"{where} has {len(data) - buf.tell()} data bytes, expected {count * dtype.itemsize}"
        )
    # A view of the buffer, not a copy: a large parameter is in memory once.
    array = np.frombuffer(data, dtype=dtype, count=count, offset=buf.tell())
    array = array.reshape(shape, order="F" if fortran else "C")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array
