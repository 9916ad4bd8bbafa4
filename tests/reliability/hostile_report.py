"""The adversarial pass of issue 15, as child processes, with the counts the closing note gives.

    python -m tests.reliability.hostile_report [--rounds N] [--keep DIR]

Every case runs the real ``workbench`` executable in its own session, in a sandbox
folder, with a 60 s deadline and an address-space limit of 6 GiB (a safety net for the
shared machine: a job that fails to estimate its memory ends as a MemoryError, which is
counted as a failure, instead of taking everyone's memory). Each case states the exit
code it must end with (0, or 2 for a refusal). Reported:

* cases tried, and cases whose exit code was not the one expected;
* tracebacks (exit 1, or "Traceback" in the output) and hangs (the deadline passed);
* processes killed by a signal (the kernel's OOM killer among them);
* MemoryErrors ("out of memory" refusals: memory the job did not estimate);
* bytes written outside an output folder: every file of the sandbox is hashed before
  and after each case; new or changed files outside the case's own output folder and
  the store count, with their size;
* control characters printed to the terminal (stdout and stderr), and the largest
  peak RSS of a child (``wait4``'s ``ru_maxrss``).

``--rounds N`` repeats the generated cases (memory sizes, attribute values, encodings,
JSON depths...) with N seeds. The pytest fuzz modules (``test_fuzz.py``,
``test_fuzz_hostile.py``) run the in-process side; this script is the out-of-process one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.modelzoo import small_cnn, write_inputs

DEADLINE_S = 60
ADDRESS_SPACE = 6 << 30
CONTROL = {chr(c) for c in (*range(0, 9), *range(11, 32), *range(0x7F, 0xA0))}


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: int  # the exit code the case must end with
    out: Path | None = None  # the folder the case may write (besides the store)
    stdin: str | None = None
    check: Callable[[], str | None] | None = None  # after the run: a failure, or None


@dataclass
class Totals:
    cases: int = 0
    unexpected_exit: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)
    memory_errors: list[str] = field(default_factory=list)
    outside_bytes: int = 0
    outside: list[str] = field(default_factory=list)
    control_chars: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    max_rss_kib: int = 0
    max_rss_case: str = ""
    seconds: float = 0.0


def _limits() -> None:
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_case(sandbox: Sandbox, case: Case, totals: Totals) -> None:
    before = sandbox.snapshot()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.getcwd())  # fmt: skip
    argv = [sys.executable, "-m", "workbench", "--db", sandbox.url, *case.argv]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE, preexec_fn=_limits, env=env,
                            cwd=sandbox.root)  # fmt: skip
    try:
        out, err = proc.communicate(case.stdin.encode() if case.stdin else None,
                                    timeout=DEADLINE_S)  # fmt: skip
        hung = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        hung = True
    totals.seconds += time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if usage.ru_maxrss > totals.max_rss_kib:
        totals.max_rss_kib, totals.max_rss_case = usage.ru_maxrss, case.name
    text = (out + err).decode("utf-8", "replace")
    code = proc.returncode
    totals.cases += 1
    label = f"{case.name}: exit {code}: {text.strip()[-300:]!r}"
    if hung:
        totals.hangs.append(label)
    elif code < 0:
        totals.killed.append(label)
    elif code == 1 or "Traceback" in text:
        totals.tracebacks.append(label)
    elif code != case.expect:
        totals.unexpected_exit.append(label)
    if "out of memory" in text or "MemoryError" in text:
        totals.memory_errors.append(label)
    if CONTROL & set(text):
        totals.control_chars.append(label)
    for path, size in sandbox.changed_outside(before, case.out):
        totals.outside_bytes += size
        totals.outside.append(f"{case.name}: {path} ({size} bytes)")
    if case.check is not None and not hung:
        problem = case.check()
        if problem:
            totals.failed_checks.append(f"{case.name}: {problem}")


class Sandbox:
    """A folder holding the store, the inputs, victims elsewhere, and one output folder
    per case under ``outputs/``."""

    def __init__(self, root: Path):
        self.root = root
        self.url = f"sqlite:///{root / 'store.db'}"
        (root / "outputs").mkdir()
        (root / "victims").mkdir()
        (root / "victims" / "precious.raw").write_bytes(b"do not touch" * 10)
        self.counter = 0

    def out(self, name: str) -> Path:
        self.counter += 1
        return self.root / "outputs" / f"{self.counter:04d}-{name}"

    def snapshot(self) -> dict[str, tuple[int, int, int]]:
        """Every regular file's (size, mtime in ns, inode): a write or a rename changes it."""
        found: dict[str, tuple[int, int, int]] = {}
        for dirpath, _dirs, files in os.walk(self.root):
            for file in files:
                info = os.lstat(os.path.join(dirpath, file))
                if stat.S_ISREG(info.st_mode):
                    found[os.path.join(dirpath, file)] = (info.st_size, info.st_mtime_ns,
                                                          info.st_ino)  # fmt: skip
        return found

    def changed_outside(self, before: dict[str, tuple[int, int, int]],
                        allowed: Path | None) -> Iterator[tuple[str, int]]:  # fmt: skip
        for path, print_ in self.snapshot().items():
            if Path(path).name.startswith("store.db"):
                continue  # the store is every command's to write
            if allowed is not None and Path(path).is_relative_to(allowed):
                continue
            if before.get(path) != print_:
                yield path, print_[0]


