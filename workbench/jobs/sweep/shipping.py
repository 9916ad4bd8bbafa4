"""Files shipped to a worker that shares no folder with the driver (a Ray worker).

A model, a container or a labels file travels as its bytes; an input list travels with
every file it names, renamed into the bundle (``data/000001.raw``) and the list
rewritten to match, so whatever paths the driver's list holds, the worker's copy is
whole and self-contained. Bundles are unpacked into the worker's temporary folder;
names are checked on the way in, as the container reader does, so nothing lands
outside it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from workbench.errors import BadInput, InputListError


@dataclass(frozen=True)
class Bundle:
    """Files by relative path; ``main`` is the one a task names (a file or a folder)."""

    main: str
    files: dict[str, bytes]

    def unpack(self, folder: Path) -> Path:
        for name, data in self.files.items():
            target = folder / _safe_name(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return folder / _safe_name(self.main)

    @property
    def size(self) -> int:
        return sum(len(d) for d in self.files.values())


def ship_path(path: Path) -> Bundle:
    """A file, or a folder (a SavedModel) with everything under it."""
    if path.is_dir():
        files = {
            f"{path.name}/{p.relative_to(path).as_posix()}": p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file()
        }
        return Bundle(path.name, files)
    return Bundle(path.name, {path.name: path.read_bytes()})


def ship_input_list(path: Path) -> Bundle:
    """An input list and the files it names, renamed and the list rewritten."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputListError(f"cannot read input list {path}: {exc}") from None
    files: dict[str, bytes] = {}
    names: dict[Path, str] = {}
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            lines.append(line)
            continue
        tokens = []
        for token in stripped.split():
            name, sep, file = token.partition(":=")
            source = _resolve(file if sep else token, path.parent)
            if source not in names:
                names[source] = f"data/{len(names):06d}{source.suffix.lower()}"
                try:
                    files[names[source]] = source.read_bytes()
                except OSError as exc:
                    raise InputListError(
                        f"{path}: cannot read {source}: {exc.strerror or exc}"
                    ) from None
            tokens.append(f"{name}:={names[source]}" if sep else names[source])
        lines.append(" ".join(tokens))
    files[path.name] = ("\n".join(lines) + "\n").encode("utf-8")
    return Bundle(path.name, files)


def count_inputs(path: Path) -> int:
    """Inference lines of an input list (comments and blank lines left out)."""
    text = path.read_text(encoding="utf-8")
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path``, whole or not at all (a temporary file renamed, as
    ``write_container`` does: the same names, so leftovers are swept the same way)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _resolve(file: str, base: Path) -> Path:
    p = Path(file).expanduser()
    return p if p.is_absolute() else base / p


def _safe_name(name: str) -> str:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(p in ("..", "") for p in parts) or "\\" in name:
        raise BadInput(f"refusing to unpack {name!r}: not a plain relative name")
    return str(PurePosixPath(*parts))
