"""The engine's thread pool: every chunk runs once, errors come back, busy machines back off."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from workbench.engine import threads
from workbench.engine.ops import blas


@pytest.fixture(autouse=True)
def two_threads():
    before = threads.threads()
    threads.set_threads(2)
    yield
    threads.set_threads(before)


def test_every_chunk_runs_exactly_once_on_the_pool():
    seen: list[int] = []
    lock = threading.Lock()

    def chunk(i: int) -> None:
        with lock:
            seen.append(i)

    for _ in range(20):
        threads.parallel_chunks(chunk, 7)
    assert sorted(seen) == sorted(list(range(7)) * 20)


def test_an_error_in_a_chunk_reaches_the_caller():
    def chunk(i: int) -> None:
        if i == 3:
            raise ValueError("chunk 3")

    with pytest.raises(ValueError, match="chunk 3"):
        threads.parallel_chunks(chunk, 6)


def test_long_waits_make_the_engine_compute_serially_for_a_while():
    backoff = threads._Backoff()
    assert not backoff.serial()
    backoff.record(waited=0.01, total=0.1)  # a tenth waiting: fine
    assert not backoff.serial()
    backoff.record(waited=0.06, total=0.1)  # then most of a window waiting
    assert backoff.serial()


def test_set_threads_refuses_nonsense_and_keeps_blas_on_one_thread():
    with pytest.raises(ValueError):
        threads.set_threads(0)
    assert threads.set_threads(3) == 3 and threads.threads() == 3
    from threadpoolctl import threadpool_info

    assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")


@pytest.mark.parametrize(
    "a_shape,b_shape",
    [
        ((300, 200), (200, 500)),
        ((8, 256), (256, 900)),
        ((12, 64, 80), (12, 80, 64)),
        ((5,), (5, 3)),
    ],
)
def test_blocked_matmul_is_numpy_matmul(a_shape, b_shape, monkeypatch):
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 1000)
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    np.testing.assert_allclose(blas.matmul(a, b), np.matmul(a, b), rtol=1e-5, atol=1e-4)


def test_blas_is_set_even_when_threads_are_chosen_before_numpy_loads():
    import subprocess
    import sys

    probe = (
        "from workbench.engine.threads import set_threads\n"
        "set_threads(2)\n"
        "import numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "print([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("[1]", "[]")
