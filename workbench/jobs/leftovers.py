"""Temporary files a killed writer left beside its output, removed by the next writer.

``write_container`` writes ``.<name>.<8 random chars>.tmp`` beside the target and
renames it over the target when complete, so a job killed mid-write (SIGKILL, power
loss) never leaves a partial container, but it does leave that hidden temporary
file. The next job writing the same output removes such files once no live process
has them open (a concurrent writer keeps its file) and they are a few seconds old
(covering the instant between a writer closing its file and renaming it). Processes
we may not inspect (another user's, a supervisor's) are not counted: a writer is a
workbench process of the user whose output folder it is.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import psutil

# tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp"): 8 characters from this alphabet.
_RANDOM_PART = r"[a-z0-9_]{8}"
GRACE_S = 5.0


def temp_file_pattern(output: str | os.PathLike[str]) -> re.Pattern[str]:
    """File names ``write_container`` uses for its temporary copy of ``output``."""
    name = Path(output).name
    return re.compile(re.escape(f".{name}.") + _RANDOM_PART + re.escape(".tmp"))


def remove_leftover_temp_files(
    output: str | os.PathLike[str], *, grace_s: float = GRACE_S
) -> list[Path]:
    """Remove abandoned temporary copies of ``output``; the paths removed."""
    output = Path(output)
    pattern = temp_file_pattern(output)
    try:
        candidates = [p for p in output.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:  # no such folder yet, or unreadable: nothing of ours to clean
        return []
    if not candidates:
        return []
    in_use = _open_by_some_process(candidates)
    now = time.time()
    removed = []
    for path in candidates:
        try:
            info = path.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < grace_s:
            continue
        if path in in_use:
            continue
        try:
            path.unlink()
        except OSError:
            continue  # not ours to remove after all (permissions): harmless
        removed.append(path)
    return removed


def _open_by_some_process(paths: list[Path]) -> set[Path]:
    """Which of ``paths`` a live process of this user (that we may inspect) has open."""
    wanted = {os.path.realpath(p): p for p in paths}
    me = os.getuid() if hasattr(os, "getuid") else None
    found: set[Path] = set()
    for proc in psutil.process_iter(["uids"]):
        try:
            uids = proc.info.get("uids")
            if me not in (None, 0) and uids is not None and uids.real != me:
                continue  # our output folder is written by our own processes
            for f in proc.open_files():
                if f.path in wanted:
                    found.add(wanted[f.path])
        except (psutil.Error, NotImplementedError, OSError):
            continue  # gone, a zombie, or not ours to inspect
    return found
