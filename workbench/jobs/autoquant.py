"""Autoquant: the cheapest quantization of a model that meets an accuracy goal on a target.

The search tries candidates in order of cost and stops at the first that meets the goal
(``options.Goal``: ``sqnr>=30``, ``top1-drop<=1``...):

1. the scheme: ``tf``, ``enhanced``, ``percentile`` (activations; weights ``tf`` for
   ``percentile``: clipping weights costs more than it saves);
2. per-channel weights, on the best so far;
3. 32-bit biases, on the best so far (a few bytes per channel; an 8-bit bias can be the
   noise floor: PP-OCRv4's recogniser at W16A16 reaches 14.6 dB with 8-bit biases,
   33.2 dB with 32-bit ones);
4. cross-layer equalization and bias correction, on the best so far;
5. AdaRound, on the best so far (its time is a share of what the budget has left);
6. mixed precision, on the best so far (with ``tf`` ranges when it clips: a 16-bit
   layer's range comes from the same observer, and clipping error does not shrink with
   more bits — the recogniser with every activation 16-bit: 15.7 dB with ``tf``, 9.6 dB
   with ``percentile``), the layers ranked by the noise each adds at the
   output (``engine.quant.mixed_precision.rank_layers`` on the calibration data): 16-bit
   activations on the noisiest layers first; then, on the best of those mixes, 16-bit
   weights where they are the noise, with 16-bit activations on their inputs (the DSP
   has A16W16, no A8W16); then float layers (a CPU fallback with a convert at each boundary). The widened set
   grows by ``MIX_SHARES`` of the ranked fixes; for an SQNR goal a mix predicted (noise
   adds up at the output) to miss by more than ``SKIP_MARGIN_DB`` is skipped, except a
   stage's widest (the next stage builds on the best of the stage).

Each candidate is an ordinary ``quantize`` run (``quantize_job``, no analysis) whose
container is written to ``BEST.candidates/`` beside the output, then one ``bench`` run
on the target (``bench_job``: integer-true there — the CPU in fixed-point mode — with
the one evaluator on the eval list, and device-equivalent init); both runs go into one
experiment as soon as they finish, so Ctrl-C leaves the finished candidates stored. A
candidate the target refuses, or that fails, is kept as such and the search goes on.

Cost, to choose among candidates that meet the goal (with the search order, the first
is the only one): fallback boundaries, then float layers, then file size, then device
init. When none meets it, the best on the goal's metric is written (exit 0; the result
and the experiment's note say that the goal was not met). ``--budget-minutes`` stops the
search between candidates (the first always runs) and the result says so.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.engine.container import read_container
from workbench.engine.files import read_regular_bytes, refuse_overwriting, write_atomically
from workbench.engine.metrics import get_metric
from workbench.engine.quant.layer_precision import float_layers, recorded
from workbench.engine.quant.mixed_precision import (
    ACTIVATIONS,
    WEIGHTS,
    Fix,
    Ranking,
    predict_sqnr,
    rank_layers,
)
from workbench.errors import BadInput, WorkbenchError, naming
from workbench.jobs.bench import ACCURACY_FIELD, BenchRequest, bench_job, load_samples, read_labels
from workbench.jobs.convert import workbench_command
from workbench.jobs.experiments import add_runs, create_experiment, set_experiment_note
from workbench.jobs.lifecycle import error_text
from workbench.jobs.quantize import QuantizeRequest, quantize_job
from workbench.jobs.runs import set_note
from workbench.options import (
    AUTOQUANT_OPTIONS,
    AutoquantOptions,
    BenchOptions,
    Goal,
    QuantOptions,
    option_argv,
)
from workbench.store import Store
from workbench.vocabulary import (
    ADAROUND,
    AIP,
    BC,
    CLE,
    CPU,
    ENHANCED,
    FAILED,
    FLOAT_LAYER,
    INT16_LAYER,
    LABEL_ACCURACY,
    PERCENTILE,
    REFUSED,
    SQNR,
    SUCCEEDED,
    TF,
    counted,
    finite_db,
)

Progress = Callable[[str, int, int], None]

SCHEME, PER_CHANNEL, BIAS32, ALGORITHMS, LEARNED, INT16, WIDE_WEIGHTS, FLOAT = (
    "scheme", "per-channel", "bias32", "cle+bc", "adaround", "int16", "w16", "float",
)  # fmt: skip
STAGES = (SCHEME, PER_CHANNEL, BIAS32, ALGORITHMS, LEARNED, INT16, WIDE_WEIGHTS, FLOAT)
SCHEMES_TRIED = (TF, ENHANCED, PERCENTILE)
CLIPPING = (ENHANCED, PERCENTILE)  # schemes whose ranges clip the calibration data
MIX_SHARES = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)  # of the ranked fixes
FLOAT_COUNTS = (1, 2, 4, 8)  # layers kept in float, the noisiest first
SKIP_MARGIN_DB = 3.0  # an SQNR goal: a mix predicted further below is not measured
RANK_SAMPLES = 2  # calibration lines the layer ranking runs on (each layer: a pass per line)
ADAROUND_SHARE = 0.25  # of the budget left, at most the quantizer's default
NOTE_PREFIX = "autoquant: goal "
_WEIGHT_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})


@dataclass(frozen=True)
class AutoquantRequest:
    """What ``autoquant_job`` is asked: the float container, calibration and eval lists,
    where the chosen container goes, the options, and the command line recorded."""

    container: str | Path
    input_list: str | Path
    eval_list: str | Path
    output: str | Path
    options: AutoquantOptions
    command: str | None = None

    kind = "autoquant"

    def __post_init__(self) -> None:
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", AutoquantOptions(**self.options))

    def command_line(self, project: str) -> str:
        return workbench_command(
            project, "autoquant", self.container, "--input-list", self.input_list,
            "--eval-list", self.eval_list, "-o", self.output,
            *option_argv(AUTOQUANT_OPTIONS, self.options.to_dict()),
        )  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """One quantization tried: its options, where it stands on the goal, what it costs."""

    index: int  # 1-based, in search order
    stage: str
    label: str  # "enhanced + per-channel + 12 layers int16"
    options: dict[str, Any]  # the quantizer's (QuantOptions.to_dict)
    path: str
    status: str  # succeeded | failed | refused
    error: str | None = None
    quantize_run_id: int | None = None
    bench_run_id: int | None = None
    value: float | None = None  # the goal's metric on the target
    score: float | None = None  # what the goal compares: the value, or its loss (-drop)
    meets: bool = False
    sqnr_db: float | None = None
    size_bytes: int | None = None
    device_init_ms: float | None = None
    boundaries: int = 0  # converts per inference to and from float layers
    float_layers: int = 0
    wide_layers: int = 0  # layers with 16-bit outputs or weights
    layers: int = 0
    wide_names: tuple[str, ...] = ()
    predicted_sqnr_db: float | None = None  # mixed precision: what the ranking predicted
    seconds: float = 0.0
    pareto: bool = False

    @property
    def wide_share(self) -> float | None:
        return self.wide_layers / self.layers if self.layers else None

    @property
    def measured(self) -> bool:
        return self.status == SUCCEEDED and self.score is not None


@dataclass(frozen=True)
class AutoquantResult:
    goal: str
    metric: str
    runtime: str
    output: str | None  # None: no candidate could be measured
    experiment: str
    candidates: tuple[Candidate, ...]
    chosen: int | None  # the chosen candidate's index
    met: bool
    why: str  # one line: why the chosen one won, or that the goal was not met
    stopped: str | None  # the search ended before its last stage: why
    skipped: tuple[str, ...]  # mixes not measured, and why
    eval_samples: int
    seconds: float
    ranking: tuple[dict[str, Any], ...] = ()  # the noisiest layers (mixed precision)
    candidates_dir: str = ""

    @property
    def front(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.pareto)

    def candidate(self, index: int | None) -> Candidate | None:
        return next((c for c in self.candidates if c.index == index), None)


class _BudgetSpent(Exception):
    """The budget ran out between candidates."""


@dataclass
class _Search:
    store: Store
    project: str
    request: AutoquantRequest
    goal: Goal
    experiment: str
    folder: Path
    float_value: float | None  # float's own value of the goal metric (label accuracy)
    progress: Progress | None
    started: float = field(default_factory=time.perf_counter)
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ranking: Ranking | None = None
    applied: dict[int, tuple[Fix, ...]] = field(default_factory=dict)  # a mix's fixes

    # -- budget -------------------------------------------------------------------------

    @property
    def deadline(self) -> float:
        return self.started + self.request.options.budget_minutes * 60.0

    def left_s(self) -> float:
        return self.deadline - time.perf_counter()

    def check_budget(self) -> None:
        """Stop between candidates when the budget cannot hold another (the first runs)."""
        if not self.candidates:
            return
        mean = sum(c.seconds for c in self.candidates) / len(self.candidates)
        if time.perf_counter() + mean > self.deadline:
            raise _BudgetSpent

    # -- one candidate ------------------------------------------------------------------

    def best(self) -> Candidate | None:
        """The best measured candidate on the goal's metric (ties: the cheaper)."""
        return _best(self.candidates, self.goal)

    def step(self, stage: str, label: str, options: QuantOptions, predicted=None) -> bool:
        """Quantize and measure one candidate; True when it meets the goal."""
        self.check_budget()
        candidate = self._measure(stage, label, options, predicted)
        self.candidates.append(candidate)
        return candidate.meets

    def _measure(self, stage: str, label: str, options: QuantOptions, predicted) -> Candidate:
        request = self.request
        index = len(self.candidates) + 1
        path = self.folder / f"{index:02d}-{_slug(label)}.dlc"
        base = Candidate(index, stage, label, options.to_dict(), str(path), FAILED,
                         predicted_sqnr_db=predicted)  # fmt: skip
        started = time.perf_counter()
        progress = _tagged(self.progress, f"#{index} {label}")
        try:
            q = quantize_job(
                self.store,
                self.project,
                QuantizeRequest(
                    request.container, request.input_list, path, options, analyze=False,
                    command=_quantize_command(self.project, request, path, options),
                    eval_list=request.eval_list,
                ),
                progress=progress,
            )  # fmt: skip
        except WorkbenchError as exc:
            return replace(base, error=error_text(exc), seconds=time.perf_counter() - started)
        self._keep(index, stage, label, [q.run_id])
        base = replace(base, quantize_run_id=q.run_id, size_bytes=q.size_bytes,
                       **_precision(path))  # fmt: skip
        runtime = request.options.runtime
        bench = bench_job(
            self.store,
            self.project,
            BenchRequest(
                [path], request.eval_list,
                BenchOptions(runtimes=(runtime,), iterations=1, cpu_fxp=runtime == CPU,
                             labels=request.options.labels),
                reference=request.container, init_repeats=1,
                command=workbench_command(self.project, "bench", path, "--input-list",
                                          request.eval_list, "--runtimes", runtime),
            ),
            progress=progress,
        )  # fmt: skip
        row = next(r for r in reversed(bench.rows) if r.cpu_fxp or runtime != CPU)
        self._keep(index, stage, label, [r.run_id for r in bench.rows if r.run_id is not None])
        seconds = time.perf_counter() - started
        if row.status != SUCCEEDED:
            return replace(base, status=row.status, error=row.error, bench_run_id=row.run_id,
                           seconds=seconds)  # fmt: skip
        value = row.accuracy.get(ACCURACY_FIELD[self.goal.metric])
        score = goal_score(self.goal, value, self.float_value)
        return replace(
            base,
            status=SUCCEEDED,
            bench_run_id=row.run_id,
            value=value,
            score=score,
            meets=meets(self.goal, score),
            sqnr_db=row.accuracy.get(ACCURACY_FIELD[SQNR]),
            device_init_ms=row.device_init_ms,
            boundaries=int((row.cpu_fallback or {}).get("boundaries") or base.boundaries),
            seconds=seconds,
        )

    def _keep(self, index: int, stage: str, label: str, run_ids: Sequence[int]) -> None:
        """Into the experiment at once (Ctrl-C keeps it), with a note saying what it is."""
        add_runs(self.store, self.project, self.experiment, run_ids)
        for run_id in run_ids:
            set_note(self.store, run_id, f"autoquant #{index} ({stage}): {label}")

    # -- the stages ---------------------------------------------------------------------

    def run(self) -> None:
        """Every stage in order of cost; returns at the first candidate meeting the goal."""
        uniform = QuantOptions(enable_hta=self.request.options.runtime == AIP)
        for scheme in SCHEMES_TRIED:
            options = _with(uniform, act_quantizer=scheme,
                            param_quantizer=TF if scheme == PERCENTILE else scheme)  # fmt: skip
            if self.step(SCHEME, scheme, options):
                return
        for stage, change in (
            (PER_CHANNEL, lambda o: _with(o, per_channel=True)),
            (BIAS32, lambda o: _with(o, bias_bitwidth=32)),
            (ALGORITHMS, lambda o: _with(o, algorithms=(*o.algorithms, CLE, BC))),
            (LEARNED, self._adaround),
        ):
            best = self.best()
            if best is None:
                return
            options = change(QuantOptions(**best.options))
            if options == QuantOptions(**best.options):
                continue
            if self.step(stage, _join(best.label, stage), options):
                return
        self._mixed()

    def _adaround(self, options: QuantOptions) -> QuantOptions:
        seconds = min(options.adaround_seconds, max(1.0, ADAROUND_SHARE * self.left_s()))
        return _with(options, algorithms=(*options.algorithms, ADAROUND), adaround_seconds=seconds)

    def _mixed(self) -> None:
        base = self.best()
        if base is None:
            return
        options = QuantOptions(**base.options)
        clipping = {options.act_quantizer, options.param_quantizer} & set(CLIPPING)
        if clipping or options.adaround or options.bias_bitwidth < 32:
            # A 16-bit layer takes its range from the same observer: a clipping scheme's
            # error stays at 16 bits and becomes the floor; AdaRound's rounding, learned
            # for an 8-bit model, costs the recogniser 9 dB once its activations are 16-bit
            # (24.5 dB without it, 15.8 with it); and 8-bit biases are the floor at 16 bits
            # whatever they cost at 8 (all-int16 recogniser: 15.4 dB with them, 24.5 with
            # 32-bit ones, though the bias32 stage tied at 8 bits and was dropped).
            # Widen from min/max ranges, 32-bit biases, no AdaRound.
            twin = _with(options, act_quantizer=TF, param_quantizer=TF, bias_bitwidth=32,
                         algorithms=tuple(a for a in options.algorithms if a != ADAROUND))  # fmt: skip
            changes = [w for w, on in (("tf ranges", clipping), ("bias32", options.bias_bitwidth < 32))
                       if on] or ["no adaround"]  # fmt: skip
            label = _join(base.label.replace(" + adaround", ""),
                          f"{' + '.join(changes)}, for 16-bit layers")  # fmt: skip
            if self.step(INT16, label, twin):
                return
            base = self.candidates[-1] if self.candidates[-1].measured else base
        self.check_budget()
        self.ranking = ranking = self._rank(base)
        acts = [f for f in ranking.of(ACTIVATIONS) if _nameable(f.node)]
        if self._grow(INT16, base, acts):
            return
        # 16-bit weights where they are the noise, on the best 16-bit-activation mix (a
        # weight's input is widened with it when it is not yet: A16W16).
        wide = _best([c for c in self.candidates if c.index in self.applied], self.goal)
        weights = [f for f in ranking.of(WEIGHTS)
                   if _nameable(f.node) and f.needs is not None and _nameable(f.needs)]  # fmt: skip
        if self._grow(WIDE_WEIGHTS, wide or base, weights):
            return
        widest = _best([c for c in self.candidates if c.index in self.applied], self.goal) or base
        noisiest = list(dict.fromkeys(f.node for f in ranking.fixes if _nameable(f.node)))
        for k in FLOAT_COUNTS:
            if k > len(noisiest):
                break
            rules = tuple(f"{n}={FLOAT_LAYER}" for n in noisiest[:k])
            options = QuantOptions(**widest.options)
            options = _with(options, layer_precision=(*options.layer_precision, *rules))
            if self.step(FLOAT, _join(widest.label, f"{counted(k, 'layer')} float"), options):
                return

    def _rank(self, base: Candidate) -> Ranking:
        request = self.request
        with naming(request.container):
            floating = read_container(request.container)
            quantized = read_container(base.path)
            samples, output = load_samples(request.input_list, floating)
            return rank_layers(floating, quantized, samples[:RANK_SAMPLES], output=output,
                               progress=self.progress)  # fmt: skip

    def _grow(self, stage: str, base: Candidate, fixes: list[Fix]) -> bool:
        """Widen the top-k fixes for growing k (``MIX_SHARES``); True when one meets."""
        if not fixes:
            return False
        sqnr_goal = self.goal.metric == SQNR and not self.goal.drop
        counts = sorted({max(1, math.ceil(s * len(fixes))) for s in MIX_SHARES})
        applied = self.applied.get(base.index, ())
        ranking = self.ranking
        assert ranking is not None
        for k in counts:
            chosen = fixes[:k]
            predicted = predict_sqnr(base.sqnr_db, chosen, ranking, applied)
            hopeless = predicted is not None and predicted < self.goal.value - SKIP_MARGIN_DB
            # The widest mix of a stage is always measured: the next stage builds on it.
            if sqnr_goal and hopeless and k != counts[-1]:
                self.skipped.append(f"{stage} with {k} fixes: predicted {predicted:.1f} dB")
                continue
            options = _mix(QuantOptions(**base.options), chosen)
            what = "int16" if stage == INT16 else "W16"
            label = _join(base.label, f"{counted(len({f.node for f in chosen}), 'layer')} {what}")
            self.applied[len(self.candidates) + 1] = (*applied, *chosen)
            if self.step(stage, label, options, predicted):
                return True
        return False


