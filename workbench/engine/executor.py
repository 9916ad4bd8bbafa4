"""The float executor: plan a graph once, then run it many times.

Planning resolves every node's kernel (attributes, constant-input layouts) and
assigns each tensor a slot; running walks the steps with no parsing or lookups by
name, and drops each intermediate as soon as its last consumer has run.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.engine.graph import Graph, Node
from workbench.engine.ops.registry import Kernel, OpContext, check_supported, prepare
from workbench.engine.summary import node_macs
from workbench.errors import InputListError, ModelError


def _tune_allocator() -> None:
    """Keep large freed buffers in the process (glibc) instead of unmapping them.

    Every intermediate is a fresh array; with glibc's defaults each large one is a
    new mmap and pays page faults on first touch. Raising the mmap and trim
    thresholds lets the allocator reuse them, like ONNX Runtime's arena does.
    """
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


_tune_allocator()

# A linear layer below this many multiply-accumulates runs its BLAS call on one
# thread: waking a second OpenBLAS thread costs more than it saves there, and on
# a busy machine (a shared build server) the waiting thread spins for tens of ms.
SMALL_LINEAR_MACS = 8_000_000


def _openblas() -> Any:
    global _BLAS
    if _BLAS is None:
        _BLAS = False
        try:
            from threadpoolctl import ThreadpoolController

            found = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
            if len(found) == 1 and hasattr(found[0], "set_num_threads"):
                _BLAS = found[0]
        except Exception:  # no threadpoolctl, or a BLAS it cannot drive: leave threads be
            pass
    return _BLAS or None


_BLAS: Any = None


def _single_blas_thread(kernel: Kernel) -> Kernel:
    blas = _openblas()
    if blas is None or blas.num_threads <= 1:
        return kernel
    threads = blas.num_threads

    def run(*args: Any) -> tuple[np.ndarray, ...]:
        blas.set_num_threads(1)
        try:
            return kernel(*args)
        finally:
            blas.set_num_threads(threads)

    return run


# What preparing or running a kernel raises on a malformed graph: attributes of the
# wrong kind or out of range, constant inputs of the wrong shape, a required input
# left out. Graphs come from files, so these are reported as the file's fault,
# naming the node (``ModelError``), like any other malformed model.
MALFORMED_NODE_ERRORS = (
    ValueError,
    IndexError,
    TypeError,
    KeyError,
    AttributeError,
    ZeroDivisionError,
    OverflowError,
)

# Called with (tensor name, value) for every tensor a step produces: --debug dumps,
# calibration observers, per-layer analysis.
TensorHook = Callable[[str, np.ndarray], None]


@dataclass(frozen=True)
class Step:
    node: Node
    kernel: Kernel
    inputs: tuple[int, ...]  # slot per input; -1 for an omitted optional input
    outputs: tuple[int, ...]  # slot per output; -1 for an unused output
    free: tuple[int, ...]  # slots whose last reader is this step


class Plan:
    """A graph made ready to run: kernels prepared, slots assigned, lifetimes known."""

    def __init__(
        self,
        graph: Graph,
        keep: Iterable[str] = (),
        prepare_fn: Callable[[OpContext], Kernel] = prepare,
    ):
        if prepare_fn is prepare:
            check_supported(graph.nodes)
        self.graph = graph
        slot_of: dict[str, int] = {}

        def slot(name: str) -> int:
            if name not in slot_of:
                slot_of[name] = len(slot_of)
            return slot_of[name]

        for t in graph.inputs:
            slot(t.name)
        for name in graph.params:
            slot(name)

        retained = set(graph.output_names) | set(keep) | set(graph.params)
        last_use: dict[str, int] = {}
        for idx, n in enumerate(graph.nodes):
            for i in n.inputs:
                if i:
                    last_use[i] = idx

        steps: list[Step] = []
        for idx, n in enumerate(graph.nodes):
            for i in n.inputs:
                if i and i not in slot_of:
                    raise ModelError(f"node {n.name!r} reads undefined tensor {i!r}")
            consts = {k: graph.params[i] for k, i in enumerate(n.inputs) if i in graph.params}
            ctx = OpContext(
                node=n,
                consts=consts,
                inputs=tuple(graph.info(i) if i else None for i in n.inputs),
                outputs=tuple(graph.info(o) if o else None for o in n.outputs),
                opset=graph.opset,
                plan_body=_body_planner(prepare_fn) if n.subgraphs else None,
            )
            try:
                kernel = prepare_fn(ctx)
            except MALFORMED_NODE_ERRORS as exc:
                raise ModelError(
                    f"{n.op_type} node {n.name!r} cannot be prepared "
                    f"(malformed attributes or constant inputs): {exc}"
                ) from exc
            macs = node_macs(n, graph.info)
            if macs is not None and 0 < macs < SMALL_LINEAR_MACS:
                kernel = _single_blas_thread(kernel)
            ins = tuple(slot_of[i] if i else -1 for i in n.inputs)
            outs = tuple(slot(o) if o else -1 for o in n.outputs)
            dead = {i for i in n.inputs if i and last_use.get(i) == idx and i not in retained}
            # An output nobody reads (and nobody asked for) dies right away.
            dead |= {o for o in n.outputs if o and o not in last_use and o not in retained}
            steps.append(Step(n, kernel, ins, outs, tuple(slot_of[d] for d in sorted(dead))))

        self.steps = steps
        self.slot_of = slot_of
        self.n_slots = len(slot_of)
        self._param_slots = [(slot_of[k], v) for k, v in graph.params.items()]
        self._input_slots = [(t.name, slot_of[t.name]) for t in graph.inputs]
        self._result_names = list(dict.fromkeys([*graph.output_names, *keep]))

    def run(
        self, feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None
    ) -> dict[str, np.ndarray]:
        """Run once; returns the graph outputs (and any ``keep`` tensors) by name."""
        with np.errstate(all="ignore"):  # NaN/Inf propagate as in ONNX Runtime
            return self._run(feeds, hook)

    def _run(
        self, feeds: Mapping[str, np.ndarray], hook: TensorHook | None
    ) -> dict[str, np.ndarray]:
        values: list[np.ndarray | None] = [None] * self.n_slots
        for s, v in self._param_slots:
            values[s] = v
        for name, s in self._input_slots:
            if name not in feeds:
                raise InputListError(f"missing value for model input {name!r}")
            values[s] = feeds[name]
        for step in self.steps:
            args = [values[i] if i >= 0 else None for i in step.inputs]
            try:
                results = step.kernel(*args)
            except MALFORMED_NODE_ERRORS as exc:
                raise ModelError(
                    f"{step.node.op_type} node {step.node.name!r} failed: {exc}"
                ) from exc
            for s, r, name in zip(step.outputs, results, step.node.outputs, strict=False):
                if s >= 0:
                    values[s] = r
                    if hook is not None:
                        hook(name, r)
            for s in step.free:
                values[s] = None
        return {name: values[self.slot_of[name]] for name in self._result_names}


def _body_planner(prepare_fn: Callable[[OpContext], Kernel]) -> Callable[[Graph], Plan]:
    """Bodies of If/Loop/Scan are planned with the enclosing plan's kernel preparation."""
    return lambda body: Plan(body, prepare_fn=prepare_fn)


def run_graph(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Plan and run once (convenience for tests and constant folding)."""
    return Plan(graph).run(feeds)
