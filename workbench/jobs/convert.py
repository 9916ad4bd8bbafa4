"""Convert: import a model file into a float container and record both in the store."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.engine.container import Container, make_manifest, write_container
from workbench.engine.files import refuse_overwriting
from workbench.engine.graph import MAX_TENSOR_ELEMENTS
from workbench.engine.graph_checks import check_importable
from workbench.engine.limits import available_memory, check_onnx_fits, check_tflite_fits
from workbench.engine.onnx_import import import_onnx
from workbench.engine.summary import summarize
from workbench.engine.tf_import import import_tensorflow, saved_model_dir, tensorflow_source_kind
from workbench.engine.tflite import TfliteImport, load_tflite
from workbench.errors import BadInput, NotFound
from workbench.jobs.artifacts import ModelInfo, record_container, record_model, source_sha256
from workbench.jobs.leftovers import remove_leftover_temp_files
from workbench.jobs.metric_choice import decision_metric
from workbench.store import Store
from workbench.store.queries import get_project
from workbench.textsafe import visible


@dataclass(frozen=True)
class ConvertResult:
    model_id: int
    container_id: int
    output: str
    size_bytes: int
    layers: int
    param_count: int
    macs: int
    seconds: float
    quantized: bool = False  # a quantized TFLite model: its own encodings kept
    metric: str | None = None  # the model's decision metric, proposed from its outputs
    metric_reason: str | None = None
    # What the import changed that the user should know (float16 widened to float32, ...).
    notes: tuple[str, ...] = ()


def command_line() -> str:
    """The command that is running, as it would be typed (for manifests and runs)."""
    return shlex.join(["workbench", *sys.argv[1:]]) if sys.argv else "workbench"


def workbench_command(project: str, *argv: str | Path) -> str:
    """The ``workbench`` command line that runs ``argv`` in ``project`` (for a job started
    elsewhere than the shell, so that its run can be replayed from one)."""
    return shlex.join(["workbench", "--project", project, *(str(a) for a in argv)])


@dataclass(frozen=True)
class Recorded:
    """How a convert is recorded: its command line, and the model's path as the manifest
    names it when the file converted is a copy (a sweep's Ray worker)."""

    command: str | None = None
    source: str | Path | None = None


@dataclass(frozen=True)
class ConvertRequest:
    """What ``convert_model`` is asked, as one value (the TUI's import form fills it)."""

    model: str
    output: str
    input_dims: dict[str, list[int]] = field(default_factory=dict)
    command: str | None = None

    kind = "convert"

    def command_line(self, project: str) -> str:
        dims = [a for name, d in self.input_dims.items() for a in ("--input-dim", name, _dims(d))]
        return workbench_command(project, "convert", self.model, "-o", self.output, *dims)


def _dims(shape: Sequence[int]) -> str:
    return ",".join(str(d) for d in shape)


def convert_model(
    store: Store,
    project: str,
    source: str | Path,
    output: str | Path,
    *,
    input_dims: Mapping[str, Sequence[int]] | None = None,
    command: str | Recorded | None = None,
    enable_hta: bool = False,
    metric: str | None = None,
) -> ConvertResult:
    """Import ``source`` (ONNX, or TensorFlow) into a float container at ``output``; record both.

    A quantized ``.tflite`` model becomes a quantized container carrying its own encodings;
    ``enable_hta`` adds the HTA records the AIP runtime needs (for such a model only: a
    float model gets them from ``quantize --enable-hta``). ``metric`` sets the model's
    decision metric (default: proposed from its outputs when the model is new).
    ``command`` is the command line recorded with the run, or a ``Recorded`` that also
    names the model as the manifest names it when ``source`` is a copy (a sweep's Ray worker).
    """
    started = time.perf_counter()
    recorded = command if isinstance(command, Recorded) else Recorded(command)
    command, recorded_source = recorded.command, recorded.source
    with store.write() as session:  # a read-only store or unknown project: refused before work
        get_project(session, project)
    source, output = Path(source), Path(output)
    if output.exists() and output.is_dir():
        raise BadInput(f"output {output} is a directory; give a file name such as model.dlc")
    if output.suffix.lower() != ".dlc":
        raise BadInput(f"output {output} should end in .dlc")
    refuse_overwriting(output, [source, *store.files])
    _check_input_dims(input_dims)
    fmt = _source_format(source)
    if enable_hta and fmt != "tflite":
        raise BadInput(_HTA_NEEDS_QUANTIZED_TFLITE.format(source=source))
    if fmt in TENSORFLOW_FORMATS:
        # A SavedModel is its directory, also when named by its saved_model.pb.
        source = saved_model_dir(source) if fmt == "savedmodel" else source
        # Refused by declared sizes before tf2onnx runs (asked once TensorFlow is loaded).
        graph = import_tensorflow(source, input_dims, available=available_memory)
    elif fmt == "tflite":
        # The flatbuffer is read whole and its weights widened: as ONNX, refused by size.
        check_tflite_fits(source, available_memory())
        # A quantized TFLite model keeps its own encodings: a quantized container.
        tflite: TfliteImport = load_tflite(source, input_dims)
        if enable_hta and not tflite.quantized:
            raise BadInput(_HTA_NEEDS_QUANTIZED_TFLITE.format(source=source))
        graph = tflite.graph
    else:
        check_onnx_fits(source, available_memory())
        graph = import_onnx(source, input_dims)
    check_importable(graph, str(source))  # what the reader would refuse, refused now
    source_sha = source_sha256(source)
    manifest = make_manifest(
        converter={
            "command": command or command_line(),
            "source": str(recorded_source or source),
            "source_format": fmt,
            "source_sha256": source_sha,
            "input_dims": {k: list(v) for k, v in (input_dims or {}).items()},
            "notes": list(graph.notes),
        }
    )
    container = Container(manifest=manifest, graph=graph)
    if fmt == "tflite":
        container = tflite.to_container(manifest["converter"], enable_hta=enable_hta)
    remove_leftover_temp_files(output)
    size = write_container(output, container)
    summary = summarize(Container(manifest=manifest, graph=graph, file_size=size))
    info = ModelInfo(
        name=source.name if source.is_dir() else source.stem,
        source_path=str(source.resolve()),
        sha256=source_sha,
        fmt=fmt,
        opset=graph.opset,
        inputs=[t.to_dict() for t in graph.inputs],
        param_count=summary.param_count,
        macs=summary.total_macs,
    )
    model_id = record_model(store, project, info)
    container_id = record_container(store, project, output, model_id=model_id)
    # proposed when the model is new, unless asked for
    choice = decision_metric(store, container_id, graph, requested=metric, command="convert")
    return ConvertResult(
        model_id=model_id,
        container_id=container_id,
        output=str(output),
        size_bytes=size,
        layers=len(graph.nodes),
        param_count=summary.param_count,
        macs=summary.total_macs,
        seconds=time.perf_counter() - started,
        quantized=container.quantized,
        metric=choice.metric,
        metric_reason=choice.reason,
        notes=tuple(graph.notes),
    )


def _check_input_dims(input_dims: Mapping[str, Sequence[int]] | None) -> None:
    """Each --input-dim a positive integer no tensor could exceed (an int64 overflow else)."""
    for name, dims in (input_dims or {}).items():
        if not all(isinstance(d, int) and 1 <= d <= MAX_TENSOR_ELEMENTS for d in dims):
            shown = ",".join(str(d)[:24] for d in dims)
            raise BadInput(
                f"--input-dim {visible(name)} {shown}: dims must be integers from 1 to "
                f"{MAX_TENSOR_ELEMENTS}"
            )


_HTA_NEEDS_QUANTIZED_TFLITE = (
    "{source}: --enable-hta needs a quantized TFLite model; a float model gets HTA records "
    "when quantized (workbench quantize M.dlc --input-list LIST -o Q.dlc --enable-hta)"
)

# source_format values of the TensorFlow importer (workbench.engine.tf_import).
TENSORFLOW_FORMATS = ("savedmodel", "graphdef", "keras")


def _source_format(source: Path) -> str:
    suffix = source.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    tf_kind = tensorflow_source_kind(source)  # a directory, .pb, .keras or .h5
    if tf_kind is not None:
        return tf_kind
    if not suffix and not source.exists():
        raise NotFound(f"model not found: {source}")
    if suffix == ".tflite":
        return "tflite"
    raise BadInput(
        f"{source}: unknown model format {suffix or '(no suffix)'}; "
        "expected .onnx, .tflite, a SavedModel directory, .pb, .keras or .h5"
    )
