"""The project store: SQLAlchemy models, connections, migrations and queries.

Open it with ``open_store()``; use ``store.read()`` / ``store.write()`` for a
session per unit of work. Knows nothing of the engine's kernels or of the UI.
"""

from workbench.store.base import Base, utcnow
from workbench.store.database import Store, default_url, open_store, resolve_url
from workbench.store.models import (
    BenchmarkRun,
    CalibrationSet,
    Container,
    Experiment,
    ExperimentRun,
    LayerStat,
    Model,
    Project,
    QuantizationRun,
    Run,
    RunTag,
)
from workbench.vocabulary import FINISHED_STATUSES, RUN_KINDS, RUN_STATUSES

__all__ = [
    "FINISHED_STATUSES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "Base",
    "BenchmarkRun",
    "CalibrationSet",
    "Container",
    "Experiment",
    "ExperimentRun",
    "LayerStat",
    "Model",
    "Project",
    "QuantizationRun",
    "Run",
    "RunTag",
    "Store",
    "default_url",
    "open_store",
    "resolve_url",
    "utcnow",
]
