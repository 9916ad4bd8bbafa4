"""Limits of the machine: read-only places, a full disk, a model too large for memory.

Each ends as one line on stderr and exit code 2 naming what is at fault, with no
partial output and nothing left ``running`` in a sound store. The full disk is a
file-size rlimit (SIGXFSZ ignored, so writes fail with EFBIG as on a full disk);
small memory is an address-space rlimit set inside the child.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workbench.engine import limits
from workbench.engine.limits import (
    TooLargeForMemory,
    check_fits,
    format_bytes,
    onnx_parameter_bytes,
)
from workbench.jobs.convert import convert_model
from workbench.jobs.runs import show_run
from workbench.store import open_store

from .jobproc import (
    can_honour_file_modes,
    deep_cnn,
    integrity,
    quiet_env,
    respect_file_modes,
    run_child,
    runs_of,
    stderr_lines,
    wide_mlp,
    workbench,
    write_inputs,
)

MiB = 1 << 20
GiB = 1 << 30


@pytest.fixture
def db(tmp_path: Path, store) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def small(store, tmp_path: Path) -> tuple[Path, Path]:
    """A small float container and a 2-sample input list."""
    container = tmp_path / "small.dlc"
    convert_model(store, "default", deep_cnn(tmp_path / "small.onnx", layers=2, hw=8), container)
    return container, write_inputs(tmp_path, 2, (1, 3, 8, 8))


def _one_line(err: str) -> str:
    lines = stderr_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _nothing_running(store, url: str, pid: int) -> list[str]:
    """The statuses of ``pid``'s runs once a store has been opened again (none running)."""
    open_store(url).close()
    statuses = [r.status for r in runs_of(store, pid)]
    assert "running" not in statuses
    return statuses


# ------------------------------------------------------------------ read-only places

needs_file_modes = pytest.mark.skipif(
    not can_honour_file_modes(), reason="root here cannot drop CAP_DAC_OVERRIDE"
)


def _read_only(folder: Path) -> Callable[[], None]:
    folder.chmod(0o555)
    return lambda: folder.chmod(0o755)


@needs_file_modes
def test_convert_into_a_read_only_folder(
    store, migrated_store_url: str, db: Path, tmp_path: Path
) -> None:
    model = deep_cnn(tmp_path / "m.onnx", layers=2, hw=8)
    out = tmp_path / "ro" / "m.dlc"
    out.parent.mkdir()
    restore = _read_only(out.parent)
    try:
        code, _, err = run_child(workbench(migrated_store_url, "convert", str(model), "-o", str(out)),
                                 preexec_fn=respect_file_modes)  # fmt: skip
    finally:
        restore()
    assert code == 2
    assert _one_line(err) == f"error: cannot write container {out}: Permission denied"
    assert os.listdir(out.parent) == []
    assert integrity(db) == ["ok"]


@needs_file_modes
def test_quantize_into_a_read_only_folder_fails_its_run(
    store, migrated_store_url: str, db: Path, tmp_path: Path, small: tuple[Path, Path]
) -> None:
    container, listing = small
    out = tmp_path / "ro" / "q.dlc"
    out.parent.mkdir()
    restore = _read_only(out.parent)
    try:
        argv = workbench(migrated_store_url, "quantize", str(container), "--input-list",
                         str(listing), "-o", str(out))  # fmt: skip
        code, _, err = run_child(argv, preexec_fn=respect_file_modes)
    finally:
        restore()
    message = f"cannot write container {out}: Permission denied"
    assert (code, _one_line(err)) == (2, f"error: {message}")
    assert os.listdir(out.parent) == []
    [run] = [r for r in _all_runs(store) if r.kind == "quantize"]
    assert (run.status, run.error) == ("failed", message)
    assert integrity(db) == ["ok"]


@needs_file_modes
def test_run_into_a_read_only_folder_is_one_line(
    store, migrated_store_url: str, tmp_path: Path, small: tuple[Path, Path]
) -> None:
    # The job lets the OSError through; the command line turns it into one line.
    container, listing = small
    out = tmp_path / "ro"
    out.mkdir()
    restore = _read_only(out)
    try:
        code, _, err = run_child(
            workbench(migrated_store_url, "run", str(container), "--input-list", str(listing),
                      "--output-dir", str(out)),
            preexec_fn=respect_file_modes,
        )  # fmt: skip
    finally:
        restore()
    assert (code, _one_line(err)) == (2, f"error: {out / 'Result_0'}: permission denied")
    [run] = _all_runs(store)
    assert run.status == "failed" and "Permission denied" in run.error


