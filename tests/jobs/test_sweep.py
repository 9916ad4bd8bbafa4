"""workbench sweep: the spec's cells by content, the local pool, resuming, the results.

One local sweep of 2 models x 3 settings x 2 runtimes on two worker processes, then the
same spec again (every cell skipped), then one more setting (only its cells run); the
spec's checks and the ranking need no sweep at all.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.jobs.sweepspec import write_zoo
from workbench.errors import BadInput, NotFound
from workbench.jobs.sweep import SweepRequest, sweep_job
from workbench.jobs.sweep.results import CellResult, best_cell, pareto_keys, show_sweep
from workbench.jobs.sweep.spec import load_spec
from workbench.store import ExperimentRun, Run, SweepCell


def _request(spec, **options):
    return SweepRequest(spec, {"jobs": 2, **options})


def test_local_sweep_resumes_by_content(store, tmp_path):
    spec = write_zoo(tmp_path)
    seen = []
    first = sweep_job(store, "default", _request(spec), progress=seen.append)
    assert (first.total, first.ran, first.skipped, first.status) == (12, 12, 0, "succeeded")
    assert first.counts["succeeded"] == 12
    assert seen[-1].done == 12 and seen[-1].failed == 0
    assert all(c.metric_value is not None and c.size_bytes for c in first.cells)
    # One quantize per (model, setting), one bench per cell, all in the sweep's experiment.
    with store.read() as session:
        kinds = dict(session.execute(select(Run.kind, func.count()).group_by(Run.kind)).all())
        members = session.scalar(select(func.count()).select_from(ExperimentRun))
        statuses = set(session.scalars(select(Run.status)))
    assert kinds == {"quantize": 6, "bench": 12}
    assert members == 18 and statuses == {"succeeded"}
    assert {(c.model, c.runtime) for c in first.best} == {
        (m, r) for m in ("m0", "m1") for r in ("cpu", "dsp")
    }

    again = sweep_job(store, "default", _request(spec))
    assert (again.ran, again.skipped, again.status) == (0, 12, "succeeded")
    assert [c.key for c in again.cells] == [c.key for c in first.cells]

    # One more setting: only its 4 cells run; the float containers are used again.
    spec = write_zoo(tmp_path, settings='["tf", "enhanced", "symmetric", "percentile"]')
    more = sweep_job(store, "default", _request(spec))
    assert (more.total, more.ran, more.skipped, more.counts["succeeded"]) == (16, 4, 12, 16)
    with store.read() as session:
        kinds = dict(session.execute(select(Run.kind, func.count()).group_by(Run.kind)).all())
        cells = session.scalar(select(func.count()).select_from(SweepCell))
    assert kinds == {"quantize": 8, "bench": 16}
    assert cells == 16
    detail = show_sweep(store, "default", "zoo")
    assert detail.info.status == "succeeded" and detail.runtimes == ("cpu", "dsp")


def test_a_cell_is_named_by_content(tmp_path):
    base = load_spec(write_zoo(tmp_path / "a"))
    keys = {c.key for c in base.cells}
    assert len(keys) == 12
    # Another spelling of the same spec (dashes, a default given, another folder with
    # the same files): the same cells.
    other = write_zoo(tmp_path / "b", extra='act-quantizer = "tf"\n')
    assert {c.key for c in load_spec(other).cells} == keys
    # One option changed: every cell is new; one runtime more: only its cells are new.
    changed = load_spec(write_zoo(tmp_path / "a", extra="per_channel = true\n"))
    assert not keys & {c.key for c in changed.cells}
    wider = load_spec(write_zoo(tmp_path / "a", runtimes='["cpu", "dsp", "gpu"]'))
    assert keys < {c.key for c in wider.cells} and len(wider.cells) == 18
    # The data counts too: another calibration input, other cells.
    (tmp_path / "a" / "in0.raw").write_bytes(b"\0" * (3 * 8 * 8 * 4))
    assert not keys & {c.key for c in load_spec(tmp_path / "a" / "zoo.toml").cells}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("colour = 3\n", "unknown quantize option 'colour'"),
        ("weights_bitwidth = [8, 5]\n", "weights_bitwidth"),
        ("per_channel = 1\n", "expected true or false"),
    ],
)
def test_bad_grids_are_refused_with_the_option(tmp_path, extra, words):
    with pytest.raises(BadInput, match=words):
        load_spec(write_zoo(tmp_path, extra=extra))


def test_bad_specs(store, tmp_path):
    with pytest.raises(NotFound):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(BadInput, match="not valid TOML"):
        load_spec(bad)
    spec = write_zoo(tmp_path)
    spec.write_text(spec.read_text().replace("m1.onnx", "gone.onnx"))
    with pytest.raises(NotFound, match="gone.onnx"):
        load_spec(spec)
    spec = write_zoo(tmp_path, runtimes='["cpu", "npu"]')
    with pytest.raises(BadInput, match="npu"):
        sweep_job(store, "default", _request(spec))
    with pytest.raises(BadInput, match="--executor ray"):
        _request(write_zoo(tmp_path), address="127.0.0.1:6379")


def _cell(key, metric, size, init, status="succeeded"):
    return CellResult(
        key=key, model="m", model_id=1, setting={}, setting_label=key, runtime="dsp",
        status=status, error=None, skipped=False, quantize_run_id=None, bench_run_id=None,
        attempts=1, host=None, duration_s=None, metric="sqnr", metric_value=metric,
        sqnr_db=metric, cosine=None, top1_agreement=None, label_accuracy=None,
        size_bytes=size, init_ms=init, device_init_ms=None, init_peak_bytes=None,
        latency_ms=None,
    )  # fmt: skip


def test_best_and_pareto_front():
    cells = [
        _cell("accurate", 40.0, 1000, 5.0),
        _cell("small", 30.0, 500, 5.0),
        _cell("dominated", 29.0, 600, 6.0),  # worse than "small" on all three
        _cell("quick", 20.0, 900, 1.0),
        _cell("failed", None, None, None, status="failed"),
    ]
    assert pareto_keys(cells, "sqnr") == {"accurate", "small", "quick"}
    assert best_cell(cells, "sqnr").key == "accurate"
    # max-abs: lower is better
    assert best_cell(cells, "max-abs").key == "quick"


def test_a_many_valued_option_takes_lists_as_values(tmp_path):
    extra = 'algorithms = [[], ["cle"], "cle,bc", ["bc", "cle"]]\n'
    spec = load_spec(write_zoo(tmp_path, settings='"tf"', extra=extra))
    assert [s.label for s in spec.settings] == [
        "algorithms=none", "algorithms=cle", "algorithms=cle,bc"
    ]  # fmt: skip
    assert len(spec.cells) == 2 * 3 * 2


class _HeldExecutor:
    """An executor whose tasks never finish: the driver's state when Ctrl-C lands."""

    name = "local"
    slots = 8

    def __init__(self):
        self.submitted: list = []

    def submit(self, task):
        self.submitted.append(task)
        return len(self.submitted)

    def wait(self, handles, tasks, timeout):
        return []

    def stop(self):
        pass

    def close(self):
        pass


