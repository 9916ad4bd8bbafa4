"""Browsing and annotating runs."""

from __future__ import annotations

import pytest

from workbench.errors import BadInput, NotFound
from workbench.jobs.experiments import add_runs, create_experiment
from workbench.jobs.projects import create_project
from workbench.jobs.runs import (
    RunFilter,
    list_runs,
    set_baseline,
    set_note,
    set_starred,
    show_run,
    tag_run,
    untag_run,
)
from workbench.store import Model
from workbench.store.queries import get_project


def _model(store, name: str) -> int:
    with store.write() as s:
        model = Model(
            project_id=get_project(s, "default").id,
            name=name,
            source_path=f"/{name}.onnx",
            sha256="0" * 64,
            format="onnx",
        )
        s.add(model)
        s.flush()
        return model.id


def test_list_is_newest_first_with_totals(store, make_run) -> None:
    ids = [make_run() for _ in range(5)]
    page = list_runs(store, "default", limit=2, offset=1)
    assert [r.id for r in page.rows] == ids[::-1][1:3]
    assert (page.total, page.limit, page.offset) == (5, 2, 1)


def test_list_filters(store, make_run) -> None:
    mobilenet = _model(store, "mobilenet")
    a = make_run(kind="bench", runtime="dsp", tags=["x"], model_id=mobilenet, sqnr_db=40.0)
    b = make_run(kind="quantize", status="failed", sqnr_db=20.0)
    c = make_run(kind="bench", runtime="cpu", starred=True)

    def ids(model: str | None = None, **kw) -> list[int]:
        return [r.id for r in list_runs(store, "default", RunFilter(**kw), model=model).rows]

    assert ids() == [c, b, a]
    assert ids(kind="bench") == [c, a]
    assert ids(status="failed") == [b]
    assert ids(runtime="dsp") == [a]
    assert ids(tags=("x",)) == [a]
    assert ids(model="mobilenet") == [a]
    assert ids(model=str(mobilenet)) == [a]
    assert ids(starred=True) == [c]
    rows = {r.id: r for r in list_runs(store, "default").rows}
    assert rows[a].model == "mobilenet" and rows[a].runtime == "dsp" and rows[a].sqnr_db == 40.0
    assert rows[b].runtime is None and rows[b].sqnr_db == 20.0


def test_list_model_name_is_the_newest_model_of_that_name(store, make_run) -> None:
    # `runs list --model NAME` means one model (as everywhere a command names a model);
    # the TUI's `model:NAME` token matches every model of that name (test_browse).
    older, newer = _model(store, "mobilenet"), _model(store, "mobilenet")
    of_older, of_newer = make_run(model_id=older), make_run(model_id=newer)
    assert [r.id for r in list_runs(store, "default", model="mobilenet").rows] == [of_newer]
    assert [r.id for r in list_runs(store, "default", model=str(older)).rows] == [of_older]


def test_list_refuses_bad_input(store) -> None:
    with pytest.raises(BadInput, match="--limit"):
        list_runs(store, "default", limit=0)
    with pytest.raises(BadInput, match="--offset"):
        list_runs(store, "default", offset=-1)
    with pytest.raises(BadInput, match="unknown status"):
        list_runs(store, "default", RunFilter(status="done"))
    with pytest.raises(BadInput, match="invalid tag"):
        list_runs(store, "default", RunFilter(tags=("has space",)))
    with pytest.raises(NotFound, match="no model 'resnet'"):
        list_runs(store, "default", model="resnet")
    with pytest.raises(NotFound, match="no project named 'nope'"):
        list_runs(store, "nope")


def test_tags(store, make_run) -> None:
    run = make_run(tags=["a"])
    assert tag_run(store, run, ["b", "a", "c"]).tags == ("a", "b", "c")
    assert untag_run(store, run, ["a", "zzz"]).tags == ("b", "c")
    with pytest.raises(BadInput, match="invalid tag"):
        tag_run(store, run, ["has space"])


def test_notes_and_stars(store, make_run) -> None:
    run = make_run()
    assert set_note(store, run, "looks good").notes == "looks good"
    assert set_note(store, run, "").notes == ""
    assert set_starred(store, run).starred
    assert not set_starred(store, run, False).starred


def test_one_baseline_per_project_and_kind(store, make_run) -> None:
    first, second = make_run(kind="bench"), make_run(kind="bench")
    quant = make_run(kind="quantize")
    create_project(store, "other")
    elsewhere = make_run(kind="bench", project="other")
    for run in (first, quant, elsewhere):
        set_baseline(store, run)
    set_baseline(store, second)
    assert not show_run(store, first).baseline
    assert show_run(store, second).baseline
    assert show_run(store, quant).baseline and show_run(store, elsewhere).baseline
    assert not set_baseline(store, second, False).baseline


def test_show_includes_details_and_experiments(store, make_run) -> None:
    run = make_run(kind="bench", runtime="gpu_fp16")
    create_experiment(store, "default", "e1")
    add_runs(store, "default", "e1", [run])
    shown = show_run(store, run)
    assert shown.details["runtime"] == "gpu_fp16"
    assert shown.experiments == ("e1",)
    assert shown.layers == ()


def test_unknown_run_ids_are_not_found(store) -> None:
    for action in (
        lambda: show_run(store, 7),
        lambda: tag_run(store, 7, ["x"]),
        lambda: set_note(store, 7, "x"),
        lambda: set_starred(store, 7),
        lambda: set_baseline(store, 7),
    ):
        with pytest.raises(NotFound, match="no run with id 7"):
            action()
