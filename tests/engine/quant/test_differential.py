"""Integer-true, fake-quant, QDQ and float across the quantizer's option space (issue 21).

The matrix: weights {4, 8, 16} x activations {8, 16} x bias {8, 32} x per-tensor /
per-channel x schemes {tf, enhanced, symmetric, percentile} x algorithms {none, cle, bc}
(288 option sets) on the bundled demo, a subset of ONNX's backend-test corpus and the
real-world families (``differential.MODEL_NAMES``): 6048 cells. By default a fixed-seed
sample runs (``PER_MODEL`` option sets per model, every option value represented, plus
issue 21's own rows on the demo); ``WORKBENCH_FULL_MATRIX=1`` runs every cell (and 500
generated graphs instead of 30); ``WORKBENCH_MATRIX_LOG=FILE`` appends every cell's numbers
to FILE as JSON lines. ``differential.py`` holds the machinery and the bounds:

* integer-true vs fake-quant, each layer fed the same inputs: >= 99.9 % of the elements
  within 1 LSB of the output encoding (judged where at least 1000 elements are compared)
  and the worst element at most 1 LSB. Both round the same real number: the integer path
  exactly (requantization is within ``2**-31`` of it), fake-quant in float32 (within
  ``2**-24`` of it, times the reduction length); they part only where that number lies
  within those errors of a half, by one step. One exception, stated: a bias with its own
  (8-bit) encoding is rounded to the accumulator's unit as the device's int32 bias is,
  which is ``r / 2`` output steps (``r = in_delta * w_delta / out_delta``); where the
  output grid is finer than the accumulator's that layer may be ``1 + floor(r / 2)`` off
  (``differential.bias_allowances``; only generated graphs with weights rounded to zero
  on a 4-bit grid reach it);
* the QDQ export run by ONNX Runtime vs fake-quant, the same way (ORT rounds halves to
  even, we away from zero: one step at a tie);
* end to end, over every layer output: integer-true SQNR against float at most 1 dB below
  fake-quant's, QDQ's at most 2 dB (3 dB for the generated graphs: tens of elements at
  100 dB, where one flipped step is a tenth of the noise). A step flipped in one layer
  moves the next layer's sums and so its own roundings: the paths become two draws of
  the same noise. Both stay near fake-quant (full matrix: integer -0.16 dB at worst,
  QDQ -0.92 dB at 16 bits, where ORT's own float kernels and QuantizeLinear round
  differently from ours on 0.015 % of layer elements);
* fake-quant vs float, over every layer output, at least the SQNR the bitwidths allow
  (``differential.sqnr_bound``): the model's own W8A8 SQNR plus ``20 log10((2**b - 1) /
  255)`` for ``b`` the narrower of weights and activations (noise ``delta**2 / 12`` per
  quantizer, every delta scaling as ``1 / (2**b - 1)``); no gain above 8 bits claimed
  under an 8-bit bias, a clipping scheme (percentile, enhanced) or a model whose 8-bit
  run is not small noise (a layer below 20 dB: BERT's -10000 mask); less 4 dB of slack
  (8 dB under 8 bits: 15 levels are not uniform noise, and enhanced clips harder there).
  The full matrix's worst margins are recorded in /work/notes/issue-21.md.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.quant import differential as diff

PER_MODEL = 8
CELLS = diff.all_cells() if diff.full_matrix() else diff.sampled_cells(PER_MODEL)


@pytest.mark.parametrize(
    ("model", "options"),
    [pytest.param(m, o, id=f"{m}|{diff.options_id(o)}") for m, o in CELLS],
)
def test_cell(model: str, options) -> None:
    result = diff.run_cell(model, options)
    bound = diff.sqnr_bound(model, options)
    problems = diff.check_cell(result, bound)
    log = os.environ.get("WORKBENCH_MATRIX_LOG")
    if log:  # one JSON line per cell, for the record (margins, timings)
        with open(log, "a") as f:
            f.write(json.dumps({**result.to_dict(), "bound": bound, "problems": problems}) + "\n")
    assert not problems, f"{model} {diff.options_id(options)}: " + "; ".join(problems)


def test_the_sample_covers_every_option_value_and_model() -> None:
    cells = diff.sampled_cells(PER_MODEL)
    ids = {diff.options_id(o) for _, o in cells}
    for part in ("w4", "w8", "w16", "a8", "a16", "b8", "b32", "-pt-", "-pc-"):
        assert any(part in i for i in ids), part
    for scheme in ("tf", "enhanced", "symmetric", "percentile"):
        assert any(f"-{scheme}-" in i for i in ids), scheme
    for algo in ("none", "cle", "bc"):
        assert any(i.endswith(f"-{algo}") for i in ids), algo
    assert {m for m, _ in cells} == set(diff.MODEL_NAMES)
    assert {("demo", r) for r in diff.ISSUE_ROWS} <= {(m, diff.options_id(o)) for m, o in cells}
    assert len(diff.all_cells()) == 288 * len(diff.MODEL_NAMES)


@st.composite
def generated(draw):
    spec = diff.GraphSpec(
        channels=draw(st.integers(1, 6)),
        height=draw(st.integers(1, 8)),
        width=draw(st.integers(1, 8)),
        ops=tuple(draw(st.lists(st.sampled_from(diff.GENERATED_OPS), min_size=1, max_size=5))),
        input_scale=10 ** draw(st.floats(-3, 3)),
        input_sign=draw(st.sampled_from(["centered", "positive", "negative"])),
        weight_scale=10 ** draw(st.floats(-3, 1)),
        seed=draw(st.integers(0, 2**16)),
    )
    options = draw(st.sampled_from(diff.option_space()))
    return spec, options


@settings(
    max_examples=500 if diff.full_matrix() else 30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(generated())
def test_generated_graphs(case) -> None:
    spec, options = case
    result = diff.compare("generated", diff.generated_model(spec), options)
    problems = diff.check_cell(result, None, end_to_end_db=3.0)
    assert not problems, f"{spec} {diff.options_id(options)}: " + "; ".join(problems)
