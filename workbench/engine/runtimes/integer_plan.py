"""Integer-true execution with the container's encodings: the DSP's native mode (and the
CPU's fixed-point mode, ``--cpu-fxp``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from workbench.engine.batch import resize_batch
from workbench.engine.container import Container
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.runtimes.network import InitRequest, Network, network


def integer_init(container: Container, request: InitRequest) -> Network:
    """A quantized container, natively: phases (``resize``), ``plan``."""
    if request.batch != 1:
        container = replace(container, graph=resize_batch(container.graph, request.batch))
        request.phases.done("resize")
    plan = IntegerPlan(container, keep=request.keep)
    request.phases.done("plan")
    net = network("integer (fixed point)", plan.run, plan.run_integer)
    net.notes.extend(fallback_notes(plan))
    cpu_fallback(net, plan)
    return net


def cpu_fallback(net: Network, plan: Any) -> None:
    """The network's float layers, their boundary converts and a clock of their time."""
    if not plan.float_layers:
        return
    net.float_layers = len(plan.float_layers)
    net.boundaries = len(plan.boundaries)
    net.convert_seconds = lambda: plan.convert_seconds
    net.notes.append(
        f"{net.float_layers} layer(s) kept in float fall back to the CPU, with "
        f"{net.boundaries} convert(s) per inference at the boundaries"
    )


def fallback_notes(plan: Any) -> list[str]:
    nodes = plan.float_fallback_nodes
    if not nodes:
        return []
    shown = ", ".join(f"{name} ({op})" for name, op in nodes[:5])
    more = f" and {len(nodes) - 5} more" if len(nodes) > 5 else ""
    return [f"{len(nodes)} layer(s) run in float inside the integer executor: {shown}{more}"]
