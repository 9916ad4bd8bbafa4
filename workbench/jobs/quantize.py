"""Quantize: calibrate a float container, write the quantized one, evaluate it, record it.

The run is recorded before any work (``tracked_run``) with every option. On success it
holds the output container and its *headline*: the evaluator (``engine.evaluate``) on
the written container, run on the quantized-native runtime (the DSP: integer-true),
against the float container on the reference runtime, over every line of the eval
list (``--eval-list``, default the calibration list), on the model's decision metric
(with every other metric beside it). These are the computations ``bench`` makes, so
the two agree. The run's ``sqnr_db`` is that headline's SQNR; non-finite outputs are a
finding in the run's log and notes, never a NaN.

With the analysis (the default), also one ``LayerStat`` per layer (encoding, SQNR
against float, RMSE/scale) and a report: sensitivity on the decision metric (weights
only / activations only, per layer, the knob that helps, its cost in seconds), the
layers that run in float in the integer executor, CLE and bias-correction effects, and
per-stage timings. Every run, with or without the analysis, also checks the
integer-true emulator against fake-quant on the first eval samples
(``analysis.check_integer_path``): a gap past 3 dB, with the outputs further apart
than rounding noise, is a warning in the result, the run's log and its notes (an
emulator defect must not pass as a quantization result). Peak memory is the peak of
traced allocations (tracemalloc) during calibration and quantization.
"""

from __future__ import annotations

import contextlib
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.engine.container import file_sha256, read_container, stage_container
from workbench.engine.evaluate import Evaluation, Evaluator
from workbench.engine.files import refuse_overwriting
from workbench.engine.inputs import InputList, iter_feeds, parse_input_list
from workbench.engine.limits import available_memory, check_container_fits
from workbench.engine.measure import init_network
from workbench.engine.metrics import get_metric
from workbench.engine.quant.quantizer import quantize_container
from workbench.engine.runtimes import get_runtime, runtimes
from workbench.engine.runtimes.spec import QUANTIZED
from workbench.engine.state import internal_inputs
from workbench.errors import BadInput, naming
from workbench.jobs.artifacts import model_id_of_container, record_calibration_set, record_container
from workbench.jobs.convert import workbench_command
from workbench.jobs.leftovers import remove_leftover_temp_files
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.metric_choice import MetricChoice, decision_metric, without_labels
from workbench.options import QUANTIZE_OPTIONS, QuantOptions, option_argv
from workbench.store import Store
from workbench.vocabulary import QUANTIZE, REFERENCE_RUNTIME, SQNR, finite_db

Progress = Callable[[str, int, int], None]

# The per-layer analysis and the sensitivity run on the first eval samples, at most this
# many (each layer measured alone is two passes over them); the headline uses them all.
ANALYSIS_SAMPLES = 8
SENSITIVE_LAYERS = 4  # layers measured one at a time for the sensitivity report