# --------------------------------------------------------------------------- the job


def autoquant_job(
    store: Store, project: str, request: AutoquantRequest, *, progress: Progress | None = None
) -> AutoquantResult:
    """Search quantizations in order of cost for the first that meets the goal (module doc)."""
    options = request.options
    goal = options.parsed_goal
    output = Path(request.output)
    if output.suffix.lower() != ".dlc":
        raise BadInput(f"output {output} should end in .dlc")
    if get_metric(goal.metric).needs_labels and options.labels is None:
        raise BadInput(f"the goal {goal} needs --labels FILE (one class per eval-list line)")
    refuse_overwriting(output, [request.container, request.input_list, request.eval_list,
                                options.labels])  # fmt: skip
    with naming(request.container):
        head = read_container(request.container, load_params=False, load_records=False)
    if head.quantized:
        raise BadInput(f"{request.container} is quantized: autoquant starts from the float one")
    float_value = _float_value(request, goal) if goal.drop else None
    folder = output.with_name(f"{output.stem}.candidates")
    folder.mkdir(parents=True, exist_ok=True)
    name = options.experiment or f"autoquant {Path(request.container).stem} {goal}"
    note = f"{_note_head(goal, options.runtime, float_value)}; the search did not finish"
    experiment = create_experiment(store, project, name, note, unique=options.experiment is None)
    search = _Search(store, project, request, goal, experiment.name, folder, float_value, progress)
    stopped = None
    try:
        search.run()
    except _BudgetSpent:
        stopped = f"the budget of {options.budget_minutes:g} min ran out"
    return _finish(search, output, stopped)


