"""Nothing escapes its folder, and nothing is unpickled (SPEC §9).

* ONNX external data is read only from inside the model's folder. Absolute
  locations, ``..``, symlinks out and plain escapes are in
  ``tests/engine/test_onnx_import.py`` (``test_external_data_outside_the_folder_is_refused``,
  ``..._beyond_the_file_is_refused``); here: a symlinked folder out, Windows spellings,
  NUL bytes, a directory, a FIFO or device, and absurd offsets and lengths.
* Container entries are checked before anything is read, and reading extracts
  nothing to disk. ``tests/engine/test_container.py::HOSTILE`` has ``..``, absolute,
  drive-letter, backslash, duplicate, directory and symlink entries; here: the
  spellings it lacks, symlinks under legitimate names, and "no file appears".
* ``.npy`` buffers are parsed with ``allow_pickle=False`` everywhere: container
  parameters and attributes, input-list tensors, calibration samples. The hostile
  buffers here would create a marker file if unpickled; it never appears.
* Input lists are the user's own files: an entry may be an absolute path or a
  symlink anywhere (decided; documented in ``workbench/engine/inputs.py``), and is
  still read without pickle and only if it is a regular file.
* ``run`` writes each output under ``OUT/Result_N`` whatever the tensor is called
  (names that are no relative path are refused, or flattened with ``--flat-names``);
  links inside ``OUT`` are never followed (``test_outputs.py``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.modelzoo import small_cnn, write_inputs
from workbench.engine.container import read_container, write_container
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.quantizer import QuantOptions
from workbench.errors import BadInput, ContainerError, InputListError, ModelError
from workbench.jobs.convert import convert_model
from workbench.jobs.infer import run_container
from workbench.jobs.quantize import QuantizeRequest, quantize_job
from workbench.options import RunOptions
from workbench.store import Store

# -- helpers ------------------------------------------------------------------------------------


class _CreatesFile:
    """Unpickling this calls ``open(path, "w")``: the file's existence proves an unpickle."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def pickled_npy(marker: Path, shape: tuple[int, ...] = (1,)) -> bytes:
    array = np.empty(shape, dtype=object)
    array.flat[0] = _CreatesFile(marker)
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def test_the_marker_pickle_works(tmp_path: Path) -> None:
    """The hostile buffers below are real: loading one with pickle creates the marker."""
    marker = tmp_path / "marker"
    np.load(io.BytesIO(pickled_npy(marker)), allow_pickle=True)
    assert marker.exists()


def assert_refused(exc_info: pytest.ExceptionInfo[Exception], *names: object) -> None:
    message = str(exc_info.value)
    assert "\n" not in message
    for name in names:
        assert str(name) in message, message


# -- ONNX external data -------------------------------------------------------------------------

WEIGHTS = np.arange(16, dtype=np.float32)


def external_model(folder: Path, location: str, **fields: str) -> Path:
    """``y = x + w`` with ``w`` (16 floats) stored at ``location``; saved as ``folder/m.onnx``."""
    node = helper.make_node("Add", ["x", "w"], ["y"])
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[16])
    w.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "64", **fields}.items():
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [node],
        "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A readable file next to (not inside) the model's folder."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(WEIGHTS.tobytes())
    return secret


