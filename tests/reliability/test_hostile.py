"""Hostile inputs, round two (issue 15): each class of attack, refused or neutralised.

1. Memory: jobs count the activations a graph plans, not only its parameters, and
   refuse before any work; files are read only when regular and below a cap.
2. Terminals: control characters in names, notes, logs and errors never reach the
   terminal (shown escaped); names holding them are refused.
5. No command writes over one of its own inputs.
6. ``quantize`` shows its output only when its run succeeded.
8. The inputs that made exit code 1 are exit 2 with one line; one bad store row never
   blocks the rest.
9. Encodings are checked on read (finite, positive, within float32's normal range);
   numpy's warnings never reach the terminal.
11. A record a command does not need is never inflated; one larger than memory is
    refused before it is.

Run outputs (3, 4) are in ``test_outputs.py``, the TUI (10) in
``tests/tui/test_hostile_data.py``, convert's validation (7) here and in the fuzzing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sqlalchemy import select

from tests.modelzoo import small_cnn, write_inputs
from workbench.engine.container import Container, make_manifest, read_container, write_container
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.engine.limits import TooLargeForMemory, activation_bytes
from workbench.engine.quant.quantizer import QuantOptions
from workbench.errors import ContainerError, ModelError
from workbench.jobs.convert import convert_model
from workbench.jobs.inspect import container_diff, container_info
from workbench.jobs.quantize import QuantizeRequest, quantize_job
from workbench.jobs.runs import show_run
from workbench.store import Run, Store

from .jobproc import run_child, workbench

GiB = 1 << 30
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE LINE\x9b1m"


def one_error_line(result: Any) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def small(store: Store, tmp_path: Path) -> tuple[Path, Path]:
    """A float container of the small CNN and a 2-line input list."""
    dlc = tmp_path / "m.dlc"
    convert_model(store, "default", small_cnn(tmp_path / "m.onnx"), dlc)
    listing, _ = write_inputs(tmp_path, 2)
    return dlc, listing


@pytest.fixture
def quantized(store: Store, small: tuple[Path, Path], tmp_path: Path) -> Path:
    dlc, listing = small
    q = tmp_path / "q.dlc"
    quantize_job(store, "default", QuantizeRequest(dlc, listing, q, QuantOptions(), analyze=False))
    return q


# -- 1. memory ---------------------------------------------------------------------------------


def generator_model(path: Path, n: int) -> Path:
    """``y = x + sum(ConstantOfShape([n]))``: 200 bytes on disk, 4n bytes per run."""
    nodes = [
        helper.make_node("ConstantOfShape", ["s"], ["g"], name="generator"),
        helper.make_node("ReduceSum", ["g"], ["r"], keepdims=1, name="sum"),
        helper.make_node("Add", ["x", "r"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes, "gen", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=[numpy_helper.from_array(np.array([n], np.int64), "s")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture
def available(monkeypatch: pytest.MonkeyPatch):
    """Every job sees ``set(n)`` bytes of available memory."""
    import workbench.jobs.bench
    import workbench.jobs.export
    import workbench.jobs.infer
    import workbench.jobs.quantize

    def set_to(n: int) -> None:
        for module in (workbench.jobs.bench, workbench.jobs.export, workbench.jobs.infer,
                       workbench.jobs.quantize):  # fmt: skip
            monkeypatch.setattr(module, "available_memory", lambda: n)

    return set_to


def test_a_graph_that_makes_gigabytes_is_refused_before_any_work(
    store: Store, tmp_path: Path, available
) -> None:
    from workbench.jobs.bench import BenchRequest, bench_job
    from workbench.jobs.infer import run_container
    from workbench.options import BenchOptions

    model = generator_model(tmp_path / "gen.onnx", 3_000_000_000)  # 12 GB of float32 zeros
    dlc = tmp_path / "gen.dlc"
    convert_model(store, "default", model, dlc)  # nothing is computed: it converts
    np.ones(1, "<f4").tofile(tmp_path / "x.raw")
    (tmp_path / "l.txt").write_text("x.raw\n")
    available(4 * GiB)
    attempts = {
        "run": lambda: run_container(store, "default", dlc, tmp_path / "l.txt", tmp_path / "o"),
        "quantize": lambda: quantize_job(store, "default", QuantizeRequest(
            dlc, tmp_path / "l.txt", tmp_path / "q.dlc")),
        "bench": lambda: bench_job(store, "default", BenchRequest(
            [dlc], tmp_path / "l.txt", BenchOptions(runtimes=("cpu",)))),
    }  # fmt: skip
    for job, attempt in attempts.items():
        with pytest.raises(TooLargeForMemory, match=rf"gen\.dlc needs ~\d+\.\d GiB of memory "
                           rf"to {job} .* GiB of activations\); only 4\.0 GiB available"):  # fmt: skip
            attempt()
    assert not (tmp_path / "o").exists() and not (tmp_path / "q.dlc").exists()
    from tests.reliability.test_fuzz import assert_nothing_running

    assert_nothing_running(store)


def test_the_activation_estimate_is_hand_checkable() -> None:
    """x -> Relu -> a -> Relu -> y, 1000 floats each (4000 bytes): the executor holds x
    and a's result plus one temporary of it (12000), then a and y (12000) at most."""
    infos = [TensorInfo(n, (1, 1000)) for n in ("x", "a", "y")]
    graph = Graph("chain", [infos[0]], [infos[2]],
                  [Node("r1", "Relu", ("x",), ("a",)), Node("r2", "Relu", ("a",), ("y",))],
                  tensors={t.name: t for t in infos})  # fmt: skip
    assert activation_bytes(graph) == 12_000
    assert activation_bytes(graph, batch=3) == 36_000
    assert activation_bytes(graph, retain_all=True) == 16_000  # --debug keeps x and a too


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_named_files_are_read_only_when_regular_and_bounded(
    cli, tmp_path: Path, small: tuple[Path, Path], kind: str
) -> None:
    dlc, listing = small
    target = tmp_path / "results.csv"
    if kind == "fifo":
        os.mkfifo(target)  # no writer: reading would block forever
    elif kind == "device":
        os.symlink("/dev/zero", target)  # never ends
    else:
        with open(target, "wb") as f:
            f.truncate(300 << 20)  # 300 MB, sparse
    expected = "more than the" if kind == "huge" else "not a regular file"
    line = one_error_line(cli("import", "snpe-bench", str(target)))
    assert expected in line and str(target) in line
    line = one_error_line(cli("bench", str(dlc), "--input-list", str(listing), "--runtimes",
                              "cpu", "--labels", str(target)))  # fmt: skip
    assert expected in line and "labels file" in line


