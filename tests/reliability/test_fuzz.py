"""Fuzzing: bad input anywhere gets a clear one-line error, never a traceback (SPEC §9).

Every case builds one mutated input (an ONNX model, a container, an input list,
an AIMET encodings file or a command line), drives convert / quantize / run /
info (and, where the input gets that far, export and diff) in-process, and
checks the property through ``Fuzz.attempt``:

* the job succeeds, or raises a ``WorkbenchError`` whose message is one line and
  names the offending file when there is one; anything else is a traceback and
  fails the test;
* through the CLI the exit code is 0 or 2, and 2 comes with exactly one
  ``error:`` line;
* afterwards the store has no run left ``running``.

Hypothesis draws a mutation kind and a seed; the seed drives a ``random.Random``
that shapes the mutation, so a failure is reproduced from the two values shown.
Profiles are deterministic (``derandomize``, no example database). Example counts
are explicit; ``test_fuzz_total`` checks at least ``MIN_CASES`` cases ran, and
the session summary prints ``fuzz: N cases, K tracebacks`` (``conftest.py``).

``FOUND`` at the end keeps each traceback the fuzzing found as a plain regression
test, built by hand, so it stays covered whatever the seeds explore.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import random
import re
import shutil
import stat
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from sqlalchemy import func, select

from tests.modelzoo import small_cnn, write_inputs
from workbench.engine.container import read_container
from workbench.engine.quant.quantizer import QuantOptions
from workbench.errors import (
    BadInput,
    ContainerError,
    InputListError,
    ModelError,
    NotFound,
    RuntimeRefused,
    WorkbenchError,
)
from workbench.jobs.convert import convert_model
from workbench.jobs.export import export_encodings_file, export_qdq_file
from workbench.jobs.infer import run_container
from workbench.jobs.inspect import container_diff, container_info
from workbench.jobs.quantize import QuantizeRequest, quantize_job
from workbench.options import RunOptions
from workbench.store import Run, Store, open_store

MIN_CASES = 1000
# Examples per test: the contract of this module is their sum (checked below).
EXAMPLES = {
    "onnx_bytes": 120,
    "onnx_structure": 300,
    "container_bytes": 80,
    "container_manifest": 80,
    "container_graph": 200,
    "container_encodings": 90,
    "container_npy": 60,
    "container_names": 40,
    "input_lists": 180,
    "override_encodings": 120,
    "options": 120,
}
assert sum(EXAMPLES.values()) >= MIN_CASES

PROJECT = "default"
RUNTIMES = ("cpu", "gpu", "gpu_fp16", "dsp", "aip")
MARKER = "unpickled-marker"
# Errors that say a file is malformed or missing: their message must name the file.
FILE_ERRORS = (ModelError, ContainerError, InputListError, NotFound)


def fuzz_settings(name: str) -> Callable[[Any], Any]:
    return settings(
        max_examples=EXAMPLES[name],
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# ------------------------------------------------------------------------------------------
# the property


class Traceback(AssertionError):
    """A job let through something other than a ``WorkbenchError``."""


@dataclass(repr=False)
class Base:
    """Valid inputs every mutation starts from (built once per module)."""

    folder: Path
    onnx_bytes: bytes
    two_input_bytes: bytes
    float_dlc: Path
    quant_dlc: Path
    float_entries: list[tuple[zipfile.ZipInfo, bytes]]
    quant_entries: list[tuple[zipfile.ZipInfo, bytes]]
    input_list: Path
    encodings: dict[str, dict[str, Any]]


@dataclass(repr=False)
class Fuzz:
    """One fuzz test's store, base files and case counter; ``attempt`` checks the property."""

    store: Store
    base: Base
    root: Path
    cli: Any = None
    cases: int = 0
    tracebacks: int = 0
    last_error: Exception | None = None  # what the last ``attempt`` was refused with

    def case(self, body: Callable[[Fuzz, Path, random.Random], None], seed: int) -> None:
        """Run one case in a fresh folder, then check no run was left ``running``."""
        folder = Path(tempfile.mkdtemp(dir=self.root))
        self.cases += 1
        try:
            body(self, folder, random.Random(seed))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        assert_nothing_running(self.store)
        assert not (self.root / MARKER).exists(), "a .npy was unpickled"

    def attempt(
        self, job: Callable[[], Any], *names: str | os.PathLike[str], strict: bool = False
    ) -> Any:
        """Run ``job``; only success or a one-line ``WorkbenchError`` passes.

        A malformed file (``FILE_ERRORS``; with ``strict`` any error) must be named by
        one of ``names``; a refused option or runtime (``BadInput``, ``RuntimeRefused``)
        need not. Returns the job's result, or None when it was refused.
        """
        self.last_error = None
        try:
            return job()
        except WorkbenchError as exc:
            self.last_error = exc
            message = str(exc)
            assert message.strip(), f"empty message from {type(exc).__name__}"
            assert "\n" not in message, f"multi-line message: {message!r}"
            if names and (strict or isinstance(exc, FILE_ERRORS)):
                wanted = [os.fspath(n) for n in names]
                assert any(w in message for w in wanted), (
                    f"{type(exc).__name__} names none of {wanted}: {message}"
                )
            return None
        except Exception as exc:
            self.tracebacks += 1
            raise Traceback(f"{type(exc).__name__} escaped: {exc}") from exc

    def command(self, *argv: str) -> None:
        """``workbench ARGV`` in-process: exit 0, or exit 2 with exactly one ``error:`` line."""
        result = self.cli(*argv)
        output = result.stdout + result.stderr
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        if result.exit_code not in (0, 2):
            self.tracebacks += 1
            raise Traceback(f"exit {result.exit_code} for {list(argv)}: {output}")
        if result.exit_code == 2:
            assert len(errors) == 1, f"{len(errors)} error lines for {list(argv)}: {output}"
            assert "Traceback" not in output
        else:
            assert not errors, f"exit 0 with an error line for {list(argv)}: {output}"


def assert_nothing_running(store: Store) -> None:
    with store.read() as session:
        running = session.scalar(select(func.count()).where(Run.status == "running"))
    assert running == 0, f"{running} run(s) left running"


# ------------------------------------------------------------------------------------------
# base inputs


def two_input_model(path: Path) -> Path:
    """``relu((a + b) * w)``: two inputs, for ``name:=path`` input lists."""
    w = np.linspace(-1, 1, 4, dtype=np.float32).reshape(1, 4)
    nodes = [
        helper.make_node("Add", ["a", "b"], ["s"], name="add"),
        helper.make_node("Mul", ["s", "w"], ["m"], name="mul"),
        helper.make_node("Relu", ["m"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "two_inputs",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def zip_entries(path: Path) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(info, zf.read(info)) for info in zf.infolist()]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, _migrated_template: Path) -> Iterator[Base]:
    folder = tmp_path_factory.mktemp("fuzz-base")
    shutil.copyfile(_migrated_template, folder / "store.db")
    store = open_store(f"sqlite:///{folder / 'store.db'}")
    try:
        model = small_cnn(folder / "model.onnx")
        two = two_input_model(folder / "two.onnx")
        listing, _ = write_inputs(folder, 2)
        float_dlc, quant_dlc = folder / "model.dlc", folder / "model_q.dlc"
        convert_model(store, PROJECT, model, float_dlc, command="fuzz")
        convert_model(store, PROJECT, two, folder / "two.dlc", command="fuzz")
        request = QuantizeRequest(
            float_dlc, listing, quant_dlc, QuantOptions(enable_hta=True), False, "fuzz"
        )
        quantize_job(store, PROJECT, request)
        encodings = {}
        for version in ("0.6.1", "1.0.0"):
            out = folder / f"enc-{version}.json"
            export_encodings_file(quant_dlc, out, version)
            encodings[version] = json.loads(out.read_text())
        yield Base(
            folder=folder,
            onnx_bytes=model.read_bytes(),
            two_input_bytes=two.read_bytes(),
            float_dlc=float_dlc,
            quant_dlc=quant_dlc,
            float_entries=zip_entries(float_dlc),
            quant_entries=zip_entries(quant_dlc),
            input_list=listing,
            encodings=encodings,
        )
    finally:
        store.close()


@pytest.fixture
def fuzz(
    base: Base, store: Store, cli: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Fuzz]:
    fz = Fuzz(store=store, base=base, root=tmp_path, cli=cli)
    with memory_guard():
        yield fz
    request.node.user_properties.append(("fuzz_cases", fz.cases))
    request.node.user_properties.append(("fuzz_tracebacks", fz.tracebacks))
    if fz.cases:
        _RAN[request.node.originalname] = fz.cases


# Address space a fuzz test may add to what the process already maps. Every case needs
# a few MiB; a regression that lets a hostile input allocate gigabytes then fails as a
# MemoryError (a traceback, reported) instead of the OOM killer ending the test run.
GUARD_BYTES = 4 << 30


@contextmanager
def memory_guard() -> Iterator[None]:
    try:
        import resource

        import psutil

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = psutil.Process().memory_info().vms + GUARD_BYTES
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # no rlimits here: run unguarded
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


_RAN: dict[str, int] = {}


def seeds() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=2**32 - 1)


