"""The project store's tables, as typed SQLAlchemy models.

Runs of every kind share one ``runs`` table (status, timings, host, tags,
notes, flags), so one indexed query lists them newest first; what is specific
to a quantization, a benchmark or a debug run lives in a one-to-one detail table
keyed by the run id (``DETAIL_TABLES``; ``Run.detail`` reads the one of its kind). The schema changes only through a migration in ``migrations/``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workbench.store.base import Base, UTCDateTime, utcnow
from workbench.vocabulary import (
    BENCH,
    CELL_STATUSES,
    DEBUG,
    QUANTIZE,
    RUN_KINDS,
    RUN_STATUSES,
    RUNNING,
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _project_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow)


def _flag() -> Mapped[bool]:
    return mapped_column(default=False, server_default=false())


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    archived: Mapped[bool] = _flag()
    created_at: Mapped[datetime] = _created()
    # When a run last started in it or the TUI last opened it (`workbench tui` opens
    # the newest).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Model(Base):
    """A source network (ONNX, TFLite, SavedModel) that was imported."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _project_fk()
    name: Mapped[str] = mapped_column(String(200))
    source_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(32))
    opset: Mapped[int | None] = mapped_column(Integer)
    inputs: Mapped[Any] = mapped_column(JSON, default=list)  # [{name, shape, dtype}]
    param_count: Mapped[int | None] = mapped_column(BigInteger)
    macs: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _created()
    # The metric the advisor decides by (vocabulary.METRICS), proposed from the model's
    # outputs when it is first seen, and why ("1×1000 probabilities → top1").
    decision_metric: Mapped[str | None] = mapped_column(String(32))
    metric_reason: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship()


class Container(Base):
    """A container file (.dlc), float or quantized."""

    __tablename__ = "containers"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _project_fk()
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="SET NULL"), index=True
    )
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    quantized: Mapped[bool] = _flag()
    manifest: Mapped[Any] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _created()

    project: Mapped[Project] = relationship()
    model: Mapped[Model | None] = relationship()


class CalibrationSet(Base):
    """An input list used to calibrate a quantization."""

    __tablename__ = "calibration_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _project_fk()
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    sample_count: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = _created()