@dataclass(frozen=True)
class QuantizeJobResult:
    run_id: int
    output: str
    size_bytes: int
    float_size_bytes: int
    sqnr_db: float | None
    weights_only_sqnr_db: float | None
    activations_only_sqnr_db: float | None
    worst_layers: list[dict[str, Any]]
    float_fallback: list[str]
    samples: int
    seconds: float
    peak_memory_bytes: int
    # The headline: the decision metric on ``eval_runtime`` over ``eval_samples`` lines of
    # ``eval_list`` (see the module doc), every metric, and what non-finite outputs mean.
    metric: str | None = None
    metric_reason: str | None = None
    metric_value: float | None = None
    eval_runtime: str | None = None
    eval_samples: int | None = None
    eval_list: str | None = None
    evaluation: dict[str, Any] | None = None
    sensitivity: dict[str, Any] | None = None  # the report's, when analysed
    headline: str | None = None  # the line people read
    timings_s: dict[str, float] = field(default_factory=dict)  # per stage
    integer_check: dict[str, Any] | None = None  # analysis.IntegerCheck.to_dict()
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QuantizeRequest:
    """What ``quantize_job`` is asked: the files, the quantizer's options (or a mapping of
    them), whether to analyse the result, and the command line recorded with the run."""

    container: str | Path
    input_list: str | Path
    output: str | Path
    options: QuantOptions = field(default_factory=QuantOptions)
    analyze: bool = True
    command: str | None = None
    eval_list: str | Path | None = None  # default: the calibration list
    metric: str | None = None  # default: the model's decision metric
    # The float container as the manifest names it, when ``container`` is a copy of it
    # (a sweep's Ray worker quantizes a copy of the driver's file).
    recorded_container: str | Path | None = None

    kind = QUANTIZE

    def __post_init__(self) -> None:
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", QuantOptions(**self.options))
        if self.metric is not None:
            get_metric(self.metric)

    def command_line(self, project: str) -> str:
        values = {
            **self.options.to_dict(),
            "analyze": self.analyze,
            "eval_list": None if self.eval_list is None else str(self.eval_list),
            "metric": self.metric,
        }
        return workbench_command(
            project, "quantize", self.container, "--input-list", self.input_list,
            "-o", self.output, *option_argv(QUANTIZE_OPTIONS, values),
        )  # fmt: skip


