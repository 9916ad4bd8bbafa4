"""How many threads the engine computes with, and the pool its kernels share.

One number, set once per process (``set_threads``; the CLI's ``--threads``), governs
both BLAS (through threadpoolctl) and the engine's own kernels. The engine's pool does
not spin: idle workers sleep on a queue, and the calling thread takes part in every
parallel loop, taking chunks from a shared counter. On a loaded machine a worker that
is not scheduled simply takes no chunk; the caller never waits for a thread that has
not started, only for chunks already being computed.

``parallel_chunks(fn, n)`` runs ``fn(i)`` for ``i`` in ``range(n)`` that way; kernels
split their work into a few chunks more than there are threads so that a slow thread
holds up little. Kernels call it only where the work is big enough to pay the hand-off
(tens of microseconds).

On a machine with more runnable processes than cores, threads stall each other: a
worker the OS preempts in the middle of a chunk holds the caller up until it runs
again, and one preempted while it holds the GIL (taking a chunk, between two compiled
calls) holds up every other thread of the process, for a whole time slice, every loop.
So the pool watches its loops: when the calling thread spends more than a third of a
loop's wall time not running (its CPU time against the wall clock), the engine
computes on the calling thread alone for a while (half a second, doubling while the
machine stays busy, up to eight) and then tries the pool again.

BLAS runs on one thread: OpenBLAS's own workers spin while they wait for work, and
on a loaded machine (the shared server over SSH) a spinning worker steals the core the
caller needs, so a 2-thread product could take 100x its time. The engine's kernels
split big products into blocks on its own pool instead.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_threads = 0  # 0: not chosen yet (default_threads on first use)
_workers: list[threading.Thread] = []
_tasks: queue.SimpleQueue = queue.SimpleQueue()
_blas: Any = None  # threadpoolctl controller of the BLAS library, False if none


def default_threads() -> int:
    """The cores this process may run on (at most 8: mobile-sized layers scale no further)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def threads() -> int:
    """The number of threads the engine computes with."""
    return _threads or set_threads(None)


def set_threads(n: int | None) -> int:
    """Compute with ``n`` threads (``None``: ``default_threads()``); returns the number set.

    The engine's pool gets ``n`` threads (workers start lazily); BLAS gets one (see the
    module doc).
    """
    global _threads
    if n is not None and n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    count = n or default_threads()
    with _lock:
        _threads = count
    blas = _blas_controller()
    if blas is not None and blas.num_threads != 1:
        blas.set_num_threads(1)
    return count


def _blas_controller() -> Any:
    global _blas
    if _blas is None:
        _blas = False
        try:
            import numpy  # noqa: F401  (loads the BLAS library threadpoolctl must find)
            from threadpoolctl import ThreadpoolController

            found = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
            if len(found) == 1 and hasattr(found[0], "set_num_threads"):
                _blas = found[0]
        except Exception:  # no threadpoolctl, or a BLAS it cannot drive: leave it be
            pass
    return _blas or None


# -- the pool ---------------------------------------------------------------------------


class _Loop:
    """One parallel loop: chunks handed out by a counter, completion counted."""

    __slots__ = ("fn", "n", "next", "done", "lock", "finished", "error")

    def __init__(self, fn: Callable[[int], None], n: int):
        self.fn, self.n = fn, n
        self.next = 0
        self.done = 0
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.error: BaseException | None = None

    def work(self) -> None:
        while True:
            with self.lock:
                i = self.next
                self.next += 1
            if i >= self.n:
                return
            try:
                if self.error is None:
                    self.fn(i)
            except BaseException as exc:  # re-raised in the caller
                self.error = exc
            with self.lock:
                self.done += 1
                if self.done == self.n:
                    self.finished.set()


def _worker() -> None:
    _local.inside = True  # a chunk's own parallel loops run serially
    while True:
        loop = _tasks.get()
        if loop is None:
            return
        loop.work()


def _ensure_workers(n: int) -> None:
    with _lock:
        while len(_workers) < n:
            t = threading.Thread(target=_worker, name=f"workbench-kernel-{len(_workers)}")
            t.daemon = True
            t.start()
            _workers.append(t)


_local = threading.local()


