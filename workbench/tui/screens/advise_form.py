"""Ask the advisor: ``workbench advise`` (quantize if needed, bench both, recommend)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Input

from workbench.errors import WorkbenchError
from workbench.jobs.advise import AdviseRequest
from workbench.jobs.browse import ModelRow, RunRow, model_detail, run_view
from workbench.options import ADVISE_OPTIONS, AdviseOptions
from workbench.tui.screens.forms import JobForm, form_row
from workbench.tui.widgets.option_form import checked_path, option_fields, read_options
from workbench.tui.widgets.path_input import PathInput


class AdviseForm(JobForm):
    form_title = "Advisor: quantized or not, per runtime"
    HELP = "Quantize the float container (unless a quantized one is given), bench both, advise."

    def __init__(self, project: str, *, prefill_from: tuple[str, int] | None = None) -> None:
        super().__init__(project)
        self.prefill_from = prefill_from

    @classmethod
    def for_selection(cls, project: str, row: Any) -> AdviseForm:
        if isinstance(row, ModelRow):
            return cls(project, prefill_from=("model", row.id))
        if isinstance(row, RunRow):
            return cls(project, prefill_from=("run", row.id))
        return cls(project)

    def fields(self) -> ComposeResult:
        yield form_row("Float container", PathInput(placeholder="model.dlc", id="container"))
        yield form_row("Input list", PathInput(placeholder="inputs list.txt", id="input_list"))
        yield from option_fields(ADVISE_OPTIONS)

    def on_mount(self) -> None:
        super().on_mount()
        if self.prefill_from:
            self._load()

    @work(thread=True, exit_on_error=False)
    def _load(self) -> None:
        assert self.prefill_from is not None
        store = self.wb.store
        values: dict[str, str] = {}
        try:
            if self.prefill_from[0] == "model":
                floats = [c for c in model_detail(store, self.prefill_from[1]).containers
                          if not c.quantized]  # fmt: skip
                if floats:
                    values["container"] = floats[0].path
            else:
                view = run_view(store, self.prefill_from[1])
                if view.container is not None and not view.container.quantized:
                    values["container"] = view.container.path
                if view.calibration:
                    values["input_list"] = view.calibration["path"]
        except WorkbenchError:
            return
        self.app.call_from_thread(self._apply, values)

    def _apply(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            field = self.query_one(f"#{key}", Input)
            if not field.value:
                field.value = value

    def build(self) -> AdviseRequest:
        def path(name: str, what: str) -> str:
            return checked_path(self.query_one(f"#{name}", Input).value, what)

        options = AdviseOptions(**read_options(self, ADVISE_OPTIONS))
        return AdviseRequest(path("container", "float container"), path("input_list", "input list"),
                             options)  # fmt: skip
