"""The vocabulary module: one home for every noun, agreeing with the code that uses it."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from workbench import vocabulary as v


def test_observer_registry_keys_are_the_schemes() -> None:
    from workbench.engine.quant.observers import OBSERVERS

    assert tuple(OBSERVERS) == v.SCHEMES


def test_store_checks_the_same_run_kinds_and_statuses() -> None:
    from workbench.store.models import Run

    checks = {c.name: str(getattr(c, "sqltext", "")) for c in Run.__table__.constraints}
    assert checks["ck_runs_kind"] == f"kind IN {v.RUN_KINDS!r}"
    assert checks["ck_runs_status"] == f"status IN {v.RUN_STATUSES!r}"


def test_the_vocabulary_imports_nothing_heavy() -> None:
    code = (
        "import sys, workbench.vocabulary, workbench.options, workbench.engine.runtimes\n"
        "print(sorted(m for m in ('numpy', 'sqlalchemy', 'click', 'textual') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "-"),
        (math.nan, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (-1536, "-1.5 KiB"),
        (5 * 2**20, "5.0 MiB"),
        (3 * 2**30, "3.0 GiB"),
        (2 * 2**40, "2.0 TiB"),
    ],
)
def test_format_bytes(n, text) -> None:
    assert v.format_bytes(n) == text


def test_format_bytes_from_mib_for_memory_messages() -> None:
    assert v.format_bytes(0, smallest="MiB") == "0.0 MiB"
    assert v.format_bytes(1536 * 2**20, smallest="MiB") == "1.5 GiB"


def test_the_db_cap_and_its_nan_handling() -> None:
    assert v.finite_db(math.inf) == v.SQNR_CAP_DB and v.finite_db(-math.inf) == -v.SQNR_CAP_DB
    assert v.finite_db(math.nan) is None and v.finite_db(None) is None
    assert v.finite_db(12.5) == 12.5
    assert v.format_db(math.inf) == v.format_db(v.SQNR_CAP_DB) == "exact"
    assert v.format_db(23.456) == "23.46 dB" and v.format_db(23.456, unit="") == "23.46"
    assert v.format_db(math.nan) == v.format_db(None) == "-"
    assert not v.is_exact_db(math.nan) and not v.is_exact_db(998.9)
