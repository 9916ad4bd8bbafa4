"""Matrix products on the engine's pool: BLAS on one thread per block (see ``threads``).

``matmul(a, b)`` is ``np.matmul`` for float operands, split into row blocks of ``a``
(or column blocks of ``b`` when ``a`` has few rows, or over the batch of a batched
product) run side by side when the product is big enough to pay the hand-off.
"""

from __future__ import annotations

import numpy as np

from workbench.engine.threads import PARALLEL_MIN_WORK, chunk_count, parallel_chunks, split_range


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (numpy semantics), in parallel blocks when it is big enough."""
    if a.ndim < 2 or b.ndim < 2 or a.dtype != b.dtype or a.dtype.kind != "f":
        return np.matmul(a, b, out=out)
    if a.ndim == 2 and b.ndim == 2 and a.shape[0] * a.shape[1] * b.shape[1] < PARALLEL_MIN_WORK:
        return np.matmul(a, b, out=out)  # one block whatever the threads (``chunk_count``)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    count = int(np.prod(batch, dtype=np.int64)) if batch else 1
    parts = chunk_count(count * m * k * n, 1 << 30)
    if parts == 1:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((*batch, m, n), dtype=a.dtype)
    if count >= parts:
        a3 = np.broadcast_to(a, (*batch, m, k)).reshape(count, m, k)
        b3 = np.broadcast_to(b, (*batch, k, n)).reshape(count, k, n)
        o3 = out.reshape(count, m, n)
        ranges = split_range(count, parts)

        def run_batch(i: int) -> None:
            s, e = ranges[i]
            np.matmul(a3[s:e], b3[s:e], out=o3[s:e])

        parallel_chunks(run_batch, len(ranges))
        return out
    if count == 1:
        a2, b2, o2 = a.reshape(m, k), b.reshape(k, n), out.reshape(m, n)
        if m >= 2 * 16:
            ranges = split_range(m, min(parts, m // 16))

            def run_rows(i: int) -> None:
                s, e = ranges[i]
                np.matmul(a2[s:e], b2, out=o2[s:e])

            parallel_chunks(run_rows, len(ranges))
            return out
        if n >= 2 * 64:
            ranges = split_range(n, min(parts, n // 64))

            def run_cols(i: int) -> None:
                s, e = ranges[i]
                np.matmul(a2, b2[:, s:e], out=o2[:, s:e])

            parallel_chunks(run_cols, len(ranges))
            return out
    return np.matmul(a, b, out=out)
