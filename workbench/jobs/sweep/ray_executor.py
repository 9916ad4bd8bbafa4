"""The Ray executor: the same tasks as Ray tasks, on a cluster or a local Ray.

Nothing is shared but Ray's object store: the driver puts each model, container, input
list (with its files) and labels file there once, as bytes; a task unpacks what it
needs into a temporary folder, runs the ordinary job against a scratch store there and
returns the files it wrote and its runs as values. The driver writes the files into the
sweep's work folder and the runs into the project's store, so the store (SQLite here,
or a team's PostgreSQL) is only ever opened by the driver. A task whose worker dies is
retried once by Ray (``max_retries=1``); a second death fails the cell with the reason.
Stopping cancels the tasks in flight (``ray.cancel(force=True)``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.jobs.sweep.shipping import (
    Bundle,
    count_inputs,
    ship_input_list,
    ship_path,
    write_atomically,
)
from workbench.jobs.sweep.tasks import (
    BENCH,
    CONVERT,
    QUANTIZE,
    BenchTask,
    ConvertTask,
    QuantizeTask,
    Task,
    TaskResult,
    run_task,
)
from workbench.store import Store
from workbench.store.transfer import RunCopy

# Set before Ray is imported: no usage report, no metrics agent traffic, no log dedup
# lines on the user's terminal. A value the user set wins.
QUIET_RAY = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_enable_metrics_collection": "0",
    "RAY_DEDUP_LOGS": "0",
}
SCRATCH_PROJECT = "default"  # the project of a worker's scratch store


@dataclass(frozen=True)
class RemoteOutcome:
    """What a Ray task sends back: its result, the file it wrote, its runs."""

    result: TaskResult
    output: bytes | None  # the container written (convert, quantize)
    runs: list[RunCopy]
    model: dict[str, Any] | None  # convert: the model as the scratch store recorded it


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


class RayExecutor:
    """Tasks as Ray tasks; their results recorded in ``store`` by this process."""

    name = "ray"

    def __init__(self, store: Store, project: str, jobs: int | None, address: str | None):
        for key, value in QUIET_RAY.items():
            os.environ.setdefault(key, value)
        try:
            import ray
        except ImportError:
            raise BadInput(
                "the ray executor needs Ray: pip install -e '.[ray]' (or pip install 'ray>=2.9')"
            ) from None
        self.ray = ray
        self.store, self.project = store, project
        self.started_here = not ray.is_initialized()
        if self.started_here:
            _start_ray(ray, address, jobs)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = jobs or max(1, cpus)
        self.remote = ray.remote(num_cpus=1, max_retries=1, retry_exceptions=False)(run_remote)
        self.template = ray.put(_scratch_template())
        self.shipped: dict[tuple[str, Path], Any] = {}  # (how, path) -> object ref
        self.inflight: dict[Any, Task] = {}

    # ---------------------------------------------------------------- submit

    def submit(self, task: Task) -> Any:
        roles, refs = [], []
        for role, path in task.paths().items():
            roles.append(role)
            refs.append(self._ship(role, path))
        extra = _option_files(task)
        for name, path in extra.items():
            roles.append(f"option:{name}")
            refs.append(self._ship("file", path))
        ref = self.remote.remote(task, self.template, roles, *refs)
        self.inflight[ref] = task
        return ref

    def _ship(self, role: str, path: Path) -> Any:
        how = "list" if role in ("calibration", "eval") else "file"
        key = (how, path.resolve())
        if key not in self.shipped:
            bundle = ship_input_list(path) if how == "list" else ship_path(path)
            self.shipped[key] = self.ray.put(bundle)
        return self.shipped[key]

    # ---------------------------------------------------------------- results

    def wait(
        self, handles: Sequence[Any], tasks: dict[Any, Task], timeout: float
    ) -> list[tuple[Any, TaskResult]]:
        ray = self.ray
        ready, rest = ray.wait(list(handles), num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        results = []
        for ref in ready:
            task = tasks[ref]
            self.inflight.pop(ref, None)
            results.append((ref, self._result(ref, task)))
        return results

    def _result(self, ref: Any, task: Task) -> TaskResult:
        from ray import exceptions as rx

        try:
            outcome: RemoteOutcome = self.ray.get(ref)
        except rx.TaskCancelledError:
            return TaskResult(task.key, task.kind, ok=False, error="cancelled")
        except rx.RayTaskError as exc:
            return TaskResult(task.key, task.kind, ok=False, error=_first_line(exc.cause or exc))
        except rx.RayError as exc:  # the worker (or its node) died, after Ray's one retry
            return TaskResult(
                task.key, task.kind, ok=False,
                error=f"its Ray worker died twice (tried again once): {_first_line(exc)}",
            )  # fmt: skip
        return _RECORDERS[task.kind](self, task, outcome)

    def stop(self) -> None:
        for ref in list(self.inflight):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # already finished, or the cluster is gone
                pass
        self.inflight.clear()

    def close(self) -> None:
        if self.started_here and self.ray.is_initialized():
            self.ray.shutdown()


def _start_ray(ray: Any, address: str | None, jobs: int | None) -> None:
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    if address is None:
        kwargs["num_cpus"] = jobs or len(os.sched_getaffinity(0))
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise BadInput(f"cannot start {where}: {_first_line(exc)}") from None


def _scratch_template() -> bytes:
    """An empty store at the newest schema, as bytes: each task starts from a copy."""
    from workbench.store import open_store

    with tempfile.TemporaryDirectory(prefix="workbench-sweep-") as folder:
        path = Path(folder) / "store.db"
        open_store(f"sqlite:///{path}").close()  # the last close folds the WAL in
        return path.read_bytes()


def _option_files(task: Task) -> dict[str, Path]:
    """Quantize options naming a file (override encodings): shipped too."""
    if not isinstance(task, QuantizeTask):
        return {}
    from workbench.options import QUANTIZER_OPTIONS

    return {
        o.name: Path(task.options[o.name])
        for o in QUANTIZER_OPTIONS
        if o.path and task.options.get(o.name)
    }


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- on a worker


def run_remote(task: Task, template: bytes, roles: list[str], *bundles: Bundle) -> RemoteOutcome:
    """A task on a Ray worker: unpack, run the job on a scratch store, send back."""
    from workbench.jobs.compute import use_threads
    from workbench.store import open_store

    use_threads(1)
    with tempfile.TemporaryDirectory(prefix="workbench-sweep-") as folder:
        tmp = Path(folder)
        (tmp / "store.db").write_bytes(template)
        scratch = open_store(f"sqlite:///{tmp / 'store.db'}")
        try:
            local = _localized(task, tmp, dict(zip(roles, bundles, strict=True)))
            result = run_task(scratch, SCRATCH_PROJECT, local)
            output = getattr(local, "output", None)
            written = output.read_bytes() if output is not None and output.is_file() else None
            return RemoteOutcome(
                result=result,
                output=written if result.ok else None,
                runs=_exported_runs(scratch),
                model=_model_info(scratch, result) if task.kind == CONVERT else None,
            )
        finally:
            scratch.close()


def _localized(task: Task, tmp: Path, bundles: dict[str, Bundle]) -> Task:
    """The task with its paths in this worker's folder."""
    paths = {
        role: bundle.unpack(tmp / "in" / role.replace(":", "_"))
        for role, bundle in bundles.items()
        if not role.startswith("option:")
    }
    changes: dict[str, Any] = dict(paths)
    if isinstance(task, ConvertTask):
        changes["recorded_source"] = task.source  # the manifest names the driver's file
    if isinstance(task, QuantizeTask):
        changes["recorded_container"] = task.container
    if isinstance(task, (ConvertTask, QuantizeTask)):
        changes["output"] = tmp / "out" / task.output.name
        changes["output"].parent.mkdir(parents=True, exist_ok=True)
    if isinstance(task, QuantizeTask):
        options = dict(task.options)
        for role, bundle in bundles.items():
            if role.startswith("option:"):
                options[role.split(":", 1)[1]] = str(
                    bundle.unpack(tmp / "in" / role.replace(":", "_"))
                )
        changes["options"] = options
    return replace(task, **changes)


