"""Engine test fixtures: the conformance coverage summary at the end of the run."""

from __future__ import annotations

import pytest

_CONFORMANCE = "test_conformance.py::test_model["
# nodeid -> "passed" | "failed" | "unsupported" | "skipped"
_outcomes: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _CONFORMANCE not in report.nodeid:
        return
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped and _outcomes.get(report.nodeid) != "failed":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        kind = "unsupported" if "unsupported operators" in str(reason) else "skipped"
        _outcomes[report.nodeid] = kind
    elif report.when == "call" and report.passed:
        _outcomes.setdefault(report.nodeid, "passed")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _outcomes:
        return
    values = list(_outcomes.values())
    line = (
        f"conformance: {values.count('passed')} of {len(values)} models pass "
        f"({values.count('unsupported')} skipped unsupported"
    )
    if values.count("failed"):
        line += f", {values.count('failed')} failed"
    if values.count("skipped"):
        line += f", {values.count('skipped')} skipped otherwise"
    terminalreporter.write_sep("=", "conformance summary")
    terminalreporter.write_line(line + ")")
