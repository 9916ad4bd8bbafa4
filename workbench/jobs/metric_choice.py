"""A model's decision metric: proposed from its outputs when first seen, stored, changeable.

Every command that evaluates (quantize, bench, advise) asks ``decision_metric`` which
metric to judge by: the one given with ``--metric`` (stored on the model from then on),
else the model's stored one, else a proposal from the container's outputs
(``metrics.propose_metric``), stored on the model when the store knows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.engine.graph import Graph
from workbench.engine.metrics import get_metric, metrics, propose_metric
from workbench.errors import NotFound
from workbench.store import Container, Model, Store
from workbench.vocabulary import LABEL_ACCURACY, TOP1


@dataclass(frozen=True)
class MetricChoice:
    """The metric a command judges by, why, and the model it belongs to."""

    metric: str
    reason: str
    model_id: int | None = None

    def line(self) -> str:
        return f"decision metric: {self.metric} ({self.reason})"


def set_by(command: str) -> str:
    return f"set with --metric on {command}"


def decision_metric(
    store: Store,
    container_id: int | None,
    graph: Graph,
    *,
    output: str | None = None,
    requested: str | None = None,
    command: str = "a command",
) -> MetricChoice:
    """The metric for the model of ``container_id`` (see the module doc)."""
    if requested is not None:
        get_metric(requested)  # BadInput for an unknown name
    with store.write() as session:
        container = session.get(Container, container_id) if container_id is not None else None
        model = session.get(Model, container.model_id) if container and container.model_id else None
        if requested is not None:
            reason = set_by(command)
            if model is not None:
                model.decision_metric, model.metric_reason = requested, reason
            return MetricChoice(requested, reason, model.id if model else None)
        if model is not None and model.decision_metric:
            return MetricChoice(model.decision_metric, model.metric_reason or "", model.id)
        proposal = propose_metric(graph, output)
        if model is not None:
            model.decision_metric, model.metric_reason = proposal.metric, proposal.reason
        return MetricChoice(proposal.metric, proposal.reason, model.id if model else None)


def without_labels(choice: MetricChoice) -> MetricChoice:
    """A command without labels (quantize, debug) judges a label-accuracy model by top-1
    agreement."""
    if choice.metric != LABEL_ACCURACY:
        return choice
    return MetricChoice(TOP1, f"{choice.reason}; no labels here → top1", choice.model_id)


def set_model_metric(store: Store, model_id: int, metric: str, reason: str = "") -> MetricChoice:
    """Change a model's decision metric (the TUI's model detail, ``--metric``)."""
    get_metric(metric)
    with store.write() as session:
        model = session.get(Model, model_id)
        if model is None:
            raise NotFound(f"no model {model_id}")
        model.decision_metric = metric
        model.metric_reason = reason or "chosen in the terminal UI"
        return MetricChoice(metric, model.metric_reason, model.id)


def metric_options() -> list[tuple[str, str]]:
    """``(text, name)`` of every metric, for a picker: ``top1 · top-1 agreement (pts)``."""
    return [(f"{m.name} · {m.label} ({m.loss_unit})", m.name) for m in metrics()]
