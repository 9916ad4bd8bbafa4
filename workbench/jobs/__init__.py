"""Use cases called by the CLI and the TUI alike.

Each job takes a ``Store`` and plain arguments and returns frozen dataclass
values. ``lifecycle.tracked_run`` records a job as a run; ``projects``,
``runs`` and ``experiments`` browse and annotate what was recorded.
"""
