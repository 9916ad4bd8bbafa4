"""Check one operator against ONNX Runtime without going through the converter.

``check_op("Conv", {"x": x}, {"w": w}, strides=[2, 2])`` builds a one-node ONNX
model (runtime inputs as graph inputs, ``consts`` as initializers), runs it with
ONNX Runtime, builds the same node directly in our IR, runs our executor, and
asserts the outputs agree.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from workbench.engine.executor import Plan
from workbench.engine.graph import Graph, Node, TensorInfo

_ORT_SESSION_OPTIONS = None


def _ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def check_op(
    op_type: str,
    inputs: dict[str, np.ndarray | None],
    consts: dict[str, np.ndarray] | None = None,
    *,
    n_outputs: int = 1,
    opset: int = 17,
    input_order: list[str] | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    domain: str = "",
    **attrs,
) -> list[np.ndarray]:
    """Run ``op_type`` in ORT and in our engine, assert equality, return our outputs.

    ``inputs`` are runtime inputs; ``consts`` become initializers (known at plan
    time). ``input_order`` gives the node's input order over both (``""`` for an
    omitted optional input); by default runtime inputs come first, then consts.
    """
    consts = consts or {}
    order = input_order or [*inputs, *consts]
    out_names = [f"out{i}" for i in range(n_outputs)]
    onnx_inputs = [
        helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
        for k, v in inputs.items()
        if v is not None
    ]
    onnx_outputs = [onnx.ValueInfoProto(name=o) for o in out_names]
    node = helper.make_node(op_type, order, out_names, domain=domain or None, **attrs)
    inits = [numpy_helper.from_array(v, k) for k, v in consts.items()]
    g = helper.make_graph([node], "check", onnx_inputs, onnx_outputs, initializer=inits)
    opsets = [helper.make_opsetid("", opset)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    model = helper.make_model(g, opset_imports=opsets)
    model.ir_version = min(model.ir_version, 9)
    # Give the outputs their inferred types (ORT wants typed graph outputs).
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type for v in inferred.graph.value_info}
    types.update({v.name: v.type for v in inferred.graph.output})
    for out in model.graph.output:
        if out.name in types and types[out.name].tensor_type.elem_type:
            out.type.CopyFrom(types[out.name])
        elif domain:  # ONNX cannot infer contrib operators: they compute in float here
            out.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    feeds = {k: v for k, v in inputs.items() if v is not None}
    expected = _ort_run(model, feeds)

    ours_graph = Graph(
        name="check",
        inputs=[TensorInfo(k, tuple(v.shape), v.dtype.name) for k, v in feeds.items()],
        outputs=[TensorInfo(o, (), "float32") for o in out_names],
        nodes=[Node(op_type, op_type, tuple(order), tuple(out_names), dict(attrs), domain)],
        params=dict(consts),
        opset=opset,
    )
    got = Plan(ours_graph).run(feeds)
    results = []
    for name, exp in zip(out_names, expected, strict=True):
        ours = np.asarray(got[name])
        assert ours.shape == exp.shape, f"{op_type} {name}: shape {ours.shape} != {exp.shape}"
        assert ours.dtype == exp.dtype, f"{op_type} {name}: dtype {ours.dtype} != {exp.dtype}"
        if exp.dtype.kind in "fc":
            np.testing.assert_allclose(ours, exp, rtol=rtol, atol=atol, err_msg=f"{op_type} {name}")
        else:
            np.testing.assert_array_equal(ours, exp, err_msg=f"{op_type} {name}")
        results.append(ours)
    return results
