"""Read a ``.tflite`` flatbuffer into plain, checked Python values (nothing lazy survives).

The ``tflite`` package's generated accessors read straight out of the file's bytes and
trust every offset, so a truncated or corrupt file fails deep inside them (``struct.error``,
``IndexError``, numpy ``ValueError``) or, with a hostile vector length, loops for a long
time. ``read_tflite`` walks the whole model once, up front, inside one guard: vector
lengths are bounded by the file size before they are iterated, constant buffers must
hold exactly ``prod(shape) * itemsize`` bytes, indices must be in range, and any failure
becomes one ``ModelError`` naming the file. What comes out are frozen dataclasses over
numpy arrays, so the converter never touches the flatbuffer again.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.graph import DTYPES
from workbench.errors import ModelError, NotFound

_IDENTIFIER = b"TFL3"
# Tensor types the IR can hold (numpy names); the others are named in errors.
_TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    5: "string",
    6: "bool",
    7: "int16",
    8: "complex64",
    9: "int8",
    10: "float64",
    11: "complex128",
    12: "uint64",
    13: "resource",
    14: "variant",
    15: "uint32",
    16: "uint16",
    17: "int4",
    18: "bfloat16",
}
# No tensor of a model meant for a phone is bigger than this (elements: 1 GiB of float32);
# a corrupt shape beyond it is refused before anything is allocated or run.
MAX_ELEMENTS = 1 << 28


@dataclass(frozen=True)
class Quantization:
    """A tensor's affine quantization: ``real = scale * (q - zero_point)`` (per channel on ``axis``)."""

    scale: np.ndarray  # float64, one per channel (or one)
    zero_point: np.ndarray  # int64, same length
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # a numpy name, or the TFLite type name for what the IR cannot hold
    signature: tuple[int, ...] | None = None  # -1 marks a dynamic dimension
    data: np.ndarray | None = field(default=None, repr=False)  # constant value, if any
    quant: Quantization | None = None
    variable: bool = False
    sparse: bool = False

    @property
    def is_const(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class Operator:
    index: int
    op_type: str  # builtin name (``CONV_2D``), or ``custom 'Name'`` / ``flex 'Name'``
    inputs: tuple[int, ...]  # -1: an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    builtin: bool = True


@dataclass(frozen=True)
class Model:
    path: Path
    version: int
    description: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraphs: int = 1
    # Resource variables read but never assigned: constants at their initial values;
    # see ``_Reader.freeze_state``.
    frozen_state: tuple[str, ...] = ()
    # Resource variables read and assigned (a streaming model's state): (variable name,
    # tensor read, tensor assigned, initial value); the read tensor is a model input and
    # the assigned one a model output.
    state: tuple[tuple[str, int, int, Tensor], ...] = ()


def read_tflite(path: str | Path) -> Model:
    """Parse ``path`` completely; ``ModelError`` (one line, naming the file) if it is not a
    valid TFLite model, ``NotFound`` if it does not exist."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"{path}: not a valid TFLite model: not a regular file")
    data = path.read_bytes()
    if len(data) < 8:
        raise ModelError(f"{path}: not a valid TFLite model: the file is too short")
    if data[4:8] != _IDENTIFIER:
        raise ModelError(
            f"{path}: not a valid TFLite model: no TFL3 file identifier (is it a TFLite file?)"
        )
    try:
        return _Reader(path, data).model()
    except ModelError:
        raise
    except Exception as exc:  # struct.error, IndexError, ValueError, ... from the accessors
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path}: not a valid TFLite model (truncated or corrupt): {detail}"
        ) from exc


_STATE_OPS = frozenset({"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"})


def _handles(operators: tuple[Operator, ...]) -> dict[int, str]:
    """Resource tensor -> the variable's name, from the VAR_HANDLEs that make them."""
    return {
        op.outputs[0]: f"{op.options.get('container', '')}/{op.options.get('shared_name', '')}"
        for op in operators
        if op.op_type == "VAR_HANDLE" and op.outputs
    }


def _names(enum: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if isinstance(v, int) and not k.startswith("_")}


class _Reader:
    def __init__(self, path: Path, data: bytes):
        import tflite

        self.tflite = tflite
        self.path = path
        self.data = data
        self.op_names = _names(tflite.BuiltinOperator)
        self.option_names = _names(tflite.BuiltinOptions)

    def fail(self, message: str) -> ModelError:
        return ModelError(f"{self.path}: not a valid TFLite model: {message}")

    def count(self, n: int, what: str) -> int:
        # Every element of a flatbuffer vector takes at least 4 bytes of the file.
        if not 0 <= n <= len(self.data) // 4:
            raise self.fail(f"{what} count {n} does not fit in the file")
        return n

    def ints(self, obj: Any, field: str) -> tuple[int, ...]:
        if getattr(obj, f"{field}IsNone")():
            return ()
        return tuple(int(v) for v in getattr(obj, f"{field}AsNumpy")())

    def model(self) -> Model:
        m = self.tflite.Model.GetRootAs(self.data, 0)
        n_sub = self.count(m.SubgraphsLength(), "subgraph")
        if n_sub < 1:
            raise self.fail("it has no subgraph")
        buffers = [m.Buffers(i) for i in range(self.count(m.BuffersLength(), "buffer"))]
        codes = [m.OperatorCodes(i) for i in range(self.count(m.OperatorCodesLength(), "opcode"))]
        g = m.Subgraphs(0)
        tensors, operators = self.subgraph(g, buffers, codes)
        n_tensors = len(tensors)
        inputs = self.indices(self.ints(g, "Inputs"), n_tensors, "graph input")
        outputs = self.indices(self.ints(g, "Outputs"), n_tensors, "graph output")
        frozen: tuple[str, ...] = ()
        state: tuple[tuple[str, int, int, Tensor], ...] = ()
        if any(op.op_type in _STATE_OPS for op in operators):
            tensors, operators, frozen, state = self.freeze_state(
                m, tensors, operators, buffers, codes
            )
            inputs = inputs + tuple(read for _, read, _, _ in state)
            outputs = outputs + tuple(write for _, _, write, _ in state if write not in outputs)
        description = m.Description()
        return Model(
            path=self.path,
            version=int(m.Version()),
            description=description.decode("utf-8", "replace") if description else "",
            tensors=tensors,
            operators=operators,
            inputs=inputs,
            outputs=outputs,
            subgraphs=n_sub,
            frozen_state=frozen,
            state=state,
        )

    def subgraph(
        self, g: Any, buffers: list[Any], codes: list[Any]
    ) -> tuple[tuple[Tensor, ...], tuple[Operator, ...]]:
        n_tensors = self.count(g.TensorsLength(), "tensor")
        tensors = tuple(self.tensor(i, g.Tensors(i), buffers) for i in range(n_tensors))
        operators = tuple(
            self.operator(i, g.Operators(i), codes, n_tensors)
            for i in range(self.count(g.OperatorsLength(), "operator"))
        )
        return tensors, operators

    def freeze_state(
        self,
        m: Any,
        tensors: tuple[Tensor, ...],
        operators: tuple[Operator, ...],
        buffers: list[Any],
        codes: list[Any],
    ) -> tuple[
        tuple[Tensor, ...],
        tuple[Operator, ...],
        tuple[str, ...],
        tuple[tuple[str, int, int, Tensor], ...],
    ]:
        """A streaming model's state (resource variables) as model inputs and outputs.

        A model such as a streaming keyword spotter keeps state between invocations:
        ``CALL_ONCE`` runs an init subgraph that ``ASSIGN_VARIABLE``s a constant to each
        variable, the main subgraph ``READ_VARIABLE``s it and assigns the next state. A
        variable read once and assigned once becomes a pair: the tensor read is a model
        input, the tensor assigned a model output, with the initial value beside them
        (``Model.state``; the runtimes feed the initial value, or carry the state with
        ``--stateful``). A variable only read is a constant at its initial value. The
        state operators are dropped. Anything else is refused.
        """

        def refuse(why: str) -> ModelError:
            return ModelError(f"{self.path}: unsupported model state: {why}")

        initial: dict[str, Tensor] = {}
        for op in operators:
            if op.op_type != "CALL_ONCE":
                continue
            k = int(op.options.get("init_subgraph_index", -1))
            if not 0 < k < self.count(m.SubgraphsLength(), "subgraph"):
                raise self.fail(f"CALL_ONCE refers to missing subgraph {k}")
            init_tensors, init_ops = self.subgraph(m.Subgraphs(k), buffers, codes)
            names = _handles(init_ops)
            for o in init_ops:
                if o.op_type == "ASSIGN_VARIABLE":
                    value = init_tensors[o.inputs[1]]
                    if not value.is_const:
                        raise refuse(f"the initial value of {names[o.inputs[0]]!r} is computed")
                    initial[names[o.inputs[0]]] = value
                elif o.op_type != "VAR_HANDLE":
                    raise refuse(f"its init subgraph {k} runs {o.op_type}")
        names = _handles(operators)
        reads: dict[str, int] = {}
        writes: dict[str, int] = {}
        for op in operators:
            if op.op_type == "ASSIGN_VARIABLE":
                var = names[op.inputs[0]]
                if var in writes:
                    raise refuse(f"{var!r} is assigned twice in one invocation")
                writes[var] = op.inputs[1]
            elif op.op_type == "READ_VARIABLE":
                var = names[op.inputs[0]]
                if var in writes:
                    raise refuse(f"{var!r} is read after it is assigned in one invocation")
                if var in reads:
                    raise refuse(f"{var!r} is read twice in one invocation")
                if var not in initial:
                    raise refuse(f"{var!r} has no initial value")
                out, value = tensors[op.outputs[0]], initial[var]
                if value.shape != out.shape or value.dtype != out.dtype:
                    raise refuse(f"the initial value of {var!r} does not match its reads")
                reads[var] = op.outputs[0]
        new = list(tensors)
        state = []
        for var, t in reads.items():
            if var in writes:
                written = tensors[writes[var]]
                if written.shape != tensors[t].shape:
                    raise refuse(f"{var!r} is assigned a value of another shape")
                state.append((var, t, writes[var], initial[var]))
            else:
                value = initial[var]
                new[t] = replace(tensors[t], data=value.data, quant=value.quant or tensors[t].quant)
        kept = tuple(op for op in operators if op.op_type not in _STATE_OPS)
        frozen = tuple(sorted(v for v in reads if v not in writes))
        return tuple(new), kept, frozen, tuple(state)

    def indices(self, values: tuple[int, ...], n: int, what: str) -> tuple[int, ...]:
        for v in values:
            if not -1 <= v < n:
                raise self.fail(f"{what} refers to tensor {v}, but there are {n}")
        return values

    # -- tensors ----------------------------------------------------------------------

    def tensor(self, index: int, t: Any, buffers: list[Any]) -> Tensor:
        raw_name = t.Name()
        name = raw_name.decode("utf-8", "replace") if raw_name else ""
        name = name or f"tensor_{index}"
        shape = self.ints(t, "Shape")
        if any(d < 0 for d in shape):
            raise self.fail(f"tensor {index} ({name!r}) has a negative dimension {list(shape)}")
        if math.prod(shape) > MAX_ELEMENTS:
            raise self.fail(f"tensor {index} ({name!r}) is impossibly large {list(shape)}")
        signature = self.ints(t, "ShapeSignature") or None
        dtype = _TENSOR_TYPES.get(int(t.Type()), f"type {int(t.Type())}")
        sparse = t.Sparsity() is not None
        data = None
        b = int(t.Buffer())
        if b:
            if not 0 <= b < len(buffers):
                raise self.fail(f"tensor {index} ({name!r}) refers to missing buffer {b}")
            raw = self.buffer_bytes(buffers[b], b)
            if raw is not None and len(raw):
                if sparse and dtype in DTYPES:
                    # A sparse constant (what DENSIFY expands) is expanded here, once.
                    data = self.densify(index, name, t.Sparsity(), raw, shape, dtype)
                    sparse = False
                elif sparse:
                    data = np.frombuffer(bytes(raw), dtype=np.uint8)  # refused by name
                else:
                    data = self.constant(index, name, raw, shape, dtype)
        return Tensor(
            index=index,
            name=name,
            shape=shape,
            dtype=dtype,
            signature=signature,
            data=data,
            quant=self.quantization(t.Quantization(), index, name),
            variable=bool(t.IsVariable()),
            sparse=sparse,
        )

    def buffer_bytes(self, buf: Any, index: int) -> bytes | np.ndarray | None:
        offset, size = int(buf.Offset()), int(buf.Size())
        if offset > 1:  # models over 2 GB keep buffers after the flatbuffer
            if offset + size > len(self.data):
                raise self.fail(f"buffer {index} lies beyond the end of the file")
            return self.data[offset : offset + size]
        if buf.DataIsNone():
            return None
        return buf.DataAsNumpy()

    def constant(
        self, index: int, name: str, raw: Any, shape: tuple[int, ...], dtype: str
    ) -> np.ndarray:
        if dtype not in DTYPES:
            # String tables and the like: keep the bytes; the op using them is refused.
            return np.frombuffer(bytes(raw), dtype=np.uint8)
        dt = np.dtype(dtype).newbyteorder("<")
        expected = math.prod(shape) * dt.itemsize
        if len(raw) != expected:
            raise self.fail(
                f"constant tensor {index} ({name!r}) holds {len(raw)} bytes, "
                f"expected {expected} for {dtype}{list(shape)}"
            )
        value = np.frombuffer(bytes(raw), dtype=dt).reshape(shape)
        return value.astype(value.dtype.newbyteorder("="), copy=True)

    def densify(
        self, index: int, name: str, sp: Any, raw: Any, shape: tuple[int, ...], dtype: str
    ) -> np.ndarray:
        """The dense value of a sparse constant (TFLite's format: a traversal order over
        the dimensions and block dimensions, each level dense or CSR)."""
        where = f"sparse tensor {index} ({name!r})"
        rank = len(shape)
        order = [int(v) for v in self.ints(sp, "TraversalOrder")] or list(range(rank))
        block_map = [int(v) for v in self.ints(sp, "BlockMap")]
        levels = self.count(sp.DimMetadataLength(), "dimension metadata")
        if levels != len(order) or sorted(order) != list(range(len(order))):
            raise self.fail(f"{where} has inconsistent sparsity metadata")
        if len(order) != rank + len(block_map):
            raise self.fail(
                f"{where} has {len(block_map)} block dimensions for {len(order)} levels"
            )
        values = np.frombuffer(bytes(raw), dtype=np.dtype(dtype).newbyteorder("<"))
        block_size = [0] * len(block_map)
        rows = np.zeros((1, 0), np.int64)  # the index of every stored value, level by level
        prev = np.zeros(1, np.int64)
        for level in range(levels):
            meta = sp.DimMetadata(level)
            if int(meta.Format()) == 0:  # DENSE
                size = int(meta.DenseSize())
                if not 0 < size <= MAX_ELEMENTS:
                    raise self.fail(f"{where} has a dense level of size {size}")
                if order[level] >= rank:
                    block_size[order[level] - rank] = size
                step = np.arange(size, dtype=np.int64)
                rows = np.concatenate(
                    [np.repeat(rows, size, axis=0), np.tile(step, len(rows))[:, None]], axis=1
                )
                prev = (prev[:, None] * size + step[None, :]).reshape(-1)
            else:  # SPARSE_CSR
                segments = self.index_vector(meta.ArraySegmentsType(), meta.ArraySegments(), where)
                indices = self.index_vector(meta.ArrayIndicesType(), meta.ArrayIndices(), where)
                if prev.size and (prev.max() + 1 >= segments.size):
                    raise self.fail(f"{where} has too few array segments")
                starts, ends = segments[prev], segments[prev + 1]
                counts = ends - starts
                if (counts < 0).any() or (ends > indices.size).any():
                    raise self.fail(f"{where} has malformed array segments")
                pos = np.repeat(ends - counts.cumsum(), counts) + np.arange(counts.sum())
                rows = np.concatenate([np.repeat(rows, counts, axis=0), indices[pos][:, None]], 1)
                prev = pos
            if len(rows) > MAX_ELEMENTS:
                raise self.fail(f"{where} expands beyond {MAX_ELEMENTS} elements")
        if len(rows) != values.size:
            raise self.fail(f"{where} holds {values.size} values for {len(rows)} positions")
        orig = np.zeros((len(rows), rank), np.int64)
        for level in range(rank):
            orig[:, order[level]] = rows[:, level]
        for level in range(rank, len(order)):
            b = order[level] - rank
            if not 0 <= block_map[b] < rank:
                raise self.fail(f"{where} maps a block to dimension {block_map[b]}")
            orig[:, block_map[b]] = orig[:, block_map[b]] * block_size[b] + rows[:, level]
        if ((orig < 0) | (orig >= np.asarray(shape, np.int64))).any():
            raise self.fail(f"{where} has an index outside its shape {list(shape)}")
        dense = np.zeros(shape, dtype=np.dtype(dtype))
        dense[tuple(orig.T)] = values
        return dense

    def index_vector(self, kind: int, table: Any, where: str) -> np.ndarray:
        """A sparse index vector (int32, uint16 or uint8 values) as int64."""
        vectors = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}
        if kind not in vectors or table is None:
            raise self.fail(f"{where} has a missing or unknown index vector")
        vec = getattr(self.tflite, vectors[kind])()
        vec.Init(table.Bytes, table.Pos)
        if vec.ValuesIsNone():
            return np.zeros(0, np.int64)
        return vec.ValuesAsNumpy().astype(np.int64)

    def quantization(self, q: Any, index: int, name: str) -> Quantization | None:
        if q is None or q.ScaleIsNone() or q.ScaleLength() == 0:
            return None
        scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float64).reshape(-1)
        if q.ZeroPointIsNone():
            zp = np.zeros(scale.shape, np.int64)
        else:
            zp = np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).reshape(-1)
        if zp.size == 1 and scale.size > 1:
            zp = np.full(scale.shape, int(zp[0]), np.int64)
        if zp.size != scale.size:
            raise self.fail(
                f"tensor {index} ({name!r}) has {scale.size} scales and {zp.size} zero points"
            )
        if not (np.isfinite(scale).all() and (scale >= 0).all()):
            raise self.fail(f"tensor {index} ({name!r}) has a negative or non-finite scale")
        return Quantization(scale, zp, int(q.QuantizedDimension()))

    # -- operators --------------------------------------------------------------------

    def operator(self, index: int, op: Any, codes: list[Any], n_tensors: int) -> Operator:
        k = int(op.OpcodeIndex())
        if not 0 <= k < len(codes):
            raise self.fail(f"operator {index} refers to missing opcode {k}")
        code = codes[k]
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        op_type = self.op_names.get(builtin, f"BUILTIN_{builtin}")
        is_builtin = op_type != "CUSTOM"
        if not is_builtin:
            custom = code.CustomCode()
            custom = custom.decode("utf-8", "replace") if custom else "?"
            kind = "flex" if custom.startswith("Flex") else "custom"
            op_type = f"{kind} {custom!r}"
        inputs = self.indices(self.ints(op, "Inputs"), n_tensors, f"operator {index} input")
        outputs = self.indices(self.ints(op, "Outputs"), n_tensors, f"operator {index} output")
        if is_builtin:
            options = self.options(op)
        else:  # the custom operator's own bytes (a FlexBuffer, or a raw C struct)
            custom = op.CustomOptionsAsNumpy() if not op.CustomOptionsIsNone() else b""
            options = {"custom_options": bytes(custom)}
        return Operator(index, op_type, inputs, outputs, options, is_builtin)

    def options(self, op: Any) -> dict[str, Any]:
        kind = int(op.BuiltinOptionsType())
        table = op.BuiltinOptions()
        if kind == 0 or table is None:
            return {}
        cls = getattr(self.tflite, self.option_names.get(kind, ""), None)
        if cls is None:
            return {}
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return _fields(opts)


_SKIP = re.compile(r"^(GetRootAs.*|Init|.*BufferHasIdentifier|.*AsNumpy|.*Length|.*IsNone)$")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _fields(opts: Any) -> dict[str, Any]:
    """Every field of a generated options table as ``snake_case -> value`` (vectors as tuples)."""
    out: dict[str, Any] = {}
    cls = type(opts)
    for name, member in vars(cls).items():
        if name.startswith("_") or _SKIP.match(name) or not callable(member):
            continue
        if hasattr(cls, f"{name}AsNumpy"):
            if getattr(opts, f"{name}IsNone")():
                out[_snake(name)] = ()
            else:
                out[_snake(name)] = tuple(int(v) for v in getattr(opts, f"{name}AsNumpy")())
            continue
        if member.__code__.co_argcount != 1:
            continue  # element accessors of tables, sub-tables: not used by any converter
        value = member(opts)
        if isinstance(value, (bool, int, float)):
            out[_snake(name)] = value
        elif isinstance(value, bytes):  # strings, e.g. a VAR_HANDLE's shared_name
            out[_snake(name)] = value.decode("utf-8", "replace")
    return out
