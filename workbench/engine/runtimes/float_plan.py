"""Float execution (the CPU's and the GPU's float32), dequantizing a quantized container."""

from __future__ import annotations

from workbench.engine.container import Container
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph
from workbench.engine.quant.dequant import dequantize_graph
from workbench.engine.runtimes.network import InitRequest, Network, Phases, network, resized

DEQUANTIZED = ", parameters dequantized at init"  # appended to the mode


def float_init(container: Container, request: InitRequest) -> Network:
    """A float container, natively: phases (``resize``), ``plan``."""
    return float_network(container.graph, request)


def dequantized_init(container: Container, request: InitRequest) -> Network:
    """A quantized container: phases ``dequantize``, (``resize``), ``plan``."""
    return float_network(dequantized_graph(container, request.phases), request, dequantized=True)


def dequantized_graph(container: Container, phases: Phases) -> Graph:
    """Every quantized parameter back to float32 (phase ``dequantize``)."""
    graph = dequantize_graph(container)
    phases.done("dequantize")
    return graph


def float_network(graph: Graph, request: InitRequest, *, dequantized: bool = False) -> Network:
    graph = resized(graph, request.batch, request.phases)
    plan = Plan(graph, keep=request.keep)
    request.phases.done("plan")
    return network("float32" + (DEQUANTIZED if dequantized else ""), plan.run, plan.run)
