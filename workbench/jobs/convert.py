"""Convert: import a model file into a float container and record both in the store."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.engine.container import Container, file_sha256, make_manifest, write_container
from workbench.engine.onnx_import import import_onnx
from workbench.engine.summary import summarize
from workbench.errors import BadInput
from workbench.jobs.artifacts import record_container, record_model
from workbench.store import Store


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


def command_line() -> str:
    """The command that is running, as it would be typed (for manifests and runs)."""
    return shlex.join(["workbench", *sys.argv[1:]]) if sys.argv else "workbench"


def convert_model(
    store: Store,
    project: str,
    source: str | Path,
    output: str | Path,
    *,
    input_dims: Mapping[str, Sequence[int]] | None = None,
    command: str | None = None,
) -> ConvertResult:
    """Import ``source`` (ONNX) into a float container at ``output``; record both."""
    started = time.perf_counter()
    source, output = Path(source), Path(output)
    if output.exists() and output.is_dir():
        raise BadInput(f"output {output} is a directory; give a file name such as model.dlc")
    if output.suffix.lower() != ".dlc":
        raise BadInput(f"output {output} should end in .dlc")
    fmt = _source_format(source)
    graph = import_onnx(source, input_dims)
    source_sha = file_sha256(source)
    manifest = make_manifest(
        converter={
            "command": command or command_line(),
            "source": str(source),
            "source_format": fmt,
            "source_sha256": source_sha,
            "input_dims": {k: list(v) for k, v in (input_dims or {}).items()},
        }
    )
    container = Container(manifest=manifest, graph=graph)
    size = write_container(output, container)
    summary = summarize(Container(manifest=manifest, graph=graph, file_size=size))
    model_id = record_model(
        store,
        project,
        name=source.stem,
        source_path=str(source.resolve()),
        sha256=source_sha,
        fmt=fmt,
        opset=graph.opset,
        inputs=[t.to_dict() for t in graph.inputs],
        param_count=summary.param_count,
        macs=summary.total_macs,
    )
    container_id = record_container(store, project, output, model_id=model_id)
    return ConvertResult(
        model_id=model_id,
        container_id=container_id,
        output=str(output),
        size_bytes=size,
        layers=len(graph.nodes),
        param_count=summary.param_count,
        macs=summary.total_macs,
        seconds=time.perf_counter() - started,
    )


def _source_format(source: Path) -> str:
    suffix = source.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".tflite" or source.is_dir():
        raise BadInput(
            f"{source}: TensorFlow import (TFLite / SavedModel) is not available yet; "
            "convert it to ONNX first (e.g. with tf2onnx)"
        )
    raise BadInput(f"{source}: unknown model format {suffix or '(no suffix)'}; expected .onnx")