def _finish(search: _Search, output: Path, stopped: str | None) -> AutoquantResult:
    goal, options = search.goal, search.request.options
    candidates = _with_front(search.candidates, goal)
    met = [c for c in candidates if c.meets]
    chosen = min(met, key=_cost) if met else _best(candidates, goal)
    written = None
    if chosen is not None:
        write_atomically(output, read_regular_bytes(chosen.path, what="candidate container"))
        written = str(output)
    why = _why(chosen, candidates, goal, bool(met), output, stopped)
    note = f"{_note_head(goal, options.runtime, search.float_value)}; {why}"
    set_experiment_note(search.store, search.project, search.experiment, note[:10_000])
    ranking = search.ranking
    return AutoquantResult(
        goal=str(goal),
        metric=goal.metric,
        runtime=options.runtime,
        output=written,
        experiment=search.experiment,
        candidates=tuple(candidates),
        chosen=chosen.index if chosen is not None else None,
        met=bool(met),
        why=why,
        stopped=stopped,
        skipped=tuple(search.skipped),
        eval_samples=_lines(search.request.eval_list),
        seconds=time.perf_counter() - search.started,
        ranking=tuple(
            {
                "kind": f.kind,
                "node": f.node,
                "op_type": f.op_type,
                "sqnr_db": finite_db(f.sqnr_db),
                "needs": f.needs,
            }
            for f in (ranking.fixes[:10] if ranking else ())
        ),  # fmt: skip
        candidates_dir=str(search.folder),
    )


