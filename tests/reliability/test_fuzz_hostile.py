"""Fuzzing, round two (issue 15): generated attacks whose outcome is known in advance.

``test_fuzz.py`` checks that nothing escapes as a traceback. Here each case also knows
what must happen and asserts it:

* **memory** (class 1): a graph that generates or multiplies up tensors (ConstantOfShape,
  Expand, Tile, Range, Pad, an outer-product MatMul) of a drawn size, run, quantized or
  benched with a drawn batch under a fixed memory budget. A case whose generated tensor
  alone exceeds the budget must be refused (``TooLargeForMemory``, naming the size)
  before any run is recorded; one that is not refused must finish under the guard.
* **convert** (class 7): a pooling, convolution or Resize node with drawn attributes
  (kernels, strides, dilations of 0 or below, negative pads, negative or non-finite
  scales) and a drawn opset. An attribute ONNX forbids must be refused (``ModelError``
  naming the node); anything convert writes must read back and pass ``info``.
* **exit codes** (class 8): integers of 21 to 4000 digits, JSON nested 1,000 to 200,000
  deep, CSV fields of 130 KB to 1 MB, labels and ``--input-dim`` beyond int64, a store
  that is random bytes: each through the CLI must be exit 2 with one line. Tampered
  store rows (a date, a pid, a JSON column) must leave ``runs list`` and ``runs show``
  at exit 0.
* **encodings** (class 9): a container encoding's delta, min or max, or an encodings
  file's scale, drawn from 0, negatives, subnormals, float32's edges, 1e300, inf and nan.
  Outside float32's normal range must be refused on read; inside must run.
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from onnx import TensorProto, helper, numpy_helper

from tests.reliability.test_fuzz import (
    PROJECT,
    Base,
    Fuzz,
    assert_nothing_running,
    assert_reads_back,
    entry,
    replaced,
    seeds,
    write_zip,
)
from tests.reliability.test_fuzz import base as base  # noqa: F401 - the fixture, shared
from tests.reliability.test_fuzz import fuzz as fuzz  # noqa: F401
from workbench.engine.limits import TooLargeForMemory
from workbench.engine.quant.encoding import FLOAT32_MAX, FLOAT32_TINY
from workbench.engine.quant.quantizer import QuantOptions
from workbench.errors import BadInput, ContainerError, ModelError
from workbench.jobs.bench import BenchRequest, bench_job
from workbench.jobs.convert import convert_model
from workbench.jobs.infer import run_container
from workbench.jobs.quantize import QuantizeRequest, quantize_job
from workbench.options import BenchOptions, RunOptions

# WORKBENCH_FUZZ_SCALE=5 runs five times as many cases (the closing note's counts).
SCALE = float(os.environ.get("WORKBENCH_FUZZ_SCALE", "1"))
BASE_EXAMPLES = {"memory": 70, "convert": 110, "exit_codes": 70, "encodings": 110}
EXAMPLES = {k: max(1, round(v * SCALE)) for k, v in BASE_EXAMPLES.items()}
MIN_CASES = 350
assert sum(BASE_EXAMPLES.values()) >= MIN_CASES

BUDGET = 16 << 20  # the memory every job is told it has


def hostile_settings(name: str) -> Any:
    return settings(
        max_examples=EXAMPLES[name],
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


_RAN: dict[str, int] = {}


@pytest.fixture
def hostile(fuzz: Fuzz, request: pytest.FixtureRequest) -> Iterator[Fuzz]:  # noqa: F811
    yield fuzz
    _RAN[request.node.originalname] = fuzz.cases


def save_model(path: Path, nodes: list, inits: list, inputs: list, outputs: list,
               opset: int = 13) -> Path:  # fmt: skip
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def ints(name: str, values: Any) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


# ------------------------------------------------------------------------------------------
# class 1: memory


def blowup_model(folder: Path, rng: random.Random) -> tuple[Path, int]:
    """``y = x + sum(big * x)``, where ``big`` is made from constants; returns the model
    and the elements of ``big``. ``big * x`` (batch x n) is computed in every run, and
    ``big`` itself is a parameter if convert folds it: either way it is held."""
    n = 2 ** rng.randint(6, 27) + rng.randrange(64)
    op = rng.choice(("ConstantOfShape", "Expand", "Tile", "Range", "Pad", "MatMul"))
    f = lambda name, v: numpy_helper.from_array(np.array(v, np.float32), name)  # noqa: E731
    if op == "ConstantOfShape":
        nodes, inits = [helper.make_node(op, ["s"], ["big"])], [ints("s", [n])]
    elif op in ("Expand", "Tile"):
        nodes, inits = (
            [helper.make_node(op, ["one", "s"], ["big"])],
            [f("one", [1.0]), ints("s", [n])],
        )
    elif op == "Range":
        nodes = [helper.make_node(op, ["a", "b", "c"], ["big"])]
        inits = [f("a", 0.0), f("b", float(n)), f("c", 1.0)]
    elif op == "Pad":
        nodes, inits = (
            [helper.make_node(op, ["one", "p"], ["big"])],
            [f("one", [1.0]), ints("p", [0, n - 1])],
        )
    else:  # an outer product: two vectors of sqrt(n) make n
        k = max(1, math.isqrt(n))
        n = k * k
        nodes = [helper.make_node(op, ["col", "row"], ["big"])]
        inits = [f("col", np.ones((k, 1))), f("row", np.ones((1, k)))]
    nodes += [
        helper.make_node("Reshape", ["big", "flat"], ["big_row"]),
        helper.make_node("Mul", ["big_row", "x"], ["scaled"]),
        helper.make_node("ReduceSum", ["scaled", "axis"], ["total"], keepdims=1),
        helper.make_node("Add", ["x", "total"], ["y"]),
    ]
    inits += [ints("flat", [1, -1]), ints("axis", [1])]
    source = save_model(folder / "model" / "blowup.onnx", nodes, inits,
                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])])  # fmt: skip
    return source, n


def memory_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    source, n = blowup_model(folder, rng)
    dlc = folder / "blowup.dlc"
    if fz.attempt(lambda: convert_model(fz.store, PROJECT, source, dlc), source) is None:
        return
    assert_reads_back(dlc)
    np.ones((1, 1), "<f4").tofile(folder / "x.raw")
    (folder / "l.txt").write_text("x.raw\n")
    batch = rng.choice((1, 1, 2, 4))
    job = rng.choice(("run", "run --debug", "quantize", "bench"))
    attempts = {
        "run": lambda: run_container(fz.store, PROJECT, dlc, folder / "l.txt", folder / "o",
                                     RunOptions(batch=batch)),
        "run --debug": lambda: run_container(fz.store, PROJECT, dlc, folder / "l.txt",
                                             folder / "o", RunOptions(batch=batch, debug=True)),
        "quantize": lambda: quantize_job(fz.store, PROJECT, QuantizeRequest(
            dlc, folder / "l.txt", folder / "q.dlc", QuantOptions(), analyze=False)),
        "bench": lambda: bench_job(fz.store, PROJECT, BenchRequest(
            [dlc], folder / "l.txt", BenchOptions(runtimes=("cpu",), batch=batch, iterations=1))),
    }  # fmt: skip
    held = 4 * n * (1 if job == "quantize" else batch)  # big * x alone
    runs_before = _run_count(fz)
    result = fz.attempt(attempts[job], dlc)
    if held > BUDGET:
        assert result is None and isinstance(fz.last_error, TooLargeForMemory), (job, n, batch)
        assert _run_count(fz) == runs_before  # refused before any run was recorded
        assert not (folder / "o").exists() and not (folder / "q.dlc").exists()


def _run_count(fz: Fuzz) -> int:
    from sqlalchemy import func, select

    from workbench.store import Run

    with fz.store.read() as session:
        return session.scalar(select(func.count(Run.id))) or 0


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.jobs.bench
    import workbench.jobs.infer
    import workbench.jobs.quantize

    for module in (workbench.jobs.bench, workbench.jobs.infer, workbench.jobs.quantize):
        monkeypatch.setattr(module, "available_memory", lambda: BUDGET)


@hostile_settings("memory")
@given(seed=seeds())
def test_memory_hogs_are_refused_before_work(hostile: Fuzz, budget: None, seed: int) -> None:
    hostile.case(memory_case, seed)


# ------------------------------------------------------------------------------------------
# class 7: convert writes only what reads back

WINDOW_VALUES = (1, 1, 2, 3, 0, -1, -3, 2**31, 2**40)
SCALE_VALUES = (1.0, 2.0, 0.5, 0.0, -2.0, float("inf"), float("nan"), 1e-30, 1e30)


def window_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    op = rng.choice(("MaxPool", "AveragePool", "Conv", "Resize"))
    opset = rng.choice((11, 13, 13, 17, 21, 0, 99, 1000))
    bad: list[str] = []  # what the case breaks on purpose
    attrs: dict[str, Any] = {}
    inits = []
    inputs = ["x"]
    if op == "Resize":
        scales = [1.0, 1.0, rng.choice(SCALE_VALUES), rng.choice(SCALE_VALUES)]
        inits.append(numpy_helper.from_array(np.array(scales, np.float32), "sc"))
        inputs = ["x", "", "sc"]
        if not all(math.isfinite(s) and s > 0 for s in scales):
            bad.append("scales")
    else:
        if op == "Conv":
            k = rng.choice((1, 2, 3))
            inits.append(numpy_helper.from_array(np.ones((2, 3, k, k), np.float32), "w"))
            inputs = ["x", "w"]
        else:
            k = rng.choice(WINDOW_VALUES[:4] + WINDOW_VALUES[4:])
            attrs["kernel_shape"] = [k, rng.choice(WINDOW_VALUES)]
        for key in ("strides", "dilations", "pads"):
            if key == "dilations" and op == "AveragePool" and opset < 19:
                continue  # no such attribute there
            if rng.random() < 0.5:
                size = 4 if key == "pads" else 2
                attrs[key] = [rng.choice(WINDOW_VALUES) for _ in range(size)]
        for key in ("kernel_shape", "strides", "dilations"):
            if key in attrs and any(v < 1 for v in attrs[key]):
                bad.append(key)
        if "pads" in attrs and any(v < 0 for v in attrs["pads"]):
            bad.append("pads")
    if not 1 <= opset <= onnx.defs.onnx_opset_version():
        bad.append("opset")
    node = helper.make_node(op, inputs, ["y"], name="hostile", **attrs)
    source = save_model(folder / "model" / "window.onnx", [node], inits,
                        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                       ["n", "c", "h", "w"])], opset=opset)  # fmt: skip
    dlc = folder / "window.dlc"
    result = fz.attempt(lambda: convert_model(fz.store, PROJECT, source, dlc), source)
    if bad:
        assert result is None and isinstance(fz.last_error, ModelError), (bad, attrs, opset)
        assert not dlc.exists()
        return
    if result is not None:
        assert_reads_back(dlc)
        if rng.random() < 0.5:  # it converted, so it runs or refuses cleanly
            np.ones((1, 3, 8, 8), "<f4").tofile(folder / "x.raw")
            (folder / "l.txt").write_text("x.raw\n")
            fz.attempt(lambda: run_container(fz.store, PROJECT, dlc, folder / "l.txt",
                                             folder / "o"), dlc)  # fmt: skip


@hostile_settings("convert")
@given(seed=seeds())
def test_convert_refuses_forbidden_attributes_and_writes_what_reads_back(
    hostile: Fuzz, seed: int
) -> None:
    hostile.case(window_case, seed)


# ------------------------------------------------------------------------------------------
# class 8: exit 2 for the inputs at fault


def digits(rng: random.Random) -> str:
    count = rng.choice((21, 40, 400, 3000, 4000))
    return ("-" if rng.random() < 0.3 else "") + "1" + "0" * (count - 1)


def nested(rng: random.Random) -> str:
    depth = rng.choice((1_000, 20_000, 200_000))
    return "[" * depth + "]" * depth


def exit_codes_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    base: Base = fz.base
    f = folder / "input"
    kind = rng.choice(("override", "override_nested", "import_json", "import_nested",
                       "import_csv", "labels", "input_dim", "not_a_store", "tampered_row"))  # fmt: skip
    if kind == "tampered_row":
        tampered_row_case(fz, rng)
        return
    if kind in ("override", "override_nested"):
        doc = json.loads(json.dumps(base.encodings["1.0.0"]))
        value = nested(rng) if kind == "override_nested" else digits(rng)
        key = rng.choice(("offset", "scale", "bw"))
        entry_ = rng.choice(doc["activation_encodings"])
        entry_[key] = "@@"
        f.write_text(json.dumps(doc).replace('"@@"', value))
        argv = ["quantize", str(base.float_dlc), "--input-list", str(base.input_list), "-o",
                str(folder / "q.dlc"), "--override-params", str(f)]  # fmt: skip
    elif kind in ("import_json", "import_nested"):
        value = nested(rng) if kind == "import_nested" else digits(rng)
        f.write_text('{"SNPE_SDK_version": "2", "Runtimes": {"CPU": ' + value + "}}")
        argv = ["import", "snpe-bench", str(f)]
    elif kind == "import_csv":
        field = "x" * rng.choice((131_073, 300_000, 1_000_000))
        f.write_text(f"Device Info:\n{field},1\n")
        argv = ["import", "snpe-bench", str(f)]
    elif kind == "labels":
        lines = [digits(rng), "3"]
        rng.shuffle(lines)
        f.write_text("\n".join(lines) + "\n")
        argv = ["bench", str(base.float_dlc), "--input-list", str(base.input_list), "--runtimes",
                "cpu", "--iterations", "1", "--labels", str(f)]  # fmt: skip
    elif kind == "input_dim":
        dims = ["1", "3", digits(rng).lstrip("-"), "8"]
        rng.shuffle(dims)
        source = folder / "m.onnx"
        source.write_bytes(base.onnx_bytes)
        argv = ["convert", str(source), "-o", str(folder / "m.dlc"), "--input-dim", "x",
                ",".join(dims)]  # fmt: skip
    else:
        f.write_bytes(rng.randbytes(rng.choice((100, 4096, 65536))))
        argv = ["--db", f"sqlite:///{f}", "project", "list"]
    result = fz.cli(*argv)
    output = result.stdout + result.stderr
    if result.exit_code != 2:
        fz.tracebacks += result.exit_code == 1
    assert result.exit_code == 2, (kind, result.exit_code, output[-500:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "internal error" not in errors[0], (kind, output[-500:])


def tampered_row_case(fz: Fuzz, rng: random.Random) -> None:
    """One run row made nonsense by hand: every listing and the row itself still show."""
    from workbench.jobs.runs import list_runs

    runs = list_runs(fz.store, PROJECT, limit=5).rows
    if not runs:
        return
    target = rng.choice(runs).id
    column, value = rng.choice((
        ("started_at", rng.choice(("garbage", "", "2024-13-45 99:99:99", "1" * 50))),
        ("finished_at", rng.choice(("garbage", "9999-99-99"))),
        ("pid", rng.choice((-1, 0, 2**62, "pid"))),
        ("notes", "\x1b]0;title\x07" * rng.randint(1, 100)),
    ))  # fmt: skip
    status = "running" if column == "pid" else None
    connection = sqlite3.connect(fz.store.engine.url.database)
    connection.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (value, target))
    if status:
        connection.execute("UPDATE runs SET status = ?, host = ? WHERE id = ?",
                           (status, os.uname().nodename, target))  # fmt: skip
    connection.commit()
    connection.close()
    for argv in (["project", "list"], ["runs", "list"], ["runs", "show", str(target)]):
        result = fz.cli(*argv)
        assert result.exit_code == 0, (column, value, argv, result.stderr[-500:])
        assert "\x1b" not in result.stdout
    assert_nothing_running(fz.store)


@hostile_settings("exit_codes")
@given(seed=seeds())
def test_inputs_at_fault_are_exit_2(hostile: Fuzz, seed: int) -> None:
    hostile.case(exit_codes_case, seed)


# ------------------------------------------------------------------------------------------
# class 9: encodings on read

DELTAS = (0.0, -1e-3, 5e-324, 1e-45, 1e-39, FLOAT32_TINY, FLOAT32_TINY * 0.99, 1e-30, 1e-3,
          0.02, 1e30, FLOAT32_MAX, FLOAT32_MAX * 1.01, 1e300, float("inf"), float("nan"))  # fmt: skip
ENDS = (0.0, -1.0, 1.0, 1e30, FLOAT32_MAX, -FLOAT32_MAX * 1.5, 1e300, float("-inf"), float("nan"))


def valid_delta(delta: float) -> bool:
    return FLOAT32_TINY <= delta <= FLOAT32_MAX  # false for nan


def encodings_case(fz: Fuzz, folder: Path, rng: random.Random) -> None:
    base = fz.base
    if rng.random() < 0.3:  # through an AIMET encodings file
        doc = json.loads(json.dumps(base.encodings["1.0.0"]))
        scale = rng.choice(DELTAS)
        rng.choice(doc["activation_encodings"])["scale"] = [scale]
        path = folder / "enc.json"
        path.write_text(json.dumps(doc))  # nan and inf as NaN / Infinity: Python reads them
        q = folder / "q.dlc"
        result = fz.attempt(lambda: quantize_job(fz.store, PROJECT, QuantizeRequest(
            base.float_dlc, base.input_list, q, QuantOptions(override_params=str(path)),
            analyze=False)), path)  # fmt: skip
        if not valid_delta(scale):
            assert result is None and isinstance(fz.last_error, BadInput), scale
            assert not q.exists()
        return
    entries = list(base.quant_entries)
    doc = json.loads(entry(entries, "encodings.json"))
    table = doc["param_encodings" if rng.random() < 0.3 else "encodings"]
    name = rng.choice(sorted(table))
    enc = table[name]
    key = rng.choice(("delta", "delta", "min", "max"))
    value = rng.choice(DELTAS if key == "delta" else ENDS)
    if isinstance(enc[key], list):
        index = rng.randrange(len(enc[key]))
        enc[key][index] = value
    else:
        enc[key] = value
    dlc = write_zip(folder / "c.dlc", replaced(entries, "encodings.json", json.dumps(doc).encode()))
    if key == "delta":
        invalid = not valid_delta(value)
    else:
        invalid = not (math.isfinite(value) and abs(value) <= FLOAT32_MAX)
    runtime = rng.choice(("dsp", "cpu", "gpu"))
    result = fz.attempt(lambda: run_container(
        fz.store, PROJECT, dlc, base.input_list, folder / "o",
        RunOptions(runtime=runtime, cpu_fxp=runtime == "cpu")), dlc)  # fmt: skip
    if invalid:
        assert result is None and isinstance(fz.last_error, ContainerError), (key, value)
        assert "float32" in str(fz.last_error) or "malformed" in str(fz.last_error)
        assert not (folder / "o").exists()
    elif result is not None:
        for raw in (folder / "o").rglob("*.raw"):
            assert np.isfinite(np.fromfile(raw, "<f4")).all(), (key, value)


@hostile_settings("encodings")
@given(seed=seeds())
def test_encodings_are_checked_on_read(hostile: Fuzz, seed: int) -> None:
    hostile.case(encodings_case, seed)


def test_hostile_fuzz_total() -> None:
    """At least ``MIN_CASES`` cases ran (when every test above ran in this process)."""
    tests = {n for n, f in globals().items() if n.startswith("test_") and hasattr(f, "hypothesis")}
    if set(_RAN) != tests:
        pytest.skip("only part of the module ran")
    assert sum(_RAN.values()) >= MIN_CASES * min(SCALE, 1), _RAN
