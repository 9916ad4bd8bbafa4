"""Info and diff: what a container holds, and how two containers differ."""

from __future__ import annotations

from pathlib import Path

from workbench.engine.container import read_container
from workbench.engine.summary import DiffReport, Summary, diff, summarize


def container_info(path: str | Path) -> Summary:
    """The layer table and totals of the container at ``path``."""
    return summarize(read_container(path, load_records=False))


def container_diff(a: str | Path, b: str | Path) -> DiffReport:
    """What differs between two containers: layers, dims, parameters, encodings."""
    return diff(read_container(a, load_records=False), read_container(b, load_records=False))