def quantize_job(
    store: Store, project: str, request: QuantizeRequest, *, progress: Progress | None = None
) -> QuantizeJobResult:
    """Quantize ``request.container`` with its calibration input list (see module doc)."""
    container_path, input_list_path = request.container, request.input_list
    options, command, analyze = request.options, request.command, request.analyze
    output = Path(request.output)
    if output.suffix.lower() != ".dlc":
        raise BadInput(f"output {output} should end in .dlc")
    if output.is_dir():
        raise BadInput(f"output {output} is a directory; give a file name such as model_q.dlc")
    if output.resolve() == Path(container_path).resolve():
        raise BadInput("the output would overwrite the input container; choose another -o")
    head = read_container(container_path, load_params=False, load_records=False)
    inner = internal_inputs(head.graph)
    input_list = parse_input_list(input_list_path, head.graph.input_names, inner)
    eval_path = Path(request.eval_list if request.eval_list is not None else input_list_path)
    eval_list = (
        parse_input_list(eval_path, head.graph.input_names, inner)
        if request.eval_list is not None
        else input_list
    )
    refuse_overwriting(output, [container_path, input_list_path, options.override_params,
                                *(p for line in input_list.lines for p in line.values()),
                                *store.files])  # fmt: skip
    check_container_fits(container_path, "quantize", available_memory(), head=head,
                         retain_all=analyze)  # fmt: skip
    source = read_container(container_path)
    source_id = record_container(store, project, container_path)
    model_id = model_id_of_container(store, source_id)
    choice = decision_metric(
        store, source_id, source.graph, output=_named_output(eval_list, source),
        requested=request.metric, command="quantize",
    )  # fmt: skip
    calibration_id = record_calibration_set(store, project, input_list_path, len(input_list))
    details = {
        "param_quantizer": options.param_quantizer,
        "act_quantizer": options.act_quantizer,
        "weights_bitwidth": options.weights_bitwidth,
        "act_bitwidth": options.act_bitwidth,
        "bias_bitwidth": options.bias_bitwidth,
        "per_channel": options.per_channel,
        "algorithms": ",".join(options.algorithms),
        "enable_hta": options.enable_hta,
        "override_params_path": options.override_params,
        "options": options.to_dict(),
        "calibration_set_id": calibration_id,
    }
    started = time.perf_counter()
    with (
        contextlib.ExitStack() as stack,
        tracked_run(
            store,
            project=project,
            kind=QUANTIZE,
            model_id=model_id,
            container_id=source_id,
            command=command,
            **details,
        ) as run,
    ):
        tracing = not tracemalloc.is_tracing()
        if tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            with naming(container_path):
                result = quantize_container(
                    source, input_list, options, progress, command=command or ""
                )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            if tracing:
                tracemalloc.stop()
        run.record(peak_memory_bytes=peak)
        quantized = result.container
        effective = _effective_options(options, quantized.manifest["quantizer"])
        if effective != details["options"]:
            run.record(per_channel=effective["per_channel"], options=effective)
        recorded = request.recorded_container or Path(container_path).resolve()
        quantized.manifest["quantizer"]["source_container"] = str(recorded)
        quantized.manifest["quantizer"]["source_sha256"] = file_sha256(container_path)
        remove_leftover_temp_files(output)
        # Written now, shown last: the output appears only when the whole run succeeds.
        staged = stage_container(output, quantized)
        stack.callback(staged.discard)
        size = staged.size
        run.log(
            f"calibrated on {result.samples} samples; wrote {output} ({size} bytes, "
            f"{size / max(1, Path(container_path).stat().st_size):.2f}x the float container)"
        )
        report: dict[str, Any] = {
            "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
            "samples": result.samples,
        }
        if result.widened_weights:
            report["widened_weights"] = list(result.widened_weights)
            run.log(
                f"widened the encodings of {len(result.widened_weights)} weight(s) so their "
                f"32-bit biases fit int32: {', '.join(result.widened_weights)}"
            )
        if result.cle is not None:
            report["cle"] = _plain(result.cle)
        if result.bias_corrections:
            report["bias_correction"] = [_plain(c) for c in result.bias_corrections]
        if result.adaround:
            report["adaround"] = [_plain(r) for r in result.adaround]
            learned = [r for r in result.adaround if not r.kept_nearest]
            run.log(
                f"adaround: learned the rounding of {len(learned)} of {len(result.adaround)} "
                f"weight(s) in {sum(r.seconds for r in result.adaround):.1f} s"
            )
        with naming(container_path):
            fallback, check = _integer_path(source, quantized, eval_list)
        report["float_fallback"] = fallback
        report["integer_check"] = check.to_dict()
        run.log(check.line())
        warnings = []
        if check.warning:
            warnings.append(check.warning)
            run.log(f"warning: {check.warning}")
            run.record(notes=f"warning: {check.warning}")

        headline = None
        if source.graph.output_names:  # a graph without outputs has nothing to evaluate
            with naming(eval_path):
                headline = evaluate_headline(  # the staged file: the output appears last
                    container_path, staged.temporary, eval_list, without_labels(choice), progress
                )
            report["evaluation"] = headline.record()
            report["timings_s"]["evaluate"] = round(headline.seconds, 4)
            run.log(headline.line())
            if headline.evaluation.finding:
                finding = f"{headline.evaluation.finding}: accuracy unusable"
                warnings.append(finding)
                run.log(f"warning: {finding}")
                run.record(notes=f"warning: {finding}")
        sensitivity = None
        if analyze and headline is not None:
            with naming(container_path):
                analysis = _analyze(
                    source, quantized, eval_list, result.prepared_graph, choice, progress
                )
            sensitivity = sensitivity_record(analysis)
            report["sensitivity"] = sensitivity
            report["timings_s"]["analyze"] = round(sensitivity["seconds"], 4)
            run.add_layer_stats(_layer_rows(analysis))
            run.log(f"sensitivity over {analysis.samples} samples: {sensitivity['suggestion']}")
        output_id = record_container(
            store, project, staged.temporary, model_id=model_id, final_path=output
        )
        evaluation = headline.evaluation if headline is not None else None
        sqnr = finite_db(evaluation.value(SQNR)) if evaluation is not None else None
        run.record(output_container_id=output_id, sqnr_db=sqnr, report=_finite(report))
        staged.commit()
    sens = sensitivity or {}
    return QuantizeJobResult(
        run_id=run.id,
        output=str(output),
        size_bytes=size,
        float_size_bytes=Path(container_path).stat().st_size,
        sqnr_db=sqnr,
        weights_only_sqnr_db=sens.get("weights_only_sqnr_db"),
        activations_only_sqnr_db=sens.get("activations_only_sqnr_db"),
        worst_layers=list(sens.get("layers") or ()),
        float_fallback=fallback,
        samples=result.samples,
        seconds=time.perf_counter() - started,
        peak_memory_bytes=peak,
        metric=choice.metric,
        metric_reason=choice.reason,
        metric_value=finite_db(evaluation.value(choice.metric)) if evaluation else None,
        eval_runtime=evaluation.runtime if evaluation else None,
        eval_samples=evaluation.samples if evaluation else None,
        eval_list=str(eval_path),
        evaluation=_finite(report.get("evaluation")),
        sensitivity=_finite(sensitivity) if sensitivity else None,
        headline=headline.line() if headline else None,
        timings_s=dict(report["timings_s"]),
        integer_check=check.to_dict(),
        warnings=warnings,
    )


