"""Wall time of one sweep, four ways: a serial CLI loop, the local pool, Ray, side by side.

    python tests/perf/sweep_executors.py [--rounds 2] [--workers 2] [--skip-ray]

The sweep: the bundled demo model (32 validation, 16 calibration images) and a small
generated CNN, x 3 ``param_quantizer`` settings x the cpu and dsp runtimes = 12 cells.

* ``serial CLI``: what a user scripts today, one command at a time: ``workbench
  convert`` per model, ``quantize`` per (model, setting), ``bench --runtimes R`` per cell.
* ``local pool``: ``workbench sweep --jobs W``.
* ``ray``: ``workbench sweep --executor ray --jobs W`` (a local Ray of W CPUs started and
  stopped by the command: its start is part of the time).

Each variant runs in its own process tree on a fresh store and work folder; the
variants alternate, ``--rounds`` times. ``work`` is the sum of the quantize and bench
runs' own durations (from the store); ``overhead/cell`` is what the variant spends
beyond that work spread over its workers: ``(wall - work / W) / cells`` (the CLI loop:
W = 1), so it holds process starts, imports, Ray's start, shipping and recording.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for tests.*

from tests.modelzoo import small_cnn, write_inputs  # noqa: E402

SETTINGS = ("tf", "enhanced", "symmetric")
RUNTIMES = ("cpu", "dsp")
ITERATIONS = 3


def build(folder: Path) -> Path:
    """The models, input lists and the spec; the spec's path."""
    from workbench.data import demo_model_path, load_demo_images, write_input_list

    shutil.copy(demo_model_path(), folder / "demo.onnx")
    write_input_list(load_demo_images("calibration")[:16], folder / "demo-cal")
    write_input_list(load_demo_images("validation")[:32], folder / "demo-val")
    small_cnn(folder / "small.onnx", seed=1)
    (folder / "small").mkdir()
    write_inputs(folder / "small", 16)
    spec = folder / "zoo.toml"
    spec.write_text(
        f'name = "zoo"\nruntimes = {list(RUNTIMES)!r}\n'.replace("'", '"')
        + '[[models]]\npath = "demo.onnx"\ncalibration = "demo-cal/input_list.txt"\n'
        'eval = "demo-val/input_list.txt"\n'
        '[[models]]\npath = "small.onnx"\ncalibration = "small/list.txt"\n'
        'eval = "small/list.txt"\n'
        f"[grid]\nparam_quantizer = {list(SETTINGS)!r}\n".replace("'", '"')
        + "analyze = false\n"
        f"[bench]\niterations = {ITERATIONS}\n"
    )
    return spec


def models(folder: Path) -> list[tuple[str, Path, Path, Path]]:
    return [
        ("demo", folder / "demo.onnx", folder / "demo-cal/input_list.txt",
         folder / "demo-val/input_list.txt"),
        ("small", folder / "small.onnx", folder / "small/list.txt", folder / "small/list.txt"),
    ]  # fmt: skip


def workbench(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "workbench", "--db", f"sqlite:///{db}", *args]


def run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")


def serial(folder: Path, out: Path, db: Path, workers: int) -> None:
    for name, model, calibration, evaluation in models(folder):
        float_dlc = out / f"{name}.dlc"
        run(workbench(db, "convert", str(model), "-o", str(float_dlc)))
        for setting in SETTINGS:
            q = out / f"{name}-{setting}.dlc"
            run(workbench(db, "quantize", str(float_dlc), "--input-list", str(calibration),
                          "-o", str(q), "--param-quantizer", setting, "--no-analysis"))  # fmt: skip
            for runtime in RUNTIMES:
                run(workbench(db, "bench", str(q), "--input-list", str(evaluation),
                              "--runtimes", runtime, "--iterations", str(ITERATIONS)))  # fmt: skip


def pool(folder: Path, out: Path, db: Path, workers: int) -> None:
    run(workbench(db, "sweep", str(folder / "zoo.toml"), "--jobs", str(workers)))


def ray(folder: Path, out: Path, db: Path, workers: int) -> None:
    run(workbench(db, "sweep", str(folder / "zoo.toml"), "--executor", "ray",
                  "--jobs", str(workers)))  # fmt: skip


def work_seconds(db: Path) -> tuple[float, int]:
    """The quantize and bench runs' own time, and how many bench runs."""
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute(
            "SELECT kind, (julianday(finished_at) - julianday(started_at)) * 86400.0 FROM runs "
            "WHERE status = 'succeeded'"
        ).fetchall()
    finally:
        connection.close()
    return sum(s for _, s in rows), sum(1 for k, _ in rows if k == "bench")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    variants = {"serial CLI": (serial, 1), "local pool": (pool, args.workers)}
    if not args.skip_ray:
        variants["ray"] = (ray, args.workers)
    cells = 2 * len(SETTINGS) * len(RUNTIMES)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"{cells} cells; {args.workers} workers; {args.rounds} rounds; cores: {os.cpu_count()}")
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory(prefix="sweep-perf-") as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        build(folder)
        for r in range(args.rounds):
            for name, (function, workers) in variants.items():
                out = Path(tmp) / f"{name.replace(' ', '-')}-{r}"
                out.mkdir()
                db = out / "store.db"
                shutil.rmtree(folder / "zoo-sweep", ignore_errors=True)
                started = time.perf_counter()
                function(folder, out, db, workers)
                wall = time.perf_counter() - started
                work, benches = work_seconds(db)
                assert benches == cells, f"{name}: {benches} bench runs, expected {cells}"
                overhead = (wall - work / workers) / cells
                results[name].append((wall, overhead))
                print(f"round {r + 1} {name:10s} wall {wall:6.1f}s  work {work:6.1f}s  "
                      f"overhead/cell {overhead:5.2f}s", flush=True)  # fmt: skip
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"\n{'variant':12s} {'wall (median)':>14s} {'overhead/cell':>14s}")
    for name, rows in results.items():
        wall = statistics.median(w for w, _ in rows)
        overhead = statistics.median(o for _, o in rows)
        print(f"{name:12s} {wall:13.1f}s {overhead:13.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
