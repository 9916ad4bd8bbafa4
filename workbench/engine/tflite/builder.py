"""The IR graph under construction: layouts, names, shapes and encodings of TFLite tensors.

Converters (``ops.py``) never build nodes by hand. They ask the ``Builder`` for a TFLite
tensor *in a layout* (``input``; a Transpose is emitted once per tensor and layout, and
constants are transposed in numpy), for constants (``const``, ``param``, ``weight``), and
``emit`` IR nodes whose outputs are bound to TFLite tensors in the layout they come out
in. ``emit`` checks every node as it goes: a node whose inputs are all constants is
evaluated on the spot (folding), any other is prepared with our kernel and run once on
zero-filled inputs of the known shapes, which gives its output shapes (TFLite's declared
shapes are only a cross-check: ``--input-dim`` may change them) and turns a node our
kernels reject into a ``ModelError`` naming the TFLite operator.

For a quantized model the builder also keeps, per IR name, the activation encodings and
the parameters' integer codes and encodings (``quant.py``), transposed along with the
float values, so the container can store what the model stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.engine.graph import DTYPES, Graph, Node, TensorInfo, rename_unique
from workbench.engine.ops.registry import OpContext, prepare
from workbench.engine.quant.encoding import AnyEncoding, Encoding
from workbench.engine.tflite import layout, quant
from workbench.engine.tflite.layout import Perm
from workbench.engine.tflite.reader import Model, Operator, Tensor
from workbench.errors import ModelError

OPSET = 18  # Resize with ``axes``, Reduce* and Squeeze axes as inputs

# An output of ``emit``: a TFLite tensor with the layout it comes out in, or a temp name.
Out = tuple[int, Perm] | str


class Unsupported(Exception):
    """This operator, in this form, cannot be converted (the reason names the form)."""


@dataclass(frozen=True)
class Value:
    """Where a TFLite tensor lives in the IR: a tensor name and its layout."""

    name: str
    perm: Perm


@dataclass(frozen=True)
class QuantConst:
    """A constant that is not in the file (a QUANTIZE of a constant): value, codes, encoding."""

    value: np.ndarray
    codes: np.ndarray
    encoding: Encoding


class Builder:
    def __init__(
        self,
        model: Model,
        input_shapes: Mapping[int, tuple[int, ...]],
        quantized: bool,
        declared_shapes_hold: bool,
    ):
        self.model = model
        self.quantized = quantized
        self.check_shapes = declared_shapes_hold
        self.nodes: list[Node] = []
        self.params: dict[str, np.ndarray] = {}
        self.infos: dict[str, TensorInfo] = {}
        self.values: dict[int, Value] = {}
        self.variants: dict[tuple[str, Perm], str] = {}
        self.const_params: dict[tuple[int, Perm, str], str] = {}
        self.quant_consts: dict[int, QuantConst] = {}
        self.act_encs: dict[str, Encoding] = {}
        self.param_encs: dict[str, AnyEncoding] = {}
        self.codes: dict[str, np.ndarray] = {}
        self.node_names: set[str] = set()
        self.claimed: set[str] = set()
        self.op: Operator | None = None
        self.graph_outputs = set(model.outputs)
        # Complex TFLite tensors (RFFT2D's): IR tensors with a trailing (real, imaginary)
        # axis after the layout's axes; only ``signal_ops`` converters read them.
        self.complex: set[int] = set()
        self.base = _base_names(model)
        self.taken: set[str] = set(self.base.values())
        for t in model.inputs:
            tensor = model.tensors[t]
            shape = tuple(input_shapes.get(t, tensor.shape))
            name = self.claim(t)
            self.infos[name] = TensorInfo(name, shape, self.ir_dtype(tensor))
            self.values[t] = Value(name, layout.identity(len(shape)))
            enc = self.tensor_encoding(t)
            if enc is not None:
                self.act_encs[name] = enc

    # -- TFLite tensors ---------------------------------------------------------------

    def tensor(self, t: int) -> Tensor:
        return self.model.tensors[t]

    def ir_dtype(self, tensor: Tensor) -> str:
        """The IR dtype of a tensor: quantized integers are real numbers, float32."""
        if quant.is_quantized(tensor.dtype, tensor.quant) or tensor.dtype == "float16":
            return "float32"
        return tensor.dtype

    def tensor_encoding(self, t: int) -> Encoding | None:
        """The activation encoding of a quantized TFLite tensor (quantized models only)."""
        tensor = self.tensor(t)
        if not self.quantized or tensor.dtype not in quant.QUANTIZED_TYPES or tensor.quant is None:
            return None
        if tensor.quant.per_channel:
            raise Unsupported(f"tensor {t} ({tensor.name!r}) is a per-channel quantized activation")
        return quant.activation_encoding(tensor.dtype, tensor.quant)

    def shape(self, t: int) -> tuple[int, ...]:
        """The shape of TFLite tensor ``t`` in its own (TFLite) layout."""
        tensor = self.tensor(t)
        if tensor.is_const:
            return tensor.shape
        if t in self.quant_consts:
            return self.quant_consts[t].value.shape
        v = self._value(t)
        shape = self.infos_of(v.name).shape
        if t in self.complex:
            shape = shape[:-1]
        return layout.permute_shape(shape, layout.inverse(v.perm))

    def rank(self, t: int) -> int:
        return len(self.shape(t))

    def infos_of(self, name: str) -> TensorInfo:
        if name in self.params:
            p = self.params[name]
            return TensorInfo(name, tuple(p.shape), p.dtype.name)
        return self.infos[name]

    def is_const(self, t: int) -> bool:
        if self.tensor(t).is_const or t in self.quant_consts:
            return True
        v = self.values.get(t)
        return v is not None and v.name in self.params

    def const(self, t: int) -> np.ndarray | None:
        """The real value of a constant tensor (dequantized, float16 widened), or None."""
        tensor = self.tensor(t)
        if tensor.is_const:
            if tensor.dtype not in DTYPES:
                raise Unsupported(f"tensor {t} ({tensor.name!r}) has type {tensor.dtype}")
            if quant.is_quantized(tensor.dtype, tensor.quant):
                self._check_channels(t)
                return quant.dequantize(tensor.data, tensor.quant)
            if tensor.dtype == "float16":
                return tensor.data.astype(np.float32)
            return tensor.data
        if t in self.quant_consts:
            return self.quant_consts[t].value
        v = self.values.get(t)
        if v is not None and v.name in self.params:
            return np.transpose(self.params[v.name], layout.inverse(v.perm))
        return None

    def ints(self, t: int) -> list[int]:
        """A constant integer tensor (shapes, axes, sizes) as Python ints."""
        value = self.const(t)
        if value is None:
            raise Unsupported(f"input tensor {t} ({self.tensor(t).name!r}) is not constant")
        return [int(v) for v in np.asarray(value).reshape(-1)]

    def _check_channels(self, t: int) -> None:
        tensor = self.tensor(t)
        q = tensor.quant
        if q.per_channel and (
            not 0 <= q.axis < len(tensor.shape) or tensor.shape[q.axis] != q.scale.size
        ):
            raise ModelError(
                f"{self.model.path}: tensor {t} ({tensor.name!r}) has {q.scale.size} "
                f"quantization scales on axis {q.axis} of shape {list(tensor.shape)}"
            )

    def _value(self, t: int) -> Value:
        v = self.values.get(t)
        if v is None:
            tensor = self.tensor(t)
            raise ModelError(
                f"{self.model.path}: operator {self.op.index if self.op else '?'} reads tensor "
                f"{t} ({tensor.name!r}) before any operator writes it"
            )
        return v

    # -- names ------------------------------------------------------------------------

    def temp(self, base: str) -> str:
        """A fresh tensor name starting with ``base``."""
        name = rename_unique(self.taken, base)
        self.taken.add(name)
        return name

    def name_of(self, t: int) -> str:
        return self.base[t]

    def claim(self, t: int) -> str:
        """The IR name for a tensor made from TFLite tensor ``t``: its own name the first
        time, a suffixed one after (a constant used in two layouts)."""
        base = self.base[t]
        if base not in self.claimed:
            self.claimed.add(base)
            return base
        return self.temp(base)

    def _node_name(self, base: str) -> str:
        name = rename_unique(self.node_names, base)
        self.node_names.add(name)
        return name

    # -- reading tensors in a layout ---------------------------------------------------

    def layout_of(self, t: int) -> Perm:
        if self.is_const(t) and t not in self.values:
            return layout.identity(self.rank(t))
        return self._value(t).perm

    def input(self, t: int, perm: Perm | None = None) -> str:
        """The IR name of TFLite tensor ``t`` in layout ``perm`` (default: TFLite's own)."""
        if t in self.complex:
            raise Unsupported(f"tensor {t} ({self.tensor(t).name!r}) is complex")
        rank = self.rank(t)
        perm = layout.identity(rank) if perm is None else tuple(perm)
        if len(perm) != rank:
            raise Unsupported(f"tensor {t} has rank {rank}, expected {len(perm)}")
        if self.tensor(t).is_const or t in self.quant_consts:
            return self.param(t, lambda a: np.transpose(a, perm), axis_map=perm)
        v = self._value(t)
        if v.perm == perm:
            return v.name
        key = (v.name, perm)
        if key not in self.variants:
            if v.name in self.params:
                name = self.temp(f"{v.name}__{_suffix(perm)}")
                self.params[name] = np.ascontiguousarray(
                    np.transpose(self.params[v.name], layout.between(v.perm, perm))
                )
            else:
                name = self.temp(f"{v.name}__{_suffix(perm)}")
                self.emit("Transpose", [v.name], {"perm": list(layout.between(v.perm, perm))},
                          outputs=[name])  # fmt: skip
                self.share_encoding(name, v.name)
            self.variants[key] = name
        return self.variants[key]

    def complex_input(self, t: int) -> Value:
        """A complex tensor: its IR tensor (trailing real/imaginary axis) and layout."""
        if t not in self.complex:
            raise Unsupported(f"tensor {t} ({self.tensor(t).name!r}) is not complex")
        return self._value(t)

    def param(
        self,
        t: int,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        axis_map: Sequence[int] | None = None,
        tag: str = "",
    ) -> str:
        """A constant TFLite tensor as an IR parameter, through ``transform`` (a re-layout).

        For a quantized constant the integer codes go through the same transform and the
        encoding comes along; ``axis_map`` (new axis -> old axis, a permutation) moves a
        per-channel axis with the data. ``tag`` names the transform for caching.
        """
        key = (t, tuple(axis_map) if axis_map is not None else (), tag)
        if key in self.const_params:
            return self.const_params[key]
        value = self.const(t)
        if value is None:
            raise Unsupported(f"input tensor {t} ({self.tensor(t).name!r}) is not constant")
        fn = transform or (lambda a: a)
        name = self.claim(t)
        self.params[name] = _contiguous(fn(value))
        codes, enc = self._const_codes(t, axis_map)
        if codes is not None:
            self.codes[name] = _contiguous(fn(codes))
            self.param_encs[name] = enc
        self.const_params[key] = name
        return name

    def _const_codes(
        self, t: int, axis_map: Sequence[int] | None
    ) -> tuple[np.ndarray | None, AnyEncoding | None]:
        if not self.quantized:
            return None, None
        if t in self.quant_consts:
            qc = self.quant_consts[t]
            return qc.codes, qc.encoding
        tensor = self.tensor(t)
        if tensor.dtype not in quant.QUANTIZED_TYPES or tensor.quant is None:
            return None, None  # int32 biases get theirs from the layer (``bias``)
        axis = tensor.quant.axis
        if tensor.quant.per_channel and axis_map is not None:
            axis = list(axis_map).index(axis)
        return quant.codes(tensor.data), quant.weight_encoding(tensor.dtype, tensor.quant, axis)

    def bias(self, t: int, x: str, weight: str) -> str:
        """A layer's bias; in a quantized model its int32 codes with delta ``x * weight``."""
        name = self.param(t, lambda a: a.reshape(-1), tag="bias")
        tensor = self.tensor(t)
        if not self.quantized or tensor.dtype not in ("int32", "int64"):
            return name
        x_enc, w_enc = self.act_encs.get(x), self.param_encs.get(weight)
        if x_enc is None or w_enc is None:
            return name
        from workbench.engine.quant.encoding import bias_encoding_32bit

        w_delta = w_enc.delta if isinstance(w_enc, Encoding) else np.asarray(w_enc.delta)
        try:
            self.codes[name] = quant.codes(tensor.data).reshape(-1)
        except ValueError as exc:  # a 64-bit bias (16x8 models) beyond the int32 range
            raise Unsupported(str(exc)) from None
        self.param_encs[name] = bias_encoding_32bit(x_enc.delta, w_delta)
        return name

    def value_param(self, value: np.ndarray, base: str) -> str:
        """A parameter made here (shapes, axes, pads, bounds): no encoding."""
        name = self.temp(base)
        self.params[name] = np.asarray(value)
        return name

    def broadcast(self, t: int, rank: int, perm: Perm) -> str:
        """Operand ``t`` of an elementwise op whose other operand has ``rank`` and layout ``perm``."""
        if self.is_const(t):
            if self.rank(t) > rank:
                raise Unsupported("a constant operand has a higher rank than the result")

            def fn(a: np.ndarray) -> np.ndarray:
                return layout.broadcast_const(a, rank, perm)

            if self.tensor(t).is_const or t in self.quant_consts:
                if self.rank(t) == rank:
                    return self.param(t, fn, axis_map=perm)
                tensor = self.tensor(t)
                if tensor.quant is not None and tensor.quant.per_channel:
                    raise Unsupported("a per-channel quantized operand of lower rank")
                return self.param(t, fn, tag=f"broadcast{rank}")
            return self.value_param(fn(self.const(t)), f"{self.base[t]}__ir")
        if self.rank(t) == rank:
            return self.input(t, perm)
        if not layout.is_identity(perm):
            raise Unsupported("mixed-rank operands in a transposed layout")
        return self.input(t)

    def bind_layout(self, t: int, name: str, perm: Perm) -> None:
        """TFLite tensor ``t`` is IR tensor ``name`` read in layout ``perm`` (no data moves)."""
        if t in self.values:
            raise self._fail(f"tensor {t} is written twice")
        self._bind(t, name, perm)

    def bind_const(self, t: int, value: np.ndarray) -> None:
        """TFLite tensor ``t`` is known at import time (a SHAPE of a static shape)."""
        name = self.claim(t)
        self.params[name] = np.asarray(value)
        self.values[t] = Value(name, layout.identity(value.ndim))

    # -- encodings --------------------------------------------------------------------

    def share_encoding(self, name: str, source: str) -> None:
        """``name`` flows with ``source``'s encoding (data movement, fused activations)."""
        enc = self.act_encs.get(source)
        if enc is not None:
            self.act_encs[name] = enc

    def set_encoding_of(self, name: str, t: int) -> None:
        enc = self.tensor_encoding(t)
        if enc is not None:
            self.act_encs[name] = enc

    # -- emitting ---------------------------------------------------------------------

    def emit(
        self,
        op_type: str,
        inputs: Sequence[str],
        attrs: Mapping[str, Any] | None = None,
        *,
        outputs: Sequence[Out],
    ) -> list[str]:
        """Add one IR node (or fold it into parameters); returns its output names."""
        names = [self._output_name(o) for o in outputs]
        # A node is named after the tensor it writes (tensor names are unique already).
        node = Node(
            self._node_name(names[0]), op_type, tuple(inputs), tuple(names), dict(attrs or {})
        )
        used = [i for i in inputs if i]
        consts = {k: self.params[i] for k, i in enumerate(inputs) if i in self.params}
        folded = bool(used) and len(consts) == len(used)
        ctx = OpContext(
            node,
            consts,
            tuple(self.infos_of(i) if i else None for i in inputs),
            tuple(None for _ in names),
            OPSET,
        )
        try:
            kernel = prepare(ctx)  # our kernel must accept the node as it is
            infos = None if folded else _infer_node(node, ctx)
            if infos is None:
                args = [
                    None
                    if not i
                    else consts[k]
                    if k in consts
                    else np.zeros(self.infos[i].shape, self.infos[i].dtype)
                    for k, i in enumerate(inputs)
                ]
                with np.errstate(all="ignore"):
                    results = [np.asarray(r) for r in kernel(*args)]
                infos = [
                    TensorInfo(n, tuple(r.shape), r.dtype.name)
                    for n, r in zip(names, results, strict=False)
                ]
        except Exception as exc:  # a kernel refusing what a malformed model asks for
            raise self._fail(f"{op_type} from it fails: {_first_line(exc)}") from exc
        if folded:
            self.params.update(zip(names, results, strict=False))
        else:
            self.infos.update((info.name, info) for info in infos)
            self.nodes.append(node)
        for out, name in zip(outputs, names, strict=True):
            if not isinstance(out, str):
                self._bind(out[0], name, out[1])
        return names

    def _output_name(self, out: Out) -> str:
        if isinstance(out, str):
            return out
        t, perm = out
        if t in self.values:
            raise self._fail(f"tensor {t} is written twice")
        if t in self.graph_outputs and not layout.is_identity(perm):
            return self.temp(f"{self.base[t]}__{_suffix(perm)}")
        return self.claim(t)

    def _bind(self, t: int, name: str, perm: Perm) -> None:
        self.values[t] = Value(name, tuple(perm))
        if name not in self.params:
            self.set_encoding_of(name, t)
        tensor = self.tensor(t)
        if self.check_shapes and tensor.shape and not tensor.is_const:
            got = self.shape(t)
            # A dimension the model marks dynamic (-1 in its signature) was written with a
            # placeholder size by the converter: only the static ones are the model's word.
            sig = tensor.signature or ()
            static = [i for i in range(len(tensor.shape)) if i >= len(sig) or sig[i] >= 0]
            if len(got) != len(tensor.shape) or any(got[i] != tensor.shape[i] for i in static):
                raise self._fail(
                    f"the converted tensor {t} ({tensor.name!r}) has shape {list(got)}, "
                    f"the model says {list(tensor.shape)}"
                )

    def alias(self, t: int, source: int) -> None:
        """TFLite tensor ``t`` is the same IR tensor as ``source`` (QUANTIZE / DEQUANTIZE)."""
        if self.is_const(source) and source not in self.values:
            self.values[t] = Value(self.input(source), layout.identity(self.rank(source)))
        else:
            self.values[t] = self._value(source)

    def positive(self, **values: int) -> list[int]:
        """Option values that must be at least 1 (strides, filter sizes), checked."""
        for key, value in values.items():
            if int(value) < 1:
                raise self._fail(f"option {key} is {value}; it must be at least 1")
        return [int(v) for v in values.values()]

    def _fail(self, message: str) -> ModelError:
        op = self.op
        where = f"operator {op.index} ({op.op_type})" if op is not None else "the model"
        return ModelError(f"{self.model.path}: {where}: {message}")

    # -- finishing --------------------------------------------------------------------

    def finish(self, name: str) -> Graph:
        """The graph: inputs and outputs in the model's own layout, under their own names."""
        self.op = None
        inputs = [self.infos[self.base[t]] for t in self.model.inputs]
        fixed = {t.name for t in inputs} | set(self.params)
        outputs: list[str] = []
        for t in dict.fromkeys(self.model.outputs):
            src, want = self.input(t), self.base[t]
            if src != want:
                produced = {o for n in self.nodes for o in n.outputs}
                if (
                    src in produced
                    and src not in fixed
                    and want not in produced
                    and want not in self.params
                ):
                    self._rename(src, want)
                else:
                    self.emit("Identity", [src], outputs=[want])
                    self.share_encoding(want, src)
            fixed.add(want)
            outputs.append(want)
        tensors = dict(self.infos)
        for k, p in self.params.items():
            tensors[k] = TensorInfo(k, tuple(p.shape), p.dtype.name)
        return Graph(
            name=name,
            inputs=inputs,
            outputs=[tensors[o] for o in outputs],
            nodes=list(self.nodes),
            params=dict(self.params),
            tensors=tensors,
            opset=OPSET,
        )

    def _rename(self, old: str, new: str) -> None:
        self.nodes = [
            Node(
                n.name,
                n.op_type,
                tuple(new if i == old else i for i in n.inputs),
                tuple(new if o == old else o for o in n.outputs),
                n.attrs,
                n.domain,
            )
            for n in self.nodes
        ]
        info = self.infos.pop(old)
        self.infos[new] = TensorInfo(new, info.shape, info.dtype)
        if old in self.act_encs:
            self.act_encs[new] = self.act_encs.pop(old)
        for t, v in list(self.values.items()):
            if v.name == old:
                self.values[t] = Value(new, v.perm)
        self.variants = {
            (new if k[0] == old else k[0], k[1]): (new if v == old else v)
            for k, v in self.variants.items()
        }


# Constants up to this many elements go into ONNX shape inference with their values.
_INFERENCE_VALUE_LIMIT = 4096


def _infer_node(node: Node, ctx: OpContext) -> list[TensorInfo] | None:
    """Output infos of ``node`` by ONNX's per-node shape inference (independent of tensor
    sizes), or None where it cannot tell (then the node runs once on zeros)."""
    try:
        from onnx import defs, helper, numpy_helper, shape_inference

        schema = defs.get_schema(node.op_type, OPSET)
        types, data = {}, {}
        for k, name in enumerate(node.inputs):
            info = ctx.inputs[k] if k < len(ctx.inputs) else None
            if not name or info is None:
                continue
            dtype = helper.np_dtype_to_tensor_dtype(np.dtype(info.dtype))
            types[name] = helper.make_tensor_type_proto(dtype, list(info.shape))
            value = ctx.consts.get(k)
            if value is not None and value.size <= _INFERENCE_VALUE_LIMIT:
                data[name] = numpy_helper.from_array(np.asarray(value), name)
        attrs = {
            key: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v
            for key, v in node.attrs.items()
            if not (isinstance(v, list) and not v)
        }
        proto = helper.make_node(node.op_type, list(node.inputs), list(node.outputs), **attrs)
        inferred = shape_inference.infer_node_outputs(schema, proto, types, data)
        infos = []
        for name in node.outputs:
            tt = inferred[name].tensor_type
            dims = tt.shape.dim
            if not tt.HasField("shape") or not all(d.HasField("dim_value") for d in dims):
                return None
            dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type).name
            infos.append(TensorInfo(name, tuple(int(d.dim_value) for d in dims), dtype))
        return infos
    except Exception:  # no schema, inference gave up or disagrees: run it instead
        return None


