"""What must behave the same on SQLite and PostgreSQL (run with WORKBENCH_TEST_DB for both).

Each test here failed on PostgreSQL before the store made the backends agree:
text PostgreSQL refuses (NUL, over-long names), JSON it refuses (NaN),
ids beyond its 32-bit keys, and read-modify-write races that SQLite's single
writer hid.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from workbench.errors import NotFound, StoreError
from workbench.jobs.browse import TableQuery, page_models, page_runs
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.runs import list_runs, show_run
from workbench.store import BenchmarkRun, ExperimentRun, LayerStat, Model, Project, Run, RunTag
from workbench.store.queries import get_project


def test_nul_characters_are_stored_as_replacement_characters(store) -> None:
    with tracked_run(store, project="default", kind="quantize") as run:
        run.add_layer_stats([dict(layer_index=0, layer_name="conv\x00evil", op_type="Conv")])
        run.log("node conv\x00evil")
    with (
        pytest.raises(RuntimeError),
        tracked_run(store, project="default", kind="bench", runtime="cpu") as failed,
    ):
        raise RuntimeError("bad node a\x00b")
    assert show_run(store, failed.id).error == "RuntimeError: bad node a\ufffdb"
    detail = show_run(store, run.id)
    assert detail.layers[0]["layer_name"] == "conv\ufffdevil"
    assert detail.log == "node conv\ufffdevil"


def test_over_long_names_are_cut_to_the_column(store) -> None:
    from workbench.jobs.artifacts import ModelInfo, record_model

    name = "m" * 250  # a model's file name: up to 255 characters, the column holds 200
    model_id = record_model(store, "default", ModelInfo(
        name=name, source_path="/x/" + name, sha256="a" * 64,
        fmt="onnx", opset=17, inputs=[], param_count=1, macs=1,
    ))  # fmt: skip
    with store.read() as s:
        stored = s.get(Model, model_id)
        assert stored.name == "m" * 199 + "…" and stored.source_path == "/x/" + name


def test_non_finite_json_numbers_are_stored_as_null(store) -> None:
    with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
        run.record(options={"mode": "x", "nan": float("nan"), "inf": [float("inf"), 1.5]})
    with store.read() as s:
        options = s.get(BenchmarkRun, run.id).options
    assert options == {"mode": "x", "nan": None, "inf": [None, 1.5]}


@pytest.mark.parametrize("run_id", [0, 3_000_000_000, 10**20])
def test_ids_no_row_can_have_are_not_found(store, run_id: int) -> None:
    with pytest.raises(NotFound, match=f"no run with id {run_id}"):
        show_run(store, run_id)


def test_impossible_ids_and_offsets_in_listings_select_nothing(store, make_run) -> None:
    make_run()
    assert list_runs(store, "default", offset=10**20).rows == []
    for text in ("3000000000", str(10**20), "model:3000000000"):
        assert page_runs(store, "default", TableQuery(text=text)).rows == []
    assert page_models(store, "default", TableQuery(text="3000000000")).rows == []
    assert page_runs(store, "default", TableQuery(offset=10**20)).rows == []


def test_cli_impossible_run_id_is_one_line_exit_2(cli) -> None:
    result = cli("runs", "show", "3000000000")
    assert result.exit_code == 2 and "no run with id 3000000000" in result.stderr
    assert "Traceback" not in result.stderr


def test_write_sessions_take_the_write_lock_at_begin(store, store_url: str) -> None:
    # Held from BEGIN, before any row is touched: a second writer (another
    # process's store) waits for the commit instead of racing the first.
    from workbench.store import open_store

    other = open_store(store_url)
    order: list[str] = []
    started = threading.Event()

    def second() -> None:
        started.set()
        with other.write() as s:
            s.execute(select(1))  # returns once the lock is ours
            order.append("second")
            s.add(Project(name="second"))

    try:
        with store.write() as s:
            s.execute(select(1))  # no write yet
            thread = threading.Thread(target=second)
            thread.start()
            started.wait()
            time.sleep(0.5)
            order.append("first")
        thread.join(timeout=30)
        assert order == ["first", "second"]
    finally:
        other.close()


def test_a_writer_that_waits_too_long_gets_a_store_error(
    store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.store import database, open_store

    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.3)
    impatient = open_store(store_url)
    try:
        with store.write() as s:
            s.add(Project(name="holder"))
            s.flush()
            with pytest.raises(StoreError, match="locked|lock timeout") as caught:
                with impatient.write() as other:
                    other.add(Project(name="waiter"))
        assert len(str(caught.value).splitlines()) == 1
    finally:
        impatient.close()


_RACER = """
import sys, time
from pathlib import Path
from workbench.jobs.experiments import add_runs
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.runs import set_baseline, tag_run
from workbench.store import open_store

url, shared, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
store = open_store(url)
while not go.exists():
    time.sleep(0.002)
with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
    pass  # the first run in "default" creates the project: all racers at once
tag_run(store, shared, ["same"])
set_baseline(store, run.id)
add_runs(store, "other", "e", [shared])
print("ok")
"""


def test_racing_read_modify_writes_keep_their_invariants(store, store_url: str, tmp_path: Path):
    # Four processes at once: create the default project, add one tag to one
    # run, claim the one baseline, add one run to one experiment. Whatever
    # the order, each must succeed and each invariant hold.
    from workbench.jobs.experiments import create_experiment
    from workbench.jobs.projects import create_project

    create_project(store, "other")
    create_experiment(store, "other", "e")
    with tracked_run(store, project="other", kind="bench", runtime="cpu") as shared:
        pass
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, store_url, str(shared.id), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(1.0)  # let them import and open the store
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "ok", err
    with store.read() as s:
        default = get_project(s, "default", create_default=False)
        assert s.scalar(select(func.count()).where(Project.name == "default")) == 1
        assert s.scalar(select(func.count()).where(Run.project_id == default.id)) == 4
        assert s.scalars(select(RunTag.tag).where(RunTag.run_id == shared.id)).all() == ["same"]
        baselines = s.scalar(select(func.count()).where(Run.project_id == default.id, Run.baseline))
        assert baselines == 1
        assert s.scalar(select(func.count()).select_from(ExperimentRun)) == 1


def test_layer_stats_keep_their_order_and_values(store) -> None:
    # Floats, negative offsets and 64-bit sizes read back exactly on both.
    with tracked_run(store, project="default", kind="quantize") as run:
        run.record(peak_memory_bytes=5 * 2**32)
        run.add_layer_stats(
            dict(layer_index=i, layer_name=f"l{i}", op_type="Conv", scale=0.1 / (i + 1),
                 offset=-(2**31) + i, sqnr_db=float(i) + 0.25)
            for i in range(3)
        )  # fmt: skip
    with store.read() as s:
        stats = s.scalars(select(LayerStat).order_by(LayerStat.layer_index)).all()
        assert [(x.offset, x.sqnr_db) for x in stats] == [
            (-(2**31) + i, float(i) + 0.25) for i in range(3)
        ]
        assert stats[2].scale == 0.1 / 3
        assert s.get(Run, run.id).peak_memory_bytes == 5 * 2**32
