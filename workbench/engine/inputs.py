"""Input lists in the vendor format, and the tensors they name.

One line per inference: a plain path for a single-input model, or
``name:=path name2:=path2``. An optional first line ``#out1 out2`` names the
outputs to keep. Blank lines and lines starting with ``# `` (hash, space) are
comments. A relative path is resolved against the list's own folder.

An input list is the user's own file, like a command-line argument: its entries
may be absolute paths or symlinks anywhere (unlike ONNX external data or container
entries, nothing confines them to a folder). What is refused is reading anything
but a regular file of the right size: a FIFO, a device or a huge file named by
mistake is never read, and .npy headers are checked before any data is loaded.

A path is ``.raw`` (float32, little-endian, in the input's declared shape) or
``.npy`` (loaded without pickle; float32, or float16/float64 cast to float32,
in the declared shape).
"""

from __future__ import annotations

import math
import stat
import tokenize
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.engine.files import read_regular_text
from workbench.engine.graph import StateVar, TensorInfo
from workbench.errors import InputListError, NotFound

_NPY_DTYPES = {"float32", "float16", "float64"}


@dataclass(frozen=True)
class InputList:
    """A parsed input list: one mapping (input name → file) per inference."""

    path: Path
    lines: tuple[dict[str, Path], ...]
    output_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.lines)


