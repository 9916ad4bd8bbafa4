"""The container: exact round trips, atomic writes, and refusal of hostile archives."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import stat
import warnings
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench import __version__
from workbench.engine import container as container_module
from workbench.engine.container import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Container,
    file_sha256,
    make_manifest,
    read_container,
    read_manifest,
    write_container,
)
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.errors import ContainerError, NotFound

# -- building containers ----------------------------------------------------------------------


def small_graph() -> Graph:
    rng = np.random.default_rng(0)
    params = {
        "w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "b": rng.standard_normal(4).astype(np.float32),
        "shape": np.array([1, -1], dtype=np.int64),
        "fc_w": rng.standard_normal((10, 256)).astype(np.float32),
    }
    nodes = [
        Node(
            "conv",
            "Conv",
            ("x", "w", "b"),
            ("c",),
            {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3], "auto_pad": "NOTSET", "group": 1},
        ),
        Node("relu", "Relu", ("c",), ("r",)),
        Node("reshape", "Reshape", ("r", "shape"), ("f",)),
        Node("fc", "Gemm", ("f", "fc_w", ""), ("y",), {"transB": 1, "alpha": 1.0}),
    ]
    tensors = {
        name: TensorInfo(name, shape)
        for name, shape in [
            ("c", (1, 4, 8, 8)),
            ("r", (1, 4, 8, 8)),
            ("f", (1, 256)),
            ("y", (1, 10)),
        ]
    }
    tensors["w"] = TensorInfo("w", (4, 3, 3, 3))
    return Graph(
        "small",
        [TensorInfo("x", (1, 3, 8, 8))],
        [TensorInfo("y", (1, 10))],
        nodes,
        params,
        tensors,
        opset=17,
    )


def rich_graph() -> Graph:
    """Parameters of every storable kind and attributes of every IR kind, including arrays."""
    g = small_graph()
    g.params.update(
        {
            "w_q": np.arange(-128, 128, dtype=np.int8).reshape(16, 16),
            "a_q": np.arange(256, dtype=np.uint8),
            "b_q": np.array([-(2**31), 0, 2**31 - 1], dtype=np.int32),
            "h_q": np.array([-32768, 7, 32767], dtype=np.int16),
            "u_q": np.array([0, 65535], dtype=np.uint16),
            "mask": np.array([[True, False], [False, True]]),
            "scalar": np.array(3.5, dtype=np.float32),
            "empty": np.zeros((0, 3), dtype=np.float32),
            "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        }
    )
    attrs = {
        "i": -7,
        "big": 2**40,
        "f": 0.1,
        "f32": float(np.float32(1.1)),
        "inf": -math.inf,
        "s": "NOTSET ünïcødé",
        "flag": True,
        "ints": [1, -2, 3],
        "floats": [0.5, 1e-30, 3.0],
        "strs": ["a", "b"],
        "none_yet": [],
        "t_f32": np.array([[1.5, -0.0], [np.nan, 2.0]], dtype=np.float32),
        "t_i64": np.array([1, 2**62], dtype=np.int64),
        "t_f16": np.array([0.1, 65504], dtype=np.float16),
        "t_f64": np.array(np.pi),
        "t_bool": np.array([True, False]),
        "t_list": [np.array([1], dtype=np.int32), np.array([2.0], dtype=np.float32)],
    }
    inputs = ("y", "w_q", "a_q", "b_q", "h_q", "u_q", "mask", "scalar", "empty", "fortran")
    g.nodes.append(Node("custom", "Custom", inputs, ("z", ""), attrs, domain="com.example"))
    g.outputs.append(TensorInfo("z", (1,), "int64"))
    return g


def quantized_container() -> Container:
    manifest = make_manifest(
        converter={"command": "workbench convert m.onnx -o m.dlc", "source": "m.onnx"},
        quantizer={
            "command": "workbench quantize",
            "options": {"bitwidth": 8, "algorithms": ["cle"]},
        },
        note="kept",
    )
    return Container(
        manifest=manifest,
        graph=rich_graph(),
        encodings={
            "c": {"min": -1.0, "max": 2.5, "delta": 0.0137, "offset": -73, "bitwidth": 8},
            "y": {"min": 0.0, "max": 1.0, "delta": 1 / 255, "offset": 0, "symmetric": False},
        },
        param_encodings={
            "a_q": {"min": -0.5, "max": 0.5, "delta": 1 / 255, "offset": -128, "bitwidth": 8},
            "u_q": {
                "axis": 0,
                "min": [-1.0, -2.0],
                "max": [1.0, 2.0],
                "delta": [2e-5, 4e-5],
                "offset": [-32768, -32768],
                "bitwidth": 16,
                "symmetric": True,
            },  # fmt: skip
            "b_q": {"min": -1.0, "max": 1.0, "delta": 1e-9, "offset": 0, "bitwidth": 32},
        },
        records={"hta_subnets.json": b'{"subnets": []}', "blob.bin": bytes(range(256)) * 3},
    )


def float_container() -> Container:
    return Container(make_manifest(converter={"command": "workbench convert"}), small_graph())


def assert_values_identical(x: Any, y: Any) -> None:
    if isinstance(x, np.ndarray):
        assert isinstance(y, np.ndarray)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == np.ascontiguousarray(y).tobytes() or np.array_equal(
            x, y, equal_nan=True
        )
    elif isinstance(x, list):
        assert isinstance(y, list) and len(x) == len(y)
        for i, j in zip(x, y, strict=True):
            assert_values_identical(i, j)
    elif isinstance(x, float) and math.isnan(x):
        assert isinstance(y, float) and math.isnan(y)
    else:
        assert type(x) is type(y) and x == y


def assert_graphs_identical(a: Graph, b: Graph) -> None:
    assert (a.name, a.opset, a.inputs, a.outputs, a.tensors) == (
        b.name,
        b.opset,
        b.inputs,
        b.outputs,
        b.tensors,
    )
    assert len(a.nodes) == len(b.nodes)
    for na, nb in zip(a.nodes, b.nodes, strict=True):
        assert (na.name, na.op_type, na.domain, na.inputs, na.outputs) == (
            nb.name,
            nb.op_type,
            nb.domain,
            nb.inputs,
            nb.outputs,
        )
        assert list(na.attrs) == list(nb.attrs)
        for key in na.attrs:
            assert_values_identical(na.attrs[key], nb.attrs[key])
    assert list(a.params) == list(b.params)
    for name in a.params:
        pa, pb = a.params[name], b.params[name]
        assert pa.dtype == pb.dtype and pa.shape == pb.shape, name
        assert np.array_equal(pa, pb), name


# -- round trip -------------------------------------------------------------------------------


def test_round_trip_is_exact(tmp_path: Path) -> None:
    original = quantized_container()
    path = tmp_path / "q.dlc"
    written = write_container(path, original)
    assert written == path.stat().st_size

    loaded = read_container(path)
    assert_graphs_identical(original.graph, loaded.graph)
    assert loaded.encodings == original.encodings
    assert loaded.param_encodings == original.param_encodings
    assert loaded.records == original.records
    assert loaded.quantized and loaded.params_loaded
    assert loaded.file_size == written
    for key, value in original.manifest.items():
        assert loaded.manifest[key] == value
    assert loaded.manifest["quantizer"]["options"] == {"bitwidth": 8, "algorithms": ["cle"]}


def test_rewriting_a_read_container_is_exact(tmp_path: Path) -> None:
    write_container(tmp_path / "a.dlc", quantized_container())
    first = read_container(tmp_path / "a.dlc")
    write_container(tmp_path / "b.dlc", first)
    second = read_container(tmp_path / "b.dlc")
    assert_graphs_identical(first.graph, second.graph)
    assert (second.encodings, second.param_encodings, second.records) == (
        first.encodings,
        first.param_encodings,
        first.records,
    )


def test_manifest_describes_and_indexes_every_entry(tmp_path: Path) -> None:
    path = tmp_path / "f.dlc"
    write_container(path, float_container())
    manifest = read_manifest(path)
    assert manifest["format"] == FORMAT_NAME and manifest["format_version"] == FORMAT_VERSION
    assert manifest["producer"] == {"name": "workbench", "version": __version__}
    created = datetime.fromisoformat(manifest["created"].replace("Z", "+00:00"))
    assert created.utcoffset().total_seconds() == 0
    assert manifest["quantized"] is False and manifest["quantizer"] is None
    assert manifest["converter"] == {"version": __version__, "command": "workbench convert"}

    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        index = {e["name"]: e for e in manifest["entries"]}
        assert names == set(index) | {"manifest.json"}
        assert "encodings.json" not in names  # nothing to store
        for name, e in index.items():
            data = zf.read(name)
            assert e["size"] == len(data)
            assert e["sha256"] == hashlib.sha256(data).hexdigest()
    assert read_container(path).manifest == manifest


def test_params_are_stored_uncompressed_so_sizes_reflect_bytes(tmp_path: Path) -> None:
    def one_param(dtype: str) -> Container:
        w = np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)
        if dtype == "uint8":
            w = np.clip(w * 40 + 128, 0, 255).astype(np.uint8)
        g = Graph("m", [TensorInfo("x", (1, 256))], [TensorInfo("y", (1, 256))], [])
        g.nodes = [Node("mm", "MatMul", ("x", "w"), ("y",))]
        g.params = {"w": w}
        return Container(make_manifest(quantizer={} if dtype == "uint8" else None), g)

    float_size = write_container(tmp_path / "f.dlc", one_param("float32"))
    quant_size = write_container(tmp_path / "q.dlc", one_param("uint8"))
    assert 0.24 < quant_size / float_size < 0.27
    with zipfile.ZipFile(tmp_path / "f.dlc") as zf:
        assert zf.getinfo("params/0.npy").compress_type == zipfile.ZIP_STORED


def test_read_without_params_keeps_their_description(tmp_path: Path) -> None:
    path = tmp_path / "q.dlc"
    original = quantized_container()
    write_container(path, original)
    light = read_container(path, load_params=False)
    assert light.graph.params == {} and not light.params_loaded
    assert light.param_infos == {
        n: TensorInfo(n, a.shape, a.dtype.name) for n, a in original.graph.params.items()
    }
    assert light.graph.nodes[-1].attrs["t_i64"].dtype == np.int64  # attributes always load
    with pytest.raises(ContainerError, match="not loaded"):
        write_container(tmp_path / "again.dlc", light)


def test_file_sha256(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(b"abc" * 1_000_000)
    assert file_sha256(p) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()


# -- what the writer refuses ------------------------------------------------------------------


def test_writer_refuses_unstorable_content(tmp_path: Path) -> None:
    g = small_graph()
    g.params["b"] = g.params["b"].astype(np.float64)
    with pytest.raises(ContainerError, match="parameter 'b' has dtype float64"):
        write_container(tmp_path / "a.dlc", Container(make_manifest(), g))

    g = small_graph()
    g.tensors["w"] = TensorInfo("w", (4, 3, 1, 1))
    with pytest.raises(ContainerError, match="graph declares"):
        write_container(tmp_path / "a.dlc", Container(make_manifest(), g))

    bad_records = Container(make_manifest(), small_graph(), records={"../x.bin": b""})
    with pytest.raises(ContainerError, match="record name"):
        write_container(tmp_path / "a.dlc", bad_records)

    bad_enc = Container(make_manifest(), small_graph(), encodings={"c": object()})
    with pytest.raises(ContainerError, match="not JSON-serializable"):
        write_container(tmp_path / "a.dlc", bad_enc)

    g = small_graph()
    g.nodes[0] = Node("conv", "Conv", ("x", "nope", "b"), ("c",))
    with pytest.raises(ContainerError, match="inconsistent graph"):
        write_container(tmp_path / "a.dlc", Container(make_manifest(), g))

    with pytest.raises(ContainerError, match="cannot write container"):
        write_container(tmp_path / "missing-dir" / "a.dlc", float_container())
    assert os.listdir(tmp_path) == []


# -- atomic write -----------------------------------------------------------------------------


def _failing_write_array(exc: BaseException):
    real = np.lib.format.write_array
    calls = {"n": 0}

    def write_array(fp, array, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # after one parameter is already in the archive
            fp.write(b"\x93NUMPY partial")
            raise exc
        return real(fp, array, *args, **kwargs)

    return write_array


@pytest.mark.parametrize("existing", [True, False], ids=["replace", "new"])
def test_failed_write_leaves_target_untouched_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    target = tmp_path / "m.dlc"
    if existing:
        target.write_bytes(b"the previous container")
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np.lib.format, "write_array", _failing_write_array(full))
    with pytest.raises(ContainerError, match="No space left on device"):
        write_container(target, float_container())
    if existing:
        assert target.read_bytes() == b"the previous container"
        assert os.listdir(tmp_path) == ["m.dlc"]
    else:
        assert os.listdir(tmp_path) == []


def test_interrupted_write_propagates_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m.dlc"
    target.write_bytes(b"old")
    monkeypatch.setattr(np.lib.format, "write_array", _failing_write_array(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_container(target, float_container())
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.dlc"]


def test_failed_rename_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m.dlc"
    target.write_bytes(b"old")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(container_module.os, "replace", refuse)
    with pytest.raises(ContainerError, match="Permission denied"):
        write_container(target, float_container())
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.dlc"]


def test_successful_write_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "m.dlc"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_container(target, float_container())
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert read_container(target).graph.name == "small"
    assert os.listdir(tmp_path) == ["m.dlc"]


# -- hostile and foreign archives -------------------------------------------------------------


def entries_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def write_zip(
    path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_STORED
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we plant
        with zipfile.ZipFile(path, "w", method) as zf:
            for name, data in entries:
                zf.writestr(name, data)


def reindexed(entries: dict[str, bytes], **manifest_changes: Any) -> dict[str, bytes]:
    """The entries with a manifest whose index matches them (so only the planted fault shows)."""
    manifest = json.loads(entries["manifest.json"])
    manifest["entries"] = [
        {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
        for n, d in entries.items()
        if n != "manifest.json"
    ]
    manifest.update(manifest_changes)
    return {**entries, "manifest.json": json.dumps(manifest).encode()}


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    UNPICKLED.append("unpickled!")
    return "evil"


class Evil:
    def __reduce__(self):
        return (_record_unpickling, ())


@pytest.fixture
def valid(tmp_path: Path) -> dict[str, bytes]:
    path = tmp_path / "valid.dlc"
    write_container(path, float_container())
    return entries_of(path)


def _manifest(entries: dict[str, bytes]) -> dict[str, Any]:
    return json.loads(entries["manifest.json"])


def _with_index_change(entries: dict[str, bytes], name: str, **change: Any) -> dict[str, bytes]:
    manifest = _manifest(entries)
    for e in manifest["entries"]:
        if e["name"] == name:
            e.update(change)
    return {**entries, "manifest.json": json.dumps(manifest).encode()}


def _symlink_info() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("records/link.bin")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _graph_with(entries: dict[str, bytes], mutate) -> dict[str, bytes]:
    doc = json.loads(entries["graph.json"])
    mutate(doc)
    return reindexed({**entries, "graph.json": json.dumps(doc).encode()})


def _flip_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


HOSTILE = {
    "not a zip": (
        lambda v, p: p.write_bytes(b"hello, I am not a container" * 10),
        "not a zip archive",
    ),
    "empty file": (lambda v, p: p.write_bytes(b""), "is empty"),
    "truncated": (
        lambda v, p: (write_zip(p, list(v.items())), p.write_bytes(p.read_bytes()[:-200])),
        "truncated or corrupt",
    ),
    "dotdot": (lambda v, p: write_zip(p, [*v.items(), ("../evil", b"x")]), r"escapes the archive"),
    "nested dotdot": (
        lambda v, p: write_zip(p, [*v.items(), ("records/../../evil.bin", b"x")]),
        r"escapes the archive",
    ),
    "absolute": (lambda v, p: write_zip(p, [*v.items(), ("/etc/evil", b"x")]), "absolute path"),
    "drive letter": (lambda v, p: write_zip(p, [*v.items(), ("C:/evil", b"x")]), "absolute path"),
    "backslash": (
        lambda v, p: write_zip(p, [*v.items(), ("records\\x.bin", b"x")]),
        "backslash",
    ),
    "duplicate": (
        lambda v, p: write_zip(p, [*v.items(), ("graph.json", v["graph.json"])]),
        "duplicate entry 'graph.json'",
    ),
    "symlink": (
        lambda v, p: write_zip(p, [*v.items(), (_symlink_info(), b"/etc/passwd")]),
        "symbolic link",
    ),
    "unexpected name": (
        lambda v, p: write_zip(p, list(reindexed({**v, "notes.txt": b"hi"}).items())),
        "unexpected entry 'notes.txt'",
    ),
    "directory entry": (
        lambda v, p: write_zip(p, [*v.items(), ("params/", b"")]),
        "directory entry",
    ),
    "unlisted entry": (
        lambda v, p: write_zip(p, [*v.items(), ("records/x.bin", b"x")]),
        "'records/x.bin' is not listed in the manifest",
    ),
    "listed but missing": (
        lambda v, p: write_zip(p, [(n, d) for n, d in v.items() if n != "params/1.npy"]),
        "'params/1.npy' is listed in the manifest but missing",
    ),
    "size mismatch": (
        lambda v, p: write_zip(p, list(_with_index_change(v, "graph.json", size=3).items())),
        "'graph.json' declares .* bytes but the manifest says 3",
    ),
    "sha mismatch": (
        lambda v, p: write_zip(
            p, list(_with_index_change(v, "graph.json", sha256="0" * 64).items())
        ),
        "sha256 does not match",
    ),
    "tampered parameter": (
        lambda v, p: write_zip(
            p, list({**v, "params/0.npy": _flip_byte(v["params/0.npy"])}.items())
        ),
        r"'params/0.npy' is corrupt: sha256",
    ),
    "missing manifest": (
        lambda v, p: write_zip(p, [(n, d) for n, d in v.items() if n != "manifest.json"]),
        "has no manifest.json",
    ),
    "newer format version": (
        lambda v, p: write_zip(p, list(reindexed(v, format_version=FORMAT_VERSION + 1).items())),
        "written by a newer workbench",
    ),
    "foreign format": (
        lambda v, p: write_zip(p, list(reindexed(v, format="something-else").items())),
        "not a workbench container",
    ),
    "manifest not json": (
        lambda v, p: write_zip(
            p,
            [*((n, d) for n, d in v.items() if n != "manifest.json"), ("manifest.json", b"{oops")],
        ),
        "'manifest.json' is not valid JSON",
    ),
    "graph not json": (
        lambda v, p: write_zip(p, list(reindexed({**v, "graph.json": b"[1, 2"}).items())),
        "'graph.json' is not valid JSON",
    ),
    "graph malformed": (
        lambda v, p: write_zip(
            p, list(_graph_with(v, lambda d: d.update(nodes=[{"name": 3}])).items())
        ),
        "malformed 'name'",
    ),
    "pickled object array": (
        lambda v, p: write_zip(
            p,
            list(
                reindexed(
                    {**v, "params/0.npy": npy_bytes(np.array([Evil()], dtype=object))}
                ).items()
            ),
        ),
        "'params/0.npy' has dtype object",
    ),
    "npy shape lies": (
        lambda v, p: write_zip(
            p, list(reindexed({**v, "params/1.npy": npy_bytes(np.zeros(5, np.float32))}).items())
        ),
        r"holds float32\[5\] but the graph declares float32\[4\]",
    ),
    "npy truncated data": (
        lambda v, p: write_zip(
            p, list(reindexed({**v, "params/1.npy": v["params/1.npy"][:-4]}).items())
        ),
        "data bytes, expected 16",
    ),
    "not npy": (
        lambda v, p: write_zip(p, list(reindexed({**v, "params/1.npy": b"PK not numpy"}).items())),
        "not a valid .npy buffer",
    ),
    "unreferenced parameter": (
        lambda v, p: write_zip(
            p, list(reindexed({**v, "params/99.npy": v["params/1.npy"]}).items())
        ),
        "'params/99.npy' is not referenced",
    ),
    "disallowed param dtype in graph": (
        lambda v, p: write_zip(
            p,
            list(_graph_with(v, lambda d: d["params"][1].update(dtype="float64")).items()),
        ),
        "disallowed dtype 'float64'",
    ),
    "vendor dlc": (
        lambda v, p: write_zip(
            p, [("model", b"\x00" * 64), ("model.params", b"\x01"), ("dlc.metadata", b"k=v")]
        ),
        r"vendor \(SNPE\) DLC, not a workbench container; convert the original model with `workbench convert`",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_archives_are_refused_clearly(
    tmp_path: Path, valid: dict[str, bytes], case: str
) -> None:
    build, message = HOSTILE[case]
    path = tmp_path / "hostile.dlc"
    build(valid, path)
    with pytest.raises(ContainerError, match=message) as info:
        read_container(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert not UNPICKLED


def test_tampered_record_is_refused_like_any_entry(tmp_path: Path) -> None:
    # records/ are opaque to the reader, but not unchecked: a changed byte with a stale
    # sha256 is refused (the AIP would otherwise run from a tampered HTA record).
    path = tmp_path / "q.dlc"
    write_container(path, quantized_container())
    entries = entries_of(path)
    entries["records/blob.bin"] = _flip_byte(entries["records/blob.bin"])
    write_zip(path, list(entries.items()))
    with pytest.raises(ContainerError, match=r"'records/blob.bin' is corrupt: sha256"):
        read_container(path)


def test_zip_bomb_is_refused_before_decompressing(
    tmp_path: Path, valid: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A record that inflates to 20 MiB while the manifest claims 10 bytes.
    entries = reindexed({**valid, "records/bomb.bin": bytes(10)})
    entries["records/bomb.bin"] = bytes(20 << 20)
    path = tmp_path / "bomb.dlc"
    write_zip(path, list(entries.items()), method=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ContainerError, match="declares 20971520 bytes but the manifest says 10"):
        read_container(path)

    # And a total bound regardless of what the manifest says.
    monkeypatch.setattr(container_module, "MAX_TOTAL_BYTES", 1000)
    write_zip(path, list(reindexed(valid).items()))
    with pytest.raises(ContainerError, match="uncompressed .limit 1000"):
        read_manifest(path)


def test_vendor_dlc_that_is_not_a_zip_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "vendor.dlc"
    path.write_bytes(b"\x18\x00\x00\x00DLC3" + bytes(100))
    with pytest.raises(ContainerError, match="not a zip archive.*vendor \\(SNPE\\) DLC"):
        read_container(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="container not found"):
        read_container(tmp_path / "nope.dlc")
    with pytest.raises(ContainerError, match="is a directory"):
        read_container(tmp_path)


def test_read_manifest_checks_structure_but_reads_no_data(
    tmp_path: Path, valid: dict[str, bytes]
) -> None:
    path = tmp_path / "c.dlc"
    # A corrupt parameter does not stop a manifest read, but a hostile name does.
    write_zip(path, list({**valid, "params/0.npy": _flip_byte(valid["params/0.npy"])}.items()))
    assert read_manifest(path)["format"] == FORMAT_NAME
    write_zip(path, [*valid.items(), ("../evil", b"")])
    with pytest.raises(ContainerError, match="escapes"):
        read_manifest(path)


# -- each check of the reader by its own, whole message ----------------------------------------


def _stored(entries: dict[str, bytes], **infos: Any) -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    """The entries as written by ``write_zip``; ``infos`` sets ZipInfo fields of one entry
    (``graph__json={"flag_bits": 1}``)."""
    out: list[tuple[str | zipfile.ZipInfo, bytes]] = []
    for name, data in entries.items():
        change = infos.get(name.replace(".", "__").replace("/", "_"))
        if change:
            info = zipfile.ZipInfo(name)
            for key, value in change.items():
                setattr(info, key, value)
            out.append((info, data))
        else:
            out.append((name, data))
    return out


def _index_item(entries: dict[str, bytes], name: str, item: Any) -> dict[str, bytes]:
    """The manifest's index with the item of ``name`` replaced by ``item``."""
    manifest = _manifest(entries)
    manifest["entries"] = [item if e["name"] == name else e for e in manifest["entries"]]
    return {**entries, "manifest.json": json.dumps(manifest).encode()}


