"""The local executor: a pool of worker processes, each computing on one thread.

Workers are started fresh (``spawn``: nothing of the driver's open store or threads is
inherited), open the project's store once and run their tasks through the ordinary
jobs, which record the runs themselves (SQLite's WAL and the store's write lock let
them write at once). A worker ignores Ctrl-C: the driver decides, and stops them with
SIGTERM, which each job records as ``interrupted``. A worker that dies breaks the
pool; the tasks it held come back as lost (the driver tries them once more) and a new
pool takes over.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from workbench.jobs.sweep.tasks import Task, TaskResult, run_task
from workbench.store import Store

STOP_GRACE_S = 15.0  # for workers to record their runs interrupted before they are killed

_store: Store | None = None  # the worker's connection to the project's store


class LocalExecutor:
    """Tasks on ``jobs`` worker processes of this machine."""

    name = "local"

    def __init__(self, store: Store, project: str, jobs: int):
        self.url = store.url.render_as_string(hide_password=False)
        self.project = project
        self.slots = jobs
        self.pool = self._new_pool()
        self.pool_of: dict[Future[TaskResult], ProcessPoolExecutor] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        return ProcessPoolExecutor(
            self.slots,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.url,),
        )

    def submit(self, task: Task) -> Future[TaskResult]:
        future = self.pool.submit(_work, self.project, task)
        self.pool_of[future] = self.pool
        return future

    def wait(
        self, handles: Sequence[Future[TaskResult]], tasks: dict[Any, Task], timeout: float
    ) -> list[tuple[Future[TaskResult], TaskResult]]:
        """The handles done within ``timeout`` seconds, with their results."""
        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        results = []
        broken = False
        for future in done:
            task = tasks[future]
            pool = self.pool_of.pop(future, None)
            try:
                results.append((future, future.result()))
            except BrokenProcessPool:
                broken = broken or pool is self.pool  # an old pool's: replaced already
                results.append((future, _lost(task, "its worker process died")))
            except Exception as exc:  # pickling, or a worker's own failure to start
                results.append((future, _failed(task, exc)))
        if broken:  # every task of a broken pool ends: start another pool
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
        return results

    def stop(self) -> None:
        """Stop the running tasks: SIGTERM (their runs end interrupted), then SIGKILL."""
        processes = list(getattr(self.pool, "_processes", {}).values())
        for process in processes:
            if process.is_alive() and process.pid is not None:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_GRACE_S
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(url: str) -> None:
    """A worker's start: Ctrl-C is the driver's, SIGTERM ends the task interrupted, one
    thread, and the store opened once."""
    global _store
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from workbench.jobs.compute import use_threads
    from workbench.jobs.interrupts import catch_interrupts
    from workbench.store import open_store

    catch_interrupts()  # SIGTERM: SystemExit, recorded as interrupted by the job
    use_threads(1)
    _store = open_store(url)


def _work(project: str, task: Task) -> TaskResult:
    assert _store is not None, "worker not started"
    try:
        return run_task(_store, project, task)
    except (KeyboardInterrupt, SystemExit):
        # The job has recorded its run interrupted; the pool would catch this and wait
        # for the next task, but the driver is stopping: end here.
        os._exit(143)


def _lost(task: Task, why: str) -> TaskResult:
    return TaskResult(task.key, task.kind, ok=False, error=why, lost=True)


def _failed(task: Task, exc: BaseException) -> TaskResult:
    from workbench.jobs.lifecycle import error_text

    return TaskResult(task.key, task.kind, ok=False, error=f"internal error: {error_text(exc)}")
