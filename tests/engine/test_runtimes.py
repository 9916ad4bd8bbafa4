"""The guide's table, cell by cell: what each runtime does with each kind of container."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.modelzoo import small_cnn
from workbench.engine.batch import resize_batch
from workbench.engine.container import Container, make_manifest
from workbench.engine.executor import Plan
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.dequant import dequantize_graph
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.quantizer import QuantOptions, quantize_container
from workbench.engine.quant.sqnr import sqnr_db
from workbench.engine.runtimes import RUNTIMES, check_runtime, load_network
from workbench.engine.runtimes.dynamic_dsp import dynamic_encoding
from workbench.errors import BadInput, RuntimeRefused

OUT = "prob:0"


def _feeds(n: int, seed: int = 3) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(n)]


def _container(graph) -> Container:
    return Container(make_manifest(converter={"command": "test"}), graph)


def _all_hta_model(path: Path) -> Path:
    """Conv → Relu → Flatten → Gemm: every layer can run on the HTA."""
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3, "w"),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32) * 0.1, "b"),
        numpy_helper.from_array(rng.standard_normal((10, 144)).astype(np.float32) * 0.1, "fc"),
        numpy_helper.from_array(rng.standard_normal(10).astype(np.float32) * 0.1, "fcb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc", "fcb"], [OUT], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "all_hta",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info(OUT, TensorProto.FLOAT, [1, 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("runtimes")
    fc = _container(import_onnx(small_cnn(d / "small.onnx")))
    calib = _feeds(8, seed=11)
    hta = QuantOptions(enable_hta=True)
    q8 = quantize_container(fc, calib, hta).container
    q32 = quantize_container(fc, calib, replace(hta, bias_bitwidth=32)).container
    plain = quantize_container(fc, calib, QuantOptions()).container
    all_hta_f = _container(import_onnx(_all_hta_model(d / "hta.onnx")))
    all_hta = quantize_container(all_hta_f, calib, replace(hta, bias_bitwidth=32)).container
    return {
        "float": fc,
        "q8": q8,
        "q32": q32,
        "plain": plain,
        "all_hta_float": all_hta_f,
        "all_hta": all_hta,
    }


def test_runtimes_agree_with_the_cli_mirror():
    from workbench import cli

    params = {p.name: p for p in cli.cli.commands["run"].params}
    assert RUNTIMES == ("cpu", "gpu", "gpu_fp16", "dsp", "aip") == params["runtime"].type.choices


# --- CPU ---------------------------------------------------------------------------------


def test_cpu_float_is_native_float32(models):
    net = load_network(models["float"], "cpu")
    assert net.mode == "float32" and list(net.init_breakdown_ms) == ["plan"]
    x = _feeds(1)[0]
    expected = Plan(models["float"].graph).run(x)[OUT]
    np.testing.assert_array_equal(net.run(x)[OUT], expected)


def test_cpu_quantized_without_fxp_dequantizes_every_parameter_at_init(models):
    q = models["plain"]
    net = load_network(q, "cpu")
    assert list(net.init_breakdown_ms) == ["dequantize", "plan"]
    assert "dequantized" in net.mode and net.quantized
    x = _feeds(1)[0]
    expected = Plan(dequantize_graph(q)).run(x)[OUT]
    np.testing.assert_array_equal(net.run(x)[OUT], expected)
    # Accuracy carries the weights' quantization noise only.
    ref = load_network(models["float"], "cpu").run(x)[OUT]
    assert 25 < sqnr_db(ref, net.run(x)[OUT]) < 200


def test_cpu_fxp_runs_the_quantized_container_in_integers(models):
    q = models["plain"]
    net = load_network(q, "cpu", cpu_fxp=True)
    assert net.mode.startswith("integer") and "dequantize" not in net.init_breakdown_ms
    x = _feeds(1)[0]
    np.testing.assert_array_equal(net.run(x)[OUT], IntegerPlan(q).run(x)[OUT])
    seen = {}
    net.run_raw(x, lambda name, v: seen.setdefault(name, v.dtype))
    assert seen["c"] == np.uint8  # activations flow as codes


def test_cpu_fxp_on_a_float_container_runs_float_and_says_so(models):
    net = load_network(models["float"], "cpu", cpu_fxp=True)
    assert net.mode == "float32" and any("no effect" in n for n in net.notes)


# --- GPU ---------------------------------------------------------------------------------


def test_gpu_float_native_and_quantized_dequantized(models):
    x = _feeds(1)[0]
    f = load_network(models["float"], "gpu")
    assert "dequantize" not in f.init_breakdown_ms
    np.testing.assert_array_equal(f.run(x)[OUT], load_network(models["float"], "cpu").run(x)[OUT])
    q = load_network(models["plain"], "gpu")
    assert "dequantize" in q.init_breakdown_ms
    np.testing.assert_array_equal(q.run(x)[OUT], load_network(models["plain"], "cpu").run(x)[OUT])


def test_gpu_fp16_stores_parameters_and_activations_in_float16(models):
    x = _feeds(1)[0]
    net = load_network(models["float"], "gpu_fp16")
    assert list(net.init_breakdown_ms) == ["cast_fp16", "plan"]
    dtypes = {}
    net.run_raw(x, lambda name, v: dtypes.setdefault(name, v.dtype))
    assert dtypes["c"] == np.float16 and dtypes["logits"] == np.float16
    out = net.run(x)[OUT]
    ref = load_network(models["float"], "cpu").run(x)[OUT]
    assert out.dtype == np.float32
    assert not np.array_equal(out, ref) and sqnr_db(ref, out) > 40  # float16 rounding only
    q = load_network(models["plain"], "gpu_fp16")
    assert list(q.init_breakdown_ms) == ["dequantize", "cast_fp16", "plan"]


# --- DSP ---------------------------------------------------------------------------------


def test_dsp_quantized_is_native_integer_with_the_container_encodings(models):
    q = models["q8"]
    net = load_network(q, "dsp")
    assert net.mode.startswith("integer") and list(net.init_breakdown_ms) == ["plan"]
    x = _feeds(1)[0]
    np.testing.assert_array_equal(net.run(x)[OUT], IntegerPlan(q).run(x)[OUT])


def test_dsp_float_quantizes_parameters_at_init_and_activations_per_inference(models):
    net = load_network(models["float"], "dsp")
    assert list(net.init_breakdown_ms) == ["quantize", "plan"]
    assert any("weight layer(s) in integers" in n for n in net.notes)
    deltas = {}
    for i, x in enumerate(_feeds(2)):
        grids = {}

        def hook(name, v, grids=grids):
            grids[name] = v

        net.run_raw(x, hook)
        relu = grids["r"]  # a ReLU output, quantized from its own range in this inference
        levels = np.unique(relu)
        assert len(levels) <= 256
        step = np.diff(levels).min()
        deltas[i] = step
        assert np.allclose(np.round(levels / step), levels / step, atol=1e-3)
    assert deltas[0] != deltas[1]  # each inference has its own encoding
    x = _feeds(1)[0]
    ref = load_network(models["float"], "cpu").run(x)[OUT]
    out = net.run(x)[OUT]
    offline = load_network(models["q8"], "dsp").run(x)[OUT]
    assert sqnr_db(ref, out) > 20
    assert not np.array_equal(out, offline)  # accuracy differs from the offline quantization


def test_dynamic_encoding_is_the_tf_rule_per_sample():
    x = np.stack([np.linspace(-1, 1, 12), np.linspace(0, 4, 12)]).astype(np.float32)
    delta, offset = dynamic_encoding(x, batch=2)
    assert delta.shape == (2, 1) and offset.shape == (2, 1)
    np.testing.assert_allclose(delta.ravel(), [2 / 255, 4 / 255], rtol=1e-6)
    assert offset[1, 0] == 0 and -128 <= offset[0, 0] <= -127
    assert dynamic_encoding(np.array([np.nan, 1.0], np.float32)) is None


# --- AIP ---------------------------------------------------------------------------------


def test_aip_refuses_a_float_container_with_the_guides_reason(models):
    with pytest.raises(RuntimeRefused, match="AIP does not support non-quantized containers"):
        load_network(models["float"], "aip")


def test_aip_without_hta_records_names_the_fix(models):
    with pytest.raises(RuntimeRefused, match="quantize --enable-hta"):
        load_network(models["plain"], "aip")


def test_aip_runs_hta_subnets_from_the_records_and_hnn_like_the_dsp(models):
    x = _feeds(3)
    q32 = models["q32"]
    net = load_network(q32, "aip")
    assert list(net.init_breakdown_ms) == ["hta_records", "plan"]
    assert any("from the HTA records" in n for n in net.notes)
    dsp = load_network(q32, "dsp")
    for feeds in x:  # 32-bit biases: the records hold exactly the integer kernels' numbers
        np.testing.assert_array_equal(net.run(feeds)[OUT], dsp.run(feeds)[OUT])
    q8 = models["q8"]
    a, d = load_network(q8, "aip"), load_network(q8, "dsp")
    for feeds in x:  # 8-bit biases re-expressed in the accumulator scale: within an LSB or so
        assert sqnr_db(d.run(feeds)[OUT], a.run(feeds)[OUT]) > 30


def _patched_record(c: Container, layer: str, section: str, change) -> Container:
    """``c`` with one section of an HTA record changed in place (same size)."""
    import struct

    data = bytearray(c.records["hta_0.bin"])
    (length,) = struct.unpack_from("<I", data, 8)
    index = json.loads(bytes(data[12 : 12 + length]))
    base = 12 + length + (-(12 + length)) % 16
    sec = next(e for e in index["layers"] if e["node"] == layer)["sections"][section]
    start, end = base + sec["offset"], base + sec["offset"] + sec["nbytes"]
    values = np.frombuffer(bytes(data[start:end]), dtype=np.dtype(sec["dtype"]).newbyteorder("<"))
    data[start:end] = change(values.copy()).astype(values.dtype).tobytes()
    return replace(c, records={**c.records, "hta_0.bin": bytes(data)})


@pytest.mark.parametrize(
    ("layer", "section", "change"),
    [
        ("conv", "bias", lambda b: b + 2**12),  # int32 bias in accumulator units
        ("conv", "shift", lambda s: s + 1),  # halves the requantized output
        ("fc", "multiplier", lambda m: m // 2 + 2**29),  # 3/4 of the scale
        ("fc", "bias", lambda b: b - 2**10),
    ],
)
def test_aip_runs_hta_layers_from_the_records_numbers(models, layer, section, change):
    # The records hold the layer's own bias, multiplier and shift: the AIP must use them
    # (with the container's numbers it would just be the DSP). Change one: the output moves.
    q = models["all_hta"]
    aip, dsp = load_network(q, "aip"), load_network(q, "dsp")
    assert (
        "2 layer(s) run from the HTA records; 0 layer(s) in HNN subnets (DSP semantics)"
        in aip.notes
    )
    changed = load_network(_patched_record(q, layer, section, change), "aip")
    moved = 0
    for feeds in _feeds(2):
        same = aip.run(feeds)[OUT]
        np.testing.assert_array_equal(same, dsp.run(feeds)[OUT])
        moved += int(np.count_nonzero(changed.run(feeds)[OUT] != same))
    assert moved > 0


def test_aip_runs_16_bit_layers_with_dsp_semantics(models):
    # The HTA is 8-bit only: a 16-bit layer with a record (quantize --enable-hta at 16
    # bits) runs like the DSP, not from its record's int32 accumulator (off by tens of dB).
    calib = _feeds(8, seed=11)
    opts = QuantOptions(enable_hta=True, weights_bitwidth=16, act_bitwidth=16, bias_bitwidth=32)
    q = quantize_container(models["all_hta_float"], calib, opts).container
    aip, dsp = load_network(q, "aip"), load_network(q, "dsp")
    assert any(n.startswith("0 layer(s) run from the HTA records") for n in aip.notes)
    for feeds in _feeds(2):
        np.testing.assert_array_equal(aip.run(feeds)[OUT], dsp.run(feeds)[OUT])


def test_aip_refuses_stale_records(models):
    q = models["q8"]
    params = dict(q.graph.params)
    params["w"] = (params["w"].astype(np.int32) ^ 1).astype(params["w"].dtype)
    graph = q.graph.copy()
    graph.params = params
    with pytest.raises(RuntimeRefused, match="differ from the container"):
        load_network(replace(q, graph=graph), "aip")
    doc = json.loads(q.records["subnets.json"])
    doc["subnets"][0]["nodes"][0] = "renamed"
    records = {**q.records, "subnets.json": json.dumps(doc).encode()}
    with pytest.raises(RuntimeRefused, match="do not match its graph"):
        load_network(replace(q, records=records), "aip")


def test_aip_batch_above_one_needs_every_layer_on_the_hta(models):
    with pytest.raises(RuntimeRefused, match="every layer is in an HTA subnet"):
        check_runtime(models["q8"], "aip", batch=2)
    net = load_network(models["all_hta"], "aip", batch=2)  # every layer on the HTA: fine
    assert net.batch == 2


def _subnets(c: Container, edit) -> Container:
    """``c`` with its ``subnets.json`` edited in place by ``edit(doc)``."""
    doc = json.loads(c.records["subnets.json"])
    edit(doc)
    return replace(c, records={**c.records, "subnets.json": json.dumps(doc).encode()})


def _records(c: Container, **changes: bytes | None) -> Container:
    records = {**c.records, **{k.replace("__", "."): v for k, v in changes.items()}}
    return replace(c, records={k: v for k, v in records.items() if v is not None})


def _cut_last(doc) -> None:  # the last subnet loses its last node
    last = doc["subnets"][-1]
    last["layers"][1] -= 1
    last["nodes"].pop()


def _bad_record_layer(c: Container) -> bytes:
    from workbench.engine.quant.hta import HTA_MAGIC

    data = c.records["hta_0.bin"]
    assert data.startswith(HTA_MAGIC)
    return data.replace(b'"conv"', b'"cnov"', 1)


STALE = r"the container's HTA records do not match its graph; quantize again with --enable-hta$"
# (model, batch, how the container is spoiled, the refusal). Each row is one check of
# hta_plan / load: delete the check and its row is accepted.
AIP_REFUSALS = {
    "float container": ("all_hta_float", 1, lambda c: c, "does not support non-quantized"),
    "no records": (
        "plain",
        1,
        lambda c: c,
        r"^AIP needs the HTA subnet records that `workbench quantize --enable-hta` generates, and this container has none: quantize again with --enable-hta$",
    ),
    "subnets not JSON": (
        "all_hta",
        1,
        lambda c: _records(c, subnets__json=b"{"),
        "HTA records are malformed",
    ),
    "no subnet list": (
        "all_hta",
        1,
        lambda c: _records(c, subnets__json=b'{"subnets": 3}'),
        r"^the container's HTA records are malformed \(no subnets\)$",
    ),
    "truncated subnet list": (
        "q8",
        1,
        lambda c: _subnets(c, lambda d: d["subnets"].pop()),
        STALE,
    ),
    "last subnet cut short": ("q8", 1, lambda c: _subnets(c, _cut_last), STALE),
    "truncated, all HTA, batch 2": (
        "all_hta",
        2,
        lambda c: _subnets(c, _cut_last),
        STALE,
    ),
    "extra subnet": (
        "q8",
        1,
        lambda c: _subnets(
            c,
            lambda d: d["subnets"].append(
                {**d["subnets"][-1], "layers": [d["subnets"][-1]["layers"][1]] * 2}
            ),
        ),
        STALE,
    ),
    "extra subnet past the graph": (
        "all_hta",
        1,
        lambda c: _subnets(
            c,
            lambda d: d["subnets"].append(
                {"kind": "hnn", "layers": [4, 5], "nodes": ["ghost"], "record": None}
            ),
        ),
        STALE,
    ),
    "gap between subnets": (
        "q8",
        1,
        lambda c: _subnets(c, lambda d: d["subnets"][1]["layers"].__setitem__(0, 99)),
        STALE,
    ),
    "unknown subnet kind": (
        "q8",
        1,
        lambda c: _subnets(c, lambda d: d["subnets"][0].__setitem__("kind", "npu")),
        STALE,
    ),
    "subnet not an object": (
        "q8",
        1,
        lambda c: _subnets(c, lambda d: d["subnets"].__setitem__(0, 7)),
        STALE,
    ),
    "renamed node": (
        "all_hta",
        1,
        lambda c: _subnets(c, lambda d: d["subnets"][0]["nodes"].__setitem__(1, "x")),
        STALE,
    ),
    "partial list at batch 2": (
        "q8",
        2,
        lambda c: c,
        "every layer is in an HTA subnet; layers from 'softmax'",
    ),
    "HNN relabelled HTA at batch 2": (
        "q8",
        2,
        lambda c: _subnets(c, lambda d: d["subnets"][1].__setitem__("kind", "hta")),
        r"^HTA subnet 1 has no record None; quantize again with --enable-hta$",
    ),
    "record missing": (
        "all_hta",
        1,
        lambda c: _records(c, hta_0__bin=None),
        r"^HTA subnet 0 has no record 'hta_0.bin'; quantize again with --enable-hta$",
    ),
    "record garbage": (
        "all_hta",
        1,
        lambda c: _records(c, hta_0__bin=b"not a record"),
        r"^HTA record 'hta_0.bin' is malformed \(not an HTA record \(bad magic\)\); quantize again",
    ),
    "record names another layer": (
        "all_hta",
        1,
        lambda c: _records(c, hta_0__bin=_bad_record_layer(c)),
        "names unknown layer 'cnov'; quantize again with --enable-hta$",
    ),
    "subnet with three bounds": (
        "q8",
        1,
        lambda c: _subnets(c, lambda d: d["subnets"][0]["layers"].append(5)),
        STALE,
    ),
    "empty subnet": (
        "q8",
        1,
        lambda c: _subnets(
            c,
            lambda d: d["subnets"].insert(
                1, {"kind": "hnn", "layers": [4, 4], "nodes": [], "record": None}
            ),
        ),
        STALE,
    ),
    "record name not a string": (
        "all_hta",
        1,
        lambda c: _subnets(c, lambda d: d["subnets"][0].__setitem__("record", ["hta_0.bin"])),
        r"^HTA subnet 0 has no record \['hta_0.bin'\]; quantize again with --enable-hta$",
    ),
    "record names a layer of another subnet": (
        "q8",
        1,
        lambda c: _records(
            c, hta_0__bin=_edited_index(c, lambda e: e.__setitem__("node", "softmax"), "fc")
        ),
        r"^HTA record 'hta_0.bin' names unknown layer 'softmax'; quantize again",
    ),
    "an HNN subnet first, the record naming its layer": (
        "all_hta",
        1,
        lambda c: _subnets(c, _hnn_first),
        r"^HTA record 'hta_0.bin' names unknown layer 'conv'; quantize again",
    ),
    "record layer without its multiplier": (
        "all_hta",
        1,
        lambda c: _records(
            c, hta_0__bin=_edited_index(c, lambda e: e["sections"].pop("multiplier"), "conv")
        ),
        r"^HTA record 'hta_0.bin': layer 'conv' is malformed \('multiplier'\); quantize again",
    ),
}


def _hnn_first(doc) -> None:
    """The first layer moved to an HNN subnet of its own; the HTA subnet keeps its record
    (whose index still lists that layer): every HTA subnet's record is read, not only a
    leading one."""
    (hta,) = doc["subnets"]
    first = {"index": 0, "kind": "hnn", "layers": [0, 1], "nodes": hta["nodes"][:1], "record": None}
    rest = {**hta, "index": 1, "layers": [1, hta["layers"][1]], "nodes": hta["nodes"][1:]}
    doc["subnets"] = [first, rest]


def _edited_index(c: Container, edit, layer: str) -> bytes:
    """``hta_0.bin`` with the index entry of ``layer`` edited (sections kept in place)."""
    import struct

    data = c.records["hta_0.bin"]
    (length,) = struct.unpack_from("<I", data, 8)
    index = json.loads(data[12 : 12 + length])
    edit(next(e for e in index["layers"] if e["node"] == layer))
    base = 12 + length + (-(12 + length)) % 16
    text = json.dumps(index).encode()
    head = data[:8] + struct.pack("<I", len(text)) + text
    return head + b"\0" * ((-len(head)) % 16) + data[base:]


@pytest.mark.parametrize("case", list(AIP_REFUSALS), ids=list(AIP_REFUSALS))
def test_aip_refusal_table(models, case):
    model, batch, spoil, message = AIP_REFUSALS[case]
    spoiled = spoil(models[model])
    with pytest.raises(RuntimeRefused, match=message):
        load_network(spoiled, "aip", batch=batch)
    if model != "plain" and case != "record names another layer":
        # refused before any init work (records are only parsed by the init itself)
        if "record" not in case and "HTA at batch" not in case and "layer" not in case:
            with pytest.raises(RuntimeRefused, match=message):
                check_runtime(spoiled, "aip", batch=batch)


def test_check_runtime_defaults_and_the_batch_1_rule(models):
    # batch defaults to 1: the AIP takes a container with HNN subnets at batch 1
    check_runtime(models["q8"], "aip")
    check_runtime(models["q8"], "dsp", cpu_fxp=False)
    two = replace(models["float"], graph=resize_batch(models["float"].graph, 2))
    for runtime in ("cpu", "dsp"):
        with pytest.raises(
            BadInput,
            match=r"batch is 2; runtimes resize from batch 1 only .convert with batch 1, then use --batch.$",
        ):
            check_runtime(two, runtime)
    with pytest.raises(BadInput, match=r"^--cpu-fxp applies to the cpu runtime only, not dsp$"):
        check_runtime(models["q8"], "dsp", cpu_fxp=True)


def test_aip_tampered_record_is_refused_by_the_reader(models, tmp_path):
    """A record changed on disk with its hash left stale: the container reader refuses it
    (records are checked like every other entry); re-signed, the HTA weights check does."""
    import hashlib
    import zipfile

    from workbench.engine.container import read_container, write_container
    from workbench.errors import ContainerError

    path = tmp_path / "hta.dlc"
    write_container(path, models["all_hta"])
    with zipfile.ZipFile(path) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    record = bytearray(entries["records/hta_0.bin"])
    weight = models["all_hta"].graph.params["w"].tobytes()  # the conv's packed weights
    at = bytes(record).index(weight)
    record[at + 5] ^= 0x01
    entries["records/hta_0.bin"] = bytes(record)

    def save(target: Path, items: dict[str, bytes]) -> None:
        with zipfile.ZipFile(target, "w") as zf:
            for name, data in items.items():
                zf.writestr(name, data)

    stale = tmp_path / "stale.dlc"
    save(stale, entries)
    with pytest.raises(ContainerError, match=r"records/hta_0.bin.* sha256 does not match"):
        read_container(stale)
    manifest = json.loads(entries["manifest.json"])
    for e in manifest["entries"]:
        if e["name"] == "records/hta_0.bin":
            e["sha256"] = hashlib.sha256(entries["records/hta_0.bin"]).hexdigest()
    resigned = tmp_path / "resigned.dlc"
    save(resigned, {**entries, "manifest.json": json.dumps(manifest).encode()})
    c = read_container(resigned)
    with pytest.raises(RuntimeRefused, match="HTA record 'hta_0.bin'"):
        load_network(c, "aip")


# --- options and batch -------------------------------------------------------------------


def test_bad_options_are_bad_input(models):
    with pytest.raises(BadInput, match="unknown runtime"):
        load_network(models["float"], "npu")
    with pytest.raises(BadInput, match="cpu runtime only"):
        load_network(models["plain"], "dsp", cpu_fxp=True)
    with pytest.raises(BadInput, match="positive"):
        load_network(models["float"], "cpu", batch=0)


BATCHABLE = [
    ("float", "cpu", False),
    ("plain", "cpu", False),
    ("plain", "cpu", True),
    ("float", "gpu", False),
    ("float", "gpu_fp16", False),
    ("plain", "gpu_fp16", False),
    ("float", "dsp", False),
    ("plain", "dsp", False),
    ("all_hta", "aip", False),
]


@pytest.mark.parametrize("model, runtime, fxp", BATCHABLE)
def test_batch_resize_gives_each_sample_its_batch_1_outputs(models, model, runtime, fxp):
    c = models[model]
    feeds = _feeds(3)
    one = load_network(c, runtime, cpu_fxp=fxp)
    three = load_network(c, runtime, batch=3, cpu_fxp=fxp)
    assert three.batch == 3 and "resize" in three.init_breakdown_ms
    out = three.run({"x": np.concatenate([f["x"] for f in feeds])})[OUT]
    assert out.shape[0] == 3
    for i, f in enumerate(feeds):
        np.testing.assert_allclose(out[i : i + 1], one.run(f)[OUT], rtol=1e-5, atol=1e-6)


def _scalar_model(path: Path) -> Path:
    """Relu → ReduceMax and ReduceSum to 0-d tensors → Add: a scalar output; the maximum
    starts from a -inf constant, as jax2tf writes it (``Max(-inf, ReduceMax(x))``)."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("ReduceMax", ["r"], ["m0"], name="max", keepdims=0),
        helper.make_node("Max", ["start", "m0"], ["m"], name="from_minus_inf"),
        helper.make_node("ReduceSum", ["r"], ["s"], name="sum", keepdims=0),
        helper.make_node("Add", ["m", "s"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "scalar",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        [numpy_helper.from_array(np.array(-np.inf, np.float32), "start")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_reductions_to_a_scalar_run_on_every_runtime(tmp_path):
    fc = _container(import_onnx(_scalar_model(tmp_path / "scalar.onnx")))
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.standard_normal((1, 6)).astype(np.float32)} for _ in range(4)]
    q = quantize_container(fc, feeds, QuantOptions(enable_hta=True)).container
    want = Plan(fc.graph).run(feeds[0])["y"]
    ran = []
    for container in (fc, q):
        for runtime in RUNTIMES:
            try:
                check_runtime(container, runtime)
            except RuntimeRefused:
                continue  # AIP with the float container: the guide's rule
            y = load_network(container, runtime).run(feeds[0])["y"]
            assert np.shape(y) == () and abs(float(y) - float(want)) < 0.05 * abs(float(want))
            ran.append((container.quantized, runtime))
    assert len(ran) == 2 * len(RUNTIMES) - 1


def test_first_hnn_layer_names_the_first_layer_outside_the_hta() -> None:
    from workbench.engine.runtimes.hta_plan import first_hnn_layer

    hta = {"kind": "hta", "layers": [0, 2], "nodes": ["a", "b"]}
    hnn = {"kind": "hnn", "layers": [2, 4], "nodes": ["c", "d"]}
    assert first_hnn_layer({"subnets": [hta, hnn]}) == "c"
    assert first_hnn_layer({"subnets": [hta]}) == "?"  # every layer on the HTA
    assert first_hnn_layer({"subnets": []}) == "?"
    assert first_hnn_layer({"subnets": [hta, {**hnn, "nodes": []}]}) == "?"