def _encodings(entries: dict[str, bytes], body: Any, quantized: bool = True) -> dict[str, bytes]:
    return reindexed({**entries, "encodings.json": json.dumps(body).encode()}, quantized=quantized)


_ENC = {"min": 0.0, "max": 1.0, "delta": 1 / 255, "offset": 0, "bitwidth": 8}
GOOD_SHA = "a" * 64
# (entries -> what is written, the whole message after "<path>: ")
EXACT = {
    "unsupported compression": (
        lambda v: _stored(v, graph__json={"compress_type": zipfile.ZIP_BZIP2}),
        "refusing entry 'graph.json': unsupported compression method 12",
    ),
    "vendor names only by prefix": (
        lambda v: [("model.info", b"x"), ("graph.json", v["graph.json"])],
        container_module._vendor_message(),
    ),
    "vendor dlc. prefix": (
        lambda v: [("dlc.version", b"x")],
        container_module._vendor_message(),
    ),
    "manifest not an object": (
        lambda v: list({**v, "manifest.json": b"[]"}.items()),
        "manifest.json is not a JSON object",
    ),
    "foreign format, named": (
        lambda v: list(reindexed(v, format="other").items()),
        "not a workbench container (manifest format is 'other')",
    ),
    "format version a bool": (
        lambda v: list(reindexed(v, format_version=True).items()),
        "manifest.json has an invalid format_version True",
    ),
    "format version a string": (
        lambda v: list(reindexed(v, format_version="1").items()),
        "manifest.json has an invalid format_version '1'",
    ),
    "format version 0": (
        lambda v: list(reindexed(v, format_version=0).items()),
        "manifest.json has an invalid format_version 0",
    ),
    "quantized not a bool": (
        lambda v: list(reindexed(v, quantized="yes").items()),
        "manifest.json: 'quantized' must be true or false",
    ),
    "no entry index": (
        lambda v: list(
            {**v, "manifest.json": json.dumps({**_manifest(v), "entries": None}).encode()}.items()
        ),
        "manifest.json has no entry index",
    ),
    "index item not an object": (
        lambda v: list(_index_item(v, "graph.json", 5).items()),
        "manifest.json: malformed entry index item 5",
    ),
    "index name not a string": (
        lambda v: list(
            _index_item(v, "graph.json", {"name": 5, "size": 1, "sha256": GOOD_SHA}).items()
        ),
        "manifest.json: malformed entry index item {'name': 5, 'size': 1, 'sha256': '"
        + GOOD_SHA
        + "'}",
    ),
    "index size a string": (
        lambda v: list(
            _index_item(
                v, "graph.json", {"name": "graph.json", "size": "1", "sha256": GOOD_SHA}
            ).items()
        ),
        "manifest.json: malformed entry index item {'name': 'graph.json', 'size': '1', 'sha256': '"
        + GOOD_SHA
        + "'}",
    ),
    "index size a bool": (
        lambda v: list(
            _index_item(
                v, "graph.json", {"name": "graph.json", "size": True, "sha256": GOOD_SHA}
            ).items()
        ),
        "manifest.json: malformed entry index item {'name': 'graph.json', 'size': True, 'sha256': '"
        + GOOD_SHA
        + "'}",
    ),
    "index size negative": (
        lambda v: list(
            _index_item(
                v, "graph.json", {"name": "graph.json", "size": -1, "sha256": GOOD_SHA}
            ).items()
        ),
        "manifest.json: malformed entry index item {'name': 'graph.json', 'size': -1, 'sha256': '"
        + GOOD_SHA
        + "'}",
    ),
    "index digest not a string": (
        lambda v: list(
            _index_item(v, "graph.json", {"name": "graph.json", "size": 1, "sha256": 7}).items()
        ),
        "manifest.json: malformed entry index item {'name': 'graph.json', 'size': 1, 'sha256': 7}",
    ),
    "index digest not hex": (
        lambda v: list(
            _index_item(
                v, "graph.json", {"name": "graph.json", "size": 1, "sha256": "z" * 64}
            ).items()
        ),
        "manifest.json: malformed entry index item {'name': 'graph.json', 'size': 1, 'sha256': '"
        + "z" * 64
        + "'}",
    ),
    "index names the manifest": (
        lambda v: list(
            _index_item(
                v, "graph.json", {"name": "manifest.json", "size": 1, "sha256": GOOD_SHA}
            ).items()
        ),
        "manifest.json: bad or repeated entry 'manifest.json' in the index",
    ),
    "index name outside the layout": (
        lambda v: list(
            _index_item(v, "graph.json", {"name": "../x", "size": 1, "sha256": GOOD_SHA}).items()
        ),
        "manifest.json: bad or repeated entry '../x' in the index",
    ),
    "no graph": (
        lambda v: list(reindexed({k: d for k, d in v.items() if k != "graph.json"}).items()),
        "container has no graph.json",
    ),
    "graph not an object": (
        lambda v: list(reindexed({**v, "graph.json": b"[]"}).items()),
        "entry 'graph.json' is not a JSON object",
    ),
    "graph inconsistent": (
        lambda v: list(_graph_with(v, lambda d: d["nodes"][0].update(inputs=["nowhere"])).items()),
        "the graph is inconsistent: ",
    ),
    "encodings not an object": (
        lambda v: list(_encodings(v, {"encodings": []}).items()),
        "entry 'encodings.json': 'encodings' must be a JSON object",
    ),
    "param encodings not an object": (
        lambda v: list(_encodings(v, {"param_encodings": 3}).items()),
        "entry 'encodings.json': 'param_encodings' must be a JSON object",
    ),
    "encodings in a float container": (
        lambda v: list(_encodings(v, {"encodings": {"x": _ENC}}, quantized=False).items()),
        "the manifest says not quantized, but encodings.json has encodings",
    ),
    "param encodings in a float container": (
        lambda v: list(_encodings(v, {"param_encodings": {"w": _ENC}}, quantized=False).items()),
        "the manifest says not quantized, but encodings.json has encodings",
    ),
    "malformed activation encoding": (
        lambda v: list(_encodings(v, {"encodings": {"x": {"min": 0.0}}}).items()),
        "entry 'encodings.json': activation 'x': malformed encoding: missing max, delta, offset",
    ),
}


