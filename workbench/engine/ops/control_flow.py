"""Control flow: If, Loop and Scan over body graphs.

A body is a ``Graph`` attribute, closed over the outer tensors it reads: they are the
node's last ``captured`` inputs and the body's last inputs (see ``graph.py``). Bodies are
planned once, at plan time, the way the enclosing plan is (``OpContext.body``): a
fake-quant plan fake-quantizes inside them too, a float16 plan stores float16 there.
Each run feeds the body by position and reads its outputs by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.engine.ops.registry import Kernel, OpContext, register
from workbench.errors import ModelError

# A Loop with neither a trip count nor a condition that turns false would run forever;
# past this many iterations it is refused instead (no streaming model comes near).
MAX_LOOP_ITERATIONS = 1 << 20


def _truth(value: np.ndarray) -> bool:
    flat = np.asarray(value).reshape(-1)
    if flat.size != 1:
        raise ValueError(f"a condition must hold one value, got {flat.size}")
    return bool(flat[0])


def _outputs(plan: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    results = plan.run(feeds)
    return [results[o] for o in plan.graph.output_names]


def _empty_stack(plan: Any, name: str, info: Any) -> np.ndarray:
    """A scan output of zero iterations: shape (0, *element shape) where it is known."""
    elem = plan.graph.info(name)
    if info is not None and info.shape and info.shape[0] == 0:
        return np.zeros(info.shape, info.dtype)
    if elem is not None:
        return np.zeros((0, *elem.shape), elem.dtype)
    return np.zeros((0,), np.float32)


@register("If")
def if_(ctx: OpContext) -> Kernel:
    then_plan = ctx.body("then_branch")
    else_plan = ctx.body("else_branch")
    for plan, key in ((then_plan, "then_branch"), (else_plan, "else_branch")):
        if len(plan.graph.outputs) != len(ctx.node.outputs):
            raise ctx.fail(f"{key} has {len(plan.graph.outputs)} outputs, the node has "
                           f"{len(ctx.node.outputs)}")  # fmt: skip

    def run(cond: np.ndarray, *captured: np.ndarray) -> tuple[np.ndarray, ...]:
        plan = then_plan if _truth(cond) else else_plan
        return tuple(_outputs(plan, dict(zip(plan.graph.input_names, captured, strict=True))))

    return run


@register("Loop")
def loop(ctx: OpContext) -> Kernel:
    plan = ctx.body("body")
    names = plan.graph.input_names
    outs = plan.graph.output_names
    captured = ctx.node.captured
    n_carried = len(ctx.node.inputs) - 2 - captured
    n_scan = len(outs) - 1 - n_carried
    if n_carried < 0 or n_scan < 0 or len(names) != 2 + n_carried + captured:
        raise ctx.fail("the body's inputs and outputs do not match the node's")
    out_infos = list(ctx.outputs[n_carried:]) + [None] * n_scan

    def run(trip: np.ndarray | None, cond: np.ndarray | None, *rest: np.ndarray):
        carried = list(rest[:n_carried])
        outer = dict(zip(names[2 + n_carried :], rest[n_carried:], strict=True))
        limit = None if trip is None else int(np.asarray(trip).reshape(-1)[0])
        going = True if cond is None else _truth(cond)
        scans: list[list[np.ndarray]] = [[] for _ in range(n_scan)]
        i = 0
        while going and (limit is None or i < limit):
            if i >= MAX_LOOP_ITERATIONS:
                raise ModelError(f"Loop node {ctx.node.name!r} ran {i} iterations without stopping")
            feeds = {names[0]: np.array(i, np.int64), names[1]: np.array(going), **outer}
            feeds.update(zip(names[2 : 2 + n_carried], carried, strict=True))
            values = _outputs(plan, feeds)
            going = _truth(values[0])
            carried = values[1 : 1 + n_carried]
            for k, v in enumerate(values[1 + n_carried :]):
                scans[k].append(np.asarray(v))
            i += 1
        stacked = [
            np.stack(s) if s else _empty_stack(plan, outs[1 + n_carried + k], out_infos[k])
            for k, s in enumerate(scans)
        ]
        return (*carried, *stacked)

    return run


@register("Scan")
def scan(ctx: OpContext) -> Kernel:
    if ctx.opset < 9:
        raise ctx.fail("Scan before opset 9 (with a batch axis and sequence_lens)")
    plan = ctx.body("body")
    names = plan.graph.input_names
    outs = plan.graph.output_names
    m = int(ctx.attr("num_scan_inputs"))
    captured = ctx.node.captured
    n_states = len(ctx.node.inputs) - captured - m
    k = len(outs) - n_states
    if n_states < 0 or k < 0 or len(names) != n_states + m + captured:
        raise ctx.fail("the body's inputs and outputs do not match the node's")
    in_axes = list(ctx.attr("scan_input_axes", [0] * m))
    in_dirs = list(ctx.attr("scan_input_directions", [0] * m))
    out_axes = list(ctx.attr("scan_output_axes", [0] * k))
    out_dirs = list(ctx.attr("scan_output_directions", [0] * k))
    if len(in_axes) != m or len(in_dirs) != m or len(out_axes) != k or len(out_dirs) != k:
        raise ctx.fail("scan axes or directions of the wrong length")

    def run(*args: np.ndarray) -> tuple[np.ndarray, ...]:
        states = list(args[:n_states])
        xs = []
        for x, axis, direction in zip(args[n_states : n_states + m], in_axes, in_dirs, strict=True):
            x = np.moveaxis(np.asarray(x), axis % x.ndim, 0)
            xs.append(x[::-1] if direction else x)
        steps = {x.shape[0] for x in xs}
        if len(steps) > 1:
            raise ValueError(f"scan inputs of different lengths {sorted(steps)}")
        outer = dict(zip(names[n_states + m :], args[n_states + m :], strict=True))
        collected: list[list[np.ndarray]] = [[] for _ in range(k)]
        for t in range(steps.pop() if steps else 0):
            feeds = dict(zip(names[:n_states], states, strict=True))
            feeds.update((names[n_states + j], xs[j][t]) for j in range(m))
            feeds.update(outer)
            values = _outputs(plan, feeds)
            states = values[:n_states]
            for j, v in enumerate(values[n_states:]):
                collected[j].append(np.asarray(v))
        results = []
        for j, items in enumerate(collected):
            y = np.stack(items) if items else _empty_stack(plan, outs[n_states + j], None)
            if out_dirs[j]:
                y = y[::-1]
            y = np.moveaxis(y, 0, out_axes[j] % y.ndim)
            results.append(np.ascontiguousarray(y))
        return (*states, *results)

    return run
