"""autoquant_job: candidates in order of cost, the first meeting the goal chosen, all stored."""

from __future__ import annotations

import pytest

from tests.modelzoo import small_cnn, write_inputs
from workbench.errors import BadInput
from workbench.jobs.autoquant import STAGES, AutoquantRequest, autoquant_job
from workbench.jobs.convert import convert_model
from workbench.jobs.experiments import show_experiment
from workbench.jobs.runs import show_run
from workbench.options import AutoquantOptions, Goal
from workbench.vocabulary import INTERRUPTED, SUCCEEDED


@pytest.fixture
def model(store, tmp_path):
    convert_model(store, "default", small_cnn(tmp_path / "m.onnx"), tmp_path / "m.dlc")
    listing, _ = write_inputs(tmp_path, 3)
    return tmp_path / "m.dlc", listing


def _request(model, tmp_path, **options):
    dlc, listing = model
    return AutoquantRequest(dlc, listing, listing, tmp_path / "best.dlc", options)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sqnr", "takes METRIC>=VALUE"),
        ("speed>=3", "unknown metric 'speed'.*known: sqnr, cosine"),
        ("sqnr<=30", "better higher; write sqnr>=VALUE"),
        ("mae>=0.1", "better lower; write mae<=VALUE"),
        ("top1>=99", "fraction; write top1>=0.99"),
        ("sqnr-drop<=1", "sqnr has no drop"),
        ("top1-drop>=1", "upper bound"),
        ("label-accuracy-drop<=-1", "cannot be negative"),
        ("iou>=high", "not a number"),
        ("sqnr>=nan", "finite"),
    ],
)
def test_bad_goals_are_refused_in_one_line(text, message):
    with pytest.raises(BadInput, match=message) as caught:
        AutoquantOptions(goal=text)
    assert "\n" not in str(caught.value)


def test_goals_of_every_kind_parse():
    assert Goal.parse(" SQNR >= 30 ") == Goal("sqnr", True, 30.0)
    assert Goal.parse("top1>=0.99").text == "top1>=0.99"
    assert Goal.parse("label-accuracy-drop<=1") == Goal("label-accuracy", False, 1.0, True)
    assert Goal.parse("iou>=0.9").metric == "iou"
    assert Goal.parse("mae<=0.01") == Goal("mae", False, 0.01)
    with pytest.raises(BadInput, match="--goal is required"):
        AutoquantOptions()


def test_a_goal_the_default_meets_stops_at_the_first_candidate(store, model, tmp_path):
    result = autoquant_job(store, "default", _request(model, tmp_path, goal="sqnr>=20"))
    assert [c.label for c in result.candidates] == ["tf"]
    assert result.met and result.chosen == 1 and result.stopped is None
    assert "#1 tf won" in result.why and "sqnr>=20" in result.why
    assert (tmp_path / "best.dlc").read_bytes() == (
        tmp_path / "best.candidates" / "01-tf.dlc"
    ).read_bytes()


def test_the_search_stops_at_the_first_candidate_meeting_the_goal(store, model, tmp_path):
    # First everything the search tries against an unreachable goal, then a goal that a
    # candidate in the middle reaches: the search stops there.
    everything = autoquant_job(
        store, "default", _request(model, tmp_path, goal="sqnr>=200", experiment="all")
    )
    stages = [c.stage for c in everything.candidates]
    assert stages[:3] == ["scheme"] * 3 and [c.label for c in everything.candidates[:3]] == [
        "tf", "enhanced", "percentile"
    ]  # fmt: skip
    assert [STAGES.index(s) for s in stages] == sorted(STAGES.index(s) for s in stages)
    assert {"per-channel", "cle+bc", "adaround", "float"} <= set(stages)
    # Mixes start from 32-bit biases, whatever the bias32 stage measured at 8 bits: an
    # 8-bit bias is the floor once a layer is 16-bit.
    mixed = [c for c in everything.candidates if c.stage in ("int16", "w16", "float")]
    assert mixed and all(c.options["bias_bitwidth"] == 32 for c in mixed)
    measured = [c for c in everything.candidates if c.score is not None]
    target = sorted({c.score for c in measured})[-2]  # reached, but not by the first ones
    first = next(c for c in measured if c.score >= target)
    assert first.index > 1

    goal = f"sqnr>={target - 0.05:.2f}"
    result = autoquant_job(store, "default", _request(model, tmp_path, goal=goal))
    chosen = result.candidate(result.chosen)
    assert result.met and chosen is not None and chosen.meets
    assert chosen.index == len(result.candidates)  # nothing tried after it
    assert all(not c.meets for c in result.candidates[:-1])
    assert "won: the first candidate in order of cost" in result.why


