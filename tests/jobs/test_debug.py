"""``debug_job``: a debug run through the run lifecycle, its results and its per-layer rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.engine.quant.qfixtures import cnn_model
from workbench.engine.container import read_container, write_container
from workbench.engine.quant.debug import RANGE_CLIPPING
from workbench.engine.quant.encoding import tf_encoding
from workbench.engine.quant.quantizer import quantize_container
from workbench.errors import BadInput, RuntimeRefused
from workbench.jobs.browse import compare_runs, run_view
from workbench.jobs.convert import convert_model
from workbench.jobs.debug import DebugRequest, debug_job
from workbench.jobs.runs import list_runs, show_run
from workbench.options import DebugOptions, QuantOptions
from workbench.store.queries import RunFilter
from workbench.vocabulary import DEBUG, FAILED, INTERRUPTED, SUCCEEDED


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The test CNN and a 3-line input list."""
    folder = tmp_path_factory.mktemp("debugjob")
    rng = np.random.default_rng(0)
    for i in range(3):
        rng.standard_normal((1, 3, 16, 16)).astype("<f4").tofile(folder / f"x{i}.raw")
    listing = folder / "list.txt"
    listing.write_text("".join(f"x{i}.raw\n" for i in range(3)))
    return {"onnx": cnn_model(folder / "cnn.onnx"), "list": listing}


@pytest.fixture
def containers(store, files, tmp_path) -> dict[str, Path]:
    """Its float container, the quantized one, and the same with Conv_6's output range
    20x too narrow (one deliberately broken encoding)."""
    from workbench.engine.inputs import parse_input_list

    folder = tmp_path
    dlc = folder / "cnn.dlc"
    convert_model(store, "default", files["onnx"], dlc)
    floating = read_container(dlc)
    listing = parse_input_list(files["list"], floating.graph.input_names)
    q = quantize_container(floating, listing, QuantOptions()).container
    q.manifest["quantizer"]["source_container"] = str(dlc.resolve())
    enc = q.encodings["c4"]
    narrow = tf_encoding(enc["min"] * 0.05, enc["max"] * 0.05, enc["bitwidth"]).to_dict()
    broken = replace(q, encodings={**q.encodings, "c4": narrow})
    write_container(folder / "q.dlc", q)
    write_container(folder / "broken.dlc", broken)
    return {"float": dlc, "q": folder / "q.dlc", "broken": folder / "broken.dlc"}


def test_a_debug_run_records_the_first_divergent_layer_and_every_layer(store, files, containers):
    request = DebugRequest(
        containers["broken"], files["list"], DebugOptions(samples=3, contribution_samples=1),
        command="workbench debug broken.dlc",
    )  # fmt: skip
    result = debug_job(store, "default", request)
    assert result.report["first_divergent_layer"] == "Conv_6"
    assert result.report["cause"] == RANGE_CLIPPING

    run = show_run(store, result.run_id)
    assert run.kind == DEBUG and run.status == SUCCEEDED and run.runtime == "dsp"
    assert run.command == "workbench debug broken.dlc"
    d = run.details
    assert d["first_divergent_layer"] == "Conv_6" and d["cause"] == RANGE_CLIPPING
    assert d["why"].startswith("Conv_6 (Conv) diverges first: range clipping")
    assert d["options"]["samples"] == 3 and d["samples"] == 3
    assert d["sqnr_db"] == pytest.approx(result.report["output_integer_sqnr_db"])
    assert run.sqnr_db == d["sqnr_db"]  # the listing's headline: integer-true output SQNR
    assert d["metric"] == result.metric and d["report"]["contribution_samples"] == 1
    # One row per layer in execution order, the whole comparison in ``debug``.
    names = [layer["layer_name"] for layer in run.layers]
    assert names == [layer["node"] for layer in result.report["layers"]]
    assert [layer["layer_index"] for layer in run.layers] == list(range(len(names)))
    conv6 = next(layer for layer in run.layers if layer["layer_name"] == "Conv_6")
    assert conv6["debug"]["diverges"] and conv6["debug"]["causes"][0] == RANGE_CLIPPING
    assert conv6["sqnr_db"] == pytest.approx(conv6["debug"]["integer_sqnr_db"])
    assert conv6["debug"]["contribution"] is not None

    view = run_view(store, result.run_id)
    assert view.container.path == str(containers["broken"].resolve())
    assert view.float_container.path == str(containers["float"].resolve())
    assert view.container.quantized and not view.float_container.quantized
    listed = list_runs(store, "default", RunFilter(kind=DEBUG)).rows
    assert [r.id for r in listed] == [result.run_id]
    assert listed[0].first_divergent_layer == "Conv_6" and listed[0].cause == RANGE_CLIPPING
    found = list_runs(store, "default", RunFilter(words=("clipping",))).rows
    assert [r.id for r in found] == [result.run_id]
    assert [r.id for r in list_runs(store, "default", RunFilter(runtime="dsp")).rows] == [
        result.run_id
    ]


