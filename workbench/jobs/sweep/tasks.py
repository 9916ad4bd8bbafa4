"""The work of a sweep as four kinds of task, each one ordinary job on a store.

A convert per model, a quantize per (model, setting) shared by every runtime, a bench
per cell; a goal's cell is one autoquant (its candidates' quantize and bench runs). ``run_task`` runs one against a store: the project's own (the local pool's
workers) or a scratch store whose runs the driver copies (Ray workers). A task's
failure is its result, not an exception, so one bad cell never stops a sweep.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.errors import BadInput, WorkbenchError
from workbench.store import Store

CONVERT, QUANTIZE, BENCH, AUTOQUANT = "convert", "quantize", "bench", "autoquant"


@dataclass(frozen=True)
class ConvertTask:
    key: str  # the model's key
    source: Path
    input_dims: dict[str, list[int]]
    output: Path
    command: str
    recorded_source: Path | None = None  # the driver's path, when ``source`` is a copy
    kind = CONVERT

    def paths(self) -> dict[str, Path]:
        return {"source": self.source}


@dataclass(frozen=True)
class QuantizeTask:
    key: str  # the (model, setting) stage's key
    container: Path
    calibration: Path
    output: Path
    options: dict[str, Any]  # QuantOptions values
    analyze: bool
    command: str
    recorded_container: Path | None = None  # the driver's path, when ``container`` is a copy
    kind = QUANTIZE

    def paths(self) -> dict[str, Path]:
        return {"container": self.container, "calibration": self.calibration}


@dataclass(frozen=True)
class BenchTask:
    key: str  # the cell's key
    container: Path
    reference: Path  # the float container it is measured against
    eval: Path
    labels: Path | None
    options: dict[str, Any]  # BenchOptions values: one runtime, one thread
    command: str
    kind = BENCH

    def paths(self) -> dict[str, Path]:
        found = {"container": self.container, "reference": self.reference, "eval": self.eval}
        return found | ({"labels": self.labels} if self.labels is not None else {})


@dataclass(frozen=True)
class AutoquantTask:
    key: str  # the cell's key
    container: Path  # the float container
    calibration: Path
    eval: Path
    labels: Path | None
    output: Path
    options: dict[str, Any]  # AutoquantOptions values: goal, runtime, budget
    command: str
    kind = AUTOQUANT

    def paths(self) -> dict[str, Path]:
        found = {"container": self.container, "calibration": self.calibration, "eval": self.eval}
        return found | ({"labels": self.labels} if self.labels is not None else {})


Task = ConvertTask | QuantizeTask | BenchTask | AutoquantTask


@dataclass(frozen=True)
class TaskResult:
    """What a task came to: ids in the store it ran against, or why it failed."""

    key: str
    kind: str
    ok: bool
    error: str | None = None
    status: str | None = None  # bench: succeeded, failed or refused
    model_id: int | None = None  # convert
    container_id: int | None = None  # convert: the float container
    run_id: int | None = None  # quantize, bench; autoquant: the chosen candidate's bench
    quantize_run_id: int | None = None  # autoquant: the chosen candidate's quantize run
    run_ids: tuple[int, ...] = ()  # autoquant: every candidate's runs
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    seconds: float = 0.0
    lost: bool = False  # the worker died: worth one more try


def run_task(store: Store, project: str, task: Task) -> TaskResult:
    """Run ``task`` as the ordinary job against ``store``; a failure is the result."""
    from workbench.jobs.lifecycle import error_text

    started = time.perf_counter()
    try:
        result = _RUNNERS[task.kind](store, project, task)
    except WorkbenchError as exc:
        result = TaskResult(task.key, task.kind, ok=False, error=error_text(exc))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a bug: the cell fails, the sweep goes on
        result = TaskResult(
            task.key, task.kind, ok=False, error=f"internal error: {error_text(exc)}"
        )
    return replace(result, seconds=time.perf_counter() - started)


def _convert(store: Store, project: str, task: ConvertTask) -> TaskResult:
    from workbench.jobs.convert import Recorded, convert_model

    done = convert_model(
        store, project, task.source, task.output, input_dims=task.input_dims,
        command=Recorded(task.command, task.recorded_source),
    )  # fmt: skip
    if done.quantized:
        raise BadInput(
            f"{task.source} is a quantized model (its own encodings): a sweep quantizes float "
            "models; bench it with workbench bench"
        )
    return TaskResult(
        task.key, task.kind, ok=True, model_id=done.model_id, container_id=done.container_id
    )


def _quantize(store: Store, project: str, task: QuantizeTask) -> TaskResult:
    from workbench.jobs.quantize import QuantizeRequest, quantize_job

    request = QuantizeRequest(
        task.container, task.calibration, task.output, task.options, task.analyze, task.command,
        recorded_container=task.recorded_container,
    )  # fmt: skip
    done = quantize_job(store, project, request)
    return TaskResult(task.key, task.kind, ok=True, run_id=done.run_id)


def _bench(store: Store, project: str, task: BenchTask) -> TaskResult:
    from workbench.jobs.bench import BenchRequest, bench_job

    options = {**task.options, "labels": str(task.labels) if task.labels else None}
    request = BenchRequest(
        [task.container], task.eval, options, task.command, reference=task.reference
    )
    row = bench_job(store, project, request).rows[0]
    return TaskResult(
        task.key, task.kind, ok=True, status=row.status, error=row.error, run_id=row.run_id
    )


def _autoquant(store: Store, project: str, task: AutoquantTask) -> TaskResult:
    from workbench.jobs.autoquant import AutoquantRequest, autoquant_job
    from workbench.vocabulary import FAILED, SUCCEEDED

    options = {**task.options, "labels": str(task.labels) if task.labels else None}
    request = AutoquantRequest(
        task.container, task.calibration, task.eval, task.output, options, task.command
    )
    done = autoquant_job(store, project, request)
    chosen = done.candidate(done.chosen)
    ids = tuple(i for c in done.candidates for i in (c.quantize_run_id, c.bench_run_id) if i)
    return TaskResult(
        task.key, task.kind, ok=chosen is not None,
        status=SUCCEEDED if chosen is not None else FAILED,
        error=None if done.met else done.why,
        run_id=chosen.bench_run_id if chosen else None,
        quantize_run_id=chosen.quantize_run_id if chosen else None, run_ids=ids,
    )  # fmt: skip


_RUNNERS: dict[str, Any] = {
    CONVERT: _convert,
    QUANTIZE: _quantize,
    BENCH: _bench,
    AUTOQUANT: _autoquant,
}
