"""Change a model's decision metric from the TUI (model detail, or `m` on the models tab)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from workbench.errors import WorkbenchError
from workbench.jobs.metric_choice import metric_options, set_model_metric
from workbench.tui.screens.choice import ChoiceScreen

REASON = "chosen in the terminal UI"


def pick_metric(
    screen: Screen[Any], model_id: int, current: str | None, done: Callable[[], None]
) -> None:
    """Ask for a metric; store it on the model (in a worker) and call ``done`` after."""

    def chosen(metric: str | None) -> None:
        if metric is None or metric == current:
            return
        screen.run_worker(lambda: _store(metric), thread=True, exit_on_error=False)

    def _store(metric: str) -> None:
        try:
            set_model_metric(screen.app.store, model_id, metric, REASON)  # type: ignore[attr-defined]
        except WorkbenchError as exc:
            screen.app.call_from_thread(screen.notify, str(exc), severity="error")
            return
        screen.app.call_from_thread(screen.notify, f"model {model_id} decides by {metric} now")
        screen.app.call_from_thread(done)

    title = f"Decision metric of model {model_id} (advise, bench, quantize judge by it)"
    screen.app.push_screen(ChoiceScreen(title, metric_options(), current=current), chosen)
