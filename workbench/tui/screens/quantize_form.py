"""Quantize a float container: every option of ``workbench quantize``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Input, Select

from workbench.errors import WorkbenchError
from workbench.jobs.browse import ModelRow, RunRow, model_detail, project_containers, run_view
from workbench.jobs.quantize import QuantizeRequest
from workbench.options import ANALYZE, QUANTIZE_OPTIONS, QuantOptions
from workbench.store import Store
from workbench.tui.screens.forms import JobForm, form_row
from workbench.tui.widgets.option_form import checked_path, option_fields, read_options, set_options
from workbench.tui.widgets.path_input import PathInput


def quantized_name(container: str) -> str:
    path = Path(container)
    return str(path.with_name(f"{path.stem}_q.dlc")) if container else ""


class QuantizeForm(JobForm):
    form_title = "Quantize"
    HELP = "Calibrate a float container and write a quantized one (workbench quantize)."

    def __init__(
        self,
        project: str,
        *,
        container: str = "",
        input_list: str = "",
        options: dict[str, Any] | None = None,
        prefill_from: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(project)
        self.initial = {"container": container, "input_list": input_list, **(options or {})}
        self.prefill_from = prefill_from  # ("model" | "run", id): looked up in a worker
        self.choices: list[tuple[str, str]] = []

    @classmethod
    def for_selection(cls, store: Store, project: str, row: Any) -> QuantizeForm:
        """A form prefilled from the row under the cursor (a model or a run)."""
        if isinstance(row, ModelRow):
            return cls(project, prefill_from=("model", row.id))
        if isinstance(row, RunRow):
            return cls(project, prefill_from=("run", row.id))
        return cls(project)

    def fields(self) -> ComposeResult:
        o = self.initial
        yield form_row(
            "Known container", Select([], prompt="pick a float container", compact=True, id="known")
        )
        yield form_row(
            "Container", PathInput(o["container"], placeholder="model.dlc", id="container")
        )
        yield form_row(
            "Input list",
            PathInput(o["input_list"], placeholder="calibration list.txt", id="input_list"),
        )
        yield form_row(
            "Output",
            PathInput(quantized_name(o["container"]), placeholder="model_q.dlc", id="output"),
        )
        yield from option_fields(QUANTIZE_OPTIONS, o)

    def on_mount(self) -> None:
        super().on_mount()
        self._load()

    @work(thread=True, exit_on_error=False)
    def _load(self) -> None:
        store = self.wb.store
        prefill: dict[str, Any] = {}
        try:
            containers = project_containers(store, self.project, quantized=False, limit=100)
            if self.prefill_from and self.prefill_from[0] == "model":
                detail = model_detail(store, self.prefill_from[1])
                floats = [c for c in detail.containers if not c.quantized]
                if floats:
                    prefill["container"] = floats[0].path
            elif self.prefill_from:
                view = run_view(store, self.prefill_from[1])
                if view.detail.kind == "quantize":
                    if view.container is not None:
                        prefill["container"] = view.container.path
                    if view.calibration:
                        prefill["input_list"] = view.calibration["path"]
                    prefill.update(view.options)
                elif view.container is not None and not view.container.quantized:
                    prefill["container"] = view.container.path
        except WorkbenchError:
            return
        choices = [(f"{c.file_name} · {c.model or '-'} · #{c.id}", c.path) for c in containers]
        self.app.call_from_thread(self._apply, choices, prefill)

    def _apply(self, choices: list[tuple[str, str]], prefill: dict[str, Any]) -> None:
        self.query_one("#known", Select).set_options(choices)
        for key in ("container", "input_list"):
            if prefill.get(key):
                self.query_one(f"#{key}", Input).value = str(prefill[key])
        if prefill.get("container"):
            self.query_one("#output", Input).value = quantized_name(str(prefill["container"]))
        set_options(self, QUANTIZE_OPTIONS, prefill)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "known" and isinstance(event.value, str):
            self.query_one("#container", Input).value = event.value
            self.query_one("#output", Input).value = quantized_name(event.value)

    def build(self) -> QuantizeRequest:
        container = checked_path(self.query_one("#container", Input).value, "container")
        input_list = checked_path(self.query_one("#input_list", Input).value, "input list")
        output = checked_path(self.query_one("#output", Input).value, "output", must_exist=False)
        values = read_options(self, QUANTIZE_OPTIONS)
        analyze = values.pop(ANALYZE.name)
        # QuantOptions raises BadInput now, in the form, rather than in the job.
        return QuantizeRequest(container, input_list, output, QuantOptions(**values), analyze)