# --------------------------------------------------------------------------- from the store

_NOTE = re.compile(
    re.escape(NOTE_PREFIX) + r"(?P<goal>\S+) on (?P<runtime>\S+?)(?:, float (?P<float>\S+))?;"
)
_RUN_NOTE = re.compile(r"autoquant #(?P<index>\d+) \((?P<stage>[^)]*)\): (?P<label>.*)", re.S)


def _note_head(goal: Goal, runtime: str, float_value: float | None) -> str:
    extra = f", float {float_value:.6g}" if float_value is not None else ""
    return f"{NOTE_PREFIX}{goal} on {runtime}{extra}"


def is_autoquant(note: str) -> bool:
    """Was the experiment with this note made by autoquant?"""
    return _NOTE.match(note or "") is not None


def saved_autoquant(store: Store, project: str, experiment: str) -> AutoquantResult:
    """An autoquant experiment's candidates, front and choice again, from its stored runs."""
    from workbench.jobs.experiments import show_experiment
    from workbench.jobs.runs import show_run

    saved = show_experiment(store, project, experiment)
    head = _NOTE.match(saved.note or "")
    if head is None:
        raise BadInput(f"experiment {experiment!r} was not made by autoquant")
    goal = Goal.parse(head["goal"])
    float_value = float(head["float"]) if head["float"] else None
    runs: dict[int, dict[str, Any]] = {}
    for row in sorted(saved.runs, key=lambda r: r.id):
        found = _RUN_NOTE.match(row.notes or "")
        if found is None:
            continue
        entry = runs.setdefault(int(found["index"]), {"stage": found["stage"],
                                                      "label": found["label"]})  # fmt: skip
        entry[row.kind] = row
    candidates = [
        _stored_candidate(index, entry, goal, float_value, show_run, store)
        for index, entry in sorted(runs.items())
    ]
    candidates = _with_front(candidates, goal)
    met = [c for c in candidates if c.meets]
    chosen = min(met, key=_cost) if met else _best(candidates, goal)
    why = (saved.note or "")[head.end() :].strip()
    return AutoquantResult(
        goal=str(goal), metric=goal.metric, runtime=head["runtime"], output=None,
        experiment=experiment, candidates=tuple(candidates),
        chosen=chosen.index if chosen else None, met=bool(met), why=why, stopped=None,
        skipped=(), eval_samples=_stored_samples(candidates, show_run, store), seconds=0.0,
    )  # fmt: skip