def test_external_data_inside_the_folder_still_loads(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(WEIGHTS.tobytes())
    graph = import_onnx(external_model(tmp_path / "model", "w.bin"))
    np.testing.assert_array_equal(graph.params["w"], WEIGHTS)


def test_external_data_through_a_symlinked_folder_out_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    os.symlink(tmp_path, model_dir / "data")  # data/ -> the folder above
    with pytest.raises(ModelError, match="resolves outside the model's folder") as err:
        import_onnx(external_model(model_dir, "data/secret.bin"))
    assert_refused(err, model_dir / "m.onnx")


@pytest.mark.parametrize(
    "location, message",
    [
        ("..\\secret.bin", "outside the model's folder"),
        ("sub\\..\\..\\secret.bin", "outside the model's folder"),
        ("C:\\secret.bin", "absolute location"),
        ("C:secret.bin", "absolute location"),
        ("\\\\server\\share\\secret.bin", "absolute location"),
        ("/dev/zero", "absolute location"),
        ("w.bin\x00.txt", "NUL byte"),
        ("", "without a location"),
    ],
)
def test_external_data_odd_spellings_are_refused(
    tmp_path: Path, outside: Path, location: str, message: str
) -> None:
    model_dir = tmp_path / "model"
    (model_dir / "sub").mkdir(parents=True)
    (model_dir / "w.bin").write_bytes(WEIGHTS.tobytes())
    with pytest.raises(ModelError, match=message) as err:
        import_onnx(external_model(model_dir, location))
    assert_refused(err, model_dir / "m.onnx")


def test_external_data_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model" / "weights").mkdir(parents=True)
    with pytest.raises(ModelError, match="not a regular file") as err:
        import_onnx(external_model(tmp_path / "model", "weights"))
    assert_refused(err, "weights")
    with pytest.raises(ModelError, match="not a regular file"):
        import_onnx(external_model(tmp_path / "model", "."))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_external_data_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    os.mkfifo(model_dir / "w.bin")  # opening it for reading would block forever
    with pytest.raises(ModelError, match="not a regular file"):
        import_onnx(external_model(model_dir, "w.bin"))


def test_external_data_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    os.symlink("/dev/zero", model_dir / "w.bin")  # endless bytes, and outside
    with pytest.raises(ModelError, match="outside the model's folder"):
        import_onnx(external_model(model_dir, "w.bin"))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"offset": str(2**62)}, "beyond the end"),
        ({"length": str(2**62)}, "beyond the end"),
        ({"offset": str(2**62), "length": str(2**62)}, "beyond the end"),
        ({"offset": "-8"}, "beyond the end"),
        ({"length": "-1"}, "beyond the end"),
        ({"offset": "1e3"}, "malformed offset or length"),
        ({"length": "sixty-four"}, "malformed offset or length"),
    ],
)
def test_external_data_absurd_offsets_and_lengths_are_refused(
    tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "w.bin").write_bytes(WEIGHTS.tobytes())
    with pytest.raises(ModelError, match=message) as err:
        import_onnx(external_model(model_dir, "w.bin", **fields))
    assert_refused(err, model_dir / "m.onnx")


# -- container entries --------------------------------------------------------------------------


def tiny_graph() -> Graph:
    return Graph(
        "tiny",
        [TensorInfo("x", (1, 4))],
        [TensorInfo("y", (1, 4))],
        [Node("add", "Add", ("x", "b"), ("s",)), Node("relu", "Relu", ("s",), ("y",))],
        {"b": np.linspace(-1, 1, 4, dtype=np.float32).reshape(1, 4)},
        {"s": TensorInfo("s", (1, 4))},
        opset=13,
    )


