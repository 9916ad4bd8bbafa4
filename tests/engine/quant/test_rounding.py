"""Rounding as a recorded semantic: the container's mode, honoured by every path.

The bit-exactness check runs on real inputs: the demo's validation images, whose
normalized pixels sit on ties of the input encoding (random floats would not show it).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.quant.test_quantizer import conv_net, float_container, samples
from workbench.data import demo_model_path, load_demo_images
from workbench.engine.container import read_container, write_container
from workbench.engine.onnx_import import import_onnx
from workbench.engine.quant.encoding import Encoding, quantize
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.int_exec import IntegerPlan
from workbench.engine.quant.qdq import export_qdq, rounding_note
from workbench.engine.quant.quantizer import QuantOptions, quantize_container
from workbench.errors import BadInput, ContainerError

ort = pytest.importorskip("onnxruntime")
OUTPUTS = ["logits", "probabilities"]


def _demo(rounding: str, bias_bitwidth: int = 32):
    graph = import_onnx(demo_model_path())
    calibration = [{"image": x[None]} for x in load_demo_images("calibration")]
    options = QuantOptions(rounding=rounding, bias_bitwidth=bias_bitwidth)
    return quantize_container(float_container(graph), calibration, options).container


def _qdq_session(container):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.add_session_config_entry("session.disable_quant_qdq", "1")  # the QDQ semantics
    model = export_qdq(container).SerializeToString()
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def _mismatches(container, images) -> int:
    sess = _qdq_session(container)
    plan = IntegerPlan(container, keep=OUTPUTS)
    encs = {o: Encoding.from_dict(container.encodings[o]) for o in OUTPUTS}
    different = 0
    for x in images:
        feed = {"image": x[None]}
        ours = plan.run(feed)
        theirs = dict(zip(OUTPUTS, sess.run(OUTPUTS, feed), strict=True))
        for o in OUTPUTS:
            a = quantize(ours[o], encs[o], container.rounding)
            b = quantize(theirs[o], encs[o], container.rounding)
            different += int(np.count_nonzero(a != b))
    return different


def test_half_even_qdq_export_equals_the_integer_path_on_the_demo_images():
    images = load_demo_images("validation")
    q = _demo("half-even")
    assert q.rounding == "half-even" and rounding_note(q) is None
    # the inputs do sit on ties of the input encoding
    enc = Encoding.from_dict(q.encodings["image"])
    v = images / np.float32(enc.delta)
    assert np.count_nonzero(np.abs(v - np.trunc(v)) == 0.5) > 100_000
    assert _mismatches(q, images) == 0  # 200 images x 20 output codes, to the bit
    # and the fake-quant path equals it too
    plan, sess = FakeQuantPlan(q, keep=OUTPUTS), _qdq_session(q)
    for x in images[:20]:
        got = plan.run({"image": x[None]})
        want = sess.run(OUTPUTS, {"image": x[None]})
        for o, w in zip(OUTPUTS, want, strict=True):
            np.testing.assert_array_equal(got[o], w)


def test_half_away_differs_from_onnx_at_the_ties():
    """The default (the vendor's rule) is not ONNX's: the export says so, and it shows."""
    q = _demo("half-away")
    assert q.rounding == "half-away" and "half to even" in rounding_note(q)
    meta = {p.key: p.value for p in export_qdq(q).metadata_props}
    assert meta["workbench.rounding"] == "half-away"
    assert _mismatches(q, load_demo_images("validation")[:20]) > 0


def test_the_mode_is_recorded_and_read_back(tmp_path):
    g = conv_net(tmp_path)
    q = quantize_container(
        float_container(g), samples(g, 2), QuantOptions(rounding="half-even")
    ).container
    write_container(tmp_path / "q.dlc", q)
    back = read_container(tmp_path / "q.dlc")
    assert back.manifest["rounding"] == "half-even" and back.rounding == "half-even"
    assert IntegerPlan(back).rounding == "half-even" and FakeQuantPlan(back).rounding == "half-even"
    # a container from before the mode was recorded rounds half away from zero
    del back.manifest["rounding"]
    assert back.rounding == "half-away"
    back.manifest["rounding"] = "stochastic"
    with pytest.raises(ContainerError, match="unknown rounding 'stochastic'"):
        write_container(tmp_path / "bad.dlc", back)
    with pytest.raises(BadInput, match="--rounding must be one of half-away, half-even"):
        QuantOptions(rounding="nearest")


def test_every_path_rounds_ties_by_the_mode(tmp_path):
    """Inputs on exact ties: the integer and fake-quant paths follow the container's mode."""
    g = conv_net(tmp_path)
    data = samples(g, 2)
    qs = {
        mode: quantize_container(
            float_container(g), data, QuantOptions(rounding=mode, bias_bitwidth=32)
        ).container
        for mode in ("half-away", "half-even")
    }
    enc = Encoding.from_dict(qs["half-even"].encodings["x"])
    assert enc == Encoding.from_dict(qs["half-away"].encodings["x"])
    rng = np.random.default_rng(4)
    k = rng.integers(-100, 100, size=(1, 3, 8, 8))
    x = ((k + 0.5) * enc.delta).astype(np.float32)  # every value a tie (or within float error)
    feed = {"x": x}
    for mode, q in qs.items():
        codes = IntegerPlan(q).quantize_inputs(feed)["x"]
        np.testing.assert_array_equal(codes, quantize(x, enc, mode))
    assert not np.array_equal(
        IntegerPlan(qs["half-away"]).quantize_inputs(feed)["x"],
        IntegerPlan(qs["half-even"]).quantize_inputs(feed)["x"],
    )
    for q in qs.values():  # int and fake-quant agree with each other in either mode
        a = IntegerPlan(q).run(feed)["y"]
        b = FakeQuantPlan(q).run(feed)["y"]
        np.testing.assert_allclose(a, b, atol=1.01 * Encoding.from_dict(q.encodings["y"]).delta)


def test_every_integer_kernel_is_handed_the_mode(tmp_path, monkeypatch):
    """Each requantizer, table and input quantization of an integer plan of a half-even
    container rounds half-even (a kernel forgetting the mode would round half away)."""
    from tests.engine.quant.qfixtures import (
        attention_model,
        cnn_model,
        feeds_for,
        load,
        quantize_for_tests,
    )
    from workbench.engine.quant import encoding, requant

    modes: list[str] = []
    build, shift, levels = (
        requant.Requantizer.build,
        requant.rounding_shift,
        encoding._rounded_levels,
    )

    def spy_build(*args, **kwargs):
        modes.append(kwargs.get("rounding", "half-away"))
        return build(*args, **kwargs)

    def spy_shift(p, s, rounding="half-away"):
        modes.append(rounding)
        return shift(p, s, rounding)

    def spy_levels(x, enc, rounding="half-away"):
        modes.append(rounding)
        return levels(x, enc, rounding)

    containers = []
    for path in (cnn_model(tmp_path / "cnn.onnx"), attention_model(tmp_path / "att.onnx")):
        graph = load(path)
        q = quantize_for_tests(graph, feeds_for(graph, 2))
        q.manifest["rounding"] = "half-even"
        containers.append((q, feeds_for(graph, 1, seed=3)[0]))
    monkeypatch.setattr(requant.Requantizer, "build", staticmethod(spy_build))
    monkeypatch.setattr(requant, "rounding_shift", spy_shift)
    monkeypatch.setattr(encoding, "_rounded_levels", spy_levels)
    for q, feed in containers:
        IntegerPlan(q).run(feed)
    assert len(modes) > 30 and set(modes) == {"half-even"}
