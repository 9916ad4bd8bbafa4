"""Where ``run`` writes each output tensor, and the writing itself.

Two layouts under ``OUT/Result_N/``, one folder per input-list line:

* ``vendor`` (the default, as ``snpe-net-run`` writes): the tensor name is kept and
  ``/`` makes folders: ``InceptionV3/Predictions/Reshape_1:0`` is written as
  ``Result_0/InceptionV3/Predictions/Reshape_1:0.raw``. A name that cannot be such a
  path (absolute, an empty, ``.`` or ``..`` component, a backslash or NUL, a component
  longer than a file name may be) or that would need a file and a folder of the same
  name is refused before any work, suggesting the flat layout.
* ``flat``: anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``
  (``prob:0`` → ``prob_0.raw``); names that collide after that, ignoring case, get
  ``_2``, ``_3``...; long names are cut and keep a hash of the whole name.

``OUT/outputs.json`` says which file holds which tensor (shape and dtype per line's
result), so nothing depends on guessing the mapping.

Writing never follows a symlink inside ``OUT`` (a linked ``Result_N`` or file is refused
or replaced, never written through), never writes over a file this run wrote or one of
its inputs, and writes each file under a temporary name renamed into place: a full disk
or a kill leaves no truncated ``.raw``. Temporary files a killed run left are removed by
the next run writing the same folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import BadInput
from workbench.textsafe import has_control, visible

LAYOUTS = ("vendor", "flat")
MANIFEST = "outputs.json"
SUFFIX = ".raw"

_NAME_MAX = 255  # bytes in one file name (Linux, macOS, Windows)
_PATH_MAX = 1024  # bytes of a path under Result_N: far above real names, far below PATH_MAX
_FLAT_STEM_MAX = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_TEMP = re.compile(r"\.wb-[0-9a-f]{16}\.tmp")
_TEMP_GRACE_S = 60.0  # a writer renames its temporary file within milliseconds

_DIR_FD = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


def plan_output_files(tensors: Sequence[str], layout: str = "vendor") -> dict[str, tuple[str, ...]]:
    """Each tensor's file under ``Result_N``, as path components (refused: ``BadInput``)."""
    if layout not in LAYOUTS:
        raise BadInput(f"unknown output layout {layout!r} (choose {', '.join(LAYOUTS)})")
    tensors = list(dict.fromkeys(tensors))
    return _flat_files(tensors) if layout == "flat" else _vendor_files(tensors)


