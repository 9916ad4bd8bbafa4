"""SVG snapshots of the main screens at 80x24 (deterministic: seeded store, fixed times, UTC).

Update after a deliberate change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.tui.conftest import settle


def wait(*keys: str) -> Callable[[Any], Any]:
    """Press ``keys`` one by one, letting workers finish after each."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize(
    "name, keys",
    [
        ("quantization_runs", ()),
        ("benchmark_runs", ("3",)),
        (
            "quantization_run_sqnr",
            ("down", "down", "down", "down", "down", "down", "down", "down", "enter", "2"),
        ),
        ("benchmark_run", ("3", "enter")),
        ("help", ("question_mark",)),
    ],
)
def test_screen(name: str, keys: tuple[str, ...], seeded, make_app, snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=wait(*keys))


def test_projects(seeded, make_app, snap_compare) -> None:
    assert snap_compare(make_app(project=None), terminal_size=(80, 24), run_before=wait())


def test_compare(seeded, make_app, snap_compare) -> None:
    from workbench.tui.screens.compare import CompareScreen

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.app.push_screen(CompareScreen("default", seeded.quantize_runs[:3]))
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
