"""Advise: the guide's quantized-vs-float table, filled with measured numbers, and a choice.

``advise_job`` quantizes the float container (``quantize --enable-hta``, so that AIP can
be measured too) unless a quantized container is given, benches both on every runtime
(the CPU also in fixed-point mode), and builds the advisor's table and recommendations
(``jobs.advice``) on the model's decision metric. The runs are saved as an experiment.

A quantized-only model (an int8 TFLite model converted with its own encodings) is
advised on too: give the quantized container, and its float twin with ``--float`` (a
container or a model file, converted here); without one, the container's own
dequantized network is written beside it and used as the float reference, and the
advice says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench.engine.container import Container, make_manifest, read_container, write_container
from workbench.engine.files import refuse_overwriting
from workbench.errors import BadInput
from workbench.jobs.advice import (
    DEQUANTIZED_FROM,
    Advice,
    AdviceRow,
    Cell,
    Recommendation,
    build_advice,
    table_rows,
)
from workbench.jobs.artifacts import model_id_of_container, record_container
from workbench.jobs.bench import (
    _ACCURACY_KEYS,
    ACCURACY_FIELD,
    BenchRequest,
    BenchResult,
    BenchRow,
    bench_job,
)
from workbench.jobs.convert import workbench_command
from workbench.jobs.experiments import add_runs, create_experiment
from workbench.jobs.projects import ensure_project
from workbench.jobs.quantize import QuantizeRequest, quantize_job
from workbench.options import (
    DEFAULT_MAX_ACCURACY_DROP,
    AdviseOptions,
    BenchOptions,
    QuantOptions,
)
from workbench.store import BenchmarkRun, Run, Store
from workbench.store import Container as ContainerRow
from workbench.store.queries import finished_bench_runs, get_experiment, get_project, quantize_runs
from workbench.vocabulary import (
    DSP,
    FAILED,
    INTERRUPTED,
    REFUSED,
    SUCCEEDED,
)

__all__ = [
    "Advice",
    "AdviceRow",
    "AdviseRequest",
    "AdviseResult",
    "Cell",
    "Recommendation",
    "advise_job",
    "build_advice",
    "dsp_accuracy",
    "save_advice",
    "saved_advice",
    "table_rows",
]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class AdviseResult:
    advice: Advice
    quantize_run_id: int | None
    run_ids: tuple[int, ...]
    experiment: str | None
    samples: int
    notes: tuple[str, ...] = field(default=())

    def document(self) -> dict[str, Any]:
        """``advise --json``: the advice's fields (``metric``, ``threshold``, containers,
        ``rows``, ``recommendations``) at the top, then the run's, then ``advice`` whole."""
        from dataclasses import asdict

        advice = asdict(self.advice)
        for rec, data in zip(self.advice.recommendations, advice["recommendations"], strict=True):
            data["label"] = rec.label
        return {
            **advice,
            "quantize_run_id": self.quantize_run_id,
            "run_ids": list(self.run_ids),
            "experiment": self.experiment,
            "samples": self.samples,
            "notes": list(self.notes),
            "advice": advice,
        }


@dataclass(frozen=True)
class AdviseRequest:
    """What ``advise_job`` is asked: the container (float, or quantized-only), the input list,
    the advise options (or a mapping of them), the quantizer's options when it quantizes,
    the command line."""

    container: str | Path
    input_list: str | Path
    options: AdviseOptions = field(default_factory=AdviseOptions)
    quantize: QuantOptions = field(default_factory=lambda: QuantOptions(enable_hta=True))
    command: str | None = None

    kind = "advise"

    def __post_init__(self) -> None:
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", AdviseOptions(**self.options))

    def command_line(self, project: str) -> str:
        return workbench_command(
            project, "advise", self.container, "--input-list", self.input_list,
            *self.options.argv(),
        )  # fmt: skip


