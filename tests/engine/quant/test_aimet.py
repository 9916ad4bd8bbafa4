"""AIMET encodings JSON: export, load back identical, overrides, clear errors.

Files "as AIMET writes them" come from ``aimet_mirror``, which follows aimet-onnx's own
writer and strict loader from its source (aimet-onnx needs PyTorch, never installed here).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import helper

from tests.engine.quant import aimet_mirror as aimet
from tests.engine.quant.test_quantizer import conv_net, float_container, onnx_model, samples
from workbench.engine.quant.aimet import (
    aimet_skipped,
    export_encodings,
    load_overrides,
    parse_encodings,
    quantizer_args,
    read_encodings,
    write_encodings,
)
from workbench.engine.quant.encoding import (
    ChannelEncoding,
    Encoding,
    encoding_from_dict,
    symmetric_encoding,
)
from workbench.engine.quant.quantizer import QuantOptions, quantize_container
from workbench.errors import BadInput, NotFound


@pytest.fixture
def net(tmp_path):
    return conv_net(tmp_path)


VERSIONS = ["0.6.1", "1.0.0", "2.0.0", "2.1.0"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "options",
    [
        QuantOptions(),
        QuantOptions(per_channel=True, bias_bitwidth=32, act_bitwidth=16),
        QuantOptions(param_quantizer="symmetric", weights_bitwidth=4, act_quantizer="enhanced"),
    ],
)
def test_export_then_load_gives_identical_encodings(tmp_path, net, version, options):
    q = quantize_container(float_container(net), samples(net, 3), options).container
    doc = export_encodings(q, version, all_tensors=True)
    path = tmp_path / f"enc-{version}.json"
    write_encodings(path, doc)
    acts, params = load_overrides(path, net)
    assert set(acts) == set(q.encodings) and set(params) == set(q.param_encodings)
    for name, d in q.encodings.items():
        assert acts[name] == encoding_from_dict(d), name
    for name, d in q.param_encodings.items():
        assert params[name] == encoding_from_dict(d), name
    # Quantizing with the whole export as overrides reproduces the container.
    again = quantize_container(
        float_container(net),
        samples(net, 3, seed=9),
        QuantOptions(**{**options.to_dict(), "override_params": str(path), "algorithms": ()}),
    ).container
    assert again.encodings == q.encodings and again.param_encodings == q.param_encodings
    for name, p in q.graph.params.items():
        np.testing.assert_array_equal(again.graph.params[name], p)


def test_export_shapes_follow_the_spec(net):
    q = quantize_container(
        float_container(net), samples(net, 2), QuantOptions(per_channel=True)
    ).container
    old = export_encodings(q, "0.6.1")
    assert old["version"] == "0.6.1"
    x = old["activation_encodings"]["x"]
    assert isinstance(x, list) and len(x) == 1
    assert set(x[0]) == {"bitwidth", "dtype", "is_symmetric", "max", "min", "offset", "scale"}
    assert x[0]["dtype"] == "int" and x[0]["is_symmetric"] == "False"
    assert len(old["param_encodings"]["w1"]) == 8  # one entry per output channel
    assert old["param_encodings"]["w1"][0]["offset"] == -128.0  # a float, as AIMET writes it
    assert isinstance(old["param_encodings"]["w1"][0]["offset"], float)
    new = export_encodings(q, "1.0.0")
    assert new["version"] == "1.0.0" and isinstance(new["activation_encodings"], list)
    w1 = next(e for e in new["param_encodings"] if e["name"] == "w1")
    assert w1["enc_type"] == "PER_CHANNEL" and w1["dtype"] == "INT" and w1["is_sym"] is True
    assert w1["bw"] == 8 and len(w1["scale"]) == len(w1["offset"]) == 8
    xe = next(e for e in new["activation_encodings"] if e["name"] == "x")
    assert xe["enc_type"] == "PER_TENSOR" and len(xe["scale"]) == 1
    json.dumps(old)
    json.dumps(new)
    assert all(isinstance(v, float) for v in w1["offset"])
    for doc in (old, new):
        assert doc["producer"]["package"] == "workbench"
        args = doc["quantizer_args"]  # JSON booleans, AIMET's scheme names
        assert args["is_symmetric"] is True and args["per_channel_quantization"] is True
        assert args["quant_scheme"] == "min_max" and args["dtype"] == "int"
    two = export_encodings(q, "2.0.0")
    assert set(two) == {"producer", "version", "encodings"} and two["version"] == "2.0.0"
    w1 = next(e for e in two["encodings"] if e["name"] == "w1")
    assert w1["output_dtype"] == "int8" and w1["axis"] == 0 and "y_zero_point" not in w1
    x = next(e for e in two["encodings"] if e["name"] == "x")
    assert x["output_dtype"] == "uint8" and isinstance(x["y_scale"], float)
    assert x["y_zero_point"] == -Encoding.from_dict(q.encodings["x"]).offset
    # left out by default: what AIMET's default quantsim does not quantize
    names = {e["name"] for e in two["encodings"]}
    assert not names & {"b1", "b2", "bf", "c1", "f"} and {"r1", "c2", "p", "y"} <= names
    with pytest.raises(BadInput, match="version must be one of"):
        export_encodings(q, "3.0.0")
    with pytest.raises(BadInput, match="quantize it first"):
        export_encodings(float_container(net), "1.0.0")


def test_aimet_1_0_0_document_as_aimet_writes_it(net):
    doc = {
        "version": "1.0.0",
        "activation_encodings": [
            {
                "name": "x",
                "dtype": "INT",
                "enc_type": "PER_TENSOR",
                "is_sym": False,
                "bw": 8,
                "scale": [0.031],
                "offset": [-100.0],
            },
            {
                "name": "r1",
                "dtype": "INT",
                "enc_type": "PER_TENSOR",
                "is_sym": True,
                "bw": 8,
                "scale": [0.025],
                "offset": [-128.0],
            },
        ],
        "param_encodings": [
            {
                "name": "w1",
                "dtype": "INT",
                "enc_type": "PER_CHANNEL",
                "is_sym": True,
                "bw": 8,
                "scale": [0.01 * (i + 1) for i in range(8)],
                "offset": [-128.0] * 8,
            },
        ],
        "quantizer_args": {"activation_bitwidth": 8},
        "excluded_layers": [],
    }
    acts, params = parse_encodings(doc, net)
    x = acts["x"]
    assert (x.delta, x.offset, x.bitwidth, x.symmetric) == (0.031, -100, 8, False)
    assert x.min == pytest.approx(-3.1) and x.max == pytest.approx(155 * 0.031)
    assert acts["r1"] == symmetric_encoding(0.025 * 127)
    w1 = params["w1"]
    assert isinstance(w1, ChannelEncoding) and w1.axis == 0 and len(w1) == 8


def test_overrides_replace_computed_encodings(tmp_path, net):
    doc = {
        "version": "0.6.1",
        "activation_encodings": {
            "r1": [
                {
                    "bitwidth": 8,
                    "dtype": "int",
                    "is_symmetric": "False",
                    "min": 0.0,
                    "max": 2.55,
                    "offset": 0,
                    "scale": 0.01,
                }
            ]
        },
        "param_encodings": {
            "w2": [
                {
                    "bitwidth": 8,
                    "dtype": "int",
                    "is_symmetric": "True",
                    "min": -1.28,
                    "max": 1.27,
                    "offset": -128,
                    "scale": 0.01,
                }
            ]
        },
    }
    path = tmp_path / "over.json"
    path.write_text(json.dumps(doc))
    q = quantize_container(
        float_container(net),
        samples(net, 3),
        QuantOptions(override_params=str(path), bias_bitwidth=32),
    ).container
    r1 = Encoding.from_dict(q.encodings["r1"])
    # min/max are rebuilt from scale and offset (x_hat = (q + offset) * scale exactly).
    assert (r1.delta, r1.offset, r1.min, r1.symmetric) == (0.01, 0, 0.0, False)
    assert r1.max == 255 * 0.01
    w2 = Encoding.from_dict(q.param_encodings["w2"])
    assert (w2.delta, w2.offset, w2.symmetric) == (0.01, -128, True)
    np.testing.assert_array_equal(
        q.graph.params["w2"],
        np.clip(np.round(net.params["w2"].astype(np.float64) / 0.01) + 128, 0, 255),
    )
    # The 32-bit bias of the second conv follows the overridden input and weight scales.
    assert q.param_encodings["b2"]["delta"] == 0.01 * 0.01
    # Not overridden: calibrated as usual.
    plain = quantize_container(float_container(net), samples(net, 3)).container
    assert q.encodings["c2"] == plain.encodings["c2"] and q.encodings["r1"] != plain.encodings["r1"]
    # The conv output fused into the overridden ReLU follows it.
    assert q.encodings["c1"] == q.encodings["r1"]


def test_old_tf_exports_with_positive_offsets_are_read_by_their_min(net):
    doc = {
        "activation_encodings": {
            "x": [
                {
                    "bitwidth": 8,
                    "is_symmetric": "False",
                    "min": -0.1,
                    "max": 2.45,
                    "offset": 10,
                    "scale": 0.01,
                }
            ]
        },
        "param_encodings": {},
    }
    acts, _ = parse_encodings(doc, net)
    assert acts["x"].offset == -10 and acts["x"].min == pytest.approx(-0.1)


@pytest.mark.parametrize(
    "doc, fragment",
    [
        (
            {"version": "2.2.0", "encodings": []},
            "unsupported AIMET encodings version '2.2.0'",
        ),
        (
            {"version": "2.0.0", "activation_encodings": [], "param_encodings": []},
            "unknown top-level key(s) activation_encodings, param_encodings for version 2.0.0",
        ),
        (
            {"version": "2.0.0", "encodings": [{"name": "x", "bw": 8, "output_dtype": "uint8"}]},
            "'bw' belongs to version 1.0.0",
        ),
        (
            {"version": "2.0.0", "encodings": [{"name": "x", "output_dtype": "float16"}]},
            "output_dtype 'float16' is not supported",
        ),
        (
            {
                "version": "2.0.0",
                "encodings": [
                    {"name": "x", "output_dtype": "uint8", "y_scale": 0.1, "y_zero_point": 300}
                ],
            },
            "y_zero_point outside the range of uint8",
        ),
        (
            {
                "version": "2.0.0",
                "encodings": [
                    {"name": "b1", "output_dtype": "int32", "y_scale": 0.1, "y_zero_point": 3}
                ],
            },
            "an int32 encoding needs y_zero_point 0",
        ),
        (
            {
                "version": "2.1.0",
                "encodings": [
                    {
                        "name": "w1",
                        "output_dtype": "int4",
                        "axis": 1,
                        "y_scale": [0.1],
                        "block_size": 8,
                    }
                ],
            },
            "per-block (LPBQ) encodings are not supported",
        ),
        (
            {
                "version": "2.0.0",
                "encodings": [
                    {"name": "x", "output_dtype": "uint8", "y_scale": [0.1, 0.2], "axis": 1}
                ],
            },
            "activation encodings are per tensor",
        ),
        (
            {"version": "1.0.0", "producer": "aimet", "activation_encodings": []},
            "'producer' must be an object",
        ),
        (
            {"version": "1.0.0", "activation_encodings": {}, "param_encodings": []},
            "expected a list of encodings (1.0.0)",
        ),
        (
            {"version": "0.6.1", "activation_encodings": [], "param_encodings": {}},
            "expected an object keyed by tensor name (0.6.1)",
        ),
        (
            {
                "version": "1.0.0",
                "activation_encodings": [{"name": "nope", "bw": 8, "scale": [0.1], "offset": [0]}],
            },
            "activation encodings name tensors not in the graph: 'nope'",
        ),
        (
            {
                "version": "1.0.0",
                "param_encodings": [{"name": "w9", "bw": 8, "scale": [0.1], "offset": [0]}],
            },
            "param encodings name parameters not in the graph: 'w9'",
        ),
        (
            {
                "version": "1.0.0",
                "activation_encodings": [{"name": "w1", "bw": 8, "scale": [0.1], "offset": [0]}],
            },
            "put them under param_encodings",
        ),
        (
            {
                "version": "1.0.0",
                "activation_encodings": [{"name": "x", "bw": "8", "scale": [0.1], "offset": [0]}],
            },
            "expected an integer, got '8'",
        ),
        (
            {"version": "1.0.0", "activation_encodings": [{"name": "x", "bw": 8, "scale": [0.1]}]},
            "missing 'offset'",
        ),
        (
            {
                "version": "1.0.0",
                "activation_encodings": [{"name": "x", "bw": 8, "scale": [-0.1], "offset": [0]}],
            },
            "scale must be positive",
        ),
        (
            {
                "version": "1.0.0",
                "activation_encodings": [{"name": "x", "bw": 8, "scale": [0.1], "offset": [5]}],
            },
            "offset must be in",
        ),
        (
            {
                "version": "1.0.0",
                "activation_encodings": [{"name": "x", "dtype": "FLOAT", "bw": 16}],
            },
            "float encodings (dtype float) are not supported",
        ),
        (
            {
                "version": "1.0.0",
                "param_encodings": [
                    {"name": "w1", "enc_type": "PER_BLOCK", "bw": 4, "scale": [0.1], "offset": [0]}
                ],
            },
            "enc_type PER_BLOCK is not supported",
        ),
        (
            {
                "version": "1.0.0",
                "param_encodings": [
                    {
                        "name": "w1",
                        "enc_type": "PER_CHANNEL",
                        "bw": 8,
                        "is_sym": True,
                        "scale": [0.1] * 3,
                        "offset": [-128] * 3,
                    }
                ],
            },
            "has shape [8, 3, 3, 3]; its per-channel encoding has 3 channels on axis 0",
        ),
        (
            {
                "version": "0.6.1",
                "activation_encodings": {
                    "x": [
                        {"bitwidth": 8, "offset": 0, "scale": 0.1},
                        {"bitwidth": 8, "offset": 0, "scale": 0.1},
                    ]
                },
            },
            "activation encodings are per tensor",
        ),
        ({"activation_encodings": {}, "params": {}}, "unknown top-level key(s) params"),
    ],
)
def test_bad_documents_name_the_problem(net, doc, fragment):
    with pytest.raises(BadInput) as err:
        parse_encodings(doc, net)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_files(tmp_path, net):
    with pytest.raises(NotFound):
        load_overrides(tmp_path / "missing.json", net)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BadInput, match="not valid JSON"):
        load_overrides(tmp_path / "bad.json", net)
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(BadInput, match="expected a JSON object"):
        load_overrides(tmp_path / "list.json", net)
    with pytest.raises(BadInput, match="name tensors not in the graph"):
        path = tmp_path / "o.json"
        path.write_text(
            json.dumps(
                {
                    "version": "1.0.0",
                    "activation_encodings": [
                        {"name": "zz", "bw": 8, "scale": [0.1], "offset": [0]}
                    ],
                }
            )
        )
        quantize_container(
            float_container(net), samples(net, 1), QuantOptions(override_params=str(path))
        )


# --------------------------------------------------------------------------- AIMET's files


def _aimet_encodings(net) -> tuple[dict[str, aimet.Affine], dict[str, aimet.Affine]]:
    """Encodings as an AIMET sim holds them for conv_net: int8 symmetric weights (w1 per
    channel), a uint8 weight, an int32 bias, uint8 activations (one with zero point 0)."""
    w1 = np.abs(net.params["w1"]).reshape(8, -1).max(axis=1) / 127
    params = {
        "w1": aimet.Affine(w1, np.zeros(8), "int8", channel_axis=0),
        "w2": aimet.Affine(0.0071, 0.0, "int8"),
        "wf": aimet.Affine(0.0013, -117.0, "uint8"),
        "b2": aimet.Affine(np.full(8, 2.5e-6), np.zeros(8), "int32", channel_axis=0),
    }
    acts = {
        "x": aimet.Affine(0.0273, -131.0, "uint8"),
        "r1": aimet.Affine(0.0118, 0.0, "uint8"),
        "c2": aimet.Affine(0.0209, -77.0, "uint8"),
        "y": aimet.Affine(0.0155, -140.0, "uint8"),
    }
    return params, acts


@pytest.mark.parametrize("version", ["0.6.1", "1.0.0", "2.0.0"])
def test_files_as_aimet_writes_them_are_read_as_written(tmp_path, net, version):
    params, acts = _aimet_encodings(net)
    args = {"activation_bitwidth": 8, "dtype": "int", "is_symmetric": True,
            "param_bitwidth": 8, "per_channel_quantization": True, "quant_scheme": "min_max"}  # fmt: skip
    doc = aimet.aimet_document(version, params, acts, args)
    assert doc["producer"] == {"package": "aimet-onnx", "version": "2.42.0"}
    path = aimet.write_document(tmp_path / f"model_{version}.encodings", doc)
    q = quantize_container(
        float_container(net),
        samples(net, 2),
        QuantOptions(override_params=str(path), bias_bitwidth=32),
    ).container
    assert q.manifest["quantizer"]["overrides"]["producer"] == doc["producer"]
    assert q.manifest["quantizer"]["overrides"]["version"] == version
    for name, theirs in {**params, **acts}.items():
        section = q.param_encodings if name in params else q.encodings
        ours = encoding_from_dict(section[name])
        unsigned = theirs.to_unsigned()
        # every value AIMET holds is the one stored: scale, offset, min and max, exactly
        assert np.array_equal(np.atleast_1d(ours.delta), np.atleast_1d(theirs.scale)), name
        assert np.array_equal(np.atleast_1d(ours.min), np.atleast_1d(theirs.min)), name
        assert np.array_equal(np.atleast_1d(ours.max), np.atleast_1d(theirs.max)), name
        assert ours.bitwidth == theirs.bitwidth, name
        if theirs.bitwidth != 32:
            assert np.array_equal(np.atleast_1d(ours.offset), np.atleast_1d(unsigned.offset)), name
        else:
            assert np.all(np.asarray(ours.offset) == 0), name
        assert isinstance(ours, ChannelEncoding) == (theirs.channel_axis is not None), name
        if isinstance(ours, ChannelEncoding):
            assert ours.axis == 0
        assert ours.symmetric == theirs.signed or theirs.bitwidth == 32, name


def _matmul_net(tmp_path):
    """MatMul → Add(1-D) → Relu → Reshape → MatMul: AIMET's MatMul+Add pass and a
    Reshape output it never quantizes."""
    rng = np.random.default_rng(3)
    n = helper.make_node
    nodes = [
        n("MatMul", ["x", "w"], ["m"]),
        n("Add", ["m", "b"], ["a"]),
        n("Relu", ["a"], ["r"]),
        n("Reshape", ["r", "shape"], ["s"]),
        n("MatMul", ["s", "w2"], ["y"]),
    ]
    inits = {
        "w": (rng.standard_normal((16, 12)) * 0.3).astype(np.float32),
        "b": (rng.standard_normal(12) * 0.1).astype(np.float32),
        "shape": np.array([1, 12], dtype=np.int64),
        "w2": (rng.standard_normal((12, 5)) * 0.3).astype(np.float32),
    }
    return onnx_model(tmp_path / "mm.onnx", nodes, {"x": (1, 16)}, ["y"], inits)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "which, options",
    [
        ("conv", QuantOptions(param_quantizer="symmetric")),
        ("conv", QuantOptions(per_channel=True, bias_bitwidth=32)),
        ("conv", QuantOptions()),
        ("matmul", QuantOptions(param_quantizer="symmetric", act_bitwidth=16, weights_bitwidth=16)),
    ],
)
def test_our_exports_load_in_aimet_with_strict_true(tmp_path, version, which, options):
    graph = conv_net(tmp_path) if which == "conv" else _matmul_net(tmp_path)
    q = quantize_container(float_container(graph), samples(graph, 3), options).container
    doc = json.loads(json.dumps(export_encodings(q, version)))  # through JSON, as a file
    args = doc.get("quantizer_args") or quantizer_args(q)
    sim = aimet.default_sim(q.graph, args)  # configured as the file's quantizer_args say
    loaded = aimet.load_strict(doc, sim, q.graph)
    assert set(loaded) == {n for n, qz in sim.items() if qz.enabled}
    for name, theirs in loaded.items():
        ours = encoding_from_dict({**q.encodings, **q.param_encodings}[name])
        assert np.array_equal(np.atleast_1d(theirs.scale), np.atleast_1d(ours.delta)), name
        assert np.allclose(np.atleast_1d(theirs.min), np.atleast_1d(ours.min), rtol=1e-15), name
        assert np.allclose(np.atleast_1d(theirs.max), np.atleast_1d(ours.max), rtol=1e-15), name
    # everything the file leaves out is a tensor AIMET does not quantize (or keeps off)
    encoded = set(q.encodings) | set(q.param_encodings)
    assert encoded - set(loaded) == set(aimet_skipped(q.graph)) & encoded


def test_all_tensors_exports_are_refused_by_aimets_strict_load(tmp_path, net):
    q = quantize_container(
        float_container(net), samples(net, 2), QuantOptions(per_channel=True)
    ).container
    for version in ("1.0.0", "2.0.0"):
        doc = export_encodings(q, version, all_tensors=True)
        sim = aimet.default_sim(q.graph, doc.get("quantizer_args") or quantizer_args(q))
        with pytest.raises(
            AssertionError, match="b1: enabled: False, loaded encoding enabled: True"
        ):
            aimet.load_strict(doc, sim, q.graph)


def test_the_mirror_catches_what_aimet_refuses(tmp_path, net):
    """The strict mirror is not a rubber stamp: symmetry and bitwidth mismatches fail."""
    q = quantize_container(float_container(net), samples(net, 2)).container  # tf weights
    doc = export_encodings(q, "1.0.0")
    sim = aimet.default_sim(q.graph, {**doc["quantizer_args"], "is_symmetric": True})
    with pytest.raises(AssertionError, match="w1: symmetric: True, loaded False"):
        aimet.load_strict(doc, sim, q.graph)
    sim = aimet.default_sim(q.graph, {**doc["quantizer_args"], "activation_bitwidth": 16})
    with pytest.raises(AssertionError, match="bitwidth: 16, loaded 8"):
        aimet.load_strict(doc, sim, q.graph)


def test_per_channel_overrides_make_the_container_per_channel(tmp_path, net):
    per_channel = quantize_container(
        float_container(net), samples(net, 2), QuantOptions(per_channel=True)
    )
    path = tmp_path / "pc.encodings"
    write_encodings(path, export_encodings(per_channel.container, "2.0.0"))
    q = quantize_container(
        float_container(net), samples(net, 2), QuantOptions(override_params=str(path))
    ).container
    assert isinstance(encoding_from_dict(q.param_encodings["w1"]), ChannelEncoding)
    assert q.manifest["quantizer"]["options"]["per_channel"] is True
    assert export_encodings(q, "1.0.0")["quantizer_args"]["per_channel_quantization"] is True
    read = read_encodings(json.loads(path.read_text()), net)
    assert read.producer == {"package": "workbench", "version": read.producer["version"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_aimet_reads_every_entry_of_a_full_export_as_ours(tmp_path, net, version):
    """Biases included (int32): AIMET's reading of each entry is our encoding's grid."""
    options = QuantOptions(per_channel=True, bias_bitwidth=32)
    q = quantize_container(float_container(net), samples(net, 2), options).container
    doc = json.loads(json.dumps(export_encodings(q, version, all_tensors=True)))
    if version == "0.6.1":
        entries = {**doc["param_encodings"], **doc["activation_encodings"]}
    elif version == "1.0.0":
        entries = {e["name"]: e for e in (*doc["param_encodings"], *doc["activation_encodings"])}
    else:
        entries = {e["name"]: e for e in doc["encodings"]}
    assert set(entries) == set(q.encodings) | set(q.param_encodings)
    for name, entry in entries.items():
        theirs = aimet.Affine.from_dict(entry, default_channel_axis=0)
        ours = encoding_from_dict({**q.encodings, **q.param_encodings}[name])
        assert theirs.bitwidth == ours.bitwidth, name
        assert np.array_equal(np.atleast_1d(theirs.scale), np.atleast_1d(ours.delta)), name
        assert np.allclose(np.atleast_1d(theirs.min), np.atleast_1d(ours.min), rtol=1e-15), name
        assert np.allclose(np.atleast_1d(theirs.max), np.atleast_1d(ours.max), rtol=1e-15), name
