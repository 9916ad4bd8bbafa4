"""A signal is recorded, deferred while a module imports, and raised at the next checkpoint.

These tests send real signals to this process with ``workbench.jobs.interrupts``'
handlers installed (and put the test runner's own handlers back afterwards).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.jobs import interrupts
from workbench.jobs.lifecycle import tracked_run
from workbench.jobs.runs import list_runs, show_run


@pytest.fixture
def handlers() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers belong to the main thread")
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    # As a command typed at a terminal starts: a shell that runs the tests in the
    # background (``cmd &``) hands them SIGINT ignored, which catch_interrupts keeps.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupts.catch_interrupts()
    try:
        yield
    finally:
        interrupts.release_interrupts(0)
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@pytest.fixture
def signalling_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``load(sig)`` imports a new module that sends ``sig`` to this process as it loads."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def load(sig: int) -> None:
        name = f"_signals_while_loading_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(
            "import os, time\n"
            f"os.kill(os.getpid(), {int(sig)})\n"
            "for _ in range(1000):\n"  # the handler runs in here, between bytecodes
            "    time.sleep(0.0001)\n"
            "LOADED = True\n"
        )
        __import__(name)
        assert sys.modules[name].LOADED  # the module is whole: the interrupt waited

    return load


def test_a_signal_in_an_import_waits_for_the_next_checkpoint(handlers, signalling_module) -> None:
    signalling_module(signal.SIGINT)
    assert interrupts.interrupted() == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):
        interrupts.checkpoint()
    with pytest.raises(KeyboardInterrupt):  # and at every one after: the command is over
        interrupts.checkpoint()
    assert interrupts.release_interrupts(0) == 130
    assert signal.getsignal(signal.SIGINT) == signal.SIG_DFL  # a late one kills at once
    interrupts.checkpoint()  # released: nothing recorded any more


def test_sigterm_is_system_exit_143(handlers, signalling_module) -> None:
    signalling_module(signal.SIGTERM)
    with pytest.raises(SystemExit) as raised:
        interrupts.checkpoint()
    assert raised.value.code == 143
    assert interrupts.release_interrupts(0) == 143


@pytest.fixture
def no_gc() -> Iterator[None]:
    """No garbage collection: a GC callback (hypothesis has one) that happens to run when
    the signal is handled would swallow the interrupt, as the module doc says."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_outside_an_import_the_signal_raises_at_once(handlers, no_gc) -> None:
    waited = []
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            threading.Event().wait(0.0001)
            waited.append(1)
    assert len(waited) < 1000
    assert interrupts.release_interrupts(0) == 130


def test_a_swallowed_interrupt_is_raised_again(handlers, no_gc) -> None:
    try:  # library code that catches everything
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            threading.Event().wait(0.0001)
    except BaseException:
        pass
    with pytest.raises(KeyboardInterrupt):
        interrupts.checkpoint()


def test_a_second_signal_does_not_wait_for_the_import(handlers, signalling_module) -> None:
    signalling_module(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        signalling_module(signal.SIGINT)


def test_an_ignored_signal_stays_ignored() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers belong to the main thread")
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `cmd &` starts a command
    try:
        interrupts.catch_interrupts()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert interrupts.release_interrupts(0) == 0
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        interrupts.release_interrupts(0)
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_the_run_ends_interrupted_when_the_body_took_the_signal_in_an_import(
    store, handlers, signalling_module
) -> None:
    with pytest.raises(KeyboardInterrupt), tracked_run(store, project="default", kind="bench",
                                                       runtime="cpu") as run:  # fmt: skip
        signalling_module(signal.SIGINT)  # the body's last step: nothing else checks
    shown = show_run(store, run.id)
    assert (shown.status, shown.error) == ("interrupted", "interrupted by the user")


def test_a_recorded_signal_refuses_to_start_work(store, handlers, signalling_module) -> None:
    signalling_module(signal.SIGTERM)
    with pytest.raises(SystemExit), tracked_run(store, project="default", kind="bench",
                                                runtime="cpu") as run:  # fmt: skip
        pytest.fail(f"run {run.id} started its work")
    assert [r.status for r in list_runs(store, "default").rows] == ["interrupted"]


def test_a_signal_no_step_raised_still_ends_the_command_130(
    handlers, signalling_module, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.cli import exit_code_after_interrupts

    signalling_module(signal.SIGINT)  # e.g. while the output's modules loaded, after the job
    assert exit_code_after_interrupts(0) == 130
    assert capsys.readouterr().err == "error: interrupted\n"
    assert exit_code_after_interrupts(0) == 0  # released: nothing recorded any more


def test_sigterm_that_no_step_raised_is_143_and_silent(
    handlers, signalling_module, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.cli import exit_code_after_interrupts

    signalling_module(signal.SIGTERM)
    assert exit_code_after_interrupts(0) == 143
    assert capsys.readouterr().err == ""
