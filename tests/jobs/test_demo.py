"""The demo builds a whole project from the bundled model, and can run again."""

from __future__ import annotations

from workbench.jobs.demo import VARIANTS, demo_job
from workbench.jobs.experiments import list_experiments
from workbench.jobs.projects import show_project
from workbench.jobs.runs import list_runs


def test_demo_builds_the_project_and_runs_twice(store, cli, tmp_path):
    first = demo_job(store, workdir=tmp_path / "demo", samples=6, iterations=1)
    assert first.project == "demo" and first.tui_command == "workbench --project demo tui"
    assert [v.name for v in first.variants] == [stem for stem, _, _ in VARIANTS]
    # float + 4 quantized on 5 runtimes, quantized ones also with --cpu-fxp; float AIP refused.
    assert len(first.bench) == 5 * 5 + 4
    statuses = {(r.container.endswith("demo.dlc"), r.runtime): r.status for r in first.bench}
    assert statuses[(True, "aip")] == "refused"
    assert all(
        r.status == "succeeded" for r in first.bench if not (r.runtime == "aip" and not r.quantized)
    )
    assert first.float_accuracy is not None
    assert {r.runtime for r in first.advice.recommendations} == {
        "cpu",
        "gpu",
        "gpu_fp16",
        "dsp",
        "aip",
    }

    # Again, through the command line: new runs, a new experiment, no failure.
    second = cli.json(
        "demo", "--workdir", str(tmp_path / "demo"), "--samples", "6", "--iterations", "1"
    )
    assert second["project"] == "demo" and second["experiment"] != first.experiment
    project = show_project(store, "demo")
    # One model; each run writes its containers afresh (the manifest has a creation time).
    assert project.models == 1 and project.containers == 10
    runs = list_runs(store, "demo", limit=500)
    assert runs.total == 2 * (4 + len(first.bench))
    assert {e.name for e in list_experiments(store, "demo")} == {
        first.experiment,
        second["experiment"],
    }
