"""The project store: SQLAlchemy models, connections, migrations and queries.

Open it with ``open_store()``; use ``store.read()`` / ``store.write()`` for a
session per unit of work (a ``Session``) and the functions of ``queries`` in it.
Knows nothing of the engine's kernels or of the UI.
"""

from sqlalchemy.orm import Session

from workbench.store.base import Base, utcnow
from workbench.store.database import (
    Store,
    default_url,
    on_duplicate,
    open_store,
    resolve_url,
    store_files,
)
from workbench.store.models import (
    DETAIL_TABLES,
    BenchmarkRun,
    CalibrationSet,
    Container,
    DebugRun,
    Experiment,
    ExperimentRun,
    LayerStat,
    Model,
    Project,
    QuantizationRun,
    Run,
    RunTag,
    Sweep,
    SweepCell,
)
from workbench.vocabulary import FINISHED_STATUSES, RUN_KINDS, RUN_STATUSES

__all__ = [
    "DETAIL_TABLES",
    "FINISHED_STATUSES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "Base",
    "BenchmarkRun",
    "CalibrationSet",
    "Container",
    "DebugRun",
    "Experiment",
    "ExperimentRun",
    "LayerStat",
    "Model",
    "Project",
    "QuantizationRun",
    "Run",
    "RunTag",
    "Session",
    "Store",
    "Sweep",
    "SweepCell",
    "default_url",
    "on_duplicate",
    "open_store",
    "resolve_url",
    "store_files",
    "utcnow",
]