def _stored_candidate(index, entry, goal, float_value, show_run, store) -> Candidate:
    q, b = entry.get("quantize"), entry.get("bench")
    path = (q.output_path if q is not None else None) or ""
    base = Candidate(index, entry["stage"], entry["label"], {}, path, FAILED,
                     quantize_run_id=q.id if q else None, bench_run_id=b.id if b else None)  # fmt: skip
    if path and Path(path).is_file():
        base = replace(base, **_precision(Path(path)))
    if q is not None:
        base = replace(base, options=dict(show_run(store, q.id).details.get("options") or {}))
    if b is None or b.status != SUCCEEDED:
        return replace(base, status=REFUSED if b is not None else FAILED,
                       error=(b.error if b is not None else None) or (q.error if q else None))  # fmt: skip
    details = show_run(store, b.id).details
    value = details.get(ACCURACY_FIELD[goal.metric])
    score = goal_score(goal, value, float_value)
    fallback = (details.get("options") or {}).get("cpu_fallback") or {}
    return replace(
        base, status=SUCCEEDED, value=value, score=score, meets=meets(goal, score),
        sqnr_db=details.get("sqnr_db"), size_bytes=details.get("container_size_bytes"),
        device_init_ms=details.get("device_init_ms"),
        boundaries=int(fallback.get("boundaries") or base.boundaries),
    )  # fmt: skip


