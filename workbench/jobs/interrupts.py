"""Ctrl-C and SIGTERM end the job, whenever they land.

Python turns a signal into an exception (``KeyboardInterrupt``; ``SystemExit(143)``
for SIGTERM, so that every ``with`` block unwinds) at the next bytecode of the main
thread. That exception can be lost: raised while a module is being imported it
lands in library code that catches everything while it initialises (protobuf's
descriptor pool, ``copyreg``, callbacks whose errors are "ignored"), or leaves a
half-made module behind; and a signal arriving while the interpreter exits is
never handled at all. The job then runs on and exits 0.

So the handler *records* the signal, and raises at once only outside an import.
``checkpoint()`` raises the recorded interrupt again: ``tracked_run`` calls it as a
run starts, at every ``record``/``log`` and before it records success, and the
progress callbacks call it at every step, so a deferred or swallowed interrupt
still ends the job (its run ``interrupted``). ``release_interrupts`` ends the
command: the signals go back to their default action (one arriving later kills
the process rather than vanishing) and the exit code is 130 (SIGINT) or 143
(SIGTERM) if one was recorded. A second signal while the first waits for its
import raises at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)
_installed: list[int] = []  # the signals whose handler is ours
_received: int | None = None  # the first signal received by this command


def catch_interrupts() -> None:
    """Handle SIGINT and SIGTERM as described above (the main thread only).

    A signal that is ignored (a job started in the background with ``&`` or by
    ``nohup``) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    _quiet_swallowed_interrupts()
    for signum in _SIGNALS:
        if signal.getsignal(signum) in (signal.SIG_IGN, _on_signal):
            continue  # ignored on purpose, or ours already (a signal may be recorded)
        signal.signal(signum, _on_signal)
        _installed.append(signum)


def _quiet_swallowed_interrupts() -> None:
    # An interrupt raised inside a destructor run by the garbage collector is only
    # reported as "Exception ignored in ..."; it is recorded, and the next checkpoint
    # raises it again, so the report is noise on the user's terminal.
    previous = sys.unraisablehook
    if getattr(previous, "_workbench", False):
        return

    def hook(unraisable: Any) -> None:
        exc = unraisable.exc_value
        if _received is not None and isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return
        previous(unraisable)

    hook._workbench = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def interrupted() -> int | None:
    """The signal this command received, if any."""
    return _received


def checkpoint() -> None:
    """Raise the interrupt a signal asked for, if one did (in the main thread)."""
    if _received is not None and threading.current_thread() is threading.main_thread():
        raise _exception(_received)


def exit_code(signum: int) -> int:
    """The exit code of a command ended by ``signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def release_interrupts(code: int) -> int:
    """Give the signals back their default action; the command's exit code.

    Signals are blocked meanwhile, so none lands between the last check and the
    default action: one that arrives now ends the process as the signal's default.
    """
    global _received
    ours = list(_installed)
    block = getattr(signal, "pthread_sigmask", None)
    while True:
        try:
            if block is not None:
                block(signal.SIG_BLOCK, ours)
            for signum in ours:
                signal.signal(signum, signal.SIG_DFL)
            break
        except (KeyboardInterrupt, SystemExit):
            continue  # a handler ran before the switch: the signal is recorded; again
    received, _received = _received, None
    _installed.clear()
    if block is not None:
        block(signal.SIG_UNBLOCK, ours)
    return exit_code(received) if received is not None else code


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received
    first = _received is None
    if first:
        _received = signum
    if first and _inside_import(frame):
        return  # raised by the next checkpoint, once the module is whole
    raise _exception(_received if _received is not None else signum)


def _inside_import(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _exception(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return SystemExit(exit_code(signum))
