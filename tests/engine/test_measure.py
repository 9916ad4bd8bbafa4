"""Measurements: what they contain, and the guide's effects measured on a model big enough.

Timing assertions compare directions with margins on a model of several MB, never
absolute times (the test machine is shared and loaded).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.modelzoo import small_cnn
from workbench.engine.container import Container, make_manifest, write_container
from workbench.engine.measure import init_network, measure, reference_outputs
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.quantizer import QuantOptions, quantize_container
from workbench.errors import BadInput, RuntimeRefused


def _feeds(n: int, shape=(1, 3, 8, 8), name: str = "x") -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    return [{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(n)]


def _write(path: Path, graph, quantize: bool = False, samples=None) -> Path:
    c = Container(make_manifest(converter={"command": "test"}), graph)
    if quantize:
        c = quantize_container(c, samples, QuantOptions()).container
    write_container(path, c)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("measure")
    graph = import_onnx(small_cnn(d / "s.onnx"))
    feeds = _feeds(5)
    return {
        "float": _write(d / "s.dlc", graph),
        "quant": _write(d / "q.dlc", graph, True, feeds),
        "feeds": feeds,
    }


def test_measurement_fields(small):
    feeds = small["feeds"]
    ref = reference_outputs(small["float"], feeds)
    labels = [int(np.argmax(r["prob:0"])) for r in ref]
    m = measure(
        small["quant"], "dsp", feeds, iterations=4, reference=ref, labels=labels, per_layer=True
    )
    assert list(m.init_breakdown_ms)[:2] == ["load", "deserialize"]
    assert math.isclose(m.init_ms, sum(m.init_breakdown_ms.values()))
    assert math.isclose(m.create_ms, m.init_breakdown_ms["plan"])
    assert m.init_peak_bytes > 0 and m.create_peak_bytes > 0
    assert m.size_bytes == small["quant"].stat().st_size and m.quantized
    lat = m.latency_ms
    assert 0 < lat.min <= lat.p50 <= lat.p90 and lat.min <= lat.mean
    a = m.accuracy
    assert a.output == "prob:0" and a.samples == 5 and a.runtime == "dsp" and a.usable
    assert 15 < a.value("sqnr") < 200 and 0.9 < a.value("cosine") <= 1
    assert a.value("max-abs") > 0 and 0 < a.value("mae") <= a.value("max-abs")
    assert a.value("top1") == a.value("label-accuracy")  # the labels are the float's top-1
    assert set(m.layer_ms) >= {"conv/1", "fc", "softmax"}
    # The DSP runs a quantized container natively: only reading the file is device work.
    assert math.isclose(m.device_init_ms, m.init_breakdown_ms["load"] + m.init_breakdown_ms[
        "deserialize"])  # fmt: skip
    assert math.isclose(m.emulator_setup_ms, m.init_breakdown_ms["plan"])
    assert 0 < m.device_init_peak_bytes <= m.init_peak_bytes


def test_float_on_cpu_against_itself_is_exact(small):
    feeds = small["feeds"]
    ref = reference_outputs(small["float"], feeds)
    m = measure(small["float"], "cpu", feeds, iterations=1, reference=ref)
    assert m.accuracy.value("sqnr") == math.inf and m.accuracy.value("top1") == 1.0
    assert not m.quantized and m.mode == "float32"


def test_batch_measurement_keeps_one_output_per_sample(small):
    feeds = small["feeds"]  # 5 samples in batches of 2: the last one padded
    ref = reference_outputs(small["float"], feeds)
    m = measure(small["float"], "cpu", feeds, iterations=2, batch=2, reference=ref)
    assert m.batch == 2 and m.accuracy.samples == 5 and m.accuracy.value("sqnr") > 100


def test_refusal_and_bad_arguments(small):
    feeds = small["feeds"]
    with pytest.raises(RuntimeRefused):
        measure(small["float"], "aip", feeds)
    with pytest.raises(BadInput, match="labels"):
        measure(small["float"], "cpu", feeds, labels=[1, 2])
    with pytest.raises(BadInput, match="iterations"):
        measure(small["float"], "cpu", feeds, iterations=0)


def test_init_network_reads_the_file_first(small):
    net = init_network(small["quant"], "cpu")
    assert list(net.init_breakdown_ms) == ["load", "deserialize", "dequantize", "plan"]


# --- the guide's effects, on ~3 M parameters (12 MB as float32) ---------------------------

HIDDEN = 1024


def _mlp(path: Path, hidden: int = HIDDEN) -> Path:
    rng = np.random.default_rng(0)
    inits, nodes, x = [], [], "x"
    for i in range(3):
        w = (rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
        b = (rng.standard_normal(hidden) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"g{i}"], transB=1))
        nodes.append(helper.make_node("Relu", [f"g{i}"], [f"r{i}"]))
        x = f"r{i}"
    wo = (rng.standard_normal((10, hidden)) / np.sqrt(hidden)).astype(np.float32)
    inits.append(numpy_helper.from_array(wo, "wo"))
    nodes.append(helper.make_node("Gemm", [x, "wo"], ["y"], transB=1))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    graph = import_onnx(_mlp(d / "mlp.onnx"))
    feeds = _feeds(2, shape=(1, HIDDEN))
    return {
        "float": _write(d / "mlp.dlc", graph),
        "quant": _write(d / "mlp_q.dlc", graph, True, feeds),
        "feeds": feeds[:1],
    }


def _measure(big, which: str, runtime: str, **kw):
    return measure(big[which], runtime, big["feeds"], iterations=1, init_repeats=5, **kw)


def test_quantized_file_is_at_most_0_3x_the_float_one(big):
    assert big["quant"].stat().st_size <= 0.3 * big["float"].stat().st_size


def test_dsp_with_a_float_container_quantizes_at_init_with_a_higher_peak(big):
    """The float container is quantized at init: a phase of its own and a higher peak.

    The times are compared by ``tests/perf/guide_init.py`` (a timed unit test here would
    measure the neighbours on a shared machine).
    """
    q = _measure(big, "quant", "dsp")
    f = _measure(big, "float", "dsp")
    assert "quantize" in f.init_breakdown_ms and "quantize" not in q.init_breakdown_ms
    assert f.init_breakdown_ms["quantize"] > 0
    assert f.init_peak_bytes > 1.15 * q.init_peak_bytes
    # What the device does: read a 4x larger file and quantize every parameter.
    assert f.device_init_peak_bytes > 3 * q.device_init_peak_bytes
    # The float32 copies of the weights the integer plan lays out for BLAS are not.
    assert q.device_init_peak_bytes < 0.5 * q.init_peak_bytes


def test_cpu_dequantizes_a_quantized_container_at_init(big):
    """The runtime's own init (after the file is read) is longer and allocates more.

    The whole init is *not* asserted longer: reading and verifying a 4x larger float
    file costs more here than dequantizing every parameter (README: measurements).
    """
    q = _measure(big, "quant", "cpu")
    f = _measure(big, "float", "cpu")
    assert "dequantize" in q.init_breakdown_ms and "dequantize" not in f.init_breakdown_ms
    assert q.init_breakdown_ms["dequantize"] > 0  # times compared: tests/perf/guide_init.py
    assert q.create_peak_bytes > 0.8 * 4 * 3 * HIDDEN * HIDDEN  # float32 copies of the weights
    assert q.create_peak_bytes > 4 * f.create_peak_bytes