@pytest.fixture
def entries(tmp_path: Path) -> dict[str, bytes]:
    from workbench.engine.container import Container, make_manifest

    path = tmp_path / "valid.dlc"
    write_container(path, Container(make_manifest(converter={"command": "test"}), tiny_graph()))
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def reindexed(entries: dict[str, bytes]) -> dict[str, bytes]:
    manifest = json.loads(entries["manifest.json"])
    manifest["entries"] = [
        {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
        for n, d in entries.items()
        if n != "manifest.json"
    ]
    return {**entries, "manifest.json": json.dumps(manifest).encode()}


def write_zip(path: Path, items: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path


def symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    "name, message",
    [
        ("C:evil", "absolute path"),
        ("c:/windows/evil", "absolute path"),
        ("\\\\server\\share\\evil", "backslash"),
        ("records\\..\\..\\evil.bin", "backslash"),
        ("./graph.json", "empty path component"),
        ("records//x.bin", "empty path component"),
        ("records/./x.bin", "empty path component"),
        ("params/../../../../etc/passwd", "escapes the archive"),
        ("records/x.bin/..", "escapes the archive"),
        ("evil\x00.json", "NUL byte"),
    ],
)
def test_entry_spellings_that_escape_are_refused(
    tmp_path: Path, entries: dict[str, bytes], name: str, message: str
) -> None:
    stand_in = name.replace("\x00", "#")  # zipfile cuts names at NUL: patch the bytes after
    path = write_zip(tmp_path / "c.dlc", [*reindexed(entries).items(), (stand_in, b"x")])
    if stand_in != name:
        path.write_bytes(path.read_bytes().replace(stand_in.encode(), name.encode()))
    with pytest.raises(ContainerError, match=message) as err:
        read_container(path)
    assert_refused(err, path)


@pytest.mark.parametrize("name", ["graph.json", "params/0.npy", "records/link.bin"])
def test_symlink_entries_under_legitimate_names_are_refused(
    tmp_path: Path, entries: dict[str, bytes], name: str
) -> None:
    """A symlink entry whose target text even matches the manifest is still refused."""
    target = b"/etc/passwd"
    planted = {k: v for k, v in entries.items() if k != name} | {name: target}
    items = [(symlink_entry(n) if n == name else n, d) for n, d in reindexed(planted).items()]
    path = write_zip(tmp_path / "c.dlc", items)
    with pytest.raises(ContainerError, match="symbolic link"):
        read_container(path)


def test_duplicate_entries_are_refused_even_when_identical(
    tmp_path: Path, entries: dict[str, bytes]
) -> None:
    items = list(reindexed(entries).items())
    items.append(("params/0.npy", entries["params/0.npy"]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate
        path = write_zip(tmp_path / "c.dlc", items)
    with pytest.raises(ContainerError, match="duplicate entry 'params/0.npy'"):
        read_container(path)


def test_reading_a_hostile_container_creates_no_file(
    tmp_path: Path, entries: dict[str, bytes]
) -> None:
    """Entries are read into memory after the checks; nothing is ever extracted."""
    folder = tmp_path / "box"
    folder.mkdir()
    path = write_zip(
        folder / "c.dlc",
        [*reindexed(entries).items(), ("../escaped.bin", b"x"), ("/tmp/abs.bin", b"x")],
    )
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ContainerError):
        read_container(path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


# -- .npy without pickle: container parameters and attributes --------------------------------


def test_container_parameter_that_would_unpickle_is_refused(
    tmp_path: Path, entries: dict[str, bytes]
) -> None:
    marker = tmp_path / "unpickled"
    planted = reindexed({**entries, "params/0.npy": pickled_npy(marker, (1, 4))})
    path = write_zip(tmp_path / "c.dlc", list(planted.items()))
    with pytest.raises(ContainerError, match="dtype object") as err:
        read_container(path)
    assert_refused(err, path, "params/0.npy")
    assert not marker.exists()


def test_container_attribute_that_would_unpickle_is_refused(
    tmp_path: Path, entries: dict[str, bytes]
) -> None:
    marker = tmp_path / "unpickled"
    graph = json.loads(entries["graph.json"])
    graph["nodes"][0]["attrs"]["value"] = {"__ndarray__": "attrs/0.npy"}
    planted = {
        **entries,
        "graph.json": json.dumps(graph).encode(),
        "attrs/0.npy": pickled_npy(marker),
    }
    path = write_zip(tmp_path / "c.dlc", list(reindexed(planted).items()))
    with pytest.raises(ContainerError, match="dtype object"):
        read_container(path)
    assert not marker.exists()


# -- .npy without pickle: input lists and calibration -------------------------------------------


@pytest.fixture
def model(tmp_path: Path, store: Store) -> Path:
    dlc = tmp_path / "model.dlc"
    convert_model(store, "default", small_cnn(tmp_path / "model.onnx"), dlc, command="test")
    return dlc


def hostile_list(folder: Path, marker: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "evil.npy").write_bytes(pickled_npy(marker, (1, 3, 8, 8)))
    listing = folder / "list.txt"
    listing.write_text("evil.npy\n")
    return listing


def test_input_list_npy_that_would_unpickle_is_refused(
    tmp_path: Path, store: Store, model: Path
) -> None:
    marker = tmp_path / "unpickled"
    listing = hostile_list(tmp_path / "inputs", marker)
    with pytest.raises(InputListError, match="never unpickled") as err:
        run_container(store, "default", model, listing, tmp_path / "out", command="test")
    assert_refused(err, tmp_path / "inputs" / "evil.npy")
    assert not marker.exists()


def test_calibration_npy_that_would_unpickle_is_refused(
    tmp_path: Path, store: Store, model: Path
) -> None:
    marker = tmp_path / "unpickled"
    listing = hostile_list(tmp_path / "calibration", marker)
    with pytest.raises(InputListError, match="never unpickled") as err:
        quantize_job(
            store, "default", QuantizeRequest(model, listing, tmp_path / "q.dlc", command="test")
        )
    assert_refused(err, tmp_path / "calibration" / "evil.npy")
    assert not marker.exists()
    assert not (tmp_path / "q.dlc").exists()


def test_npy_header_declaring_more_data_than_the_file_is_refused_before_loading(
    tmp_path: Path, store: Store, model: Path
) -> None:
    """The header is checked against the file size first (no allocation of 2**40 floats)."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }"
    raw = header.encode() + b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "big.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(raw).to_bytes(2, "little") + raw)
    (folder / "list.txt").write_text("big.npy\n")
    with pytest.raises(InputListError, match="header declares float32"):
        run_container(store, "default", model, folder / "list.txt", tmp_path / "out")


# -- input lists are the user's files -----------------------------------------------------------


def test_input_list_entries_may_point_anywhere_the_user_says(
    tmp_path: Path, store: Store, model: Path
) -> None:
    """Absolute paths and symlinks out of the list's folder are followed (decided: the
    list is the user's own file, like a shell argument), and read without pickle."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _, arrays = write_inputs(elsewhere, 2)
    folder = tmp_path / "lists"
    folder.mkdir()
    os.symlink(elsewhere / "in1.raw", folder / "linked.raw")
    listing = folder / "list.txt"
    listing.write_text(f"{elsewhere / 'in0.raw'}\nlinked.raw\n")
    result = run_container(store, "default", model, listing, tmp_path / "out", command="test")
    assert result.inferences == 2


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_input_list_entry_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, store: Store, model: Path, kind: str
) -> None:
    """A FIFO or /dev/zero named by mistake is refused before any read (which would hang
    or never end)."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    target = folder / "x.raw"
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(target)
    elif kind == "device":
        os.symlink("/dev/zero", target)
    else:
        target.mkdir()
    (folder / "list.txt").write_text("x.raw\n")
    with pytest.raises(InputListError, match="not a regular file|is a directory") as err:
        run_container(store, "default", model, folder / "list.txt", tmp_path / "out")
    assert_refused(err, target)


# -- outputs stay under OUT ---------------------------------------------------------------------


ESCAPING_NAMES = ["../../escaped", "/abs/escaped", "..", "C:\\escaped", "a/../../b", "a//b"]


def _named_outputs_container(folder: Path, names: list[str]) -> Path:
    nodes = [Node(f"n{i}", "Relu", ("x",), (name,)) for i, name in enumerate(names)]
    graph = Graph(
        "names",
        [TensorInfo("x", (1, 4))],
        [TensorInfo(n, (1, 4)) for n in names],
        nodes,
        tensors={n: TensorInfo(n, (1, 4)) for n in names},
        opset=13,
    )
    from workbench.engine.container import Container, make_manifest

    dlc = folder / "names.dlc"
    folder.mkdir()
    write_container(dlc, Container(make_manifest(converter={"command": "test"}), graph))
    (folder / "x.raw").write_bytes(np.ones(4, "<f4").tobytes())
    (folder / "list.txt").write_text("x.raw\n")
    return dlc


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_run_refuses_tensor_names_that_are_no_path_under_the_output_folder(
    tmp_path: Path, store: Store, name: str
) -> None:
    """The vendor layout keeps names as paths: one that would leave Result_N (or is
    no plain relative path) is refused before any work, suggesting --flat-names."""
    dlc = _named_outputs_container(tmp_path / "box", [name])
    with pytest.raises(BadInput, match="cannot be a file path under Result_N.*--flat-names"):
        run_container(store, "default", dlc, dlc.parent / "list.txt", tmp_path / "box" / "out")
    assert not (tmp_path / "box" / "out").exists()
    assert sorted(p.name for p in tmp_path.rglob("*.raw")) == ["x.raw"]


def test_flat_run_outputs_stay_in_the_output_folder_whatever_the_tensor_names(
    tmp_path: Path, store: Store
) -> None:
    dlc = _named_outputs_container(tmp_path / "box", ESCAPING_NAMES)
    out = tmp_path / "box" / "out"
    run_container(
        store, "default", dlc, dlc.parent / "list.txt", out, RunOptions(debug=True, flat_names=True)
    )
    written = [p for p in tmp_path.rglob("*.raw") if p.parent != dlc.parent]
    assert len(written) == len(ESCAPING_NAMES)
    assert all(p.parent == out / "Result_0" for p in written), written
    shutil.rmtree(out)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("role", ["container", "input list", "encodings"])
def test_a_fifo_given_as_a_file_is_refused_without_blocking(
    tmp_path: Path, store: Store, model: Path, role: str
) -> None:
    """Opening a FIFO for reading blocks until a writer comes: it must never be opened."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    listing, _ = write_inputs(tmp_path, 1)
    with pytest.raises((ContainerError, InputListError, BadInput), match="not a regular file"):
        if role == "container":
            run_container(store, "default", fifo, listing, tmp_path / "out")
        elif role == "input list":
            run_container(store, "default", model, fifo, tmp_path / "out")
        else:
            options = QuantOptions(override_params=str(fifo))
            quantize_job(
                store, "default", QuantizeRequest(model, listing, tmp_path / "q.dlc", options)
            )