def test_two_debug_runs_compare_side_by_side(store, files, containers):
    options = DebugOptions(samples=2, contribution_samples=0)
    healthy = debug_job(store, "default", DebugRequest(containers["q"], files["list"], options))
    broken = debug_job(store, "default", DebugRequest(containers["broken"], files["list"], options))
    assert healthy.report["first_divergent_layer"] is None
    assert all(layer["contribution"] is None for layer in healthy.report["layers"])
    comparison = compare_runs(store, [healthy.run_id, broken.run_id])
    rows = {row.metric.key: [cell.value for cell in row.cells] for row in comparison.rows}
    assert rows["first_divergent_layer"] == [None, "Conv_6"]
    assert rows["sqnr_db"][1] < rows["sqnr_db"][0]


def test_a_runtime_that_refuses_the_container_leaves_a_failed_debug_run(store, files, containers):
    with pytest.raises(RuntimeRefused, match="HTA subnet records"):
        debug_job(store, "default",
                  DebugRequest(containers["q"], files["list"], DebugOptions(runtime="aip")))  # fmt: skip
    (row,) = list_runs(store, "default", RunFilter(kind=DEBUG)).rows
    run = show_run(store, row.id)
    assert run.status == FAILED and "HTA subnet records" in run.error
    assert run.details["options"]["runtime"] == "aip"  # what it was asked is kept
    assert run.details["first_divergent_layer"] is None and run.layers == ()


def test_an_interrupted_debug_run_keeps_no_results(store, files, containers):
    def stop(stage: str, done: int, total: int) -> None:
        if stage == "contribution":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        debug_job(store, "default", DebugRequest(containers["broken"], files["list"]),
                  progress=stop)  # fmt: skip
    (row,) = list_runs(store, "default", RunFilter(kind=DEBUG)).rows
    run = show_run(store, row.id)
    assert run.status == INTERRUPTED and run.layers == ()
    assert run.details["cause"] is None and run.details["sqnr_db"] is None


def test_a_float_container_is_refused_before_any_run(store, files, containers):
    with pytest.raises(BadInput, match="is not quantized"):
        debug_job(store, "default", DebugRequest(containers["float"], files["list"]))
    assert list_runs(store, "default", RunFilter(kind=DEBUG)).total == 0


def test_a_debug_run_reports_its_first_divergence_and_layers_as_html(store, files, containers):
    from workbench.jobs.report import build_report
    from workbench.report.html import render

    options = DebugOptions(samples=2, contribution_samples=0)
    broken = debug_job(store, "default", DebugRequest(containers["broken"], files["list"], options))
    data = build_report(store, "default", run_id=broken.run_id)
    assert [v.detail.id for v in data.debug] == [broken.run_id]
    page = render(data)
    assert f"Debug run {broken.run_id} on dsp: broken.dlc" in page
    assert "<th>first divergent layer</th><td>Conv_6</td>" in page.replace("\n", "")
    rows = page.split("Layers in execution order", 1)[1].split("</table>", 1)[0]
    assert rows.count("<tr>") - 1 == len(broken.report["layers"])  # a row per layer
    assert "range clipping" in rows
