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

import numpy as np

from workbench.engine import jit
from workbench.engine.fusion import FusedGroup, FusionPolicy, float_fusion, fuse
from workbench.engine.graph import Graph, Node
from workbench.engine.ops.registry import Kernel, OpContext, check_supported, prepare
from workbench.engine.summary import node_macs
from workbench.engine.threads import threads
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
    """A graph made ready to run: kernels prepared, slots assigned, lifetimes known.

    ``fusion`` says which nodes may absorb the elementwise chain after them
    (``workbench.engine.fusion``): a policy, ``"float"`` for the float kernels' own
    rule (the default when ``prepare_fn`` is the float registry's; without the compiled
    kernels, only the chains numpy applies in place), or None. ``opaque`` names tensors fusion must not hide (a fake-quant plan's
    encoded activations). Runs with a hook use the unfused steps (planned on first use),
    so the hook sees every tensor.
    """

    def __init__(
        self,
        graph: Graph,
        keep: Iterable[str] = (),
        prepare_fn: Callable[[OpContext], Kernel] = prepare,
        fusion: FusionPolicy | str | None = None,
        opaque: Iterable[str] = (),
    ):
        if prepare_fn is prepare:
            check_supported(graph.nodes)
        self.graph = graph
        self._keep = tuple(keep)
        self._prepare_fn = prepare_fn
        threads()  # the engine's thread settings (BLAS on one thread) before any kernel runs
        self.jit = jit.for_work(sum(node_macs(n, graph.info) or 0 for n in graph.nodes))
        if fusion is None and prepare_fn is prepare:
            fusion = "float"
        if fusion == "float":
            fusion = float_fusion(graph, compiled=self.jit is not None)
        retained = set(graph.output_names) | set(self._keep) | set(graph.params) | set(opaque)
        nodes, groups = (
            fuse(graph, retained, fusion) if callable(fusion) else (list(graph.nodes), {})
        )
        self.fused_groups = groups
        self.steps, self.slot_of = self._plan(nodes, groups)
        self._unfused: list[Step] | None = None if groups else self.steps
        self.n_slots = len(self.slot_of)
        self._param_slots = [(self.slot_of[k], v) for k, v in graph.params.items()]
        self._input_slots = [(t.name, self.slot_of[t.name]) for t in graph.inputs]
        self._result_names = list(dict.fromkeys([*graph.output_names, *self._keep]))
        self._fast: tuple | None = None  # laid out by the first run without a hook

    def _plan(
        self, nodes: list[Node], groups: Mapping[str, FusedGroup]
    ) -> tuple[list[Step], dict[str, int]]:
        graph = self.graph
        slot_of: dict[str, int] = {}

        def slot(name: str) -> int:
            if name not in slot_of:
                slot_of[name] = len(slot_of)
            return slot_of[name]

        for t in graph.inputs:
            slot(t.name)
        for name in graph.params:
            slot(name)

        retained = set(graph.output_names) | set(self._keep) | set(graph.params)
        last_use: dict[str, int] = {}
        for idx, n in enumerate(nodes):
            for i in n.inputs:
                if i:
                    last_use[i] = idx

        steps: list[Step] = []
        for idx, n in enumerate(nodes):
            for i in n.inputs:
                if i and i not in slot_of:
                    raise ModelError(f"node {n.name!r} reads undefined tensor {i!r}")
            consts = {k: graph.params[i] for k, i in enumerate(n.inputs) if i in graph.params}
            group = groups.get(n.name)
            ctx = OpContext(
                node=n,
                consts=consts,
                inputs=tuple(graph.info(i) if i else None for i in n.inputs),
                outputs=tuple(graph.info(o) if o else None for o in n.outputs),
                opset=graph.opset,
                chain=group.chain if group is not None else None,
                jit=self.jit,
                plan_body=_body_planner(self._prepare_fn) if n.subgraphs else None,
            )
            try:
                kernel = self._prepare_fn(ctx)
            except MALFORMED_NODE_ERRORS as exc:
                raise ModelError(
                    f"{n.op_type} node {n.name!r} cannot be prepared "
                    f"(malformed attributes or constant inputs): {exc}"
                ) from exc
            ins = tuple(slot_of[i] if i else -1 for i in n.inputs)
            outs = tuple(slot(o) if o else -1 for o in n.outputs)
            dead = {i for i in n.inputs if i and last_use.get(i) == idx and i not in retained}
            # An output nobody reads (and nobody asked for) dies right away.
            dead |= {o for o in n.outputs if o and o not in last_use and o not in retained}
            steps.append(Step(n, kernel, ins, outs, tuple(slot_of[d] for d in sorted(dead))))
        return steps, slot_of

    def _unfused_steps(self) -> list[Step]:
        """The steps of every node on its own (for hooks), with this plan's slots."""
        if self._unfused is None:
            steps, slot_of = self._plan(list(self.graph.nodes), {})
            # Same slot numbers for graph inputs and parameters (assigned first, in order);
            # fused-away tensors get slots past the fused plan's.
            self._unfused_slot_of = slot_of
            self._unfused = steps
        return self._unfused

    def run(
        self, feeds: Mapping[str, np.ndarray], hook: TensorHook | None = None
    ) -> dict[str, np.ndarray]:
        """Run once; returns the graph outputs (and any ``keep`` tensors) by name."""
        with np.errstate(all="ignore"):  # NaN/Inf propagate as in ONNX Runtime
            return self._run(feeds, hook)

    def _run(
        self, feeds: Mapping[str, np.ndarray], hook: TensorHook | None
    ) -> dict[str, np.ndarray]:
        if hook is None:
            return self._run_fast(feeds)
        steps, slot_of = self.steps, self.slot_of
        if self._unfused is not self.steps:
            steps = self._unfused_steps()
            slot_of = self._unfused_slot_of
        values: list[np.ndarray | None] = [None] * len(slot_of)
        for s, v in self._param_slots:
            values[s] = v
        self._feed(values, feeds)
        for step in steps:
            args = [values[i] if i >= 0 else None for i in step.inputs]
            try:
                results = step.kernel(*args)
            except MALFORMED_NODE_ERRORS as exc:
                raise _failed(step.node, exc) from exc
            for s, r, name in zip(step.outputs, results, step.node.outputs, strict=False):
                if s >= 0:
                    values[s] = r
                    hook(name, r)
            for s in step.free:
                values[s] = None
        return {name: values[slot_of[name]] for name in self._result_names}

    def _feed(self, values: list[np.ndarray | None], feeds: Mapping[str, np.ndarray]) -> None:
        for name, s in self._input_slots:
            if name not in feeds:
                raise InputListError(f"missing value for model input {name!r}")
            values[s] = feeds[name]

    def _run_fast(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The steps without a hook: per step only its kernel call and slot moves.

        Everything is laid out on first use: the slot list comes as a copy of one
        holding the parameters, with two extra slots, always None (read for an omitted
        input, slot ``-2``) and a sink (written for an unused output, slot ``-1``).
        """
        fast = self._fast
        if fast is None:
            template: list[np.ndarray | None] = [None] * (self.n_slots + 2)
            for s, v in self._param_slots:
                template[s] = v
            none, sink = self.n_slots, self.n_slots + 1
            steps = tuple(
                (
                    st.kernel,
                    tuple(i if i >= 0 else none for i in st.inputs),
                    st.outputs[0] if len(st.outputs) == 1 and st.outputs[0] >= 0 else -1,
                    tuple(o if o >= 0 else sink for o in st.outputs),
                    st.free,
                    st.node,
                )
                for st in self.steps
            )
            results = tuple((name, self.slot_of[name]) for name in self._result_names)
            fast = self._fast = (template, steps, results)
        template, steps, results = fast
        values = template.copy()
        self._feed(values, feeds)
        for kernel, ins, single, outs, free, node in steps:
            try:
                produced = kernel(*[values[i] for i in ins])
            except MALFORMED_NODE_ERRORS as exc:
                raise _failed(node, exc) from exc
            if single >= 0:
                values[single] = produced[0]
            else:
                for s, r in zip(outs, produced, strict=False):
                    values[s] = r
            for s in free:
                values[s] = None
        return {name: values[s] for name, s in results}


def _failed(node: Node, exc: Exception) -> ModelError:
    return ModelError(f"{node.op_type} node {node.name!r} failed: {exc}")


def _body_planner(prepare_fn: Callable[[OpContext], Kernel]) -> Callable[[Graph], Plan]:
    """Bodies of If/Loop/Scan are planned with the enclosing plan's kernel preparation."""
    return lambda body: Plan(body, prepare_fn=prepare_fn)


def run_graph(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Plan and run once (convenience for tests and constant folding)."""
    return Plan(graph).run(feeds)
