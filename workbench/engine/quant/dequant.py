"""What runtimes do to parameters at initialisation (SPEC §2), for real, whole tensors at once.

* ``dequantize_graph``: the CPU runtime without fixed-point mode and the GPU runtime,
  given a quantized container, dequantize every quantized parameter
  (``(q + offset) * delta``, per channel where the encoding is) and run in float.
* ``quantize_float_params_for_dsp``: the DSP runtime, given a float container,
  quantizes every data parameter with the tf encoding of its own min/max.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from workbench.engine.container import Container
from workbench.engine.graph import Graph, TensorInfo
from workbench.engine.quant.encoding import dequantize, encoding_from_dict, quantize, tf_encoding_of
from workbench.engine.quant.roles import param_roles
from workbench.errors import BadInput


def data_params(graph: Graph) -> list[str]:
    """The float parameters the quantizer would quantize (weights, biases, data constants).

    One definition with the quantizer (``roles.param_roles``): shapes, Resize scales,
    Clip bounds, Pad values and the like are settings, not data, and stay float.
    """
    roles = param_roles(graph)
    return [name for name in graph.params if name in roles]


def dequantize_params(
    params: Mapping[str, np.ndarray], param_encodings: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Every parameter with an encoding dequantized to float32; the others as they are."""
    out = dict(params)
    for name, data in param_encodings.items():
        if name not in params:
            raise BadInput(f"encoding given for unknown parameter {name!r}")
        out[name] = dequantize(params[name], encoding_from_dict(dict(data)))
    return out


def dequantize_graph(container: Container) -> Graph:
    """A float graph from a quantized container: every quantized parameter dequantized."""
    if not container.params_loaded:
        raise BadInput("the container was read without its parameters (load_params=False)")
    graph = container.graph.copy()
    graph.params = dequantize_params(graph.params, container.param_encodings)
    for name in container.param_encodings:
        if name in graph.tensors:
            graph.tensors[name] = TensorInfo(name, tuple(graph.params[name].shape), "float32")
    return graph


def quantize_float_params_for_dsp(
    graph: Graph, bitwidth: int = 8
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """``(params, param_encodings)``: each data parameter tf-quantized per tensor, at ``bitwidth``.

    Non-data parameters (int64 shapes, float settings) come back unchanged.
    """
    params = dict(graph.params)
    encodings: dict[str, dict[str, Any]] = {}
    for name in data_params(graph):
        p = graph.params[name]
        if p.size == 0:
            continue
        enc = tf_encoding_of(p, bitwidth, name)
        params[name] = quantize(p, enc)
        encodings[name] = enc.to_dict()
    return params, encodings
