"""``workbench report RUN|EXPERIMENT -o report.html``: one self-contained HTML file to
send to someone who will not open a terminal.

``build_report`` gathers what the store holds about a run or an experiment: the guide's
table measured and the recommendation (an advise or demo experiment), every benchmark
run, accuracy against size and init with the Pareto front, each quantization run's
options, results, per-layer SQNR and value histograms against the encodings, and the
environment. ``write_report`` renders it (``workbench/report/html.py``: inline CSS and
SVG, no script, nothing fetched) and writes it atomically.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.engine.files import refuse_overwriting, write_atomically
from workbench.errors import BadInput, WorkbenchError
from workbench.jobs.browse import RunView, run_view
from workbench.jobs.compare import LayerOverlay, layer_overlay
from workbench.jobs.plots import LayerHistograms, Tradeoff, layer_histograms, tradeoff_of
from workbench.store import Store
from workbench.store.queries import looks_like_id
from workbench.vocabulary import BENCH, DEBUG, QUANTIZE, SUCCEEDED

HISTOGRAM_LAYERS = 8  # per quantization run of an experiment: its worst layers
HISTOGRAM_LAYERS_ONE_RUN = 60  # a report of one quantization run

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class QuantSection:
    view: RunView
    histograms: tuple[LayerHistograms, ...]  # the layers shown, network order
    histograms_left_out: int = 0


@dataclass(frozen=True)
class ReportData:
    title: str
    project: str
    subject: str  # "experiment NAME" or "run ID"
    note: str
    generated_at: datetime
    environment: tuple[tuple[str, str], ...]
    advice: Any | None = None  # workbench.jobs.advise.Advice
    advice_notes: tuple[str, ...] = ()
    bench: tuple[RunView, ...] = ()
    quantize: tuple[QuantSection, ...] = ()
    tradeoff: Tradeoff | None = None
    overlay: LayerOverlay | None = None
    other_runs: tuple[RunView, ...] = field(default=())  # failed or interrupted quantizations
    debug: tuple[RunView, ...] = field(default=())  # debug runs: first divergence, layer table


@dataclass(frozen=True)
class ReportResult:
    output: str
    size_bytes: int
    subject: str
    runs: int
    charts: int


def parse_target(target: str, experiment: str | None) -> tuple[int | None, str | None]:
    """``RUN|EXPERIMENT`` as (run id, experiment name): digits are a run id, unless
    ``--experiment`` names the experiment."""
    if experiment is not None:
        if target:
            raise BadInput("give a run id or --experiment NAME, not both")
        return None, experiment
    if not target:
        raise BadInput("give a run id or an experiment name (see: workbench experiment list)")
    return (int(target), None) if looks_like_id(target) else (None, target)


def build_report(
    store: Store,
    project: str,
    *,
    run_id: int | None = None,
    experiment: str | None = None,
    progress: Progress | None = None,
) -> ReportData:
    """What the report of a run or an experiment holds (see the module doc)."""
    from workbench.jobs.experiments import show_experiment

    note = ""
    if experiment is not None:
        detail = show_experiment(store, project, experiment)
        ids = sorted(detail.run_ids)
        note, subject = detail.note, f"experiment {experiment}"
        if not ids:
            raise BadInput(f"experiment {experiment!r} holds no runs: nothing to report")
    else:
        assert run_id is not None
        ids, subject = [run_id], f"run {run_id}"
    views = []
    for k, i in enumerate(ids, start=1):
        views.append(run_view(store, i))
        if progress:
            progress("read runs", k, len(ids))
    project = views[0].detail.project
    bench = tuple(v for v in views if v.detail.kind == BENCH)
    quantized = [v for v in views if v.detail.kind == QUANTIZE]
    done = [v for v in quantized if v.detail.status == SUCCEEDED]
    limit = HISTOGRAM_LAYERS if experiment is not None else HISTOGRAM_LAYERS_ONE_RUN
    advice, advice_notes = _advice(store, project, experiment, bench)
    measured = [v for v in bench if v.detail.status == SUCCEEDED]
    return ReportData(
        title=f"Quantization report: {subject}",
        project=project,
        subject=subject,
        note=note,
        generated_at=datetime.now(timezone.utc),
        environment=environment(store),
        advice=advice,
        advice_notes=advice_notes,
        bench=bench,
        quantize=tuple(_quant_section(v, limit) for v in done),
        tradeoff=tradeoff_of(measured) if len(measured) > 1 else None,
        overlay=_overlay(done),
        other_runs=tuple(v for v in quantized if v.detail.status != SUCCEEDED),
        debug=tuple(v for v in views if v.detail.kind == DEBUG),
    )


def write_report(
    store: Store,
    project: str,
    output: str | Path,
    *,
    run_id: int | None = None,
    experiment: str | None = None,
    progress: Progress | None = None,
) -> ReportResult:
    """Build the report and write it to ``output`` (a temporary file, then renamed)."""
    from workbench.report.html import render

    target = Path(output)
    if target.is_dir():
        raise BadInput(f"{target} is a folder: give the report's file name (-o report.html)")
    if not target.parent.is_dir():
        raise BadInput(f"no folder {target.parent} for the report")
    refuse_overwriting(target, store.files)  # -o workbench.db would replace the store
    data = build_report(store, project, run_id=run_id, experiment=experiment, progress=progress)
    if progress:
        progress("draw", 0, 1)
    page = render(data)
    write_atomically(target, page.encode("utf-8"))
    if progress:
        progress("draw", 1, 1)
    return ReportResult(
        output=str(target),
        size_bytes=target.stat().st_size,
        subject=data.subject,
        runs=len(data.bench) + len(data.quantize) + len(data.other_runs) + len(data.debug),
        charts=page.count('<svg class="chart"'),
    )


def environment(store: Store) -> tuple[tuple[str, str], ...]:
    """Where the report was made: versions, machine, store."""
    import numpy

    pairs = [
        ("workbench", __version__),
        ("python", sys.version.split()[0]),
        ("numpy", numpy.__version__),
        ("platform", platform.platform()),
        ("machine", f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs)"),
        ("store", store.description),
    ]
    try:
        import onnx

        pairs.insert(3, ("onnx", onnx.__version__))
    except ImportError:  # pragma: no cover - a core dependency
        pass
    return tuple(pairs)


def _advice(
    store: Store, project: str, experiment: str | None, bench: Sequence[RunView]
) -> tuple[Any | None, tuple[str, ...]]:
    if experiment is None or not bench:
        return None, ()
    from workbench.jobs.advise import saved_advice

    try:
        result = saved_advice(store, project, experiment)
    except WorkbenchError as exc:
        return None, (f"no guide table: {exc}",)
    return result.advice, tuple(result.notes)


def _quant_section(view: RunView, limit: int) -> QuantSection:
    found = layer_histograms(view.detail.layers)
    if len(found) <= limit:
        return QuantSection(view, tuple(found))
    worst = sorted(found, key=lambda la: (la.sqnr_db is None, la.sqnr_db or 0.0))[:limit]
    chosen = {la.index for la in worst}
    shown = tuple(la for la in found if la.index in chosen)
    return QuantSection(view, shown, len(found) - len(shown))


def _overlay(views: Sequence[RunView]) -> LayerOverlay | None:
    from workbench.jobs.browse import compare_record

    if not views:
        return None
    return layer_overlay([compare_record(v) for v in views])
