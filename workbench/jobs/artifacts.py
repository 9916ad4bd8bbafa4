"""Models and containers in the store: recorded once per content (sha256) per project."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.container import file_sha256, read_manifest
from workbench.store import CalibrationSet, Container, Model, Store
from workbench.store.queries import (
    find_calibration_set_by_sha256,
    find_container,
    find_container_by_sha256,
    find_model_by_sha256,
    get_project,
)


def source_sha256(path: str | Path) -> str:
    """The sha256 of a model source: a file's digest, or one over a SavedModel directory.

    A directory's digest covers saved_model.pb and the files under variables/ and
    assets/, each with its relative path, in sorted order; fingerprint.pb is left out
    because TensorFlow derives it from those files.
    """
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    files = [path / "saved_model.pb"]
    for folder in ("variables", "assets"):
        files += sorted(p for p in (path / folder).rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
            digest.update(bytes.fromhex(file_sha256(f)))
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelInfo:
    """What the store keeps of an imported model."""

    name: str
    source_path: str
    sha256: str
    fmt: str
    opset: int | None
    inputs: list[dict[str, Any]]
    param_count: int | None
    macs: int | None


def record_model(store: Store, project: str, info: ModelInfo) -> int:
    """The id of the project's model with this content, created if new."""
    with store.write() as session:
        proj = get_project(session, project)
        model = find_model_by_sha256(session, proj, info.sha256)
        if model is None:
            model = Model(
                project_id=proj.id,
                name=info.name,
                source_path=info.source_path,
                sha256=info.sha256,
                format=info.fmt,
                opset=info.opset,
                inputs=info.inputs,
                param_count=info.param_count,
                macs=info.macs,
            )
            session.add(model)
            session.flush()
        return model.id


def record_container(
    store: Store,
    project: str,
    path: str | Path,
    *,
    model_id: int | None = None,
    final_path: str | Path | None = None,
) -> int:
    """The id of the project's container with this file's content, created if new.

    The path is updated when the same content has moved. ``final_path``: the file read
    is a temporary copy that will be renamed there (the path recorded).
    """
    source = Path(path)
    path = Path(final_path if final_path is not None else path).resolve()
    sha = file_sha256(source)
    manifest = read_manifest(source)
    with store.write() as session:
        proj = get_project(session, project)
        row = find_container_by_sha256(session, proj, sha)
        if row is None:
            row = Container(
                project_id=proj.id,
                model_id=model_id,
                path=str(path),
                sha256=sha,
                size_bytes=source.stat().st_size,
                quantized=bool(manifest.get("quantized")),
                manifest={k: v for k, v in manifest.items() if k != "entries"},
            )
            session.add(row)
        else:
            row.path = str(path)
            if model_id is not None and row.model_id is None:
                row.model_id = model_id
        session.flush()
        return row.id


def model_id_of_container(store: Store, container_id: int) -> int | None:
    with store.read() as session:
        row = find_container(session, container_id)
        return row.model_id if row is not None else None


def record_calibration_set(store: Store, project: str, path: str | Path, samples: int) -> int:
    """The id of the project's calibration set with this input list's content."""
    path = Path(path).resolve()
    sha = file_sha256(path)
    with store.write() as session:
        proj = get_project(session, project)
        row = find_calibration_set_by_sha256(session, proj, sha)
        if row is None:
            row = CalibrationSet(
                project_id=proj.id, name=path.name, path=str(path), sample_count=samples, sha256=sha
            )
            session.add(row)
            session.flush()
        return row.id
