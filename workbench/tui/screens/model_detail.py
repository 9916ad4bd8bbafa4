"""A model: its facts, its containers, and a container's layer table (as ``workbench info``)
with encodings when quantized and HTA subnets when the container has them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Header, Static, TabbedContent, TabPane

from workbench.errors import WorkbenchError
from workbench.jobs.browse import (
    ContainerRow,
    ContainerView,
    ModelDetail,
    container_view,
    model_detail,
)
from workbench.tui import format as fmt
from workbench.tui import keys
from workbench.tui.screens.loading import LoadingScreen
from workbench.tui.widgets.fields import FieldList
from workbench.tui.widgets.job_panel import JobPanel
from workbench.tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    pass


def _dims(shape: Any) -> str:
    return "?" if shape is None else "x".join(str(d) for d in shape)


class ModelDetailScreen(LoadingScreen[ModelDetail]):
    HELP = """\
A model and the containers made from it. `enter` on a container shows its
layers (`2`): shapes, parameters, MACs, and encodings when it is quantized;
`3` lists HTA subnets when the container has HTA records.
`Q` quantizes the chosen float container, `B` benchmarks the model's containers.
"""
    BINDINGS = [
        keys.HELP,
        keys.BACK,
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('layers')", "Layers", show=False),
        Binding("3", "tab('subnets')", "Subnets", show=False),
        Binding("Q", "quantize", "Quantize"),
        Binding("B", "bench", "Bench"),
    ]

    def __init__(self, project: str, model_id: int) -> None:
        super().__init__()
        self.project = project
        self.model_id = model_id
        self.detail: ModelDetail | None = None
        self.container: ContainerRow | None = None
        self.help_title = f"model {model_id}"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("loading…", classes="title-line")
        with TabbedContent(initial="overview"):
            with TabPane("1 Overview", id="overview"), Vertical():
                yield DataTable(id="containers-table", cursor_type="row")
                with VerticalScroll(classes="detail-scroll"):
                    yield FieldList(id="model-fields")
            with TabPane("2 Layers", id="layers"), Vertical():
                yield Static(
                    "pick a container on the overview (enter)", id="layers-info", classes="hint"
                )
                yield DataTable(id="layers-table", cursor_type="row")
            with TabPane("3 Subnets", id="subnets"), VerticalScroll(classes="detail-scroll"):
                yield Static("no HTA records", id="subnets-text")
        yield JobPanel()
        yield KeyFooter()

    def subtitle(self) -> str:
        return f"project {self.project} · model {self.model_id}"

    def fetch(self) -> ModelDetail:
        return model_detail(self.wb.store, self.model_id)

    def show_view(self, detail: ModelDetail) -> None:
        self.detail = detail
        m = detail.model
        self.query_one(".title-line", Static).update(
            Text(
                fmt.safe(f"model {m.id} {m.name} · {m.format} opset {m.opset or '?'}"), style="bold"
            )
        )
        inputs = [
            f"{i.get('name')} {i.get('dtype', '')} {_dims(i.get('shape'))}" for i in detail.inputs
        ]
        self.query_one("#model-fields", FieldList).set_sections([
            ("", [("source", m.source_path), ("sha256", detail.sha256[:16] + "…"),
                  ("inputs", "; ".join(inputs) or None),
                  ("parameters", fmt.number(m.param_count)), ("MACs", fmt.number(m.macs)),
                  ("containers", f"{m.containers} ({m.quantized_containers} quantized)"),
                  ("runs", m.runs), ("imported", fmt.when_full(m.created_at))]),
        ])  # fmt: skip
        table = self.query_one("#containers-table", DataTable)
        table.clear(columns=True)
        table.add_columns("id", "container", "kind", "size", "created")
        for c in detail.containers:
            table.add_row(c.id, fmt.cell(c.file_name), "int8" if c.quantized else "fp32",
                          fmt.size(c.size_bytes), fmt.when(c.created_at), key=str(c.id))  # fmt: skip
        table.focus()
        if detail.containers:
            self.show_container(detail.containers[0])

    @on(DataTable.RowSelected, "#containers-table")
    def _container_chosen(self, event: DataTable.RowSelected) -> None:
        if self.detail is None:
            return
        chosen = next((c for c in self.detail.containers if str(c.id) == event.row_key.value), None)
        if chosen is not None:
            self.show_container(chosen)
            self.action_tab("layers")
            self.query_one("#layers-table", DataTable).focus()

    def show_container(self, container: ContainerRow) -> None:
        self.container = container
        self.query_one("#layers-info", Static).update(Text(fmt.safe(f"reading {container.path}…")))
        self._read_container(container)

    @work(thread=True, exclusive=True, group="container", exit_on_error=False)
    def _read_container(self, container: ContainerRow) -> None:
        try:
            view = container_view(container.path)
        except (WorkbenchError, OSError) as exc:
            self.app.call_from_thread(self._container_failed, container, str(exc))
            return
        self.app.call_from_thread(self._show_container, container, view)

    def _container_failed(self, container: ContainerRow, message: str) -> None:
        self.query_one("#layers-info", Static).update(
            Text(fmt.safe(f"{container.file_name}: cannot read it: {message}"), style="red")
        )
        self.query_one("#layers-table", DataTable).clear(columns=True)

    def _show_container(self, container: ContainerRow, view: ContainerView) -> None:
        s = view.summary
        self.query_one("#layers-info", Static).update(Text(fmt.safe(
            f"{container.path} · {len(s.rows)} layers · {s.param_count:,} params "
            f"({fmt.size(s.param_bytes)}) · {s.total_macs:,} MACs"
            + (" · quantized" if s.quantized else "")
        )))  # fmt: skip
        table = self.query_one("#layers-table", DataTable)
        table.clear(columns=True)
        columns = ["#", "name", "type", "output dims", "params", "MACs"]
        if s.quantized:
            columns.append("encoding")
        table.add_columns(*columns)
        for r in s.rows:
            row = [r.index, fmt.cell(r.name), fmt.cell(r.op_type),
                   ", ".join(_dims(d) for d in r.output_dims),
                   fmt.count(r.param_count), fmt.count(r.macs)]  # fmt: skip
            if s.quantized:
                row.append(fmt.cell(r.encoding_summary or "-"))
            table.add_row(*row)
        text = Text()
        if view.subnets:
            every = "every layer is" if view.all_layers_hta else "not every layer is"
            text.append(f"{len(view.subnets)} subnets ({every} in an HTA subnet)\n\n", style="bold")
            for sub in view.subnets:
                start, end = (sub.get("layers") or [0, 0])[:2]
                text.append(f"{sub.get('index')}: {str(sub.get('kind')).upper():<4} ", style="bold")
                text.append(f"layers {start}-{end - 1} ({len(sub.get('nodes') or [])} nodes)")
                if sub.get("record"):
                    text.append(f" · record {sub['record']}", style="dim")
                text.append("\n")
        else:
            text.append("no HTA records in this container (quantize with --enable-hta for AIP)")
        self.query_one("#subnets-text", Static).update(text)

    def action_quantize(self) -> None:
        from workbench.tui.screens.forms import launch
        from workbench.tui.screens.quantize_form import QuantizeForm

        container = self.container if self.container and not self.container.quantized else None
        form = QuantizeForm(self.project, container=container.path) if container else \
            QuantizeForm(self.project, prefill_from=("model", self.model_id))  # fmt: skip
        self.app.push_screen(form, lambda request: launch(self.wb, self.project, request))

    def action_bench(self) -> None:
        from workbench.tui.screens.bench_form import BenchForm
        from workbench.tui.screens.forms import launch

        form = BenchForm(self.project, prefill_from=("model", self.model_id))
        self.app.push_screen(form, lambda request: launch(self.wb, self.project, request))