@needs_file_modes
def test_a_read_only_data_folder_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'workbench.db'}"
    open_store(url).close()  # an existing store; closing folds its WAL in
    model = deep_cnn(tmp_path / "m.onnx", layers=2, hw=8)
    out = tmp_path / "m.dlc"
    restore = _read_only(data)
    try:
        code, _, err = run_child(workbench(url, "convert", str(model), "-o", str(out)),
                                 preexec_fn=respect_file_modes)  # fmt: skip
    finally:
        restore()
    assert code == 2
    line = _one_line(err)
    assert line.startswith("error: store ") and str(data / "workbench.db") in line
    assert re.search(r"read-?only", line), line
    assert not out.exists()  # refused before any work
    assert integrity(data / "workbench.db") == ["ok"]


def _all_runs(store) -> list:
    from sqlalchemy import select

    from workbench.store import Run

    with store.read() as session:
        return list(session.scalars(select(Run).order_by(Run.id)))


# ------------------------------------------------------------------ a full disk


def _file_size_limit(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.fixture
def wide(store, tmp_path: Path) -> tuple[Path, Path]:
    """A 9 MiB float container (2.25 MiB quantized) and a 1-sample input list."""
    container = tmp_path / "wide.dlc"
    convert_model(store, "default", wide_mlp(tmp_path / "wide.onnx", width=1536), container)
    return container, write_inputs(tmp_path, 1, (1, 1536))


def test_convert_on_a_full_disk(store, migrated_store_url: str, db: Path, tmp_path: Path) -> None:
    model = wide_mlp(tmp_path / "w.onnx", width=1536)
    out = tmp_path / "out" / "w.dlc"
    out.parent.mkdir()
    code, _, err = run_child(workbench(migrated_store_url, "convert", str(model), "-o", str(out)),
                             preexec_fn=_file_size_limit(MiB))  # fmt: skip
    assert (code, _one_line(err)) == (2, f"error: cannot write container {out}: File too large")
    assert os.listdir(out.parent) == []  # no partial file, no temporary file
    assert integrity(db) == ["ok"]


def test_quantize_on_a_full_disk_fails_its_run(
    store, migrated_store_url: str, db: Path, tmp_path: Path, wide: tuple[Path, Path]
) -> None:
    container, listing = wide
    out = tmp_path / "out" / "q.dlc"
    out.parent.mkdir()
    argv = workbench(migrated_store_url, "quantize", str(container), "--input-list",
                     str(listing), "-o", str(out))  # fmt: skip
    code, _, err = run_child(argv, preexec_fn=_file_size_limit(MiB))
    message = f"cannot write container {out}: File too large"
    assert (code, _one_line(err)) == (2, f"error: {message}")
    assert os.listdir(out.parent) == []
    [run] = [r for r in _all_runs(store) if r.kind == "quantize"]
    assert (run.status, run.error) == ("failed", message)
    assert show_run(store, run.id).layers == ()
    assert integrity(db) == ["ok"]


def test_a_store_that_cannot_grow_is_one_line_and_leaves_nothing_running(
    store, migrated_store_url: str, db: Path, tmp_path: Path, wide: tuple[Path, Path]
) -> None:
    container, listing = wide
    out = tmp_path / "out" / "q.dlc"
    out.parent.mkdir()
    argv = workbench(migrated_store_url, "quantize", str(container), "--input-list",
                     str(listing), "-o", str(out))  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, preexec_fn=_file_size_limit(16 << 10),
                          env=quiet_env()) as proc:  # fmt: skip
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
    # The store's write-ahead log cannot grow past 16 KiB: SQLite says "disk I/O error".
    assert proc.returncode == 2
    assert _one_line(err).startswith(f"error: store {migrated_store_url}: ")
    assert os.listdir(out.parent) == []
    _nothing_running(store, migrated_store_url, proc.pid)
    assert integrity(db) == ["ok"]


# ------------------------------------------------------------------ too large for memory

