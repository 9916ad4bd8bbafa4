"""What ``run`` writes: the vendor's layout, unique names, no link followed, nothing half-written.

* The default layout is ``snpe-net-run``'s: ``Result_N/<tensor name>.raw`` with ``/``
  making folders; a script written for the vendor's outputs reads ours unchanged.
* ``--flat-names`` gives every tensor its own file (``p:0`` and ``p_0`` no longer
  collide), and ``OUT/outputs.json`` says which file holds which tensor.
* Symlinks inside ``OUT`` are never followed: a linked file is replaced, not written
  through; a linked folder is refused. A victim file elsewhere never changes.
* Every file is written under a temporary name and renamed: a full disk leaves no
  truncated ``.raw`` and no temporary file; a killed run's leftovers are swept.
* A run never writes over one of its inputs.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.engine.container import Container, make_manifest, write_container
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.errors import BadInput
from workbench.jobs.infer import run_container
from workbench.jobs.run_outputs import plan_output_files
from workbench.options import RunOptions
from workbench.store import Store

from .jobproc import run_child, workbench

VENDOR_OUTPUT = "InceptionV3/Predictions/Reshape_1:0"


def outputs_container(folder: Path, names: list[str], width: int = 10) -> Path:
    """``x`` (1 x width) through one node per name: Softmax, Relu, Sigmoid, Neg..."""
    ops = ["Softmax", "Relu", "Sigmoid", "Neg", "Abs", "Exp"]
    nodes = [Node(f"n{i}", ops[i % len(ops)], ("x",), (n,)) for i, n in enumerate(names)]
    infos = [TensorInfo(n, (1, width)) for n in names]
    graph = Graph("outs", [TensorInfo("x", (1, width))], infos, nodes,
                  tensors={t.name: t for t in infos}, opset=13)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    dlc = folder / "m.dlc"
    write_container(dlc, Container(make_manifest(converter={"command": "test"}), graph))
    return dlc


def inputs(folder: Path, n: int, width: int = 10) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(3)
    arrays = []
    for i in range(n):
        x = rng.standard_normal((1, width)).astype("<f4")
        x.tofile(folder / f"in{i}.raw")
        arrays.append(x)
    listing = folder / "list.txt"
    listing.write_text("".join(f"in{i}.raw\n" for i in range(n)))
    return listing, arrays


# A script as people write them for snpe-net-run's outputs: it knows the vendor's layout
# (Result_<line>/<tensor name>.raw, float32) and nothing of the workbench.
SNPE_STYLE_SCRIPT = """
import os, sys
import numpy as np
input_list, output_dir, tensor = sys.argv[1:4]
with open(input_list) as f:
    lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
for idx, line in enumerate(lines):
    path = os.path.join(output_dir, "Result_" + str(idx), tensor + ".raw")
    if not os.path.isfile(path):
        raise SystemExit("missing results file: " + path)
    scores = np.fromfile(path, dtype=np.float32)
    print(os.path.basename(line), int(np.argmax(scores)), "%.6f" % scores.max())
"""


def test_a_script_written_for_snpe_net_run_reads_our_outputs_unchanged(
    tmp_path: Path, migrated_store_url: str
) -> None:
    dlc = outputs_container(tmp_path, [VENDOR_OUTPUT])
    listing, arrays = inputs(tmp_path, 3)
    out = tmp_path / "out"
    code, _, err = run_child(workbench(migrated_store_url, "run", str(dlc), "--input-list",
                                       str(listing), "--output-dir", str(out)))  # fmt: skip
    assert code == 0, err
    assert (out / "Result_2" / "InceptionV3" / "Predictions" / "Reshape_1:0.raw").is_file()
    done = subprocess.run([sys.executable, "-c", SNPE_STYLE_SCRIPT, str(listing), str(out),
                           VENDOR_OUTPUT], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    softmax = [np.exp(a - a.max()) / np.exp(a - a.max()).sum() for a in arrays]
    expected = [f"in{i}.raw {int(p.argmax())} {p.max():.6f}" for i, p in enumerate(softmax)]
    assert done.stdout.splitlines() == expected
    manifest = json.loads((out / "outputs.json").read_text())
    assert manifest["layout"] == "vendor" and manifest["results"] == 3
    assert manifest["outputs"] == [{"tensor": VENDOR_OUTPUT, "file": f"{VENDOR_OUTPUT}.raw",
                                    "dtype": "float32", "shape": [1, 10]}]  # fmt: skip


def test_flat_names_are_unique_and_the_manifest_maps_them(tmp_path: Path, store: Store) -> None:
    names = ["p:0", "p_0", "P_0", "a/b", "a_b", "x" * 300]
    dlc = outputs_container(tmp_path, names)
    listing, arrays = inputs(tmp_path, 2)
    out = tmp_path / "out"
    result = run_container(store, "default", dlc, listing, out, RunOptions(flat_names=True))
    files = result.files
    assert files["p:0"] == "p_0.raw" and files["p_0"] == "p_0_2.raw" and files["P_0"] == "P_0_3.raw"
    assert len({f.lower() for f in files.values()}) == len(names)
    assert all(len(f.encode()) <= 255 for f in files.values())
    manifest = json.loads((out / "outputs.json").read_text())
    assert {o["tensor"]: o["file"] for o in manifest["outputs"]} == files
    for i, x in enumerate(arrays):  # each file holds its own tensor
        np.testing.assert_allclose(np.fromfile(out / f"Result_{i}" / files["p_0"], "<f4"),
                                   np.maximum(x, 0).ravel(), rtol=1e-6)  # fmt: skip
        np.testing.assert_allclose(np.fromfile(out / f"Result_{i}" / files["P_0"], "<f4"),
                                   (1 / (1 + np.exp(-x))).ravel(), rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["a", "a.raw/b"], "need 'a.raw' as a file and as a folder"),
        (["x" * 300], "longer than the 255 bytes a file name may have"),
        (["ok/" + "y" * 256 + "/z"], "longer than the 255 bytes"),
        ([""], "it is empty"),
        (["a\\b"], "NUL or a backslash"),
    ],
)
def test_vendor_names_that_cannot_be_paths_are_refused_before_work(
    tmp_path: Path, names: list[str], message: str
) -> None:
    with pytest.raises(BadInput, match=message) as info:
        plan_output_files(names)
    assert "--flat-names" in str(info.value) and "\n" not in str(info.value)


def test_a_300_character_tensor_name_is_exit_2_not_an_internal_error(
    tmp_path: Path, migrated_store_url: str
) -> None:
    dlc = outputs_container(tmp_path, ["t" * 300])
    listing, _ = inputs(tmp_path, 1)
    argv = workbench(migrated_store_url, "run", str(dlc), "--input-list", str(listing),
                     "--output-dir", str(tmp_path / "out"))  # fmt: skip
    code, _, err = run_child(argv)
    assert code == 2 and err.count("error:") == 1 and "--flat-names" in err
    code, _, err = run_child([*argv, "--flat-names"])
    assert code == 0, err


# -- links inside OUT are never followed ------------------------------------------------------


@pytest.fixture(params=["descriptors", "paths"])
def victim(tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file outside ``OUT``; the writer walks by directory descriptors (POSIX) or, as
    where those are missing (Windows), by paths checked with ``lstat``."""
    import workbench.jobs.run_outputs

    if request.param == "paths":
        monkeypatch.setattr(workbench.jobs.run_outputs, "_DIR_FD", False)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "precious.raw").write_bytes(b"do not touch")
    return folder


