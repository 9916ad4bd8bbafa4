"""Float16 storage, float32 math: the GPU's fp16 mode, shared by any runtime that casts.

At init the data parameters (weights, biases, data constants; not shapes or settings
such as Resize scales) are cast to float16. Between layers every float activation is
stored as float16: each kernel is wrapped so that its float16 inputs are cast up to
float32, the float kernel computes in float32, and its float32 outputs are rounded to
float16. Graph inputs are rounded to float16 on entry; outputs are returned as float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from workbench.engine.container import Container
from workbench.engine.executor import Plan, TensorHook
from workbench.engine.graph import Graph
from workbench.engine.ops.registry import Kernel, OpContext, check_supported, prepare
from workbench.engine.quant.dequant import data_params
from workbench.engine.runtimes.float_plan import DEQUANTIZED, dequantized_graph
from workbench.engine.runtimes.network import InitRequest, Network, network, resized

MODE = "float16 storage, float32 math"


def fp16_init(container: Container, request: InitRequest) -> Network:
    """A float container: cast to float16 storage."""
    return fp16_network(container.graph, request)


def fp16_dequantized_init(container: Container, request: InitRequest) -> Network:
    """A quantized container: dequantized, then cast to float16 storage."""
    return fp16_network(dequantized_graph(container, request.phases), request, dequantized=True)


def fp16_network(graph: Graph, request: InitRequest, *, dequantized: bool = False) -> Network:
    """Phases ``cast_fp16``, (``resize``), ``plan``."""
    phases = request.phases
    graph = _cast_fp16(graph)
    phases.done("cast_fp16")
    graph = resized(graph, request.batch, phases)
    net = _fp16_network(graph, request.keep)
    phases.done("plan")
    net.mode = MODE + (DEQUANTIZED if dequantized else "")
    return net


def _cast_fp16(graph: Graph) -> Graph:
    """A copy whose data parameters are stored in float16 (settings stay float32)."""
    out = graph.copy()
    for name in data_params(graph):
        out.params[name] = graph.params[name].astype(np.float16)
    return out


def _to32(a: np.ndarray | None) -> np.ndarray | None:
    return a.astype(np.float32) if a is not None and a.dtype == np.float16 else a


def _to16(a: np.ndarray | None) -> np.ndarray | None:
    return a.astype(np.float16) if a is not None and a.dtype == np.float32 else a


def _fp16_prepare(ctx: OpContext) -> Kernel:
    # Constants are cast up once, here; activations at every call.
    consts = {k: _to32(v) for k, v in ctx.consts.items()}
    kernel = prepare(replace(ctx, consts=consts))

    def run(*args: np.ndarray | None) -> tuple[np.ndarray, ...]:
        up = (consts[k] if k in consts else _to32(a) for k, a in enumerate(args))
        return tuple(_to16(r) for r in kernel(*up))

    return run


def _fp16_network(graph: Graph, keep) -> Network:
    check_supported(graph.nodes)
    plan = Plan(graph, keep=keep, prepare_fn=_fp16_prepare)

    def run_raw(feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None):
        return plan.run({k: _to16(np.asarray(v)) for k, v in feeds.items()}, hook)

    def run(feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None):
        return {k: _to32(v) for k, v in run_raw(feeds, hook).items()}

    return network(MODE, run, run_raw)
