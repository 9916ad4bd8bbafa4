"""The sweep's driver: plan the cells' work, hand it to an executor, record what comes back.

Work is shared: one convert per model, one quantize per (model, setting) whatever the
runtimes, one bench per cell. Work done before is not done again: a cell whose key is
done in the project is skipped; a float or quantized container already in the work
folder is used again when its content is what it should be (the model's sha256 and
input dims in its manifest; a succeeded quantization run that wrote it from this
float container). Benches go first, then quantizes, then converts, so cells finish
early and a stopped sweep leaves whole cells behind.

A cell runs from its setting's quantize (or its bench, when that is done) to its end;
while its model converts it waits, pending. Ctrl-C (or SIGTERM) stops the executor's
tasks (their runs end ``interrupted``), marks the running cells ``interrupted`` (the
waiting ones stay pending) and the sweep too, and goes on up as the interrupt.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.engine.container import file_sha256, read_manifest
from workbench.errors import BadInput, ContainerError, WorkbenchError
from workbench.jobs.convert import ConvertRequest, workbench_command
from workbench.jobs.projects import ensure_project
from workbench.jobs.sweep import record
from workbench.jobs.sweep.results import Best, CellResult, ranked, show_sweep
from workbench.jobs.sweep.spec import Cell, ModelSpec, SweepSpec, load_spec
from workbench.jobs.sweep.tasks import (
    AUTOQUANT,
    BENCH,
    CONVERT,
    QUANTIZE,
    AutoquantTask,
    BenchTask,
    ConvertTask,
    QuantizeTask,
    Task,
    TaskResult,
)
from workbench.options import QUANTIZE_OPTIONS, SweepOptions, option_argv
from workbench.store import Store, utcnow
from workbench.store.queries import find_model_by_sha256, get_project
from workbench.store.recovery import recover_orphaned_runs
from workbench.store.sweeps import succeeded_quantize_run
from workbench.vocabulary import (
    CELL_STATUSES,
    DONE_CELL_STATUSES,
    FAILED,
    INTERRUPTED,
    LOCAL,
    REFUSED,
    SUCCEEDED,
)

MAX_ATTEMPTS = 2  # a task whose worker died is tried once more
_PRIORITY = {BENCH: 0, QUANTIZE: 1, AUTOQUANT: 1, CONVERT: 2}
WAIT_S = 0.5  # between checks for finished tasks (and the progress callback)


@dataclass(frozen=True)
class SweepRequest:
    """What ``sweep_job`` is asked: the spec file and how to run it."""

    spec: str | Path
    options: SweepOptions = field(default_factory=SweepOptions)
    command: str | None = None

    kind = "sweep"

    def __post_init__(self) -> None:
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", SweepOptions(**self.options))

    def command_line(self, project: str) -> str:
        return workbench_command(project, "sweep", self.spec, *self.options.argv())


@dataclass(frozen=True)
class SweepProgress:
    """Cells of the spec: done (succeeded or refused) and failed in this run, skipped
    (done before), running now, and the total."""

    total: int
    skipped: int
    done: int
    failed: int
    running: int

    @property
    def to_run(self) -> int:
        return self.total - self.skipped

    @property
    def finished(self) -> int:
        return self.done + self.failed


@dataclass(frozen=True)
class SweepResult:
    """A sweep's run: what ran, and every cell of the spec with its numbers
    (``sweep --json``)."""

    name: str
    project: str
    experiment: str
    status: str  # succeeded: every cell done (succeeded or refused); else failed
    executor: str
    jobs: int
    metric: str
    spec: str
    workdir: str
    runtimes: tuple[str, ...]
    total: int  # cells of the spec
    skipped: int  # done before
    ran: int
    counts: dict[str, int]  # the spec's cells per status
    seconds: float
    cells: tuple[CellResult, ...]
    best: tuple[Best, ...]


def sweep_job(
    store: Store,
    project: str,
    request: SweepRequest,
    *,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepResult:
    """Run every cell of the spec not done yet (see the module doc)."""
    started = time.perf_counter()
    spec = load_spec(request.spec)
    options = request.options
    if options.executor != LOCAL and any(c.setting.goal for c in spec.cells):
        raise BadInput(
            "goals run autoquant, on the local executor only for now: use --executor local"
        )
    ensure_project(store, project)
    opened = record.open_sweep(store, project, spec, options.executor)
    todo = [c for c in spec.cells if c.key not in opened.skipped]
    jobs = options.jobs or _cores()
    status, executor_name = SUCCEEDED, options.executor
    try:
        if todo:
            jobs = _run(
                store,
                project,
                spec,
                opened,
                _executor(store, project, options, jobs),
                todo,
                progress,
            )
        elif progress is not None:
            progress(SweepProgress(len(spec.cells), len(opened.skipped), 0, 0, 0))
    except BaseException as exc:
        _stopped(store, opened.id, exc)
        raise
    detail = show_sweep(store, project, spec.name)
    wanted = {c.key for c in spec.cells}
    cells = [replace(c, skipped=c.key in opened.skipped) for c in detail.cells if c.key in wanted]
    counts = {s: sum(1 for c in cells if c.status == s) for s in CELL_STATUSES}
    if any(c.status not in DONE_CELL_STATUSES for c in cells):
        status = FAILED
    record.end_sweep(store, opened.id, status)
    flagged, best = ranked(cells, spec.metric)
    return SweepResult(
        name=spec.name,
        project=project,
        experiment=opened.experiment,
        status=status,
        executor=executor_name,
        jobs=jobs,
        metric=spec.metric,
        spec=str(spec.path),
        workdir=str(spec.workdir),
        runtimes=spec.runtimes,
        total=len(spec.cells),
        skipped=len(opened.skipped),
        ran=len(todo),
        counts=counts,
        seconds=time.perf_counter() - started,
        cells=flagged,
        best=best,
    )


def _run(
    store: Store,
    project: str,
    spec: SweepSpec,
    opened: record.OpenedSweep,
    executor: Any,
    todo: list[Cell],
    progress: Callable[[SweepProgress], None] | None,
) -> int:
    """Run the cells on ``executor``; the number of cells it ran at once."""
    try:
        _Driver(store, project, spec, opened, executor, progress).run(todo)
    except BaseException:
        executor.stop()  # first: the tasks' own runs end interrupted, their locks released
        # A worker killed after the grace, or stopped mid-write, leaves its run ``running``:
        # its process is gone now, so end it as the store's recovery would, before exiting.
        with contextlib.suppress(Exception):
            recover_orphaned_runs(store)
        raise
    finally:
        executor.close()
    return executor.slots


def _stopped(store: Store, sweep_id: int, exc: BaseException) -> None:
    """The sweep ends early: interrupted (Ctrl-C or SIGTERM, even when the signal cut a
    store write short) or failed. A failure to record it is left to the store's
    recovery of the driver's process (the next command that opens the store)."""
    from workbench.jobs.interrupts import interrupted

    by_user = isinstance(exc, (KeyboardInterrupt, SystemExit)) or interrupted() is not None
    try:
        if by_user:
            record.end_sweep(store, sweep_id, INTERRUPTED, "interrupted by the user")
        else:
            record.end_sweep(store, sweep_id, FAILED, f"the sweep stopped: {exc}")
    except (Exception, KeyboardInterrupt):
        pass
    if by_user and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise KeyboardInterrupt from None  # the interrupt, not what it cut short


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _executor(store: Store, project: str, options: SweepOptions, jobs: int) -> Any:
    if options.executor == LOCAL:
        from workbench.jobs.sweep.local import LocalExecutor

        return LocalExecutor(store, project, jobs)
    from workbench.jobs.sweep.ray_executor import RayExecutor

    return RayExecutor(store, project, options.jobs, options.address)


