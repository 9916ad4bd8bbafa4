"""Every table the CLI prints fits the terminal, at 80 and at 120 columns, without
losing what matters: the demo's output, bench, advise, runs list/show, experiments,
info, compare. The demo's store (``demo_store``, built once) serves them all."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import DemoStore

WIDTHS = (80, 120)


@pytest.fixture
def demo(demo_store: DemoStore) -> DemoStore:
    return demo_store


def fits(text: str, width: int) -> list[str]:
    lines = text.splitlines()
    if lines and lines[-1].startswith("/"):  # a path printed whole, to copy
        lines = lines[:-1]
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, f"wider than {width}: {too_wide[:3]}"
    return lines


def test_the_demo_at_80_columns_keeps_what_matters(demo: DemoStore) -> None:
    lines = fits(demo.output, 80)
    text = demo.output
    for name in ("demo.dlc", "demo_tf_bias8.dlc", "demo_enhanced_bias32.dlc"):
        assert re.search(rf"^{re.escape(name)}  (float|quantized) · ", text, re.M), name
    # Every bench row: its id, runtime and status, whole (never `succee`).
    for run in demo.runs:
        if run["kind"] == "bench":
            row = rf"^\s*{run['id']}  {run['runtime']}( fxp)?\s+(succeeded|refused)\b"
            assert re.search(row, text, re.M), run["id"]
    assert "↳ AIP does not support non-quantized containers" in text
    assert "not shown at 80 columns: latency ms, mode" in " ".join(lines)
    for runtime in ("CPU", "GPU", "GPU_FP16", "DSP", "AIP"):
        assert re.search(rf"^{runtime}: (quantized|float)", text, re.M)
    # A note repeated for many rows is said once, with a count.
    assert len(re.findall("run in float inside the integer executor", text)) == 1
    assert re.search(r"\(\d+ rows: demo_tf_bias8\.dlc on cpu", " ".join(lines))
    last = text.splitlines()[-2:]
    assert last == ["its files (containers, input lists, labels) are in:", str(demo.files)]


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_list_and_show(demo: DemoStore, width: int) -> None:
    lines = fits(demo.run(width, "runs", "list", "--limit", "10"), width)
    assert lines[0].split()[:5] == ["id", "kind", "status", "container", "sqnr"]
    assert any("demo_enhanced_bias32.dlc" in line for line in lines)  # whole, never cut
    quantize = next(r for r in demo.runs if r["kind"] == "quantize")
    text = demo.run(width, "runs", "show", str(quantize["id"]))
    fits(text, width)
    for part in ("Containers", "Options", "--param-quantizer", "Result", "output SQNR", "Layers"):
        assert part in text
    assert re.search(r"^\s*0  conv1\s+Conv\+Relu", text, re.M)
    refused = next(r for r in demo.runs if r["runtime"] == "aip" and r["status"] != "succeeded")
    text = demo.run(width, "runs", "show", str(refused["id"]))
    fits(text, width)
    assert "AIP does not support non-quantized" in text.splitlines()[1]
    assert not text.lstrip().startswith("{")  # a layout, not JSON
    data = json.loads(demo.run(width, "--json", "runs", "show", str(refused["id"])))
    assert data["id"] == refused["id"] and "details" in data
    assert data["container_path"].endswith("demo.dlc") and data["output_path"] is None


@pytest.mark.parametrize("width", WIDTHS)
def test_experiments(demo: DemoStore, width: int) -> None:
    name = demo.experiment
    assert any(name in line for line in fits(demo.run(width, "experiment", "list"), width)[2:])
    shown = fits(demo.run(width, "experiment", "show", name), width)
    assert sum(" succeeded " in line or " refused " in line for line in shown) >= 30
    advice = demo.run(width, "experiment", "advice", name)
    fits(advice, width)
    assert "quantized container" in advice and "DSP: quantized" in advice


@pytest.mark.parametrize("width", WIDTHS)
def test_info_and_compare(demo: DemoStore, width: int) -> None:
    text = demo.run(width, "info", str(demo.files / "demo_enhanced_bias8.dlc"))
    lines = fits(text, width)
    assert lines[0].split()[:3] == ["id", "name", "type"] and "encoding" in text
    assert re.search(r"^\s*0  conv1\s+Conv", text, re.M)
    ids = [str(r["id"]) for r in demo.runs if r["kind"] == "quantize"][:3]
    compared = fits(demo.run(width, "runs", "compare", *ids, "--all"), width)
    assert compared[0].startswith("metric") and any("SQNR" in line for line in compared)


@pytest.mark.parametrize("width", WIDTHS)
def test_bench_and_advise(demo: DemoStore, width: int) -> None:
    files = demo.files
    bench = demo.run(width, "bench", str(files / "demo.dlc"), str(files / "demo_tf_bias8.dlc"),
                     "--input-list", str(files / "validation" / "input_list.txt"),
                     "--runtimes", "cpu,aip", "--iterations", "1")  # fmt: skip
    lines = fits(bench, width)
    assert lines[0].split()[:3] == ["run", "runtime", "status"]
    assert "↳ AIP does not support" in bench and "demo_tf_bias8.dlc  quantized" in bench
    assert ("latency ms" in lines[0]) == (width >= 120)
    advise = demo.run(width, "advise", str(files / "demo.dlc"), "--quantized",
                      str(files / "demo_tf_bias8.dlc"), "--input-list",
                      str(files / "validation" / "input_list.txt"), "--iterations", "1")  # fmt: skip
    fits(advise, width)
    assert "non-quantized container" in advise and "AIP: quantized" in advise
