"""Export a quantized container as QDQ ONNX and hold ONNX Runtime's run against ours.

``check_qdq(container, samples)`` exports the container, checks the model, opens it in
ONNX Runtime on the QDQ semantics (``session.disable_quant_qdq = 1``: every Q and DQ runs
as the operator it is, no fused integer kernels; and no graph optimizations, whose
float rewrites round differently) and compares every output with the fake-quant path,
sample by sample, in steps (LSBs) of the output's encoding. Also used by the wild sweep
(``tests/wild/sweep.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx

from workbench.engine.container import Container
from workbench.engine.quant.fakequant import FakeQuantPlan
from workbench.engine.quant.qdq import export_qdq


@dataclass
class QdqCheck:
    """How ONNX Runtime's run of the export compares with the fake-quant path."""

    elements: int = 0
    exact: int = 0
    within_one: int = 0
    max_lsb: float = 0.0
    worst_output: str = ""
    nonfinite: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def exact_share(self) -> float:
        return self.exact / self.elements if self.elements else 1.0

    @property
    def within_one_share(self) -> float:
        return self.within_one / self.elements if self.elements else 1.0

    def summary(self) -> str:
        return (
            f"{self.elements} elements: {100 * self.exact_share:.3f}% equal, "
            f"{100 * self.within_one_share:.3f}% within 1 LSB, max {self.max_lsb:.2f} LSB"
            + (f" ({self.worst_output})" if self.worst_output else "")
        )


def ort_session(model: onnx.ModelProto, optimized: bool = False):
    """ONNX Runtime on the QDQ semantics; ``optimized`` keeps its float graph rewrites."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.disable_quant_qdq", "1")
    if not optimized:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def check_qdq(
    container: Container, samples: Sequence[dict[str, np.ndarray]], optimized: bool = False
) -> QdqCheck:
    """Export, load in ONNX Runtime, run every sample on both sides, count agreement."""
    model = export_qdq(container)
    onnx.checker.check_model(model)
    session = ort_session(model, optimized)
    plan = FakeQuantPlan(container)
    names = [o.name for o in session.get_outputs()]
    wanted = {i.name for i in session.get_inputs()}
    result = QdqCheck()
    for feeds in samples:
        ours = plan.run(feeds)
        theirs = session.run(names, {k: v for k, v in feeds.items() if k in wanted})
        for name, ref in zip(names, theirs, strict=True):
            mine = np.asarray(ours[name])
            if mine.shape != ref.shape:
                raise AssertionError(f"{name}: shape {mine.shape}, ONNX Runtime {ref.shape}")
            enc = container.encodings.get(name)
            if ref.dtype.kind != "f" or enc is None:
                same = mine == ref
                lsb = np.where(same, 0.0, np.inf)
            else:
                finite = np.isfinite(mine) & np.isfinite(ref)
                result.nonfinite += int(mine.size - np.count_nonzero(finite))
                lsb = np.abs(mine.astype(np.float64) - ref) / float(enc["delta"])
                lsb = np.where(finite, lsb, np.where(np.isnan(mine) == np.isnan(ref), 0.0, np.inf))
            result.elements += lsb.size
            result.exact += int(np.count_nonzero(lsb == 0))
            result.within_one += int(np.count_nonzero(lsb <= 1.0 + 1e-6))
            worst = float(lsb.max()) if lsb.size else 0.0
            if worst > result.max_lsb:
                result.max_lsb, result.worst_output = worst, name
    return result
