"""Fixtures for the TUI's Pilot and snapshot tests.

* Times show in UTC (the seed's times are fixed) so screenshots agree everywhere.
* ``seeded``: the test's store filled by ``tests.tui.seed.seed_store``.
* ``make_app``: a ``WorkbenchApp`` on that store; ``settle``: wait until every
  worker (page loads, writes) is done and the screen is redrawn.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.tui.seed import Seeded, seed_store


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (no async plugin needed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**args))
    return True


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def seeded(store: Any) -> Seeded:
    return seed_store(store)


@pytest.fixture
def make_app(store: Any) -> Callable[..., Any]:
    from workbench.tui.app import WorkbenchApp

    def make(project: str | None = "default") -> WorkbenchApp:
        return WorkbenchApp(store, project)

    return make


async def settle(pilot: Any, rounds: int = 5) -> None:
    """Let workers finish and the UI catch up (a worker's result may start another)."""
    await pilot.pause()
    for _ in range(rounds):
        # Always one round: a worker started by the last refresh (an input's completion
        # suggestion) posts its result as a message that the next pause handles.
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running or w.state.name == "PENDING" for w in pilot.app.workers):
            break