def _stored_samples(candidates, show_run, store) -> int:
    for c in candidates:
        if c.bench_run_id is not None:
            options = show_run(store, c.bench_run_id).details.get("options") or {}
            return int(options.get("samples") or 0)
    return 0


# --------------------------------------------------------------------------- goals


def goal_score(goal: Goal, value: float | None, float_value: float | None) -> float | None:
    """What the goal compares: the metric's value, or its loss for a ``-drop`` goal."""
    if value is None:
        return None
    if goal.drop:
        return get_metric(goal.metric).loss(value, float_value)
    return value


def meets(goal: Goal, score: float | None) -> bool:
    if score is None or math.isnan(score):
        return False
    return score >= goal.value if goal.at_least else score <= goal.value


def shown(goal: Goal, candidate: Candidate) -> str:
    """The candidate on the goal's metric for people: ``26.10 dB``, ``98.8%``, ``0.6 pts``."""
    metric = get_metric(goal.metric)
    if candidate.score is None:
        return candidate.status if candidate.status != SUCCEEDED else "-"
    if goal.drop:
        return f"{metric.show_loss(candidate.score)} {goal.metric}{'-drop'}"
    return metric.show(candidate.score)


def _float_value(request: AutoquantRequest, goal: Goal) -> float | None:
    """Float's own value of the goal's metric on the eval list (what a drop is from)."""
    if goal.metric != LABEL_ACCURACY:
        return None
    from workbench.engine.evaluate import Evaluator
    from workbench.engine.measure import reference_outputs
    from workbench.engine.metrics import float_label_accuracy

    with naming(request.container):
        head = read_container(request.container, load_params=False, load_records=False)
        samples, output = load_samples(request.eval_list, head)
        reference = reference_outputs(request.container, samples)
    labels = read_labels(request.options.labels, len(samples))
    name = output or head.graph.output_names[0]
    evaluator = Evaluator(name, labels=labels)
    for ref in reference:
        evaluator.add(ref[name], ref[name])
    return float_label_accuracy(evaluator.tally)