def test_ctrl_c_while_a_model_converts_leaves_its_cells_pending(store, tmp_path, monkeypatch):
    """m0 is given as a container (its quantizes start), m1 is still converting: Ctrl-C
    marks m0's quantizing cells interrupted; m1's cells, which only wait, stay pending."""
    from workbench.jobs.convert import convert_model
    from workbench.jobs.sweep import driver

    spec = write_zoo(tmp_path)
    convert_model(store, "default", tmp_path / "m0.onnx", tmp_path / "m0.dlc")
    spec.write_text(spec.read_text().replace('path = "m0.onnx"', 'path = "m0.dlc"'))
    held = _HeldExecutor()
    monkeypatch.setattr(driver, "_executor", lambda *args: held)

    def ctrl_c(progress):
        if held.submitted:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep_job(store, "default", _request(spec), progress=ctrl_c)
    assert sorted(t.kind for t in held.submitted) == ["convert"] + ["quantize"] * 3
    with store.read() as session:
        rows = session.execute(select(SweepCell.model_name, SweepCell.status)).all()
    statuses = {(model, status) for model, status in rows}
    assert statuses == {("m0", "interrupted"), ("m1", "pending")}, rows


def _goal_spec(folder, goals='["sqnr>=20"]', runtimes='["gpu", "dsp"]', extra=""):
    write_zoo(folder)  # the models and the input list
    spec = folder / "goals.toml"
    spec.write_text(
        f'name = "goals"\nruntimes = {runtimes}\ncalibration = "list.txt"\neval = "list.txt"\n'
        f"goals = {goals}\n{extra}"
        '[[models]]\npath = "m0.onnx"\n[grid]\nparam_quantizer = "tf"\nanalyze = false\n'
        "[bench]\niterations = 1\n"
    )
    return spec


