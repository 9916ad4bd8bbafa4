"""Compiled kernels (numba), loaded on first use, with the numpy kernels as fallback.

numba is imported only when a plan first prepares a kernel that has a compiled form,
never by ``workbench --help``, ``info`` or the TUI. Compiled machine code is cached on
disk in the user cache directory (``<user cache>/workbench/numba``, or ``NUMBA_CACHE_DIR``
when set), so compilation happens once per machine, numba version and CPU.

``kernels()`` returns the kernel module, or ``None`` when numba is not installed, fails
to import, fails to compile the kernels on tiny inputs, or ``WORKBENCH_JIT=0`` is set;
callers then run their numpy path. Plans ask through ``for_work``: small models keep to
numpy unless ``WORKBENCH_JIT=1``. The first call also measures that compile (or cache
load) time: ``status()``.
"""

from __future__ import annotations

import os
import threading
import time
from types import ModuleType
from typing import Any

from workbench.engine.jit.codes import ACT_CODES

_lock = threading.Lock()
_state: dict[str, object] = {}


def epilogue_arrays(chain: Any, channels: int) -> tuple[Any, int, Any]:
    """A fusion ``Chain`` as the compiled epilogue's arguments: ``(acts, n_pre, slopes)``."""
    import numpy as np

    rows = []
    slopes = np.zeros(channels, np.float32)
    for act in (*chain.pre, *chain.post):
        code = ACT_CODES[act.kind]
        if act.kind == "PRelu":
            if act.slope is None:
                code = ACT_CODES["LeakyRelu"]
            else:
                slopes = np.ascontiguousarray(act.slope, dtype=np.float32)
        rows.append((code, act.a, act.b))
    acts = np.array(rows, dtype=np.float64).reshape(-1, 3)
    n_pre = len(chain.pre) if chain.residual else len(rows)
    return acts, n_pre, slopes


def cache_dir() -> str:
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("workbench", appauthor=False), "numba")


def kernels() -> ModuleType | None:
    """The compiled kernel module, or ``None`` (numpy paths) — see the module doc."""
    mod = _state.get("module", False)
    if mod is not False:
        return mod  # type: ignore[return-value]
    with _lock:
        if "module" not in _state:
            _state["module"] = _load()
    return _state["module"]  # type: ignore[return-value]


# Below this many multiply-accumulates per inference a plan keeps to numpy: loading the
# compiled kernels (importing numba, reading its cache: ~0.5 s) would cost more than
# they save on a small model.
MIN_MACS = 10_000_000


def for_work(macs: int) -> ModuleType | None:
    """The kernels for a plan of ``macs`` multiply-accumulates, by ``WORKBENCH_JIT``:
    ``auto`` (default: from ``MIN_MACS`` up), ``1`` (always), ``0`` (never)."""
    mode = os.environ.get("WORKBENCH_JIT", "auto").strip().lower()
    if mode in _OFF or (mode not in _ON and macs < MIN_MACS):
        return None
    return kernels()


_ON = ("1", "true", "yes", "on", "always")
_OFF = ("0", "false", "no", "off", "never")


def status() -> dict[str, object]:
    """Whether compiled kernels are in use, why not, and what loading them cost."""
    kernels()
    return {k: v for k, v in _state.items() if k != "module"} | {
        "enabled": _state.get("module") is not None
    }


def _load() -> ModuleType | None:
    if os.environ.get("WORKBENCH_JIT", "auto").strip().lower() in _OFF:
        _state["reason"] = "disabled by WORKBENCH_JIT"
        return None
    os.environ.setdefault("NUMBA_CACHE_DIR", cache_dir())
    t0 = time.perf_counter()
    try:
        from workbench.engine.jit import numba_kernels as mod

        _warm_up(mod)
    except Exception as exc:  # missing, broken or uncompilable: numpy paths
        _state["reason"] = (
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        )
        return None
    _state["load_s"] = time.perf_counter() - t0
    return mod


def _warm_up(mod: ModuleType) -> None:
    """Compile (or load from the cache) every kernel on tiny inputs of the common types."""
    import numpy as np

    f32 = np.float32
    x = np.ones((1, 2, 5, 5), f32)
    w = np.ones((2, 3, 3), f32)
    bias = np.zeros(2, f32)
    acts = np.array([[mod.ACT_RELU, 0.0, 0.0], [mod.ACT_CLIP, 0.0, 6.0]])
    slopes = np.zeros(2, f32)
    for stride, size in ((1, 5), (2, 3)):
        out = np.empty((1, 2, size, size), f32)
        mod.depthwise(x, w, bias, stride, 1, 1, out, acts, 1, slopes, out, False, 0, 2)
    y = np.ones((1, 2, 6), f32)
    mod.epilogue(y, bias, acts, 1, slopes, y, True, 0, 1, 0, 2, 0, 6)
    q = np.ones((1, 2, 5, 5), np.uint8)
    rq = np.full(2, 0.01)
    mult = np.full(2, 1 << 30, np.int64)
    shift = np.zeros(2, np.int64)
    table = np.arange(256, dtype=np.uint8)
    for fast in (True, False):
        out8 = np.empty((1, 2, 5, 5), np.uint8)
        mod.depthwise_int(
            q, 1, w, bias, 1, 1, 1, rq, mult, shift, 3, 0, 255, fast, table, fast, out8, 0, 2
        )
        out_y = np.empty((1, 2, 6), np.uint8)
        mod.requantize(
            y, bias, rq, mult, shift, 3, 0, 255, fast, table, fast, out_y, 0, 1, 0, 2, 0, 6
        )
    mod.center_codes(q.reshape(1, 2, 25), 1, np.empty((1, 2, 25), f32), 0, 25)
