"""Quantize a float container: every option of ``workbench quantize``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Select

from workbench.errors import BadInput, WorkbenchError
from workbench.jobs.browse import ModelRow, RunRow, model_detail, project_containers, run_view
from workbench.store import Store
from workbench.tui.job_requests import QUANTIZERS, QuantizeRequest, checked_path
from workbench.tui.screens.forms import JobForm, form_row
from workbench.tui.widgets.path_input import PathInput

BITWIDTHS = {"weights": (4, 8, 16), "act": (8, 16), "bias": (8, 32)}


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

        def select(name: str, values: tuple[Any, ...], value: Any) -> Select[Any]:
            return Select([(str(v), v) for v in values], value=value, allow_blank=False,
                          compact=True, id=name)  # fmt: skip

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
        yield form_row(
            "Param quantizer", select("param_quantizer", QUANTIZERS, o.get("param_quantizer", "tf"))
        )
        yield form_row(
            "Act quantizer", select("act_quantizer", QUANTIZERS, o.get("act_quantizer", "tf"))
        )
        yield form_row(
            "Percentile", Input(str(o.get("percentile", 99.99)), compact=True, id="percentile")
        )
        yield form_row(
            "Weights bitwidth",
            select("weights_bitwidth", BITWIDTHS["weights"], o.get("weights_bitwidth", 8)),
        )
        yield form_row(
            "Act bitwidth", select("act_bitwidth", BITWIDTHS["act"], o.get("act_bitwidth", 8))
        )
        yield form_row(
            "Bias bitwidth", select("bias_bitwidth", BITWIDTHS["bias"], o.get("bias_bitwidth", 8))
        )
        algorithms = o.get("algorithms") or ()
        yield Checkbox(
            "per-channel weight encodings",
            bool(o.get("per_channel")),
            compact=True,
            id="per_channel",
        )
        yield Checkbox(
            "cross-layer equalization (cle)", "cle" in algorithms, compact=True, id="cle"
        )
        yield Checkbox("bias correction (bc)", "bc" in algorithms, compact=True, id="bc")
        yield Checkbox(
            "HTA records for AIP (--enable-hta)",
            bool(o.get("enable_hta")),
            compact=True,
            id="enable_hta",
        )
        yield Checkbox("per-layer analysis (slower)", True, compact=True, id="analyze")
        yield form_row("Override params", PathInput(o.get("override_params") or "", placeholder="optional: AIMET encodings.json", id="override_params"))  # fmt: skip

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
        for key in ("container", "input_list", "override_params"):
            if prefill.get(key):
                self.query_one(f"#{key}", Input).value = str(prefill[key])
        if prefill.get("container"):
            self.query_one("#output", Input).value = quantized_name(str(prefill["container"]))
        for key in (
            "param_quantizer",
            "act_quantizer",
            "weights_bitwidth",
            "act_bitwidth",
            "bias_bitwidth",
        ):
            if prefill.get(key) is not None:
                self.query_one(f"#{key}", Select).value = prefill[key]
        if prefill.get("percentile") is not None:
            self.query_one("#percentile", Input).value = f"{prefill['percentile']:g}"
        for key in ("per_channel", "enable_hta"):
            if key in prefill:
                self.query_one(f"#{key}", Checkbox).value = bool(prefill[key])
        for algorithm in ("cle", "bc"):
            if "algorithms" in prefill:
                self.query_one(f"#{algorithm}", Checkbox).value = algorithm in (
                    prefill["algorithms"] or ()
                )

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "known" and isinstance(event.value, str):
            self.query_one("#container", Input).value = event.value
            self.query_one("#output", Input).value = quantized_name(event.value)

    def build(self) -> QuantizeRequest:
        def value(name: str) -> Any:
            return self.query_one(f"#{name}", Select).value

        def checked(name: str) -> bool:
            return self.query_one(f"#{name}", Checkbox).value

        container = checked_path(self.query_one("#container", Input).value, "container")
        input_list = checked_path(self.query_one("#input_list", Input).value, "input list")
        output = checked_path(self.query_one("#output", Input).value, "output", must_exist=False)
        override = self.query_one("#override_params", Input).value.strip()
        try:
            percentile = float(self.query_one("#percentile", Input).value)
        except ValueError:
            raise BadInput("percentile: give a number such as 99.99") from None
        options = {
            "param_quantizer": value("param_quantizer"),
            "act_quantizer": value("act_quantizer"),
            "weights_bitwidth": int(value("weights_bitwidth")),
            "act_bitwidth": int(value("act_bitwidth")),
            "bias_bitwidth": int(value("bias_bitwidth")),
            "per_channel": checked("per_channel"),
            "algorithms": tuple(a for a in ("cle", "bc") if checked(a)),
            "percentile": percentile,
            "enable_hta": checked("enable_hta"),
            "override_params": checked_path(override, "override params") if override else None,
        }
        request = QuantizeRequest(
            container, input_list, output, options, analyze=checked("analyze")
        )
        request.quant_options()  # BadInput now, in the form, rather than in the job
        return request
