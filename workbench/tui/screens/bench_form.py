"""Benchmark containers on runtimes: ``workbench bench`` (runtimes, batch, iterations)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, SelectionList

from workbench.errors import BadInput, WorkbenchError
from workbench.jobs.browse import ModelRow, RunRow, project_containers, run_view
from workbench.store import Store
from workbench.tui.job_requests import RUNTIMES, BenchRequest, checked_path
from workbench.tui.screens.forms import JobForm, form_row
from workbench.tui.widgets.path_input import PathInput


class BenchForm(JobForm):
    form_title = "Benchmark"
    HELP = "Measure containers on runtimes: init time and memory, latency, accuracy."

    def __init__(
        self, project: str, *, container: str = "", prefill_from: tuple[str, int] | None = None
    ) -> None:
        super().__init__(project)
        self.initial_container = container
        self.prefill_from = prefill_from

    @classmethod
    def for_selection(cls, store: Store, project: str, row: Any) -> BenchForm:
        if isinstance(row, RunRow):
            return cls(project, prefill_from=("run", row.id))
        if isinstance(row, ModelRow):
            return cls(project, prefill_from=("model", row.id))
        return cls(project)

    def fields(self) -> ComposeResult:
        yield form_row("Containers", SelectionList[str](id="containers"), tall=True)
        yield form_row(
            "Other container",
            PathInput(self.initial_container, placeholder="optional: path.dlc", id="container"),
        )
        yield form_row(
            "Runtimes",
            SelectionList[str](*((r, r, r == "cpu") for r in RUNTIMES), id="runtimes"),
            tall=True,
        )
        yield form_row("Input list", PathInput(placeholder="inputs list.txt", id="input_list"))
        yield form_row("Labels", PathInput(placeholder="optional: labels.txt", id="labels"))
        yield form_row("Iterations", Input("10", compact=True, id="iterations", type="integer"))
        yield form_row("Batch", Input("1", compact=True, id="batch", type="integer"))
        yield Checkbox("CPU fixed-point mode (--cpu-fxp)", False, compact=True, id="cpu_fxp")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#containers", SelectionList).focus()
        self._load()

    @work(thread=True, exit_on_error=False)
    def _load(self) -> None:
        store = self.wb.store
        chosen: set[int] = set()
        input_list = ""
        try:
            containers = project_containers(store, self.project, limit=100)
            if self.prefill_from and self.prefill_from[0] == "run":
                view = run_view(store, self.prefill_from[1])
                target = view.output_container or view.container
                if target is not None:
                    chosen.add(target.id)
                if view.calibration:
                    input_list = view.calibration["path"]
            elif self.prefill_from:
                chosen |= {c.id for c in containers if c.model_id == self.prefill_from[1]}
        except WorkbenchError:
            return
        self.app.call_from_thread(self._apply, containers, chosen, input_list)

    def _apply(self, containers: list[Any], chosen: set[int], input_list: str) -> None:
        selection = self.query_one("#containers", SelectionList)
        selection.clear_options()
        selection.add_options(
            [(f"{c.file_name} · {'int8' if c.quantized else 'fp32'} · #{c.id}", c.path, c.id in chosen)
             for c in containers]
        )  # fmt: skip
        if input_list and not self.query_one("#input_list", Input).value:
            self.query_one("#input_list", Input).value = input_list

    def build(self) -> BenchRequest:
        containers = list(self.query_one("#containers", SelectionList).selected)
        other = self.query_one("#container", Input).value.strip()
        if other:
            containers.append(checked_path(other, "container"))
        if not containers:
            raise BadInput("pick at least one container")
        runtimes = tuple(self.query_one("#runtimes", SelectionList).selected)
        if not runtimes:
            raise BadInput("pick at least one runtime")
        input_list = checked_path(self.query_one("#input_list", Input).value, "input list")
        labels = self.query_one("#labels", Input).value.strip()
        try:
            iterations = int(self.query_one("#iterations", Input).value)
            batch = int(self.query_one("#batch", Input).value)
        except ValueError:
            raise BadInput("iterations and batch must be whole numbers") from None
        if iterations < 1 or batch < 1:
            raise BadInput("iterations and batch must be 1 or more")
        return BenchRequest(
            containers=tuple(containers), runtimes=runtimes, input_list=input_list,
            iterations=iterations, batch=batch,
            cpu_fxp=self.query_one("#cpu_fxp", Checkbox).value,
            labels=checked_path(labels, "labels") if labels else None,
        )  # fmt: skip
