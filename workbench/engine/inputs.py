"""Input lists in the vendor format, and the tensors they name.

One line per inference: a plain path for a single-input model, or
``name:=path name2:=path2``. An optional first line ``#out1 out2`` names the
outputs to keep. Blank lines and lines starting with ``# `` (hash, space) are
comments. A relative path is resolved against the list's own folder.

A path is ``.raw`` (float32, little-endian, in the input's declared shape) or
``.npy`` (loaded without pickle; float32, or float16/float64 cast to float32,
in the declared shape).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.engine.graph import TensorInfo
from workbench.errors import InputListError

_NPY_DTYPES = {"float32", "float16", "float64"}


@dataclass(frozen=True)
class InputList:
    """A parsed input list: one mapping (input name → file) per inference."""

    path: Path
    lines: tuple[dict[str, Path], ...]
    output_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.lines)


def parse_input_list(path: str | Path, input_names: Sequence[str]) -> InputList:
    """Parse ``path`` for a model whose inputs are ``input_names`` (in order)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputListError(f"input list {path} does not exist") from None
    except IsADirectoryError:
        raise InputListError(f"input list {path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise InputListError(f"input list {path} is not a UTF-8 text file") from None
    except OSError as exc:
        raise InputListError(f"cannot read input list {path}: {exc.strerror}") from None

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
        lines.append(_parse_line(line, path, lineno, base, input_names))
    if not lines:
        raise InputListError(f"input list {path} names no inputs")
    return InputList(path, tuple(lines), outputs)


def _parse_line(
    line: str, path: Path, lineno: int, base: Path, input_names: Sequence[str]
) -> dict[str, Path]:
    where = f"{path}:{lineno}"
    tokens = line.split()
    if all(":=" not in t for t in tokens):
        if len(input_names) != 1 or len(tokens) != 1:
            raise InputListError(
                f"{where}: the model has inputs {', '.join(input_names)}; "
                "write each as name:=path on the line"
            )
        return {input_names[0]: _resolve(tokens[0], base)}
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
    missing = [n for n in input_names if n not in entry]
    if missing:
        raise InputListError(f"{where}: no file for input(s) {', '.join(missing)}")
    return entry


def _resolve(file: str, base: Path) -> Path:
    p = Path(file).expanduser()
    return p if p.is_absolute() else base / p


def load_tensor(path: Path, info: TensorInfo, *, allow_nonfinite: bool = False) -> np.ndarray:
    """Load one input tensor and check it against the model input ``info``."""
    expected = f"{info.dtype} {list(info.shape)} ({info.size} values)"
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = _load_npy(path, info, expected)
        else:
            data = path.read_bytes()
            if len(data) != info.size * 4:
                raise InputListError(
                    f"{path}: {len(data)} bytes, but input {info.name!r} expects float32 "
                    f"{list(info.shape)} = {info.size * 4} bytes"
                )
            arr = np.frombuffer(data, dtype="<f4").reshape(info.shape)
    except FileNotFoundError:
        raise InputListError(f"{path}: file does not exist (input {info.name!r})") from None
    except IsADirectoryError:
        raise InputListError(f"{path}: is a directory, not a tensor file") from None
    except PermissionError:
        raise InputListError(f"{path}: permission denied") from None
    if info.dtype != "float32":
        arr = arr.astype(info.dtype)
    elif not allow_nonfinite and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InputListError(f"{path}: {bad} NaN or Inf values (input {info.name!r})")
    return arr


def _load_npy(path: Path, info: TensorInfo, expected: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InputListError(f"{path}: not a plain .npy tensor ({exc})") from None
    except (OSError, EOFError) as exc:
        raise InputListError(f"{path}: not a valid .npy file ({exc})") from None
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


def iter_feeds(
    input_list: InputList, infos: Sequence[TensorInfo], batch: int = 1
) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
    """Yield ``(line indices, feeds)``: lines grouped into batches of ``batch``.

    ``infos`` describe one sample (batch 1). A short last batch is padded by
    repeating its last sample; the line indices say which rows are real.
    """
    n = len(input_list.lines)
    for start in range(0, n, batch):
        idx = list(range(start, min(start + batch, n)))
        feeds: dict[str, np.ndarray] = {}
        for info in infos:
            samples = [load_tensor(input_list.lines[i][info.name], info) for i in idx]
            samples += [samples[-1]] * (batch - len(samples))
            feeds[info.name] = samples[0] if batch == 1 else np.concatenate(samples, axis=0)
        yield idx, feeds
