"""Debug a quantized container against its float model: every option of ``workbench debug``."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Input, Select

from workbench.errors import WorkbenchError
from workbench.jobs.browse import RunRow, project_containers, run_view
from workbench.jobs.debug import DebugRequest
from workbench.options import DEBUG_OPTIONS, DebugOptions
from workbench.tui.screens.forms import JobForm, form_row
from workbench.tui.widgets.option_form import checked_path, option_fields, read_options, set_options
from workbench.tui.widgets.path_input import PathInput


class DebugForm(JobForm):
    form_title = "Debug"
    HELP = "Find the first layer where a quantized container parts from its float model."

    def __init__(self, project: str, *, prefill_from: int | None = None) -> None:
        super().__init__(project)
        self.prefill_from = prefill_from  # a run id: its quantized container and input list

    @classmethod
    def for_selection(cls, project: str, row: Any) -> DebugForm:
        """A form prefilled from the run under the cursor (a quantize, bench or debug run)."""
        return cls(project, prefill_from=row.id if isinstance(row, RunRow) else None)

    def fields(self) -> ComposeResult:
        yield form_row(
            "Known container",
            Select([], prompt="pick a quantized container", compact=True, id="known"),
        )
        yield form_row("Container", PathInput(placeholder="model_q.dlc", id="container"))
        yield form_row("Input list", PathInput(placeholder="inputs list.txt", id="input_list"))
        yield from option_fields(DEBUG_OPTIONS)

    def on_mount(self) -> None:
        super().on_mount()
        self._load()

    @work(thread=True, exit_on_error=False)
    def _load(self) -> None:
        store = self.wb.store
        prefill: dict[str, Any] = {}
        try:
            containers = project_containers(store, self.project, quantized=True, limit=100)
            if self.prefill_from is not None:
                view = run_view(store, self.prefill_from)
                quantized = next(
                    (c for c in (view.output_container, view.container) if c and c.quantized), None
                )
                if quantized is not None:
                    prefill["container"] = quantized.path
                if view.calibration:
                    prefill["input_list"] = view.calibration["path"]
                if view.detail.kind == "debug":
                    prefill["input_list"] = view.detail.details.get("input_list")
                    prefill.update(view.options)
        except WorkbenchError:
            return
        choices = [(f"{c.file_name} · {c.model or '-'} · #{c.id}", c.path) for c in containers]
        self.app.call_from_thread(self._apply, choices, prefill)

    def _apply(self, choices: list[tuple[str, str]], prefill: dict[str, Any]) -> None:
        self.query_one("#known", Select).set_options(choices)
        for key in ("container", "input_list"):
            if prefill.get(key):
                self.query_one(f"#{key}", Input).value = str(prefill[key])
        set_options(self, DEBUG_OPTIONS, prefill)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "known" and isinstance(event.value, str):
            self.query_one("#container", Input).value = event.value

    def build(self) -> DebugRequest:
        container = checked_path(self.query_one("#container", Input).value, "container")
        input_list = checked_path(self.query_one("#input_list", Input).value, "input list")
        options = DebugOptions(**read_options(self, DEBUG_OPTIONS))
        return DebugRequest(container, input_list, options)