@pytest.mark.parametrize("case", list(EXACT), ids=list(EXACT))
def test_each_check_refuses_with_its_own_message(
    tmp_path: Path, valid: dict[str, bytes], case: str
) -> None:
    build, message = EXACT[case]
    path = tmp_path / "c.dlc"
    write_zip(path, build(valid))
    with pytest.raises(ContainerError) as info:
        read_container(path)
    text = str(info.value)
    if message.endswith(": "):  # the rest is the graph's own words
        assert text.startswith(f"{path}: {message}")
    else:
        assert text == f"{path}: {message}"


def test_empty_entries_and_encodings_without_activations_are_read(
    tmp_path: Path, valid: dict[str, bytes]
) -> None:
    path = tmp_path / "c.dlc"
    entries = reindexed({**valid, "records/empty.bin": b""})
    write_zip(path, list(entries.items()))
    c = read_container(path)
    assert c.records == {"empty.bin": b""} and c.encodings == {} and c.param_encodings == {}
    assert c.record_index["empty.bin"] == (0, hashlib.sha256(b"").hexdigest())
    # an encodings.json without either table: nothing encoded, nothing refused
    write_zip(path, list(_encodings(valid, {}).items()))
    c = read_container(path)
    assert c.encodings == {} and c.param_encodings == {} and c.quantized


