"""No interrupt is lost: Ctrl-C or SIGTERM at any moment of a quantize's first second ends it.

A small quantize takes a second or two, most of it importing modules. The test runs one
unsignalled, then signals 20 of them, each after a different delay spread over the first
second, or over the whole run when a loaded machine makes it longer (up to 4 s), so that
the signals land in the imports, in the job and as it ends (SIGINT and SIGTERM in turn).
It accepts only: the command ended by the signal (130 / 143, or killed by the signal's
default action before our handlers were installed or after they were released), its run
``interrupted`` or never started, no partial output; or the job had already finished,
its run recorded ``succeeded`` before the signal was sent. Never "signal sent, exit 0"
for a job still at work.

``WORKBENCH_INTERRUPT_TABLE=path`` writes the measured table there (Markdown).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.modelzoo import small_cnn, write_inputs
from workbench.engine.container import read_container
from workbench.jobs.convert import convert_model
from workbench.jobs.leftovers import temp_file_pattern

from .jobproc import child, finish, kill_group, runs_of, workbench

SIGNALLED = 20
SIGNALS = [signal.SIGINT, signal.SIGTERM]


@dataclass(frozen=True)
class Outcome:
    delay_s: float
    signal: str
    sent: bool
    exit: int
    runs: tuple[str, ...]
    output: str  # none, complete
    verdict: str


def _check(delay: float, sig: int, sent_at: datetime | None, code: int, err: str, runs,
           output: Path) -> Outcome:  # fmt: skip
    statuses = tuple(r.status for r in runs)
    leftovers = [p for p in output.parent.iterdir() if temp_file_pattern(output).fullmatch(p.name)]
    assert not leftovers, f"{delay:.2f}s: partial output {leftovers}"
    if output.exists():
        read_container(output)  # a whole container, never a partial one
    name = signal.Signals(sig).name

    def outcome(verdict: str) -> Outcome:
        written = "complete" if output.exists() else "none"
        return Outcome(delay, name, sent_at is not None, code, statuses, written, verdict)

    finished_first = (
        statuses == ("succeeded",)
        and sent_at is not None
        and runs[0].finished_at is not None
        and runs[0].finished_at <= sent_at
    )
    if sent_at is None:  # it had ended before the delay was over
        assert (code, statuses) == (0, ("succeeded",)), (delay, code, statuses, err)
        return outcome("finished before the signal")
    if code in (128 + sig, -sig):
        assert statuses in ((), ("interrupted",)) or finished_first, (delay, code, statuses)
        if code == 130:
            assert err.strip().splitlines()[-1:] == ["error: interrupted"], err
        if statuses == ("interrupted",):
            return outcome("ended by the signal: run interrupted")
        if statuses:
            return outcome("job done; the signal ended its exit")
        return outcome("ended by the signal before the run began")
    if code == 1 and "<frozen site>" in err and not statuses:
        return outcome("ended by the signal while Python itself started")
    assert code == 0 and finished_first, (
        f"{delay:.2f}s {name}: signal sent, exit {code}, runs {statuses}: {err[-2000:]}"
    )
    return outcome("finished before the signal")


@pytest.mark.slow
def test_every_interrupt_in_the_first_second_ends_the_quantize(
    store, migrated_store_url: str, tmp_path: Path
) -> None:
    container = tmp_path / "small.dlc"
    convert_model(store, "default", small_cnn(tmp_path / "small.onnx"), container)
    listing, _ = write_inputs(tmp_path, 8)

    def quantize(i: int) -> tuple[list[str], Path]:
        folder = tmp_path / f"out{i}"
        folder.mkdir()
        output = folder / "q.dlc"
        argv = workbench(migrated_store_url, "quantize", str(container), "--input-list",
                         str(listing), "-o", str(output))  # fmt: skip
        return argv, output

    argv, output = quantize(-1)
    started = time.monotonic()
    with child(argv) as proc:
        assert finish(proc, timeout=60)[0] == 0
    span = min(max(1.0, time.monotonic() - started), 4.0)
    assert [r.status for r in runs_of(store, proc.pid)] == ["succeeded"]
    outcomes = []
    for i in range(SIGNALLED):
        delay, sig = span * (i + 1) / SIGNALLED, SIGNALS[i % 2]
        argv, output = quantize(i)
        with child(argv) as proc:
            time.sleep(delay)
            sent_at = None
            if proc.poll() is None:
                sent_at = datetime.now(timezone.utc)
                kill_group(proc, sig)
            code, _, err = finish(proc, timeout=60)
        outcomes.append(_check(delay, sig, sent_at, code, err, runs_of(store, proc.pid), output))
    table = [
        "| delay | signal | sent | exit | run | output | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    table += [
        f"| {o.delay_s:.2f} s | {o.signal} | {'yes' if o.sent else 'no'} | {o.exit} | "
        f"{', '.join(o.runs) or 'none'} | {o.output} | {o.verdict} |"
        for o in outcomes
    ]
    text = f"unsignalled quantize: {span:.2f} s (the delays' span: 1-4 s)\n\n" + "\n".join(table)
    print("\n" + text)
    if os.environ.get("WORKBENCH_INTERRUPT_TABLE"):
        Path(os.environ["WORKBENCH_INTERRUPT_TABLE"]).write_text(text + "\n")
