"""Two processes write one store at once: no lock errors, nothing lost.

The quick check; tests/reliability/test_concurrency.py soaks the TUI and four
writers for longer. Both run on PostgreSQL too (WORKBENCH_TEST_DB).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from workbench.store import Run, RunTag

_WRITER = """
import sys, time
from pathlib import Path
from workbench.store import open_store
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.runs import tag_run

url, name, count, shared, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
store = open_store(url)
while not go.exists():
    time.sleep(0.005)
for i in range(count):
    with tracked_run(store, project="default", kind="bench", runtime="cpu") as run:
        run.record(latency_mean_ms=float(i))
    tag_run(store, shared, [f"{name}-{i}"])  # read-modify-write of one shared row
print("done")
"""

WRITES = 30


def test_two_writer_processes_lose_nothing(store, store_url: str, make_run, tmp_path: Path) -> None:
    shared = make_run()
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, store_url, name, str(WRITES), str(shared), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "done"
    with store.read() as s:
        statuses = s.execute(select(Run.status, func.count()).group_by(Run.status)).all()
        assert dict(statuses) == {"succeeded": 1 + 2 * WRITES}
        tags = set(s.scalars(select(RunTag.tag).where(RunTag.run_id == shared)))
        assert tags == {f"{n}-{i}" for n in ("a", "b") for i in range(WRITES)}
