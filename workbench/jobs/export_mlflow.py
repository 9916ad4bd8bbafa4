"""``workbench export mlflow``: runs logged to an MLflow tracking server, for teams whose
dashboards live there (extra ``mlflow``: ``pip install -e '.[mlflow]'``).

Each workbench run becomes one MLflow run in one MLflow experiment: its options as
params, its measured numbers as metrics (accuracy, init and device init, init memory,
latency, size: every finite number the store holds for it, so new measurements are
logged without a change here), its container and its report (``workbench report``)
as artifacts, and tags that lead back (``workbench.run_id``, project, kind, status,
command). A run already exported to that experiment (same ``workbench.run_id`` tag) is
skipped, so exporting again only adds what is new.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.store import Store
from workbench.store.queries import looks_like_id
from workbench.textsafe import visible
from workbench.vocabulary import INTERRUPTED, QUANTIZE, SUCCEEDED

INSTALL = "pip install -e '.[mlflow]' (or: pip install mlflow-skinny)"
RUN_ID_TAG = "workbench.run_id"
MAX_PARAM = 6000  # MLflow's limit on a param value
# Details that are ids or bookkeeping, not measurements.
_NOT_METRICS = {"run_id", "output_container_id", "calibration_set_id", "reference_container_id",
                "batch", "iterations", "weights_bitwidth", "act_bitwidth", "bias_bitwidth"}  # fmt: skip

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MlflowExport:
    tracking_uri: str
    experiment: str  # the MLflow experiment
    exported: tuple[int, ...]  # workbench run ids logged now
    skipped: tuple[int, ...]  # already there
    mlflow_run_ids: tuple[str, ...]


def export_mlflow(
    store: Store,
    project: str,
    *,
    tracking_uri: str,
    run_ids: Sequence[int] = (),
    experiment: str | None = None,
    mlflow_experiment: str | None = None,
    containers: bool = True,
    progress: Progress | None = None,
) -> MlflowExport:
    """Log the runs (``run_ids``, or those of ``experiment``) to MLflow (see the module doc)."""
    if store.is_named_by(tracking_uri):  # MLflow would add its tables (and migrations) to it
        raise BadInput(
            f"--tracking-uri {visible(tracking_uri)} is the workbench store itself "
            f"({store.description}); MLflow would write its own tables into it: give "
            "another database (sqlite:///mlflow.db) or a server"
        )
    client = _client(tracking_uri)
    ids = _run_ids(store, project, run_ids, experiment)
    name = mlflow_experiment or f"workbench/{project}" + (f"/{experiment}" if experiment else "")
    experiment_id = _experiment_id(client, name)
    done = _already_exported(client, experiment_id)
    exported, skipped, logged = [], [], []
    for k, run_id in enumerate(ids, start=1):
        if run_id in done:
            skipped.append(run_id)
        else:
            logged.append(_log_run(client, experiment_id, store, run_id, containers))
            exported.append(run_id)
        if progress:
            progress("export", k, len(ids))
    return MlflowExport(tracking_uri, name, tuple(exported), tuple(skipped), tuple(logged))


# --------------------------------------------------------------------------- MLflow


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise BadInput(f"MLflow is not installed: {INSTALL}") from None
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        client.search_experiments(max_results=1)  # opens the store: a bad URI fails here
    except Exception as exc:
        reason = _first_line(exc)
        if "MLFLOW_ALLOW_FILE_STORE" in reason:  # MLflow 3 keeps file stores behind an opt-in
            reason = ("MLflow refuses file stores unless MLFLOW_ALLOW_FILE_STORE=true is set; "
                      "set it, or use a database (sqlite:///mlflow.db) or a server URI")  # fmt: skip
        raise BadInput(f"MLflow tracking URI {tracking_uri}: {reason}") from None
    return client


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name)


def _already_exported(client: Any, experiment_id: str) -> set[int]:
    done: set[int] = set()
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        for run in page:
            value = run.data.tags.get(RUN_ID_TAG, "")
            if looks_like_id(value):
                done.add(int(value))
        token = page.token
        if not token:
            return done


def _log_run(client: Any, experiment_id: str, store: Store, run_id: int, containers: bool) -> str:
    from workbench.jobs.browse import run_view
    from workbench.jobs.report import write_report

    view = run_view(store, run_id)
    d = view.detail
    container = view.output_container if d.kind == QUANTIZE else view.container
    tags = {
        RUN_ID_TAG: str(d.id),
        "workbench.project": d.project,
        "workbench.kind": d.kind,
        "workbench.status": d.status,
        "workbench.model": d.model or "",
        "workbench.container": container.path if container else "",
        "workbench.command": (d.command or "")[:MAX_PARAM],
        "workbench.host": d.host,
    }
    label = Path(container.path).name if container else "no container"
    name = f"{d.kind} {d.id} · {label}" + (f" · {d.runtime}" if d.runtime else "")
    run = client.create_run(experiment_id, run_name=name, tags=tags,
                            start_time=int(d.started_at.timestamp() * 1000))  # fmt: skip
    mlflow_id = run.info.run_id
    from mlflow.entities import Metric, Param

    stamp = int((d.finished_at or d.started_at).timestamp() * 1000)
    params = [Param(k, v) for k, v in sorted(params_of(view).items())]
    metrics = [Metric(k, v, stamp, 0) for k, v in sorted(metrics_of(view).items())]
    for i in range(0, max(len(params), len(metrics)), 100):  # MLflow takes 100 params a batch
        client.log_batch(mlflow_id, metrics=metrics[i : i + 100], params=params[i : i + 100])
    if containers and container is not None and Path(container.path).is_file():
        client.log_artifact(mlflow_id, container.path, "container")
    with tempfile.TemporaryDirectory(prefix="workbench-mlflow-") as tmp:
        report = Path(tmp) / "report.html"
        write_report(store, d.project, report, run_id=d.id)
        client.log_artifact(mlflow_id, str(report))
    status = {SUCCEEDED: "FINISHED", INTERRUPTED: "KILLED"}.get(d.status, "FAILED")
    end = int(d.finished_at.timestamp() * 1000) if d.finished_at else None
    client.set_terminated(mlflow_id, status=status, end_time=end)
    return mlflow_id


# --------------------------------------------------------------------------- what is logged


def params_of(view: Any) -> dict[str, str]:
    """A run's options (quantize: every quantizer option; bench: runtime, mode, batch...)."""
    d = view.detail
    det = d.details
    if d.kind == QUANTIZE:
        values: dict[str, Any] = dict(view.options)
    else:
        values = {k: det.get(k) for k in ("runtime", "cpu_fxp", "batch", "iterations")}
        values.update({f"option.{k}": v for k, v in (det.get("options") or {}).items()})
    params = {}
    for key, value in values.items():
        text = _param_text(value)
        if text is not None:
            params[_key(key)] = text[:MAX_PARAM]
    return params


