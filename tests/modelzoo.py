"""Small models and inputs built in code, shared by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def small_cnn(path: Path, *, batch: int | str = 1, seed: int = 0) -> Path:
    """Conv → Relu → Reshape → Gemm → Softmax, with a Reshape that bakes batch 1 in."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    fc = rng.standard_normal((10, 4 * 6 * 6)).astype(np.float32) * 0.1
    inits = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b"),
        numpy_helper.from_array(fc, "fc"),
        numpy_helper.from_array(
            np.array([batch if isinstance(batch, int) else 1, -1], np.int64), "flat"
        ),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv/1", pads=[0, 0, 0, 0]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "flat"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["prob:0"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [helper.make_tensor_value_info("prob:0", TensorProto.FLOAT, [batch, 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def write_inputs(folder: Path, n: int) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(7)
    arrays = []
    for i in range(n):
        a = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
        a.astype("<f4").tofile(folder / f"in{i}.raw")
        arrays.append(a)
    listing = folder / "list.txt"
    listing.write_text("".join(f"in{i}.raw\n" for i in range(n)))
    return listing, arrays
