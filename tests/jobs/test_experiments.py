"""Experiments: named sets of runs."""

from __future__ import annotations

import pytest

from workbench.errors import BadInput, NotFound
from workbench.jobs.experiments import (
    add_runs,
    create_experiment,
    list_experiments,
    remove_runs,
    set_experiment_note,
    show_experiment,
)
from workbench.jobs.projects import create_project


def test_create_add_show_remove(store, make_run) -> None:
    quant, bench = make_run(kind="quantize"), make_run(kind="bench")
    created = create_experiment(store, "default", "int8 vs float", note="first try")
    assert created.run_ids == () and created.note == "first try"
    assert add_runs(store, "default", "int8 vs float", [bench, quant, bench]).run_ids == (
        quant,
        bench,
    )
    shown = show_experiment(store, "default", "int8 vs float")
    assert [r.id for r in shown.runs] == [bench, quant]  # newest first
    assert {r.kind for r in shown.runs} == {"quantize", "bench"}
    assert remove_runs(store, "default", "int8 vs float", [quant]).run_ids == (bench,)
    assert set_experiment_note(store, "default", "int8 vs float", "x").note == "x"


def test_list(store, make_run) -> None:
    run = make_run()
    create_experiment(store, "default", "b")
    create_experiment(store, "default", "a")
    add_runs(store, "default", "b", [run])
    listed = list_experiments(store, "default")
    assert [(e.name, e.run_ids) for e in listed] == [("a", ()), ("b", (run,))]


def test_names_are_unique_per_project(store) -> None:
    create_project(store, "other")
    create_experiment(store, "default", "e")
    create_experiment(store, "other", "e")
    with pytest.raises(BadInput, match="already exists"):
        create_experiment(store, "default", "e")
    with pytest.raises(BadInput, match="invalid experiment name"):
        create_experiment(store, "default", " ")


def test_runs_of_another_project_are_refused(store, make_run) -> None:
    create_project(store, "other")
    foreign = make_run(project="other")
    create_experiment(store, "default", "e")
    with pytest.raises(BadInput, match="another project"):
        add_runs(store, "default", "e", [foreign])
    with pytest.raises(NotFound, match="no run with id 999"):
        add_runs(store, "default", "e", [999])
    with pytest.raises(NotFound, match="no experiment named 'x'"):
        show_experiment(store, "default", "x")


def test_a_made_up_name_already_taken_is_numbered_on(store) -> None:
    # Two `advise` (or `demo`) calls in the same second make the same timestamped name:
    # the second is saved as "... (2)" instead of failing after all its measurements.
    name = "advise demo 2026-12-07 22:33:11"
    assert create_experiment(store, "default", name, unique=True).name == name
    assert create_experiment(store, "default", name, unique=True).name == f"{name} (2)"
    assert create_experiment(store, "default", name, unique=True).name == f"{name} (3)"
    with pytest.raises(BadInput, match="already exists"):
        create_experiment(store, "default", name)  # a name the user gave stays refused
