"""AIMET encodings JSON: export, load back identical, overrides, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.engine.quant.test_quantizer import conv_net, float_container, samples
from workbench.engine.quant.aimet import (
    export_encodings,
    load_overrides,
    parse_encodings,
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


@pytest.mark.parametrize("version", ["0.6.1", "1.0.0"])
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
    doc = export_encodings(q, version)
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
    assert old["param_encodings"]["w1"][0]["offset"] == -128
    new = export_encodings(q, "1.0.0")
    assert new["version"] == "1.0.0" and isinstance(new["activation_encodings"], list)
    w1 = next(e for e in new["param_encodings"] if e["name"] == "w1")
    assert w1["enc_type"] == "PER_CHANNEL" and w1["dtype"] == "INT" and w1["is_sym"] is True
    assert w1["bw"] == 8 and len(w1["scale"]) == len(w1["offset"]) == 8
    xe = next(e for e in new["activation_encodings"] if e["name"] == "x")
    assert xe["enc_type"] == "PER_TENSOR" and len(xe["scale"]) == 1
    json.dumps(old)
    json.dumps(new)
    with pytest.raises(BadInput, match="version must be one of"):
        export_encodings(q, "2.0.0")
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
            {"version": "2.0.0", "activation_encodings": [], "param_encodings": []},
            "unsupported AIMET encodings version '2.0.0'",
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
