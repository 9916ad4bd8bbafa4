"""How many threads a job computes with: one setting for the engine's pool and BLAS."""

from __future__ import annotations

from workbench.engine.threads import set_threads, threads
from workbench.errors import BadInput
from workbench.vocabulary import MAX_THREADS


def use_threads(count: int | None) -> int:
    """Compute with ``count`` threads from now on (None: keep the current setting, by
    default the cores this process may use); returns the number in force."""
    if count is None:
        return threads()
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_THREADS:
        raise BadInput(f"--threads must be an integer from 1 to {MAX_THREADS}, got {count!r}")
    return set_threads(count)