class _Driver:
    """One run of a sweep: its queue of tasks, what they wait for, what they finish."""

    def __init__(
        self,
        store: Store,
        project: str,
        spec: SweepSpec,
        opened: record.OpenedSweep,
        executor: Any,
        progress: Callable[[SweepProgress], None] | None,
    ):
        self.store, self.project, self.spec, self.opened = store, project, spec, opened
        self.executor, self.progress = executor, progress
        self.queue: list[tuple[int, int, Task]] = []
        self.order = itertools.count()
        self.handles: dict[Any, Task] = {}
        self.attempts: dict[str, int] = {}
        self.cells_of: dict[str, list[Cell]] = {}  # task key -> the cells waiting on it
        self.floats: dict[str, Path] = {}  # model key -> its float container
        self.started: dict[str, float] = {}  # cell key -> when its work started
        self.running: set[str] = set()
        self.cell_by_key = {c.key: c for c in spec.cells}
        self.done = self.failed = 0

    # ---------------------------------------------------------------- planning

    def run(self, todo: list[Cell]) -> None:
        models: dict[str, ModelSpec] = {}
        for cell in todo:
            models.setdefault(cell.model.key, cell.model)
            self.cells_of.setdefault(cell.model.key, []).append(cell)
            self.cells_of.setdefault(cell.stage, []).append(cell)
        for model in models.values():
            self._plan_model(model)
        self._report()
        while self.queue or self.handles:
            while self.queue and len(self.handles) < self.executor.slots:
                self._submit(heapq.heappop(self.queue)[2])
            for handle, result in self.executor.wait(list(self.handles), self.handles, WAIT_S):
                self._finished(self.handles.pop(handle), result)
            self._report()

    def _plan_model(self, model: ModelSpec) -> None:
        try:
            self._folder(model).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"cannot create {self._folder(model)}: {exc.strerror or exc}") from None
        path = model.path if model.is_container else self._float_path(model)
        if model.is_container:
            self._given_container(model)
        elif (found := _current_float(self.store, self.project, model, path)) is not None:
            self._model_ready(model, path, found)
        else:
            self._enqueue(self._convert_task(model, path))

    def _given_container(self, model: ModelSpec) -> None:
        from workbench.jobs.artifacts import model_id_of_container, record_container

        try:
            if read_manifest(model.path).get("quantized"):
                raise ContainerError(
                    f"{model.path} is a quantized container: a sweep quantizes float containers"
                )
            container_id = record_container(self.store, self.project, model.path)
        except WorkbenchError as exc:
            self._fail(self.cells_of[model.key], str(exc))
            return
        self._model_ready(model, model.path, model_id_of_container(self.store, container_id))

    def _model_ready(self, model: ModelSpec, path: Path, model_id: int | None) -> None:
        self.floats[model.key] = path
        ids = [self.opened.cell_ids[c.key] for c in self.cells_of[model.key]]
        record.update_cells(self.store, ids, model_id=model_id)
        for stage, cells in _by_stage(self.cells_of[model.key]).items():
            if cells[0].setting.goal:  # one search per cell: no quantize to share
                for cell in cells:
                    self._enqueue(self._autoquant_task(cell, path))
                continue
            output = self._folder(model) / f"q-{stage[:16]}.dlc"
            run_id = _quantized_is_current(self.store, self.project, output, path)
            if run_id is not None:
                self._quantized_ready(cells, output, run_id)
            else:
                self._enqueue(self._quantize_task(cells[0], path, output))

    def _quantized_ready(self, cells: list[Cell], output: Path, run_id: int | None) -> None:
        ids = [self.opened.cell_ids[c.key] for c in cells]
        record.update_cells(self.store, ids, quantize_run_id=run_id)
        record.add_runs(self.store, self.opened.id, [run_id])
        for cell in cells:
            self._enqueue(self._bench_task(cell, output))

    # ---------------------------------------------------------------- tasks

    def _folder(self, model: ModelSpec) -> Path:
        return self.spec.workdir / model.folder

    def _float_path(self, model: ModelSpec) -> Path:
        return self._folder(model) / "float.dlc"

    def _convert_task(self, model: ModelSpec, output: Path) -> ConvertTask:
        dims = {k: list(v) for k, v in model.input_dims.items()}
        command = ConvertRequest(str(model.path), str(output), dims).command_line(self.project)
        return ConvertTask(model.key, model.path, dims, output, command)

    def _quantize_task(self, cell: Cell, source: Path, output: Path) -> QuantizeTask:
        values = cell.setting.values()
        command = workbench_command(
            self.project, "quantize", source, "--input-list", cell.model.calibration.path,
            "-o", output, *option_argv(QUANTIZE_OPTIONS, values),
        )  # fmt: skip
        return QuantizeTask(
            cell.stage, source, cell.model.calibration.path, output,
            cell.setting.options.to_dict(), cell.setting.analyze, command,
        )  # fmt: skip

    def _bench_task(self, cell: Cell, container: Path) -> BenchTask:
        from workbench.jobs.bench import BenchRequest

        model = cell.model
        options = {**self.spec.bench.to_dict(), "runtimes": [cell.runtime], "threads": 1}
        options["labels"] = str(model.labels.path) if model.labels else None
        command = BenchRequest([container], model.eval.path, options).command_line(self.project)
        options.pop("labels")
        return BenchTask(
            cell.key, container, self.floats[model.key], model.eval.path,
            model.labels.path if model.labels else None, options, command,
        )  # fmt: skip

    def _autoquant_task(self, cell: Cell, source: Path) -> AutoquantTask:
        from workbench.jobs.autoquant import AutoquantRequest

        model, setting = cell.model, cell.setting
        output = self._folder(model) / f"aq-{cell.key[:16]}.dlc"
        options = {"goal": setting.goal, "runtime": cell.runtime,
                   "budget_minutes": setting.budget_minutes}  # fmt: skip
        labels = model.labels.path if model.labels else None
        command = AutoquantRequest(
            source, model.calibration.path, model.eval.path, output,
            {**options, "labels": str(labels) if labels else None},
        ).command_line(self.project)  # fmt: skip
        return AutoquantTask(cell.key, source, model.calibration.path, model.eval.path, labels,
                             output, options, command)  # fmt: skip

    def _enqueue(self, task: Task) -> None:
        heapq.heappush(self.queue, (_PRIORITY[task.kind], next(self.order), task))

    def _submit(self, task: Task) -> None:
        if task.kind != CONVERT:  # a model's convert is no cell's own work: they wait
            self._start(self._cells(task), attempt=task.kind in (BENCH, AUTOQUANT))
        self.attempts[task.key] = self.attempts.get(task.key, 0) + 1
        self.handles[self.executor.submit(task)] = task

    def _start(self, cells: list[Cell], *, attempt: bool) -> None:
        """Cells whose own work (their setting's quantize, their bench) starts: running,
        and so ``interrupted`` if the sweep stops now."""
        now = time.monotonic()
        for cell in cells:
            self.running.add(cell.key)
            self.started.setdefault(cell.key, now)
        ids = [self.opened.cell_ids[c.key] for c in cells]
        record.start_cells(self.store, ids, attempt=attempt)

    def _cells(self, task: Task) -> list[Cell]:
        if task.kind in (BENCH, AUTOQUANT):
            return [self.cell_by_key[task.key]]
        return list(self.cells_of.get(task.key, ()))

    # ---------------------------------------------------------------- results

    def _finished(self, task: Task, result: TaskResult) -> None:
        if result.lost:
            recover_orphaned_runs(self.store)  # the dead worker's run, if it had begun one
            if self.attempts.get(task.key, 0) < MAX_ATTEMPTS:
                self._enqueue(task)
                return
            result = _with_error(result, f"{result.error} (tried again once)")
        cells = self._cells(task)
        if task.kind == CONVERT:
            if result.ok:
                model = cells[0].model
                self._model_ready(model, task.output, result.model_id)
            else:
                self._fail(cells, f"convert: {result.error}")
        elif task.kind == QUANTIZE:
            record.add_runs(self.store, self.opened.id, [result.run_id])
            if result.ok:
                self._quantized_ready(cells, task.output, result.run_id)
            else:
                ids = [self.opened.cell_ids[c.key] for c in cells]
                record.update_cells(self.store, ids, quantize_run_id=result.run_id)
                self._fail(cells, f"quantize: {result.error}")
        elif task.kind == AUTOQUANT:
            self._autoquant_done(cells[0], result)
        else:
            self._bench_done(cells[0], result)

    def _autoquant_done(self, cell: Cell, result: TaskResult) -> None:
        """The chosen candidate's runs stand for the cell; every candidate joins the sweep."""
        record.add_runs(self.store, self.opened.id, list(result.run_ids))
        status = result.status if result.ok and result.status else FAILED
        self._end(
            [cell], status,
            error=result.error,  # succeeded: the goal not met, when it is not
            quantize_run_id=result.quantize_run_id, bench_run_id=result.run_id, host=result.host,
        )  # fmt: skip

    def _bench_done(self, cell: Cell, result: TaskResult) -> None:
        record.add_runs(self.store, self.opened.id, [result.run_id])
        status = result.status if result.ok and result.status else FAILED
        self._end(
            [cell], status,
            error=result.error if status != SUCCEEDED else None,
            bench_run_id=result.run_id, host=result.host,
        )  # fmt: skip

    def _fail(self, cells: list[Cell], error: str | None) -> None:
        self._end(cells, FAILED, error=error)

    def _end(self, cells: list[Cell], status: str, **values: Any) -> None:
        now = time.monotonic()
        for cell in cells:
            started = self.started.get(cell.key, now)
            self.running.discard(cell.key)
            if status in (SUCCEEDED, REFUSED):
                self.done += 1
            else:
                self.failed += 1
            record.update_cells(
                self.store, [self.opened.cell_ids[cell.key]],
                status=status, finished_at=utcnow(), duration_s=now - started, **values,
            )  # fmt: skip

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(
                SweepProgress(
                    total=len(self.spec.cells),
                    skipped=len(self.opened.skipped),
                    done=self.done,
                    failed=self.failed,
                    running=len(self.running),
                )
            )