def parse_input_list(
    path: str | Path, input_names: Sequence[str], optional: Collection[str] = ()
) -> InputList:
    """Parse ``path`` for a model whose inputs are ``input_names`` (in order).

    ``optional`` inputs (state the model initialises itself) may be left out of a line.
    """
    path = Path(path)
    try:  # a FIFO or device would block or never end: a regular file of bounded size only
        text = read_regular_text(path, what="input list", error=InputListError)
    except NotFound as exc:
        raise InputListError(str(exc)) from None

    if "\x00" in text:
        raise InputListError(f"input list {path} holds a NUL byte; it is not a text file")
    base = path.parent
    outputs: tuple[str, ...] | None = None
    lines: list[dict[str, Path]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if lineno == 1 and not line.startswith("# ") and len(line) > 1:
                outputs = tuple(line[1:].split())
            continue
        lines.append(_parse_line(line, path, lineno, base, input_names, optional))
    if not lines:
        raise InputListError(f"input list {path} names no inputs")
    return InputList(path, tuple(lines), outputs)


def _parse_line(
    line: str,
    path: Path,
    lineno: int,
    base: Path,
    input_names: Sequence[str],
    optional: Collection[str] = (),
) -> dict[str, Path]:
    where = f"{path}:{lineno}"
    tokens = line.split()
    required = [n for n in input_names if n not in optional]
    if all(":=" not in t for t in tokens):
        if len(required) != 1 or len(tokens) != 1:
            raise InputListError(
                f"{where}: the model has inputs {', '.join(required)}; "
                "write each as name:=path on the line"
            )
        return {required[0]: _resolve(tokens[0], base)}
    entry: dict[str, Path] = {}
    for tok in tokens:
        name, sep, file = tok.partition(":=")
        if not sep or not name or not file:
            raise InputListError(f"{where}: expected name:=path, got {tok!r}")
        if name not in input_names:
            raise InputListError(
                f"{where}: {name!r} is not a model input (inputs: {', '.join(input_names)})"
            )
        if name in entry:
            raise InputListError(f"{where}: input {name!r} is given twice")
        entry[name] = _resolve(file, base)
    missing = [n for n in required if n not in entry]
    if missing:
        raise InputListError(f"{where}: no file for input(s) {', '.join(missing)}")
    return entry


def _resolve(file: str, base: Path) -> Path:
    """``file`` as written, relative to the list's folder. Input lists are the user's
    own files, so absolute paths (and symlinks) are followed wherever they point."""
    p = Path(file)
    try:
        p = p.expanduser()
    except RuntimeError:  # ~someone whose home is unknown: an ordinary relative name
        pass
    return p if p.is_absolute() else base / p


def load_tensor(path: Path, info: TensorInfo, *, allow_nonfinite: bool = False) -> np.ndarray:
    """Load one input tensor and check it against the model input ``info``."""
    expected = f"{info.dtype} {list(info.shape)} ({info.size} values)"
    suffix = path.suffix.lower()
    try:
        # Sizes are checked before reading: a huge file, a device or a FIFO named by
        # mistake must not be read into memory (or forever).
        status = path.stat()
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(status.st_mode):
            raise InputListError(f"{path}: not a regular file (input {info.name!r})")
        if suffix == ".npy":
            arr = _load_npy(path, info, expected, status.st_size)
        else:
            if status.st_size != info.size * 4:
                raise InputListError(
                    f"{path}: {status.st_size} bytes, but input {info.name!r} expects float32 "
                    f"{list(info.shape)} = {info.size * 4} bytes"
                )
            data = path.read_bytes()
            if len(data) != info.size * 4:  # changed since stat
                raise InputListError(f"{path}: changed while it was read (input {info.name!r})")
            arr = np.frombuffer(data, dtype="<f4").reshape(info.shape)
    except FileNotFoundError:
        raise InputListError(f"{path}: file does not exist (input {info.name!r})") from None
    except IsADirectoryError:
        raise InputListError(f"{path}: is a directory, not a tensor file") from None
    except PermissionError:
        raise InputListError(f"{path}: permission denied") from None
    except OSError as exc:  # a symlink loop, a name too long, an I/O error
        raise InputListError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if info.dtype != "float32":
        arr = arr.astype(info.dtype)
    elif not allow_nonfinite and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InputListError(f"{path}: {bad} NaN or Inf values (input {info.name!r})")
    return arr


def _load_npy(path: Path, info: TensorInfo, expected: str, size: int) -> np.ndarray:
    # Read the header first: it declares the data size, which must be the file's
    # (np.load would otherwise allocate whatever a hostile header declares).
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            data_start = f.tell()
    except (ValueError, SyntaxError, TypeError, EOFError, tokenize.TokenError,
            RecursionError, MemoryError) as exc:  # fmt: skip
        raise InputListError(f"{path}: not a valid .npy file ({_first_line(exc)})") from None
    if dtype.hasobject:
        raise InputListError(f"{path}: not a plain .npy tensor (dtype {dtype}; never unpickled)")
    if size - data_start != math.prod(shape) * dtype.itemsize:
        raise InputListError(
            f"{path}: the .npy header declares {dtype.name}{list(shape)} "
            f"({math.prod(shape) * dtype.itemsize} bytes), the file holds {size - data_start}"
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InputListError(f"{path}: not a plain .npy tensor ({_first_line(exc)})") from None
    except (OSError, EOFError) as exc:
        raise InputListError(f"{path}: not a valid .npy file ({_first_line(exc)})") from None
    if not isinstance(arr, np.ndarray):
        raise InputListError(f"{path}: not a single .npy array")
    if arr.dtype.name not in _NPY_DTYPES and arr.dtype.name != info.dtype:
        raise InputListError(f"{path}: dtype {arr.dtype.name}, expected {expected}")
    if tuple(arr.shape) != info.shape:
        if arr.size == info.size and arr.ndim in (1, len(info.shape) - 1):
            arr = arr.reshape(info.shape)
        else:
            raise InputListError(f"{path}: shape {list(arr.shape)}, expected {expected}")
    if info.dtype == "float32" and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr if arr.flags.c_contiguous else arr.copy()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def iter_feeds(
    input_list: InputList,
    infos: Sequence[TensorInfo],
    batch: int = 1,
    state: Sequence[StateVar] = (),
) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
    """Yield ``(line indices, feeds)``: lines grouped into batches of ``batch``.

    ``infos`` describe one sample (batch 1). A short last batch is padded by
    repeating its last sample; the line indices say which rows are real. A ``state``
    input a line leaves out gets its initial value.
    """
    n = len(input_list.lines)
    initial = {s.input: s for s in state}
    for start in range(0, n, batch):
        idx = list(range(start, min(start + batch, n)))
        feeds: dict[str, np.ndarray] = {}
        for info in infos:
            if info.name in initial and any(info.name not in input_list.lines[i] for i in idx):
                value = initial[info.name].initial_value(info)
                feeds[info.name] = value if batch == 1 else np.concatenate([value] * batch)
                continue
            samples = [load_tensor(input_list.lines[i][info.name], info) for i in idx]
            samples += [samples[-1]] * (batch - len(samples))
            feeds[info.name] = samples[0] if batch == 1 else np.concatenate(samples, axis=0)
        yield idx, feeds