# Runs ``workbench ARGS`` with only HEADROOM more bytes of address space than the
# interpreter already uses once the command's modules are imported.
_WITH_HEADROOM = """
import resource, sys
import psutil
import numpy, onnx, rich.progress, sqlalchemy
import workbench.cli, workbench.jobs.convert, workbench.jobs.infer, workbench.jobs.quantize
import workbench.engine.quant.quantizer, workbench.store
limit = psutil.Process().memory_info().vms + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["workbench", *sys.argv[2:]]
workbench.cli.main()
"""


def _with_headroom(headroom: int, url: str, *args: str) -> tuple[int, str, str]:
    argv = [sys.executable, "-c", _WITH_HEADROOM, str(headroom), "--db", url, *args]
    return run_child(argv, env=quiet_env())


def _external_model(path: Path, elements: int) -> Path:
    """A MatMul whose weight declares ``elements`` floats in a sparse external file."""
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[elements, 1])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", f"{path.stem}.bin"), ("length", str(4 * elements))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    with open(path.with_suffix(".bin"), "wb") as f:
        f.truncate(4 * elements)  # a hole: no disk used
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, elements])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _memory_refusal(err: str, path: Path, job: str, need: str, params: str) -> None:
    """``need`` is a regular expression (activations add a little to the parameters')."""
    pattern = (
        rf"error: {re.escape(str(path))} needs ~{need} of memory to {job} "
        rf"\(\dx its {re.escape(params)} of parameters(, and [\d.]+ [KM]iB of activations)?\); "
        rf"only [\d.]+ MiB available"
    )
    assert re.fullmatch(pattern, _one_line(err)), err


def test_convert_with_little_memory_refuses_by_size(
    store, migrated_store_url: str, tmp_path: Path
) -> None:
    # 1 GiB of declared external data and 512 MiB of address space: reading it would
    # fail (MemoryError) or, without an rlimit, draw the OOM killer.
    model = _external_model(tmp_path / "huge.onnx", 1 << 28)
    out = tmp_path / "huge.dlc"
    code, _, err = _with_headroom(512 * MiB, migrated_store_url, "convert", str(model), "-o",
                                  str(out))  # fmt: skip
    assert code == 2
    _memory_refusal(err, model, "convert", r"3\.0 GiB", "1.0 GiB")
    assert not out.exists()
    # The same headroom converts a model that fits: the check refuses only by size.
    small = deep_cnn(tmp_path / "small.onnx", layers=2, hw=8)
    code, _, err = _with_headroom(512 * MiB, migrated_store_url, "convert", str(small), "-o",
                                  str(tmp_path / "small.dlc"))  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize("job", ["quantize", "run"])
def test_quantize_or_run_with_little_memory_refuses_by_size(
    store, migrated_store_url: str, tmp_path: Path, job: str
) -> None:
    container = tmp_path / "wide.dlc"
    convert_model(store, "default", wide_mlp(tmp_path / "wide.onnx", width=4096), container)
    listing = write_inputs(tmp_path, 1, (1, 4096))
    if job == "quantize":
        extra = ["-o", str(tmp_path / "q.dlc")]
    else:
        extra = ["--output-dir", str(tmp_path / "o")]
    code, _, err = _with_headroom(96 * MiB, migrated_store_url, job, str(container),
                                  "--input-list", str(listing), *extra)  # fmt: skip
    assert code == 2
    need = r"192\.[01] MiB" if job == "quantize" else r"128\.0 MiB"
    _memory_refusal(err, container, job, need, "64.0 MiB")
    assert [r for r in _all_runs(store) if r.status == "running"] == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("q.", "o"))) == []


@pytest.mark.parametrize("where", ["embedded", "external"])
def test_absurd_declared_dims_are_refused_before_any_allocation(
    store, tmp_path: Path, where: str
) -> None:
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
    if where == "embedded":
        weight.raw_data = b"\0" * 16
    else:
        weight.data_location = TensorProto.EXTERNAL
        entry = weight.external_data.add()
        entry.key, entry.value = "location", "w.bin"
        (tmp_path / "w.bin").write_bytes(b"\0" * 16)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "absurd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1 << 20])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1 << 20])],
        initializer=[weight],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "absurd.onnx"
    onnx.save(model, path)
    with pytest.raises(TooLargeForMemory, match=r"needs ~12\.0 TiB .* its 4\.0 TiB of param"):
        convert_model(store, "default", path, tmp_path / "absurd.dlc")
    assert not (tmp_path / "absurd.dlc").exists()


