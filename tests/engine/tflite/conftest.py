"""The TensorFlow-made models, built once per session in one subprocess (``make_models.py``).

The pytest process never imports TensorFlow: the subprocess builds, converts and runs
every model and leaves ``.tflite`` files and recorded interpreter outputs in a session
temporary folder.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TENSORFLOW_MISSING = importlib.util.find_spec("tensorflow") is None
SKIP_REASON = (
    "TensorFlow is not installed (pip install '.[tensorflow]'): the models are made with "
    "its TFLiteConverter"
)


@pytest.fixture(scope="session")
def tensorflow_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of TFLite models with the interpreter's outputs (see ``make_models.py``)."""
    if TENSORFLOW_MISSING:
        pytest.skip(SKIP_REASON)
    out = tmp_path_factory.mktemp("tflite_models")
    proc = subprocess.run(
        [sys.executable, str(HERE / "make_models.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"make_models.py failed:\n{proc.stderr[-4000:]}")
    return out
