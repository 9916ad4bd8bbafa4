"""Write tiny ``.tflite`` files with the ``flatbuffers`` Builder and the ``tflite`` package's
generated builders: hand-made models for the importer's golden tests, no TensorFlow needed.

    w = TfliteWriter()
    x = w.tensor("x", (1, 4, 4, 2))
    k = w.tensor("k", (3, 3, 3, 2), data=weights)
    y = w.tensor("y", (1, 2, 2, 3))
    w.op("CONV_2D", [x, k, -1], [y], "Conv2DOptions", padding=0, stride_w=2, stride_h=2)
    path.write_bytes(w.build([x], [y]))
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np

_TYPES = {
    "float32": 0,
    "float16": 1,
    "int32": 2,
    "uint8": 3,
    "int64": 4,
    "string": 5,
    "bool": 6,
    "int16": 7,
    "complex64": 8,
    "int8": 9,
}


def _module(name: str) -> Any:
    return importlib.import_module(f"tflite.{name}")


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    buffer: int
    quant: tuple[list[float], list[int], int] | None
    signature: tuple[int, ...] | None = None
    variable: bool = False


@dataclass
class _Op:
    code: int
    inputs: list[int]
    outputs: list[int]
    options_type: str | None
    options: dict[str, Any] = field(default_factory=dict)
    custom_options: bytes | None = None


class TfliteWriter:
    """Collect tensors and operators, then ``build`` the flatbuffer bytes."""

    def __init__(self) -> None:
        self.tensors: list[_Tensor] = []
        self.buffers: list[bytes] = [b""]  # buffer 0: the empty sentinel
        self.ops: list[_Op] = []
        self.codes: list[tuple[int, str | None]] = []

    def tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: str = "float32",
        data: np.ndarray | None = None,
        quant: tuple[list[float], list[int], int] | None = None,
        signature: tuple[int, ...] | None = None,
        variable: bool = False,
        raw: bytes | None = None,
        buffer: int | None = None,
    ) -> int:
        """Add a tensor (a constant when ``data`` is given); ``quant`` is (scales, zero points,
        axis), zero points ``None`` to leave them out; ``signature`` marks dynamic dimensions
        with -1; ``variable`` marks a state tensor (an LSTM's). For malformed files: ``raw``
        is the buffer's bytes as given, ``buffer`` the buffer index the tensor names."""
        index = 0
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data, dtype=dtype).reshape(shape))
            raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        if raw is not None:
            self.buffers.append(raw)
            index = len(self.buffers) - 1
        buffer = index if buffer is None else buffer
        self.tensors.append(_Tensor(name, tuple(shape), dtype, buffer, quant, signature, variable))
        return len(self.tensors) - 1

    def op(
        self,
        op_type: str,
        inputs: list[int],
        outputs: list[int],
        options_type: str | None = None,
        custom_options: bytes | None = None,
        opcode: int | None = None,
        **options: Any,
    ) -> None:
        """Add an operator: a builtin name (``CONV_2D``) or ``custom:Name`` (with its
        ``custom_options`` bytes); ``opcode`` overrides the opcode index (malformed files)."""
        if op_type.startswith("custom:"):
            key = (32, op_type.split(":", 1)[1])
        else:
            key = (getattr(_module("BuiltinOperator").BuiltinOperator, op_type), None)
        if key not in self.codes:
            self.codes.append(key)
        code = self.codes.index(key) if opcode is None else opcode
        self.ops.append(_Op(code, inputs, outputs, options_type, options, custom_options))

    # -- building ----------------------------------------------------------------------

    def build(
        self, inputs: list[int], outputs: list[int], external: bool = False, spill: int = 0
    ) -> bytes:
        """The model's bytes. ``external``: constant data after the flatbuffer, named by
        offset and size (how models over 2 GB are written); ``spill`` extra bytes claimed
        by the last buffer beyond the end of the file (malformed)."""
        if not external:
            return self._build(inputs, outputs, None)
        # The offsets are fixed-size fields: the first pass gives the flatbuffer's length.
        dummy = [(2, 1) if data else (0, 0) for data in self.buffers]
        length = len(self._build(inputs, outputs, dummy))
        places, blob = [], b""
        for data in self.buffers:
            if not data:
                places.append((0, 0))
                continue
            blob += b"\0" * ((-(length + len(blob))) % 16)
            places.append((length + len(blob), len(data)))
            blob += data
        if spill:
            places[-1] = (places[-1][0], places[-1][1] + spill)
        head = self._build(inputs, outputs, places)
        assert len(head) == length
        return head + blob

    def _build(
        self, inputs: list[int], outputs: list[int], places: list[tuple[int, int]] | None
    ) -> bytes:
        b = flatbuffers.Builder(1024)
        if places is None:
            buffers = [self._buffer(b, data) for data in self.buffers]
        else:
            buffers = [self._placed(b, *where) for where in places]
        tensors = [self._tensor(b, t) for t in self.tensors]
        operators = [self._operator(b, op) for op in self.ops]
        codes = [self._opcode(b, code, custom) for code, custom in self.codes]
        name = b.CreateString("main")
        sub = _module("SubGraph")
        t_vec = self._tables(b, sub.StartTensorsVector, tensors)
        i_vec = self._ints(b, sub.StartInputsVector, inputs)
        o_vec = self._ints(b, sub.StartOutputsVector, outputs)
        op_vec = self._tables(b, sub.StartOperatorsVector, operators)
        sub.Start(b)
        sub.AddTensors(b, t_vec)
        sub.AddInputs(b, i_vec)
        sub.AddOutputs(b, o_vec)
        sub.AddOperators(b, op_vec)
        sub.AddName(b, name)
        subgraph = sub.End(b)
        model = _module("Model")
        code_vec = self._tables(b, model.StartOperatorCodesVector, codes)
        sub_vec = self._tables(b, model.StartSubgraphsVector, [subgraph])
        buf_vec = self._tables(b, model.StartBuffersVector, buffers)
        desc = b.CreateString("made by tests/engine/tflite/flatbuild.py")
        model.Start(b)
        model.AddVersion(b, 3)
        model.AddOperatorCodes(b, code_vec)
        model.AddSubgraphs(b, sub_vec)
        model.AddDescription(b, desc)
        model.AddBuffers(b, buf_vec)
        b.Finish(model.End(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _tables(b: flatbuffers.Builder, start: Any, items: list[int]) -> int:
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    @staticmethod
    def _ints(b: flatbuffers.Builder, start: Any, values: list[int], width: str = "Int32") -> int:
        start(b, len(values))
        for v in reversed(values):
            getattr(b, f"Prepend{width}")(int(v))
        return b.EndVector()

    def _buffer(self, b: flatbuffers.Builder, data: bytes) -> int:
        mod = _module("Buffer")
        vec = b.CreateNumpyVector(np.frombuffer(data, dtype=np.uint8)) if data else None
        mod.Start(b)
        if vec is not None:
            mod.AddData(b, vec)
        return mod.End(b)

    @staticmethod
    def _placed(b: flatbuffers.Builder, offset: int, size: int) -> int:
        mod = _module("Buffer")
        mod.Start(b)
        if offset:
            mod.AddOffset(b, offset)
            mod.AddSize(b, size)
        return mod.End(b)

    def _tensor(self, b: flatbuffers.Builder, t: _Tensor) -> int:
        mod = _module("Tensor")
        name = b.CreateString(t.name)
        shape = self._ints(b, mod.StartShapeVector, list(t.shape))
        signature = None
        if t.signature is not None:
            signature = self._ints(b, mod.StartShapeSignatureVector, list(t.signature))
        quant = None
        if t.quant is not None:
            q = _module("QuantizationParameters")
            scales, zps, axis = t.quant
            s_vec = b.CreateNumpyVector(np.asarray(scales, dtype=np.float32))
            z_vec = None if zps is None else b.CreateNumpyVector(np.asarray(zps, dtype=np.int64))
            q.Start(b)
            q.AddScale(b, s_vec)
            if z_vec is not None:
                q.AddZeroPoint(b, z_vec)
            q.AddQuantizedDimension(b, axis)
            quant = q.End(b)
        mod.Start(b)
        mod.AddShape(b, shape)
        mod.AddType(b, _TYPES[t.dtype])
        mod.AddBuffer(b, t.buffer)
        mod.AddName(b, name)
        if quant is not None:
            mod.AddQuantization(b, quant)
        if signature is not None:
            mod.AddShapeSignature(b, signature)
        if t.variable:
            mod.AddIsVariable(b, True)
        return mod.End(b)

    def _opcode(self, b: flatbuffers.Builder, code: int, custom: str | None) -> int:
        mod = _module("OperatorCode")
        custom_off = b.CreateString(custom) if custom else None
        mod.Start(b)
        mod.AddDeprecatedBuiltinCode(b, min(code, 127))
        mod.AddBuiltinCode(b, code)
        mod.AddVersion(b, 1)
        if custom_off is not None:
            mod.AddCustomCode(b, custom_off)
        return mod.End(b)

    def _operator(self, b: flatbuffers.Builder, op: _Op) -> int:
        mod = _module("Operator")
        options = None
        if op.options_type is not None:
            options = self._options(b, op.options_type, op.options)
        ins = self._ints(b, mod.StartInputsVector, op.inputs)
        outs = self._ints(b, mod.StartOutputsVector, op.outputs)
        custom = None
        if op.custom_options is not None:
            custom = b.CreateNumpyVector(np.frombuffer(op.custom_options, dtype=np.uint8))
        mod.Start(b)
        if custom is not None:
            mod.AddCustomOptions(b, custom)
        mod.AddOpcodeIndex(b, op.code)
        mod.AddInputs(b, ins)
        mod.AddOutputs(b, outs)
        if options is not None:
            kind = getattr(_module("BuiltinOptions").BuiltinOptions, op.options_type)
            mod.AddBuiltinOptionsType(b, kind)
            mod.AddBuiltinOptions(b, options)
        return mod.End(b)

    def _options(self, b: flatbuffers.Builder, type_name: str, values: dict[str, Any]) -> int:
        mod = _module(type_name)
        vectors = {}
        for key, value in values.items():
            if isinstance(value, (list, tuple)):
                start = getattr(mod, f"Start{_camel(key)}Vector")
                vectors[key] = self._ints(b, start, list(value))
            elif isinstance(value, str):
                vectors[key] = b.CreateString(value)
        mod.Start(b)
        for key, value in values.items():
            add = getattr(mod, f"Add{_camel(key)}")
            add(b, vectors[key] if key in vectors else value)
        return mod.End(b)
