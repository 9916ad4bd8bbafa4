"""``check_runtime`` and ``load_network``: the declared rules applied to a container."""

from __future__ import annotations

from workbench.engine.batch import graph_batch
from workbench.engine.container import Container
from workbench.engine.quant.layer_precision import recorded
from workbench.engine.runtimes.hta_plan import all_hta, first_hnn_layer, subnets_doc
from workbench.engine.runtimes.network import InitRequest, Network, Phases
from workbench.engine.runtimes.registry import get_runtime, runtimes
from workbench.engine.runtimes.spec import ALL_HTA, NATIVE, REFUSE, Runtime
from workbench.errors import BadInput, RuntimeRefused


def check_runtime(
    container: Container, runtime: str, *, batch: int = 1, cpu_fxp: bool = False
) -> None:
    """Refuse what the runtime refuses, before any init work (the guide's rules).

    ``RuntimeRefused`` for an incompatible pair (AIP with a float container, without HTA
    records, or a batch above 1 with HNN subnets); ``BadInput`` for bad options. Works on
    a container read with ``load_params=False``.
    """
    rt = get_runtime(runtime)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise BadInput(f"--batch must be a positive integer, got {batch!r}")
    if cpu_fxp and rt.fixed_point is None:
        modes = " or ".join(r.name for r in runtimes() if r.fixed_point is not None)
        raise BadInput(f"--cpu-fxp applies to the {modes} runtime only, not {runtime}")
    old = graph_batch(container.graph)
    if old != 1:
        raise BadInput(
            f"the container's batch is {old}; runtimes resize from batch 1 only (convert "
            "with batch 1, then use --batch)"
        )
    rule = rt.rule(container.quantized, cpu_fxp)
    if rule.action == REFUSE:
        raise RuntimeRefused(rule.reason)
    if container.quantized and rt.precision is not None and rule.action == NATIVE:
        check_precision(container, rt)
    if rt.needs_hta_records or rt.batch.condition == ALL_HTA:
        doc = subnets_doc(container, rt.label)
        if batch > 1 and rt.batch.condition == ALL_HTA and not all_hta(doc, container.graph):
            raise RuntimeRefused(rt.batch.refusal.format(first=first_hnn_layer(doc)))


_WEIGHTED = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})


def check_precision(container: Container, rt: Runtime) -> None:
    """Refuse a per-layer precision mix the runtime's fixed-point mode cannot run
    (``spec.PrecisionRule``), naming the first layer and why. Uniform containers follow
    their quantizer options as before: the rules apply to a mix (``layer_precision``)."""
    rule = rt.precision
    if rule is None or not recorded(container.manifest):
        return
    encs, params = container.encodings, container.param_encodings
    producers = {o: n.name for n in container.graph.nodes for o in n.outputs if o}
    for node in container.graph.nodes:
        for t in node.outputs:
            bits = (encs.get(t) or {}).get("bitwidth") if t else None
            if bits is not None and bits not in rule.activation_bits:
                allowed = " and ".join(f"{b}-bit" for b in rule.activation_bits)
                raise RuntimeRefused(
                    f"{rt.label} cannot run this mix: layer {node.name!r} has {bits}-bit "
                    f"activations and {rule.processor or rt.label} runs {allowed} ones only"
                )
        if not rule.wide_weights_need_wide_acts or node.op_type not in _WEIGHTED:
            continue
        if len(node.inputs) < 2 or node.inputs[1] not in params or not node.inputs[0]:
            continue
        w_bits = params[node.inputs[1]].get("bitwidth", 8)
        a_bits = (encs.get(node.inputs[0]) or {}).get("bitwidth")
        if w_bits > 8 and a_bits is not None and a_bits <= 8:
            src = producers.get(node.inputs[0])
            fix = f"--layer-precision {src}=int16" if src else "16-bit activations on its input"
            raise RuntimeRefused(
                f"{rt.label} cannot run this mix: layer {node.name!r} has {w_bits}-bit weights "
                f"on {a_bits}-bit input activations, and {rule.processor or rt.label} runs "
                f"{w_bits}-bit weights only with 16-bit activations (A16W16, no A8W16): add "
                f"{fix}, or lower its weights"
            )


def load_network(
    container: Container,
    runtime: str,
    *,
    batch: int = 1,
    cpu_fxp: bool = False,
    keep: tuple[str, ...] = (),
) -> Network:
    """Initialise ``container`` on ``runtime``: the declared rule's init, timed by phase."""
    check_runtime(container, runtime, batch=batch, cpu_fxp=cpu_fxp)
    if not container.params_loaded:
        raise BadInput("the container was read without its parameters (load_params=False)")
    quantized = container.quantized
    rule = get_runtime(runtime).rule(quantized, cpu_fxp)
    notes: list[str] = []
    if cpu_fxp and not quantized:
        notes.append("--cpu-fxp has no effect on a non-quantized container: it runs in float")
    phases = Phases()
    net = rule.init(container, InitRequest(batch, tuple(keep), phases))
    net.runtime = runtime
    net.batch = batch
    net.quantized = quantized
    net.inputs = list(container.graph.inputs)
    net.outputs = container.graph.output_names
    net.init_breakdown_ms = phases.ms
    net.notes = notes + net.notes
    net.producers = {o: n.name for n in container.graph.nodes for o in n.outputs if o}
    return net