def test_a_goal_cell_runs_autoquant_and_resumes(store, tmp_path):
    spec = _goal_spec(tmp_path, extra="goal-budget-minutes = 5\n")
    loaded = load_spec(spec)
    goal_cells = [c for c in loaded.cells if c.setting.goal]
    # The grid on both runtimes; the goal only where autoquant searches (not the GPU).
    assert [(c.setting.label, c.runtime) for c in loaded.cells] == [
        ("defaults", "gpu"), ("defaults", "dsp"), ("goal=sqnr>=20", "dsp")
    ]  # fmt: skip
    assert goal_cells[0].setting.budget_minutes == 5.0
    assert loaded.to_json()["goals"] == ["sqnr>=20"]

    result = sweep_job(store, "default", _request(spec, jobs=1))
    assert (result.total, result.ran, result.counts["succeeded"]) == (3, 3, 3)
    cell = next(c for c in result.cells if c.setting_label == "goal=sqnr>=20")
    assert cell.status == "succeeded" and cell.metric_value >= 20  # the chosen candidate's
    assert cell.bench_run_id and cell.quantize_run_id
    with store.read() as session:
        runs = {r.id: r for r in session.scalars(select(Run))}
        members = set(session.scalars(select(ExperimentRun.run_id)))
    assert runs[cell.bench_run_id].notes == "autoquant #1 (scheme): tf"
    assert {cell.bench_run_id, cell.quantize_run_id} <= members  # in the sweep's experiment
    again = sweep_job(store, "default", _request(spec, jobs=1))
    assert (again.ran, again.skipped) == (0, 3)


def test_bad_goals_in_a_spec(store, tmp_path):
    with pytest.raises(BadInput, match="goals: --goal 'speed>=1': unknown metric"):
        load_spec(_goal_spec(tmp_path, goals='["speed>=1"]'))
    with pytest.raises(BadInput, match="goals is a list of autoquant goals"):
        load_spec(_goal_spec(tmp_path, goals='"sqnr>=20"'))
    with pytest.raises(BadInput, match="goals search on dsp, aip, cpu"):
        load_spec(_goal_spec(tmp_path, runtimes='["gpu"]'))
    with pytest.raises(BadInput, match="goal-budget-minutes without goals"):
        load_spec(_no_goal_with_budget(tmp_path))
    with pytest.raises(BadInput, match="local executor only"):
        sweep_job(store, "default", _request(_goal_spec(tmp_path), executor="ray"))


def _no_goal_with_budget(folder):
    spec = _goal_spec(folder)
    spec.write_text(spec.read_text().replace('goals = ["sqnr>=20"]\n', "goal-budget-minutes = 3\n"))
    return spec
