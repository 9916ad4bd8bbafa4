"""SVG snapshots of every screen, at 80x24 (a terminal over SSH) and 120x40 (deterministic:
seeded store, fixed times, UTC). A screen's test names how to reach it from the app.

Update after a deliberate change: ``pytest tests/tui/test_snapshots.py --snapshot-update``
(then look at the pictures: ``tests/tui/__snapshots__/``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.tui.conftest import settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
A_QUANT_RUN = ("down",) * 8 + ("enter",)  # a succeeded run with per-layer stats

# name -> (keys from the default project's screen; or a callable(pilot, seeded))
SCREENS: dict[str, Any] = {
    "models": ("1",),
    "quantization_runs": (),
    "benchmark_runs": ("3",),
    "experiments": ("4",),
    "model": ("1", "enter"),
    "quantization_run": A_QUANT_RUN,
    "quantization_run_sqnr": (*A_QUANT_RUN, "2"),
    "quantization_run_encodings": (*A_QUANT_RUN, "3"),
    "quantization_run_report": (*A_QUANT_RUN, "4"),
    "quantization_run_histograms": (*A_QUANT_RUN, "6", "down", "down"),
    "benchmark_run": ("3", "enter"),
    "benchmark_run_charts": ("3", "enter", "2"),
    "advisor": ("4", "a"),
    "convert_form": ("i",),
    "quantize_form": ("Q",),
    "bench_form": ("B",),
    "advise_form": ("A",),
    "debug_runs": ("6",),
    "debug_run": ("6", "enter"),
    "debug_run_summary": ("6", "enter", "2"),
    "debug_form": ("6", "D"),
    "help": ("question_mark",),
}


def press(*keys: str) -> Callable[[Any], Any]:
    """Press ``keys`` one by one, letting workers finish after each."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(name: str, size, seeded, make_app, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=press(*SCREENS[name]))


@pytest.mark.parametrize("size", SIZES)
def test_projects(size, seeded, make_app, snap_compare) -> None:
    assert snap_compare(make_app(project=None), terminal_size=size, run_before=press())


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tab", ["1", "2", "3"])
def test_compare(tab: str, size, seeded, make_app, snap_compare) -> None:
    """Metrics, per-layer SQNR (quantization runs) and the trade-off (benchmark runs)."""
    from workbench.tui.screens.compare import CompareScreen

    runs = seeded.bench_runs[:9] if tab == "3" else seeded.quantize_runs[:3]

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.app.push_screen(CompareScreen("default", runs))
        await settle(pilot)
        await pilot.press(tab)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