@pytest.mark.parametrize(
    "case", ["spec-fifo", "spec-device", "list-fifo", "list-names-a-device", "model-device",
             "model-fifo", "absurd-input-dims", "escapes-in-the-name", "nested-100k-deep"],
)  # fmt: skip
def test_a_sweep_spec_reads_only_regular_files_and_refuses_before_work(
    store: Store, tmp_path: Path, case: str
) -> None:
    """Every file a spec names is read only when regular (a FIFO nobody writes, or
    ``/dev/zero``, never ends), and its values are checked before any cell runs."""
    from tests.jobs.sweepspec import write_zoo
    from workbench.errors import InputListError, WorkbenchError
    from workbench.jobs.sweep import SweepRequest, sweep_job

    spec = write_zoo(tmp_path)
    text = spec.read_text()
    odd = tmp_path / "odd.onnx"
    if case.endswith("fifo"):
        os.mkfifo(odd)
    else:
        os.symlink("/dev/zero", odd)
    if case.startswith("spec"):
        spec = odd
    elif case == "list-fifo":
        text = text.replace('calibration = "list.txt"', 'calibration = "odd.onnx"')
    elif case == "list-names-a-device":
        (tmp_path / "cal.txt").write_text(f"{odd}\n")
        text = text.replace('calibration = "list.txt"', 'calibration = "cal.txt"')
    elif case.startswith("model"):
        text = text.replace('path = "m1.onnx"', 'path = "odd.onnx"')
    elif case == "nested-100k-deep":
        text = text.replace("[bench]", f"deep = {'[' * 100_000}{']' * 100_000}\n[bench]")
    elif case == "absurd-input-dims":
        text = text.replace(
            'path = "m1.onnx"\n', 'path = "m1.onnx"\ninput_dims = {x = [1, 99999999999]}\n'
        )
    else:
        text = text.replace('name = "zoo"', 'name = "zoo\\u001b]0;pwned\\u0007"')
    if spec != odd:
        spec.write_text(text)
    error = InputListError if case.startswith("list") else WorkbenchError
    with pytest.raises(error) as caught:
        sweep_job(store, "default", SweepRequest(spec, {"jobs": 1}))
    message = str(caught.value)
    expected = {
        "absurd-input-dims": "integers from 1 to",
        "escapes-in-the-name": "control character",
        "nested-100k-deep": "nested too deeply",
    }
    assert expected.get(case, "not a regular file") in message, message
    assert "\n" not in message and "\x1b" not in message
    with store.read() as session:
        assert session.scalars(select(Run)).all() == []  # refused before any work


