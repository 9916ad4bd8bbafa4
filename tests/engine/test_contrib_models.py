"""Transformer models as ONNX Runtime's transformer optimizer rewrites them (contrib
operators: EmbedLayerNormalization, SkipLayerNormalization, BiasGelu, FastGelu, ...),
imported and run against ONNX Runtime on the same optimized file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.engine import realworld_models as rw
from workbench.engine.executor import Plan
from workbench.engine.graph import walk_nodes
from workbench.engine.onnx_import import import_onnx

optimizer = pytest.importorskip("onnxruntime.transformers.optimizer")
pytest.importorskip("sympy")


@pytest.mark.parametrize(
    ("kind", "build", "fused"),
    [
        ("bert", lambda: rw.bert_encoder(batch=1, seq=7), {"EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu"}),
        ("gpt2", rw.gpt2_decoder, {"SkipLayerNormalization", "FastGelu", "LayerNormalization"}),
        ("vit", lambda: rw.vit(batch=1), {"SkipLayerNormalization", "BiasGelu"}),
    ],
)  # fmt: skip
def test_optimized_transformer_matches_onnx_runtime(kind, build, fused, tmp_path: Path):
    import onnxruntime as ort

    case = build()
    source = tmp_path / "model.onnx"
    onnx.save(case.model, str(source))
    optimized = tmp_path / "optimized.onnx"
    opt = optimizer.optimize_model(
        str(source), model_type=kind, num_heads=4, hidden_size=32, opt_level=0
    )
    opt.save_model_to_file(str(optimized))

    graph = import_onnx(optimized, case.input_dims)
    contrib = {n.op_type for _, n in walk_nodes(graph) if n.domain == "com.microsoft"}
    assert fused <= contrib
    ours = Plan(graph).run(case.feeds)
    session = ort.InferenceSession(str(optimized), providers=["CPUExecutionProvider"])
    for out, ref in zip(session.get_outputs(), session.run(None, case.feeds), strict=True):
        scale = max(1.0, float(np.abs(ref).max()))
        np.testing.assert_allclose(ours[out.name], ref, rtol=1e-4, atol=1e-5 * scale)
