"""The demo: a whole project built end to end from the bundled shapes classifier.

In a project of its own (``demo``, then ``demo-2``, ``demo-3``... so each run is a
fresh project; ``replace=True`` deletes the named project first and builds it again),
inside a work folder (default: ``demo/<project>`` in the user data directory, next to
the default store):

1. the bundled validation and calibration images are written as ``.raw`` files with
   vendor input lists, and the validation labels as a labels file;
2. ``demo.onnx`` is converted to ``demo.dlc``;
3. it is quantized four ways: tf and enhanced encodings, each with 8- and 32-bit biases
   (all with ``--enable-hta``, so the AIP runtime can run them);
4. the float container and the four quantized ones are benched on every runtime
   (and the CPU in fixed-point mode) against the validation set and its labels;
5. the advisor's table is built from those measurements, for the quantized container
   with the best DSP accuracy, and everything is saved as an experiment.

The project becomes the one used last, so ``workbench tui`` opens it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import BadInput, NotFound
from workbench.jobs.advise import Advice, build_advice, dsp_accuracy, save_advice
from workbench.jobs.bench import BenchRequest, BenchRow, bench_job
from workbench.options import BenchOptions, QuantOptions
from workbench.store import Store
from workbench.vocabulary import CPU, ENHANCED, TF

Progress = Callable[[str, int, int], None]

DEMO_PROJECT = "demo"
VARIANTS = (  # (file stem, param/act quantizer, bias bitwidth)
    ("demo_tf_bias8", TF, 8),
    ("demo_tf_bias32", TF, 32),
    ("demo_enhanced_bias8", ENHANCED, 8),
    ("demo_enhanced_bias32", ENHANCED, 32),
)


@dataclass(frozen=True)
class QuantizedVariant:
    name: str
    path: str
    run_id: int
    size_bytes: int
    sqnr_db: float | None


@dataclass(frozen=True)
class DemoResult:
    project: str
    workdir: str
    float_container: str
    validation_list: str
    calibration_list: str
    labels: str
    variants: tuple[QuantizedVariant, ...]
    bench: tuple[BenchRow, ...]
    advice: Advice
    experiment: str
    float_accuracy: float | None
    seconds: float
    tui_command: str


def demo_job(
    store: Store,
    *,
    workdir: str | Path | None = None,
    project: str | None = None,
    replace: bool = False,
    iterations: int = 5,
    samples: int | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Build the demo project (see the module doc); ``samples`` limits the validation set.

    ``project`` names it (default: a fresh ``demo-N``); an existing project of that name
    is refused unless ``replace``, which deletes it first."""
    import time

    from workbench.data import (
        demo_model_path,
        load_demo_images,
        load_demo_labels,
        write_input_list,
        write_labels,
    )
    from workbench.jobs.convert import convert_model
    from workbench.jobs.quantize import QuantizeRequest, quantize_job

    started = time.perf_counter()
    model = demo_model_path()
    if not model.is_file():
        raise NotFound(
            f"the bundled demo model is missing ({model}); rebuild it with "
            "`python -m workbench.data.make_demo`"
        )
    project = _fresh_project(store, project, replace)
    work = Path(workdir).resolve() if workdir is not None else default_workdir(project, replace)
    if work.exists() and not work.is_dir():
        raise BadInput(f"{work} exists and is not a folder")
    work.mkdir(parents=True, exist_ok=True)

    step = _Steps(progress, total=3 + len(VARIANTS))
    images = load_demo_images("validation")
    labels = load_demo_labels()
    if samples is not None:
        images, labels = images[:samples], labels[:samples]
    validation = write_input_list(images, work / "validation")
    labels_path = write_labels(labels, work / "validation" / "labels.txt")
    calibration = write_input_list(load_demo_images("calibration"), work / "calibration")
    step.done("data")

    float_dlc = work / "demo.dlc"
    convert_model(store, project, model, float_dlc, command="workbench demo")
    step.done("convert")

    variants = []
    for stem, scheme, bias in VARIANTS:
        options = QuantOptions(
            param_quantizer=scheme, act_quantizer=scheme, bias_bitwidth=bias, enable_hta=True
        )
        out = work / f"{stem}.dlc"
        request = QuantizeRequest(float_dlc, calibration, out, options, command="workbench demo")
        q = quantize_job(store, project, request)
        variants.append(QuantizedVariant(stem, str(out), q.run_id, q.size_bytes, q.sqnr_db))
        step.done(f"quantize {stem}")

    measure = BenchOptions(iterations=iterations, cpu_fxp=True, labels=str(labels_path))
    containers = [float_dlc, *(Path(v.path) for v in variants)]
    bench_request = BenchRequest(
        containers, validation, measure, command="workbench demo", tags=("demo",)
    )
    bench = bench_job(store, project, bench_request)
    step.done("bench")

    best = _best_variant(bench.rows, variants)
    advice = build_advice(bench, float_dlc, best.path)
    run_ids = [v.run_id for v in variants] + list(bench.run_ids)
    name = save_advice(store, project, None, advice, run_ids, "demo")
    float_row = next(
        (r for r in bench.rows if r.container == str(float_dlc) and r.runtime == CPU), None
    )
    return DemoResult(
        project=project,
        workdir=str(work),
        float_container=str(float_dlc),
        validation_list=str(validation),
        calibration_list=str(calibration),
        labels=str(labels_path),
        variants=tuple(variants),
        bench=bench.rows,
        advice=advice,
        experiment=name,
        float_accuracy=float_row.accuracy.get("label_accuracy") if float_row else None,
        seconds=time.perf_counter() - started,
        tui_command="workbench tui",
    )


def _best_variant(rows: tuple[BenchRow, ...], variants: list[QuantizedVariant]) -> QuantizedVariant:
    """The variant with the best accuracy on the DSP (label accuracy, then SQNR)."""
    return max(variants, key=lambda v: dsp_accuracy(rows, v.path))


def _fresh_project(store: Store, name: str | None, replace: bool) -> str:
    """Create the demo's project: ``name``, or the first free ``demo``/``demo-N``."""
    from workbench.jobs.projects import create_project, delete_project, list_projects

    existing = {p.name for p in list_projects(store, include_archived=True)}
    if name is None and not replace:
        number = 1
        while (name := DEMO_PROJECT if number == 1 else f"{DEMO_PROJECT}-{number}") in existing:
            number += 1
    name = name or DEMO_PROJECT
    if name in existing:
        if not replace:
            raise BadInput(
                f"project {name!r} exists: --replace deletes it and builds it again "
                "(or leave out --project: the demo picks a fresh name)"
            )
        delete_project(store, name)
    create_project(store, name)
    return name


def default_workdir(project: str, replace: bool = False) -> Path:
    """``demo/<project>`` in the user data directory; a folder another store's demo
    left there is kept (a numbered one is used) unless ``replace``."""
    from workbench.store.database import data_dir

    base = data_dir() / "demo"
    work = base / project
    number = 2
    while not replace and work.exists() and any(work.iterdir()):
        work = base / f"{project}.{number}"
        number += 1
    return work


class _Steps:
    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.count = progress, total, 0

    def done(self, what: str) -> None:
        self.count += 1
        if self.progress:
            self.progress(what, self.count, self.total)
