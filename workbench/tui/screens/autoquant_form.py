"""Autoquant: search quantizations in order of cost for the cheapest that meets a goal."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Input

from workbench.jobs.autoquant import AutoquantRequest
from workbench.jobs.browse import RunRow
from workbench.options import AUTOQUANT_OPTIONS, AutoquantOptions
from workbench.tui.screens.forms import JobForm, form_row
from workbench.tui.widgets.option_form import checked_path, option_fields, read_options
from workbench.tui.widgets.path_input import PathInput


class AutoquantForm(JobForm):
    form_title = "Autoquant: the cheapest quantization that meets a goal"
    HELP = (
        "Try schemes, per-channel, 32-bit biases, CLE/BC, AdaRound, then 16-bit and float "
        "layers, in order of cost, until one meets the goal on the runtime; every candidate "
        "is kept in an experiment (tab 4)."
    )

    def __init__(self, project: str, *, container: str = "") -> None:
        super().__init__(project)
        self.container = container

    @classmethod
    def for_selection(cls, project: str, row: Any) -> AutoquantForm:
        path = getattr(row, "container_path", None) if isinstance(row, RunRow) else None
        quantized = getattr(row, "container_quantized", None)
        return cls(project, container=path if path and not quantized else "")

    def fields(self) -> ComposeResult:
        yield form_row("Float container",
                       PathInput(value=self.container, placeholder="model.dlc", id="container"))  # fmt: skip
        yield form_row("Calibration list", PathInput(placeholder="cal.txt", id="input_list"))
        yield form_row("Eval list", PathInput(placeholder="eval.txt", id="eval_list"))
        yield form_row("Output", Input(placeholder="best.dlc", id="output"))
        yield from option_fields(AUTOQUANT_OPTIONS)

    def build(self) -> AutoquantRequest:
        def path(name: str, what: str) -> str:
            return checked_path(self.query_one(f"#{name}", Input).value, what)

        options = AutoquantOptions(**read_options(self, AUTOQUANT_OPTIONS))
        output = self.query_one("#output", Input).value.strip() or "best.dlc"
        return AutoquantRequest(path("container", "float container"),
                                path("input_list", "calibration list"),
                                path("eval_list", "eval list"), output, options)  # fmt: skip
