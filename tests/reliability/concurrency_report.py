"""The concurrency figures in the terminal summary (a plugin, registered by tests/conftest.py).

A soak test records its figures as a ``concurrency`` user property (a dict) on
its report; they travel with the report from pytest-xdist workers, and this
plugin prints one line per backend at the end of the run::

    concurrency[sqlite]: 4 writers + TUI + long readers for 20.3 s: 1234 rows written,
    1234 found, lost=0, errors=0 (database locked: 0), left running=0; …
"""

from __future__ import annotations

from typing import Any

import pytest

PROPERTY = "concurrency"
_figures: list[dict[str, Any]] = []


def format_figures(f: dict[str, Any]) -> str:
    wal = f" max WAL {f['max_wal_bytes'] / 2**20:.1f} MiB," if f["backend"] == "sqlite" else ""
    return (
        f"concurrency[{f['backend']}]: {f['writers']} writers + TUI + long readers for "
        f"{f['soak_s']:.0f} s (wall {f['duration_s']:.1f} s): {f['rows_written']} rows written, "
        f"{f['rows_found']} found, "
        f"lost={f['lost']}, errors={f['errors']} (database locked: {f['lock_errors']}), "
        f"left running={f['left_running']}; {f['write_ops']} writes, max latency "
        f"{f['max_write_latency_s'] * 1000:.0f} ms ({f['slowest_write']}), "
        f"p99 {f['p99_write_latency_s'] * 1000:.0f} ms; TUI {f['tui_steps']} rounds, "
        f"{f['tui_pages']} pages (max {f['max_page_s'] * 1000:.0f} ms), {f['tui_writes']} writes; "
        f"{f['long_reads']} long read transactions,{wal} integrity {f['integrity']}"
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == PROPERTY and isinstance(value, dict):
            _figures.append(value)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _figures:
        return
    terminalreporter.write_sep("=", "concurrency summary")
    for figures in _figures:
        terminalreporter.write_line(format_figures(figures))
