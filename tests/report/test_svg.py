"""The report's SVG charts: ticks, coordinates, escaping, nothing external."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from workbench.report import svg


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # well-formed XML, or this raises


def test_nice_ticks() -> None:
    assert svg.nice_ticks(0, 10, 5) == [0, 2, 4, 6, 8, 10]
    assert svg.nice_ticks(-0.8, 0.87, 4) == [-0.5, 0, 0.5]
    assert svg.nice_ticks(98.7, 180.7, 5) == [100, 120, 140, 160, 180]
    assert svg.nice_ticks(5, 5) == [5, 6, 7, 8, 9, 10]  # a flat range still gets an axis
    assert (
        svg.number(20000) == "20k" and svg.number(0.25) == "0.25" and svg.number(2e-5) == "2.0e-05"
    )


def test_histogram_bars_and_marks_land_where_the_values_are() -> None:
    text = svg.histogram(-1.0, 5.0, [0, 3, 6, 0, 1, 2], marks=[(0.0, "min 0"), (4.0, "max 4")],
                         title="conv1 output", width=420, height=220)  # fmt: skip
    root = parse(text)
    ns = {"s": "http://www.w3.org/2000/svg"}
    bars = root.findall(".//s:rect", ns)
    assert len(bars) == 4  # empty bins draw nothing
    box = svg.Box(420, 220, -1.0, 5.0, 0.0, 6 * 1.05)
    tallest = max(bars, key=lambda b: float(b.get("height")))
    assert float(tallest.get("x")) == round(box.x(1.0), 1)  # the bin [1, 2)
    marks = root.findall(".//s:line[@class='mark']", ns)
    assert [float(m.get("x1")) for m in marks] == [round(box.x(0.0), 1), round(box.x(4.0), 1)]
    assert "min 0" in text and "max 4" in text


def test_labels_are_escaped_and_nothing_is_fetched() -> None:
    hostile = '<script>alert(1)</script> & "x"'
    text = svg.scatter(
        [(hostile, [svg.ScatterPoint(1, 2, hostile), svg.ScatterPoint(3, 4)])],
        front=[svg.ScatterPoint(1, 2), svg.ScatterPoint(3, 4)],
        title=hostile, x_label="size", y_label="acc",
    )  # fmt: skip
    parse(text)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert set(re.findall(r"https?://[^\"' ]+", text)) == {"http://www.w3.org/2000/svg"}
    assert '<polyline class="front"' in text


def test_lines_skip_missing_values_and_bars_scale() -> None:
    text = svg.lines(
        ["a", "b", "c"], [("run 1", [30.0, None, 28.0]), ("run 2", [31.0, 29.5, 27.0])]
    )
    root = parse(text)
    lines = [p for p in root.iter() if p.tag.endswith("polyline")]
    assert [len(p.get("points").split()) for p in lines] == [2, 3]
    bars = svg.bars(["load", "plan"], [2.0, 8.0], unit=" ms", title="init")
    widths = [float(r.get("width")) for r in parse(bars).iter() if r.tag.endswith("rect")]
    assert widths[1] == 4 * widths[0] and "8 ms" in bars
    assert svg.lines([], []) == "" and svg.scatter([]) == ""
