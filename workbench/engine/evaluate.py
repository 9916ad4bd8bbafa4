"""The one evaluator: outputs of a network against its float reference, on stated samples.

Quantize's headline and its sensitivity analysis, bench, advise (and whatever compares
outputs later) all call this: ``Evaluator`` takes one sample's reference and test
outputs at a time (streaming: nothing is kept but the ``metrics.Tally``), ``evaluate``
does a whole list. The result, ``Evaluation``, holds every registered metric (see
``metrics``), the number of samples, the output compared and the runtime it ran on.

Non-finite values are findings, never metrics. A test value that is NaN or infinite
where the reference is finite is counted; one such value makes the evaluation
*unusable*: no metric is reported (None), and ``finding`` says what happened, in the
runtime's words when it declares them ("fp16 overflow: 160 of 160 values exceed the
float16 range on gpu_fp16"). Where the reference itself is not finite (a model that
outputs -inf for masked classes), those positions are left out and counted apart;
where both agree on the same non-finite value they agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.engine.metrics import Tally, get_metric, metrics, reference_scale
from workbench.errors import BadInput
from workbench.vocabulary import finite_db

NONFINITE = "non-finite outputs: {count} of {total} values are NaN or infinite"


@dataclass(frozen=True)
class Evaluation:
    """One output of a network compared with its float reference over ``samples`` samples."""

    output: str
    samples: int
    runtime: str | None
    values: int  # output values compared per run, over every sample
    nonfinite: int  # test values NaN/inf where the reference is finite
    reference_nonfinite: int  # reference values NaN/inf (left out)
    finding: str | None  # what the non-finite values mean, when there are any
    tally: Tally = field(repr=False, compare=False)

    @property
    def usable(self) -> bool:
        """Metrics mean something: samples were compared and every test value was finite."""
        return self.nonfinite == 0 and self.tally.count > 0

    def value(self, metric: str) -> float | None:
        """The metric's value (None: not applicable, or the evaluation is unusable)."""
        return get_metric(metric).value(self.tally) if self.usable else None

    def loss(self, metric: str) -> float | None:
        """The metric's loss in its unit (see ``metrics.Metric``), None when unusable."""
        return get_metric(metric).loss_of(self.tally) if self.usable else None

    def shown(self, metric: str) -> str:
        """The metric for people: ``23.46 dB``, ``98.4%``; ``unusable`` / ``-``."""
        if not self.usable:
            return "unusable" if self.nonfinite else "-"
        return get_metric(metric).shown(self.tally)

    def metric_values(self) -> dict[str, float | None]:
        """Every registered metric, JSON-safe (an exact SQNR is the dB cap)."""
        return {m.name: _plain(self.value(m.name)) for m in metrics()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "samples": self.samples,
            "runtime": self.runtime,
            "usable": self.usable,
            "metrics": self.metric_values(),
            "nonfinite_values": self.nonfinite,
            "values": self.values,
            "reference_nonfinite_values": self.reference_nonfinite,
            "reference_absmax": self.tally.ref_absmax,
            "reference_scale": reference_scale(self.tally),
            "finding": self.finding,
        }


def _plain(v: float | None) -> float | None:
    return finite_db(v) if v is not None else None


def _argmax_rows(a: np.ndarray) -> np.ndarray:
    rows = a.reshape(-1, a.shape[-1])
    if np.isnan(rows).any():
        rows = np.where(np.isnan(rows), -np.inf, rows)
    return np.argmax(rows, axis=1)