def _effective_options(options: QuantOptions, quantizer: dict[str, Any]) -> dict[str, Any]:
    """The run's options as the container came out: per-channel weights installed by
    ``--override-params`` make it per channel; the overrides file's producer is kept."""
    effective = options.to_dict()
    if quantizer["options"].get("per_channel") and not options.per_channel:
        effective["per_channel"] = True
        effective["per_channel_from"] = "override_params"
    overrides = quantizer.get("overrides")
    if overrides:
        effective["override_version"] = overrides.get("version")
        effective["override_producer"] = overrides.get("producer")
    return effective


def _named_output(listing: InputList, container: Any) -> str | None:
    """The first graph output the input list's ``#`` line names (None: the first output)."""
    names = set(container.graph.output_names)
    return next((o for o in listing.output_names or () if o in names), None)


def headline_runtime() -> str:
    """Where quantize measures its headline: the first runtime whose native format is the
    quantized container and that needs no HTA records (the DSP)."""
    for rt in runtimes():
        if rt.native == QUANTIZED and not rt.needs_hta_records:
            return rt.name
    return REFERENCE_RUNTIME


@dataclass(frozen=True)
class Headline:
    """The quantized container evaluated as bench would: on which runtime, over what."""

    evaluation: Evaluation
    metric: MetricChoice
    eval_list: str
    seconds: float

    def line(self) -> str:
        """``top1 98.4% on dsp, N=64 (cal.txt); SQNR 23.46 dB [decision metric: ...]``."""
        e, m = self.evaluation, self.metric
        where = f"on {e.runtime}, N={e.samples} ({Path(self.eval_list).name})"
        if not e.usable:
            return f"{m.metric}: unusable {where}: {e.finding or 'no output value compared'}"
        text = f"{m.metric} {e.shown(m.metric)} {where}"
        if m.metric != SQNR:
            text += f"; SQNR {e.shown(SQNR)}"
        return text + (f" [decision metric: {m.reason}]" if m.reason else "")

    def record(self) -> dict[str, Any]:
        return {
            **self.evaluation.to_dict(),
            "metric": self.metric.metric,
            "metric_reason": self.metric.reason,
            "value": finite_db(self.evaluation.value(self.metric.metric)),
            "eval_list": str(Path(self.eval_list).resolve()),
        }


def evaluate_headline(
    float_path: str | Path,
    quantized_path: str | Path,
    eval_list: InputList,
    metric: MetricChoice,
    progress: Progress | None = None,
) -> Headline:
    """The written container on the headline runtime against the float container on the
    reference runtime, one eval-list line at a time (streaming), by the evaluator."""
    started = time.perf_counter()
    runtime = headline_runtime()
    reference = init_network(float_path, REFERENCE_RUNTIME)
    test = init_network(quantized_path, runtime)
    names = set(reference.outputs)
    output = next((o for o in eval_list.output_names or () if o in names), reference.outputs[0])
    evaluator = Evaluator(output)
    total = len(eval_list)
    for k, (_, feeds) in enumerate(iter_feeds(eval_list, reference.inputs, 1), start=1):
        evaluator.add(reference.run(feeds)[output], test.run(feeds)[output])
        if progress:
            progress("evaluate", k, total)
    finding = get_runtime(runtime).nonfinite or None
    result = evaluator.result(runtime=runtime, finding=finding)
    return Headline(result, metric, str(eval_list.path), time.perf_counter() - started)