def test_an_encrypted_entry_is_refused(tmp_path: Path, valid: dict[str, bytes]) -> None:
    path = tmp_path / "c.dlc"
    write_zip(path, list(valid.items()))
    raw = bytearray(path.read_bytes())
    # the central directory's record of graph.json: its general purpose flags, bit 0
    at = raw.index(b"PK\x01\x02")
    while True:
        name_len = int.from_bytes(raw[at + 28 : at + 30], "little")
        if raw[at + 46 : at + 46 + name_len] == b"graph.json":
            break
        at = raw.index(b"PK\x01\x02", at + 4)
    raw[at + 8] |= 0x1
    path.write_bytes(bytes(raw))
    with pytest.raises(ContainerError) as info:
        read_container(path)
    assert str(info.value) == f"{path}: refusing entry 'graph.json': it is encrypted"


def test_records_are_loaded_as_asked_and_always_indexed(tmp_path: Path) -> None:
    path = tmp_path / "q.dlc"
    write_container(path, quantized_container())
    entries = entries_of(path)
    sizes = {
        n.removeprefix("records/"): (len(d), hashlib.sha256(d).hexdigest())
        for n, d in entries.items()
        if n.startswith("records/")
    }
    assert set(sizes) == {"hta_subnets.json", "blob.bin"}
    for load, loaded in (
        (True, {"hta_subnets.json", "blob.bin"}),
        (False, set()),
        (["blob.bin"], {"blob.bin"}),
        ((), set()),
    ):
        c = read_container(path, load_records=load)
        assert set(c.records) == loaded, load
        assert c.record_index == sizes


