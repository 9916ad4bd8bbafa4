"""The fuzz counter: ``fuzz: N cases, K tracebacks`` in the terminal summary.

Fuzz tests report their counts as ``user_properties`` (``fuzz_cases``,
``fuzz_tracebacks``) on their teardown report, so the totals add up in the
process that prints the summary, with or without pytest-xdist.
"""

from __future__ import annotations

import pytest

_TOTALS = {"fuzz_cases": 0, "fuzz_tracebacks": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":
        return
    for key, value in report.user_properties:
        if key in _TOTALS:
            _TOTALS[key] += int(value)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _TOTALS["fuzz_cases"]:
        return
    terminalreporter.write_sep("=", "fuzz summary")
    terminalreporter.write_line(
        f"fuzz: {_TOTALS['fuzz_cases']} cases, {_TOTALS['fuzz_tracebacks']} tracebacks"
    )
