"""Debug: where a quantized container first parts from its float model, and why; a run.

``debug_job`` reads the quantized container and its float source (the one the quantizer
recorded, or ``--float``), initialises the runtime (``load_network``: a mix the runtime
cannot run is refused as it would be by bench), and runs the first ``samples`` lines of
the input list through ``engine.quant.debug.debug_layers``; each layer's metric
contribution is the model's decision metric (``metric_choice``) with only that layer
quantized, over the first ``contribution_samples`` lines.

It is recorded as a run of kind ``debug`` through the run lifecycle (``tracked_run``):
the options, the quantized container (the run's) and the float one, then on success the
first divergent layer, its cause, the sentence saying why, the output SQNRs and the
rest of the report, and one ``LayerStat`` per layer in execution order (its integer-true
SQNR and bitwidth in the columns, the whole comparison in ``debug``). A failed or
interrupted debug run keeps its options and log and no results, as every run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.engine.container import read_container
from workbench.engine.inputs import parse_input_list
from workbench.engine.state import internal_inputs
from workbench.errors import BadInput, naming
from workbench.jobs.artifacts import model_id_of_container, record_container
from workbench.jobs.convert import workbench_command
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.metric_choice import decision_metric, without_labels
from workbench.options import DEBUG_OPTIONS, DebugOptions, option_argv
from workbench.store import Store
from workbench.vocabulary import DEBUG, finite_db

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DebugRequest:
    container: str | Path
    input_list: str | Path
    options: DebugOptions = field(default_factory=DebugOptions)
    command: str | None = None  # the command line recorded with the run

    kind = DEBUG

    def command_line(self, project: str) -> str:
        return workbench_command(
            project, "debug", self.container, "--input-list", self.input_list,
            *option_argv(DEBUG_OPTIONS, self.options.to_dict()),
        )  # fmt: skip


@dataclass(frozen=True)
class DebugResult:
    run_id: int
    container: str
    float_container: str
    metric: str
    metric_reason: str
    report: dict[str, Any]  # engine.quant.debug.DebugReport.to_dict()


def float_source(quantized: Any, given: str | None) -> Path:
    """The float container to compare with: ``given``, else the one the quantizer recorded."""
    if given:
        return Path(given)
    recorded = (quantized.manifest.get("quantizer") or {}).get("source_container")
    if not recorded:
        raise BadInput(
            "this container does not record its float source; give it with --float F.dlc"
        )
    path = Path(recorded)
    if not path.exists():
        raise BadInput(
            f"the float container the quantizer recorded ({path}) is gone; give it with --float"
        )
    return path


def debug_job(
    store: Store, project: str, request: DebugRequest, *, progress: Progress | None = None
) -> DebugResult:
    """Compare every layer float / fake-quant / integer-true, recorded as a run (module doc)."""
    from workbench.engine.quant.analysis import prepared_float_graph
    from workbench.engine.quant.debug import debug_layers
    from workbench.engine.runtimes import load_network

    options = request.options
    with naming(request.container):
        quant = read_container(request.container)
    if not quant.quantized:
        raise BadInput(f"{request.container} is not quantized: debug compares a quantized one")
    source = float_source(quant, options.float_container)
    with naming(source):
        floating = read_container(source)
    if floating.quantized:
        raise BadInput(f"{source} is quantized: --float takes the float container")
    if [n.name for n in floating.graph.nodes] != [n.name for n in quant.graph.nodes]:
        raise BadInput(f"{source} is not the float model of {request.container}: layers differ")
    listing = parse_input_list(
        request.input_list, floating.graph.input_names, internal_inputs(floating.graph)
    )
    few = replace(listing, lines=listing.lines[: options.samples])
    output = next((o for o in listing.output_names or () if o in floating.graph.output_names), None)
    float_id = record_container(store, project, source)
    model_id = model_id_of_container(store, float_id)
    quant_id = record_container(store, project, request.container, model_id=model_id)
    choice = without_labels(
        decision_metric(store, float_id, floating.graph, output=output,
                        requested=options.metric, command="debug")
    )  # fmt: skip
    runtime = options.runtime + (" --cpu-fxp" if options.cpu_fxp else "")
    details = {
        "runtime": options.runtime,
        "cpu_fxp": options.cpu_fxp,
        "options": options.to_dict(),
        "input_list": str(Path(request.input_list).resolve()),
        "float_container_id": float_id,
        "metric": choice.metric,
    }
    with tracked_run(
        store,
        project=project,
        kind=DEBUG,
        model_id=model_id,
        container_id=quant_id,
        command=request.command,
        **details,
    ) as run:
        run.log(f"{choice.line()}; float model {source}")
        with naming(request.container):
            net = load_network(quant, options.runtime, cpu_fxp=options.cpu_fxp)
            report = debug_layers(
                prepared_float_graph(floating, quant),
                quant,
                few,
                net,
                runtime=runtime,
                threshold_lsb=options.threshold_lsb,
                drop_db=options.drop_db,
                metric=choice.metric,
                output=output,
                contribution_samples=min(options.contribution_samples, options.samples),
                progress=progress,
            )
        data = report.to_dict()
        data["notes"] = list(net.notes)
        data["metric_reason"] = choice.reason
        run.log(
            f"{report.samples} samples on {runtime}: {len(report.layers)} layers compared, "
            f"contributions over {report.contribution_samples} samples"
        )
        run.log(report.why)
        run.add_layer_stats(_layer_rows(data["layers"]))
        run.record(
            samples=report.samples,
            first_divergent_layer=data["first_divergent_layer"],
            cause=data["cause"],
            why=report.why,
            suggestion=data["suggestion"],
            sqnr_db=data["output_integer_sqnr_db"],
            fake_quant_sqnr_db=data["output_fake_quant_sqnr_db"],
            report=_report(data),
        )
    return DebugResult(
        run_id=run.id,
        container=str(request.container),
        float_container=str(source),
        metric=choice.metric,
        metric_reason=choice.reason,
        report=data,
    )


def _layer_rows(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``LayerStat`` per compared layer, numbered in execution order (the node's own
    index, shared by a node's outputs, stays in ``debug``)."""
    return [
        {
            "layer_index": position,
            "layer_name": layer["node"],
            "op_type": layer["op_type"],
            "scale": layer["delta"],
            "bitwidth": layer["bitwidth"],
            "sqnr_db": finite_db(layer["integer_sqnr_db"]),
            "debug": layer,
        }
        for position, layer in enumerate(layers)
    ]


def _report(data: dict[str, Any]) -> dict[str, Any]:
    """What the run's ``report`` keeps: the debugger's report less its columns and layers."""
    columns = {"first_divergent_layer", "cause", "why", "suggestion", "layers", "samples",
               "output_integer_sqnr_db", "output_fake_quant_sqnr_db", "metric"}  # fmt: skip
    return {k: v for k, v in data.items() if k not in columns}
