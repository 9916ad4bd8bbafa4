"""The demo builds a whole project from the bundled model; again, a fresh one or the same\nreplaced; `workbench tui` then opens it."""

from __future__ import annotations

from workbench.jobs.demo import VARIANTS, demo_job
from workbench.jobs.experiments import list_experiments
from workbench.jobs.projects import show_project, start_project
from workbench.jobs.runs import list_runs
from workbench.store.database import data_dir


def test_demo_builds_the_project_and_runs_twice(store, cli, tmp_path):
    first = demo_job(store, workdir=tmp_path / "demo", samples=4, iterations=1)
    assert first.project == "demo" and first.tui_command == "workbench tui"
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

    # Again, through the command line: a fresh project, its files in the user data dir.
    second = cli.json("demo", "--samples", "4", "--iterations", "1")
    assert second["project"] == "demo-2" and second["experiment"] != first.experiment
    assert second["workdir"] == str(data_dir() / "demo" / "demo-2")
    assert (data_dir() / "demo" / "demo-2" / "demo.dlc").is_file()
    assert start_project(store) == "demo-2"  # `workbench tui` opens it

    # A named project that exists is refused, unless replaced: rebuilt, not added to.
    refused = cli("demo", "--project", "demo", "--samples", "4")
    assert refused.exit_code == 2 and "--replace" in refused.stderr
    third = cli.json("--project", "demo", "demo", "--replace", "--workdir",
                     str(tmp_path / "demo"), "--samples", "4", "--iterations", "1")  # fmt: skip
    assert third["project"] == "demo"
    project = show_project(store, "demo")
    assert project.models == 1 and project.containers == 5 and project.experiments == 1
    assert list_runs(store, "demo", limit=500).total == 4 + len(first.bench)
    assert [e.name for e in list_experiments(store, "demo")] == [third["experiment"]]
    assert start_project(store) == "demo"
