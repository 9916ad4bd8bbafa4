"""The bundled demo: a small trained shapes classifier with its validation and calibration sets.

``demo/`` holds ``demo.onnx`` and the images as uint8 pixels; the loaders here
return what the model expects: float32 NCHW, ``(pixel / 255 - mean) / std``
(see ``demo/README.md``). ``python -m workbench.data.make_demo`` rebuilds it all.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np

from workbench.errors import BadInput

__all__ = [
    "class_names",
    "demo_dir",
    "demo_meta",
    "demo_model_path",
    "load_demo_images",
    "load_demo_labels",
    "write_input_list",
    "write_labels",
]


def demo_dir() -> Path:
    """The folder holding the demo model and data (works from an installed package too)."""
    return Path(str(files(__name__) / "demo"))


def demo_model_path() -> Path:
    """Path of the demo ONNX model: input ``image`` [1,3,32,32], outputs ``logits``, ``probabilities``."""
    return demo_dir() / "demo.onnx"


@cache
def _meta() -> dict[str, Any]:
    return json.loads((demo_dir() / "meta.json").read_text(encoding="utf-8"))


def demo_meta() -> dict[str, Any]:
    """The contents of ``meta.json``: classes, normalization, seed, accuracy, training."""
    return json.loads(json.dumps(_meta()))  # a copy callers may change


def class_names() -> list[str]:
    """Class names, index = label."""
    return list(_meta()["classes"])


def load_demo_images(kind: Literal["validation", "calibration"]) -> np.ndarray:
    """Demo images as the model's input: float32, NCHW (n, 3, 32, 32), normalized."""
    if kind not in ("validation", "calibration"):
        raise BadInput(f"unknown demo image set {kind!r}: use 'validation' or 'calibration'")
    pixels = np.load(demo_dir() / f"{kind}_images.npy", allow_pickle=False)
    norm = _meta()["normalization"]
    return ((pixels.astype(np.float32) / 255.0 - norm["mean"]) / norm["std"]).astype(np.float32)


def load_demo_labels() -> np.ndarray:
    """Class indices (int64) of the validation images, in the same order."""
    return np.load(demo_dir() / "validation_labels.npy", allow_pickle=False)


def write_input_list(images: np.ndarray, out_dir: str | Path, name: str = "image") -> Path:
    """Write each sample as a float32 little-endian ``.raw`` file plus a vendor input list.

    ``images`` is (n, ...) with one sample per row, each in the model input's
    shape without the batch axis (or with a batch of 1). Files are
    ``OUT/<name>_<i>.raw``; the list ``OUT/input_list.txt`` has one absolute path
    per line, line i for sample i. Returns the list's path.
    """
    images = np.asarray(images)
    if images.ndim < 2 or len(images) == 0:
        raise BadInput(f"expected a non-empty batch of samples, got shape {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise BadInput(f"expected float images, got {images.dtype}")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, sample in enumerate(images):
        path = out / f"{name}_{i:05d}.raw"
        np.ascontiguousarray(sample, dtype="<f4").tofile(path)
        lines.append(str(path))
    list_path = out / "input_list.txt"
    list_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list_path


def write_labels(labels: np.ndarray, path: str | Path) -> Path:
    """Write a labels file: one integer class index per line, line i for input-list line i."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise BadInput(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{int(v)}\n" for v in labels), encoding="utf-8")
    return path
