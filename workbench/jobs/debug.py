"""Debug: where a quantized container first parts from its float model, and why.

``debug_job`` reads the quantized container and its float source (the one the quantizer
recorded, or ``--float``), initialises the runtime (``load_network``: a mix the runtime
cannot run is refused as it would be by bench), and runs the first ``samples`` lines of
the input list through ``engine.quant.debug.debug_layers``. Not stored as a run yet (a
run kind of its own needs a detail table): the result is printed, or written as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.engine.container import read_container
from workbench.engine.inputs import parse_input_list
from workbench.engine.state import internal_inputs
from workbench.errors import BadInput, naming
from workbench.options import DebugOptions

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DebugRequest:
    container: str | Path
    input_list: str | Path
    options: DebugOptions = DebugOptions()


@dataclass(frozen=True)
class DebugResult:
    container: str
    float_container: str
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


def debug_job(request: DebugRequest, *, progress: Progress | None = None) -> DebugResult:
    """Compare every layer float / fake-quant / integer-true (``engine.quant.debug``)."""
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
    with naming(request.container):
        net = load_network(quant, options.runtime, cpu_fxp=options.cpu_fxp)
        report = debug_layers(
            prepared_float_graph(floating, quant),
            quant,
            few,
            net,
            runtime=options.runtime + (" --cpu-fxp" if options.cpu_fxp else ""),
            threshold_lsb=options.threshold_lsb,
            drop_db=options.drop_db,
            progress=progress,
        )
    data = report.to_dict()
    data["notes"] = list(net.notes)
    return DebugResult(str(request.container), str(source), data)
