"""Fake-quant execution: float kernels, every activation quantized and dequantized in place.

The quick way to see a quantized model's accuracy, and the reference the QDQ ONNX export
is checked against. Parameters are dequantized (a quantized container) or
fake-quantized (a float graph with parameter encodings); graph inputs and every node
output with an encoding go through ``fake_quantize``. Pure data movement whose output
keeps its input's encoding is left alone: its values are already on that grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from workbench.engine.container import Container
from workbench.engine.executor import Plan, TensorHook
from workbench.engine.graph import Graph
from workbench.engine.ops.registry import Kernel, OpContext, check_supported, prepare
from workbench.engine.quant.dequant import dequantize_graph
from workbench.engine.quant.encoding import (
    AnyEncoding,
    ChannelEncoding,
    Encoding,
    check_rounding,
    encoding_from_dict,
    fake_quantize,
)
from workbench.engine.quant.int_ops.movement import MOVEMENT_OPS
from workbench.errors import BadInput, InputListError
from workbench.vocabulary import DEFAULT_ROUNDING


def as_encoding(value: AnyEncoding | Mapping[str, Any]) -> AnyEncoding:
    """An encoding from either an encoding value or its ``to_dict()`` form."""
    if isinstance(value, (Encoding, ChannelEncoding)):
        return value
    return encoding_from_dict(dict(value))


def activation_encodings(encodings: Mapping[str, Any]) -> dict[str, Encoding]:
    result = {}
    for name, value in encodings.items():
        enc = as_encoding(value)
        if not isinstance(enc, Encoding):
            raise BadInput(f"activation {name!r} has a per-channel encoding; only weights may")
        result[name] = enc
    return result


class FakeQuantPlan:
    """A float plan with quantize-dequantize on every encoded activation.

    ``FakeQuantPlan(container)`` for a quantized (or encoded float) container, or
    ``FakeQuantPlan(graph, encodings, param_encodings)`` for a float graph and candidate
    encodings (values or dicts); ``keep`` names extra tensors to return. Values round
    by ``rounding``: the container's own mode unless given (a graph: half away).
    """

    def __init__(
        self,
        source: Container | Graph,
        encodings: Mapping[str, Any] | None = None,
        param_encodings: Mapping[str, Any] | None = None,
        keep: Iterable[str] = (),
        rounding: str | None = None,
    ):
        if rounding is None:
            rounding = source.rounding if isinstance(source, Container) else DEFAULT_ROUNDING
        self.rounding = check_rounding(rounding)
        if isinstance(source, Container):
            if encodings is None:
                encodings = source.encodings
            if source.quantized:
                graph = dequantize_graph(source)
                param_encodings = {}
            else:
                graph = source.graph
                if param_encodings is None:
                    param_encodings = source.param_encodings
        else:
            graph = source
        self.encodings = activation_encodings(encodings or {})
        if param_encodings:
            graph = graph.copy()
            for name, value in param_encodings.items():
                if name not in graph.params:
                    raise BadInput(f"encoding given for unknown parameter {name!r}")
                p = graph.params[name]
                if p.dtype.kind == "f":
                    graph.params[name] = fake_quantize(p, as_encoding(value), self.rounding)
        check_supported(graph.nodes)
        self.graph = graph
        self._inputs = [(t.name, self.encodings.get(t.name)) for t in graph.inputs]
        # The float plan's fusion wherever no encoded activation would be hidden by it.
        self._plan = Plan(
            graph, keep, prepare_fn=self._prepare, fusion="float", opaque=self.encodings
        )

    def _prepare(self, ctx: OpContext) -> Kernel:
        kernel = prepare(ctx)
        node = ctx.node
        outs = [self.encodings.get(o) if o else None for o in node.outputs]
        if node.op_type in MOVEMENT_OPS and node.inputs and node.inputs[0]:
            source = self.encodings.get(node.inputs[0])
            outs = [None if enc == source else enc for enc in outs]
        if not any(e is not None for e in outs):
            return kernel

        rounding = self.rounding

        def run(*args: np.ndarray | None) -> tuple[np.ndarray, ...]:
            results = kernel(*args)
            return tuple(
                fake_quantize(r, e, rounding) if e is not None and r.dtype.kind == "f" else r
                for r, e in zip(results, outs, strict=False)
            )

        return run

    def quantize_inputs(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The feeds with every encoded graph input fake-quantized."""
        out = dict(feeds)
        for name, enc in self._inputs:
            if name not in feeds:
                raise InputListError(f"missing value for model input {name!r}")
            if enc is not None:
                out[name] = fake_quantize(
                    np.asarray(feeds[name], dtype=np.float32), enc, self.rounding
                )
        return out

    def run(
        self, feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None
    ) -> dict[str, np.ndarray]:
        """Run once; the outputs (and ``keep`` tensors), fake-quantized where encoded."""
        return self._plan.run(self.quantize_inputs(feeds), hook)
