"""The runtimes, by name. Adding one is a module declaring ``RUNTIME`` and a line below.

Everything that lists runtimes (the CLI's choices and help, the TUI's forms, bench,
the advisor's table, ``check_runtime`` and ``load_network``) reads this registry, so a
runtime registered at any time, even from a test, is everywhere at once.
"""

from __future__ import annotations

from workbench.engine.runtimes import aip, cpu, dsp, gpu, gpu_fp16
from workbench.engine.runtimes.spec import Runtime
from workbench.errors import BadInput
from workbench.vocabulary import note_runtime

_REGISTRY: dict[str, Runtime] = {}


def register(runtime: Runtime) -> Runtime:
    """Add ``runtime`` (after the others: tables list runtimes in registration order)."""
    if runtime.name in _REGISTRY:
        raise ValueError(f"runtime {runtime.name!r} is registered already")
    _REGISTRY[runtime.name] = runtime
    note_runtime(runtime.name)
    return runtime


def unregister(name: str) -> None:
    del _REGISTRY[name]
    note_runtime(name, registered=False)


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``; ``BadInput`` naming the available ones otherwise."""
    found = _REGISTRY.get(name) if isinstance(name, str) else None
    if found is None:
        raise BadInput(f"unknown runtime {name!r} (available: {', '.join(_REGISTRY)})")
    return found


def runtimes() -> tuple[Runtime, ...]:
    return tuple(_REGISTRY.values())


def runtime_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


for _module in (cpu, gpu, gpu_fp16, dsp, aip):  # the guide's order
    register(_module.RUNTIME)
