"""Conformance: ONNX's backend-test models through ``import_onnx`` and ``Plan``.

Every model under ``onnx/backend/test/data/{pytorch-converted,pytorch-operator,light}``
is imported, run by our executor, and compared with ONNX Runtime on the same
model and inputs, and with the expected outputs stored beside it.

* ``pytorch-*`` folders hold ``model.onnx`` and ``test_data_set_0/{input,output}_*.pb``.
  Most are ai.onnx opset 6, which the importer upgrades to opset 7 itself
  (``upgrade_old_opset``); ORT, which cannot run opset 6, gets the same upgraded model.
* ``light`` models replace their weights with ``ConstantOfShape`` (every weight is
  0.02, so the importer's constant folding builds them) and store only the expected
  output. Their input is the deterministic ramp ONNX's own backend runner feeds them
  (``arange(n) / n`` in the declared shape). With constant weights every class gets
  the same logit and the softmax output is uniform, so the logits (the Softmax's
  input) are compared too.

Tolerance: ``rtol = 1e-4`` and ``atol = 1e-4 * max(1, max|reference|)``. The absolute
part scales with the output's magnitude because long float32 reductions (VGG's
25088-wide Gemm, deep conv stacks with logits around 1e6) reorder accumulations
differently in BLAS and ORT; an error of a few ulps of the largest value is
expected there. The stored outputs were produced by other frameworks long ago, so
they are checked with ``rtol = 1e-3`` (ONNX's own backend-test tolerance) and the same
scaled ``atol``.

A model that uses operators we do not implement is skipped with the missing
operators as the reason (``pytest -rs``); ``conftest.py`` prints the coverage line.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from workbench.engine.executor import Plan
from workbench.engine.onnx_import import import_onnx, upgrade_old_opset
from workbench.errors import UnsupportedOperators

DATA = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data"
RTOL = 1e-4
ATOL = 1e-4
STORED_RTOL = 1e-3
# Light models whose float work is large; still part of the default run.
SLOW = {"light_vgg19", "light_bvlc_alexnet", "light_zfnet512", "light_densenet121"}


@dataclass(frozen=True)
class Case:
    """One backend-test model: where it is, its inputs and its expected outputs."""

    id: str
    model: Path
    inputs: tuple[Path, ...]
    outputs: tuple[Path, ...]
    ramp_input: bool = False


def _cases() -> list[Case]:
    cases = []
    for folder in ("pytorch-converted", "pytorch-operator"):
        for model in sorted(glob.glob(str(DATA / folder / "*" / "model.onnx"))):
            data = Path(model).parent / "test_data_set_0"
            cases.append(
                Case(
                    id=f"{folder}/{Path(model).parent.name}",
                    model=Path(model),
                    inputs=tuple(sorted(data.glob("input_*.pb"), key=_index)),
                    outputs=tuple(sorted(data.glob("output_*.pb"), key=_index)),
                )
            )
    for model in sorted(glob.glob(str(DATA / "light" / "light_*.onnx"))):
        stem = model[: -len(".onnx")]
        outputs = tuple(sorted(map(Path, glob.glob(f"{stem}_output_*.pb")), key=_index))
        cases.append(Case(f"light/{Path(stem).name}", Path(model), (), outputs, ramp_input=True))
    return cases


def _index(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def _params(cases: list[Case]) -> list:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.id.split("/")[1] in SLOW else [])
        for c in cases
    ]


CASES = _cases()


def _read_pb(path: Path) -> np.ndarray:
    return numpy_helper.to_array(onnx.load_tensor(str(path)))


def _model_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def _feeds(case: Case, model: onnx.ModelProto) -> dict[str, np.ndarray]:
    inputs = _model_inputs(model)
    if case.ramp_input:
        feeds = {}
        for v in inputs:
            shape = [
                d.dim_value if d.HasField("dim_value") else 1 for d in v.type.tensor_type.shape.dim
            ]
            n = int(np.prod(shape))
            feeds[v.name] = (np.arange(n).reshape(shape) / n).astype(np.float32)
        return feeds
    feeds = {}
    for i, path in enumerate(case.inputs):
        tensor = onnx.load_tensor(str(path))
        name = tensor.name if tensor.name in {v.name for v in inputs} else inputs[i].name
        feeds[name] = numpy_helper.to_array(tensor)
    return feeds


def _softmax_logits(model: onnx.ModelProto) -> dict[str, str]:
    """Graph outputs made by Softmax / LogSoftmax nodes -> their inputs (the logits)."""
    outs = {o.name for o in model.graph.output}
    return {
        n.output[0]: n.input[0]
        for n in model.graph.node
        if n.op_type in ("Softmax", "LogSoftmax") and n.output[0] in outs
    }


def _decided_by_rounding(logits: np.ndarray) -> bool:
    """Whether float32 rounding of ``logits`` alone can change their softmax.

    The logits are checked to ``atol = 1e-4 * max|logits|``; once that exceeds 1, two
    logits equal in exact arithmetic may differ by a few ulps (BLAS tiles round
    differently per output channel), which is e-fold in the softmax.
    """
    return ATOL * float(np.max(np.abs(logits))) > 1.0


def _ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray], extra: list[str]) -> dict:
    import onnxruntime as ort

    if extra:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in extra)
        # ORT wants typed graph outputs: take the types from shape inference.
        inferred = onnx.shape_inference.infer_shapes(model)
        types = {v.name: v.type for v in inferred.graph.value_info}
        for out in model.graph.output:
            if out.name in types and not out.type.HasField("tensor_type"):
                out.type.CopyFrom(types[out.name])
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def _assert_close(ours: np.ndarray, ref: np.ndarray, rtol: float, what: str) -> None:
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    if ref.dtype.kind in "fc":
        scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=ATOL * scale, err_msg=what)
    else:
        np.testing.assert_array_equal(ours, ref, err_msg=what)


@pytest.mark.parametrize("case", _params(CASES))
def test_model(case: Case) -> None:
    try:
        graph = import_onnx(case.model)
    except UnsupportedOperators as exc:
        pytest.skip(f"{case.id}: unsupported operators: {', '.join(sorted(exc.missing))}")

    model = upgrade_old_opset(onnx.load(str(case.model)))
    feeds = _feeds(case, model)
    logits = {
        out: p
        for out, p in _softmax_logits(model).items()
        if p in graph.producers() or p in graph.params
    }
    probes = list(dict.fromkeys(logits.values()))
    with np.errstate(all="ignore"):  # Sqrt/Pow of negative test data: NaN on both sides
        ours = Plan(graph, keep=probes).run(feeds)
    expected = _ort_run(model, feeds, probes)

    output_names = [o.name for o in model.graph.output]
    assert graph.output_names == output_names
    # light_squeezenet's constant-weight logits reach 1e10: their softmax is rounding noise
    # (checked for shape only), the logits themselves are still compared.
    noise = {o for o, p in logits.items() if _decided_by_rounding(expected[p])}
    for name in [*output_names, *probes]:
        if name in noise:
            assert np.shape(ours[name]) == expected[name].shape, name
            continue
        _assert_close(ours[name], expected[name], RTOL, f"{case.id}: {name} vs ONNX Runtime")
    for name, path_pb in zip(output_names, case.outputs, strict=False):
        if name not in noise:
            stored = _read_pb(path_pb)
            _assert_close(ours[name], stored, STORED_RTOL, f"{case.id}: {name} vs stored output")


def test_cases_found() -> None:
    """The backend data is where we look for it (else the suite would silently shrink)."""
    folders = {c.id.split("/")[0] for c in CASES}
    assert folders == {"pytorch-converted", "pytorch-operator", "light"}
    assert len(CASES) >= 100
