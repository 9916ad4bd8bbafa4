"""Export a quantized container: QDQ ONNX for ONNX Runtime, AIMET encodings JSON."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from workbench.engine.container import read_container
from workbench.errors import BadInput, naming


def _quantized(path: str | Path):
    container = read_container(path)
    if not container.quantized:
        raise BadInput(f"{path} is not quantized; run `workbench quantize` first")
    return container


def _write_atomically(path: Path, data: bytes) -> None:
    if path.is_dir():
        raise BadInput(f"output {path} is a directory; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def export_qdq_file(
    container_path: str | Path, output: str | Path, *, signed_weights: bool = True
) -> dict[str, Any]:
    """Write the container as a QDQ ONNX model at ``output``."""
    from workbench.engine.quant.qdq import export_qdq, rounding_note

    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise BadInput(f"output {output} should end in .onnx")
    container = _quantized(container_path)
    with naming(container_path):
        model = export_qdq(container, signed_weights=signed_weights)
    _write_atomically(output, model.SerializeToString())
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "output": str(output),
        "nodes": len(model.graph.node),
        "opset": opset,
        "rounding": container.rounding,
        "note": rounding_note(container),
    }


def export_encodings_file(
    container_path: str | Path, output: str | Path, version: str, *, all_tensors: bool = False
) -> dict[str, Any]:
    """Write the container's encodings as AIMET JSON (``version``: one of ``aimet.VERSIONS``).

    Without ``all_tensors`` the tensors AIMET's default quantsim leaves unquantized are
    left out (``aimet.aimet_skipped``), so AIMET loads the file with ``strict=True``.
    """
    import json

    from workbench.engine.quant.aimet import aimet_skipped, export_encodings

    container = _quantized(container_path)
    with naming(container_path):
        doc = export_encodings(container, version, all_tensors=all_tensors)
    output = Path(output)
    _write_atomically(output, json.dumps(doc, indent=2).encode())
    written = (
        {e["name"] for e in doc["encodings"]}
        if "encodings" in doc
        else {e if isinstance(e, str) else e["name"] for s in ("activation_encodings",
              "param_encodings") for e in doc[s]}
    )  # fmt: skip
    skipped = set() if all_tensors else set(aimet_skipped(container.graph))
    return {
        "output": str(output),
        "version": version,
        "activations": sum(n in written for n in container.encodings),
        "params": sum(n in written for n in container.param_encodings),
        "skipped": sorted(skipped & (set(container.encodings) | set(container.param_encodings))),
    }