class Evaluator:
    """Accumulates (reference, test) outputs sample by sample; ``result`` evaluates them."""

    def __init__(self, output: str, *, labels: Sequence[int] | None = None) -> None:
        self.output = output
        self.labels = None if labels is None else list(labels)
        self.tally = Tally()
        self.values = 0
        self.nonfinite = 0
        self.reference_nonfinite = 0

    def add(self, reference: np.ndarray, test: np.ndarray) -> None:
        """One sample's output: the float reference and the network under test."""
        ref = np.asarray(reference, dtype=np.float64)
        out = np.asarray(test, dtype=np.float64)
        if ref.size != out.size:
            raise BadInput(
                f"output {self.output!r} has {out.size} values, its reference {ref.size}"
            )
        if ref.shape != out.shape:
            out = out.reshape(ref.shape)
        t = self.tally
        label = None
        if self.labels is not None:
            if t.samples >= len(self.labels):
                raise BadInput(f"more samples than labels ({len(self.labels)})")
            label = self.labels[t.samples]
        t.samples += 1
        self.values += ref.size
        r, x = ref.reshape(-1), out.reshape(-1)
        ref_ok, out_ok = np.isfinite(r), np.isfinite(x)
        both = ref_ok & out_ok
        if not both.all():
            self.nonfinite += int(np.count_nonzero(ref_ok & ~out_ok))
            self.reference_nonfinite += int(np.count_nonzero(~ref_ok))
            r, x = r[both], x[both]
        self._values(r, x)
        if ref.ndim and ref.shape[-1] >= 2:
            top_ref, top_out = _argmax_rows(ref), _argmax_rows(out)
            t.rows += top_ref.size
            t.rows_agree += int(np.count_nonzero(top_ref == top_out))
            if label is not None:
                t.labelled += 1
                t.test_correct += int(top_out[0] == label)
                t.ref_correct += int(top_ref[0] == label)

    def _values(self, r: np.ndarray, x: np.ndarray) -> None:
        t = self.tally
        if not r.size:
            return
        d = r - x
        # Plain reductions, not BLAS dots: an OpenBLAS thread pool spins on a busy machine.
        t.count += r.size
        t.signal += float(np.square(r).sum())
        t.noise += float(np.square(d).sum())
        t.test_energy += float(np.square(x).sum())
        t.dot += float((r * x).sum())
        absd = np.abs(d)
        t.abs_sum += float(absd.sum())
        t.max_abs = max(t.max_abs, float(absd.max()))
        t.ref_absmax = max(t.ref_absmax, float(np.abs(r).max()))
        t.ref_min = min(t.ref_min, float(r.min()))
        # IoU of the thresholded maps: 0.5 for probabilities, else 0 (the sign of logits).
        threshold = 0.5 if r.min() >= 0.0 and r.max() <= 1.0 else 0.0
        a, b = r > threshold, x > threshold
        t.intersection += int(np.count_nonzero(a & b))
        t.union += int(np.count_nonzero(a | b))

    def result(self, *, runtime: str | None = None, finding: str | None = None) -> Evaluation:
        """The evaluation so far; ``finding`` words non-finite values (``{count}``,
        ``{total}``), the runtime's own when it declares one."""
        text = None
        if self.nonfinite:
            text = finding_text(self.nonfinite, self.values, runtime, finding)
        return Evaluation(
            output=self.output,
            samples=self.tally.samples,
            runtime=runtime,
            values=self.values,
            nonfinite=self.nonfinite,
            reference_nonfinite=self.reference_nonfinite,
            finding=text,
            tally=self.tally,
        )


def finding_text(
    count: int, total: int, runtime: str | None = None, template: str | None = None
) -> str:
    """``fp16 overflow: 160 of 160 values exceed the float16 range on gpu_fp16``: the
    runtime's ``template`` (``{count}``, ``{total}``) or the evaluator's own words."""
    text = (template or NONFINITE).format(count=count, total=total)
    return f"{text} on {runtime}" if runtime else text


def evaluate(
    reference: Sequence[Mapping[str, np.ndarray]],
    test: Sequence[Mapping[str, np.ndarray]],
    output: str,
    *,
    labels: Sequence[int] | None = None,
    runtime: str | None = None,
    finding: str | None = None,
) -> Evaluation:
    """``test`` against ``reference`` (one outputs mapping per sample) on ``output``."""
    if len(reference) != len(test):
        raise BadInput(f"{len(test)} outputs for {len(reference)} reference outputs")
    if labels is not None and len(labels) != len(test):
        raise BadInput(f"{len(labels)} labels for {len(test)} samples")
    evaluator = Evaluator(output, labels=labels)
    for ref, out in zip(reference, test, strict=True):
        if output not in out or output not in ref:
            raise BadInput(f"{output!r} is not an output of the network")
        evaluator.add(ref[output], out[output])
    return evaluator.result(runtime=runtime, finding=finding)


__all__ = ["NONFINITE", "Evaluation", "Evaluator", "evaluate", "finding_text"]