# ------------------------------------------------------------------------------- models


def save(path: Path, nodes: list, inits: list, inputs: list, outputs: list,
         opset: int = 13) -> Path:  # fmt: skip
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def vec(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def generator(path: Path, op: str, n: int) -> Path:
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    f32 = lambda name, v: numpy_helper.from_array(np.array(v, np.float32), name)  # noqa: E731
    if op == "ConstantOfShape":
        nodes, inits = [helper.make_node(op, ["s"], ["big"])], [i64("s", [n])]
    elif op == "Expand":
        nodes, inits = (
            [helper.make_node(op, ["one", "s"], ["big"])],
            [f32("one", [1.0]), i64("s", [n])],
        )
    elif op == "Range":
        nodes = [helper.make_node(op, ["a", "b", "c"], ["big"])]
        inits = [f32("a", 0.0), f32("b", float(n)), f32("c", 1.0)]
    else:  # MatMul: an outer product of two vectors
        k = int(n**0.5)
        nodes = [helper.make_node("MatMul", ["col", "row"], ["big"])]
        inits = [f32("col", np.ones((k, 1))), f32("row", np.ones((1, k)))]
    nodes += [helper.make_node("ReduceSum", ["big"], ["t"], keepdims=0),
              helper.make_node("Add", ["x", "t"], ["y"])]  # fmt: skip
    return save(path, nodes, inits, [vec("x", [1])], [vec("y", [1])])


def named_outputs(path: Path, names: list[str]) -> Path:
    nodes = [helper.make_node("Relu", ["x"], [n]) for n in names]
    return save(path, nodes, [], [vec("x", [1, 4])], [vec(n, [1, 4]) for n in names])


def windowed(path: Path, op: str, attrs: dict, opset: int) -> Path:
    inits = []
    inputs = ["x"]
    if op == "Conv":
        inits = [numpy_helper.from_array(np.ones((2, 3, 3, 3), np.float32), "w")]
        inputs = ["x", "w"]
    node = helper.make_node(op, inputs, ["y"], name="hostile", **attrs)
    return save(path, [node], inits, [vec("x", [1, 3, 8, 8])], [vec("y", ["a", "b", "c", "d"])],
                opset)  # fmt: skip


# ------------------------------------------------------------------------------- cases


def build(sandbox: Sandbox, rounds: int) -> Iterator[Case]:
    root = sandbox.root
    data = root / "data"
    data.mkdir()
    small = small_cnn(data / "m.onnx")
    listing, _ = write_inputs(data, 2)
    np.ones(1, "<f4").tofile(data / "one.raw")
    (data / "one.txt").write_text("one.raw\n")
    np.ones((1, 4), "<f4").tofile(data / "four.raw")
    (data / "four.txt").write_text("four.raw\n")
    dlc, q = data / "m.dlc", data / "q.dlc"
    yield Case("setup convert", ["convert", str(small), "-o", str(dlc)], 0, out=dlc)
    yield Case("setup quantize", ["quantize", str(dlc), "--input-list", str(listing), "-o",
                                  str(q), "--no-analysis"], 0, out=q)  # fmt: skip
    yield from memory_cases(sandbox, data, rounds)
    yield from read_cases(sandbox, data, dlc, listing)
    yield from output_cases(sandbox, data)
    yield from overwrite_cases(sandbox, data, small, dlc, q, listing)
    yield from convert_cases(sandbox, data, rounds)
    yield from exit_code_cases(sandbox, data, dlc, q, listing, rounds)
    yield from encoding_cases(sandbox, data, q, listing, rounds)
    yield from store_cases(sandbox, data)
    yield from bomb_cases(sandbox, data)


def memory_cases(sandbox: Sandbox, data: Path, rounds: int) -> Iterator[Case]:
    for r in range(rounds):
        rng = random.Random(r)
        for op in ("ConstantOfShape", "Expand", "Range", "MatMul"):
            # A billion floats and more: beyond the children's 6 GiB, whatever the machine.
            n = rng.choice((3_000_000_000, 2_000_000_000, 10**9))
            model = generator(data / f"gen-{op}-{r}.onnx", op, n)
            gen = model.with_suffix(".dlc")
            yield Case(f"memory convert {op} {n}", ["convert", str(model), "-o", str(gen)], 0,
                       out=gen)  # fmt: skip
            for job in ("run", "quantize", "bench", "run --debug --batch 4"):
                out = sandbox.out("mem")
                words = job.split()
                argv = {"run": ["run", str(gen), "--input-list", str(data / "one.txt"),
                                "--output-dir", str(out), *words[1:]],
                        "quantize": ["quantize", str(gen), "--input-list",
                                     str(data / "one.txt"), "-o", str(out / "q.dlc")],
                        "bench": ["bench", str(gen), "--input-list", str(data / "one.txt"),
                                  "--runtimes", "cpu"]}[words[0]]  # fmt: skip
                out.mkdir()
                yield Case(
                    f"memory {job} {op} {n}",
                    argv,
                    2,
                    out=out,
                    check=lambda o=out: "output written" if any(o.iterdir()) else None,
                )


def read_cases(sandbox: Sandbox, data: Path, dlc: Path, listing: Path) -> Iterator[Case]:
    fifo = data / "pipe"
    os.mkfifo(fifo)
    sparse = data / "huge.csv"
    with open(sparse, "wb") as f:
        f.truncate(300 << 20)
    zero = data / "zero.json"
    os.symlink("/dev/zero", zero)
    for target in (fifo, zero, sparse):
        yield Case(f"read import {target.name}", ["import", "snpe-bench", str(target)], 2)
        yield Case(
            f"read labels {target.name}",
            [
                "bench",
                str(dlc),
                "--input-list",
                str(listing),
                "--runtimes",
                "cpu",
                "--labels",
                str(target),
            ],
            2,
        )
        yield Case(
            f"read input list {target.name}",
            [
                "run",
                str(dlc),
                "--input-list",
                str(target),
                "--output-dir",
                str(sandbox.out("read")),
            ],
            2,
        )
        yield Case(f"read override {target.name}", ["quantize", str(dlc), "--input-list",
                                                    str(listing), "-o", str(data / "o.dlc"),
                                                    "--override-params", str(target)], 2)  # fmt: skip


def output_cases(sandbox: Sandbox, data: Path) -> Iterator[Case]:
    victim = sandbox.root / "victims" / "precious.raw"
    vendor = named_outputs(data / "vendor.onnx", ["InceptionV3/Predictions/Reshape_1:0"])
    flat = named_outputs(data / "flat.onnx", ["p:0", "p_0", "P_0", "a/b", "a_b"])
    for model in (vendor, flat):
        yield Case(f"outputs convert {model.stem}", ["convert", str(model), "-o",
                                                     str(model.with_suffix(".dlc"))], 0,
                   out=model.with_suffix(".dlc"))  # fmt: skip
    run = ["run", str(vendor.with_suffix(".dlc")), "--input-list", str(data / "four.txt"),
           "--output-dir"]  # fmt: skip
    out = sandbox.out("file-link")
    (out / "Result_0" / "InceptionV3" / "Predictions").mkdir(parents=True)
    os.symlink(victim, out / "Result_0" / "InceptionV3" / "Predictions" / "Reshape_1:0.raw")
    yield Case("outputs linked file", [*run, str(out)], 0, out=out)
    for link in ("Result_0", "Result_0/InceptionV3"):
        out = sandbox.out("folder-link")
        (out / link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(victim.parent, out / link)
        yield Case(f"outputs linked {link}", [*run, str(out)], 2, out=out)
    out = sandbox.out("flat")
    names_ok = lambda o=out: (None if len(list((o / "Result_0").iterdir())) == 5  # noqa: E731
                              else "outputs collided")  # fmt: skip
    yield Case("outputs flat collisions", ["run", str(flat.with_suffix(".dlc")), "--input-list",
                                           str(data / "four.txt"), "--output-dir", str(out),
                                           "--flat-names"], 0, out=out, check=names_ok)  # fmt: skip
    for name in ("../../escaped", "/abs", "a//b", "t" * 300, "x\x1b]0;t\x07"):
        model = named_outputs(data / f"n{abs(hash(name))}.onnx", [name])
        yield Case("outputs name convert", ["convert", str(model), "-o",
                                            str(model.with_suffix(".dlc"))], 0,
                   out=model.with_suffix(".dlc"))  # fmt: skip
        out = sandbox.out("names")
        yield Case(f"outputs name {name[:20]!r}", ["run", str(model.with_suffix(".dlc")),
                                                   "--input-list", str(data / "four.txt"),
                                                   "--output-dir", str(out)], 2, out=out)  # fmt: skip
        yield Case(f"outputs flat name {name[:20]!r}", ["run", str(model.with_suffix(".dlc")),
                                                        "--input-list", str(data / "four.txt"),
                                                        "--output-dir", str(out),
                                                        "--flat-names"], 0, out=out)  # fmt: skip


def overwrite_cases(sandbox: Sandbox, data: Path, model: Path, dlc: Path, q: Path,
                    listing: Path) -> Iterator[Case]:  # fmt: skip
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (model, dlc, listing)}

    def intact(paths=(model, dlc, listing)) -> str | None:
        for p in paths:
            if hashlib.sha256(p.read_bytes()).hexdigest() != digests[p]:
                return f"{p} changed"
        return None

    os.link(dlc, data / "hard.dlc")
    os.symlink(model, data / "link.dlc")
    yield Case("overwrite export encodings", ["export", "encodings", str(q), "-o", str(q)], 2)
    yield Case("overwrite bench csv", ["bench", str(q), "--input-list", str(listing), "--runtimes",
                                       "cpu", "--csv", str(q)], 2)  # fmt: skip
    yield Case("overwrite bench csv list", ["bench", str(dlc), "--input-list", str(listing),
                                            "--runtimes", "cpu", "--csv", str(listing)], 2,
               check=intact)  # fmt: skip
    yield Case("overwrite quantize hard link", ["quantize", str(dlc), "--input-list",
                                                str(listing), "-o", str(data / "hard.dlc")], 2,
               check=intact)  # fmt: skip
    yield Case("overwrite convert link", ["convert", str(model), "-o", str(data / "link.dlc")], 2,
               check=intact)  # fmt: skip


def convert_cases(sandbox: Sandbox, data: Path, rounds: int) -> Iterator[Case]:
    values = (0, -1, 2**31, 1)
    for r in range(rounds * 3):
        rng = random.Random(1000 + r)
        op = rng.choice(("MaxPool", "AveragePool", "Conv"))
        attrs: dict = {} if op == "Conv" else {"kernel_shape": [2, 2]}
        key = rng.choice(("kernel_shape", "strides", "dilations", "pads"))
        if op == "Conv" and key == "kernel_shape":
            key = "strides"
        if op == "AveragePool" and key == "dilations":
            key = "strides"
        size = 4 if key == "pads" else 2
        attrs[key] = [rng.choice(values) for _ in range(size)]
        bad = any(v < 1 for v in attrs[key]) if key != "pads" else any(v < 0 for v in attrs[key])
        model = windowed(data / f"w{r}.onnx", op, attrs, rng.choice((13, 17)))
        dlc = model.with_suffix(".dlc")

        def reads_back(d=dlc) -> str | None:
            if not d.exists():
                return None
            info = subprocess.run([sys.executable, "-m", "workbench", "--db", sandbox.url,
                                   "info", str(d)], capture_output=True,
                                  env=dict(os.environ, PYTHONPATH=os.getcwd()))  # fmt: skip
            return None if info.returncode == 0 else f"info fails: {info.stderr[-200:]!r}"

        # A forbidden attribute must be refused; an allowed one may still make a shape
        # that cannot be (a kernel wider than its input): refused as well.
        yield Case(f"convert {op} {attrs}", ["convert", str(model), "-o", str(dlc)],
                   2 if bad or 2**31 in attrs[key] else 0, out=dlc, check=reads_back)  # fmt: skip
    for opset in (99, 1000):
        model = windowed(data / f"op{opset}.onnx", "MaxPool", {"kernel_shape": [2, 2]}, opset)
        yield Case(f"convert opset {opset}", ["convert", str(model), "-o",
                                              str(model.with_suffix(".dlc"))], 2)  # fmt: skip


def exit_code_cases(sandbox: Sandbox, data: Path, dlc: Path, q: Path, listing: Path,
                    rounds: int) -> Iterator[Case]:  # fmt: skip
    for r in range(rounds):
        rng = random.Random(2000 + r)
        digits = "1" + "0" * rng.choice((21, 400, 4000))
        depth = rng.choice((1000, 100_000))
        f = data / f"x{r}"
        enc = data / f"enc{r}.json"
        enc.write_text('{"version": "1.0.0", "activation_encodings": [{"name": "x", "bw": 8, '
                       f'"dtype": "INT", "enc_type": "PER_TENSOR", "is_sym": false, "offset": '
                       f'[-128], "scale": [{digits}]}}], "param_encodings": []}}')  # fmt: skip
        yield Case("exit override 10**k", ["quantize", str(dlc), "--input-list", str(listing),
                                           "-o", str(data / "o.dlc"), "--override-params",
                                           str(enc)], 2)  # fmt: skip
        nested = data / f"nested{r}.json"
        nested.write_text("{" + '"a":[' * depth + "]" * depth + "}")
        yield Case("exit import nested", ["import", "snpe-bench", str(nested)], 2)
        big = data / f"big{r}.json"
        big.write_text('{"SNPE SDK version": ' + digits + "}")
        yield Case("exit import 10**k", ["import", "snpe-bench", str(big)], 2)
        csv = data / f"field{r}.csv"
        csv.write_text("Device Info:\n" + "x" * rng.choice((140_000, 600_000)) + ",1\n")
        yield Case("exit import csv field", ["import", "snpe-bench", str(csv)], 2)
        f.write_text(f"{digits}\n3\n")
        yield Case("exit labels", ["bench", str(dlc), "--input-list", str(listing), "--runtimes",
                                   "cpu", "--labels", str(f)], 2)  # fmt: skip
        yield Case("exit input dim", ["convert", str(data / "m.onnx"), "-o", str(data / "d.dlc"),
                                      "--input-dim", "x", f"1,3,{digits},8"], 2)  # fmt: skip
        garbage = data / f"garbage{r}.db"
        garbage.write_bytes(rng.randbytes(4096))
        yield Case("exit not a database", ["--db", str(garbage), "project", "list"], 2)


def encoding_cases(sandbox: Sandbox, data: Path, q: Path, listing: Path,
                   rounds: int) -> Iterator[Case]:  # fmt: skip
    deltas = (1e300, 5e-324, 1e-39, 0.0, -1.0, float("inf"), float("nan"), 1e39)
    for r in range(rounds):
        for delta in deltas:
            path = data / f"delta{r}-{deltas.index(delta)}.dlc"
            _with_delta(q, path, delta, r)
            yield Case(f"encodings delta {delta}", ["info", str(path)], 2)
            out = sandbox.out("enc")
            yield Case(f"encodings run dsp {delta}", ["run", str(path), "--input-list",
                                                      str(listing), "--output-dir", str(out),
                                                      "--runtime", "dsp"], 2, out=out)  # fmt: skip


def _with_delta(q: Path, out: Path, delta: float, seed: int) -> None:
    with zipfile.ZipFile(q) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    doc = json.loads(entries["encodings.json"])
    names = sorted(doc["encodings"])
    doc["encodings"][random.Random(seed).choice(names)]["delta"] = delta
    entries["encodings.json"] = json.dumps(doc).encode()
    manifest = json.loads(entries["manifest.json"])
    for item in manifest["entries"]:
        blob = entries[item["name"]]
        item.update(size=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    entries["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name, blob in entries.items():
            zf.writestr(name, blob)


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mFAKE\x9b1m"


def store_cases(sandbox: Sandbox, data: Path) -> Iterator[Case]:
    yield Case("store note", ["runs", "note", "1", f"note {HOSTILE}"], 0)
    yield Case("store experiment", ["experiment", "create", "e", "--note", HOSTILE], 0)
    yield Case("store experiment name", ["experiment", "create", f"e{HOSTILE}"], 2)

    def tamper() -> None:
        db = sqlite3.connect(sandbox.root / "store.db")
        db.execute("UPDATE runs SET started_at = 'garbage' WHERE id = 2")
        db.execute("UPDATE runs SET status = 'running', pid = -1, host = ? WHERE id = 3",
                   (os.uname().nodename,))  # fmt: skip
        db.execute("UPDATE experiments SET name = ?", (f"x{HOSTILE}",))
        db.commit()
        db.close()

    yield Case("store tamper", ["project", "list"], 0, check=lambda: tamper())
    for argv in (["project", "list"], ["runs", "list"], ["runs", "show", "1"],
                 ["runs", "show", "2"], ["runs", "show", "3"], ["experiment", "list"],
                 ["--json", "runs", "show", "1"], ["runs", "compare", "1", "2"],
                 ["runs", "compare", "1", "2", "--format", "markdown"],
                 ["runs", "compare", "1", "2", "--format", "csv"]):  # fmt: skip
        yield Case(f"store {' '.join(argv)}", argv, 0)


def bomb_cases(sandbox: Sandbox, data: Path) -> Iterator[Case]:
    """A valid container (right sizes, right sha256) with a 2 GiB record of zeros deflated
    into about 2 MB, written by streaming (this process never holds the 2 GiB)."""
    from workbench.engine.container import Container, make_manifest, write_container
    from workbench.engine.graph import Graph, Node, TensorInfo

    graph = Graph("g", [TensorInfo("x", (1, 4))], [TensorInfo("y", (1, 4))],
                  [Node("relu", "Relu", ("x",), ("y",))], tensors={})  # fmt: skip
    small = data / "small-record.dlc"
    write_container(small, Container(make_manifest(converter={"command": "t"}), graph,
                                     records={"big.bin": b"x"}))  # fmt: skip
    size, chunk = 2 << 30, bytes(16 << 20)
    digest = hashlib.sha256()
    for _ in range(size // len(chunk)):
        digest.update(chunk)
    with zipfile.ZipFile(small) as src:
        entries = {i.filename: src.read(i) for i in src.infolist()}
    manifest = json.loads(entries["manifest.json"])
    for item in manifest["entries"]:
        if item["name"] == "records/big.bin":
            item.update(size=size, sha256=digest.hexdigest())
    entries["manifest.json"] = json.dumps(manifest).encode()
    bomb = data / "bomb.dlc"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, blob in entries.items():
            if name != "records/big.bin":
                dst.writestr(name, blob)
        info = zipfile.ZipInfo("records/big.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(info, "w", force_zip64=True) as out:
            for _ in range(size // len(chunk)):
                out.write(chunk)
    small.unlink()
    yield Case(f"bomb info ({bomb.stat().st_size >> 20} MiB file, 2 GiB record)",
               ["info", str(bomb)], 0)  # fmt: skip
    yield Case("bomb diff", ["diff", str(bomb), str(bomb)], 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="sandbox folder to keep")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="hostile-"))
    root.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(root)
    totals = Totals()
    started = time.monotonic()
    for case in build(sandbox, args.rounds):
        run_case(sandbox, case, totals)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), wall {time.monotonic() - started:.0f} s")
    print(f"cases tried: {totals.cases}")
    print(f"unexpected exit codes: {len(totals.unexpected_exit)}")
    print(f"tracebacks: {len(totals.tracebacks)}")
    print(f"hangs (>{DEADLINE_S} s): {len(totals.hangs)}")
    print(f"processes killed by a signal (the kernel's OOM killer among them): "
          f"{len(totals.killed)}")  # fmt: skip
    print(f"MemoryErrors (memory not estimated): {len(totals.memory_errors)}")
    print(f"bytes written outside an output folder: {totals.outside_bytes}")
    print(f"control characters printed: {len(totals.control_chars)}")
    print(f"failed checks (inputs changed, outputs collided, unreadable containers): "
          f"{len(totals.failed_checks)}")  # fmt: skip
    print(f"largest peak RSS of a child: {totals.max_rss_kib / 1024:.0f} MiB "
          f"({totals.max_rss_case})")  # fmt: skip
    for title, items in (("unexpected", totals.unexpected_exit), ("tracebacks", totals.tracebacks),
                         ("hangs", totals.hangs), ("killed", totals.killed),
                         ("memory", totals.memory_errors), ("outside", totals.outside),
                         ("control", totals.control_chars), ("checks", totals.failed_checks)):  # fmt: skip
        for item in items:
            print(f"  {title}: {item}")
    bad = (totals.unexpected_exit or totals.tracebacks or totals.hangs or totals.killed
           or totals.memory_errors or totals.outside_bytes or totals.control_chars
           or totals.failed_checks)  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
