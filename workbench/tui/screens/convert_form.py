"""Import (convert) an ONNX model into a float container: ``workbench convert``."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.widgets import Input

from workbench.errors import BadInput
from workbench.jobs.convert import ConvertRequest
from workbench.tui.job_requests import parse_input_dims
from workbench.tui.screens.forms import JobForm, form_row
from workbench.tui.widgets.option_form import checked_path
from workbench.tui.widgets.path_input import PathInput


class ConvertForm(JobForm):
    form_title = "Import a model (convert)"
    HELP = "Import an ONNX model into a float container. → accepts a path suggestion."

    def __init__(self, project: str, *, model: str = "") -> None:
        super().__init__(project)
        self.initial_model = model
        self._output_edited = False

    def fields(self) -> ComposeResult:
        yield form_row(
            "Model (.onnx)", PathInput(self.initial_model, placeholder="model.onnx", id="model")
        )
        yield form_row("Output (.dlc)", PathInput(placeholder="model.dlc", id="output"))
        yield form_row(
            "Input dims",
            Input(placeholder="optional: NAME=1,3,224,224 ...", compact=True, id="dims"),
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "output" and event.input.has_focus:
            self._output_edited = True
        if event.input.id == "model" and not self._output_edited:
            text = event.value.strip()
            output = str(Path(text).with_suffix(".dlc")) if text.endswith(".onnx") else ""
            self.query_one("#output", Input).value = output

    def build(self) -> ConvertRequest:
        model = checked_path(self.query_one("#model", Input).value, "model")
        output = checked_path(self.query_one("#output", Input).value, "output", must_exist=False)
        if not output.endswith(".dlc"):
            raise BadInput(f"output {output} should end in .dlc")
        dims = parse_input_dims(self.query_one("#dims", Input).value)
        return ConvertRequest(model=model, output=output, input_dims=dims)
