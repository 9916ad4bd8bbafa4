"""How the TUI runs the jobs its forms ask for, and what it says when they end.

A form returns one of the jobs' own requests (``ConvertRequest``, ``QuantizeRequest``,
``BenchRequest``, ``AdviseRequest``, ``DebugRequest``, ``AutoquantRequest``: paths and an options
object). ``run_request`` calls
the same job the CLI calls, on a worker thread, recording the request's equivalent
``workbench`` command line (generated from the option declarations) so that the run
can be replayed from a shell, and sums the result up as a ``JobOutcome``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.jobs.advise import AdviseRequest
from workbench.jobs.autoquant import AutoquantRequest
from workbench.jobs.bench import BenchRequest
from workbench.jobs.convert import ConvertRequest
from workbench.jobs.debug import DebugRequest
from workbench.jobs.quantize import QuantizeRequest
from workbench.store import Store
from workbench.tui.job_runner import JobOutcome, Progress

Request = (
    ConvertRequest
    | QuantizeRequest
    | BenchRequest
    | AdviseRequest
    | DebugRequest
    | AutoquantRequest
)


def parse_input_dims(text: str) -> dict[str, list[int]]:
    """``name=1,3,224,224 other=1,10`` → {name: [1, 3, 224, 224], ...}."""
    dims: dict[str, list[int]] = {}
    for item in text.split():
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise BadInput(f"input dims: {item!r} should read NAME=1,3,224,224")
        try:
            shape = [int(d) for d in value.replace("x", ",").split(",") if d]
        except ValueError:
            raise BadInput(f"input dims: {item!r}: dims must be integers") from None
        if not shape or any(d <= 0 for d in shape):
            raise BadInput(f"input dims: {item!r}: dims must be positive")
        dims[name] = shape
    return dims


def job_title(request: Request) -> str:
    """How the job panel names the job."""
    if isinstance(request, ConvertRequest):
        return f"import {Path(request.model).name}"
    if isinstance(request, BenchRequest):
        names = ", ".join(Path(c).name for c in request.containers)
        return f"bench {names} on {','.join(request.options.runtimes)}"
    return f"{request.kind} {Path(request.container).name}"


def run_request(request: Request, store: Store, project: str, progress: Progress) -> JobOutcome:
    """Run the request's job (with its command line recorded) and say how it went."""
    request = replace(request, command=request.command or request.command_line(project))
    run: Callable[[Any, Store, str, Progress], JobOutcome] = _RUNNERS[request.kind]
    return run(request, store, project, progress)


def _convert(request: ConvertRequest, store: Store, project: str, progress: Progress):
    from workbench.jobs.convert import convert_model

    progress("convert", 0, 1)
    result = convert_model(
        store, project, request.model, request.output,
        input_dims=request.input_dims, command=request.command,
    )  # fmt: skip
    progress("convert", 1, 1)
    return JobOutcome(
        f"imported {Path(request.model).name}: {result.layers} layers, "
        f"{result.param_count:,} parameters → {result.output}",
        refresh=("models",),
    )


def _quantize(request: QuantizeRequest, store: Store, project: str, progress: Progress):
    from workbench.jobs.quantize import quantize_job

    result = quantize_job(store, project, request, progress=progress)
    sqnr = f", SQNR {result.sqnr_db:.2f} dB" if result.sqnr_db is not None else ""
    return JobOutcome(
        f"quantized → {result.output} (run {result.run_id}{sqnr})",
        refresh=("quantize", "models"),
        run_ids=(result.run_id,),
    )


def _bench(request: BenchRequest, store: Store, project: str, progress: Progress):
    from workbench.jobs.bench import bench_job

    result = bench_job(store, project, request, progress=progress)
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    return JobOutcome(
        f"benchmarked {len(result.rows)} combination(s): {summary}",
        refresh=("bench", "models"),
        run_ids=tuple(result.run_ids),
    )


def _advise(request: AdviseRequest, store: Store, project: str, progress: Progress):
    from workbench.jobs.advise import advise_job

    result = advise_job(store, project, request, progress=progress)
    return JobOutcome(
        f"advice ready; saved as experiment {result.experiment}",
        refresh=("quantize", "bench", "experiments", "models"),
        run_ids=result.run_ids,
        payload=result,
    )


def _debug(request: DebugRequest, store: Store, project: str, progress: Progress):
    from workbench.jobs.debug import debug_job

    result = debug_job(store, project, request, progress=progress)
    first = result.report["first_divergent_layer"]
    verdict = f"{first} diverges first ({result.report['cause']})" if first else "no layer diverges"
    return JobOutcome(
        f"debugged {Path(request.container).name}: {verdict} (run {result.run_id})",
        refresh=("debug", "models"),
        run_ids=(result.run_id,),
    )


def _autoquant(request: AutoquantRequest, store: Store, project: str, progress: Progress):
    from workbench.jobs.autoquant import autoquant_job

    result = autoquant_job(store, project, request, progress=progress)
    return JobOutcome(
        f"{result.why}; experiment {result.experiment}",
        refresh=("quantize", "bench", "experiments", "models"),
        run_ids=tuple(
            i for c in result.candidates for i in (c.quantize_run_id, c.bench_run_id) if i
        ),
    )


_RUNNERS: dict[str, Callable[..., JobOutcome]] = {
    "convert": _convert,
    "quantize": _quantize,
    "bench": _bench,
    "advise": _advise,
    "debug": _debug,
    "autoquant": _autoquant,
}
