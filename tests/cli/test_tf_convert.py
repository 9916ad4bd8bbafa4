"""`workbench convert` on TensorFlow models: the container runs like TensorFlow, the store
records the source, and refusals are one line with exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from tests.tfmodels import TfModels, needs_tf, relative_error, tf_models
from workbench.jobs.artifacts import source_sha256


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TfModels:
    return tf_models(tmp_path_factory)


def run_container(cli, dlc: Path, x: np.ndarray, output: str, folder: Path) -> np.ndarray:
    x.astype("<f4").tofile(folder / "x.raw")
    (folder / "list.txt").write_text("x.raw\n")
    out = folder / "out"
    cli.json("run", str(dlc), "--input-list", str(folder / "list.txt"), "--output-dir", str(out))
    return np.fromfile(out / "Result_0" / f"{output}.raw", dtype="<f4")


@needs_tf
@pytest.mark.parametrize(
    "kind, output", [("savedmodel", "output_0"), ("keras", "softmax"), ("graphdef", "Identity")]
)
def test_convert_then_run_matches_tensorflow(
    cli, models: TfModels, tmp_path: Path, kind: str, output: str
) -> None:
    dlc = tmp_path / "m.dlc"
    cli.json("convert", str(getattr(models, kind)), "-o", str(dlc))
    info = cli.json("info", str(dlc))
    assert info["converter"]["source_format"] == kind
    assert info["inputs"] == [{"name": "image", "shape": [1, 16, 16, 3], "dtype": "float32"}]
    got = run_container(cli, dlc, models.x, output, tmp_path)
    assert relative_error(got.reshape(models.expected.shape), models.expected) < 1e-5


@needs_tf
def test_savedmodel_is_recorded_by_its_directory(cli, store, models: TfModels, tmp_path) -> None:
    from workbench.store import Model

    folder = models.savedmodel
    first = cli.json("convert", str(folder), "-o", str(tmp_path / "a.dlc"))
    # Named by its saved_model.pb, the same SavedModel is the same model.
    again = cli.json("convert", str(folder / "saved_model.pb"), "-o", str(tmp_path / "b.dlc"))
    assert again["model_id"] == first["model_id"]
    with store.read() as session:
        [model] = session.scalars(select(Model)).all()
        assert (model.name, model.format) == ("cnn_savedmodel", "savedmodel")
        assert model.source_path == str(folder.resolve())
        assert model.sha256 == source_sha256(folder)
        assert model.inputs == [{"name": "image", "shape": [1, 16, 16, 3], "dtype": "float32"}]
    info = cli.json("info", str(tmp_path / "b.dlc"))
    assert info["converter"]["source"] == str(folder)


def test_directory_sha_covers_graph_and_variables(tmp_path: Path) -> None:
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"graph")
    (tmp_path / "variables" / "variables.index").write_bytes(b"index")
    (tmp_path / "fingerprint.pb").write_bytes(b"one")
    before = source_sha256(tmp_path)
    (tmp_path / "fingerprint.pb").write_bytes(b"two")
    assert source_sha256(tmp_path) == before
    (tmp_path / "variables" / "variables.index").write_bytes(b"other")
    assert source_sha256(tmp_path) != before


def test_folder_without_saved_model_is_one_line(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("convert", str(tmp_path / "empty"), "-o", str(tmp_path / "x.dlc"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no saved_model.pb inside" in result.stderr


def test_missing_extra_is_one_line(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    (tmp_path / "m.keras").write_bytes(b"zip")
    result = cli("convert", str(tmp_path / "m.keras"), "-o", str(tmp_path / "x.dlc"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "pip install 'quantization-workbench[tensorflow]'" in result.stderr
    assert not (tmp_path / "x.dlc").exists()


@needs_tf
def test_too_little_memory_is_one_line_naming_the_size_and_records_nothing(
    cli, store, models: TfModels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.store import Model

    monkeypatch.setattr("workbench.jobs.convert.available_memory", lambda: 32 << 10)
    out = tmp_path / "m.dlc"
    result = cli("convert", str(models.savedmodel), "-o", str(out))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {models.savedmodel} needs ~")
    assert "of memory to convert" in result.stderr and "only 32.0 KiB available" in result.stderr
    assert not out.exists()
    with store.read() as session:
        assert session.scalars(select(Model)).all() == []


@needs_tf
def test_a_fresh_process_converts_without_tensorflows_own_stderr_lines(
    migrated_store_url: str, models: TfModels, tmp_path: Path
) -> None:
    """TensorFlow's C++ layer writes to file descriptor 2 itself when it loads and first
    computes (absl's pre-init warning, oneDNN's notice): none of it reaches the user."""
    import subprocess

    from tests.reliability.jobproc import quiet_env, workbench

    argv = workbench(migrated_store_url, "convert", str(models.savedmodel), "-o",
                     str(tmp_path / "m.dlc"))  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=quiet_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and done.stderr == ""
