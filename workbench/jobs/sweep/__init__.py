"""Sweeps: models x quantize settings x runtimes as cells, on a process pool or Ray.

``spec`` reads the TOML spec and names each cell by its content; ``driver`` plans the
shared work (a convert per model, a quantize per setting, a bench per cell) and records
it; ``local`` and ``ray_executor`` run the tasks; ``results`` ranks the cells.
"""

from workbench.jobs.sweep.driver import SweepProgress, SweepRequest, SweepResult, sweep_job

__all__ = ["SweepProgress", "SweepRequest", "SweepResult", "sweep_job"]