def _part(p: Any) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"value": p.value, "sqnr_db": p.sqnr_db, "shown": p.shown}


def sensitivity_record(analysis: Any) -> dict[str, Any]:
    """The sensitivity as the run's report stores it (and ``quantize --json`` prints)."""
    sens = analysis.sensitivity
    return {
        "metric": sens.metric,
        "samples": sens.samples,
        "full_sqnr_db": sens.full_sqnr_db,
        "weights_only_sqnr_db": sens.weights_only_sqnr_db,
        "activations_only_sqnr_db": sens.activations_only_sqnr_db,
        "full": _part(sens.full),
        "weights_only": _part(sens.weights_only),
        "activations_only": _part(sens.activations_only),
        "dominant": sens.dominant,
        "suggestion": sens.suggestion,
        "seconds": round(sens.seconds, 4),
        "layers": [
            {
                "node": s.node,
                "op_type": s.op_type,
                "weights": _part(s.weights),
                "activations": _part(s.activations),
                "dominant": s.dominant,
                "output_sqnr_db": s.output_sqnr_db,
            }
            for s in sens.layers
        ],
    }


def _analyze(
    source: Any,
    quantized: Any,
    eval_list: InputList,
    prepared: Any,
    choice: MetricChoice,
    progress: Progress | None,
) -> Any:
    from workbench.engine.quant.analysis import analyze
    from workbench.engine.quant.fakequant import FakeQuantPlan

    few = replace(eval_list, lines=eval_list.lines[:ANALYSIS_SAMPLES])
    return analyze(
        source,
        quantized,
        few,
        FakeQuantPlan,
        prepared_graph=prepared,
        top=SENSITIVE_LAYERS,
        progress=progress,
        metric=without_labels(choice).metric,
        output=_named_output(eval_list, source),
    )


def _layer_rows(analysis) -> list[dict[str, Any]]:
    rows = []
    for index, layer in enumerate(analysis.layers):
        enc = layer.encoding or {}
        scalar = not isinstance(enc.get("min"), list)
        rows.append(
            {
                "layer_index": index,
                "layer_name": layer.node,
                "op_type": layer.op_type,
                "encoding_min": enc.get("min") if scalar else None,
                "encoding_max": enc.get("max") if scalar else None,
                "scale": enc.get("delta") if scalar else None,
                "offset": enc.get("offset") if scalar else None,
                "bitwidth": enc.get("bitwidth"),
                "sqnr_db": finite_db(layer.sqnr_db),
                "rmse_over_scale": finite_db(layer.rmse_over_scale),
                "histograms": layer.histograms,
            }
        )
    return rows


def _integer_path(source, quantized, input_list: InputList):
    """Layers the integer executor runs by dequantize → float → requantize, and the
    integer-true check on the analysis samples (``analysis.check_integer_path``)."""
    from workbench.engine.quant.analysis import check_integer_path
    from workbench.engine.quant.int_exec import IntegerPlan

    plan = IntegerPlan(quantized)
    fallback = [f"{name} ({op})" for name, op in plan.float_fallback_nodes]
    few = replace(input_list, lines=input_list.lines[:ANALYSIS_SAMPLES])
    return fallback, check_integer_path(source, quantized, few, integer=plan)


def _plain(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    import numpy as np

    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist()) if value.size <= 64 else f"array{list(value.shape)}"
    if isinstance(value, np.generic):
        return value.item()
    return value


def _finite(value: Any) -> Any:
    """JSON columns hold no NaN/Inf: exact (infinite SQNR) becomes the dB cap, NaN None."""
    if isinstance(value, float):
        return finite_db(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