def _by_stage(cells: list[Cell]) -> dict[str, list[Cell]]:
    stages: dict[str, list[Cell]] = {}
    for cell in cells:
        stages.setdefault(cell.stage, []).append(cell)
    return stages


def _with_error(result: TaskResult, error: str) -> TaskResult:
    return replace(result, error=error)


def _current_float(store: Store, project: str, model: ModelSpec, path: Path) -> int | None:
    """The model's id if ``path`` is its conversion (content and input dims), recorded."""
    from workbench.jobs.artifacts import record_container

    try:
        converter = read_manifest(path).get("converter") or {}
    except (OSError, WorkbenchError):
        return None
    dims = {k: list(v) for k, v in model.input_dims.items()}
    if converter.get("source_sha256") != model.sha256 or converter.get("input_dims") != dims:
        return None
    with store.read() as session:
        stored = find_model_by_sha256(session, get_project(session, project), model.sha256)
        if stored is None:
            return None
        model_id = stored.id
    record_container(store, project, path, model_id=model_id)
    return model_id


def _quantized_is_current(store: Store, project: str, path: Path, source: Path) -> int | None:
    """The succeeded quantization run that wrote ``path`` from ``source``, if any."""
    from workbench.jobs.artifacts import record_container

    try:
        quantizer = read_manifest(path).get("quantizer") or {}
        if quantizer.get("source_sha256") != file_sha256(source):
            return None
    except (OSError, WorkbenchError):
        return None
    container_id = record_container(store, project, path)
    with store.read() as session:
        return succeeded_quantize_run(session, container_id)
