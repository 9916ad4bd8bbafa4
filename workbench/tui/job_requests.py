"""What the job forms ask for, and how each request runs a job (on a worker thread).

A request is a frozen value filled by a form. ``run`` calls the same job the
CLI calls, with a progress callback, and returns a ``JobOutcome``; ``command``
is the equivalent ``workbench`` command line, recorded with the run so that
a job launched from the TUI can be replayed from a shell.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.store import Store
from workbench.tui.job_runner import JobOutcome, Progress

RUNTIMES = ("cpu", "gpu", "gpu_fp16", "dsp", "aip")
QUANTIZERS = ("tf", "enhanced", "symmetric", "percentile")


def checked_path(value: str, what: str, *, must_exist: bool = True) -> str:
    """A form's path field, expanded; ``BadInput`` naming the field when it is unusable."""
    text = value.strip()
    if not text:
        raise BadInput(f"{what}: give a path")
    path = Path(text).expanduser()
    if must_exist and not path.exists():
        raise BadInput(f"{what}: {path} does not exist")
    return str(path)


@dataclass(frozen=True)
class ConvertRequest:
    model: str
    output: str
    input_dims: dict[str, list[int]] = field(default_factory=dict)

    kind = "convert"

    @property
    def title(self) -> str:
        return f"import {Path(self.model).name}"

    def command(self, project: str) -> str:
        argv = ["workbench", "--project", project, "convert", self.model, "-o", self.output]
        for name, dims in self.input_dims.items():
            argv += ["--input-dim", name, ",".join(str(d) for d in dims)]
        return shlex.join(argv)

    def run(self, store: Store, project: str, progress: Progress) -> JobOutcome:
        from workbench.jobs.convert import convert_model

        progress("convert", 0, 1)
        result = convert_model(
            store, project, self.model, self.output,
            input_dims=self.input_dims, command=self.command(project),
        )  # fmt: skip
        progress("convert", 1, 1)
        return JobOutcome(
            f"imported {Path(self.model).name}: {result.layers} layers, "
            f"{result.param_count:,} parameters → {result.output}",
            refresh=("models",),
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


@dataclass(frozen=True)
class QuantizeRequest:
    container: str
    input_list: str
    output: str
    options: dict[str, Any]  # keyword arguments of QuantOptions
    analyze: bool = True

    kind = "quantize"

    @property
    def title(self) -> str:
        return f"quantize {Path(self.container).name}"

    def quant_options(self) -> Any:
        from workbench.jobs.quantize import QuantOptions

        return QuantOptions(**self.options)  # raises BadInput for a bad value

    def command(self, project: str) -> str:
        o = self.quant_options()
        argv = ["workbench", "--project", project, "quantize", self.container,
                "--input-list", self.input_list, "-o", self.output,
                "--param-quantizer", o.param_quantizer, "--act-quantizer", o.act_quantizer,
                "--weights-bitwidth", str(o.weights_bitwidth),
                "--act-bitwidth", str(o.act_bitwidth), "--bias-bitwidth", str(o.bias_bitwidth)]  # fmt: skip
        if "percentile" in (o.param_quantizer, o.act_quantizer):
            argv += ["--percentile", f"{o.percentile:g}"]
        if o.per_channel:
            argv.append("--per-channel")
        if o.algorithms:
            argv += ["--algorithms", ",".join(o.algorithms)]
        if o.enable_hta:
            argv.append("--enable-hta")
        if o.override_params:
            argv += ["--override-params", o.override_params]
        if not self.analyze:
            argv.append("--no-analysis")
        return shlex.join(argv)

    def run(self, store: Store, project: str, progress: Progress) -> JobOutcome:
        from workbench.jobs.quantize import quantize_job

        result = quantize_job(
            store, project, self.container, self.input_list, self.output,
            self.quant_options(), command=self.command(project), progress=progress,
            analyze=self.analyze,
        )  # fmt: skip
        sqnr = f", SQNR {result.sqnr_db:.2f} dB" if result.sqnr_db is not None else ""
        return JobOutcome(
            f"quantized → {result.output} (run {result.run_id}{sqnr})",
            refresh=("quantize", "models"),
            run_ids=(result.run_id,),
        )


@dataclass(frozen=True)
class BenchRequest:
    containers: tuple[str, ...]
    runtimes: tuple[str, ...]
    input_list: str
    iterations: int = 10
    batch: int = 1
    cpu_fxp: bool = False
    labels: str | None = None

    kind = "bench"

    @property
    def title(self) -> str:
        names = ", ".join(Path(c).name for c in self.containers)
        return f"bench {names} on {','.join(self.runtimes)}"

    def command(self, project: str) -> str:
        argv = ["workbench", "--project", project, "bench", *self.containers,
                "--runtimes", ",".join(self.runtimes), "--input-list", self.input_list,
                "--iterations", str(self.iterations)]  # fmt: skip
        if self.batch != 1:
            argv += ["--batch", str(self.batch)]
        if self.cpu_fxp:
            argv.append("--cpu-fxp")
        if self.labels:
            argv += ["--labels", self.labels]
        return shlex.join(argv)

    def run(self, store: Store, project: str, progress: Progress) -> JobOutcome:
        from workbench.jobs.bench import bench_job

        result = bench_job(
            store, project, list(self.containers), list(self.runtimes), self.input_list,
            iterations=self.iterations, batch=self.batch, cpu_fxp=self.cpu_fxp,
            labels_path=self.labels, command=self.command(project), progress=progress,
        )  # fmt: skip
        counts: dict[str, int] = {}
        for row in result.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        return JobOutcome(
            f"benchmarked {len(result.rows)} combination(s): {summary}",
            refresh=("bench", "models"),
            run_ids=tuple(result.run_ids),
        )


@dataclass(frozen=True)
class AdviseRequest:
    container: str
    input_list: str
    labels: str | None = None
    quantized: str | None = None
    iterations: int = 10
    max_accuracy_drop: float = 1.0

    kind = "advise"

    @property
    def title(self) -> str:
        return f"advise {Path(self.container).name}"

    def command(self, project: str) -> str:
        argv = ["workbench", "--project", project, "advise", self.container,
                "--input-list", self.input_list, "--iterations", str(self.iterations),
                "--max-accuracy-drop", f"{self.max_accuracy_drop:g}"]  # fmt: skip
        if self.labels:
            argv += ["--labels", self.labels]
        if self.quantized:
            argv += ["--quantized", self.quantized]
        return shlex.join(argv)

    def run(self, store: Store, project: str, progress: Progress) -> JobOutcome:
        from workbench.jobs.advise import advise_job

        result = advise_job(
            store, project, self.container, self.input_list, labels_path=self.labels,
            quantized_path=self.quantized, iterations=self.iterations,
            max_accuracy_drop=self.max_accuracy_drop, command=self.command(project),
            progress=progress,
        )  # fmt: skip
        return JobOutcome(
            f"advice ready; saved as experiment {result.experiment}",
            refresh=("quantize", "bench", "experiments", "models"),
            run_ids=result.run_ids,
            payload=result,
        )
