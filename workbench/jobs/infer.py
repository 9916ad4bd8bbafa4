"""Run: execute a container on a runtime over an input list (the snpe-net-run analogue).

Outputs go to ``OUT/Result_N/<output name>.raw`` (float32, little-endian), one
folder per input-list line, laid out as ``workbench.jobs.run_outputs`` says (the
vendor's layout by default). ``debug`` also writes every layer's output there.
The run is recorded in the store as a benchmark run (``options.command = "run"``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.engine.batch import MAX_BATCH
from workbench.engine.container import read_container
from workbench.engine.files import file_identity
from workbench.engine.inputs import iter_feeds, parse_input_list
from workbench.engine.limits import available_memory, check_container_fits
from workbench.engine.runtimes.load import load_network
from workbench.engine.state import StateCarrier, internal_inputs, state_for
from workbench.errors import BadInput, InputListError, naming
from workbench.jobs.artifacts import model_id_of_container, record_container
from workbench.jobs.compute import use_threads
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.run_outputs import (
    MANIFEST,
    OutputFolder,
    manifest_document,
    plan_output_files,
    refuse_inputs_in_the_way,
)
from workbench.options import RunOptions
from workbench.store import Store
from workbench.textsafe import visible
from workbench.vocabulary import BENCH

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class InferResult:
    run_id: int
    output_dir: str
    inferences: int
    outputs: list[str]
    init_ms: float
    latency_mean_ms: float
    mode: str
    files: dict[str, str] = field(default_factory=dict)  # tensor -> file under Result_N


def run_container(
    store: Store,
    project: str,
    container_path: str | Path,
    input_list_path: str | Path,
    output_dir: str | Path,
    options: RunOptions | None = None,
    *,
    command: str | None = None,
    progress: Progress | None = None,
) -> InferResult:
    """Run every line of the input list; write the outputs; record the run.

    ``options.stateful`` carries state from one line to the next: the container's own (a
    TFLite model's variables) and the ``options.state`` ``INPUT=OUTPUT`` pairs (an ONNX
    model's).
    """
    options = options or RunOptions()
    runtime, batch, cpu_fxp, debug = options.runtime, options.batch, options.cpu_fxp, options.debug
    layout = "flat" if options.flat_names else "vendor"
    thread_count = use_threads(options.threads)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise BadInput(f"--batch must be an integer from 1 to {MAX_BATCH}, got {batch!r}")
    if not str(output_dir).strip():
        raise BadInput("--output-dir is empty; name a folder for the results")
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise BadInput(f"--output-dir {output_dir} exists and is not a directory")
    head = read_container(container_path, load_params=False, load_records=False)
    carried = state_for(head.graph, options.stateful, options.state)
    if carried and batch != 1:
        raise BadInput("--stateful runs the input list line after line: --batch must be 1")
    optional = internal_inputs(head.graph) | {v.input for v in carried}
    input_list = parse_input_list(input_list_path, head.graph.input_names, optional)
    keep = tuple(dict.fromkeys([*(input_list.output_names or ()), *(v.output for v in carried)]))
    check_container_fits(container_path, "run", available_memory(), head=head, batch=batch,
                         keep=keep, retain_all=debug)  # fmt: skip
    t0 = time.perf_counter()
    container = read_container(container_path)
    load_ms = (time.perf_counter() - t0) * 1e3
    graph = container.graph
    if input_list.output_names:
        unknown = [o for o in input_list.output_names if o not in _all_tensors(container)]
        if unknown:
            raise InputListError(
                f"{input_list.path}: first line names unknown output(s) "
                f"{', '.join(visible(u) for u in unknown)}"
            )
    wanted = list(input_list.output_names or container.graph.output_names)
    files = plan_output_files(_debug_tensors(container, wanted) if debug else wanted, layout)
    inputs = [Path(container_path), input_list.path,
              *(p for line in input_list.lines for p in line.values())]  # fmt: skip
    refuse_inputs_in_the_way(output_dir, len(input_list), files, inputs)
    protected = {i for i in map(file_identity, inputs) if i is not None}
    container_id = record_container(store, project, container_path)
    with tracked_run(
        store,
        project=project,
        kind=BENCH,
        model_id=model_id_of_container(store, container_id),
        container_id=container_id,
        command=command,
        runtime=runtime,
        cpu_fxp=cpu_fxp,
        batch=batch,
        options={
            "command": "run",
            "output_dir": str(output_dir),
            "debug": debug,
            "layout": layout,
            "threads": thread_count,
            **(
                {"stateful": True, "state": [f"{v.input}={v.output}" for v in carried]}
                if carried
                else {}
            ),
        },
    ) as run:
        with naming(container_path):
            network = load_network(container, runtime, batch=batch, cpu_fxp=cpu_fxp, keep=keep)
        init_ms = load_ms + sum(network.init_breakdown_ms.values())
        wanted = list(input_list.output_names or network.outputs)
        _make_folder(output_dir)
        latencies: list[float] = []
        kinds: dict[str, dict[str, object]] = {}
        done = 0
        carrier = StateCarrier(carried, network.inputs) if carried else None
        all_state = [*graph.state, *(v for v in carried if v not in graph.state)]
        with OutputFolder(output_dir, protected) as out:
            for idx, feeds in iter_feeds(input_list, network.inputs, batch, all_state):
                captured: dict[str, np.ndarray] = {}
                hook = captured.__setitem__ if debug else None
                if carrier is not None:
                    feeds = carrier.fill(feeds)
                t = time.perf_counter()
                with naming(container_path):
                    results = network.run(feeds, hook=hook)
                latencies.append((time.perf_counter() - t) * 1e3)
                if carrier is not None:
                    carrier.update(results)
                tensors = {**captured, **results} if debug else results
                names = list(tensors) if debug else wanted
                if any(name not in files for name in names):  # a runtime's own tensor
                    files = plan_output_files([*files, *names], layout)
                for row, line in enumerate(idx):
                    out.forget_folders()
                    for name in names:
                        value = np.asarray(tensors[name])
                        if batch > 1 and value.ndim and value.shape[0] == batch:
                            value = value[row]
                        if value.dtype.kind == "f":
                            value = value.astype("<f4", copy=False)
                        kinds.setdefault(name, {"dtype": value.dtype.name,
                                                "shape": list(value.shape)})  # fmt: skip
                        out.write_array((f"Result_{line}", *files[name]), value)
                done += len(idx)
                if progress:
                    progress("run", done, len(input_list))
            written = {name: files[name] for name in files if name in kinds}
            out.write((MANIFEST,), manifest_document(layout, done, written, kinds))
        mean = statistics.fmean(latencies)
        run.record(
            init_time_ms=init_ms,
            init_breakdown={"load": load_ms, **network.init_breakdown_ms},
            iterations=len(latencies),
            latency_mean_ms=mean,
            latency_p50_ms=float(np.percentile(latencies, 50)),
            latency_p90_ms=float(np.percentile(latencies, 90)),
            latency_min_ms=min(latencies),
            container_size_bytes=Path(container_path).stat().st_size,
        )
        run.log(f"{done} inferences on {runtime} ({network.mode}), outputs in {output_dir}")
    return InferResult(
        run_id=run.id,
        output_dir=str(output_dir),
        inferences=done,
        outputs=wanted,
        init_ms=init_ms,
        latency_mean_ms=mean,
        mode=network.mode,
        files={name: "/".join(path) for name, path in files.items() if name in kinds},
    )


def _debug_tensors(container, wanted: list[str]) -> list[str]:
    """What ``--debug`` writes: every node output, then the outputs asked for."""
    produced = [o for n in container.graph.nodes for o in n.outputs if o]
    return [*produced, *wanted]


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise BadInput(f"--output-dir {path}: a file is in the way of this folder") from None
    except OSError as exc:
        raise BadInput(f"--output-dir {path}: cannot create it ({exc.strerror or exc})") from None


def _all_tensors(container) -> set[str]:
    g = container.graph
    return {o for n in g.nodes for o in n.outputs} | set(g.input_names)