# --------------------------------------------------------------------------- choosing


def _cost(c: Candidate) -> tuple[float, ...]:
    inf = math.inf
    return (c.boundaries, c.float_layers, c.size_bytes or inf, c.device_init_ms or inf)


def _better_first(goal: Goal) -> Callable[[Candidate], float]:
    return lambda c: -(c.score or 0.0) if goal.at_least else (c.score or 0.0)


def _best(candidates: Iterable[Candidate], goal: Goal) -> Candidate | None:
    measured = [c for c in candidates if c.measured]
    if not measured:
        return None
    key = _better_first(goal)
    return min(measured, key=lambda c: (key(c), *_cost(c)))


def _with_front(candidates: Sequence[Candidate], goal: Goal) -> list[Candidate]:
    """The candidates with the Pareto front flagged: no other is at least as good on the
    goal's metric, as small and as quick to initialise, and better in one of them."""
    key = _better_first(goal)
    points = {
        c.index: (key(c), float(c.size_bytes or 0), c.device_init_ms or 0.0)
        for c in candidates
        if c.measured
    }

    def dominated(p: tuple[float, ...]) -> bool:
        return any(all(a <= b for a, b in zip(q, p, strict=True)) and q != p
                   for q in points.values())  # fmt: skip

    return [replace(c, pareto=c.index in points and not dominated(points[c.index]))
            for c in candidates]  # fmt: skip