def test_a_goal_no_candidate_meets_writes_the_best_and_says_so(store, model, tmp_path):
    result = autoquant_job(
        store, "default", _request(model, tmp_path, goal="sqnr>=200", experiment="aq")
    )
    assert not result.met and result.output == str(tmp_path / "best.dlc")
    best = result.candidate(result.chosen)
    assert best.score == max(c.score for c in result.candidates if c.score is not None)
    assert "not met" in result.why and f"#{best.index}" in result.why
    assert any("predicted" in s for s in result.skipped)  # SQNR: hopeless mixes skipped
    assert best.pareto and all(c.pareto for c in result.front)
    note = show_experiment(store, "default", result.experiment).note
    assert note.startswith("autoquant: goal sqnr>=200 on dsp;") and "not met" in note

    # Every candidate is a quantize run and a bench run on the target, in one experiment.
    saved = show_experiment(store, "default", "aq")
    ids = {i for c in result.candidates for i in (c.quantize_run_id, c.bench_run_id)}
    assert None not in ids and set(saved.run_ids) == ids
    for c in result.candidates:
        q, b = show_run(store, c.quantize_run_id), show_run(store, c.bench_run_id)
        assert q.kind == "quantize" and b.kind == "bench" and b.runtime == "dsp"
        assert q.status == SUCCEEDED and q.notes == f"autoquant #{c.index} ({c.stage}): {c.label}"
        assert b.sqnr_db == pytest.approx(c.sqnr_db)


def test_the_budget_stops_the_search_and_says_so(store, model, tmp_path):
    result = autoquant_job(
        store, "default", _request(model, tmp_path, goal="sqnr>=200", budget_minutes=0.0001)
    )
    assert len(result.candidates) == 1 and result.stopped == "the budget of 0.0001 min ran out"
    assert "ran out" in result.why and (tmp_path / "best.dlc").is_file()


def test_ctrl_c_leaves_the_finished_candidates_stored(store, model, tmp_path):
    def progress(stage, done, total):
        if stage.startswith("#2 "):
            raise KeyboardInterrupt

    request = _request(model, tmp_path, goal="sqnr>=200", experiment="stopped")
    with pytest.raises(KeyboardInterrupt):
        autoquant_job(store, "default", request, progress=progress)
    saved = show_experiment(store, "default", "stopped")
    runs = [show_run(store, i) for i in saved.run_ids]
    assert [(r.kind, r.status) for r in runs] == [("quantize", SUCCEEDED), ("bench", SUCCEEDED)]
    assert "did not finish" in saved.note
    assert not (tmp_path / "best.dlc").exists()
    assert any(r.status == INTERRUPTED for r in _all_runs(store))


def _all_runs(store):
    from workbench.jobs.runs import list_runs

    return list_runs(store, "default").rows


def test_bad_requests_are_refused_before_any_work(store, model, tmp_path):
    with pytest.raises(BadInput, match="needs --labels"):
        autoquant_job(store, "default", _request(model, tmp_path, goal="label-accuracy>=0.9"))
    dlc, listing = model
    with pytest.raises(BadInput, match="should end in .dlc"):
        autoquant_job(store, "default", AutoquantRequest(dlc, listing, listing, tmp_path / "x",
                                                         {"goal": "sqnr>=1"}))  # fmt: skip
    first = autoquant_job(store, "default", _request(model, tmp_path, goal="sqnr>=1"))
    with pytest.raises(BadInput, match="is quantized"):
        autoquant_job(store, "default", AutoquantRequest(first.output, listing, listing,
                                                         tmp_path / "again.dlc",
                                                         {"goal": "sqnr>=1"}))  # fmt: skip


def test_a_drop_goal_with_labels_is_measured_from_float(store, model, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("0\n1\n2\n")
    result = autoquant_job(
        store,
        "default",
        _request(model, tmp_path, goal="label-accuracy-drop<=100", labels=str(labels)),
    )
    chosen = result.candidate(result.chosen)
    assert result.met and chosen.index == 1 and chosen.value is not None
    assert chosen.score <= 100 and "pts" in result.why
