"""Integer-true execution of a quantized container (CPU fixed-point mode, DSP, AIP HTA).

Graph inputs are quantized with their encodings on entry; between nodes every encoded
tensor is a uint8 / uint16 array whose encoding is known at plan time (kernels close
over it); graph outputs are dequantized on exit. Parameters stay as the container
stores them. Kernels come from ``int_ops``: exact int32 accumulation with integer
requantization for Conv / Gemm / MatMul, integer rescaling for Add / Sub / Mul / Concat
and pooling, codes moved as they are by data movement, lookup tables for one-input
functions.

A node with no integer kernel (Softmax, LayerNormalization, linear Resize, ...)
runs as a **float fallback**: its inputs are dequantized, the float kernel runs, its
outputs are quantized to their encodings. ``IntegerPlan.float_fallback_nodes`` lists
them, so ``workbench info`` and benchmarks can say so. Tensors that are not float
(int64 shapes, indices) pass through as in the float plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from workbench.engine.container import Container
from workbench.engine.executor import Plan, TensorHook
from workbench.engine.fusion import INT_CHAIN, TABLE_KINDS, Chain, FusionPolicy
from workbench.engine.graph import Node
from workbench.engine.ops.registry import Kernel, OpContext, check_supported, prepare
from workbench.engine.quant.encoding import (
    AnyEncoding,
    Encoding,
    dequantize,
    encoding_from_dict,
    quantize,
)
from workbench.engine.quant.fakequant import activation_encodings
from workbench.engine.quant.int_ops import IntContext, NotInteger, prepare_int
from workbench.engine.quant.layer_precision import boundaries, float_layers
from workbench.errors import BadInput, InputListError

_FLOAT_DTYPES = frozenset({"float32", "float16", "float64"})


class IntegerPlan:
    """A quantized container made ready to run in integers.

    ``run`` takes and returns float tensors; ``run_integer`` returns the integer outputs
    and shows its hook the integer tensors. ``encodings`` gives each encoded tensor's
    encoding; ``float_fallback_nodes`` the ``(node name, op type)`` of every node that
    runs in float, and ``fallback_reasons`` why.
    """

    def __init__(self, container: Container, keep: Iterable[str] = ()):
        if not container.quantized:
            raise BadInput("integer execution needs a quantized container (run quantize first)")
        if not container.params_loaded:
            raise BadInput("the container was read without its parameters (load_params=False)")
        graph = container.graph
        check_supported(graph.nodes)
        self.graph = graph
        self.rounding = container.rounding  # ties, in every quantization and requantization
        self.encodings: dict[str, Encoding] = activation_encodings(container.encodings)
        self.param_encodings: dict[str, AnyEncoding] = {
            name: encoding_from_dict(dict(d)) for name, d in container.param_encodings.items()
        }
        # Dequantized only when a float kernel (fallback, table) asks: the DSP keeps integers.
        self._float_params: dict[str, np.ndarray] = {}
        self.float_fallback_nodes: list[tuple[str, str]] = []
        self.fallback_reasons: dict[str, str] = {}
        # Layers kept in float by ``--layer-precision X=float``: on a fixed-point runtime
        # they run on the CPU, with a convert at each boundary (``layer_precision.py``).
        self.float_layers = float_layers(container.manifest)
        self.boundaries = boundaries(graph, self.float_layers, self.encodings)
        self.convert_seconds = 0.0  # time spent converting at those boundaries, summed
        self._inputs = [(t.name, self.encodings.get(t.name)) for t in graph.inputs]
        self._to_float: dict[str, Any] = {}  # output name -> its dequantizer (first run)
        self._plan = Plan(graph, keep, prepare_fn=self._prepare_node, fusion=self._fusion())

    # -- planning ----------------------------------------------------------------------

    def encoding_of(self, name: str) -> AnyEncoding | None:
        """The encoding a tensor flows with (activation or parameter), or None."""
        enc = self.encodings.get(name)
        return enc if enc is not None else self.param_encodings.get(name)

    def _raw_float(self, name: str) -> bool:
        """A float activation that is not quantized (no encoding): only float kernels read it."""
        if not name or name in self.graph.params or self.encoding_of(name) is not None:
            return False
        info = self.graph.info(name)
        return info is not None and info.dtype in _FLOAT_DTYPES

    # -- fusion: a Conv and the one-input activations after it, as one lookup table ------

    def _fusion(self) -> FusionPolicy:
        """Integer Convs absorb chains of one-input activations (``fusion.INT_CHAIN``)."""
        graph = self.graph

        consumers = graph.consumers() if self.float_layers else {}

        def reaches_float(node: Node) -> bool:
            """A float layer among the one-input activations a chain could absorb."""
            todo = [o for o in node.outputs if o]
            while todo:
                for c in consumers.get(todo.pop(), ()):
                    if c.name in self.float_layers:
                        return True
                    if c.op_type in TABLE_KINDS:
                        todo.extend(o for o in c.outputs if o)
            return False

        def accepts(node: Node) -> Mapping[str, object] | None:
            if node.op_type != "Conv" or node.domain or len(node.inputs) < 2:
                return None
            if self.float_layers and (node.name in self.float_layers or reaches_float(node)):
                return None
            if node.inputs[1] not in graph.params or node.outputs[0] not in self.encodings:
                return None
            return INT_CHAIN

        return accepts

    def _prepare_fused(self, ctx: OpContext) -> Kernel:
        """The head's kernel with the chain applied to its codes: one table over every
        code when the chain is a function of the code alone, else the chain's kernels."""
        chain: Chain = ctx.chain
        graph = self.graph
        head_node = replace(ctx.node, outputs=(chain.source,))
        head = replace(ctx, node=head_node, outputs=(graph.info(chain.source),), chain=None)
        steps = []
        for n in chain.nodes:
            consts = {k: graph.params[i] for k, i in enumerate(n.inputs) if i in graph.params}
            sub = OpContext(
                n,
                consts,
                tuple(graph.info(i) if i else None for i in n.inputs),
                tuple(graph.info(o) if o else None for o in n.outputs),
                ctx.opset,
                jit=ctx.jit,
            )
            steps.append((n, self._prepare(sub)))

        def apply_chain(codes: np.ndarray) -> np.ndarray:
            env = {chain.source: codes}
            for n, kernel in steps:
                args = [
                    env[i] if i in env else graph.params.get(i) if i else None for i in n.inputs
                ]
                env.update(zip(n.outputs, kernel(*args), strict=False))
            return env[chain.output]

        table = self._chain_table(chain, apply_chain)
        if table is not None:
            kernel = self._prepare(replace(head, chain=_LookupTable(table)))
            if getattr(kernel, "applies_table", False):
                return kernel
            return lambda *args: (np.take(table, kernel(*args)[0]),)
        kernel = self._prepare(head)
        return lambda *args: (apply_chain(kernel(*args)[0]),)

    def _chain_table(self, chain: Chain, apply_chain) -> np.ndarray | None:
        """The chain over every code of its input, if it maps codes to codes elementwise."""
        src, dst = self.encodings.get(chain.source), self.encodings.get(chain.output)
        if src is None or dst is None or src.bitwidth > 16:
            return None
        codes = np.arange(np.iinfo(src.dtype).max + 1).astype(src.dtype)
        try:
            table = np.asarray(apply_chain(codes))
        except Exception:  # a kernel that wants its real shape: run the chain itself
            return None
        if table.shape != codes.shape or table.dtype != dst.dtype:
            return None
        return table

    def _prepare_node(self, ctx: OpContext) -> Kernel:
        # Fused groups first: subclasses (AIP's HTA layers) override ``_prepare`` for
        # single nodes, and see the group's head and chain as single nodes that way.
        if isinstance(ctx.chain, Chain):
            return self._prepare_fused(ctx)
        return self._prepare(ctx)

    def _prepare(self, ctx: OpContext) -> Kernel:
        node = ctx.node
        in_encs = tuple(self.encoding_of(i) if i else None for i in node.inputs)
        out_encs = tuple(self.encodings.get(o) if o else None for o in node.outputs)
        float_consts = _DequantizedConsts(ctx.consts, node.inputs, self)
        ictx = IntContext(
            op=ctx,
            # A body of the float fallback runs in plain float32 (bodies are not quantized).
            float_op=OpContext(
                node, float_consts, ctx.inputs, ctx.outputs, ctx.opset, plan_body=Plan
            ),
            in_encs=in_encs,
            out_encs=out_encs,
            rounding=self.rounding,
        )
        raw = [t for t in (*node.inputs, *node.outputs) if self._raw_float(t)]
        if node.name in self.float_layers:
            if node.name not in self.fallback_reasons:
                self.float_fallback_nodes.append((node.name, node.op_type))
            self.fallback_reasons[node.name] = "kept in float (--layer-precision): CPU fallback"
            return _fallback(ictx, self)
        if raw:
            reason = f"tensor {raw[0]!r} has no encoding"
        else:
            try:
                return prepare_int(ictx)
            except NotInteger as exc:
                reason = str(exc)
        if node.name not in self.fallback_reasons:  # a hooked run plans nodes again
            self.float_fallback_nodes.append((node.name, node.op_type))
        self.fallback_reasons[node.name] = reason
        return _fallback(ictx)

    # -- running -----------------------------------------------------------------------

    def quantize_inputs(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The feeds with every encoded graph input quantized to its codes."""
        out = dict(feeds)
        for name, enc in self._inputs:
            if name not in feeds:
                raise InputListError(f"missing value for model input {name!r}")
            if enc is not None:
                out[name] = quantize(np.asarray(feeds[name], dtype=np.float32), enc, self.rounding)
        return out

    def float_param(self, name: str) -> np.ndarray:
        """A parameter as float: dequantized (once) if it is quantized."""
        value = self._float_params.get(name)
        if value is None:
            enc = self.param_encodings.get(name)
            value = self.graph.params[name]
            if enc is not None:
                value = dequantize(value, enc)
            self._float_params[name] = value
        return value

    def to_float(self, name: str, value: np.ndarray) -> np.ndarray:
        """A tensor as it flows in this plan, dequantized if it is encoded."""
        convert = self._to_float.get(name)
        if convert is None:
            enc = self.encodings.get(name)
            convert = self._to_float[name] = _identity if enc is None else dequantizer(enc)
        return convert(value)

    def run_integer(
        self, feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None
    ) -> dict[str, np.ndarray]:
        """Run once on float feeds; outputs (and ``keep`` tensors) as the integers they are."""
        return self._plan.run(self.quantize_inputs(feeds), hook)

    def run(
        self, feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None
    ) -> dict[str, np.ndarray]:
        """Run once; float outputs. ``hook`` sees every produced tensor dequantized."""
        inner = None
        if hook is not None:

            def inner(name: str, value: np.ndarray) -> None:
                hook(name, self.to_float(name, value))

        results = self.run_integer(feeds, inner)
        return {name: self.to_float(name, v) for name, v in results.items()}


@dataclass(frozen=True)
class _LookupTable:
    """What a fused integer head applies to its codes (``OpContext.chain``)."""

    table: np.ndarray


class _DequantizedConsts(Mapping):
    """A node's constant inputs as floats, each dequantized on first access."""

    def __init__(self, stored: Mapping[int, np.ndarray], names: tuple[str, ...], plan: IntegerPlan):
        self._stored, self._names, self._plan = stored, names, plan

    def __getitem__(self, k: int) -> np.ndarray:
        if k not in self._stored:
            raise KeyError(k)
        return self._plan.float_param(self._names[k])

    def __contains__(self, k: object) -> bool:
        return k in self._stored

    def __iter__(self) -> Iterator[int]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


def _identity(value: np.ndarray) -> np.ndarray:
    return value


def dequantizer(enc: AnyEncoding) -> Callable[[np.ndarray], np.ndarray]:
    """``dequantize(q, enc)`` with the encoding's constants made once: the same float32
    arithmetic (``(q + offset) * delta``) for a per-tensor encoding of up to 16 bits that
    stays finite, ``dequantize`` itself for anything else."""
    if not isinstance(enc, Encoding) or enc.bitwidth > 16 or max(abs(enc.min), abs(enc.max)) > 1e38:
        return lambda q: dequantize(q, enc)
    delta, offset = np.float32(enc.delta), np.float32(enc.offset)

    def convert(q: np.ndarray) -> np.ndarray:
        v = np.asarray(q).astype(np.float32)
        v += offset
        v *= delta
        return v

    return convert


def _fallback(ictx: IntContext, timed: IntegerPlan | None = None) -> Kernel:
    """Dequantize the inputs, run the float kernel, quantize the outputs; with ``timed``
    (a float layer's CPU fallback) the converts' time is added to its ``convert_seconds``."""
    kernel = prepare(ictx.float_op)
    consts = ictx.float_op.consts
    dequant_args = [
        (i, dequantizer(enc))
        for i, enc in enumerate(ictx.in_encs)
        if enc is not None and i not in consts
    ]
    const_args = [(i, consts[i]) for i in consts if ictx.in_encs[i] is not None]
    outs = ictx.out_encs

    def run(*args: np.ndarray | None) -> tuple[np.ndarray, ...]:
        t0 = time.perf_counter()
        values = list(args)
        for i, convert in dequant_args:
            if values[i] is not None:
                values[i] = convert(values[i])
        for i, v in const_args:
            values[i] = v
        t1 = time.perf_counter()
        results = kernel(*values)
        t2 = time.perf_counter()
        quantized = tuple(
            quantize(r, enc, ictx.rounding) if enc is not None and r is not None else r
            for r, enc in zip(results, outs, strict=False)
        )
        if timed is not None:
            timed.convert_seconds += (t1 - t0) + (time.perf_counter() - t2)
        return quantized

    return run