def _why(chosen: Candidate | None, candidates: Sequence[Candidate], goal: Goal, met: bool,
         output: Path, stopped: str | None) -> str:  # fmt: skip
    """One line: why the chosen candidate won, or that the goal was not met."""
    if chosen is None:
        return f"no candidate could be measured; nothing written to {output}"
    cost = (f"{_size(chosen.size_bytes)}, device init {_ms(chosen.device_init_ms)}, "
            f"{chosen.boundaries} fallback boundar{'y' if chosen.boundaries == 1 else 'ies'}, "
            f"{chosen.wide_layers}/{chosen.layers} layers above 8 bits")  # fmt: skip
    if met:
        before = [c for c in candidates if c.index < chosen.index]
        missed = (
            f"; the {len(before)} tried before it miss the goal"
            if len(before) > 1
            else "; the one tried before it misses the goal"
            if before
            else ""
        )
        return (
            f"#{chosen.index} {chosen.label} won: the first candidate in order of cost that "
            f"meets {goal} ({shown(goal, chosen)}; {cost}){missed}"
        )
    end = f" ({stopped})" if stopped else ""
    return (
        f"goal {goal} not met by any of the {counted(len(candidates), 'candidate')}{end}: the best is "
        f"#{chosen.index} {chosen.label} at {shown(goal, chosen)} ({cost}), written to {output}"
    )


# --------------------------------------------------------------------------- helpers


def _precision(path: Path) -> dict[str, Any]:
    """Layers above 8 bits (16-bit outputs or weights) and float layers, as written."""
    head = read_container(path, load_params=False, load_records=False)
    encs, params = head.encodings, head.param_encodings
    floats = float_layers(head.manifest)
    wide = []
    for node in head.graph.nodes:
        if node.name in floats:
            continue
        bits = [(encs.get(o) or {}).get("bitwidth", 8) for o in node.outputs if o in encs]
        if node.op_type in _WEIGHT_OPS and len(node.inputs) > 1 and node.inputs[1] in params:
            bits.append(params[node.inputs[1]].get("bitwidth", 8))
        if any(b > 8 for b in bits):
            wide.append(node.name)
    return {
        "wide_layers": len(wide),
        "wide_names": tuple(wide),
        "float_layers": len(floats),
        "layers": len(head.graph.nodes),
        "boundaries": int(recorded(head.manifest).get("boundaries") or 0),
    }


def _mix(options: QuantOptions, fixes: Sequence[Fix]) -> QuantOptions:
    """``options`` with the fixes as ``--layer-precision`` / ``--weights-bitwidth-override``."""
    acts = dict.fromkeys(f.node for f in fixes if f.kind == ACTIVATIONS)
    acts |= dict.fromkeys(f.needs for f in fixes if f.kind == WEIGHTS and f.needs)
    weights = [f.node for f in fixes if f.kind == WEIGHTS]
    return _with(
        options,
        layer_precision=(*options.layer_precision, *(f"{n}={INT16_LAYER}" for n in acts)),
        weights_bitwidth_override=(*options.weights_bitwidth_override, *(f"{n}=16" for n in weights)),
    )  # fmt: skip


def _with(options: QuantOptions, **changes: Any) -> QuantOptions:
    return QuantOptions(**{**options.to_dict(), **changes})


def _join(label: str, more: str) -> str:
    return f"{label} + {more}"


def _nameable(node: str) -> bool:
    """A layer a rule can name exactly: no blank (rules split at blanks), no ``=``
    ambiguity with a prefix (``type:``/``re:`` would read it as a pattern)."""
    return bool(node) and not re.search(r"\s", node) and not node.startswith(("type:", "re:"))


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:60] or "candidate"


def _tagged(progress: Progress | None, tag: str) -> Progress | None:
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"{tag}: {stage}", done, total)


def _quantize_command(project: str, request: AutoquantRequest, path: Path,
                      options: QuantOptions) -> str:  # fmt: skip
    return QuantizeRequest(request.container, request.input_list, path, options,
                           analyze=False, eval_list=request.eval_list).command_line(project)  # fmt: skip


def _lines(path: str | Path) -> int:
    from workbench.engine.files import read_regular_text

    text = read_regular_text(path, what="input list")
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _size(n: int | None) -> str:
    from workbench.vocabulary import format_bytes

    return format_bytes(n)


def _ms(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.1f} ms"


__all__ = [
    "STAGES",
    "AutoquantRequest",
    "AutoquantResult",
    "Candidate",
    "autoquant_job",
    "goal_score",
    "is_autoquant",
    "saved_autoquant",
    "meets",
    "shown",
]