@pytest.fixture
def little_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every job sees 1 MiB of available memory."""
    import workbench.jobs.bench
    import workbench.jobs.convert
    import workbench.jobs.infer
    import workbench.jobs.quantize

    for module in (workbench.jobs.bench, workbench.jobs.convert, workbench.jobs.infer,
                   workbench.jobs.quantize):  # fmt: skip
        monkeypatch.setattr(module, "available_memory", lambda: MiB)


def test_every_loading_job_checks_memory_first(store, tmp_path: Path, little_memory: None) -> None:
    from workbench.engine.quant.quantizer import QuantOptions
    from workbench.jobs.bench import BenchRequest, bench_job
    from workbench.jobs.infer import run_container
    from workbench.jobs.quantize import QuantizeRequest, quantize_job

    # 1536 x 1536 float32: 9 MiB of parameters.
    model = wide_mlp(tmp_path / "w.onnx", width=1536)
    with pytest.raises(TooLargeForMemory, match=r"w\.onnx needs ~27\.0 MiB .* to convert"):
        convert_model(store, "default", model, tmp_path / "w.dlc")
    container = tmp_path / "w.dlc"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("workbench.jobs.convert.available_memory", lambda: None)  # unknown: no check
        convert_model(store, "default", model, container)
    listing = write_inputs(tmp_path, 1, (1, 1536))
    attempts = {
        "quantize": lambda: quantize_job(store, "default", QuantizeRequest(
            container, listing, tmp_path / "q.dlc", QuantOptions())),
        "run": lambda: run_container(store, "default", container, listing, tmp_path / "o"),
        "bench": lambda: bench_job(store, "default", BenchRequest(
            [container], listing, {"runtimes": "cpu"})),
    }  # fmt: skip
    for job, attempt in attempts.items():
        with pytest.raises(TooLargeForMemory, match=rf"needs ~\d+\.\d MiB of memory to {job} "):
            attempt()
    assert _all_runs(store) == []  # refused before any run was recorded


# ------------------------------------------------------------------ limits.py itself


def test_check_fits_is_a_plain_comparison() -> None:
    check_fits("m.onnx", 100 * MiB, 300 * MiB, "convert")  # exactly fits
    check_fits("m.onnx", 100 * GiB, None, "convert")  # unknown: not refused
    with pytest.raises(TooLargeForMemory) as info:
        check_fits("m.onnx", 4 * GiB, int(2.1 * GiB), "convert")
    assert str(info.value) == (
        "m.onnx needs ~12.0 GiB of memory to convert (3x its 4.0 GiB of parameters); "
        "only 2.1 GiB available"
    )
    sizes = (0, 1023, 1536, 1536 * MiB, 5 << 40)
    assert [format_bytes(n) for n in sizes] == ["0 B", "1023 B", "1.5 KiB", "1.5 GiB", "5.0 TiB"]


def test_declared_onnx_sizes_match_the_tensors(tmp_path: Path) -> None:
    """Initializers, Constant attributes, subgraphs and external data are all counted."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    half = rng.standard_normal((3, 5)).astype(np.float16)  # widened to float32 on import
    idx = np.arange(6, dtype=np.int64)
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(w[:2], "k"))],
        "then", [], [helper.make_tensor_value_info("k", TensorProto.FLOAT, [2, 4])],
    )  # fmt: skip
    nodes = [
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(half, "c")),
        helper.make_node("If", ["cond"], ["out"], then_branch=branch, else_branch=branch),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 4])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(idx, "idx")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path, save_as_external_data=True, size_threshold=0,
              convert_attribute=True, location="m.bin")  # fmt: skip
    assert os.path.getsize(tmp_path / "m.bin") > 0
    expected = w.size * 4 + idx.size * 8 + half.size * 4 + 2 * (2 * 4 * 4)
    assert onnx_parameter_bytes(path) == expected


def test_not_an_onnx_file_is_left_to_the_importer(tmp_path: Path) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 64)
    (tmp_path / "cut.onnx").write_bytes(b"\x3a\x90\x4e")  # graph field longer than the file
    for name in ("empty.onnx", "junk.onnx", "cut.onnx", "missing.onnx"):
        assert onnx_parameter_bytes(tmp_path / name) is None


