"""What `workbench info` and `workbench diff` report, checked by hand on a small graph."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from workbench.engine.container import Container, make_manifest, read_container, write_container
from workbench.engine.graph import Graph, Node, TensorInfo
from workbench.engine.summary import describe_encoding, diff, summarize


def hand_checked_graph() -> Graph:
    """x(1,3,8,8) -Conv3x3-> (1,4,8,8) -depthwise Conv-> -Relu-> -Flatten-> (1,256)
    -Gemm-> (1,10) -MatMul-> (1,5); plus a batched MatMul and a ConvTranspose on side inputs."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    params = {
        "conv_w": rng.standard_normal((4, 3, 3, 3)).astype(f32),
        "conv_b": np.zeros(4, f32),
        "dw_w": rng.standard_normal((4, 1, 3, 3)).astype(f32),
        "fc_w": rng.standard_normal((10, 256)).astype(f32),
        "fc_b": np.zeros(10, f32),
        "mm_w": rng.standard_normal((10, 5)).astype(f32),
        "bmm_w": rng.standard_normal((4, 6)).astype(f32),
        "up_w": rng.standard_normal((4, 2, 3, 3)).astype(f32),
    }
    nodes = [
        Node("conv", "Conv", ("x", "conv_w", "conv_b"), ("c",), {"pads": [1, 1, 1, 1]}),
        Node("dw", "Conv", ("c", "dw_w"), ("d",), {"pads": [1, 1, 1, 1], "group": 4}),
        Node("relu", "Relu", ("d",), ("r",)),
        Node("flat", "Flatten", ("r",), ("f",)),
        Node("fc", "Gemm", ("f", "fc_w", "fc_b"), ("g",), {"transB": 1}),
        Node("mm", "MatMul", ("g", "mm_w"), ("y",)),
        Node("bmm", "MatMul", ("s", "bmm_w"), ("z",)),
        Node("up", "ConvTranspose", ("u", "up_w"), ("v",), {"strides": [2, 2]}),
    ]
    shapes = {
        "c": (1, 4, 8, 8),
        "d": (1, 4, 8, 8),
        "r": (1, 4, 8, 8),
        "f": (1, 256),
        "g": (1, 10),
        "y": (1, 5),
        "z": (2, 3, 6),
        "v": (1, 2, 9, 9),
    }
    inputs = [
        TensorInfo("x", (1, 3, 8, 8)),
        TensorInfo("s", (2, 3, 4)),
        TensorInfo("u", (1, 4, 4, 4)),
    ]
    tensors = {n: TensorInfo(n, s) for n, s in shapes.items()} | {t.name: t for t in inputs}
    outputs = [tensors["y"], tensors["z"], tensors["v"]]
    return Graph("hand", inputs, outputs, nodes, params, tensors)


def container(**changes) -> Container:
    c = Container(
        make_manifest(converter={"command": "workbench convert m.onnx"}), hand_checked_graph()
    )
    return dataclasses.replace(c, **changes) if changes else c


# Hand-computed expectations per layer: (param_count, macs).
EXPECTED = {
    "conv": (4 * 3 * 3 * 3 + 4, (1 * 4 * 8 * 8) * 3 * 3 * 3),  # 112, 256 outputs x 27
    "dw": (4 * 9, (1 * 4 * 8 * 8) * 1 * 3 * 3),  # Cin/groups = 1
    "relu": (0, 0),
    "flat": (0, 0),
    "fc": (10 * 256 + 10, 1 * 10 * 256),  # M*N*K
    "mm": (10 * 5, 1 * 5 * 10),
    "bmm": (4 * 6, 2 * 3 * 6 * 4),  # batch 2, M=3, N=6, K=4
    "up": (4 * 2 * 9, (1 * 4 * 4 * 4) * 2 * 3 * 3),  # every input element scatters Cout x kh x kw
}