# ------------------------------------------------------------------------------------------
# generic mutations


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Truncations, bit flips, spliced and inserted chunks, deletions (1 to 3 of them)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        n = len(out)
        if n == 0:
            out = bytearray(rng.randbytes(rng.randint(0, 64)))
            continue
        kind = rng.choice(("truncate", "flip", "splice", "insert", "delete", "overwrite"))
        if kind == "truncate":
            out = out[: rng.randrange(n)]
        elif kind == "flip":
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif kind == "splice":  # a chunk of the file copied over another place
            a = rng.randrange(n)
            chunk = out[a : a + rng.randint(1, 256)]
            b = rng.randrange(n)
            out[b : b + len(chunk)] = chunk
        elif kind == "insert":
            i = rng.randrange(n + 1)
            out[i:i] = rng.randbytes(rng.randint(1, 64))
        elif kind == "delete":
            a = rng.randrange(n)
            del out[a : a + rng.randint(1, 64)]
        else:
            a = rng.randrange(n)
            k = rng.randint(1, 16)
            out[a : a + k] = rng.randbytes(k)
    return bytes(out)


WEIRD_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    3,
    2**31,
    -(2**63),
    2**64,
    10**30,
    0.5,
    -1e308,
    float("nan"),
    float("inf"),
    "",
    "x",
    "float64",
    "object",
    "../../etc/passwd",
    "/etc/passwd",
    "a" * 300,
    [],
    [None],
    [1, 2, 3],
    [-1],
    [2**40, 2**40],
    {},
    {"__ndarray__": "attrs/0.npy"},
    {"__ndarray__": "../evil.npy"},
    {"k": [1]},
)


def _slots(doc: Any) -> Iterator[tuple[Any, Any]]:
    """Every (parent, key) in a JSON document."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield doc, key
            yield from _slots(value)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield doc, i
            yield from _slots(value)


def _nudged(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice((value + 1, value - 1, -value, value * 1000, 2**40, 0))
    if isinstance(value, float):
        return rng.choice((value * -1, value * 1e30, 0.0, 1e-300, value + 1))
    if isinstance(value, str):
        return rng.choice((value + "_", "", value[:-1], value.upper(), value + "/../x"))
    if isinstance(value, list):
        return rng.choice((value[:-1], value[::-1], value + value[:1], []))
    return {}


def mutate_json(doc: Any, rng: random.Random, rounds: int | None = None) -> Any:
    """``doc`` with 1 to 3 values replaced, deleted, wrapped or nudged, keys added or renamed."""
    doc = copy.deepcopy(doc)
    for _ in range(rounds or rng.randint(1, 3)):
        slots = list(_slots(doc))
        if not slots or rng.random() < 0.02:
            return copy.deepcopy(rng.choice(WEIRD_VALUES))
        parent, key = rng.choice(slots)
        action = rng.choice(
            ("replace", "replace", "delete", "wrap", "nudge", "nudge", "extra", "rename")
        )
        if action == "rename" and isinstance(parent, dict):  # a key another name's
            parent[rng.choice(("ghost", f"{key}_", "", "x", "w", "b", "prob:0"))] = parent.pop(key)
        elif action == "replace":
            parent[key] = copy.deepcopy(rng.choice(WEIRD_VALUES))
        elif action == "delete":
            del parent[key]
        elif action == "wrap":
            parent[key] = rng.choice(([parent[key]], {"value": parent[key]}))
        elif action == "nudge":
            parent[key] = _nudged(parent[key], rng)
        elif isinstance(parent, dict):
            parent[rng.choice(("bogus", "name", "shape", "dtype", "axis"))] = copy.deepcopy(
                rng.choice(WEIRD_VALUES)
            )
        else:
            parent.insert(key, copy.deepcopy(parent[key]))
    return doc


def json_text(doc: Any, rng: random.Random) -> bytes:
    """``doc`` as JSON; sometimes byte-mutated, or with a very deep nest spliced in."""
    text = json.dumps(doc)
    roll = rng.random()
    if roll < 0.1:
        return mutate_bytes(text.encode(), rng)
    if roll < 0.14:
        depth = rng.choice((1000, 100_000))
        cut = rng.randrange(len(text) + 1)
        return (text[:cut] + "[" * depth + "]" * depth + text[cut:]).encode()
    return text.encode()


class _CreatesMarker:
    """Unpickling this calls ``open(path, "w")``: the marker file proves a .npy was unpickled."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def pickled_npy(marker: Path) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([_CreatesMarker(marker)], dtype=object), allow_pickle=True)
    return buf.getvalue()


def npy_with_header(header: str | bytes, data: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    """A .npy buffer with this literal header (padded as numpy pads it)."""
    raw = header.encode("latin1") if isinstance(header, str) else header
    size_bytes = 2 if version[0] == 1 else 4
    pad = (-(6 + 2 + size_bytes + len(raw) + 1)) % 64
    raw = raw + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes(version) + len(raw).to_bytes(size_bytes, "little") + raw + data


NPY_DESCRS = ("<f4", ">f4", "<f8", "<f2", "<i4", "<i8", "|u1", "|b1", "<c8", "|O", "<U3",
              "|V4", "<M8[s]", "[('a', '<f4')]", "garbage", "")  # fmt: skip


def hostile_npy(shape: tuple[int, ...], dtype: str, rng: random.Random, marker: Path) -> bytes:
    """A .npy buffer for a tensor of ``shape``/``dtype`` whose header or data lies."""
    kind = rng.choice(("descr", "shape", "fortran", "version", "garbage", "pickle", "short"))
    count = int(np.prod(shape))
    data = np.zeros(shape, dtype).tobytes()
    if kind == "pickle":
        return pickled_npy(marker)
    descr, fortran, version = np.dtype(dtype).str, False, (1, 0)
    if kind == "descr":
        descr = rng.choice(NPY_DESCRS)
    elif kind == "shape":
        shape = rng.choice(((), (0,), (count + 1,), (2**40,), (2**62, 2**62), (-1,), (count,)))
    elif kind == "fortran":
        fortran = rng.choice((True, "yes", None))
    elif kind == "version":
        version = rng.choice(((2, 0), (3, 0), (0, 9), (255, 255)))
    elif kind == "garbage":
        header = rng.choice(("{", "[1, 2]", "{'descr': '<f4'}", "import os", "{'descr': '<f4',"
                             " 'fortran_order': False, 'shape': (1,), 'extra': 1}"))  # fmt: skip
        return npy_with_header(header, data)
    elif kind == "short":
        data = data[: rng.randrange(max(1, len(data)))]
    shape_text = repr(tuple(shape)) if isinstance(shape, tuple) else repr(shape)
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran!r}, 'shape': {shape_text}, }}"
    if descr.startswith("["):
        header = header.replace(repr(descr), descr)
    return npy_with_header(header, data, version)


# ------------------------------------------------------------------------------------------
# ONNX models


ONNX_OPS = ("Conv", "Relu", "Gemm", "Reshape", "MatMul", "Softmax", "Add", "Frobnicate", "",
            "If", "Loop", "Constant", "Shape", "Cast", "Resize", "Slice", "Pad", "Concat",
            "Transpose", "MaxPool", "Gather", "Expand", "ConstantOfShape", "Split", "TopK",
            "NonZero", "Flatten", "BatchNormalization", "Range", "Tile")  # fmt: skip
ATTR_NAMES = ("kernel_shape", "pads", "strides", "dilations", "group", "axis", "axes", "transA",
              "transB", "alpha", "beta", "auto_pad", "perm", "allowzero", "epsilon", "to",
              "mode", "value", "bogus")  # fmt: skip
ATTR_VALUES: tuple[Any, ...] = (0, -1, 1, 2, 2**31, -(2**40), 1.5, float("nan"), float("inf"),
                                "", "SAME_UPPER", "VALID", "junk", [0], [-1, -1], [1, 1, 1, 1, 1],
                                [2**40, 2**40], [3, 3], [0, 0, 0, 0], [1.0, 2.0], ["a"],
                                [-5, -5, -5, -5])  # fmt: skip
ELEM_TYPES = (0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 14, 16, 17, 19, 21, 23, 999)


def _any_node(model: onnx.ModelProto, rng: random.Random) -> onnx.NodeProto | None:
    nodes = model.graph.node
    return nodes[rng.randrange(len(nodes))] if len(nodes) else None


