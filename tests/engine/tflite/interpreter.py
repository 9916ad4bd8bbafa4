"""Our integer run of an imported int8 TFLite model against ``tf.lite.Interpreter``, tensor by tensor.

The interpreter runs its builtin kernels without the XNNPACK delegate, a fresh one per
sample (a stateful model starts from its initial state), with every tensor kept
(``experimental_preserve_all_tensors``); the workbench runs the container the converter
writes (its own encodings, rounding ``tflite`` unless a mode is given) on the same inputs.
Compared: the outputs, and every tensor both sides name alike (the importer's names,
``builder._base_names``; the IR's NCHW maps read back in the model's layout), as codes.
Needs the tensorflow extra (``tests.perf.tflite_exact`` prints the same per model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.tfmodels import tf_quietly
from workbench.engine.quant.encoding import quantize
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.tflite import load_tflite
from workbench.engine.tflite.builder import _base_names
from workbench.engine.tflite.reader import read_tflite


@dataclass
class Tally:
    """Differences in steps of the tensor's encoding, accumulated."""

    elements: int = 0
    exact: int = 0
    within_one: int = 0
    worst: int = 0

    def add(self, diff: np.ndarray) -> None:
        self.elements += diff.size
        self.exact += int((diff == 0).sum())
        self.within_one += int((diff <= 1).sum())
        self.worst = max(self.worst, int(diff.max(initial=0)))

    @property
    def share_exact(self) -> float:
        return self.exact / max(self.elements, 1)

    def __str__(self) -> str:
        n = max(self.elements, 1)
        return (
            f"{self.elements:>8} el  {self.exact / n:8.4%} exact  "
            f"{self.within_one / n:8.4%} <=1  max {self.worst} LSB"
        )


@dataclass
class Comparison:
    outputs: Tally = field(default_factory=Tally)
    tensors: dict[str, Tally] = field(default_factory=dict)  # in graph order
    producers: dict[str, str] = field(default_factory=dict)  # tensor -> our op type

    def differing(self) -> list[str]:
        return [n for n, t in self.tensors.items() if t.exact < t.elements]


def interpreter(path: Path):
    tf = tf_quietly()
    interp = tf.lite.Interpreter(
        str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    return interp


def codes(value: np.ndarray) -> np.ndarray:
    """Interpreter integers as the workbench's unsigned codes."""
    if value.dtype == np.int8:
        return value.astype(np.int64) + 128
    if value.dtype == np.int16:
        return value.astype(np.int64) + 32768
    return value.astype(np.int64)


def _feeds(interp, rng: np.random.Generator, scale: float) -> tuple[dict, dict]:
    """Random inputs: (the interpreter's, ours as float32)."""
    theirs, ours = {}, {}
    for d in interp.get_input_details():
        x = (rng.standard_normal(d["shape"]) * scale).astype(np.float32)
        if d["dtype"] in (np.int8, np.uint8, np.int16):
            s, zp = d["quantization"]
            info = np.iinfo(d["dtype"])
            q = np.clip(np.round(x / s) + zp, info.min, info.max).astype(d["dtype"])
            theirs[d["index"]] = q
            x = ((q.astype(np.float64) - zp) * s).astype(np.float32)
        else:
            theirs[d["index"]] = x
        ours[d["name"]] = x
    return theirs, ours


def layout_diff(ours: np.ndarray, want: np.ndarray) -> np.ndarray | None:
    """``|ours - want|`` with ours in the model's layout: the IR runs 4-D maps NCHW (a
    square map's shape says nothing, so the closer reading wins)."""
    tries = [ours]
    if ours.ndim == 4:
        tries.append(ours.transpose(0, 2, 3, 1))
    if ours.ndim == 3:
        tries.append(ours.transpose(0, 2, 1))
    diffs = [np.abs(t - want) for t in tries if t.shape == want.shape]
    return min(diffs, key=lambda d: int(d.sum())) if diffs else None


def compare(
    path: Path, modes: Sequence[str | None] = (None,), samples: int = 4, scale: float = 1.0
) -> dict[str | None, Comparison]:
    """Per rounding mode (``None``: the container's own), outputs and shared tensors."""
    imported = load_tflite(path)
    if not imported.quantized:
        raise ValueError(f"{path.name}: not a quantized model")
    container = imported.to_container({"command": "compare"})
    graph = container.graph
    probe = interpreter(path)
    names = _base_names(read_tflite(path))  # the IR's name of each TFLite tensor
    details = {names[d["index"]]: d for d in probe.get_tensor_details() if d["index"] in names}
    outputs = probe.get_output_details()
    order = [o for n in graph.nodes for o in n.outputs]
    shared = [n for n in order if n in details and n in imported.encodings]
    producers = {o: n.op_type for n in graph.nodes for o in n.outputs}
    initial = {s.input: s.initial for s in graph.state}
    rng = np.random.default_rng(7)
    runs = []
    for _ in range(samples):
        interp = interpreter(path)
        theirs, ours = _feeds(interp, rng, scale)
        for index, value in theirs.items():
            interp.set_tensor(index, value)
        interp.invoke()
        refs = {d["name"]: interp.get_tensor(d["index"]).copy() for d in outputs}
        inner = {n: interp.get_tensor(details[n]["index"]).copy() for n in shared}
        runs.append((ours, refs, inner))
    own = container.rounding
    found = {}
    for mode in modes:
        container.manifest["rounding"] = mode or own
        plan = IntegerPlan(container, keep=shared)
        result = Comparison(producers=producers)
        for ours, refs, inner in runs:
            got = plan.run_integer({**initial, **ours})
            for d in outputs:
                ref, enc = refs[d["name"]], imported.encodings[d["name"]]
                want = codes(ref) if ref.dtype != np.float32 else quantize(ref, enc)
                diff = layout_diff(got[d["name"]].astype(np.int64), want.astype(np.int64))
                result.outputs.add(diff.reshape(-1))
            for name in shared:
                if name not in got or inner[name].dtype == np.float32:
                    continue
                diff = layout_diff(np.asarray(got[name]).astype(np.int64), codes(inner[name]))
                if diff is not None:
                    result.tensors.setdefault(name, Tally()).add(diff.reshape(-1))
        found[mode] = result
    container.manifest["rounding"] = own
    return found
