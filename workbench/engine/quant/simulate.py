"""Fake-quant execution of a quantized container, whole or in part (the analysis's tool).

``SimulatedQuantPlan``: parameters dequantized at plan time, each output (and graph
input) quantize-dequantized with its encoding by a wrapped float kernel; the weights and
the activations can be switched separately, and restricted to some nodes, the others
taking their float values. The sensitivity analysis measures each half this way.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from workbench.engine.container import Container
from workbench.engine.executor import Plan, TensorHook
from workbench.engine.ops.registry import Kernel, OpContext, prepare
from workbench.engine.quant.encoding import (
    AnyEncoding,
    dequantize,
    encoding_from_dict,
    fake_quantize,
)

Feeds = Mapping[str, np.ndarray]


def _fq_kernel(kernel: Kernel, encs: tuple[AnyEncoding | None, ...], rounding: str) -> Kernel:
    def run(*args: Any) -> tuple[np.ndarray, ...]:
        results = kernel(*args)
        return tuple(
            fake_quantize(r, e, rounding) if e is not None and r.dtype.kind == "f" else r
            for r, e in zip(results, encs, strict=False)
        )

    return run


class ParsedEncodings:
    """A quantized container's encodings read once, and its parameters dequantized on first
    use: what every ``SimulatedQuantPlan`` of one analysis shares (plans never write into
    their parameters)."""

    def __init__(self, container: Container):
        self.encodings = {n: encoding_from_dict(d) for n, d in container.encodings.items()}
        self.param_encodings = {
            n: encoding_from_dict(d) for n, d in container.param_encodings.items()
        }
        self._dequantized: dict[str, np.ndarray] = {}

    def dequantized(self, name: str, value: np.ndarray) -> np.ndarray:
        """Parameter ``name`` (stored as ``value``) dequantized by its encoding."""
        out = self._dequantized.get(name)
        if out is None:
            out = self._dequantized[name] = dequantize(value, self.param_encodings[name])
        return out


class SimulatedQuantPlan:
    """Fake-quant execution of a quantized container, whole or in part.

    ``quantize_weights`` / ``quantize_activations`` switch the two halves; ``only``
    (node names) restricts both to those nodes' parameters and outputs. Parameters
    not quantized take their value from ``float_params`` (the prepared float graph).
    ``parsed``: the container's ``ParsedEncodings``, when several plans share them.
    """

    def __init__(
        self,
        container: Container,
        *,
        float_params: Mapping[str, np.ndarray] | None = None,
        quantize_weights: bool = True,
        quantize_activations: bool = True,
        only: Collection[str] | None = None,
        parsed: ParsedEncodings | None = None,
    ):
        graph = container.graph.copy()
        self.rounding = rounding = container.rounding
        chosen = None if only is None else set(only)
        parsed = parsed or ParsedEncodings(container)
        encs, param_encs = parsed.encodings, parsed.param_encodings
        quant_params = {
            i for n in graph.nodes if chosen is None or n.name in chosen for i in n.inputs if i
        }
        params = {}
        for name, value in graph.params.items():
            enc = param_encs.get(name)
            if enc is None:
                params[name] = value
            elif quantize_weights and name in quant_params:
                params[name] = parsed.dequantized(name, value)
            elif float_params is not None and name in float_params:
                params[name] = float_params[name]
            else:  # a bias created by bias correction: zero in the float model
                params[name] = np.zeros(value.shape, np.float32)
        graph.params = params
        self.graph = graph
        self.input_encodings: dict[str, AnyEncoding] = {}
        if quantize_activations and chosen is None:
            self.input_encodings = {t.name: encs[t.name] for t in graph.inputs if t.name in encs}
        act_nodes = {n.name for n in graph.nodes if chosen is None or n.name in chosen}

        def prepare_fq(ctx: OpContext) -> Kernel:
            kernel = prepare(ctx)
            if not quantize_activations or ctx.node.name not in act_nodes:
                return kernel
            out_encs = tuple(encs.get(o) if o else None for o in ctx.node.outputs)
            if all(e is None for e in out_encs):
                return kernel
            return _fq_kernel(kernel, out_encs, rounding)

        self.plan = Plan(graph, prepare_fn=prepare_fq)

    def run(self, feeds: Feeds, hook: TensorHook | None = None) -> dict[str, np.ndarray]:
        fed = dict(feeds)
        for name, enc in self.input_encodings.items():
            if name in fed:
                fed[name] = fake_quantize(fed[name], enc, self.rounding)
        return self.plan.run(fed, hook=hook)


__all__ = ["ParsedEncodings", "SimulatedQuantPlan"]
