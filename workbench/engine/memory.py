"""How much memory this process may still allocate: RAM and swap, cgroup limits, rlimits.

Kept apart from ``limits`` (which imports the container module) so that the container
reader can bound what it inflates without an import circle.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def available_memory() -> int | None:
    """Bytes this process may still allocate: the least of RAM (+ free swap), its
    cgroup's limit and its address-space / data rlimits. None when unknown."""
    import psutil

    candidates: list[int] = []
    try:
        free = psutil.virtual_memory().available
        try:
            free += psutil.swap_memory().free
        except (psutil.Error, OSError, RuntimeError):
            pass
        candidates.append(free)
    except (psutil.Error, OSError, RuntimeError):
        pass
    candidates.extend(_cgroup_headroom())
    candidates.extend(_rlimit_headroom())
    return max(0, min(candidates)) if candidates else None


def _rlimit_headroom() -> Iterator[int]:
    try:
        import resource
    except ImportError:  # not on this platform
        return
    import psutil

    try:
        usage = psutil.Process().memory_info()
    except (psutil.Error, OSError):
        return
    for name, used in (("RLIMIT_AS", usage.vms), ("RLIMIT_DATA", getattr(usage, "data", None))):
        limit_id = getattr(resource, name, None)
        if limit_id is None or used is None:
            continue
        soft, _hard = resource.getrlimit(limit_id)
        if soft != resource.RLIM_INFINITY:
            yield soft - used


def _cgroup_headroom() -> Iterator[int]:
    """Limit minus usage (less reclaimable page cache) of each cgroup (v2) above us."""
    root = Path("/sys/fs/cgroup")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return
    for line in lines:
        if not line.startswith("0::"):
            continue
        group = root / line[3:].strip().lstrip("/")
        while True:
            headroom = _cgroup_v2_headroom(group)
            if headroom is not None:
                yield headroom
            if group == root or root not in group.parents:
                break
            group = group.parent


def _cgroup_v2_headroom(group: Path) -> int | None:
    try:
        limit = (group / "memory.max").read_text().strip()
        if limit == "max":
            return None
        current = int((group / "memory.current").read_text())
        reclaimable = 0
        for line in (group / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "inactive_file":
                reclaimable = int(value)
        return int(limit) - current + reclaimable
    except (OSError, ValueError):
        return None