def metrics_of(view: Any) -> dict[str, float]:
    """Every finite number measured for a run: accuracy, init (and its phases), init
    memory, latency, file size, duration, peak memory; quantize: SQNR with weights only
    and activations only."""
    d = view.detail
    found: dict[str, float] = {}
    for key, value in _numbers(d.details, exclude=_NOT_METRICS):
        found[key] = value
    for phase, ms in (d.details.get("init_breakdown") or {}).items():
        if _finite(ms):
            found[f"init_{phase}_ms"] = float(ms)
    sens = (view.report or {}).get("sensitivity") or {}
    for key in ("weights_only_sqnr_db", "activations_only_sqnr_db"):
        if _finite(sens.get(key)):
            found[key] = float(sens[key])
    for key, value in (("duration_s", d.duration_s), ("peak_memory_bytes", d.peak_memory_bytes)):
        if _finite(value):
            found[key] = float(value)
    out = view.output_container if d.kind == QUANTIZE else None
    if out is not None:
        found["container_size_bytes"] = float(out.size_bytes)
    return {_key(k): v for k, v in found.items()}


def _numbers(values: Mapping[str, Any], exclude: set[str]) -> Iterator[tuple[str, float]]:
    for key, value in values.items():
        if key in exclude or isinstance(value, bool) or not _finite(value):
            continue
        yield key, float(value)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _param_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        import json

        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _key(key: str) -> str:
    """A name MLflow accepts: letters, digits, and _ - . / and space."""
    return re.sub(r"[^\w\-./ ]", "_", key)[:250]


def _run_ids(
    store: Store, project: str, run_ids: Sequence[int], experiment: str | None
) -> list[int]:
    if experiment is not None and run_ids:
        raise BadInput("give run ids or --experiment NAME, not both")
    if experiment is not None:
        from workbench.jobs.experiments import show_experiment

        ids = sorted(show_experiment(store, project, experiment).run_ids)
        if not ids:
            raise BadInput(f"experiment {experiment!r} holds no runs: nothing to export")
        return ids
    if not run_ids:
        raise BadInput("give run ids or --experiment NAME (see: workbench experiment list)")
    from workbench.jobs.runs import summaries

    known = {s.id for s in summaries(store, run_ids)}
    missing = [i for i in run_ids if i not in known]
    if missing:
        raise BadInput(f"no run {', '.join(map(str, missing))} (see: workbench runs list)")
    return list(dict.fromkeys(run_ids))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