def test_rows_have_hand_checked_params_and_macs() -> None:
    summary = summarize(container())
    got = {r.name: (r.param_count, r.macs) for r in summary.rows}
    assert got == EXPECTED
    assert got["conv"] == (112, 6912) and got["fc"] == (2570, 2560) and got["bmm"] == (24, 144)
    assert (
        summary.total_macs
        == sum(m for _, m in EXPECTED.values())
        == 6912 + 2304 + 2560 + 50 + 144 + 1152
    )
    assert summary.param_count == sum(p for p, _ in EXPECTED.values())
    assert summary.param_bytes == 4 * summary.param_count

    conv = summary.rows[0]
    assert (conv.index, conv.op_type, conv.inputs, conv.outputs) == (
        0,
        "Conv",
        ("x", "conv_w", "conv_b"),
        ("c",),
    )
    assert conv.output_dims == ((1, 4, 8, 8),)
    assert conv.encoding_summary is None
    assert [t.name for t in summary.inputs] == ["x", "s", "u"]
    assert not summary.quantized and summary.records == () and summary.file_size is None


def test_unknown_shapes_give_no_macs() -> None:
    g = hand_checked_graph()
    del g.tensors["c"]
    rows = {r.name: r for r in summarize(Container(make_manifest(), g)).rows}
    assert rows["conv"].macs is None and rows["conv"].output_dims == (None,)
    assert rows["dw"].macs == EXPECTED["dw"][1]


def test_summary_of_a_read_container_without_params(tmp_path: Path) -> None:
    path = tmp_path / "m.dlc"
    size = write_container(path, container(records={"hta.bin": b"12345"}))
    full = summarize(read_container(path))
    light = summarize(read_container(path, load_params=False))
    assert light == full
    assert full.file_size == size and full.records == (("hta.bin", 5),)
    assert full.converter["command"] == "workbench convert m.onnx"
    json.dumps(full.to_dict())  # JSON-able


def test_encoding_summaries() -> None:
    c = container(
        encodings={"c": {"bitwidth": 8, "min": -1.803922, "max": 0.496078}},
        param_encodings={
            "conv_w": [{"bitwidth": 8, "scale": 0.1, "offset": -128}] * 4,
            "conv_b": {"bitwidth": 32, "scale": 0.001, "offset": 0},
        },
        manifest=make_manifest(quantizer={"options": {}}),
    )
    summary = summarize(c)
    assert summary.quantized
    assert summary.rows[0].encoding_summary == (
        "out: 8b [-1.80392, 0.496078]; weight: 8b per-channel x4; bias: 32b scale=0.001 offset=0"
    )
    assert summary.rows[1].encoding_summary is None
    assert describe_encoding({"whatever": list(range(100))}).endswith("...")
    json.dumps(summary.to_dict())


def test_diff_of_identical_containers_is_empty(tmp_path: Path) -> None:
    assert diff(container(), container()).identical
    # Two writes differ in creation time and entry index only: still identical.
    write_container(tmp_path / "a.dlc", container())
    write_container(tmp_path / "b.dlc", container())
    report = diff(read_container(tmp_path / "a.dlc"), read_container(tmp_path / "b.dlc"))
    assert report.identical
    assert report.to_dict() == {
        "identical": True,
        "layers_only_in_a": [],
        "layers_only_in_b": [],
        "layers": [],
        "params": [],
        "encodings": [],
        "param_encodings": [],
        "manifest": [],
        "records": [],
    }