def test_the_limits_are_inclusive(
    tmp_path: Path, valid: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.dlc"
    write_zip(path, list(valid.items()))
    n = len(valid)
    total = sum(len(d) for d in valid.values())
    largest_json = max(len(valid["manifest.json"]), len(valid["graph.json"]))
    for name, value in (
        ("MAX_ENTRIES", n),
        ("MAX_TOTAL_BYTES", total),
        ("MAX_JSON_BYTES", largest_json),
    ):
        with monkeypatch.context() as m:
            m.setattr(container_module, name, value)
            read_container(path)  # exactly at the limit: read
    cases = [
        ("MAX_ENTRIES", n - 1, f"archive has {n} entries (more than {n - 1})"),
        (
            "MAX_TOTAL_BYTES",
            total - 1,
            f"refusing archive: entries declare {total} bytes uncompressed (limit {total - 1})",
        ),
        (
            "MAX_JSON_BYTES",
            len(valid["manifest.json"]) - 1,
            f"manifest.json declares {len(valid['manifest.json'])} bytes "
            f"(limit {len(valid['manifest.json']) - 1})",
        ),
    ]
    if len(valid["graph.json"]) > len(valid["manifest.json"]):
        limit = len(valid["graph.json"]) - 1
        cases.append(
            (
                "MAX_JSON_BYTES",
                limit,
                f"entry 'graph.json' is {len(valid['graph.json'])} bytes (limit {limit})",
            )
        )
    for name, value, message in cases:
        with monkeypatch.context() as m:
            m.setattr(container_module, name, value)
            with pytest.raises(ContainerError) as info:
                read_container(path)
            assert str(info.value) == f"{path}: {message}"


def test_entries_larger_than_the_memory_left_are_refused_before_inflating(
    tmp_path: Path, valid: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.engine import memory
    from workbench.vocabulary import format_bytes

    path = tmp_path / "c.dlc"
    write_zip(path, list(valid.items()))
    big = max(valid, key=lambda n: len(valid[n]))
    size = len(valid[big])  # only this entry reaches the check
    monkeypatch.setattr(container_module, "_MEMORY_CHECK_BYTES", size)
    monkeypatch.setattr(memory, "available_memory", lambda: None)  # unknown: no check
    read_container(path)
    monkeypatch.setattr(memory, "available_memory", lambda: size)  # just enough
    read_container(path)
    monkeypatch.setattr(memory, "available_memory", lambda: size - 1)
    with pytest.raises(ContainerError) as info:
        read_container(path)
    assert str(info.value) == (
        f"{path}: entry {big!r} declares {format_bytes(size)} uncompressed, more than the "
        f"{format_bytes(size - 1)} of memory available"
    )
    monkeypatch.setattr(container_module, "_MEMORY_CHECK_BYTES", size + 1)  # below: unasked
    read_container(path)


def test_entries_are_read_in_chunks_and_crc_checked(
    tmp_path: Path, valid: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.dlc"
    write_zip(path, list(valid.items()))
    monkeypatch.setattr(container_module, "_CHUNK", 7)  # every entry takes many reads
    c = read_container(path)
    assert_graphs_identical(c.graph, float_container().graph)
    # A byte of the manifest changed inside the stored (uncompressed) archive: the JSON
    # stays valid, only the zip's CRC can tell.
    raw = path.read_bytes()
    text = valid["manifest.json"]
    at = raw.index(text) + text.index(b'"command"') + 2
    spoiled = raw[:at] + bytes([raw[at] ^ 0x20]) + raw[at + 1 :]  # 'o' <-> 'O'
    path.write_bytes(spoiled)
    with pytest.raises(ContainerError) as info:
        read_container(path)
    assert str(info.value) == (
        f"{path}: entry 'manifest.json' is corrupt: Bad CRC-32 for file 'manifest.json'"
    )