def _contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` C-contiguous, keeping its rank (``np.ascontiguousarray`` makes 0-d arrays 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy()


def _suffix(perm: Perm) -> str:
    if layout.is_identity(perm):
        return "nhwc" if len(perm) == 4 else "tfl"
    if perm == layout.NCHW:
        return "nchw"
    return "t" + "".join(str(p) for p in perm)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _base_names(model: Model) -> dict[int, str]:
    """A unique IR name per TFLite tensor. TFLite joins the names of every op it fused with
    ``;``: graph inputs and outputs keep their full names, activations the first part (the
    outermost op: ``.../Relu6``), constants the last (``.../batchnorm/sub`` for a folded
    bias). Activations choose before constants, so a layer's output keeps the clean name."""
    io = [*dict.fromkeys([*model.inputs, *model.outputs])]
    rest = [t for t in model.tensors if t.index not in set(io)]
    order = io + [t.index for t in rest if not t.is_const] + [t.index for t in rest if t.is_const]
    taken: set[str] = set()
    names: dict[int, str] = {}
    for t in order:
        tensor = model.tensors[t]
        parts = tensor.name.split(";")
        base = tensor.name if t in io else parts[-1] if tensor.is_const else parts[0]
        name = rename_unique(taken, base or f"tensor_{t}")
        taken.add(name)
        names[t] = name
    return names


__all__ = ["OPSET", "Builder", "Out", "QuantConst", "Unsupported", "Value"]
