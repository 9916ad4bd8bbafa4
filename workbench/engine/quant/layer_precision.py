"""Per-layer precision: ``--layer-precision`` and ``--weights-bitwidth-override`` rules.

A rule is ``PATTERN=VALUE`` (parsed and checked by ``options.py``): PATTERN names layers
(graph nodes) by exact name, ``type:OpType`` or ``re:REGEX`` (``re.search`` on the node
name); rules apply in order, so a later rule wins for a layer two rules match. A pattern
that matches no layer is refused (a typo must not pass as a configuration).

What a setting does to the quantized container (the quantizer applies it):

* ``int16`` / ``int8``: the layer's outputs are encoded in 16 / 8 bits (recomputed from
  their calibration observers); a layer fused with its activation (Conv+Relu) is one
  layer: both outputs take it. Data-movement outputs keep following their input.
* ``float``: the layer's parameters stay float32 (no encoding) and it computes in float;
  a tensor loses its encoding when no fixed-point layer writes or reads it (a float
  island's inside, a float layer's graph output). An encoded tensor a float layer reads
  or writes is a **boundary**: one convert (dequantize in, quantize out) per inference on
  a fixed-point runtime, where the layer falls back to the CPU.
* ``--weights-bitwidth-override PATTERN=4|8|16``: the weights (and data parameters) of
  the layers matched take that bitwidth.

An encodings file given with ``--override-params`` may carry a mix too (an export of
one): its ``excluded_layers`` are float layers, and an encoding whose bitwidth differs
from the run's ``--act-bitwidth`` / ``--weights-bitwidth`` sets its layer's precision
(``with_overrides``); the command line's rules apply after, so they win.

The resolved choice is recorded in the manifest's ``quantizer.layer_precision``
(``{"activations": {node: setting}, "weights": {param: bits}, "float_layers": [...],
"boundaries": n}``); the bitwidths themselves are in the encodings. ``float_layers``
reads it back for the executors and runtimes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.graph import Graph, Node
from workbench.engine.quant.propagation import fused_activation_inputs, propagates
from workbench.engine.quant.roles import param_roles
from workbench.errors import BadInput
from workbench.vocabulary import FLOAT_LAYER, LAYER_PRECISION_BITS, REGEX_PATTERN, TYPE_PATTERN


def matches(pattern: str, node: Node) -> bool:
    """Does ``pattern`` (a name, ``type:OpType`` or ``re:REGEX``) name ``node``?"""
    if pattern.startswith(TYPE_PATTERN):
        return node.op_type == pattern[len(TYPE_PATTERN) :]
    if pattern.startswith(REGEX_PATTERN):
        return re.search(pattern[len(REGEX_PATTERN) :], node.name) is not None
    return node.name == pattern


def resolve(graph: Graph, rules: Iterable[str], flag: str) -> dict[str, str]:
    """``{node name: setting}`` for ``PATTERN=VALUE`` rules, later rules winning.

    ``BadInput`` naming the rule when a pattern matches no layer."""
    chosen: dict[str, str] = {}
    for rule in rules:
        pattern, _, setting = rule.rpartition("=")
        hit = [n.name for n in graph.nodes if matches(pattern, n)]
        if not hit:
            raise BadInput(f"{flag} {rule!r}: no layer of the model matches {pattern!r}")
        for name in hit:
            chosen[name] = setting
    return chosen


@dataclass(frozen=True)
class LayerPrecision:
    """The resolved rules of one quantization."""

    activations: dict[str, str] = field(default_factory=dict)  # node -> int8|int16|float
    weights: dict[str, int] = field(default_factory=dict)  # node -> 4|8|16

    @property
    def float_layers(self) -> frozenset[str]:
        return frozenset(n for n, s in self.activations.items() if s == FLOAT_LAYER)

    def __bool__(self) -> bool:
        return bool(self.activations or self.weights)


def resolve_rules(graph: Graph, act_rules: Iterable[str], weight_rules: Iterable[str]):
    """Both kinds of rule resolved on ``graph`` (see the module doc)."""
    acts = resolve(graph, act_rules, "--layer-precision")
    weights = {
        n: int(b) for n, b in resolve(graph, weight_rules, "--weights-bitwidth-override").items()
    }
    return LayerPrecision(acts, weights)


def with_overrides(
    graph: Graph,
    rules: LayerPrecision,
    excluded: Iterable[str],
    act_bits: Mapping[str, int],
    param_bits: Mapping[str, int],
    *,
    act_bitwidth: int,
    weights_bitwidth: int,
) -> LayerPrecision:
    """``rules`` over the mix an encodings file carries (see the module doc): ``excluded``
    layers in float, ``act_bits`` (tensor -> bitwidth) and ``param_bits`` (parameter ->
    bitwidth) where they differ from the run's bitwidths."""
    by_bits = {bits: setting for setting, bits in LAYER_PRECISION_BITS.items()}
    fused = fused_activation_inputs(graph)  # producer output -> activation output
    acts: dict[str, str] = {}
    for n in graph.nodes:
        if propagates(n, graph):
            continue  # data movement follows its input; the producer carries the setting
        for o in n.outputs:
            bits = act_bits.get(fused.get(o, o)) if o else None
            if bits is not None and bits != act_bitwidth and bits in by_bits:
                acts[n.name] = by_bits[bits]
    weights: dict[str, int] = {}
    for name, role in param_roles(graph).items():
        bits = param_bits.get(name)
        if role.kind == "weight" and bits is not None and bits != weights_bitwidth:
            weights[graph.nodes[role.node_index].name] = bits
    acts.update(dict.fromkeys(excluded, FLOAT_LAYER))
    return LayerPrecision({**acts, **rules.activations}, {**weights, **rules.weights})


