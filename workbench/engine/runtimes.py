"""Runtime emulators: what each runtime does with a container at initialisation.

``load_network`` takes a container (already read from disk) and returns a
``Network`` ready to run, having done the runtime's real initialisation work
(SPEC §2), timed phase by phase:

* ``cpu``: a float container runs in float32. A quantized container runs
  integer-true with ``cpu_fxp``; without it every parameter is dequantized at
  init, then it runs in float.

Batch resizing (``batch``) happens at init on every runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workbench.engine.batch import graph_batch, resize_batch
from workbench.engine.container import Container
from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, TensorInfo
from workbench.errors import BadInput

RUNTIMES = ("cpu",)


@dataclass
class Network:
    """An initialised network: run it with float feeds, get float outputs."""

    runtime: str
    mode: str  # what runs: "float32", "integer", "dequantized float32", ...
    inputs: list[TensorInfo]  # per sample (batch 1)
    outputs: list[str]
    batch: int
    run: Callable[..., dict[str, np.ndarray]]  # run(feeds, hook=None)
    init_breakdown_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _Phases:
    """Times consecutive init phases in ms."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.ms[phase] = self.ms.get(phase, 0.0) + (now - self._t) * 1e3
        self._t = now


def load_network(
    container: Container,
    runtime: str,
    *,
    batch: int = 1,
    cpu_fxp: bool = False,
    keep: tuple[str, ...] = (),
) -> Network:
    """Initialise ``container`` on ``runtime`` (see the module doc for the rules)."""
    if runtime not in RUNTIMES:
        raise BadInput(f"unknown runtime {runtime!r} (available: {', '.join(RUNTIMES)})")
    if batch < 1:
        raise BadInput(f"--batch must be a positive integer, got {batch}")
    phases = _Phases()
    sample_inputs = _sample_infos(container.graph)
    if container.quantized and cpu_fxp:
        from workbench.engine.quant.int_exec import IntegerPlan

        quantized = _resized_container(container, batch)
        phases.done("resize")
        plan = IntegerPlan(quantized, keep=keep)
        phases.done("plan")
        mode = "integer (fixed point)"
        run = plan.run
    else:
        graph = container.graph
        mode = "float32"
        if container.quantized:
            from workbench.engine.quant.dequant import dequantize_graph

            graph = dequantize_graph(container)
            phases.done("dequantize")
            mode = "float32 (parameters dequantized at init)"
        graph = resize_batch(graph, batch)
        phases.done("resize")
        plan = Plan(graph, keep=keep)
        phases.done("plan")
        run = plan.run
    return Network(
        runtime=runtime,
        mode=mode,
        inputs=sample_inputs,
        outputs=container.graph.output_names,
        batch=batch,
        run=run,
        init_breakdown_ms=phases.ms,
    )


def _sample_infos(graph: Graph) -> list[TensorInfo]:
    old = graph_batch(graph)
    if old == 1:
        return list(graph.inputs)
    raise BadInput(f"the container's batch is {old}; runtimes resize from batch 1 only")


def _resized_container(container: Container, batch: int) -> Container:
    if batch == 1:
        return container
    from dataclasses import replace

    return replace(container, graph=resize_batch(container.graph, batch))