class Run(Base):
    """One job execution of any kind: what every listing and filter reads."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_in("kind", RUN_KINDS), name="kind"),
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        # Listing pages newest first inside a project, optionally by kind or status.
        Index("ix_runs_project_id_id", "project_id", "id"),
        Index("ix_runs_project_id_kind_id", "project_id", "kind", "id"),
        Index("ix_runs_project_id_status_id", "project_id", "status", "id"),
        # Start-up recovery looks for runs still `running` on this host.
        Index("ix_runs_status_host", "status", "host"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RUNNING)
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="SET NULL"), index=True
    )
    # The container the run consumes (quantize: float input; bench: the one measured).
    container_id: Mapped[int | None] = mapped_column(
        ForeignKey("containers.id", ondelete="SET NULL"), index=True
    )
    command: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # Process start time (epoch seconds): tells a live owner from a reused pid.
    pid_started_at: Mapped[float | None] = mapped_column(Float)
    log: Mapped[str] = mapped_column(Text, default="", server_default="")
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    starred: Mapped[bool] = _flag()
    baseline: Mapped[bool] = _flag()

    project: Mapped[Project] = relationship()
    model: Mapped[Model | None] = relationship()
    container: Mapped[Container | None] = relationship(foreign_keys=[container_id])
    quantization: Mapped[QuantizationRun | None] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    benchmark: Mapped[BenchmarkRun | None] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    debugging: Mapped[DebugRun | None] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    tags: Mapped[list[RunTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="RunTag.tag"
    )
    layer_stats: Mapped[list[LayerStat]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="LayerStat.layer_index"
    )

    @property
    def detail(self) -> QuantizationRun | BenchmarkRun | DebugRun | None:
        """The row of the run's own kind's detail table."""
        return getattr(self, _DETAIL_RELATIONS[self.kind])

    @detail.setter
    def detail(self, row: QuantizationRun | BenchmarkRun | DebugRun) -> None:
        setattr(self, _DETAIL_RELATIONS[self.kind], row)


class QuantizationRun(Base):
    """What a quantize run was asked to do and what it produced."""

    __tablename__ = "quantization_runs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    output_container_id: Mapped[int | None] = mapped_column(
        ForeignKey("containers.id", ondelete="SET NULL"), index=True
    )
    calibration_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("calibration_sets.id", ondelete="SET NULL"), index=True
    )
    param_quantizer: Mapped[str | None] = mapped_column(String(16))
    act_quantizer: Mapped[str | None] = mapped_column(String(16))
    weights_bitwidth: Mapped[int | None] = mapped_column(Integer)
    act_bitwidth: Mapped[int | None] = mapped_column(Integer)
    bias_bitwidth: Mapped[int | None] = mapped_column(Integer)
    per_channel: Mapped[bool] = _flag()
    algorithms: Mapped[str] = mapped_column(String(64), default="", server_default="")
    enable_hta: Mapped[bool] = _flag()
    override_params_path: Mapped[str | None] = mapped_column(Text)
    # Every option as given (including ones without a column), for exact replay.
    options: Mapped[Any] = mapped_column(JSON, default=dict)
    sqnr_db: Mapped[float | None] = mapped_column(Float)  # whole-network output SQNR
    # The analysis: sensitivity (weights-only / activations-only SQNR, costliest
    # layers), float-fallback layers, per-stage timings, algorithm effects.
    report: Mapped[Any] = mapped_column(JSON, nullable=True)

    run: Mapped[Run] = relationship(back_populates="quantization")
    output_container: Mapped[Container | None] = relationship()
    calibration_set: Mapped[CalibrationSet | None] = relationship()


class BenchmarkRun(Base):
    """One container measured on one runtime."""

    __tablename__ = "benchmark_runs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    runtime: Mapped[str] = mapped_column(String(16), index=True)
    cpu_fxp: Mapped[bool] = _flag()
    options: Mapped[Any] = mapped_column(JSON, default=dict)  # other mode flags
    batch: Mapped[int] = mapped_column(Integer, default=1)
    iterations: Mapped[int | None] = mapped_column(Integer)
    init_time_ms: Mapped[float | None] = mapped_column(Float)
    init_breakdown: Mapped[Any] = mapped_column(JSON, default=dict)  # phase -> ms
    init_peak_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # The init phases the device also performs (file, conversions, HTA records), their
    # peak memory, and the emulator's own setup (planning, BLAS layouts).
    device_init_ms: Mapped[float | None] = mapped_column(Float)
    device_init_peak_bytes: Mapped[int | None] = mapped_column(BigInteger)
    emulator_setup_ms: Mapped[float | None] = mapped_column(Float)
    latency_mean_ms: Mapped[float | None] = mapped_column(Float)
    latency_p50_ms: Mapped[float | None] = mapped_column(Float)
    latency_p90_ms: Mapped[float | None] = mapped_column(Float)
    latency_min_ms: Mapped[float | None] = mapped_column(Float)
    # Accuracy against the float reference container.
    reference_container_id: Mapped[int | None] = mapped_column(
        ForeignKey("containers.id", ondelete="SET NULL"), index=True
    )
    sqnr_db: Mapped[float | None] = mapped_column(Float)
    cosine: Mapped[float | None] = mapped_column(Float)
    max_abs_err: Mapped[float | None] = mapped_column(Float)
    top1_agreement: Mapped[float | None] = mapped_column(Float)
    label_accuracy: Mapped[float | None] = mapped_column(Float)
    mae: Mapped[float | None] = mapped_column(Float)
    iou: Mapped[float | None] = mapped_column(Float)
    # Output values that were NaN or infinite where the float reference is finite: the
    # accuracy is unusable (its metrics stay NULL) when this is above 0.
    nonfinite_values: Mapped[int | None] = mapped_column(BigInteger)
    decision_metric: Mapped[str | None] = mapped_column(String(32))  # the model's, then
    container_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # False: numbers come from the emulator; True: measured on a real device.
    device_measured: Mapped[bool] = _flag()

    run: Mapped[Run] = relationship(back_populates="benchmark")
    reference_container: Mapped[Container | None] = relationship()


class DebugRun(Base):
    """A quantized container compared layer by layer with its float model on one runtime
    (``workbench debug``): the first layer that diverges, and why."""

    __tablename__ = "debug_runs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    runtime: Mapped[str] = mapped_column(String(16), index=True)
    cpu_fxp: Mapped[bool] = _flag()
    options: Mapped[Any] = mapped_column(JSON, default=dict)  # every option as given
    input_list: Mapped[str | None] = mapped_column(Text)  # the samples' list, resolved
    # The float model compared with (the run's container is the quantized one).
    float_container_id: Mapped[int | None] = mapped_column(
        ForeignKey("containers.id", ondelete="SET NULL"), index=True
    )
    samples: Mapped[int | None] = mapped_column(Integer)
    metric: Mapped[str | None] = mapped_column(String(32))  # of the layers' contributions
    first_divergent_layer: Mapped[str | None] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(String(64))  # engine.quant.debug.CAUSES
    why: Mapped[str | None] = mapped_column(Text)  # the sentence people read
    suggestion: Mapped[str | None] = mapped_column(Text)
    sqnr_db: Mapped[float | None] = mapped_column(Float)  # integer-true output vs float
    fake_quant_sqnr_db: Mapped[float | None] = mapped_column(Float)
    # Everything else the debugger reported (thresholds, the contribution's samples, notes).
    report: Mapped[Any] = mapped_column(JSON, nullable=True)

    run: Mapped[Run] = relationship(back_populates="debugging")
    float_container: Mapped[Container | None] = relationship()


class LayerStat(Base):
    """A run's encoding and error for one layer's output (quantize: the analysis; debug:
    the integer-true comparison, its SQNR and bitwidth here and the rest in ``debug``)."""

    __tablename__ = "layer_stats"
    __table_args__ = (Index("ix_layer_stats_run_id_layer_index", "run_id", "layer_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    layer_index: Mapped[int] = mapped_column(Integer)
    layer_name: Mapped[str] = mapped_column(Text)
    op_type: Mapped[str] = mapped_column(String(64))
    encoding_min: Mapped[float | None] = mapped_column(Float)
    encoding_max: Mapped[float | None] = mapped_column(Float)
    scale: Mapped[float | None] = mapped_column(Float)
    offset: Mapped[int | None] = mapped_column(Integer)
    bitwidth: Mapped[int | None] = mapped_column(Integer)
    sqnr_db: Mapped[float | None] = mapped_column(Float)
    rmse_over_scale: Mapped[float | None] = mapped_column(Float)
    # The layer's value distributions the analysis measured, against its encodings:
    # {"output": HISTOGRAM, "weights": HISTOGRAM} (workbench.engine.quant.histogram).
    histograms: Mapped[Any] = mapped_column(JSON, nullable=True)
    # A debug run's comparison of this layer (``engine.quant.debug.LayerDebug.to_dict``:
    # LSB errors, clipping, SQNRs, metric contribution, causes).
    debug: Mapped[Any] = mapped_column(JSON, nullable=True)


# Each run kind's detail table, and the relationship of ``Run`` that holds its row.
DETAIL_TABLES: dict[str, type[QuantizationRun] | type[BenchmarkRun] | type[DebugRun]] = {
    QUANTIZE: QuantizationRun,
    BENCH: BenchmarkRun,
    DEBUG: DebugRun,
}
_DETAIL_RELATIONS = {QUANTIZE: "quantization", BENCH: "benchmark", DEBUG: "debugging"}


class RunTag(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Experiment(Base):
    """A named, annotated set of runs (of either kind) kept for comparison."""

    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _project_fk()
    name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = _created()

    members: Mapped[list[ExperimentRun]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ExperimentRun.run_id"
    )


class ExperimentRun(Base):
    __tablename__ = "experiment_runs"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = _created()


class Sweep(Base):
    """Models x quantize settings x runtimes measured as cells (``workbench sweep``).

    Its runs are also the members of an experiment of the same name; ``status``, the
    host and pid describe the last invocation (a driver that died is recovered).
    """

    __tablename__ = "sweeps"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _project_fk()
    name: Mapped[str] = mapped_column(String(200))
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL"), index=True
    )
    spec: Mapped[Any] = mapped_column(JSON, default=dict)  # as last run, normalized
    spec_path: Mapped[str] = mapped_column(Text, default="", server_default="")
    metric: Mapped[str] = mapped_column(String(32))  # what "best" ranks by
    executor: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RUNNING)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    pid_started_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    cells: Mapped[list[SweepCell]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="SweepCell.id"
    )


class SweepCell(Base):
    """One (model, quantize setting, runtime) of a sweep: its identity and its runs."""

    __tablename__ = "sweep_cells"
    __table_args__ = (
        UniqueConstraint("sweep_id", "key"),
        CheckConstraint(_in("status", CELL_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    # sha256 of the model's content, the normalized options and the runtime: a rerun
    # (of any sweep of the project) skips a key already done.
    key: Mapped[str] = mapped_column(String(64), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_sha256: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="SET NULL"), index=True
    )
    setting: Mapped[Any] = mapped_column(JSON, default=dict)  # the options that vary
    setting_key: Mapped[str] = mapped_column(String(64))  # sha256 of every quantize option
    runtime: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    quantize_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    bench_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    host: Mapped[str | None] = mapped_column(String(255))  # where its bench ran
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