def unencoded_tensors(graph: Graph, float_layers: Iterable[str]) -> set[str]:
    """Activations no fixed-point layer writes or reads: inside float islands, a float
    layer's graph outputs, graph inputs only float layers read."""
    floats = set(float_layers)
    if not floats:
        return set()
    producers = {o: n.name for n in graph.nodes for o in n.outputs if o}
    consumers: dict[str, list[str]] = {}
    for n in graph.nodes:
        for i in n.inputs:
            if i and i not in graph.params:
                consumers.setdefault(i, []).append(n.name)
    out = set()
    for t in set(producers) | set(consumers):
        prod = producers.get(t)
        fixed_writer = prod is not None and prod not in floats
        fixed_reader = any(c not in floats for c in consumers.get(t, ()))
        touches_float = (prod in floats) or any(c in floats for c in consumers.get(t, ()))
        if touches_float and not fixed_writer and not fixed_reader:
            out.add(t)
    return out


def boundaries(
    graph: Graph, float_layers: Iterable[str], encoded: Mapping[str, Any] | Iterable[str]
) -> list[tuple[str, str, str]]:
    """The converts a fixed-point runtime makes per inference for the float layers:
    ``(tensor, "dequantize" | "quantize", float layer)``, one per encoded tensor a float
    layer reads (each reader) or writes."""
    floats = set(float_layers)
    enc = set(encoded)
    found = []
    for n in graph.nodes:
        if n.name not in floats:
            continue
        for i in dict.fromkeys(n.inputs):
            if i and i in enc and i not in graph.params:
                found.append((i, "dequantize", n.name))
        for o in n.outputs:
            if o and o in enc:
                found.append((o, "quantize", n.name))
    return found


def recorded(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's ``quantizer.layer_precision`` (empty for a uniform container)."""
    quantizer = manifest.get("quantizer") or {}
    value = quantizer.get("layer_precision") if isinstance(quantizer, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else {}


def float_layers(manifest: Mapping[str, Any]) -> frozenset[str]:
    """The layers a container's quantizer kept in float (``--layer-precision X=float``)."""
    layers = recorded(manifest).get("float_layers") or ()
    return frozenset(str(n) for n in layers if isinstance(n, str))
