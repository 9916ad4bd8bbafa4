"""Round trips through every table, and what the database enforces."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from workbench.store import (
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
    utcnow,
)


def _run(project: Project, **kw) -> Run:
    defaults = dict(kind="quantize", status="running", host="h", pid=1)
    return Run(project_id=project.id, **{**defaults, **kw})


@pytest.fixture
def filled(store):
    """A project holding one of everything; returns the ids."""
    with store.write() as s:
        project = Project(name="p")
        s.add(project)
        s.flush()
        model = Model(
            project_id=project.id,
            name="mobilenet",
            source_path="/m/mobilenet.onnx",
            sha256="a" * 64,
            format="onnx",
            opset=17,
            inputs=[{"name": "x", "shape": [1, 3, 224, 224], "dtype": "float32"}],
            param_count=3_500_000,
            macs=300_000_000_000,  # needs 64 bits
        )
        s.add(model)
        s.flush()
        float_c = Container(
            project_id=project.id,
            model_id=model.id,
            path="/m/f.dlc",
            sha256="b" * 64,
            size_bytes=14_000_000,
            quantized=False,
            manifest={"format": "wbdlc", "version": 1},
        )
        quant_c = Container(
            project_id=project.id,
            model_id=model.id,
            path="/m/q.dlc",
            sha256="c" * 64,
            size_bytes=3_600_000,
            quantized=True,
        )
        calib = CalibrationSet(
            project_id=project.id,
            name="calib",
            path="/m/list.txt",
            sample_count=32,
            sha256="d" * 64,
        )
        s.add_all([float_c, quant_c, calib])
        s.flush()
        qrun = _run(project, model_id=model.id, container_id=float_c.id, tags=[RunTag(tag="v1")])
        qrun.quantization = QuantizationRun(
            output_container_id=quant_c.id,
            calibration_set_id=calib.id,
            param_quantizer="enhanced",
            act_quantizer="tf",
            weights_bitwidth=8,
            act_bitwidth=16,
            bias_bitwidth=32,
            per_channel=True,
            algorithms="cle,bc",
            options={"percentile": 99.99},
        )
        qrun.layer_stats = [
            LayerStat(
                layer_index=i,
                layer_name=f"conv{i}",
                op_type="Conv",
                encoding_min=-1.8,
                encoding_max=0.5,
                scale=0.009020,
                offset=-200,
                bitwidth=8,
                sqnr_db=30.5 + i,
                rmse_over_scale=0.29,
            )
            for i in range(3)
        ]
        brun = _run(project, kind="bench", container_id=quant_c.id, model_id=model.id)
        brun.benchmark = BenchmarkRun(
            runtime="dsp",
            batch=4,
            iterations=20,
            init_time_ms=12.5,
            init_breakdown={"load": 2.0, "quantize_params": 10.5},
            init_peak_bytes=50_000_000,
            latency_mean_ms=3.1,
            latency_p50_ms=3.0,
            latency_p90_ms=3.5,
            latency_min_ms=2.9,
            reference_container_id=float_c.id,
            sqnr_db=35.0,
            cosine=0.9999,
            max_abs_err=0.01,
            top1_agreement=0.98,
            label_accuracy=0.71,
            container_size_bytes=3_600_000,
        )
        s.add_all([qrun, brun])
        s.flush()
        experiment = Experiment(project_id=project.id, name="int8 vs float", note="why")
        experiment.members = [ExperimentRun(run_id=qrun.id), ExperimentRun(run_id=brun.id)]
        s.add(experiment)
        s.flush()
        return {
            "project": project.id,
            "model": model.id,
            "float": float_c.id,
            "quant": quant_c.id,
            "qrun": qrun.id,
            "brun": brun.id,
            "experiment": experiment.id,
        }


def test_everything_reads_back(store, filled) -> None:
    with store.read() as s:
        model = s.get(Model, filled["model"])
        assert model.inputs[0]["shape"] == [1, 3, 224, 224]
        assert model.macs == 300_000_000_000
        qrun = s.get(Run, filled["qrun"])
        assert qrun.quantization.param_quantizer == "enhanced"
        assert qrun.quantization.per_channel is True
        assert qrun.quantization.options == {"percentile": 99.99}
        assert qrun.quantization.output_container.quantized is True
        assert qrun.quantization.calibration_set.sample_count == 32
        assert [ls.layer_name for ls in qrun.layer_stats] == ["conv0", "conv1", "conv2"]
        assert qrun.layer_stats[0].offset == -200
        assert [t.tag for t in qrun.tags] == ["v1"]
        brun = s.get(Run, filled["brun"])
        assert brun.benchmark.init_breakdown == {"load": 2.0, "quantize_params": 10.5}
        assert brun.benchmark.reference_container.path == "/m/f.dlc"
        assert brun.benchmark.device_measured is False
        assert brun.quantization is None
        experiment = s.get(Experiment, filled["experiment"])
        assert {m.run_id for m in experiment.members} == {filled["qrun"], filled["brun"]}


def test_timestamps_come_back_aware_utc(store, filled) -> None:
    with store.read() as s:
        run = s.get(Run, filled["qrun"])
        assert run.started_at.tzinfo is not None
        assert run.started_at.utcoffset().total_seconds() == 0
        assert abs((utcnow() - run.started_at).total_seconds()) < 60


def test_naive_datetimes_are_refused(store, filled) -> None:
    with pytest.raises(Exception, match="naive"), store.write() as s:
        s.get(Run, filled["qrun"]).finished_at = datetime(2024, 1, 1)
        s.flush()
    with store.write() as s:  # aware values in any zone are stored as UTC
        s.get(Run, filled["qrun"]).finished_at = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_deleting_a_project_deletes_everything_in_it(store, filled) -> None:
    with store.write() as s:
        s.delete(s.get(Project, filled["project"]))
    with store.read() as s:
        for table in (Model, Container, CalibrationSet, Run, QuantizationRun, BenchmarkRun,
                      LayerStat, RunTag, Experiment, ExperimentRun):  # fmt: skip
            assert s.scalar(select(func.count()).select_from(table)) == 0, table


def test_deleting_a_container_keeps_the_runs_that_used_it(store, filled) -> None:
    with store.write() as s:
        s.delete(s.get(Container, filled["quant"]))
    with store.read() as s:
        brun = s.get(Run, filled["brun"])
        assert brun.container_id is None
        assert s.get(Run, filled["qrun"]).quantization.output_container_id is None


def test_database_refuses_an_unknown_status(store, filled) -> None:
    with pytest.raises(IntegrityError), store.write() as s:
        s.get(Run, filled["qrun"]).status = "exploded"


def test_database_refuses_a_dangling_project(store) -> None:
    with pytest.raises(IntegrityError), store.write() as s:
        s.add(Run(project_id=999, kind="bench", status="running", host="h", pid=1))


def test_project_names_are_unique(store) -> None:
    with store.write() as s:
        s.add(Project(name="same"))
    with pytest.raises(IntegrityError), store.write() as s:
        s.add(Project(name="same"))