def test_diff_finds_each_kind_of_difference() -> None:
    a = container(
        encodings={"c": {"min": 0.0, "max": 1.0}, "g": {"min": 0.0, "max": 2.0}},
        param_encodings={"conv_w": {"bitwidth": 8}},
        records={"same.bin": b"x", "gone.bin": b"y", "edited.bin": b"abc"},
    )
    gb = hand_checked_graph()
    gb.nodes = [n for n in gb.nodes if n.name != "up"]  # only in A
    gb.nodes.append(Node("extra", "Identity", ("y",), ("y2",)))  # only in B
    gb.nodes[2] = Node("relu", "Sigmoid", ("d",), ("r",))  # op type
    gb.nodes[0] = Node("conv", "Conv", ("x", "conv_w", "conv_b"), ("c",), {"pads": [0, 0, 0, 0]})
    gb.nodes[1] = Node(
        "dw", "Conv", ("c", "dw_w"), ("d",), {"pads": [1, 1, 1, 1], "group": 4, "t": np.ones(2)}
    )
    gb.tensors["g"] = TensorInfo("g", (1, 11))  # output dims
    gb.params["fc_b"] = gb.params["fc_b"] + np.float32(0.5)  # values
    gb.params["mm_w"] = np.zeros((10, 5), np.uint8)  # dtype
    gb.params["bmm_w"] = np.zeros((4, 7), np.float32)  # shape
    del gb.params["up_w"]  # only in A
    gb.params["new_p"] = np.zeros(3, np.float32)  # only in B
    b = Container(
        make_manifest(
            converter={"command": "workbench convert m.onnx"},
            quantizer={"command": "workbench quantize", "options": {"bitwidth": 8}},
        ),
        gb,
        encodings={"c": {"min": 0.0, "max": 1.5}, "y": {"min": 0.0, "max": 1.0}},
        param_encodings={},
        records={"same.bin": b"x", "edited.bin": b"abd", "new.bin": b"zz"},
    )

    report = diff(a, b)
    assert not report.identical
    assert report.layers_only_in_a == ("up",)
    assert report.layers_only_in_b == ("extra",)
    layers = {(c.name, c.kind): (c.a, c.b) for c in report.layers}
    assert layers == {
        ("conv.pads", "attr"): ([1, 1, 1, 1], [0, 0, 0, 0]),
        ("dw.t", "attr"): (None, {"dtype": "float64", "shape": [2], "values": [1.0, 1.0]}),
        ("relu", "op_type"): ("Relu", "Sigmoid"),
        ("fc", "output_dims"): ([[1, 10]], [[1, 11]]),
    }
    params = {c.name: c for c in report.params}
    assert set(params) == {"fc_b", "mm_w", "bmm_w", "up_w", "new_p"}
    assert params["fc_b"].kind == "values" and params["fc_b"].max_abs_diff == 0.5
    assert (params["mm_w"].kind, params["mm_w"].a, params["mm_w"].b) == (
        "dtype",
        "float32",
        "uint8",
    )
    assert (params["bmm_w"].kind, params["bmm_w"].a, params["bmm_w"].b) == ("shape", [4, 6], [4, 7])
    assert params["up_w"].kind == "only_in_a" and params["new_p"].kind == "only_in_b"

    assert {(c.name, c.kind) for c in report.encodings} == {
        ("c", "changed"),
        ("g", "only_in_a"),
        ("y", "only_in_b"),
    }
    assert [(c.name, c.kind) for c in report.param_encodings] == [("conv_w", "only_in_a")]
    manifest = {c.name: (c.a, c.b) for c in report.manifest}
    assert manifest == {
        "quantizer": (
            None,
            {"version": b.manifest["quantizer"]["version"], **b.manifest["quantizer"]},
        ),
        "quantized": (False, True),
    }
    assert {(c.name, c.kind) for c in report.records} == {
        ("gone.bin", "only_in_a"),
        ("edited.bin", "content"),
        ("new.bin", "only_in_b"),
    }
    json.dumps(report.to_dict())


def test_diff_of_quantizer_options_names_the_option() -> None:
    a = container(
        manifest=make_manifest(quantizer={"options": {"bitwidth": 8, "per_channel": False}})
    )
    b = container(
        manifest=make_manifest(quantizer={"options": {"bitwidth": 8, "per_channel": True}})
    )
    changes = [(c.name, c.a, c.b) for c in diff(a, b).manifest]
    assert changes == [("quantizer.options.per_channel", False, True)]


def test_diff_of_quantized_params_compares_raw_values() -> None:
    ga, gb = hand_checked_graph(), hand_checked_graph()
    ga.params["mm_w"] = np.full((10, 5), 3, np.uint8)
    gb.params["mm_w"] = np.full((10, 5), 3, np.uint8)
    gb.params["mm_w"][2, 2] = 250
    report = diff(Container(make_manifest(), ga), Container(make_manifest(), gb))
    assert [(c.name, c.kind, c.max_abs_diff) for c in report.params] == [("mm_w", "values", 247.0)]
