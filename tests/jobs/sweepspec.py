"""A small sweep spec on disk: two models x three settings x two runtimes (12 cells)."""

from __future__ import annotations

from pathlib import Path

from tests.modelzoo import small_cnn, write_inputs

SETTINGS = '["tf", "enhanced", "symmetric"]'


def write_zoo(folder: Path, *, settings: str = SETTINGS, name: str = "zoo",
              runtimes: str = '["cpu", "dsp"]', extra: str = "") -> Path:  # fmt: skip
    """Two small CNNs (different weights), one input list, a grid of ``param_quantizer``
    ``settings``, and the spec naming them; the spec's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed in (0, 1):
        if not (folder / f"m{seed}.onnx").exists():
            small_cnn(folder / f"m{seed}.onnx", seed=seed)
    if not (folder / "list.txt").exists():
        write_inputs(folder, 4)
    spec = folder / f"{name}.toml"
    spec.write_text(
        f'name = "{name}"\n'
        f"runtimes = {runtimes}\n"
        'calibration = "list.txt"\n'
        'eval = "list.txt"\n'
        "[[models]]\n"
        'path = "m0.onnx"\n'
        "[[models]]\n"
        'path = "m1.onnx"\n'
        "[grid]\n"
        f"param_quantizer = {settings}\n"
        "analyze = false\n"
        f"{extra}"
        "[bench]\n"
        "iterations = 1\n"
    )
    return spec
