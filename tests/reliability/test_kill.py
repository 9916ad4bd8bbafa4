"""Killed jobs leave consistent state: no partial container, the run `interrupted`, a sound store.

Each test runs the real ``workbench`` executable, waits until the job is really at
work (its run is ``running`` in the store, or its temporary container exists), then
signals it: SIGKILL (nothing can run on the way out), SIGINT (Ctrl-C) or SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import psutil
import pytest

from workbench.engine.container import read_container
from workbench.errors import ContainerError
from workbench.jobs.convert import convert_model
from workbench.jobs.leftovers import remove_leftover_temp_files, temp_file_pattern
from workbench.jobs.runs import show_run, tag_run
from workbench.store import open_store

from .jobproc import (
    child,
    deep_cnn,
    finish,
    integrity,
    kill_group,
    running_run,
    stderr_lines,
    wait_for,
    wide_mlp,
    workbench,
    write_inputs,
)


@pytest.fixture
def db(tmp_path: Path, store) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def cnn(store, tmp_path: Path) -> tuple[Path, Path]:
    """A float container that takes seconds to calibrate, and its 64-sample input list."""
    model = deep_cnn(tmp_path / "deep.onnx")
    container = tmp_path / "deep.dlc"
    convert_model(store, "default", model, container)
    return container, write_inputs(tmp_path, 64, (1, 3, 32, 32))


def _quantize(url: str, container: Path, listing: Path, output: Path) -> list[str]:
    return workbench(url, "quantize", str(container), "--input-list", str(listing),
                     "-o", str(output))  # fmt: skip


def _bench(url: str, container: Path, listing: Path, csv: Path) -> list[str]:
    return workbench(url, "bench", str(container), "--input-list", str(listing),
                     "--runtimes", "cpu", "--iterations", "100000", "--csv", str(csv))  # fmt: skip


def _wait_until_iterating(proc) -> None:
    """Wait until the bench has spent 0.3 s more CPU: initializing this small container
    takes milliseconds, so it is then timing its 100000 iterations."""
    cpu = psutil.Process(proc.pid)
    start = sum(cpu.cpu_times()[:2])
    wait_for("the bench to iterate",
             lambda: sum(cpu.cpu_times()[:2]) - start >= 0.3 or None, proc=proc)  # fmt: skip


def _interrupted_by_the_sweep(store, url: str, run_id: int) -> None:
    """Still `running` until a store is opened; then `interrupted`, with no results."""
    assert show_run(store, run_id).status == "running"  # nobody has looked yet
    open_store(url).close()  # what the next command does first
    shown = show_run(store, run_id)
    assert shown.status == "interrupted"
    assert "ended without finishing" in shown.error
    assert shown.finished_at is not None
    assert shown.sqnr_db is None and shown.layers == ()  # nothing half-written


def test_sigkill_mid_quantize_leaves_no_output_and_the_run_interrupted(
    store, migrated_store_url: str, db: Path, tmp_path: Path, cnn: tuple[Path, Path]
) -> None:
    container, listing = cnn
    out = tmp_path / "out" / "q.dlc"
    out.parent.mkdir()
    with child(_quantize(migrated_store_url, container, listing, out)) as proc:
        run = wait_for("a running quantize run",
                       lambda: running_run(store, proc.pid, "quantize"), proc=proc)  # fmt: skip
        kill_group(proc, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    # Killed while calibrating: no container, not even a temporary one.
    assert os.listdir(out.parent) == []
    _interrupted_by_the_sweep(store, migrated_store_url, run.id)
    assert show_run(store, run.id).details["output_container_id"] is None
    assert integrity(db) == ["ok"]
    tag_run(store, run.id, ["killed"])  # and the store takes writes again


def test_sigkill_mid_bench_leaves_no_results_and_the_run_interrupted(
    store, migrated_store_url: str, db: Path, tmp_path: Path, cnn: tuple[Path, Path]
) -> None:
    container, listing = cnn
    csv = tmp_path / "rows.csv"
    with child(_bench(migrated_store_url, container, listing, csv)) as proc:
        run = wait_for("a running bench run",
                       lambda: running_run(store, proc.pid, "bench"), proc=proc)  # fmt: skip
        _wait_until_iterating(proc)
        kill_group(proc, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    _interrupted_by_the_sweep(store, migrated_store_url, run.id)
    details = show_run(store, run.id).details
    assert details["latency_mean_ms"] is None and details["init_time_ms"] is None
    assert not csv.exists()
    assert integrity(db) == ["ok"]


def test_sigkill_while_writing_the_container_keeps_the_old_one(
    store, migrated_store_url: str, tmp_path: Path, cnn: tuple[Path, Path]
) -> None:
    """The kill lands between the first byte of the temporary file and the rename."""
    big = wide_mlp(tmp_path / "wide.onnx", width=2048, layers=4)  # 64 MiB of parameters
    out = tmp_path / "out" / "m.dlc"
    out.parent.mkdir()
    shutil.copyfile(cnn[0], out)  # a previous, good container at the output path
    before = out.read_bytes()
    pattern = temp_file_pattern(out)

    def temp_file() -> Path | None:
        found = [p for p in out.parent.iterdir() if pattern.fullmatch(p.name)]
        return found[0] if found else None

    with child(workbench(migrated_store_url, "convert", str(big), "-o", str(out))) as proc:
        temp = wait_for("the temporary container", temp_file, proc=proc, timeout=20,
                        interval=0.001)  # fmt: skip
        kill_group(proc, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL

    # The target is the old container, byte for byte; the partial data is only in the
    # hidden temporary file, which no reader takes for a container.
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(["m.dlc", temp.name])
    assert temp.name.startswith(".m.dlc.") and temp.suffix == ".tmp"
    with pytest.raises(ContainerError):
        read_container(temp)

    # The next write of that output removes it, once it is old enough that no writer
    # can be between closing and renaming it (its writer is dead: nobody has it open).
    assert remove_leftover_temp_files(out) == []  # seconds old: kept for now
    stale = time.time() - 60
    os.utime(temp, (stale, stale))
    convert_model(store, "default", deep_cnn(tmp_path / "again.onnx", layers=2), out)
    assert os.listdir(out.parent) == ["m.dlc"]
    assert read_container(out).graph.name == "again"


@pytest.mark.parametrize(
    ("sig", "code", "stderr", "error"),
    [
        (signal.SIGINT, 130, ["error: interrupted"], "interrupted by the user"),
        (signal.SIGTERM, 143, [], "interrupted: the process was asked to stop"),
    ],
    ids=["sigint", "sigterm"],
)
def test_ctrl_c_or_sigterm_ends_quantize_cleanly(
    store,
    migrated_store_url: str,
    db: Path,
    tmp_path: Path,
    cnn: tuple[Path, Path],
    sig: int,
    code: int,
    stderr: list[str],
    error: str,
) -> None:
    container, listing = cnn
    out = tmp_path / "out" / "q.dlc"
    out.parent.mkdir()
    with child(_quantize(migrated_store_url, container, listing, out)) as proc:
        run = wait_for("a running quantize run",
                       lambda: running_run(store, proc.pid, "quantize"), proc=proc)  # fmt: skip
        kill_group(proc, sig)
        returncode, stdout, err = finish(proc)
    assert (returncode, stdout, stderr_lines(err)) == (code, "", stderr)
    # Recorded by the job on its way out, before any store was opened again.
    shown = show_run(store, run.id)
    assert (shown.status, shown.error) == ("interrupted", error)
    assert shown.sqnr_db is None and shown.layers == ()
    assert os.listdir(out.parent) == []
    assert integrity(db) == ["ok"]


def test_ctrl_c_ends_bench_cleanly(
    store, migrated_store_url: str, db: Path, tmp_path: Path, cnn: tuple[Path, Path]
) -> None:
    container, listing = cnn
    csv = tmp_path / "rows.csv"
    with child(_bench(migrated_store_url, container, listing, csv)) as proc:
        run = wait_for("a running bench run",
                       lambda: running_run(store, proc.pid, "bench"), proc=proc)  # fmt: skip
        _wait_until_iterating(proc)
        kill_group(proc, signal.SIGINT)
        returncode, stdout, err = finish(proc)
    assert (returncode, stdout, stderr_lines(err)) == (130, "", ["error: interrupted"])
    shown = show_run(store, run.id)
    assert (shown.status, shown.error) == ("interrupted", "interrupted by the user")
    assert shown.details["latency_mean_ms"] is None
    assert not csv.exists()
    assert integrity(db) == ["ok"]


def test_leftover_temp_files_go_only_when_abandoned(tmp_path: Path) -> None:
    out = tmp_path / "q.dlc"
    stale = time.time() - 60

    def leftover(name: str, *, old: bool = True) -> Path:
        path = tmp_path / name
        path.write_bytes(b"PK\x03\x04partial")
        if old:
            os.utime(path, (stale, stale))
        return path

    abandoned = leftover(".q.dlc.ab_cd123.tmp")
    fresh = leftover(".q.dlc.fresh000.tmp", old=False)
    held = leftover(".q.dlc.held0000.tmp")
    others = [
        leftover(".other.dlc.abcdefgh.tmp"),  # another output's
        leftover("q.dlc.abcdefgh.tmp"),  # not hidden: not write_container's naming
        leftover(".q.dlc.tmp"),
        leftover(".q.dlc.abcdefgh.tmp.bak"),
    ]
    with open(held, "rb"):  # a live writer still has it open
        assert remove_leftover_temp_files(out) == [abandoned]
    assert fresh.exists() and held.exists() and all(p.exists() for p in others)
    assert remove_leftover_temp_files(out) == [held]  # its writer is gone now
    assert remove_leftover_temp_files(tmp_path / "missing" / "q.dlc") == []
