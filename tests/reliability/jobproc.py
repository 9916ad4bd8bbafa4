"""Run the real ``workbench`` executable as a child, watch it through the store, stop it.

Shared by the kill and limits tests: the child runs in its own session (so a signal
or a clean-up reaches it and nothing else), every wait polls with a deadline, and
the child is always killed and reaped on the way out.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sqlalchemy import select

from workbench.store import Run

T = TypeVar("T")


def workbench(url: str, *args: str) -> list[str]:
    """The command line of ``workbench --db URL ARGS`` through this interpreter."""
    return [sys.executable, "-m", "workbench", "--db", url, *args]


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment for a child: one BLAS thread (small, predictable address space)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update(extra)
    return env


@contextmanager
def child(
    argv: Sequence[str],
    *,
    preexec_fn: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """A running child in its own session; SIGKILLed (its group) and reaped at the end.

    The child starts with SIGINT at its default, as a command typed at a terminal does:
    a shell running the tests in the background (``cmd &``) hands its children SIGINT
    ignored, and Python then never turns Ctrl-C into KeyboardInterrupt.
    """

    def start() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if preexec_fn is not None:
            preexec_fn()

    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=start,
        env=env if env is not None else quiet_env(),
        cwd=cwd,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            kill_group(proc, signal.SIGKILL)
        proc.communicate(timeout=30)


def kill_group(proc: subprocess.Popen[str], sig: int) -> None:
    """Send ``sig`` to the child's process group (its own session: only it and its children)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def finish(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str, str]:
    """Wait for the child; its exit code, stdout and stderr."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def run_child(argv: Sequence[str], *, timeout: float = 30, **kwargs: Any) -> tuple[int, str, str]:
    """Run a child to the end (killed at ``timeout``); its exit code, stdout and stderr."""
    with child(argv, **kwargs) as proc:
        return finish(proc, timeout)


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float = 30.0,
             proc: subprocess.Popen[str] | None = None, interval: float = 0.01) -> T:  # fmt: skip
    """Poll ``probe`` until it returns something; fail at ``timeout`` or if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if proc is not None and proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the child exited ({proc.returncode}) before {what}: {err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def runs_of(store: Any, pid: int) -> list[Run]:
    """The runs a process recorded, oldest first (fresh from the database)."""
    with store.read() as session:
        return list(session.scalars(select(Run).where(Run.pid == pid).order_by(Run.id)))


def running_run(store: Any, pid: int, kind: str) -> Run | None:
    found = [r for r in runs_of(store, pid) if r.kind == kind and r.status == "running"]
    return found[0] if found else None


def integrity(db: Path) -> list[str]:
    """``PRAGMA integrity_check`` of a SQLite file (``["ok"]`` when sound)."""
    connection = sqlite3.connect(db)
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()


def stderr_lines(err: str) -> list[str]:
    return err.strip("\n").splitlines()


# --------------------------------------------------------------------- permissions

_PR_CAPBSET_DROP = 24
# CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root ignore file modes.
_DAC_CAPABILITIES = (1, 2, 3)


def can_honour_file_modes() -> bool:
    """Whether a child can be made to respect read-only modes (not root, or root that
    may drop its override capabilities)."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(
        [sys.executable, "-c", "pass"], preexec_fn=respect_file_modes, capture_output=True
    )
    return probe.returncode == 0


def respect_file_modes() -> None:
    """preexec_fn: a root child loses the capabilities that bypass file modes."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in _DAC_CAPABILITIES:
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


# --------------------------------------------------------------------- models


def deep_cnn(path: Path, *, layers: int = 12, channels: int = 32, hw: int = 32) -> Path:
    """Conv+Relu ``layers`` deep, then pool and Gemm: slow enough to calibrate on purpose."""
    rng = np.random.default_rng(0)
    inits, nodes = [], []
    prev, cin = "x", 3
    for i in range(layers):
        w = rng.standard_normal((channels, cin, 3, 3)) * (2 / (cin * 9)) ** 0.5
        inits += [
            numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
            numpy_helper.from_array(np.zeros(channels, np.float32), f"b{i}"),
        ]
        nodes += [
            helper.make_node(
                "Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], name=f"conv{i}", pads=[1, 1, 1, 1]
            ),  # fmt: skip
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"),
        ]
        prev, cin = f"r{i}", channels
    fc = (rng.standard_normal((10, channels)) * 0.1).astype(np.float32)
    inits += [
        numpy_helper.from_array(np.array([1, -1], np.int64), "flat"),
        numpy_helper.from_array(fc, "fc"),
    ]
    nodes += [
        helper.make_node("GlobalAveragePool", [prev], ["g"], name="gap"),
        helper.make_node("Reshape", ["g", "flat"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc"], ["logits"], name="fc", transB=1),
    ]
    return _save(path, nodes, inits, [1, 3, hw, hw], [1, 10])


def wide_mlp(path: Path, *, width: int, layers: int = 1) -> Path:
    """``layers`` square Gemms of ``width``: parameters of 4*width*width*layers bytes."""
    rng = np.random.default_rng(1)
    inits, nodes, prev = [], [], "x"
    for i in range(layers):
        w = rng.standard_normal((width, width), dtype=np.float32) * width**-0.5
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}"], [f"h{i}"], name=f"fc{i}",
                                      transB=1))  # fmt: skip
        prev = f"h{i}"
    return _save(path, nodes, inits, [1, width], [1, width], output=prev)


def _save(path: Path, nodes: list, inits: list, in_shape: list[int], out_shape: list[int],
          output: str = "logits") -> Path:  # fmt: skip
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def write_inputs(folder: Path, n: int, shape: Sequence[int]) -> Path:
    """``n`` random float32 .raw inputs of ``shape`` and the input list naming them."""
    rng = np.random.default_rng(7)
    for i in range(n):
        rng.standard_normal(shape).astype("<f4").tofile(folder / f"in{i}.raw")
    listing = folder / "list.txt"
    listing.write_text("".join(f"in{i}.raw\n" for i in range(n)))
    return listing
