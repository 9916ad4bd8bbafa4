"""State across inferences: a streaming model's state tensors, carried line to line.

A streaming model (a wake-word spotter, a voice-activity detector) reads its state, runs
one frame, and writes the next state. In a container that state is explicit: a graph
input paired with the graph output holding its next value (``StateVar``).

* A TFLite model's resource variables become such pairs at import, with the initial
  value its init subgraph assigns (``Graph.state``). Their inputs are not the user's to
  give: every inference starts from that initial value unless state is carried.
* An ONNX model's state is ordinary inputs and outputs; ``--state IN=OUT`` names the
  pairs (``parse_state_pairs``). Their initial value is the input-list line's, or zeros.

``StateCarrier`` does the carrying (``--stateful``): the first inference gets the
initial values (or what the first line gives), each later one the outputs of the one
before, so a sequence of input-list lines runs as on the device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from workbench.engine.graph import Graph, StateVar, TensorInfo
from workbench.errors import BadInput
from workbench.options import check_state

__all__ = [
    "StateCarrier",
    "StateVar",
    "fill_initial",
    "internal_inputs",
    "parse_state_pairs",
    "state_for",
]


def internal_inputs(graph: Graph) -> set[str]:
    """State inputs the model itself initialises (an input list need not give them)."""
    return {s.input for s in graph.state if s.initial is not None}


def fill_initial(
    feeds: Mapping[str, np.ndarray], state: Sequence[StateVar], infos: Mapping[str, TensorInfo]
) -> dict[str, np.ndarray]:
    """``feeds`` with every state input it lacks set to its initial value."""
    out = dict(feeds)
    for s in state:
        if s.input not in out and s.input in infos:
            out[s.input] = s.initial_value(infos[s.input])
    return out


def parse_state_pairs(texts: Iterable[str], graph: Graph) -> list[StateVar]:
    """``IN=OUT`` pairs (``--state``) checked against ``graph``: IN a graph input, OUT a
    tensor of the graph with the same shape and dtype."""
    inputs = {t.name: t for t in graph.inputs}
    produced = {o for n in graph.nodes for o in n.outputs if o}
    pairs: list[StateVar] = []
    for text in texts:
        name_in, sep, name_out = str(text).partition("=")
        name_in, name_out = name_in.strip(), name_out.strip()
        if not sep or not name_in or not name_out:
            raise BadInput(f"--state takes INPUT=OUTPUT pairs, got {text!r}")
        if name_in not in inputs:
            raise BadInput(
                f"--state {text}: {name_in!r} is not a model input (inputs: {', '.join(inputs)})"
            )
        if name_out not in produced and name_out not in graph.output_names:
            raise BadInput(
                f"--state {text}: {name_out!r} is not a tensor of the model "
                f"(outputs: {', '.join(graph.output_names)})"
            )
        info_in, info_out = inputs[name_in], graph.info(name_out)
        if info_out is not None and (
            tuple(info_out.shape) != tuple(info_in.shape) or info_out.dtype != info_in.dtype
        ):
            raise BadInput(
                f"--state {text}: {name_out!r} is {info_out.dtype}{list(info_out.shape)} but "
                f"{name_in!r} is {info_in.dtype}{list(info_in.shape)}"
            )
        if any(p.input == name_in for p in pairs):
            raise BadInput(f"--state: input {name_in!r} is given twice")
        pairs.append(StateVar(name_in, name_out))
    return pairs


def state_for(graph: Graph, stateful: bool, pairs: Iterable[str] = ()) -> list[StateVar]:
    """The state a run carries: the container's own (TFLite variables) and ``--state``
    pairs; ``--state`` without ``--stateful`` is refused (it would do nothing)."""
    pairs = list(pairs)
    check_state(stateful, pairs)
    extra = parse_state_pairs(pairs, graph)
    own = [s for s in graph.state if not any(p.input == s.input for p in extra)]
    if stateful and not own and not extra:
        raise BadInput(
            "--stateful: this model declares no state; name its state inputs and outputs "
            "with --state INPUT=OUTPUT (e.g. --state state=stateN)"
        )
    return [*own, *extra] if stateful else []


class StateCarrier:
    """Feeds each inference the state the previous one produced (``--stateful``)."""

    def __init__(self, state: Sequence[StateVar], infos: Iterable[TensorInfo]):
        self.state = list(state)
        self.infos = {t.name: t for t in infos}
        self.values: dict[str, np.ndarray] = {}

    @property
    def outputs(self) -> tuple[str, ...]:
        """Tensors a run must return for the state to be carried."""
        return tuple(s.output for s in self.state)

    def fill(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(feeds)
        for s in self.state:
            if s.input in self.values:
                out[s.input] = self.values[s.input]
            elif s.input not in out:
                out[s.input] = s.initial_value(self.infos.get(s.input))
        return out

    def update(self, results: Mapping[str, np.ndarray]) -> None:
        for s in self.state:
            if s.output not in results:
                raise BadInput(f"state output {s.output!r} was not computed")
            value = np.asarray(results[s.output])
            info = self.infos.get(s.input)
            if info is not None and value.dtype.name != info.dtype:
                value = value.astype(info.dtype)
            self.values[s.input] = value