def test_wire_field_numbers_match_onnx() -> None:
    numbers = {
        (onnx.ModelProto, "graph"): limits._MODEL_GRAPH,
        (onnx.ModelProto, "functions"): limits._MODEL_FUNCTIONS,
        (onnx.FunctionProto, "node"): limits._FUNCTION_NODE,
        (onnx.GraphProto, "node"): limits._GRAPH_NODE,
        (onnx.GraphProto, "initializer"): limits._GRAPH_INITIALIZER,
        (onnx.GraphProto, "sparse_initializer"): limits._GRAPH_SPARSE_INITIALIZER,
        (onnx.NodeProto, "attribute"): limits._NODE_ATTRIBUTE,
        (onnx.AttributeProto, "t"): limits._ATTR_T,
        (onnx.AttributeProto, "g"): limits._ATTR_G,
        (onnx.AttributeProto, "tensors"): limits._ATTR_TENSORS,
        (onnx.AttributeProto, "graphs"): limits._ATTR_GRAPHS,
        (onnx.AttributeProto, "sparse_tensor"): limits._ATTR_SPARSE_TENSOR,
        (onnx.AttributeProto, "sparse_tensors"): limits._ATTR_SPARSE_TENSORS,
        (onnx.SparseTensorProto, "values"): limits._SPARSE_VALUES,
        (onnx.SparseTensorProto, "indices"): limits._SPARSE_INDICES,
        (onnx.TensorProto, "dims"): limits._TENSOR_DIMS,
        (onnx.TensorProto, "data_type"): limits._TENSOR_DATA_TYPE,
        (onnx.TensorProto, "string_data"): limits._TENSOR_STRING_DATA,
    }
    for (message, field), number in numbers.items():
        assert message.DESCRIPTOR.fields_by_name[field].number == number, (message, field)
    for name, code in TensorProto.DataType.items():
        if code in limits._ITEMSIZE:
            dtype = helper.tensor_dtype_to_np_dtype(code)
            assert np.dtype(dtype).itemsize == limits._ITEMSIZE[code], name


def test_available_memory_honours_the_address_space_rlimit() -> None:
    probe = (
        "import resource, psutil\n"
        "from workbench.engine.limits import available_memory\n"
        "vms = psutil.Process().memory_info().vms\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vms + (200 << 20),) * 2)\n"
        "print(available_memory())\n"
    )
    code, out, err = run_child([sys.executable, "-c", probe])
    assert code == 0, err
    assert 150 * MiB < int(out) <= 200 * MiB
    assert limits.available_memory() > 0


# ------------------------------------------------------------------ the command line's last line


@pytest.mark.parametrize(
    ("raised", "line"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/d/o/Result_0/y.raw"),
         "error: /d/o/Result_0/y.raw: no space left on the device"),
        (OSError(errno.EFBIG, "File too large", "/d/o/y.raw"),
         "error: /d/o/y.raw: file too large (disk full or file size limit)"),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/o"),
         "error: /mnt/o: read-only file system"),
        (MemoryError(),
         "error: out of memory: free some memory, or use a smaller model, batch or input list"),
    ],
    ids=["enospc", "efbig", "erofs", "memory"],
)  # fmt: skip
def test_what_the_machine_refuses_is_one_line_exit_2(
    cli, monkeypatch: pytest.MonkeyPatch, raised: BaseException, line: str
) -> None:
    import workbench.jobs.infer

    def refused(*_a, **_k):
        raise raised

    monkeypatch.setattr(workbench.jobs.infer, "run_container", refused)
    result = cli("run", "m.dlc", "--input-list", "l.txt", "--output-dir", "o")
    assert (result.exit_code, result.stderr.splitlines()) == (2, [line])


def test_other_os_errors_stay_internal(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.jobs.infer

    def broken(*_a, **_k):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(workbench.jobs.infer, "run_container", broken)
    result = cli("run", "m.dlc", "--input-list", "l.txt", "--output-dir", "o")
    assert result.exit_code == 1 and result.stderr.startswith("error: internal error: OSError")


def test_the_suite_helpers_measure_what_they_claim(tmp_path: Path) -> None:
    # The sparse external file costs no disk, and the model declares what we think.
    model = _external_model(tmp_path / "e.onnx", 1 << 20)
    assert onnx_parameter_bytes(model) == 4 << 20
    assert os.stat(model.with_suffix(".bin")).st_blocks * 512 < 1 << 20