def _value_infos(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    return [*model.graph.input, *model.graph.output] or [model.graph.input.add()]


def _initializer(model: onnx.ModelProto, rng: random.Random) -> TensorProto:
    inits = model.graph.initializer
    if not len(inits):
        inits.append(numpy_helper.from_array(np.ones(4, np.float32), "w"))
    return inits[rng.randrange(len(inits))]


def _tensor_bytes(t: TensorProto) -> bytes:
    try:
        return t.raw_data or numpy_helper.to_array(t).tobytes()
    except Exception:  # already mutated beyond reading (external, wrong type...)
        return bytes(16)


def m_initializer_dims(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    t = _initializer(model, rng)
    dims = list(t.dims)
    roll = rng.randrange(4)
    if roll == 0 and dims:
        dims[rng.randrange(len(dims))] += rng.choice((-1, 1, 7))
    elif roll == 1:
        dims.append(rng.choice((1, 2, 3)))
    elif roll == 2 and dims:
        dims.pop()
    else:
        dims = [rng.choice((0, -1, -(2**40), 2**31, 2**40, 2**62))] + dims[1:]
    del t.dims[:]
    t.dims.extend(dims)


def m_dangling_input(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    node = _any_node(model, rng)
    if node is not None and len(node.input):
        node.input[rng.randrange(len(node.input))] = rng.choice(
            ("ghost", "", node.output[0], "x" * 1000, "w")
        )


def m_attribute(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    node = _any_node(model, rng)
    if node is None:
        return
    if len(node.attribute) and rng.random() < 0.3:  # a type that disagrees with the value
        a = node.attribute[rng.randrange(len(node.attribute))]
        a.type = rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 13))
        return
    name = rng.choice(ATTR_NAMES)
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept)
    node.attribute.append(helper.make_attribute(name, rng.choice(ATTR_VALUES)))


def m_dtype(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    elem = rng.choice(ELEM_TYPES)
    if rng.random() < 0.5:
        rng.choice(_value_infos(model)).type.tensor_type.elem_type = elem
    else:
        _initializer(model, rng).data_type = elem


def m_huge_dim(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    value = rng.choice(_value_infos(model))
    dims = value.type.tensor_type.shape.dim
    if len(dims):
        dims[rng.randrange(len(dims))].dim_value = rng.choice((2**31, 2**40, 2**62, 4096))


def m_negative_dim(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    value = rng.choice(_value_infos(model))
    dims = value.type.tensor_type.shape.dim
    if len(dims):
        d = dims[rng.randrange(len(dims))]
        if rng.random() < 0.7:
            d.dim_value = rng.choice((-1, -3, -(2**40), 0))
        else:
            d.dim_param = rng.choice(("", "N", "batch size", "-1"))


def m_duplicate(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    g = model.graph
    roll = rng.randrange(6)
    if roll == 0 and len(g.node):
        g.node.append(copy.deepcopy(g.node[rng.randrange(len(g.node))]))
    elif roll == 1:
        g.initializer.append(copy.deepcopy(_initializer(model, rng)))
    elif roll == 2 and len(g.input):
        g.input.append(copy.deepcopy(g.input[0]))
    elif roll == 3 and len(g.output):
        g.output.append(copy.deepcopy(g.output[0]))
    elif roll == 4 and len(g.node) > 1:
        g.node[1].output[0] = g.node[0].output[0]
    elif len(g.node) > 1:
        g.node[1].name = g.node[0].name = "same"


def m_empty(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    g = model.graph
    for part in rng.sample(("node", "output", "input", "initializer"), rng.randint(1, 4)):
        g.ClearField(part)


def m_cycle(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    nodes = model.graph.node
    if len(nodes) < 2 or not all(len(n.input) and len(n.output) for n in nodes):
        return
    if rng.random() < 0.5:
        nodes[0].input[0] = nodes[len(nodes) - 1].output[0]
    else:
        n = nodes[rng.randrange(len(nodes))]
        n.input[0] = n.output[0]


def m_opset(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    roll = rng.randrange(4)
    if not len(model.opset_import):
        model.opset_import.append(helper.make_opsetid("", 13))
    if roll == 0:
        model.opset_import[0].version = rng.choice((-1, 0, 1, 5, 6, 99, 10**9))
    elif roll == 1:
        model.opset_import[0].domain = rng.choice(("com.example", "ai.onnx.ml", "x" * 200))
    elif roll == 2:
        model.ClearField("opset_import")
    else:
        model.opset_import.append(helper.make_opsetid("", rng.choice((1, 13, 99))))


def m_ir_version(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    model.ir_version = rng.choice((0, 1, 2, 3, 4, 7, 10, 11, 12, 100, 2**40))


def m_external_data(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    """Point an initializer at external data: inside, outside, odd, or absurd."""
    t = _initializer(model, rng)
    data = _tensor_bytes(t)
    (folder / "inside.bin").write_bytes(data)
    (folder.parent / f"{folder.name}-outside.bin").write_bytes(data)
    (folder / "subdir").mkdir(exist_ok=True)
    location = rng.choice(("inside.bin", "../" + folder.name + "-outside.bin",
                           str(folder.parent / f"{folder.name}-outside.bin"), "link.bin",
                           "subdir", "missing.bin", "", "in\x00side.bin", "..\\outside.bin",
                           "C:\\outside.bin", "subdir/../inside.bin", "/dev/zero", "."))  # fmt: skip
    if location == "link.bin" and not (folder / "link.bin").exists():
        os.symlink(folder.parent / f"{folder.name}-outside.bin", folder / "link.bin")
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.ClearField("int64_data")
    t.data_location = TensorProto.EXTERNAL
    entries = {"location": location}
    if rng.random() < 0.7:
        entries["offset"] = rng.choice(("0", "4", "-8", "2**62", str(2**62), "x", "1e3"))
    if rng.random() < 0.7:
        entries["length"] = rng.choice((str(len(data)), "0", "-1", str(2**62), "abc", "5"))
    for key, value in entries.items():
        e = t.external_data.add()
        e.key, e.value = key, value


def m_raw_data_length(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    t = _initializer(model, rng)
    raw = _tensor_bytes(t)
    roll = rng.randrange(4)
    if roll == 0:
        t.raw_data = raw[: rng.randrange(max(1, len(raw)))]
    elif roll == 1:
        t.raw_data = raw + rng.randbytes(rng.randint(1, 9))
    elif roll == 2:
        t.raw_data = b""
    else:
        t.raw_data = raw
        t.float_data.extend([1.0, 2.0])


def m_op_type(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    node = _any_node(model, rng)
    if node is not None:
        node.op_type = rng.choice(ONNX_OPS)
        if rng.random() < 0.2:
            node.domain = rng.choice(("com.microsoft", "ai.onnx.ml", "ai.onnx", "bogus"))


def m_value_type(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    value = rng.choice(_value_infos(model))
    roll = rng.randrange(3)
    if roll == 0:
        value.type.tensor_type.ClearField("shape")
    elif roll == 1:
        value.ClearField("type")
    else:
        elem = value.type.tensor_type.elem_type
        value.type.CopyFrom(
            helper.make_sequence_type_proto(helper.make_tensor_type_proto(elem, [1]))
        )


def m_constant_node(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    """A Constant feeding a node, with an odd value attribute."""
    node = _any_node(model, rng)
    if node is None or not len(node.input):
        return
    attrs = rng.choice((
        {"value": helper.make_tensor("v", TensorProto.STRING, [1], [b"s"])},
        {"value": TensorProto(name="v", data_type=TensorProto.FLOAT, dims=[2**20], raw_data=b"")},
        {"value_strings": ["a", "b"]},
        {"value_float": 1.0, "value_int": 2},
        {"value": helper.make_tensor("v", TensorProto.BFLOAT16, [2], [1.0, 2.0])},
        {"value_ints": [2**40, -(2**40)]},
        {},
    ))  # fmt: skip
    const = helper.make_node("Constant", [], ["konst"], name="konst", **attrs)
    node.input[rng.randrange(len(node.input))] = "konst"
    model.graph.node.insert(0, const)


def m_recursive_function(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    """A local function that calls itself (the inliner must not recurse forever)."""
    fn = helper.make_function(
        "local", "Loopy", ["x"], ["y"], [helper.make_node("Loopy", ["x"], ["y"], domain="local")],
        [helper.make_opsetid("", 13)],
    )  # fmt: skip
    model.functions.append(fn)
    model.opset_import.append(helper.make_opsetid("local", 1))
    node = _any_node(model, rng)
    if node is not None:
        node.op_type, node.domain = "Loopy", "local"
        del node.input[1:]
        del node.attribute[:]


def m_generator(model: onnx.ModelProto, rng: random.Random, folder: Path) -> None:
    """A ConstantOfShape / Expand / Tile / Range from absurd (or odd) constants, added in."""
    # Sizes either small or beyond any tensor's limit: between them a kept generator would
    # really allocate gigabytes when the converted model runs.
    n = rng.choice((0, 1, 7, -1, 2**33, 2**40, 2**62))
    op = rng.choice(("ConstantOfShape", "Expand", "Tile", "Range"))
    ints = lambda name, values: numpy_helper.from_array(np.array(values, np.int64), name)  # noqa: E731
    if op == "ConstantOfShape":
        inits, inputs = [ints("g_shape", [n, 1])], ["g_shape"]
    elif op == "Expand":
        inits, inputs = [ints("g_one", [1]), ints("g_shape", [n])], ["g_one", "g_shape"]
    elif op == "Tile":
        inits, inputs = [ints("g_one", [1]), ints("g_reps", [n])], ["g_one", "g_reps"]
    else:
        start, step = rng.choice(((0, 1), (0, 0), (n, -1)))
        inits = [ints("g_start", start), ints("g_limit", n), ints("g_delta", step)]
        inputs = ["g_start", "g_limit", "g_delta"]
    model.graph.initializer.extend(inits)
    nodes = [
        helper.make_node(op, inputs, ["g_out"], name="generator"),
        helper.make_node("Cast", ["g_out"], ["g_float"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["g_float"], ["g_sum"], keepdims=0),
    ]
    model.graph.node.extend(nodes)
    node = _any_node(model, rng)
    if node is not None and node.op_type in ("Relu", "Softmax", "Add"):  # feed it in
        add = helper.make_node("Add", [node.input[0], "g_sum"], ["g_in"], name="g_add")
        node.input[0] = "g_in"
        model.graph.node.insert(0, add)


ONNX_MUTATIONS: dict[str, Callable[[onnx.ModelProto, random.Random, Path], None]] = {
    "generator": m_generator,
    "initializer_dims": m_initializer_dims,
    "dangling_input": m_dangling_input,
    "attribute": m_attribute,
    "dtype": m_dtype,
    "huge_dim": m_huge_dim,
    "negative_dim": m_negative_dim,
    "duplicate": m_duplicate,
    "empty": m_empty,
    "cycle": m_cycle,
    "opset": m_opset,
    "ir_version": m_ir_version,
    "external_data": m_external_data,
    "raw_data_length": m_raw_data_length,
    "op_type": m_op_type,
    "value_type": m_value_type,
    "constant_node": m_constant_node,
    "recursive_function": m_recursive_function,
}


def write_feeds(folder: Path, graph_inputs: list[Any], rng: random.Random) -> Path:
    """An input list with one sample for these inputs (zeros or noise, .raw or .npy)."""
    tokens = []
    for i, t in enumerate(graph_inputs):
        array = np.asarray(rng.choice((0.0, 1.0)) * np.ones(t.shape), dtype=t.dtype)
        name = f"in{i}.npy"
        np.save(folder / name, array)
        tokens.append(f"{t.name}:={name}" if len(graph_inputs) > 1 else name)
    listing = folder / "feeds.txt"
    listing.write_text(" ".join(tokens) + "\n")
    return listing


def drive_converted(fz: Fuzz, folder: Path, rng: random.Random, dlc: Path) -> None:
    """A model that converted must then inspect, run and quantize cleanly too."""
    summary = fz.attempt(lambda: container_info(dlc), dlc)
    if summary is None or any(int(np.prod(t.shape)) > 1 << 20 for t in summary.inputs):
        return
    listing = write_feeds(folder, list(summary.inputs), rng)
    fz.attempt(
        lambda: run_container(fz.store, PROJECT, dlc, listing, folder / "out", command="fuzz"),
        dlc,
        listing,
    )
    fz.attempt(
        lambda: quantize_job(
            fz.store, PROJECT, QuantizeRequest(dlc, listing, folder / "q.dlc", QuantOptions(),
                                               analyze=False, command="fuzz"),
        ),
        dlc,
        listing,
    )  # fmt: skip


def convert_case(fz: Fuzz, folder: Path, rng: random.Random, data: bytes) -> None:
    model_dir = folder / "model"
    model_dir.mkdir(exist_ok=True)
    source = model_dir / "model.onnx"
    source.write_bytes(data)
    dlc = folder / "model.dlc"
    result = fz.attempt(
        lambda: convert_model(fz.store, PROJECT, source, dlc, command="fuzz"), source
    )
    if result is not None:
        assert_reads_back(dlc)
        drive_converted(fz, folder, rng, dlc)


def assert_reads_back(dlc: Path) -> None:
    """What convert wrote, the reader takes: every check it makes, and ``info``."""
    try:
        read_container(dlc)
        container_info(dlc)
    except WorkbenchError as exc:
        raise AssertionError(f"convert wrote a container it cannot read back: {exc}") from exc


def onnx_bytes_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    data = fz.base.two_input_bytes if rng.random() < 0.2 else fz.base.onnx_bytes
    convert_case(fz, folder, rng, mutate_bytes(data, rng))


def onnx_structure_case(kind: str) -> Callable[[Fuzz, Path, random.Random], None]:
    def body(fz: Fuzz, folder: Path, rng: random.Random) -> None:
        data = fz.base.two_input_bytes if rng.random() < 0.2 else fz.base.onnx_bytes
        model = onnx.ModelProto.FromString(data)
        (folder / "model").mkdir()
        kinds = [kind] + rng.sample(sorted(ONNX_MUTATIONS), rng.choice((0, 0, 1, 2)))
        for k in kinds:
            ONNX_MUTATIONS[k](model, rng, folder / "model")
        convert_case(fz, folder, rng, model.SerializeToString())

    return body


# ------------------------------------------------------------------------------------------
# containers

Entry = tuple[zipfile.ZipInfo, bytes]


def write_zip(path: Path, entries: list[Entry]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicates we plant
        with zipfile.ZipFile(path, "w") as zf:
            for info, data in entries:
                fresh = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                fresh.compress_type = info.compress_type
                fresh.external_attr = info.external_attr
                zf.writestr(fresh, data)
    return path


def _info(name: str, like: zipfile.ZipInfo | None = None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
    info.external_attr = (like.external_attr if like else (stat.S_IFREG | 0o644) << 16) or 0
    return info


def replaced(entries: list[Entry], name: str, data: bytes, *, reindex: bool = True) -> list[Entry]:
    """``entries`` with entry ``name`` holding ``data``; the manifest index matches if asked."""
    out = [(i, data if i.filename == name else d) for i, d in entries]
    return reindexed(out) if reindex else out


def reindexed(entries: list[Entry]) -> list[Entry]:
    manifest = json.loads(dict((i.filename, d) for i, d in entries)["manifest.json"])
    manifest["entries"] = [
        {"name": i.filename, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
        for i, d in entries
        if i.filename != "manifest.json"
    ]
    data = json.dumps(manifest).encode()
    return [(i, data if i.filename == "manifest.json" else d) for i, d in entries]


def entry(entries: list[Entry], name: str) -> bytes:
    return next(d for i, d in entries if i.filename == name)


def container_jobs(fz: Fuzz, folder: Path, rng: random.Random, dlc: Path) -> None:
    """info, diff, run on a random runtime, then quantize or export, as the container allows."""
    names = (dlc, fz.base.folder)
    summary = fz.attempt(lambda: container_info(dlc), dlc)
    if rng.random() < 0.25:  # the CLI renders what it read: tables, JSON
        fz.command(*rng.choice((["info"], ["--json", "info"], ["diff", str(fz.base.quant_dlc)])),
                   str(dlc))  # fmt: skip
    if rng.random() < 0.2:
        fz.attempt(lambda: container_diff(dlc, fz.base.float_dlc), dlc)
    if summary is None and rng.random() < 0.8:
        return
    runtime = rng.choice(RUNTIMES)
    batch = rng.choice((1, 1, 1, 2))
    fxp = runtime == "cpu" and rng.random() < 0.5
    fz.attempt(
        lambda: run_container(
            fz.store, PROJECT, dlc, fz.base.input_list, folder / "out", RunOptions(runtime=runtime,
            batch=batch, cpu_fxp=fxp, debug=rng.random() < 0.2), command="fuzz",
        ),
        *names,
    )  # fmt: skip
    if summary is not None and not summary.quantized:
        fz.attempt(
            lambda: quantize_job(
                fz.store, PROJECT, QuantizeRequest(dlc, fz.base.input_list, folder / "q.dlc",
                QuantOptions(), command="fuzz", analyze=rng.random() < 0.3),
            ),
            *names,
        )  # fmt: skip
    elif summary is not None:
        fz.attempt(lambda: export_qdq_file(dlc, folder / "q.onnx"), dlc)
        fz.attempt(lambda: export_encodings_file(dlc, folder / "e.json", "1.0.0"), dlc)


def _base_entries(fz: Fuzz, rng: random.Random) -> list[Entry]:
    return list(fz.base.quant_entries if rng.random() < 0.5 else fz.base.float_entries)


def container_bytes_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    source = fz.base.quant_dlc if rng.random() < 0.5 else fz.base.float_dlc
    dlc = folder / "c.dlc"
    dlc.write_bytes(mutate_bytes(source.read_bytes(), rng))
    container_jobs(fz, folder, rng, dlc)


def container_manifest_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    entries = _base_entries(fz, rng)
    manifest = json.loads(entry(entries, "manifest.json"))
    text = json_text(mutate_json(manifest, rng), rng)
    dlc = write_zip(folder / "c.dlc", replaced(entries, "manifest.json", text, reindex=False))
    container_jobs(fz, folder, rng, dlc)


OP_TYPES = ("Conv", "Relu", "Gemm", "Reshape", "MatMul", "Softmax", "Add", "Frobnicate",
            "MaxPool", "Transpose", "Concat", "Gather", "Slice", "Resize", "Pad", "Cast")  # fmt: skip
DTYPE_NAMES = ("float32", "float16", "float64", "int8", "uint8", "int32", "int64", "bool",
               "object", "complex64", "str", "")  # fmt: skip


def mutate_graph_doc(doc: Any, rng: random.Random) -> Any:
    """Targeted graph.json mutations (shapes, dtypes, ops, attributes, names), or generic ones."""
    try:
        return _mutate_graph_doc(copy.deepcopy(doc), rng)
    except (KeyError, IndexError, TypeError, AttributeError):  # an earlier round broke its shape
        return mutate_json(doc, rng)


def _mutate_graph_doc(doc: Any, rng: random.Random) -> Any:
    roll = rng.randrange(7)
    nodes = doc["nodes"]
    if roll == 0:
        rng.choice(nodes)["op_type"] = rng.choice(OP_TYPES)
    elif roll == 1:
        attrs = rng.choice(nodes)["attrs"]
        attrs[rng.choice(ATTR_NAMES)] = copy.deepcopy(rng.choice(ATTR_VALUES + WEIRD_VALUES))
    elif roll == 2:
        infos = [*doc["inputs"], *doc["outputs"], *doc["tensors"]]
        info = rng.choice(infos)
        if rng.random() < 0.6:
            shape = list(info["shape"]) or [1]
            shape[rng.randrange(len(shape))] = rng.choice((0, -1, 2, 9, 2**31, 2**40, 10**6))
            info["shape"] = rng.choice((shape, shape[:-1], [*shape, 1]))
        else:
            info["dtype"] = rng.choice(DTYPE_NAMES)
    elif roll == 3:
        node = rng.choice(nodes)
        which = rng.choice(("inputs", "outputs"))
        if node[which]:
            node[which][rng.randrange(len(node[which]))] = rng.choice(
                ("ghost", "", "x", nodes[0]["outputs"][0], node["name"])
            )
    elif roll == 4:
        rng.shuffle(nodes)
    elif roll == 5:
        param = rng.choice(doc["params"])
        param[rng.choice(("shape", "dtype", "entry", "name"))] = copy.deepcopy(
            rng.choice(WEIRD_VALUES + ("params/0.npy", "attrs/0.npy", "w", "x"))
        )
    else:
        return mutate_json(doc, rng)
    return doc


def container_graph_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    entries = _base_entries(fz, rng)
    doc = json.loads(entry(entries, "graph.json"))
    for _ in range(rng.choice((1, 1, 2))):
        doc = mutate_graph_doc(doc, rng)
    data = json_text(doc, rng)
    dlc = write_zip(folder / "c.dlc", replaced(entries, "graph.json", data))
    container_jobs(fz, folder, rng, dlc)


def mutate_hta_record(data: bytes, rng: random.Random) -> bytes:
    """``hta_0.bin``: magic, index length, JSON index, aligned sections; mutate index or bytes."""
    if rng.random() < 0.3:
        return mutate_bytes(data, rng)
    length = int.from_bytes(data[8:12], "little")
    index = json_text(mutate_json(json.loads(data[12 : 12 + length]), rng), rng)
    rest = data[12 + length :]
    if rng.random() < 0.5:  # keep the sections where they were
        index = index[:length].ljust(length) if len(index) >= length else index.ljust(length)
    return data[:8] + len(index).to_bytes(4, "little") + index + rest


def container_encodings_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    """encodings.json, and the HTA records (subnets.json, hta_0.bin) of a quantized container."""
    entries = list(fz.base.quant_entries)
    name = rng.choice(("encodings.json", "encodings.json", "records/subnets.json",
                       "records/hta_0.bin"))  # fmt: skip
    if name.endswith(".bin"):
        data = mutate_hta_record(entry(entries, name), rng)
    else:
        data = json_text(mutate_json(json.loads(entry(entries, name)), rng), rng)
    dlc = write_zip(folder / "c.dlc", replaced(entries, name, data))
    container_jobs(fz, folder, rng, dlc)


def container_npy_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    entries = _base_entries(fz, rng)
    names = [i.filename for i, _ in entries if i.filename.endswith(".npy")]
    name = rng.choice(names)
    array = np.load(io.BytesIO(entry(entries, name)), allow_pickle=False)
    data = hostile_npy(array.shape, array.dtype.str, rng, fz.root / MARKER)
    dlc = write_zip(folder / "c.dlc", replaced(entries, name, data))
    container_jobs(fz, folder, rng, dlc)


HOSTILE_NAMES = ("../evil.bin", "records/../../evil.bin", "/etc/evil", "C:/evil", "C:evil",
                 "records\\x.bin", "\\\\server\\share", "params/../manifest.json", "params/",
                 "./graph.json", "records//x.bin", "records/x.bin", "graph.json",
                 "manifest.json", "params/0.npy", "a" * 300)  # fmt: skip


def container_names_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    """Duplicate, absolute, ``..``, backslash and drive-letter names; symlink entries."""
    entries = _base_entries(fz, rng)
    name = rng.choice(HOSTILE_NAMES)
    info = _info(name)
    if rng.random() < 0.3:
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        data = rng.choice((b"/etc/passwd", b"../../outside", b"graph.json"))
    else:
        data = rng.choice((b"x", entry(entries, "graph.json")))
    entries.insert(rng.randrange(len(entries) + 1), (info, data))
    if rng.random() < 0.5:
        entries = reindexed(entries)
    dlc = write_zip(folder / "c.dlc", entries)
    container_jobs(fz, folder, rng, dlc)


# ------------------------------------------------------------------------------------------
# input lists

TENSOR_KINDS = ("raw", "npy", "raw", "npy", "raw_size", "npy_dtype", "npy_shape", "nonfinite",
                "npy_hostile", "missing", "directory", "absolute", "symlink", "symlink_loop",
                "dangling_symlink", "empty", "space", "nul")  # fmt: skip


def tensor_file(folder: Path, rng: random.Random, shape: tuple[int, ...], stem: str) -> str:
    """Write one tensor file for ``shape`` (valid or not); returns the token for the list."""
    kind = rng.choice(TENSOR_KINDS)
    good = np.random.default_rng(rng.getrandbits(32)).standard_normal(shape).astype(np.float32)
    npy, raw = folder / f"{stem}.npy", folder / f"{stem}.raw"
    if kind in ("raw", "absolute", "symlink"):
        good.astype("<f4").tofile(raw)
        if kind == "absolute":
            return str(raw)
        if kind == "symlink":
            os.symlink(raw, folder / f"{stem}-link.raw")
            return f"{stem}-link.raw"
        return raw.name
    if kind == "npy":
        np.save(npy, good.astype(rng.choice(("<f4", ">f4", "<f8", "<f2"))))
        return npy.name
    if kind == "raw_size":
        raw.write_bytes(rng.randbytes(rng.choice((0, 3, good.nbytes - 4, good.nbytes + 4, 1000))))
        return raw.name
    if kind == "npy_dtype":
        dtype = rng.choice(("<i4", "<i8", "|u1", "|b1", "<c8", "<U3", "<M8[s]", "<m8[s]"))
        np.save(npy, np.zeros(shape, dtype))
        return npy.name
    if kind == "npy_shape":
        np.save(
            npy, np.zeros(rng.choice(((), (0,), (1,), (3, 3), (2, *shape), shape[::-1])), "<f4")
        )
        return npy.name
    if kind == "nonfinite":
        good.flat[rng.randrange(good.size)] = rng.choice((np.nan, np.inf, -np.inf))
        if rng.random() < 0.5:
            np.save(npy, good)
            return npy.name
        good.tofile(raw)
        return raw.name
    if kind == "npy_hostile":
        npy.write_bytes(hostile_npy(shape, "<f4", rng, folder.parent / MARKER))
        return npy.name
    if kind == "missing":
        return f"{stem}-missing.raw"
    if kind == "directory":
        (folder / f"{stem}.d").mkdir()
        return f"{stem}.d"
    if kind == "symlink_loop":
        os.symlink(folder / f"{stem}-b.raw", folder / f"{stem}-a.raw")
        os.symlink(folder / f"{stem}-a.raw", folder / f"{stem}-b.raw")
        return f"{stem}-a.raw"
    if kind == "dangling_symlink":
        os.symlink(folder / "nowhere.raw", folder / f"{stem}-dangling.raw")
        return f"{stem}-dangling.raw"
    if kind == "empty":
        raw.write_bytes(b"")
        return raw.name
    if kind == "space":
        good.tofile(folder / f"{stem} spaced.raw")
        return f"{stem} spaced.raw"
    return f"{stem}\x00.raw"


def bad_token(token: str, name: str, rng: random.Random) -> str:
    return rng.choice((f"{name}=:{token}", f":={token}", f"{name}:=", f"ghost:={token}",
                       f"{name}:={token} {name}:={token}", f"{name}:={token}:={token}",
                       f"{token} {token}", ":=", f"{name.upper()}:={token}"))  # fmt: skip


def input_list_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    two = rng.random() < 0.3
    dlc = fz.base.folder / ("two.dlc" if two else "model.dlc")
    inputs = (("a", (1, 4)), ("b", (1, 4))) if two else (("x", (1, 3, 8, 8)),)
    lines = []
    header = rng.choice((None, None, None, "#y", "#prob:0", "#nope", "#", "# a comment",
                         "#prob:0 prob:0", "#x", "#relu"))  # fmt: skip
    if header:
        lines.append(header)
    for row in range(rng.choice((0, 1, 1, 2, 3))):
        tokens = []
        for name, shape in inputs:
            token = tensor_file(folder, rng, shape, f"{name}{row}")
            if two or rng.random() < 0.2:
                token = f"{name}:={token}"
            if rng.random() < 0.08:
                token = bad_token(token, name, rng)
            tokens.append(token)
        if rng.random() < 0.1:
            rng.shuffle(tokens)
        lines.append(" ".join(tokens))
    text = rng.choice(("\n", "\r\n", "\n\n")).join(lines)
    data = text.encode("utf-8")
    roll = rng.random()
    if roll < 0.05:
        data = b"\xef\xbb\xbf" + data  # a byte-order mark
    elif roll < 0.1:
        data = mutate_bytes(data, rng)
    listing = folder / "list.txt"
    roll = rng.random()
    if roll < 0.03:
        listing.mkdir()
    elif roll < 0.06:
        listing = folder / "no-such-list.txt"
    else:
        listing.write_bytes(data)
    names = (listing, folder)
    if rng.random() < 0.5:
        fz.attempt(
            lambda: run_container(
                fz.store, PROJECT, dlc, listing, folder / "out", RunOptions(batch=rng.choice((1, 2))),
                command="fuzz",
            ),
            *names,
        )  # fmt: skip
    else:
        fz.attempt(
            lambda: quantize_job(
                fz.store, PROJECT, QuantizeRequest(dlc, listing, folder / "q.dlc", QuantOptions(),
                command="fuzz", analyze=rng.random() < 0.3),
            ),
            *names,
        )  # fmt: skip


# ------------------------------------------------------------------------------------------
# AIMET encodings for --override-params


def mutate_encodings(doc: dict[str, Any], rng: random.Random) -> Any:
    """Targeted changes to one encoding entry, or generic JSON mutations."""
    doc = copy.deepcopy(doc)
    if rng.random() < 0.4:
        return mutate_json(doc, rng)
    section = rng.choice(("activation_encodings", "param_encodings"))
    group = doc[section]
    if isinstance(group, dict):  # 0.6.1: name -> [entries]
        name = rng.choice(sorted(group))
        target = rng.choice(group[name])
        keys = ("bitwidth", "offset", "scale", "min", "max", "is_symmetric", "dtype")
        if rng.random() < 0.15:
            group[rng.choice(("ghost", "x", "w", "prob:0"))] = group.pop(name)
    else:  # 1.0.0: [entries with names]
        target = rng.choice(group)
        keys = ("bw", "offset", "scale", "is_sym", "dtype", "enc_type", "axis", "name")
    key = rng.choice(keys)
    target[key] = copy.deepcopy(rng.choice(
        WEIRD_VALUES + (1e-300, 1e300, -0.5, 2, 4, 16, 32, 64, -128, -255, -(2**31), [1.0] * 4,
                        [0.1, 0.2], "PER_CHANNEL", "PER_BLOCK", "float", "INT", "True", "w")
    ))  # fmt: skip
    return doc


def override_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    version = rng.choice(("0.6.1", "1.0.0"))
    doc = mutate_encodings(fz.base.encodings[version], rng)
    path = folder / "enc.json"
    path.write_bytes(json_text(doc, rng))
    options = QuantOptions(
        override_params=str(path),
        per_channel=rng.random() < 0.3,
        weights_bitwidth=rng.choice((4, 8, 16)),
        act_bitwidth=rng.choice((8, 16)),
        bias_bitwidth=rng.choice((8, 32)),
        algorithms=rng.choice(((), ("cle",), ("bc",))),
    )
    q = folder / "q.dlc"
    result = fz.attempt(
        lambda: quantize_job(
            fz.store, PROJECT, QuantizeRequest(fz.base.float_dlc, fz.base.input_list, q, options,
            command="fuzz", analyze=rng.random() < 0.3),
        ),
        path,
        strict=True,
    )  # fmt: skip
    if result is not None:
        runtime = rng.choice(RUNTIMES)
        fz.attempt(
            lambda: run_container(
                fz.store, PROJECT, q, fz.base.input_list, folder / "out", RunOptions(runtime=runtime,
                cpu_fxp=runtime == "cpu" and rng.random() < 0.5), command="fuzz",
            ),
            q,
        )  # fmt: skip


# ------------------------------------------------------------------------------------------
# command lines


def _pick(rng: random.Random, good: str, *bad: str) -> str:
    return good if rng.random() < 0.5 else rng.choice(bad)


def option_argv(fz: Fuzz, folder: Path, rng: random.Random) -> list[str]:
    """A command line for one command, each option valid or nonsense at random."""
    b = fz.base
    listing = _pick(rng, str(b.input_list), str(folder / "none.txt"), str(folder), "")
    container = _pick(rng, str(b.float_dlc), str(b.quant_dlc), str(folder / "gone.dlc"),
                      str(folder), str(b.folder / "model.onnx"), "")  # fmt: skip
    bitwidths = ("3", "-1", "0", "abc", "1e9", "", "8.0", "32", "99999999999999999999")
    command = rng.choice(("convert", "quantize", "run", "info", "bench", "export qdq",
                          "export encodings", "diff", "advise"))  # fmt: skip
    if command == "convert":
        argv = ["convert", _pick(rng, str(b.folder / "model.onnx"), str(folder / "m.onnx"),
                                 str(b.float_dlc), str(folder), "m.tflite", "")]  # fmt: skip
        argv += ["-o", _pick(rng, str(folder / "m.dlc"), str(folder / "m.txt"), str(folder),
                             str(folder / "no" / "m.dlc"), "")]  # fmt: skip
        for _ in range(rng.choice((0, 0, 1, 2))):
            argv += ["--input-dim", rng.choice(("x", "y", "", "w")),
                     rng.choice(("1,3,8,8", "0", "a,b", "1", "1,3,8", "-1,3,8,8", "1x3x8x8",
                                 "", ",,,", "1,3,8,8,", "99999999999999999999,3,8,8",
                                 "2,3,8,8"))]  # fmt: skip
    elif command == "quantize":
        argv = ["quantize", container, "--input-list", listing]
        argv += ["-o", _pick(rng, str(folder / "q.dlc"), str(folder / "q.txt"), str(folder),
                             str(b.float_dlc), str(folder / "no" / "q.dlc"))]  # fmt: skip
        for option, good in (("--weights-bitwidth", "8"), ("--act-bitwidth", "16"),
                             ("--bias-bitwidth", "32")):  # fmt: skip
            if rng.random() < 0.5:
                argv += [option, _pick(rng, good, *bitwidths)]
        if rng.random() < 0.4:
            argv += ["--percentile", _pick(rng, "99.9", "nan", "inf", "-inf", "-1", "abc",
                                           "1e400", "0", "50", "100.0001")]  # fmt: skip
        for option in ("--param-quantizer", "--act-quantizer"):
            if rng.random() < 0.3:
                argv += [option, _pick(rng, "enhanced", "bogus", "", "TF")]
        if rng.random() < 0.4:
            argv += ["--algorithms", _pick(rng, "cle,bc", "x", ",,", "CLE", "cle,,bc", " ",
                                           "cle;bc")]  # fmt: skip
        if rng.random() < 0.3:
            argv += ["--override-params", _pick(rng, str(b.folder / "enc-1.0.0.json"),
                                                str(folder / "none.json"), str(folder),
                                                str(b.input_list), str(b.float_dlc))]  # fmt: skip
        argv += rng.sample(["--per-channel", "--enable-hta", "--no-analysis"], rng.randint(0, 3))
    elif command in ("run", "bench", "advise"):
        argv = [command, container, "--input-list", listing]
        if command == "run":
            argv += ["--output-dir", _pick(rng, str(folder / "out"), str(b.float_dlc), "",
                                           str(b.float_dlc / "sub"))]  # fmt: skip
            if rng.random() < 0.5:
                argv += ["--runtime", _pick(rng, rng.choice(RUNTIMES), "bogus", "GPU", "")]
        if command == "bench" and rng.random() < 0.5:
            argv += ["--runtimes", _pick(rng, "cpu,dsp", "bogus", "", ",", "cpu,cpu")]
        if rng.random() < 0.5:
            argv += ["--batch", _pick(rng, "2", "0", "-1", "abc", "1.5", "", "5000",
                                      "99999999999999999999")]  # fmt: skip
        if command != "run" and rng.random() < 0.7:
            argv += ["--iterations", _pick(rng, "1", "0", "-3", "x", "", "99999999999999999999")]
        if command == "run" and rng.random() < 0.3:
            argv += rng.sample(["--cpu-fxp", "--debug"], rng.randint(1, 2))
    elif command.startswith("export"):
        suffix = ".onnx" if command == "export qdq" else ".json"
        argv = [*command.split(), container, "-o",
                _pick(rng, str(folder / f"e{suffix}"), str(folder / "e.txt"), str(folder),
                      str(folder / "no" / f"e{suffix}"))]  # fmt: skip
        if command == "export encodings" and rng.random() < 0.5:
            argv += ["--format-version", _pick(rng, "0.6.1", "2.0", "")]
    elif command == "diff":
        argv = ["diff", container, _pick(rng, str(b.quant_dlc), str(folder / "none.dlc"))]
    else:
        argv = ["info", container]
    if rng.random() < 0.3:
        argv.insert(0, "--json")
    if rng.random() < 0.1:
        argv[:0] = ["--project", rng.choice(("", " ", "x" * 500, "a/b", "default"))]
    return argv


def options_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    # From inside the case folder: a relative or empty path must not land in the checkout.
    here = os.getcwd()
    os.chdir(folder)
    try:
        fz.command(*option_argv(fz, folder, rng))
    finally:
        os.chdir(here)


# ------------------------------------------------------------------------------------------
# the tests


@fuzz_settings("onnx_bytes")
@given(seed=seeds())
def test_mutated_onnx_bytes(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(onnx_bytes_case, seed)


@fuzz_settings("onnx_structure")
@given(kind=st.sampled_from(sorted(ONNX_MUTATIONS)), seed=seeds())
def test_mutated_onnx_structure(fuzz: Fuzz, kind: str, seed: int) -> None:
    fuzz.case(onnx_structure_case(kind), seed)


@fuzz_settings("container_bytes")
@given(seed=seeds())
def test_mutated_container_bytes(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(container_bytes_case, seed)


@fuzz_settings("container_manifest")
@given(seed=seeds())
def test_mutated_container_manifest(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(container_manifest_case, seed)


@fuzz_settings("container_graph")
@given(seed=seeds())
def test_mutated_container_graph(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(container_graph_case, seed)


@fuzz_settings("container_encodings")
@given(seed=seeds())
def test_mutated_container_encodings_and_records(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(container_encodings_case, seed)


@fuzz_settings("container_npy")
@given(seed=seeds())
def test_mutated_container_npy_headers(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(container_npy_case, seed)


@fuzz_settings("container_names")
@given(seed=seeds())
def test_hostile_container_entry_names(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(container_names_case, seed)


@fuzz_settings("input_lists")
@given(seed=seeds())
def test_mutated_input_lists(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(input_list_case, seed)


@fuzz_settings("override_encodings")
@given(seed=seeds())
def test_mutated_override_encodings(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(override_case, seed)


@fuzz_settings("options")
@given(seed=seeds())
def test_nonsense_options_through_the_cli(fuzz: Fuzz, seed: int) -> None:
    fuzz.case(options_case, seed)


# ------------------------------------------------------------------------------------------
# what the fuzzing found: each a traceback (or an unnamed file) before its fix


def _model(fz: Fuzz) -> onnx.ModelProto:
    return onnx.ModelProto.FromString(fz.base.onnx_bytes)


def _save(model: onnx.ModelProto, folder: Path) -> Path:
    (folder / "m").mkdir(exist_ok=True)
    (folder / "m" / "m.onnx").write_bytes(model.SerializeToString())
    return folder / "m" / "m.onnx"


def _convert(fz: Fuzz, source: Path) -> Callable[[], Any]:
    return lambda: convert_model(fz.store, PROJECT, source, source.with_suffix(".dlc"))


def _run(
    fz: Fuzz, folder: Path, dlc: Path, listing: Path | None = None, **kw: Any
) -> Callable[[], Any]:
    listing = listing or fz.base.input_list
    return lambda: run_container(fz.store, PROJECT, dlc, listing, folder / "out", RunOptions(**kw))


def _graph_edit(fz: Fuzz, folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    doc = json.loads(entry(fz.base.float_entries, "graph.json"))
    edit(doc)
    data = json.dumps(doc).encode()
    return write_zip(folder / "c.dlc", replaced(fz.base.float_entries, "graph.json", data))


def _encodings_edit(fz: Fuzz, folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    doc = json.loads(entry(fz.base.quant_entries, "encodings.json"))
    edit(doc)
    data = json.dumps(doc).encode()
    return write_zip(folder / "c.dlc", replaced(fz.base.quant_entries, "encodings.json", data))


def found_nul_in_external_location(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    model = _model(fz)
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    location = w.external_data.add()
    location.key, location.value = "location", "w\x00.bin"
    source = _save(model, folder)
    return _convert(fz, source), source


def found_huge_input_dim(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    model = _model(fz)
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 2**40
    source = _save(model, folder)
    return _convert(fz, source), source


def found_unknown_elem_type(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    model = _model(fz)
    model.graph.input[0].type.tensor_type.elem_type = 65
    source = _save(model, folder)
    return _convert(fz, source), source


def generator_model(folder: Path, op: str, n: int) -> Path:
    """``y = x + sum(float(op(...)))`` where ``op`` makes ``n`` elements from constants."""
    ints = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    inits, inputs = {
        "ConstantOfShape": ([ints("s", [n])], ["s"]),
        "Expand": ([ints("o", [1]), ints("s", [n])], ["o", "s"]),
        "Range": ([ints("a", 0), ints("b", n), ints("c", 1)], ["a", "b", "c"]),
    }[op]
    nodes = [
        helper.make_node(op, inputs, ["g"], name="generator"),
        helper.make_node("Cast", ["g"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["f"], ["s1"], keepdims=1),
        helper.make_node("Add", ["x", "s1"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "generator",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _save(model, folder)


def found_constant_of_2_40_zeros(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    source = generator_model(folder, "ConstantOfShape", 2**40)
    return _convert(fz, source), source


def found_zip_version(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    dlc = folder / "c.dlc"
    data = bytearray(fz.base.float_dlc.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 6 : central + 8] = (84).to_bytes(2, "little")  # "version needed": 8.4
    dlc.write_bytes(bytes(data))
    return (lambda: container_info(dlc)), dlc


def found_npy_header_tokenize(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    bad = npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4,", bytes(16))
    dlc = write_zip(folder / "c.dlc", replaced(fz.base.float_entries, "params/1.npy", bad))
    return (lambda: container_info(dlc)), dlc


def found_positive_offset(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    dlc = _encodings_edit(fz, folder, lambda d: d["encodings"]["x"].update(offset=1))
    return (lambda: export_qdq_file(dlc, folder / "q.onnx")), dlc


def found_encoding_not_an_object(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    dlc = _encodings_edit(fz, folder, lambda d: d["encodings"].update(x=[1, 2]))
    return _run(fz, folder, dlc, cpu_fxp=True), dlc


def found_missing_required_attribute(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    def edit(doc: dict[str, Any]) -> None:
        relu = next(n for n in doc["nodes"] if n["op_type"] == "Relu")
        relu["op_type"] = "MaxPool"  # kernel_shape is required

    dlc = _graph_edit(fz, folder, edit)
    return _run(fz, folder, dlc), dlc


def found_required_input_left_out(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    def edit(doc: dict[str, Any]) -> None:
        next(n for n in doc["nodes"] if n["op_type"] == "Softmax")["inputs"] = [""]

    dlc = _graph_edit(fz, folder, edit)
    return _run(fz, folder, dlc), dlc


def found_hta_subnet_not_an_object(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], None]:
    doc = json.loads(entry(fz.base.quant_entries, "records/subnets.json"))
    doc["subnets"][0] = [0, 4]
    data = json.dumps(doc).encode()
    dlc = write_zip(folder / "c.dlc", replaced(fz.base.quant_entries, "records/subnets.json", data))
    return _run(fz, folder, dlc, runtime="aip"), None


def found_symlink_loop_in_list(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    os.symlink(folder / "b.raw", folder / "a.raw")
    os.symlink(folder / "a.raw", folder / "b.raw")
    (folder / "list.txt").write_text("a.raw\n")
    return _run(fz, folder, fz.base.float_dlc, folder / "list.txt"), folder / "a.raw"


def found_nul_in_list(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    (folder / "list.txt").write_text("in\x00.raw\n")
    return _run(fz, folder, fz.base.float_dlc, folder / "list.txt"), folder / "list.txt"


def _override(fz: Fuzz, folder: Path, text: str) -> tuple[Callable[[], Any], Path]:
    path = folder / "enc.json"
    path.write_text(text)
    options = QuantOptions(override_params=str(path))
    q = folder / "q.dlc"
    return (
        lambda: quantize_job(
            fz.store, PROJECT, QuantizeRequest(fz.base.float_dlc, fz.base.input_list, q, options)
        )
    ), path


def found_override_huge_int(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    doc = copy.deepcopy(fz.base.encodings["0.6.1"])
    next(iter(doc["activation_encodings"].values()))[0]["offset"] = 2**70
    return _override(fz, folder, json.dumps(doc))


def found_override_deep_nesting(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    return _override(fz, folder, "[" * 100_000 + "]" * 100_000)


def found_export_to_a_directory(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], None]:
    return (lambda: export_encodings_file(fz.base.quant_dlc, folder, "0.6.1")), None


def found_empty_output_dir(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], None]:
    return (
        lambda: run_container(fz.store, PROJECT, fz.base.float_dlc, fz.base.input_list, "")
    ), None


def found_encodings_in_a_float_container(fz: Fuzz, folder: Path) -> tuple[Callable[[], Any], Path]:
    manifest = json.loads(entry(fz.base.quant_entries, "manifest.json"))
    manifest.update(quantized=False, quantizer=None)
    data = json.dumps(manifest).encode()
    dlc = write_zip(
        folder / "c.dlc", replaced(fz.base.quant_entries, "manifest.json", data, reindex=False)
    )
    return (lambda: container_info(dlc)), dlc


FOUND = {
    "NUL byte in an external-data location (ValueError)": (
        found_nul_in_external_location, ModelError, "NUL byte"),
    "input dim 2**40 (MemoryError in the placeholder run)": (
        found_huge_input_dim, ModelError, "elements a tensor may have"),
    "ConstantOfShape of 2**40 zeros (MemoryError folding it)": (
        found_constant_of_2_40_zeros, ModelError, "elements a tensor may have"),
    "unknown element type (ValueError naming the enum)": (
        found_unknown_elem_type, ModelError, "<unknown 65>"),
    "zip entry needing zip 8.4 (NotImplementedError)": (
        found_zip_version, ContainerError, "uses a zip feature this workbench cannot read"),
    "npy header tokenize cannot parse (TokenError)": (
        found_npy_header_tokenize, ContainerError, "not a valid .npy buffer"),
    "encoding with a positive offset (OverflowError in export)": (
        found_positive_offset, ContainerError, "offset must be an integer in"),
    "encoding that is not an object (TypeError)": (
        found_encoding_not_an_object, ContainerError, "expected an object"),
    "required attribute missing (TypeError in prepare)": (
        found_missing_required_attribute, ModelError, "MaxPool node 'relu' cannot be prepared"),
    "required input left out (AttributeError in a kernel)": (
        found_required_input_left_out, ModelError, "Softmax node 'softmax' failed"),
    "HTA subnet not an object (AttributeError)": (
        found_hta_subnet_not_an_object, RuntimeRefused, "HTA records do not match"),
    "symlink loop in an input list (OSError)": (
        found_symlink_loop_in_list, InputListError, "cannot read it"),
    "NUL byte in an input list (ValueError)": (
        found_nul_in_list, InputListError, "NUL byte"),
    "override with a 2**70 offset (OverflowError)": (
        found_override_huge_int, BadInput, "out of range"),
    "override nested 100,000 deep (RecursionError)": (
        found_override_deep_nesting, BadInput, "nested too deeply"),
    "export -o a directory (IsADirectoryError, exit 1)": (
        found_export_to_a_directory, BadInput, "is a directory"),
    "empty --output-dir (wrote into the current folder)": (
        found_empty_output_dir, BadInput, "--output-dir is empty"),
    "encodings in a container marked float (ran garbage)": (
        found_encodings_in_a_float_container, ContainerError, "says not quantized"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FOUND))
def test_found_by_fuzzing(fuzz: Fuzz, tmp_path: Path, case: str) -> None:
    build, error, message = FOUND[case]
    job, offending = build(fuzz, tmp_path)
    with pytest.raises(error, match=re.escape(message)) as info:
        job()
    assert "\n" not in str(info.value)
    if offending is not None:
        assert str(offending) in str(info.value)
    assert_nothing_running(fuzz.store)


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "{dlc}", "--input-list", "{list}", "--output-dir", "{out}", "--batch",
         "99999999999999999999"],
        ["bench", "{dlc}", "--input-list", "{list}", "--runtimes", "cpu", "--iterations",
         "99999999999999999999"],
    ],
)  # fmt: skip
def test_found_by_fuzzing_absurd_counts_exit_2(fuzz: Fuzz, tmp_path: Path, argv: list[str]) -> None:
    """These overflowed SQLite's INTEGER when the run was recorded (exit 1)."""
    values = {"dlc": fuzz.base.float_dlc, "list": fuzz.base.input_list, "out": tmp_path / "out"}
    result = fuzz.cli(*(a.format(**values) for a in argv))
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1 and "is not in the range 1<=x<=" in result.stderr


_CONVERT_UNDER_A_MEMORY_LIMIT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from workbench.engine.onnx_import import import_onnx
print(" ".join(n.op_type for n in import_onnx(sys.argv[1]).nodes))
"""


@pytest.mark.parametrize("op", ["ConstantOfShape", "Expand", "Range"])
def test_found_by_fuzzing_generators_do_not_exhaust_memory(tmp_path: Path, op: str) -> None:
    """A 300-byte model asking for 2**26 values made ONNX's data propagation allocate
    gigabytes (std::bad_alloc, or the OOM killer without a word); constant folding
    did the same. Now the generator stays a node. Run under a 3 GiB address-space
    limit in a child process, so a regression fails here instead of killing pytest."""
    import subprocess

    source = generator_model(tmp_path, op, 2**26)
    done = subprocess.run(
        [sys.executable, "-c", _CONVERT_UNDER_A_MEMORY_LIMIT, str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [op, "Cast", "ReduceSum", "Add"]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("job", ["quantize", "run"])
def test_nonfinite_inputs_are_refused_naming_the_file(
    fuzz: Fuzz, tmp_path: Path, value: float, job: str
) -> None:
    """Decided: NaN/Inf in calibration (and inference) data is refused, not skipped or
    clipped: an encoding computed around it would be meaningless."""
    sample = np.zeros((1, 3, 8, 8), np.float32)
    sample[0, 1, 2, 3] = value
    np.save(tmp_path / "bad.npy", sample)
    (tmp_path / "list.txt").write_text(f"{fuzz.base.folder / 'in0.raw'}\nbad.npy\n")
    with pytest.raises(InputListError, match="1 NaN or Inf values") as info:
        if job == "quantize":
            quantize_job(fuzz.store, PROJECT, QuantizeRequest(
                fuzz.base.float_dlc, tmp_path / "list.txt", tmp_path / "q.dlc", QuantOptions(),
            ))  # fmt: skip
        else:
            _run(fuzz, tmp_path, fuzz.base.float_dlc, tmp_path / "list.txt")()
    assert str(tmp_path / "bad.npy") in str(info.value)
    assert not (tmp_path / "q.dlc").exists()
    assert_nothing_running(fuzz.store)


def test_fuzz_total() -> None:
    """At least ``MIN_CASES`` cases ran (when every fuzz test above ran in this process)."""
    fuzz_tests = {
        n for n, f in globals().items() if n.startswith("test_") and hasattr(f, "hypothesis")
    }
    if set(_RAN) != fuzz_tests:
        pytest.skip("only part of the fuzz module ran")
    assert sum(_RAN.values()) >= MIN_CASES, _RAN