def _exported_runs(scratch: Store) -> list[RunCopy]:
    from workbench.store.transfer import export_runs

    with scratch.read() as session:
        return export_runs(session)


def _model_info(scratch: Store, result: TaskResult) -> dict[str, Any] | None:
    from workbench.store.queries import find_model

    if result.model_id is None:
        return None
    with scratch.read() as session:
        model = find_model(session, result.model_id)
        if model is None:
            return None
        return {
            "name": model.name,
            "sha256": model.sha256,
            "fmt": model.format,
            "opset": model.opset,
            "inputs": model.inputs,
            "param_count": model.param_count,
            "macs": model.macs,
        }


# --------------------------------------------------------------------------- on the driver


def _record_convert(ex: RayExecutor, task: ConvertTask, outcome: RemoteOutcome) -> TaskResult:
    from workbench.jobs.artifacts import ModelInfo, record_container, record_model

    result = outcome.result
    if not result.ok or outcome.output is None or outcome.model is None:
        return result
    write_atomically(task.output, outcome.output)
    info = ModelInfo(source_path=str(task.source.resolve()), **outcome.model)
    model_id = record_model(ex.store, ex.project, info)
    container_id = record_container(ex.store, ex.project, task.output, model_id=model_id)
    return replace(result, model_id=model_id, container_id=container_id)


