"""Export a quantized container: QDQ ONNX for ONNX Runtime, AIMET encodings JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.engine.container import read_container
from workbench.engine.files import refuse_overwriting, write_atomically
from workbench.engine.limits import available_memory, check_container_fits
from workbench.errors import BadInput, naming


def _quantized(path: str | Path, output: Path, protect: Sequence[Path]):
    refuse_overwriting(output, [path, *protect])
    head = read_container(path, load_params=False, load_records=False)
    check_container_fits(path, "export", available_memory(), head=head)
    if not head.quantized:
        raise BadInput(f"{path} is not quantized; run `workbench quantize` first")
    return read_container(path, load_records=False)


def export_qdq_file(
    container_path: str | Path,
    output: str | Path,
    *,
    signed_weights: bool = True,
    protect: Sequence[Path] = (),
) -> dict[str, Any]:
    """Write the container as a QDQ ONNX model at ``output`` (never over ``protect``:
    the store's files)."""
    from workbench.engine.quant.qdq import export_qdq, rounding_note

    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise BadInput(f"output {output} should end in .onnx")
    container = _quantized(container_path, output, protect)
    with naming(container_path):
        model = export_qdq(container, signed_weights=signed_weights)
    write_atomically(output, model.SerializeToString())
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "output": str(output),
        "nodes": len(model.graph.node),
        "opset": opset,
        "rounding": container.rounding,
        "note": rounding_note(container),
    }


def export_encodings_file(
    container_path: str | Path,
    output: str | Path,
    version: str,
    *,
    all_tensors: bool = False,
    protect: Sequence[Path] = (),
) -> dict[str, Any]:
    """Write the container's encodings as AIMET JSON (``version``: one of ``aimet.VERSIONS``;
    never over ``protect``: the store's files).

    Without ``all_tensors`` the tensors AIMET's default quantsim leaves unquantized are
    left out (``aimet.aimet_skipped``), so AIMET loads the file with ``strict=True``.
    """
    import json

    from workbench.engine.quant.aimet import aimet_skipped, export_encodings

    output = Path(output)
    container = _quantized(container_path, output, protect)
    with naming(container_path):
        doc = export_encodings(container, version, all_tensors=all_tensors)
    write_atomically(output, json.dumps(doc, indent=2).encode())
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
