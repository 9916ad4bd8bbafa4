"""The user's files, read without trusting them and written without clobbering them.

Reading: only a regular file is read, and never more than a cap. A FIFO would block
forever, ``/dev/zero`` never ends and a 50 GB log named by mistake would fill memory,
so the file is opened without blocking, checked on the open descriptor (no window
between a check and the open), and read up to its cap. JSON is parsed with integers
bounded (a ``10**400`` would overflow every float conversion downstream) and nesting
errors turned into the caller's error.

Writing: ``write_atomically`` puts bytes beside the target under a temporary name and
renames it over the target, so a kill or a full disk leaves the old file or none, never
a truncated one; the rename replaces a symlink at the target instead of writing through
it. ``refuse_overwriting`` keeps a command from writing over one of its own inputs
(the same file after resolving links, hard links included).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workbench.errors import BadInput, NotFound, WorkbenchError

# Caps for files the user names that are read whole: input lists, labels, encodings
# JSON, benchmark results. Real ones are kilobytes to a few megabytes.
MAX_TEXT_BYTES = 256 << 20
# Largest magnitude an integer in a JSON file may have (int64's range, and then some).
MAX_JSON_INT_DIGITS = 20

_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


def read_regular_bytes(
    path: str | os.PathLike[str],
    *,
    what: str,
    limit: int = MAX_TEXT_BYTES,
    error: type[WorkbenchError] = BadInput,
) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``limit``), else ``error``.

    ``what`` names the file in messages ("labels file", "input list"...). A missing
    file is ``NotFound``.
    """
    shown = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_NOCTTY | _O_BINARY)
    except FileNotFoundError:
        raise NotFound(f"{what} {shown} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {shown} is a directory, not a file") from None
    except ValueError as exc:  # a NUL byte in the path
        raise error(f"{what} {shown!r}: {exc}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {shown}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{what} {shown} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):  # a FIFO, device or socket
            raise error(f"{what} {shown} is not a regular file")
        if info.st_size > limit:
            raise error(
                f"{what} {shown} is {info.st_size} bytes, more than the {limit} a {what} may have"
            )
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # grew while it was read
            raise error(f"{what} {shown} is more than the {limit} bytes a {what} may have")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"cannot read {what} {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_regular_text(
    path: str | os.PathLike[str],
    *,
    what: str,
    limit: int = MAX_TEXT_BYTES,
    error: type[WorkbenchError] = BadInput,
) -> str:
    """``read_regular_bytes`` decoded as UTF-8 (a BOM is dropped)."""
    data = read_regular_bytes(path, what=what, limit=limit, error=error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{what} {os.fspath(path)} is not a UTF-8 text file") from None


def _bounded_int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > MAX_JSON_INT_DIGITS:
        raise _HugeInteger(text)
    return int(text)


class _HugeInteger(ValueError):
    def __init__(self, text: str):
        shown = text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"
        super().__init__(f"integer {shown} is out of range")


def parse_json(data: str | bytes, where: str, *, error: type[WorkbenchError] = BadInput) -> Any:
    """``json.loads`` with integers bounded and every failure one ``error`` naming ``where``."""
    try:
        return json.loads(data, parse_int=_bounded_int)
    except _HugeInteger as exc:
        raise error(f"{where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise error(f"{where}: not valid JSON (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"{where}: not valid JSON ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------ writing


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(device, inode)`` of the file ``path`` leads to (links followed), None if none."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def refuse_overwriting(
    output: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str] | None],
    *,
    option: str = "-o",
) -> None:
    """``BadInput`` when ``output`` is one of ``inputs`` (the same file: links and hard
    links resolved), so that no command replaces what it reads with what it writes."""
    mine = file_identity(output)
    if mine is None:
        return
    for source in inputs:
        if source is not None and file_identity(source) == mine:
            same = "" if os.fspath(source) == os.fspath(output) else f" (the same file as {source})"
            raise BadInput(
                f"{option} {output} is an input of this command{same}; "
                "writing it would destroy the input: choose another output"
            )


def write_atomically(path: str | os.PathLike[str], data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it.

    A directory at ``path`` is ``BadInput``; other failures (a full disk, permissions)
    are ``BadInput`` naming the file, with nothing left behind.
    """
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"output {path} is a directory; give a file name")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o644
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=".tmp")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if hasattr(os, "fchmod"):  # mkstemp creates 0600: outputs are shareable files
                os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def _temp_prefix(name: str) -> str:
    """``.<name>.`` as ``write_container`` uses (the leftover sweep knows it), unless the
    name is so long that the temporary name would be too long for the filesystem."""
    return f".{name}." if len(name.encode()) <= 200 else ".wb-"
