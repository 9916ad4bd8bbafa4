"""TUI responsiveness with 10,000 stored runs: first paint and page changes.

    python tests/perf/bench_tui.py [--runs 10000] [--repeat 5]

Targets (SPEC §8): first paint <= 1 s, page change <= 100 ms. Measured headless at
80x24 (``App.run_test``), so terminal output costs are not included:

* **start-up**: a fresh interpreter importing the TUI and opening (migrating,
  recovering) the store, i.e. what ``workbench tui`` does before the app runs;
* **first paint**: from ``App`` start to the first frame composed with the runs;
* **page change** (``]``), **sort change** (``S``) and **filter**: from the key
  event to the first frame composed with the new page (median and worst of ``--repeat``).

Each is given as wall time and as the CPU time the process spent (all threads): on
a busy machine the wall time includes waiting for a core, the CPU time does not.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.tui.seed import seed_many, seed_store  # noqa: E402
from workbench.store import open_store  # noqa: E402


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the TUI did not get there in time")
        await asyncio.sleep(0.001)


async def measure(store, repeat: int) -> dict[str, list[float]]:
    names = ("first paint", "page change", "sort change", "filter")
    times: dict[str, list[float]] = {f"{n}{c}": [] for n in names for c in ("", " (cpu)")}
    for _ in range(repeat):
        await one_session(store, times)
    return times


async def one_session(store, times: dict[str, list[float]]) -> None:
    from textual import events

    from workbench.tui.app import WorkbenchApp

    app = WorkbenchApp(store, "default")
    frames: list[float] = []  # when a frame was composed for the terminal
    display = app._display

    def record(screen, renderable) -> None:
        if renderable is not None:
            frames.append(time.perf_counter())
        display(screen, renderable)

    app._display = record  # type: ignore[method-assign]

    async def next_frame_after(moment: float) -> float:
        await _until(lambda: bool(frames) and frames[-1] > moment)
        return frames[-1]

    started, cpu = time.perf_counter(), time.process_time()
    async with app.run_test(size=(80, 24)):

        def table():
            return app.screen.query_one("#quantize-table")

        await _until(lambda: table().page is not None)
        painted = await next_frame_after(time.perf_counter())
        times["first paint"].append(painted - started)
        times["first paint (cpu)"].append(time.process_time() - cpu)
        t = table()
        await asyncio.sleep(0.3)  # the rest of start-up (footer, focus) settles

        async def timed(name: str, start, done) -> None:
            begin, cpu = time.perf_counter(), time.process_time()
            start()
            await _until(done)
            painted = await next_frame_after(time.perf_counter())
            times[name].append(painted - begin)
            times[f"{name} (cpu)"].append(time.process_time() - cpu)
            await asyncio.sleep(0.05)  # let the app go idle between measurements

        def key(name: str, character: str):
            return lambda: app.post_message(events.Key(name, character))

        offset = t.page.offset
        await timed("page change", key("right_square_bracket", "]"),
                    lambda: t.page.offset == offset + t.page.limit)  # fmt: skip
        await timed("sort change", key("S", "S"),
                    lambda: not t.query_state.descending and t.page.offset == 0
                    and t.page.rows[0].id < 100)  # fmt: skip
        await timed("filter", lambda: t.set_filter("status:failed"),
                    lambda: t.page.rows and all(r.status == "failed" for r in t.page.rows))  # fmt: skip


def startup_seconds(db: str) -> float:
    code = (
        "import time; t=time.perf_counter(); import workbench.tui.app; "
        f"from workbench.store import open_store; open_store({db!r}).close(); "
        "print(time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        store = open_store(db)
        seed_store(store)
        seed_many(store, args.runs)
        print(f"{args.runs + 38:,} runs stored (half quantize, half bench)")
        startup = [startup_seconds(db) for _ in range(3)]
        times = asyncio.run(measure(store, args.repeat))
        store.close()
    print(
        f"{'start-up (imports + open store)':34} median {statistics.median(startup) * 1e3:7.0f} ms"
    )
    targets = {"first paint": 1.0, "page change": 0.1, "sort change": 0.1, "filter": 0.1}
    for name, values in times.items():
        median, worst = statistics.median(values), max(values)
        verdict = "ok" if median <= targets[name.split(" (")[0]] else "OVER TARGET"
        print(f"{name:34} median {median * 1e3:7.0f} ms   worst {worst * 1e3:7.0f} ms   "
              f"target {targets[name.split(' (')[0]] * 1e3:.0f} ms: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
