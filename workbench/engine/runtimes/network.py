"""What every runtime's init produces (``Network``) and receives (``InitRequest``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workbench.engine.batch import resize_batch
from workbench.engine.graph import Graph, TensorInfo

Run = Callable[..., dict[str, np.ndarray]]  # run(feeds, hook=None)


@dataclass
class Network:
    """An initialised network: run it with float feeds, get float outputs."""

    runtime: str
    mode: str  # what runs: "float32", "integer (fixed point)", ...
    inputs: list[TensorInfo]  # per sample (batch 1)
    outputs: list[str]
    batch: int
    run: Run
    quantized: bool = False  # the container's kind, whatever runs
    init_breakdown_ms: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # run_raw(feeds, hook): like run, but the hook sees tensors as stored (integers,
    # float16) at no conversion cost, for per-layer timing.
    run_raw: Run | None = None
    producers: dict[str, str] = field(default_factory=dict)  # tensor -> node name
    # Layers kept in float (--layer-precision X=float) that fall back to the CPU, the
    # converts that costs per inference, and the seconds spent converting so far.
    float_layers: int = 0
    boundaries: int = 0
    convert_seconds: Callable[[], float] | None = None


class Phases:
    """Times consecutive init phases in ms."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.ms[phase] = self.ms.get(phase, 0.0) + (now - self._t) * 1e3
        self._t = now


@dataclass(frozen=True)
class InitRequest:
    """What an init function is asked: the batch, tensors to keep, the phase clock."""

    batch: int
    keep: tuple[str, ...]
    phases: Phases


def network(mode: str, run: Run, run_raw: Run | None = None) -> Network:
    """A network whose identity (runtime, inputs, ...) ``load_network`` fills in."""
    return Network(runtime="", mode=mode, inputs=[], outputs=[], batch=1, run=run, run_raw=run_raw)


def resized(graph: Graph, batch: int, phases: Phases) -> Graph:
    """``graph`` at ``batch`` (phase ``resize``), or itself at batch 1."""
    if batch == 1:
        return graph
    graph = resize_batch(graph, batch)
    phases.done("resize")
    return graph
