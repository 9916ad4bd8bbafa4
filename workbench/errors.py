"""One error hierarchy. Every message is something a user can act on.

The CLI turns a ``WorkbenchError`` into one line on stderr and exit code 2;
the TUI turns it into a notification. Anything else is an internal error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


class WorkbenchError(Exception):
    """Bad input or a refused request: a one-line message, exit code 2."""

    exit_code = 2


class BadInput(WorkbenchError):
    """A value or option the user gave is not acceptable."""


class NotFound(WorkbenchError):
    """A project, run, model, experiment or file does not exist."""


class ModelError(WorkbenchError):
    """A model file (ONNX, TFLite, ...) is malformed or cannot be imported."""


class UnsupportedOperators(ModelError):
    """The model uses operators the engine does not implement."""

    def __init__(self, missing: dict[str, list[str]]):
        self.missing = missing  # op type -> node names
        parts = []
        for op_type in sorted(missing):
            names = missing[op_type]
            shown = ", ".join(n or "<unnamed>" for n in names[:5])
            more = f" (+{len(names) - 5} more)" if len(names) > 5 else ""
            parts.append(f"{op_type} [{shown}{more}]")
        super().__init__("unsupported operators: " + "; ".join(parts))


class ContainerError(WorkbenchError):
    """A container file is malformed, hostile, or of another format."""


class InputListError(WorkbenchError):
    """An input list or one of its tensors is wrong."""


class RuntimeRefused(WorkbenchError):
    """A runtime refuses this container (the guide's incompatibilities)."""


class StoreError(WorkbenchError):
    """The project store cannot be opened or written."""


@contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Prefix ``path: `` to a ``ModelError`` or ``ContainerError`` raised inside that does
    not name it: the user learns which file is at fault (the exception is re-raised)."""
    try:
        yield
    except (ModelError, ContainerError) as exc:
        where = os.fspath(path)
        if where not in str(exc):
            exc.args = (f"{where}: {exc}", *exc.args[1:])
        raise
