"""Benchmark containers on runtimes: ``workbench bench`` (its options are generated)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Input, SelectionList

from workbench.errors import BadInput, WorkbenchError
from workbench.jobs.bench import BenchRequest
from workbench.jobs.browse import ModelRow, RunRow, project_containers, run_view
from workbench.options import BENCH_OPTIONS, BenchOptions
from workbench.store import Store
from workbench.tui.screens.forms import JobForm, form_row
from workbench.tui.widgets.checks import CheckList
from workbench.tui.widgets.option_form import checked_path, option_fields, read_options
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
        yield form_row("Containers", CheckList(id="containers"), tall=True)
        yield form_row(
            "Other container",
            PathInput(self.initial_container, placeholder="optional: path.dlc", id="container"),
        )
        yield form_row("Input list", PathInput(placeholder="inputs list.txt", id="input_list"))
        yield from option_fields(BENCH_OPTIONS)

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
        input_list = checked_path(self.query_one("#input_list", Input).value, "input list")
        options = BenchOptions(**read_options(self, BENCH_OPTIONS))
        return BenchRequest(tuple(containers), input_list, options)