class _Backoff:
    """When waiting for preempted workers costs too much, compute serially for a while."""

    WINDOW_S = 0.05  # judge the waiting over loops adding up to this much time
    WAIT_SHARE = 1 / 3
    FIRST_S, LAST_S = 0.5, 8.0

    def __init__(self) -> None:
        self.serial_until = 0.0
        self.period = self.FIRST_S
        self.waited = 0.0
        self.total = 0.0

    def serial(self) -> bool:
        return self.serial_until > 0.0 and time.perf_counter() < self.serial_until

    def record(self, waited: float, total: float) -> None:
        """``waited``: time the caller was not computing, of ``total`` wall time."""
        self.waited += waited
        self.total += total
        if self.total < self.WINDOW_S:
            return
        now = time.perf_counter()
        if self.waited > self.WAIT_SHARE * self.total:
            # Busy machine: back off; if it was busy right after the last back-off too,
            # back off for longer.
            recent = self.serial_until > 0.0 and now - self.serial_until < self.period
            self.period = min(self.period * 2, self.LAST_S) if recent else self.FIRST_S
            self.serial_until = now + self.period
        self.waited = self.total = 0.0


_backoff = _Backoff()


def busy() -> bool:
    """Whether the engine is computing serially for now (the machine was found busy)."""
    return _backoff.serial()


def parallel_chunks(fn: Callable[[int], None], n: int) -> None:
    """``fn(i)`` for every ``i < n``, on up to ``threads()`` threads (the caller one of them).

    Nested calls (from inside a chunk) run serially, and so does everything while the
    machine is found busy (see the module doc).
    """
    helpers = min(threads(), n) - 1
    if helpers <= 0 or getattr(_local, "inside", False) or _backoff.serial():
        for i in range(n):
            fn(i)
        return
    _ensure_workers(helpers)
    loop = _Loop(fn, n)
    start, cpu = time.perf_counter(), time.thread_time()
    for _ in range(helpers):
        _tasks.put(loop)
    _local.inside = True
    try:
        loop.work()
    finally:
        _local.inside = False
    loop.finished.wait()
    wall = time.perf_counter() - start
    _backoff.record(max(0.0, wall - (time.thread_time() - cpu)), wall)
    if loop.error is not None:
        raise loop.error


# -- splitting work -----------------------------------------------------------------------

# Below this many multiply-accumulates (~50 µs of one core) a kernel runs on the calling
# thread alone: handing chunks to the pool costs more than it saves.
PARALLEL_MIN_WORK = 300_000
# Chunks per thread: a few, so a thread the OS does not schedule holds up little.
CHUNKS_PER_THREAD = 3


def chunk_count(work: int, most: int) -> int:
    """How many chunks to split ``work`` (multiply-accumulates) into, at most ``most``."""
    t = threads()
    if t == 1 or work < PARALLEL_MIN_WORK or _backoff.serial():
        return 1
    return max(1, min(most, t * CHUNKS_PER_THREAD, work // (PARALLEL_MIN_WORK // 2)))


def split_range(n: int, parts: int) -> list[tuple[int, int]]:
    """``range(n)`` as ``parts`` contiguous nearly equal ``(start, stop)`` pieces."""
    parts = max(1, min(parts, n))
    step, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + step + (i < extra)
        out.append((start, stop))
        start = stop
    return out


# A GEMM block's output stays in L2 while its epilogue runs over it.
_BLOCK_BYTES = 1 << 20


def gemm_blocks(
    images: int, rows: int, cols: int, work: int
) -> list[tuple[int, int, int, int, int]]:
    """``(image, row0, row1, col0, col1)`` blocks of a ``(images, rows, cols)`` GEMM output:
    columns in cache-sized blocks, and rows split too when that leaves too few blocks
    for the threads."""
    wanted = chunk_count(work, 1 << 30)
    if wanted == 1:
        return (
            [(0, 0, rows, 0, cols)]
            if images == 1
            else [(i, 0, rows, 0, cols) for i in range(images)]
        )
    width = max(256, (_BLOCK_BYTES // 4 // max(rows, 1)) // 16 * 16)
    col_parts = max(1, -(-cols // width), -(-wanted // images))
    col_parts = min(col_parts, max(1, cols // 64))
    row_parts = 1
    if images * col_parts < wanted and rows >= 32:
        row_parts = min(-(-wanted // (images * col_parts)), rows // 16)
    col_ranges = split_range(cols, col_parts)
    row_ranges = split_range(rows, row_parts)
    return [
        (img, r0, r1, j0, j1)
        for img in range(images)
        for r0, r1 in row_ranges
        for j0, j1 in col_ranges
    ]
