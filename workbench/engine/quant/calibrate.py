"""Streaming calibration: one pass of the float graph, one observer per float tensor.

Each calibration sample runs through the float ``Plan`` once. The executor's hook
hands every produced tensor to that tensor's observer (``make_observer``), and
the graph inputs are fed to theirs from the feeds; nothing else is kept. Observer
state is fixed-size (running min/max, fixed-bin histograms), so memory does not
grow with the number of samples: the peak is one inference plus the observers.

*Collectors* ride along on the same pass: any object with ``feed(feeds)`` and
``hook(name, value)`` (bias correction's running input sums, for one) sees the same
tensors, so calibration data is read and run once.

A model that declares state across inferences (a TFLite streaming model's variables)
runs its samples in order with the state carried from one to the next.

Non-finite values stop calibration with a ``BadInput`` naming the first tensor that
has them (observed or not) and the sample (input list line and file when the samples come from an input list).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from workbench.engine.executor import Plan
from workbench.engine.graph import Graph
from workbench.engine.inputs import InputList, iter_feeds
from workbench.engine.quant.encoding import Encoding
from workbench.engine.quant.observers import Observer, make_observer
from workbench.engine.state import StateCarrier, fill_initial
from workbench.errors import BadInput, ModelError, UnsupportedOperators
from workbench.vocabulary import TF

Feeds = Mapping[str, np.ndarray]
Progress = Callable[[str, int, int], None]


class Collector(Protocol):
    """Something that watches the calibration pass besides the observers."""

    def feed(self, feeds: Feeds) -> None: ...

    def hook(self, name: str, value: np.ndarray) -> None: ...


class FeedSource:
    """Calibration samples that can be read more than once, each with a label for errors.

    Built from an ``InputList`` (files are loaded lazily, one line at a time) or from
    an iterable of feed dicts. A one-shot iterator can be read once only; a list or
    any re-iterable collection can be read again (bias correction needs that).
    """

    def __init__(self, source: InputList | Iterable[Feeds], graph: Graph):
        self._source = source
        self._graph = graph
        self._one_shot = not isinstance(source, InputList) and iter(source) is source
        self._used = False
        if isinstance(source, InputList):
            self.count: int | None = len(source)
        else:
            self.count = len(source) if hasattr(source, "__len__") else None  # type: ignore[arg-type]

    @property
    def rereadable(self) -> bool:
        return not self._one_shot

    def __iter__(self) -> Iterator[tuple[str, Feeds]]:
        if self._one_shot and self._used:
            raise BadInput(
                "the calibration samples were given as a one-shot iterator but are needed "
                "twice; pass an input list or a sequence"
            )
        self._used = True
        if isinstance(self._source, InputList):
            lst = self._source
            for idx, feeds in iter_feeds(lst, self._graph.inputs, 1, self._graph.state):
                line = lst.lines[idx[0]]
                files = " ".join(str(p) for p in line.values())
                yield f"input list sample {idx[0] + 1} ({files})", feeds
        else:
            for i, feeds in enumerate(self._source):
                if not isinstance(feeds, Mapping):
                    raise BadInput(f"calibration sample {i + 1} is not a mapping of input names")
                if self._graph.state:  # the model's own state starts from its initial value
                    infos = {t.name: t for t in self._graph.inputs}
                    feeds = fill_initial(feeds, self._graph.state, infos)
                yield f"calibration sample {i + 1}", feeds


# Recurrent layers (LSTM, GRU, RNN) keep their state, and so their outputs, in 16 bits on
# the DSP; everything else takes the activation bitwidth.
STATE_BITWIDTH = 16
RECURRENT_OPS = frozenset({"LSTM", "GRU", "RNN"})


def recurrent_state_tensors(graph: Graph) -> set[str]:
    """The outputs of recurrent layers (their sequence and last states)."""
    return {
        o
        for n in graph.nodes
        if not n.domain and n.op_type in RECURRENT_OPS
        for o in n.outputs
        if o
    }


@dataclass
class CalibrationResult:
    """Observers' encodings per tensor, with how much data they saw."""

    encodings: dict[str, Encoding]
    samples: int
    observers: dict[str, Observer] = field(default_factory=dict, repr=False)
    seconds: float = 0.0


def _check_finite(name: str, x: np.ndarray) -> None:
    if x.size and not (math.isfinite(float(x.min())) and math.isfinite(float(x.max()))):
        n = int(x.size - np.count_nonzero(np.isfinite(x)))
        raise BadInput(f"tensor '{name}' has {n} NaN or Inf value(s) in calibration data")


def _is_float(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def calibrate(
    graph: Graph,
    samples: FeedSource | InputList | Iterable[Feeds],
    scheme: str = TF,
    bitwidth: int = 8,
    *,
    observe: Collection[str] | None = None,
    skip: Collection[str] = (),
    observer_options: Mapping[str, Any] | None = None,
    collectors: Sequence[Collector] = (),
    plan: Plan | None = None,
    progress: Progress | None = None,
) -> CalibrationResult:
    """Run every sample through ``graph`` once and compute an encoding per float tensor.

    ``observe`` limits the tensors observed (default: every float graph input and
    node output); ``skip`` removes some (e.g. outputs of data-movement ops, whose
    encoding is propagated instead). ``observer_options`` go to ``make_observer``
    (e.g. ``percentile=99.9``).
    """
    import time

    start = time.perf_counter()
    source = samples if isinstance(samples, FeedSource) else FeedSource(samples, graph)
    plan = plan or Plan(graph)
    wanted = None if observe is None else set(observe)
    skipped = set(skip)
    opts = dict(observer_options or {})
    make_observer(scheme, **opts)  # fail fast on a bad scheme or option
    observers: dict[str, Observer] = {}
    total = source.count or 0

    def observer_for(name: str) -> Observer | None:
        obs = observers.get(name)
        if obs is None:
            if name in skipped or (wanted is not None and name not in wanted):
                return None
            obs = observers[name] = make_observer(scheme, name, **opts)
        return obs

    def hook(name: str, value: np.ndarray) -> None:
        if _is_float(value):
            obs = observer_for(name)
            if obs is not None:
                obs.update(value)
            else:  # not observed, but a NaN must be reported where it first appears
                _check_finite(name, value)
        for c in collectors:
            c.hook(name, value)

    # A streaming model's own state runs on from sample to sample, as on the device, so
    # its encodings cover the states it reaches, not only the initial one.
    carrier = StateCarrier(graph.state, graph.inputs) if graph.state else None
    count = 0
    for label, feeds in source:
        try:
            if carrier is not None:
                feeds = carrier.fill(feeds)
            for t in graph.inputs:
                value = feeds.get(t.name)
                if value is None:
                    raise BadInput(f"no value for model input {t.name!r}")
                if _is_float(value):
                    obs = observer_for(t.name)
                    if obs is not None:
                        obs.update(value)
            for c in collectors:
                c.feed(feeds)
            results = plan.run(feeds, hook=hook)
            if carrier is not None:
                carrier.update(results)
        except (BadInput, ModelError) as exc:
            if isinstance(exc, UnsupportedOperators):
                raise
            raise type(exc)(f"{label}: {exc}") from None
        count += 1
        if progress is not None:
            progress("calibrate", count, max(total, count))
    if count == 0:
        raise BadInput("no calibration samples were given")

    wide = recurrent_state_tensors(graph)
    encodings = {
        name: obs.compute(max(bitwidth, STATE_BITWIDTH) if name in wide else bitwidth)
        for name, obs in observers.items()
    }
    return CalibrationResult(encodings, count, observers, time.perf_counter() - start)
