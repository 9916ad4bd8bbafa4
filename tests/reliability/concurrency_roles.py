"""The processes of the concurrency soak (``test_concurrency.py``), one role each.

    python -m tests.reliability.concurrency_roles ROLE URL DIR SECONDS [NAME]

* ``writer NAME``: what a user's CLI commands do, in a loop: a run through
  ``tracked_run`` (started, then finished with results and layer stats), a tag
  on it and one on a run every writer tags, a note, a star, the run added to
  the writer's experiment, now and then the baseline. It reopens the store
  every few operations, as each ``workbench`` command opens it (upgrade check
  and the orphaned-run sweep included). Every write is counted and timed.
* ``tui``: the real Textual app (``WorkbenchApp``) run headless with
  ``App.run_test()`` and driven by key presses, as a person would: page,
  reload, jump and sort the benchmark runs (``jobs.browse.page_runs`` in thread
  workers); star, tag, note and baseline on its own quantization runs (the
  filter ``#tui-target`` keeps it off the writers' rows, so their counts stay
  checkable). The jobs it calls are wrapped to count and time them.
* ``reader``: two threads holding read transactions open for seconds,
  staggered so one is always open: on SQLite the WAL can never be reset under
  them (checkpoint starvation); writers must not notice.

Each role touches ``DIR/ready-NAME`` when it is loaded, waits for ``DIR/go``,
works for SECONDS, and prints one JSON line of results.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOAK_PROJECT = "soak"
TUI_TAG = "tui-target"  # the seeded quantization runs the TUI annotates


def _wait_for_go(folder: Path, name: str) -> float:
    (folder / f"ready-{name}").touch()
    while not (folder / "go").exists():
        time.sleep(0.005)
    return time.monotonic()


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


# -- writer --------------------------------------------------------------------------------


def writer(url: str, folder: Path, seconds: float, name: str) -> dict[str, Any]:
    from workbench.jobs.experiments import add_runs
    from workbench.jobs.lifecycle import tracked_run
    from workbench.jobs.runs import set_baseline, set_note, set_starred, tag_run
    from workbench.store import open_store

    shared = int((folder / "shared-run").read_text())
    counts = dict(runs=0, tags=0, shared_tags=0, notes=0, stars=0, members=0, baselines=0)
    latencies: list[tuple[str, float]] = []  # (write, seconds)
    errors: list[str] = []

    def timed(write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return write(*args, **kwargs)
        finally:
            latencies.append((write.__name__, time.perf_counter() - started))

    store = open_store(url)
    deadline = _wait_for_go(folder, name) + seconds
    i = 0
    while time.monotonic() < deadline:
        try:
            if i and i % 10 == 0:  # a new command: a new process would open the store
                store.close()
                store = timed(open_store, url)
            kind = "quantize" if i % 2 else "bench"
            details = {"param_quantizer": "tf"} if kind == "quantize" else {"runtime": "cpu"}
            started = time.perf_counter()
            with tracked_run(store, project=SOAK_PROJECT, kind=kind, tags=[name],
                             command=f"soak {name} {i}", **details) as run:  # fmt: skip
                latencies.append(("start run", time.perf_counter() - started))
                if kind == "quantize":
                    run.record(sqnr_db=20.0 + i % 7)
                    run.add_layer_stats(
                        dict(layer_index=k, layer_name=f"conv{k}", op_type="Conv", sqnr_db=30.0)
                        for k in range(3)
                    )
                else:
                    run.record(latency_mean_ms=float(i), options={"iteration": i})
                run.log(f"{name} iteration {i}")
                finishing = time.perf_counter()
            latencies.append(("finish run", time.perf_counter() - finishing))
            counts["runs"] += 1
            timed(tag_run, store, run.id, [f"{name}-t{i}"])
            counts["tags"] += 1
            timed(tag_run, store, shared, [f"{name}-s{i}"])  # every writer, one row
            counts["shared_tags"] += 1
            timed(set_note, store, run.id, f"{name}:{i}")
            counts["notes"] += 1
            if i % 3 == 0:
                timed(set_starred, store, run.id, True)
                counts["stars"] += 1
            timed(add_runs, store, SOAK_PROJECT, f"exp-{name}", [run.id])
            counts["members"] += 1
            if i % 5 == 0:
                timed(set_baseline, store, run.id)
                counts["baselines"] += 1
        except Exception as exc:
            errors.append(_error(exc))
        i += 1
        time.sleep(random.uniform(0, 0.02))  # leave the CPU to the others now and then
    store.close()
    return {"role": "writer", "name": name, "counts": counts, "latencies": latencies,
            "errors": errors}  # fmt: skip


# -- TUI -----------------------------------------------------------------------------------


def tui(url: str, folder: Path, seconds: float, name: str = "tui") -> dict[str, Any]:
    import workbench.jobs.runs as run_jobs
    import workbench.tui.screens.project as project_screen
    from workbench.store import open_store
    from workbench.tui.app import WorkbenchApp

    stats: dict[str, Any] = {"pages": [], "writes": [], "tags": 0, "errors": []}

    def counted(function: Callable[..., Any], bucket: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            except Exception as exc:
                stats["errors"].append(_error(exc))
                raise
            finally:
                stats[bucket].append((function.__name__, time.perf_counter() - started))
            if function is tag_run:
                stats["tags"] += 1
            return result

        return wrapper

    # The screen looks these up at call time, so the app's own code paths run them.
    project_screen.page_runs = counted(project_screen.page_runs, "pages")
    tag_run = run_jobs.tag_run
    for job in ("tag_run", "untag_run", "set_note", "set_starred", "set_baseline"):
        setattr(run_jobs, job, counted(getattr(run_jobs, job), "writes"))

    store = open_store(url)
    app = WorkbenchApp(store, SOAK_PROJECT)
    notify = app.notify

    def recording_notify(message: Any, *args: Any, severity: str = "information", **kw: Any):
        if severity == "error":
            stats["errors"].append(f"notified: {message}")
        return notify(message, *args, severity=severity, **kw)

    app.notify = recording_notify  # type: ignore[method-assign]

    async def settle(pilot: Any) -> None:
        await pilot.pause()
        for _ in range(20):
            if not any(w.is_running or w.state.name == "PENDING" for w in app.workers):
                break
            await app.workers.wait_for_complete()
            await pilot.pause()

    async def drive() -> int:
        steps = 0
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            await pilot.press("2")
            await settle(pilot)
            screen.table("quantize").set_filter(f"#{TUI_TAG}")
            await settle(pilot)
            deadline = _wait_for_go(folder, name) + seconds
            while time.monotonic() < deadline:
                await pilot.press("3")  # the benchmark runs the writers keep adding
                for key in ("ctrl+r", "right_square_bracket", "right_curly_bracket",
                            "left_curly_bracket", "S"):  # fmt: skip
                    await pilot.press(key)
                    await settle(pilot)
                await pilot.press("2")  # its own quantization runs
                await settle(pilot)
                await pilot.press("down" if steps % 4 else "home")
                await pilot.press("asterisk")
                await settle(pilot)
                await pilot.press("t")
                await pilot.pause()
                await pilot.press(*f"tui-{steps}", "enter")
                await settle(pilot)
                await pilot.press("n")
                await pilot.pause()
                await pilot.press(*f" n{steps}", "enter")
                await settle(pilot)
                if steps % 5 == 0:
                    await pilot.press("b")
                    await settle(pilot)
                steps += 1
        return steps

    steps = asyncio.run(drive())
    store.close()
    return {"role": "tui", "steps": steps, "pages": stats["pages"], "latencies": stats["writes"],
            "tags": stats["tags"], "errors": stats["errors"]}  # fmt: skip


# -- long readers --------------------------------------------------------------------------


def reader(url: str, folder: Path, seconds: float, name: str = "reader") -> dict[str, Any]:
    from sqlalchemy import func, select

    from workbench.store import Run, open_store
    from workbench.store.database import sqlite_path

    store = open_store(url)
    wal = sqlite_path(store.url)
    wal = wal.with_name(wal.name + "-wal") if wal is not None else None
    result: dict[str, Any] = {"role": "reader", "transactions": 0, "max_wal_bytes": 0,
                              "errors": []}  # fmt: skip
    hold = 1.5
    deadline = _wait_for_go(folder, name) + seconds

    def hold_reads(offset: float) -> None:
        time.sleep(offset)
        while time.monotonic() < deadline:
            try:
                with store.read() as session:
                    before = session.scalar(select(func.count()).select_from(Run))
                    time.sleep(hold)  # the snapshot stays open meanwhile
                    after = session.scalar(select(func.count()).select_from(Run))
                    if store.engine.dialect.name == "sqlite" and before != after:
                        result["errors"].append("a read transaction saw rows appear")
                result["transactions"] += 1
            except Exception as exc:
                result["errors"].append(_error(exc))

    threads = [threading.Thread(target=hold_reads, args=(k * hold / 2,)) for k in range(2)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        if wal is not None and wal.exists():
            result["max_wal_bytes"] = max(result["max_wal_bytes"], wal.stat().st_size)
        time.sleep(0.1)
    store.close()
    return result


ROLES: dict[str, Callable[..., dict[str, Any]]] = {"writer": writer, "tui": tui, "reader": reader}


def main(argv: list[str]) -> int:
    role, url, folder, seconds, *rest = argv
    try:
        result = ROLES[role](url, Path(folder), float(seconds), *rest)
    except BaseException:
        traceback.print_exc()
        return 1
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    sys.exit(main(sys.argv[1:]))
