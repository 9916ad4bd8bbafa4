"""Compare our runs of an imported TFLite model with the TFLite interpreter's recorded outputs.

The recordings come from ``make_models.py`` (``index.json`` plus one ``.npz`` per model):
float models are compared value by value; quantized ones by their output *codes*, ours
from the integer-true executor (``IntegerPlan.run_integer``) against the interpreter's
int8 outputs (or, for a float-interface model, its float outputs put back on the same
grid), counting the elements within one LSB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.engine.executor import Plan
from workbench.engine.quant.encoding import quantize
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.tflite import TfliteImport, load_tflite


@dataclass(frozen=True)
class Recording:
    path: Path  # the .tflite file
    inputs: list[dict]
    outputs: list[dict]
    samples: list[tuple[dict[str, np.ndarray], list[np.ndarray]]]  # (feeds, outputs)


def recordings(folder: Path) -> dict[str, Recording]:
    index = json.loads((folder / "index.json").read_text())
    found = {}
    for stem, meta in index.items():
        arrays = np.load(folder / f"{stem}.npz")
        samples, k = [], 0
        while f"feed_{k}_0" in arrays:
            feeds = {d["name"]: arrays[f"feed_{k}_{i}"] for i, d in enumerate(meta["inputs"])}
            refs = [arrays[f"ref_{k}_{j}"] for j in range(len(meta["outputs"]))]
            samples.append((feeds, refs))
            k += 1
        found[stem] = Recording(folder / f"{stem}.tflite", meta["inputs"], meta["outputs"], samples)
    return found


def check_interface(imported: TfliteImport, rec: Recording) -> None:
    """Inputs and outputs keep the model's names (and the inputs its NHWC shapes)."""
    g = imported.graph
    assert g.input_names == [d["name"] for d in rec.inputs]
    assert sorted(g.output_names) == sorted(d["name"] for d in rec.outputs)
    for t, (feeds, _) in zip(g.inputs, rec.samples[:1] * len(g.inputs), strict=False):
        assert t.shape == feeds[t.name].shape


def float_error(rec: Recording) -> float:
    """Largest |ours - TFLite| over every output element, relative to the output's scale."""
    imported = load_tflite(rec.path)
    check_interface(imported, rec)
    plan = Plan(imported.graph)
    worst = 0.0
    for feeds, refs in rec.samples:
        ours = plan.run(feeds)
        for d, ref in zip(rec.outputs, refs, strict=True):
            got = ours[d["name"]]
            assert got.shape == ref.shape, (d["name"], got.shape, ref.shape)
            scale = max(1.0, float(np.abs(ref).max()))
            worst = max(worst, float(np.abs(got - ref).max()) / scale)
    return worst


@dataclass(frozen=True)
class Agreement:
    within_one: float  # fraction of output elements within 1 LSB
    exact: float
    max_diff: int
    elements: int

    def __str__(self) -> str:
        return (
            f"{self.within_one:.2%} within 1 LSB ({self.exact:.2%} exact, max {self.max_diff}) "
            f"over {self.elements} elements"
        )


def integer_agreement(rec: Recording, rounding: str | None = None) -> Agreement:
    """Our integer-true output codes against the interpreter's, over every element of every
    sample; ``rounding`` replaces the container's own mode (``tflite``)."""
    imported = load_tflite(rec.path)
    assert imported.quantized
    check_interface(imported, rec)
    container = imported.to_container({"command": "test"})
    if rounding is not None:
        container.manifest["rounding"] = rounding
    plan = IntegerPlan(container)
    diffs = []
    for feeds, refs in rec.samples:
        ours = plan.run_integer(feeds)
        for d, ref in zip(rec.outputs, refs, strict=True):
            enc = imported.encodings[d["name"]]
            if d["dtype"] == "int8":
                theirs = ref.astype(np.int64) + 128  # our unsigned codes
            else:  # a float interface: the dequantized int8 output, back on its grid
                theirs = quantize(ref, enc).astype(np.int64)
            got = ours[d["name"]].astype(np.int64)
            assert got.shape == theirs.shape, (d["name"], got.shape, theirs.shape)
            diffs.append(np.abs(got - theirs).reshape(-1))
    diff = np.concatenate(diffs)
    return Agreement(
        float((diff <= 1).mean()), float((diff == 0).mean()), int(diff.max()), int(diff.size)
    )
