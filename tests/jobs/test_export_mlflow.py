"""``workbench export mlflow`` against a local MLflow file store: params, metrics,
the container and the report as artifacts, tags back to the store; again adds nothing."""

from __future__ import annotations

import builtins
import math

import pytest

from tests.tui.seed import seed_store
from workbench.errors import BadInput

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra: pip install -e '.[mlflow]'")


@pytest.fixture
def tracking(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3: file stores are opt-in
    return (tmp_path / "mlruns").as_uri()


def test_an_experiment_and_runs_logged_to_mlflow(cli, store, tracking, tmp_path) -> None:
    seeded = seed_store(store)
    from workbench.jobs.experiments import add_runs

    quant = seeded.quantize_runs[1]
    add_runs(store, "default", seeded.experiment, [quant])
    container = tmp_path / "mobilenet_v2_q.dlc"  # the seeded store names files in /data
    container.write_bytes(b"container bytes")
    from sqlalchemy import update

    from workbench.store import Container

    with store.write() as session:
        session.execute(update(Container).where(Container.path == "/data/mobilenet_v2_q.dlc")
                        .values(path=str(container)))  # fmt: skip

    data = cli.json(
        "export", "mlflow", "--experiment", seeded.experiment, "--tracking-uri", tracking
    )
    assert data["experiment"] == f"workbench/default/{seeded.experiment}"
    assert len(data["exported"]) == 3 and data["skipped"] == []

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name(data["experiment"])
    runs = {
        int(r.data.tags["workbench.run_id"]): r
        for r in client.search_runs([experiment.experiment_id])
    }
    assert set(runs) == set(data["exported"])
    q = runs[quant]
    assert q.data.params["param_quantizer"] == "enhanced" and q.data.params["algorithms"] == "cle"
    assert (
        math.isclose(q.data.metrics["sqnr_db"], 27.5) and "weights_only_sqnr_db" in q.data.metrics
    )
    assert q.data.tags["workbench.kind"] == "quantize" and q.info.status == "FINISHED"
    bench = next(r for i, r in runs.items() if i != quant)
    assert bench.data.params["runtime"] in ("cpu", "dsp") and "init_time_ms" in bench.data.metrics
    assert "latency_mean_ms" in bench.data.metrics and "init_peak_bytes" in bench.data.metrics
    assert any(k.startswith("init_") and k.endswith("_ms") and k != "init_time_ms"
               for k in bench.data.metrics)  # the init phases  # fmt: skip
    arts = {a.path for a in client.list_artifacts(q.info.run_id)}
    assert arts == {"container", "report.html"}
    inside = [a.path for a in client.list_artifacts(q.info.run_id, "container")]
    assert inside == ["container/mobilenet_v2_q.dlc"]
    html = client.download_artifacts(q.info.run_id, "report.html", str(tmp_path))
    assert "Quantization run" in open(html, encoding="utf-8").read()

    # Again: nothing new; one more run by id is added to the same MLflow experiment.
    again = cli.json(
        "export", "mlflow", "--experiment", seeded.experiment, "--tracking-uri", tracking
    )
    assert again["exported"] == [] and sorted(again["skipped"]) == sorted(data["exported"])
    more = cli.json("export", "mlflow", str(seeded.quantize_runs[0]), "--tracking-uri", tracking,
                    "--mlflow-experiment", data["experiment"], "--no-containers")  # fmt: skip
    assert more["exported"] == [seeded.quantize_runs[0]]
    assert len(client.search_runs([experiment.experiment_id])) == 4


def test_bad_input_is_one_line(cli, store, tracking, monkeypatch, tmp_path) -> None:
    seed_store(store)
    none = cli("export", "mlflow", "--tracking-uri", tracking)
    assert none.exit_code == 2 and "give run ids or --experiment" in none.stderr
    missing = cli("export", "mlflow", "99999", "--tracking-uri", tracking)
    assert missing.exit_code == 2 and "no run 99999" in missing.stderr
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # MLflow keeps a store per URI: a new one
    refused = cli("export", "mlflow", "1", "--tracking-uri", (tmp_path / "other").as_uri())
    assert refused.exit_code == 2 and "MLFLOW_ALLOW_FILE_STORE=true" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_without_the_extra_the_error_says_how_to_install(store, monkeypatch) -> None:
    from workbench.jobs.export_mlflow import export_mlflow

    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(BadInput, match=r"MLflow is not installed: pip install -e '\.\[mlflow\]'"):
        export_mlflow(store, "default", tracking_uri="file:///nowhere", run_ids=[1])