def test_a_symlinked_output_file_is_replaced_not_written_through(
    tmp_path: Path, store: Store, victim: Path
) -> None:
    dlc = outputs_container(tmp_path / "m", ["y"])
    listing, _ = inputs(tmp_path / "m", 1)
    out = tmp_path / "out"
    (out / "Result_0").mkdir(parents=True)
    os.symlink(victim / "precious.raw", out / "Result_0" / "y.raw")
    run_container(store, "default", dlc, listing, out)
    assert (victim / "precious.raw").read_bytes() == b"do not touch"
    assert not (out / "Result_0" / "y.raw").is_symlink()
    assert (out / "Result_0" / "y.raw").stat().st_size == 40


@pytest.mark.parametrize("link", ["Result_0", "Result_0/InceptionV3"])
def test_a_symlinked_folder_inside_out_is_refused(
    tmp_path: Path, store: Store, victim: Path, link: str
) -> None:
    dlc = outputs_container(tmp_path / "m", [VENDOR_OUTPUT])
    listing, _ = inputs(tmp_path / "m", 1)
    out = tmp_path / "out"
    (out / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, out / link)
    with pytest.raises(BadInput, match="is a symbolic link; outputs are never written through"):
        run_container(store, "default", dlc, listing, out)
    assert sorted(p.name for p in victim.rglob("*")) == ["precious.raw"]


def test_an_input_inside_the_output_folder_is_never_overwritten(
    tmp_path: Path, store: Store
) -> None:
    dlc = outputs_container(tmp_path / "m", ["y"])
    out = tmp_path / "out"
    (out / "Result_0").mkdir(parents=True)
    x = out / "Result_0" / "y.raw"  # the input is where the output would go
    np.ones((1, 10), "<f4").tofile(x)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{x}\n")
    with pytest.raises(BadInput, match="would write over its input"):
        run_container(store, "default", dlc, listing, out)
    np.testing.assert_array_equal(np.fromfile(x, "<f4"), np.ones(10, "<f4"))


# -- nothing half-written ---------------------------------------------------------------------


def _file_size_limit(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_a_full_disk_leaves_no_truncated_output(tmp_path: Path, migrated_store_url: str) -> None:
    width = 1 << 18  # 1 MiB per output file; the "disk" takes 512 KiB a file (the store less)
    dlc = outputs_container(tmp_path / "m", ["y"], width=width)
    listing, _ = inputs(tmp_path / "m", 2, width=width)
    out = tmp_path / "out"
    code, _, err = run_child(
        workbench(migrated_store_url, "run", str(dlc), "--input-list", str(listing),
                  "--output-dir", str(out)),
        preexec_fn=_file_size_limit(512 << 10),
    )  # fmt: skip
    assert code == 2 and "file too large" in err, err
    assert [p for p in out.rglob("*") if p.is_file()] == []  # no .raw, no temporary file


def test_a_killed_runs_temporary_files_are_swept_by_the_next_run(
    tmp_path: Path, store: Store
) -> None:
    dlc = outputs_container(tmp_path / "m", ["y"])
    listing, _ = inputs(tmp_path / "m", 1)
    out = tmp_path / "out"
    (out / "Result_0").mkdir(parents=True)
    old, fresh = out / "Result_0" / f".wb-{'a' * 16}.tmp", out / "Result_0" / f".wb-{'b' * 16}.tmp"
    for leftover in (old, fresh):
        leftover.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    run_container(store, "default", dlc, listing, out)
    assert not old.exists()  # abandoned
    assert fresh.exists()  # perhaps another run's, being written right now