# -- 2. terminals ------------------------------------------------------------------------------


def _no_control(text: str) -> bool:
    return not any((ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) <= 0x9F for c in text)


def test_control_characters_in_the_store_never_reach_the_terminal(
    cli, store: Store, make_run, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from workbench.jobs.experiments import create_experiment
    from workbench.store import Experiment, Model
    from workbench.store.queries import get_project

    with store.write() as session:
        project = get_project(session, "default")
        model = Model(project_id=project.id, name=f"net{HOSTILE}", source_path="/m.onnx",
                      sha256="0" * 64, format="onnx")  # fmt: skip
        session.add(model)
        session.flush()
        model_id = model.id
    a = make_run(notes=f"see {HOSTILE}", log=f"step 1\n{HOSTILE}", model_id=model_id,
                 error=f"boom {HOSTILE}", sqnr_db=30.0)  # fmt: skip
    b = make_run(model_id=model_id, sqnr_db=20.0, command=f"workbench {HOSTILE}")
    create_experiment(store, "default", "exp", note=f"n {HOSTILE}")
    with store.write() as session:  # a name written by an older workbench, or by hand
        session.execute(update(Experiment).values(name=f"exp{HOSTILE}"))
    commands = [
        ["runs", "list"], ["runs", "show", str(a)], ["runs", "show", str(b)],
        ["experiment", "list"], ["runs", "compare", str(a), str(b)],
        ["runs", "compare", str(a), str(b), "--format", "markdown"],
        ["runs", "compare", str(a), str(b), "--format", "csv", "--all"],
        ["--json", "runs", "show", str(a)], ["--json", "experiment", "list"],
        ["runs", "list", "--model", f"x{HOSTILE}"],  # an error quoting what was typed
    ]  # fmt: skip
    shown = ""
    for argv in commands:
        result = cli(*argv)
        assert result.exit_code in (0, 2), (argv, result.stderr)
        assert _no_control(result.stdout) and _no_control(result.stderr), argv
        shown += result.stdout + result.stderr
    assert "\\x1b]0;pwned\\x07" in shown  # visible, not acted on
    assert "\\x1b]0;pwned\\x07" in cli("runs", "show", str(a)).stdout  # notes and log too
    doc = json.loads(cli("--json", "runs", "show", str(a)).stdout)
    assert doc["notes"] == f"see {HOSTILE}"  # JSON keeps the value, escaped in the text


def test_newlines_and_tabs_in_stored_names_keep_every_listing_row_on_one_line(
    cli, store: Store, make_run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names refused today may come from an older workbench, a file name or a hand edit:
    every listing shows them escaped on their row (``\\n``, ``\\t``), never as two lines."""
    from sqlalchemy import update

    from workbench.jobs.experiments import add_runs, create_experiment
    from workbench.jobs.projects import create_project
    from workbench.store import Experiment, Model, Project, Sweep
    from workbench.store.queries import get_project

    def evil(word: str) -> str:
        return f"{word}\nFAKE ROW\tx"

    monkeypatch.setenv("COLUMNS", "250")  # wide enough that no name is cut or wrapped

    create_project(store, "other")
    with store.write() as session:
        project = get_project(session, "default")
        model = Model(project_id=project.id, name=evil("net"), source_path="/m.onnx",
                      sha256="0" * 64, format="onnx")  # fmt: skip
        session.add(model)
        session.flush()
        session.add(Sweep(project_id=project.id, name=evil("sweep"), metric="sqnr",
                          executor="local", status="succeeded", host="h", pid=1))  # fmt: skip
        model_id = model.id
    run_id = make_run(model_id=model_id, tags=[evil("tag")], sqnr_db=20.0)
    create_experiment(store, "default", "exp", note=evil("note"))
    add_runs(store, "default", "exp", [run_id])
    with store.write() as session:
        session.execute(update(Experiment).values(name=evil("exp")))
        session.execute(update(Project).where(Project.name == "other").values(name=evil("proj")))
    listings = {
        "proj": [["project", "list"], ["--project", evil("proj"), "project", "show"],
                 ["project", "show", evil("proj")]],
        "net": [["runs", "list"], ["experiment", "show", evil("exp")]],
        "tag": [["runs", "list"]],
        "exp": [["experiment", "list"]],
        "note": [["experiment", "list"]],  # a listing: one line (show keeps a note's lines)
        "sweep": [["sweeps", "list"]],
    }  # fmt: skip
    for word, commands in listings.items():
        for argv in commands:
            result = cli(*argv)
            assert result.exit_code == 0, (argv, result.stderr)
            assert f"{word}\\nFAKE ROW\\tx" in result.stdout, (argv, result.stdout)
            assert not any(line.startswith("FAKE ROW") for line in result.stdout.splitlines())
            assert "\t" not in result.stdout, argv


@pytest.mark.parametrize("spec", ["x", [1], None])
@pytest.mark.parametrize("setting", ["x", [1, 2], None, {"a": {"b": [1]}}])
def test_a_tampered_sweep_row_is_shown_not_a_traceback(
    cli, store: Store, spec: Any, setting: Any
) -> None:
    """A sweep's stored spec or a cell's setting that is not what the driver writes (an
    older workbench, a hand edit) is shown as far as it goes: exit 0, never exit 1."""
    from sqlalchemy import update

    from workbench.store import Sweep, SweepCell
    from workbench.store.queries import get_project

    with store.write() as session:
        project = get_project(session, "default")
        sweep = Sweep(project_id=project.id, name="s", metric="sqnr", executor="local",
                      status="failed", host="h", pid=1, spec={"runtimes": ["cpu"]})  # fmt: skip
        sweep.cells.append(SweepCell(key="k" * 64, model_name="m", model_sha256="0" * 64,
                                     setting={"param_quantizer": "tf"}, setting_key="s" * 64,
                                     runtime="dsp", status="failed", error="boom"))  # fmt: skip
        session.add(sweep)
    with store.write() as session:
        session.execute(update(Sweep).values(spec=spec))
        session.execute(update(SweepCell).values(setting=setting))
    for argv in (["sweeps", "list"], ["sweeps", "show", "s"], ["--json", "sweeps", "show", "s"]):
        result = cli(*argv)
        assert result.exit_code == 0, (argv, result.stderr)
    assert json.loads(cli("--json", "sweeps", "show", "s").stdout)["runtimes"] == (
        ["cpu", "dsp"] if spec == {"runtimes": ["cpu"]} else ["dsp"]
    )


@pytest.mark.parametrize(
    "argv",
    [["experiment", "create", f"e{HOSTILE}"], ["experiment", "create", "two\nlines"],
     ["project", "create", "tab\there"], ["runs", "tag", "1", f"t{HOSTILE}"]],
)  # fmt: skip
def test_names_holding_control_characters_are_refused(cli, make_run, argv: list[str]) -> None:
    make_run()
    line = one_error_line(cli(*argv))
    assert _no_control(line)


# -- 5. no command writes over its own input ---------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["export-encodings-over-container", "export-qdq-through-a-link", "bench-csv-over-container",
     "bench-csv-over-input-list", "quantize-over-a-hard-link", "convert-through-a-link",
     "export-over-a-hard-link"],
)  # fmt: skip
def test_no_command_overwrites_its_own_input(
    cli, tmp_path: Path, small: tuple[Path, Path], quantized: Path, case: str
) -> None:
    dlc, listing = small
    model = tmp_path / "m.onnx"
    victims = {"container": quantized, "float": dlc, "list": listing, "model": model}
    before = {k: sha(v) for k, v in victims.items()}
    link = tmp_path / "link"
    argv = {
        "export-encodings-over-container": ["export", "encodings", str(quantized), "-o",
                                            str(quantized)],
        "export-qdq-through-a-link": ["export", "qdq", str(quantized), "-o", str(link) + ".onnx"],
        "bench-csv-over-container": ["bench", str(quantized), "--input-list", str(listing),
                                     "--runtimes", "cpu", "--csv", str(quantized)],
        "bench-csv-over-input-list": ["bench", str(dlc), "--input-list", str(listing),
                                      "--runtimes", "cpu", "--csv", str(listing)],
        "quantize-over-a-hard-link": ["quantize", str(dlc), "--input-list", str(listing), "-o",
                                      str(link) + ".dlc"],
        "convert-through-a-link": ["convert", str(model), "-o", str(link) + ".dlc"],
        "export-over-a-hard-link": ["export", "encodings", str(quantized), "-o",
                                    str(link) + ".json"],
    }[case]  # fmt: skip
    if case == "export-qdq-through-a-link":
        os.symlink(quantized, str(link) + ".onnx")
    elif case == "quantize-over-a-hard-link":
        os.link(dlc, str(link) + ".dlc")
    elif case == "convert-through-a-link":
        os.symlink(model, str(link) + ".dlc")
    elif case == "export-over-a-hard-link":
        os.link(quantized, str(link) + ".json")
    line = one_error_line(cli(*argv))
    assert "is an input of this command" in line
    assert {k: sha(v) for k, v in victims.items()} == before
    runs = cli.json("runs", "list")["runs"]
    assert [r for r in runs if r["kind"] == "bench"] == []  # refused before any work


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" else None


@pytest.mark.parametrize("how", ["same-path", "symlink", "hard-link", "wal-file", "server"])
def test_export_mlflow_refuses_the_workbench_store_as_its_tracking_store(
    cli, store: Store, make_run, migrated_store_url: str, tmp_path: Path, how: str
) -> None:
    run_id = make_run()
    db = _sqlite_file(migrated_store_url)
    if (db is None) != (how == "server"):
        pytest.skip("the store is not a SQLite file" if db is None else "the store is SQLite")
    if how == "server":
        uri = migrated_store_url  # MLflow's tables in the team's own database
    elif how == "same-path":
        uri = f"sqlite:///{db}"
    elif how == "wal-file":
        uri = f"sqlite:///{db}-wal"
    else:
        link = tmp_path / "mlflow.db"
        (os.symlink if how == "symlink" else os.link)(db, link)
        uri = f"sqlite:///{link}"
    before = sha(db) if db is not None and how != "wal-file" else None
    line = one_error_line(cli("export", "mlflow", str(run_id), "--tracking-uri", uri))
    assert "is the workbench store itself" in line
    if before is not None:
        assert sha(db) == before
    # Another database beside it is not the store (opening one with MLflow takes seconds).
    other = tmp_path / "elsewhere.db"
    other.write_bytes(b"")
    assert not store.is_named_by(f"sqlite:///{other}")
    assert not store.is_named_by("http://localhost:5000") and not store.is_named_by("sqlite://")


@pytest.mark.parametrize(
    "case",
    ["export-encodings", "export-qdq-through-a-link", "bench-csv", "convert-through-a-link",
     "quantize-through-a-link", "advise-through-a-link", "convert-over-the-journal"],
)  # fmt: skip
def test_no_command_overwrites_the_store(
    cli, migrated_store_url: str, tmp_path: Path, small: tuple[Path, Path], quantized: Path,
    case: str,
) -> None:  # fmt: skip
    """The store is an input of every command: ``-o workbench.db`` (or a link to it, or
    its WAL journal) is refused before any work, like ``report`` refuses it."""
    db = _sqlite_file(migrated_store_url)
    if db is None:
        pytest.skip("the store is not a SQLite file")
    dlc, listing = small
    before = sha(db)
    link = tmp_path / "link"
    target = {"convert-over-the-journal": Path(f"{db}-wal")}.get(case, db)
    if "link" in case or "journal" in case:
        suffix = ".onnx" if "qdq" in case else ".dlc"
        link = link.with_suffix(suffix)
        os.symlink(target, link)
    out = str(link) if "link" in case or "journal" in case else str(db)
    argv = {
        "export-encodings": ["export", "encodings", str(quantized), "-o", out],
        "export-qdq-through-a-link": ["export", "qdq", str(quantized), "-o", out],
        "bench-csv": ["bench", str(dlc), "--input-list", str(listing), "--runtimes", "cpu",
                      "--csv", out],
        "convert-through-a-link": ["convert", str(tmp_path / "m.onnx"), "-o", out],
        "convert-over-the-journal": ["convert", str(tmp_path / "m.onnx"), "-o", out],
        "quantize-through-a-link": ["quantize", str(dlc), "--input-list", str(listing), "-o",
                                    out],
        "advise-through-a-link": ["advise", str(dlc), "--input-list", str(listing), "-o", out],
    }[case]  # fmt: skip
    runs_before = len(cli.json("runs", "list")["runs"])
    line = one_error_line(cli(*argv))
    assert "is an input of this command" in line and str(target) in line, line
    assert sha(db) == before or case == "convert-over-the-journal"  # WAL checkpoints move it
    assert cli("project", "list").exit_code == 0  # the store still opens
    assert len(cli.json("runs", "list")["runs"]) == runs_before  # refused before any work


# -- 6. quantize shows its output last --------------------------------------------------------


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_quantize_output_appears_only_when_its_run_succeeds(
    store: Store, small: tuple[Path, Path], quantized: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, failure: type[BaseException],
) -> None:  # fmt: skip
    import workbench.jobs.quantize

    dlc, listing = small
    old = sha(quantized)

    def analysis_fails(*_a: Any, **_k: Any) -> Any:
        raise failure("during the analysis")

    monkeypatch.setattr(workbench.jobs.quantize, "_analyze", analysis_fails)
    options = QuantOptions(param_quantizer="enhanced")  # another output than the old one
    with pytest.raises(failure):
        quantize_job(store, "default", QuantizeRequest(dlc, listing, quantized, options))
    assert sha(quantized) == old  # the earlier output is still there, untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".q.dlc")) == []
    from tests.reliability.test_fuzz import assert_nothing_running

    assert_nothing_running(store)
    monkeypatch.undo()
    result = quantize_job(store, "default", QuantizeRequest(dlc, listing, tmp_path / "new.dlc",
                                                            options))  # fmt: skip
    assert (tmp_path / "new.dlc").is_file() and show_run(store, result.run_id).status == "succeeded"


# -- 8. exit 2, not 1 --------------------------------------------------------------------------


def _encodings_file(path: Path, value: Any) -> Path:
    path.write_text(
        '{"version": "1.0.0", "activation_encodings": [{"name": "x", "bw": 8, "dtype": "INT", '
        f'"enc_type": "PER_TENSOR", "is_sym": false, "offset": [-128], "scale": [{value}]}}], '
        '"param_encodings": []}'
    )
    return path


@pytest.mark.parametrize(
    "case",
    ["override-10**400", "import-json-nested", "import-json-10**400", "import-csv-huge-field",
     "labels-beyond-int64", "input-dim-beyond-int64", "not-a-database"],
)  # fmt: skip
def test_inputs_at_fault_are_exit_2_not_internal_errors(
    cli, tmp_path: Path, small: tuple[Path, Path], case: str
) -> None:
    dlc, listing = small
    f = tmp_path / "input"
    if case == "override-10**400":
        argv = ["quantize", str(dlc), "--input-list", str(listing), "-o", str(tmp_path / "q.dlc"),
                "--override-params", str(_encodings_file(f, "1" + "0" * 400))]  # fmt: skip
    elif case == "import-json-nested":
        f.write_text("{" + '"a":[' * 100_000 + "]" * 100_000 + "}")
        argv = ["import", "snpe-bench", str(f)]
    elif case == "import-json-10**400":
        f.write_text('{"SNPE SDK version": 1' + "0" * 400 + "}")
        argv = ["import", "snpe-bench", str(f)]
    elif case == "import-csv-huge-field":
        f.write_text("Device Info:\n" + "x" * 200_000 + ",1\n")
        argv = ["import", "snpe-bench", str(f)]
    elif case == "labels-beyond-int64":
        f.write_text("1" + "0" * 30 + "\n3\n")
        argv = ["bench", str(dlc), "--input-list", str(listing), "--runtimes", "cpu",
                "--labels", str(f)]  # fmt: skip
    elif case == "input-dim-beyond-int64":
        argv = ["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "d.dlc"),
                "--input-dim", "x", "1,3,99999999999999999999999,8"]  # fmt: skip
    else:
        f.write_bytes(os.urandom(4096))
        argv = ["--db", str(f), "project", "list"]
    line = one_error_line(cli(*argv))
    assert "internal error" not in line


def _tamper(store: Store, sql: str, *params: Any) -> None:
    connection = sqlite3.connect(store.engine.url.database)
    connection.execute(sql, params)
    connection.commit()
    connection.close()


@pytest.mark.sqlite_only
def test_one_tampered_row_never_blocks_the_store(cli, store: Store, make_run) -> None:
    bad_date, bad_json, good = make_run(), make_run(), make_run()
    running = make_run(status="running")
    _tamper(store, "UPDATE runs SET started_at = 'not a date' WHERE id = ?", bad_date)
    _tamper(store, "UPDATE benchmark_runs SET options = '{\"oops' WHERE run_id = ?", bad_json)
    _tamper(store, "UPDATE runs SET pid = -1, host = ? WHERE id = ?", os.uname().nodename,
            running)  # fmt: skip
    assert cli("project", "list").exit_code == 0  # the start-up sweep survived pid -1
    assert show_run(store, running).status == "interrupted"
    listed = cli.json("runs", "list")["runs"]
    assert {r["id"] for r in listed} == {bad_date, bad_json, good, running}
    for run_id in (bad_date, bad_json, good):
        assert cli("runs", "show", str(run_id)).exit_code == 0


# -- 9. encodings and warnings -----------------------------------------------------------------


def _with_delta(quantized: Path, out: Path, delta: float) -> Path:
    with zipfile.ZipFile(quantized) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    doc = json.loads(entries["encodings.json"])
    name = next(iter(doc["encodings"]))
    doc["encodings"][name]["delta"] = delta
    entries["encodings.json"] = json.dumps(doc).encode()
    manifest = json.loads(entries["manifest.json"])
    for item in manifest["entries"]:
        data = entries[item["name"]]
        item.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    entries["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name_, data in entries.items():
            zf.writestr(name_, data)
    return out


@pytest.mark.parametrize("delta", [1e300, 5e-324, 1e-39, 0.0, -0.5, 1e39])
def test_encodings_outside_float32s_normal_range_are_refused_on_read(
    cli, quantized: Path, small: tuple[Path, Path], tmp_path: Path, delta: float
) -> None:
    dlc = _with_delta(quantized, tmp_path / "bad.dlc", delta)
    for argv in (["info", str(dlc)], ["export", "qdq", str(dlc), "-o", str(tmp_path / "q.onnx")],
                 ["run", str(dlc), "--input-list", str(small[1]), "--output-dir",
                  str(tmp_path / "o"), "--runtime", "dsp"]):  # fmt: skip
        line = one_error_line(cli(*argv))
        assert str(dlc) in line and "float32" in line
    assert not (tmp_path / "q.onnx").exists() and not (tmp_path / "o").exists()


def test_an_encodings_file_with_an_absurd_scale_is_refused(
    cli, small: tuple[Path, Path], tmp_path: Path
) -> None:
    dlc, listing = small
    enc = _encodings_file(tmp_path / "enc.json", "1e300")
    line = one_error_line(cli("quantize", str(dlc), "--input-list", str(listing), "-o",
                              str(tmp_path / "q.dlc"), "--override-params", str(enc)))  # fmt: skip
    assert "float32" in line


def test_numpy_warnings_never_reach_the_terminal(
    store: Store, migrated_store_url: str, tmp_path: Path
) -> None:
    """A float16 cast of a 1e30 weight overflows: numpy warns, the user sees nothing
    (WORKBENCH_DEBUG=1 shows it: the test would see a regression)."""
    z = numpy_helper.from_array(np.array([1e30], np.float32), "z")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "z"], ["y"])], "w",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=[z],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "w.onnx")
    convert_model(store, "default", tmp_path / "w.onnx", tmp_path / "w.dlc")
    np.ones((1, 4), "<f4").tofile(tmp_path / "w.raw")
    (tmp_path / "l.txt").write_text("w.raw\n")
    argv = workbench(migrated_store_url, "run", str(tmp_path / "w.dlc"), "--input-list",
                     str(tmp_path / "l.txt"), "--output-dir", str(tmp_path / "o"), "--runtime",
                     "gpu_fp16")  # fmt: skip
    code, _, err = run_child(argv)
    assert (code, err) == (0, "")
    code, _, err = run_child(argv, env={**os.environ, "WORKBENCH_DEBUG": "1"})
    assert code == 0 and "RuntimeWarning: overflow" in err


# -- 11. zip bombs -----------------------------------------------------------------------------

BOMB = 96 << 20  # a 96 MiB record of zeros: about 100 KB deflated


@pytest.fixture
def bomb(tmp_path: Path) -> Path:
    """A valid container whose record (correct size and sha256) is deflated 1000:1."""
    graph = Graph("g", [TensorInfo("x", (1, 4))], [TensorInfo("y", (1, 4))],
                  [Node("relu", "Relu", ("x",), ("y",))], tensors={})  # fmt: skip
    stored = tmp_path / "stored.dlc"
    write_container(stored, Container(make_manifest(converter={"command": "t"}), graph,
                                      records={"big.bin": bytes(BOMB)}))  # fmt: skip
    path = tmp_path / "bomb.dlc"
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            deflated = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            deflated.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(deflated, data)
    stored.unlink()
    assert path.stat().st_size < 1 << 20
    return path


def test_info_and_diff_never_inflate_records(bomb: Path) -> None:
    tracemalloc.start()
    try:
        summary = container_info(bomb)
        report = container_diff(bomb, bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.records == (("big.bin", BOMB),) and report.records == ()
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB"


def test_a_record_larger_than_memory_is_refused_before_it_is_inflated(
    bomb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.engine import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 64 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ContainerError, match=r"declares 96\.0 MiB uncompressed, more than "
                           r"the 64\.0 MiB of memory available"):  # fmt: skip
            read_container(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


# -- 7. convert refuses what the reader would --------------------------------------------------


def _one_node_model(path: Path, node: onnx.NodeProto, inits: list = (), opset: int = 13) -> Path:
    graph = helper.make_graph(
        [node], "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["a", "b", "c", "d"])],
        initializer=list(inits),
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


W = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")
SCALES = numpy_helper.from_array(np.array([1, 1, -2, -2], np.float32), "sc")
MALFORMED = {
    "kernel larger than the input": (
        helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[100, 100], name="pool"), [], 13,
        r"MaxPool node 'pool': tensor 'y' has shape \[1, 1, -95, -95\]"),
    "kernel_shape 0": (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[0, 0], name="p"),
                       [], 13, r"kernel_shape \[0, 0\] must all be at least 1"),
    "dilations 0": (helper.make_node("Conv", ["x", "w"], ["y"], dilations=[0, 0], name="c"),
                    [W], 13, r"dilations \[0, 0\] must all be at least 1"),
    "negative pads": (helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2],
                                       pads=[-1, 0, 0, 0], name="p"), [], 13, "must not be negative"),
    "negative Resize scales": (helper.make_node("Resize", ["x", "", "sc"], ["y"], name="r"),
                               [SCALES], 13, "Resize node 'r'"),
    "opset 99": (helper.make_node("Relu", ["x"], ["y"]), [], 99, "opset 99 is not one"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MALFORMED))
def test_convert_refuses_what_the_reader_would(store: Store, tmp_path: Path, case: str) -> None:
    node, inits, opset, message = MALFORMED[case]
    source = _one_node_model(tmp_path / "m.onnx", node, inits, opset)
    with pytest.raises(ModelError, match=message) as info:
        convert_model(store, "default", source, tmp_path / "m.dlc")
    assert str(source) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "m.dlc").exists()


def test_the_writer_never_writes_what_the_reader_refuses(tmp_path: Path) -> None:
    graph = Graph("g", [TensorInfo("x", (1, 4))], [TensorInfo("y", (1, -4))],
                  [Node("relu", "Relu", ("x",), ("y",))], tensors={})  # fmt: skip
    with pytest.raises(ContainerError, match="malformed shape"):
        write_container(tmp_path / "c.dlc", Container(make_manifest(), graph))
    assert list(tmp_path.iterdir()) == []