def _record_quantize(ex: RayExecutor, task: QuantizeTask, outcome: RemoteOutcome) -> TaskResult:
    from workbench.jobs.artifacts import (
        model_id_of_container,
        record_calibration_set,
        record_container,
    )

    float_id = record_container(ex.store, ex.project, task.container)
    model_id = model_id_of_container(ex.store, float_id)
    if outcome.output is not None:
        write_atomically(task.output, outcome.output)
        record_container(ex.store, ex.project, task.output, model_id=model_id)
    calibration_id = record_calibration_set(
        ex.store, ex.project, task.calibration, count_inputs(task.calibration)
    )
    run_ids = _import(ex, outcome.runs, model_id, calibration_id)
    quantize_runs = [i for i, c in zip(run_ids, outcome.runs, strict=True) if c.kind == QUANTIZE]
    return replace(outcome.result, run_id=quantize_runs[-1] if quantize_runs else None)


def _record_bench(ex: RayExecutor, task: BenchTask, outcome: RemoteOutcome) -> TaskResult:
    from workbench.jobs.artifacts import model_id_of_container, record_container

    record_container(ex.store, ex.project, task.reference)
    container_id = record_container(ex.store, ex.project, task.container)
    run_ids = _import(ex, outcome.runs, model_id_of_container(ex.store, container_id), None)
    bench_runs = [i for i, c in zip(run_ids, outcome.runs, strict=True) if c.kind == BENCH]
    return replace(outcome.result, run_id=bench_runs[-1] if bench_runs else None)


def _import(
    ex: RayExecutor, runs: list[RunCopy], model_id: int | None, calibration_id: int | None
) -> list[int]:
    from workbench.store.queries import get_project
    from workbench.store.transfer import import_run

    with ex.store.write() as session:
        project = get_project(session, ex.project)
        return [
            import_run(session, project, copy, model_id=model_id, calibration_set_id=calibration_id)
            for copy in runs
        ]


_RECORDERS: dict[str, Any] = {
    CONVERT: _record_convert,
    QUANTIZE: _record_quantize,
    BENCH: _record_bench,
}