def advise_job(
    store: Store, project: str, request: AdviseRequest, *, progress: Progress | None = None
) -> AdviseResult:
    """Quantize (or take ``--quantized``), bench both everywhere, advise, save an experiment."""
    options = request.options
    container_path = Path(request.container)
    head = read_container(container_path, load_params=False, load_records=False)
    notes: list[str] = []
    quantize_run_id = None
    if head.quantized:
        if options.quantized is not None:
            raise BadInput(
                f"{container_path} is quantized already: give the float container with "
                "--quantized, or the quantized one alone (with --float FLOAT_TWIN)"
            )
        quantized_path = container_path
        float_path = _float_twin(store, project, container_path, options.float, notes)
    elif options.float is not None:
        raise BadInput(
            f"--float gives the float twin of a quantized-only model; {container_path} is "
            "float already"
        )
    elif options.quantized is None:
        float_path = container_path
        output = Path(
            options.output or container_path.with_name(f"{container_path.stem}_quantized.dlc")
        )
        refuse_overwriting(output, [options.labels, *store.files])  # quantize_job: its own
        quantize = QuantizeRequest(
            container_path, request.input_list, output, request.quantize, command=request.command,
            metric=options.metric,
        )  # fmt: skip
        result = quantize_job(store, project, quantize, progress=progress)
        quantize_run_id = result.run_id
        quantized_path = output
        notes.append(f"quantized {container_path.name} into {output} (run {result.run_id})")
    else:
        float_path = container_path
        quantized_path = Path(options.quantized)
        if not read_container(quantized_path, load_params=False, load_records=False).quantized:
            raise BadInput(f"--quantized {quantized_path} is not a quantized container")

    measure = BenchOptions(
        iterations=options.iterations, cpu_fxp=True, labels=options.labels, metric=options.metric
    )
    bench_request = BenchRequest(
        [float_path, quantized_path], request.input_list, measure, command=request.command
    )
    bench = bench_job(store, project, bench_request, progress=progress)
    advice = build_advice(bench, float_path, quantized_path, options.max_accuracy_drop)
    run_ids = tuple(
        ([quantize_run_id] if quantize_run_id is not None else [])
        + [r.run_id for r in bench.rows if r.run_id is not None]
    )
    saved = save_advice(
        store, project, options.experiment, advice, run_ids, f"advise {container_path.stem}"
    )
    return AdviseResult(
        advice=advice,
        quantize_run_id=quantize_run_id,
        run_ids=run_ids,
        experiment=saved,
        samples=bench.samples,
        notes=tuple(notes),
    )


def _float_twin(
    store: Store, project: str, quantized: Path, twin: str | None, notes: list[str]
) -> Path:
    """The float container to compare a quantized-only container with: ``--float`` (a
    container, or a model file converted beside it), else its dequantized network."""
    model_id = model_id_of_container(store, record_container(store, project, quantized))
    if twin is not None:
        path = Path(twin)
        if path.suffix.lower() != ".dlc":
            from workbench.jobs.convert import convert_model

            out = quantized.with_name(f"{path.stem}_float.dlc")
            convert_model(store, project, path, out)
            notes.append(f"converted the float twin {path.name} into {out}")
            path = out
        if read_container(path, load_params=False, load_records=False).quantized:
            raise BadInput(f"--float {path} is quantized: give the float model")
        return path
    out = quantized.with_name(f"{quantized.stem}_dequantized.dlc")
    write_dequantized(quantized, out)
    record_container(store, project, out, model_id=model_id)
    notes.append(
        f"no --float twin: wrote {out.name}, the container's own dequantized network, as the "
        "float reference"
    )
    return out


def write_dequantized(quantized: Path, output: Path) -> int:
    """A float container holding ``quantized``'s dequantized network (every parameter
    dequantized, no encodings): what a device would run after dequantizing at init."""
    from workbench.engine.quant.dequant import dequantize_graph

    source = read_container(quantized)
    converter = dict(source.manifest.get("converter") or {})
    converter[DEQUANTIZED_FROM] = str(quantized.resolve())
    manifest = make_manifest(converter=converter)
    return write_container(output, Container(manifest=manifest, graph=dequantize_graph(source)))


def save_advice(
    store: Store,
    project: str,
    name: str | None,
    advice: Advice,
    run_ids: Sequence[int],
    generated: str = "advise",
) -> str:
    """Save the runs as an experiment whose note is the recommendation; without a
    ``name``, one made of ``generated`` and the time (numbered on if already taken)."""
    note = "; ".join(
        f"{r.runtime}: {r.label}" + (f" ({r.reasons[0]})" if r.reasons else "")
        for r in advice.recommendations
    )
    made = f"{generated} {datetime.now():%Y-%m-%d %H:%M:%S}"
    name = create_experiment(store, project, name or made, note, unique=name is None).name
    add_runs(store, project, name, run_ids)
    return name