def safe_file_name(tensor: str) -> str:
    """A tensor name as one file-name stem of the flat layout (``/`` ``:`` → ``_``)."""
    name = _UNSAFE.sub("_", tensor).lstrip(".") or "_"
    if len(name) > _FLAT_STEM_MAX:
        digest = hashlib.sha256(tensor.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        name = f"{name[: _FLAT_STEM_MAX - 13]}~{digest}"
    return name


def _flat_files(tensors: Sequence[str]) -> dict[str, tuple[str, ...]]:
    taken: set[str] = set()
    files: dict[str, tuple[str, ...]] = {}
    for tensor in tensors:
        stem = safe_file_name(tensor)
        candidate, n = stem, 1
        while (candidate + SUFFIX).lower() in taken:  # case-insensitive filesystems too
            n += 1
            candidate = f"{stem}_{n}"
        taken.add((candidate + SUFFIX).lower())
        files[tensor] = (candidate + SUFFIX,)
    return files


def _vendor_problem(tensor: str) -> str | None:
    if not tensor:
        return "it is empty"
    if "\x00" in tensor or "\\" in tensor:
        return "it holds a NUL or a backslash"
    if has_control(tensor):
        return "it holds a control character"
    if tensor.startswith("/"):
        return "it is an absolute path"
    parts = tensor.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "it has an empty, '.' or '..' component"
    if any(len(p.encode("utf-8", "surrogatepass")) > _NAME_MAX for p in parts[:-1]) or (
        len((parts[-1] + SUFFIX).encode("utf-8", "surrogatepass")) > _NAME_MAX
    ):
        return f"a component is longer than the {_NAME_MAX} bytes a file name may have"
    if len(tensor.encode("utf-8", "surrogatepass")) > _PATH_MAX:
        return f"it is longer than {_PATH_MAX} bytes"
    return None


def _vendor_files(tensors: Sequence[str]) -> dict[str, tuple[str, ...]]:
    files: dict[str, tuple[str, ...]] = {}
    for tensor in tensors:
        problem = _vendor_problem(tensor)
        if problem is not None:
            raise BadInput(
                f"output tensor '{visible(tensor)}' cannot be a file path under Result_N "
                f"({problem}); use --flat-names"
            )
        *folders, last = tensor.split("/")
        files[tensor] = (*folders, last + SUFFIX)
    by_path = {path: tensor for tensor, path in files.items()}
    for tensor, path in files.items():
        for depth in range(1, len(path)):
            other = by_path.get(path[:depth])
            if other is not None:
                raise BadInput(
                    f"output tensors '{visible(other)}' and '{visible(tensor)}' need "
                    f"'{visible('/'.join(path[:depth]))}' as a file and as a folder; "
                    "use --flat-names"
                )
    return files


def refuse_inputs_in_the_way(
    output_dir: Path, results: int, files: Mapping[str, tuple[str, ...]], inputs: Iterable[Path]
) -> None:
    """``BadInput`` when a file the run would write is one of its inputs (before any work)."""
    root = os.path.realpath(output_dir)
    planned = set(files.values())
    for source in inputs:
        real = os.path.realpath(source)
        if not real.startswith(root + os.sep):
            continue
        parts = tuple(Path(os.path.relpath(real, root)).parts)
        match = re.fullmatch(r"Result_(\d+)", parts[0]) if parts else None
        if match and int(match.group(1)) < results and parts[1:] in planned:
            raise BadInput(
                f"--output-dir {output_dir}: the run would write over its input {source}; "
                "choose another output folder"
            )


def manifest_document(
    layout: str, results: int, files: Mapping[str, tuple[str, ...]], kinds: Mapping[str, Any]
) -> bytes:
    """``OUT/outputs.json``: the layout and, per tensor, its file, dtype and shape."""
    doc = {
        "format": "workbench-run-outputs",
        "version": 1,
        "layout": layout,
        "results": results,
        "folders": "Result_N",
        "outputs": [
            {"tensor": tensor, "file": "/".join(path), **kinds.get(tensor, {})}
            for tensor, path in files.items()
        ],
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


class OutputFolder:
    """``OUT``, written into without following links below it (``close()`` when done).

    ``protected`` are (device, inode) pairs of the run's inputs: replacing one is refused.
    """

    def __init__(self, root: Path, protected: Iterable[tuple[int, int]] = ()):
        self.root = root
        self._protected = set(protected)
        self._written: set[tuple[int, int]] = set()
        self._dirs: dict[tuple[str, ...], int] = {}
        self._root_fd = self._open_root() if _DIR_FD else -1

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dirs.clear()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def forget_folders(self) -> None:
        """Close the folders opened so far (call between ``Result_N`` folders)."""
        for fd in self._dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dirs.clear()

    def write(self, parts: Sequence[str], data: bytes | memoryview) -> None:
        """Write ``data`` to ``OUT/<parts...>`` atomically, creating folders on the way."""
        *folders, name = parts
        if not _DIR_FD:
            self._write_by_path(folders, name, data)
            return
        fd = self._folder(tuple(folders))
        self._replace_into(fd, tuple(folders), name, data)

    def write_array(self, parts: Sequence[str], value: np.ndarray) -> None:
        array = np.ascontiguousarray(value).reshape(-1)
        self.write(parts, memoryview(array).cast("B") if array.size else b"")

    # -- with directory descriptors (POSIX) ---------------------------------------------

    def _open_root(self) -> int:
        # OUT itself is the user's choice: a link there is followed; nothing below it is.
        try:
            return os.open(self.root, os.O_RDONLY | _O_DIRECTORY)
        except OSError as exc:
            raise _named(exc, self.root) from None

    def _folder(self, folders: tuple[str, ...]) -> int:
        fd = self._root_fd
        for depth in range(1, len(folders) + 1):
            key = folders[:depth]
            cached = self._dirs.get(key)
            if cached is None:
                cached = self._open_dir(fd, key)
                self._dirs[key] = cached
            fd = cached
        return fd

    def _open_dir(self, parent: int, key: tuple[str, ...]) -> int:
        name = key[-1]
        flags = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW
        created = False
        try:
            os.mkdir(name, 0o777, dir_fd=parent)
            created = True
        except FileExistsError:
            pass
        except OSError as exc:
            raise _named(exc, self._path(key)) from None
        try:
            fd = os.open(name, flags, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise self._not_a_folder(parent, key) from None
            raise _named(exc, self._path(key)) from None
        if not created:
            self._sweep(fd)
        return fd

    def _not_a_folder(self, parent: int, key: tuple[str, ...]) -> BadInput:
        try:
            is_link = stat.S_ISLNK(os.lstat(key[-1], dir_fd=parent).st_mode)
        except OSError:
            is_link = False
        return _not_a_folder(self._path(key), is_link)

    def _replace_into(
        self, fd: int, folders: tuple[str, ...], name: str, data: bytes | memoryview
    ) -> None:
        target = self._path((*folders, name))
        self._check_target(fd, name, target)
        tmp = f".wb-{os.urandom(8).hex()}.tmp"
        try:
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY,
                          0o666, dir_fd=fd)  # fmt: skip
        except OSError as exc:
            raise _named(exc, target) from None
        try:
            try:
                view = memoryview(data)
                while view.nbytes:
                    view = view[os.write(out, view) :]
                written = os.fstat(out)
            finally:
                os.close(out)
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd)
            if isinstance(exc, IsADirectoryError) or (
                isinstance(exc, OSError) and exc.errno in (errno.EISDIR, errno.ENOTEMPTY)
            ):
                raise BadInput(f"--output-dir: {visible(target)} is a folder, in the way") from None
            if isinstance(exc, OSError):
                raise _named(exc, target) from None
            raise
        self._written.add((written.st_dev, written.st_ino))

    def _check_target(self, fd: int, name: str, target: str) -> None:
        try:
            info = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _named(exc, target) from None
        self._refuse_identity((info.st_dev, info.st_ino), target)

    def _refuse_identity(self, identity: tuple[int, int], target: str) -> None:
        if identity in self._written:
            raise BadInput(
                f"--output-dir: two outputs map to {visible(target)} (a case-insensitive "
                "filesystem?); use --flat-names"
            )
        if identity in self._protected:
            raise BadInput(f"--output-dir: {visible(target)} is an input of this run; "
                           "choose another output folder")  # fmt: skip

    def _sweep(self, fd: int) -> None:
        """Remove temporary files an earlier, killed run left in this folder."""
        now = time.time()
        try:
            names = os.listdir(fd)
        except OSError:
            return
        for name in names:
            if not _TEMP.fullmatch(name):
                continue
            with contextlib.suppress(OSError):
                info = os.lstat(name, dir_fd=fd)
                if stat.S_ISREG(info.st_mode) and now - info.st_mtime > _TEMP_GRACE_S:
                    os.unlink(name, dir_fd=fd)

    def _path(self, parts: Sequence[str]) -> str:
        return os.path.join(self.root, *parts)

    # -- by path (platforms without directory descriptors) ------------------------------

    def _write_by_path(self, folders: Sequence[str], name: str, data: bytes | memoryview) -> None:
        current = Path(self.root)
        for depth, part in enumerate(folders, start=1):
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                try:
                    os.mkdir(current)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise _named(exc, current) from None
                info = os.lstat(current)
            if not stat.S_ISDIR(info.st_mode):
                key = tuple(folders[:depth])
                raise _not_a_folder(self._path(key), stat.S_ISLNK(info.st_mode))
        target = current / name
        with contextlib.suppress(FileNotFoundError):
            info = os.lstat(target)
            self._refuse_identity((info.st_dev, info.st_ino), str(target))
        tmp = current / f".wb-{os.urandom(8).hex()}.tmp"
        try:
            with open(tmp, "xb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise _named(exc, target) from None
            raise
        info = os.stat(target)
        self._written.add((info.st_dev, info.st_ino))


def _not_a_folder(path: str, is_link: bool) -> BadInput:
    if is_link:
        return BadInput(f"--output-dir: {visible(path)} is a symbolic link; outputs are never "
                        "written through links")  # fmt: skip
    return BadInput(f"--output-dir: {visible(path)} is a file, in the way of a folder")


def _named(exc: OSError, path: str | os.PathLike[str]) -> OSError:
    """``exc`` naming the whole ``path`` (a descriptor-relative call names only the leaf)."""
    return OSError(exc.errno, exc.strerror, os.fspath(path))