def saved_advice(
    store: Store,
    project: str,
    experiment: str,
    max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
) -> AdviseResult:
    """Rebuild the advice of an earlier ``advise`` from its experiment's stored bench runs."""
    if max_accuracy_drop is not None and not max_accuracy_drop >= 0:
        raise BadInput(f"--max-accuracy-drop must be >= 0, got {max_accuracy_drop}")
    ensure_project(store, project)
    with store.read() as session:
        exp = get_experiment(session, get_project(session, project), experiment)
        run_ids = sorted(link.run_id for link in exp.members)
        found = finished_bench_runs(session, run_ids)
        rows = tuple(_stored_row(run, bench, container) for run, bench, container in found)
        samples = max((int((b.options or {}).get("samples") or 0) for _, b, _ in found), default=0)
        quantize_ids = [run.id for run in quantize_runs(session, run_ids)]
        reason = next(
            ((b.options or {}).get("metric_reason") for _, b, _ in found if b.decision_metric),
            None,
        )
    paths = {q: sorted({r.container for r in rows if r.quantized == q}) for q in (False, True)}
    if len(paths[False]) != 1 or not paths[True]:
        raise BadInput(
            f"experiment {experiment!r} is not advice: it needs benchmark runs of exactly one "
            f"float and at least one quantized container "
            f"(has {len(paths[False])} and {len(paths[True])})"
        )
    notes = [f"rebuilt from {len(rows)} stored benchmark run(s)"]
    quantized = max(paths[True], key=lambda path: (dsp_accuracy(rows, path), path))
    if len(paths[True]) > 1:  # as the demo chooses: the best accuracy on the DSP
        notes.append(f"{Path(quantized).name} has the best DSP accuracy of {len(paths[True])}")
    metric = next((r.metric for r in rows if r.metric), None)
    bench = BenchResult(
        rows=rows, samples=samples, input_list="", labels=None, metric=metric,
        metric_reason=reason,
    )  # fmt: skip
    advice = build_advice(bench, paths[False][0], quantized, max_accuracy_drop)
    return AdviseResult(
        advice=advice,
        quantize_run_id=quantize_ids[0] if quantize_ids else None,
        run_ids=tuple(run_ids),
        experiment=experiment,
        samples=samples,
        notes=tuple(notes),
    )


def dsp_accuracy(rows: Sequence[BenchRow], path: str) -> tuple[float, float]:
    """How well ``path`` did on the DSP (label accuracy, then SQNR): the key the demo and
    saved advice use to pick the best of several quantized containers."""
    row = next((r for r in rows if r.container == path and r.runtime == DSP), None)
    if row is None or row.status != SUCCEEDED:
        return (-1.0, -1e9)
    return (row.accuracy.get("label_accuracy") or 0.0, row.accuracy.get("sqnr_db") or -1e9)


def _stored_row(run: Run, bench: BenchmarkRun, container: ContainerRow) -> BenchRow:
    """A bench row as ``bench_job`` returned it, from what it stored."""
    options = dict(bench.options or {})
    status = REFUSED if options.get("refused") else run.status
    if status == INTERRUPTED:
        status = FAILED
    latency = (
        {
            "mean": bench.latency_mean_ms,
            "p50": bench.latency_p50_ms,
            "p90": bench.latency_p90_ms,
            "min": bench.latency_min_ms,
        }
        if bench.latency_mean_ms is not None
        else None
    )
    accuracy: dict[str, Any] = {key: getattr(bench, key) for key in _ACCURACY_KEYS}
    accuracy["usable"] = bool(options.get("accuracy_usable", accuracy["sqnr_db"] is not None))
    return BenchRow(
        container=container.path,
        quantized=container.quantized,
        runtime=bench.runtime,
        cpu_fxp=bench.cpu_fxp,
        batch=bench.batch,
        status=status,
        error=run.error,
        size_bytes=bench.container_size_bytes or container.size_bytes,
        mode=options.get("mode"),
        iterations=bench.iterations,
        init_ms=bench.init_time_ms,
        init_breakdown_ms=dict(bench.init_breakdown or {}),
        init_peak_bytes=bench.init_peak_bytes,
        create_ms=options.get("create_ms"),
        create_peak_bytes=options.get("create_peak_bytes"),
        latency_ms=latency,
        accuracy=accuracy,
        notes=tuple(options.get("notes") or ()),
        run_id=run.id,
        device_init_ms=bench.device_init_ms,
        device_init_peak_bytes=bench.device_init_peak_bytes,
        emulator_setup_ms=bench.emulator_setup_ms,
        nonfinite_values=bench.nonfinite_values,
        metric=bench.decision_metric,
        metric_value=accuracy.get(ACCURACY_FIELD[bench.decision_metric])
        if bench.decision_metric in ACCURACY_FIELD
        else None,
        samples=int(options.get("samples") or 0) or None,
        init_peak_breakdown_bytes=options.get("init_peak_breakdown_bytes"),
        reference_absmax=options.get("reference_absmax"),
        reference_scale=options.get("reference_scale"),
    )
