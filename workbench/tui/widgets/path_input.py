"""An input for file paths that suggests completions from the file system (→ accepts)."""

from __future__ import annotations

import os
from pathlib import Path

from textual import events
from textual.suggester import Suggester
from textual.widgets import Input


class PathSuggester(Suggester):
    """Completes the last path component from the directory's entries."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(os.sep) and not Path(value).expanduser().is_dir():
            return None
        head, _, stem = value.rpartition(os.sep)
        folder = (
            Path(os.path.expanduser(head or "."))
            if head or not value.startswith(os.sep)
            else Path("/")
        )
        try:
            names = sorted(
                entry.name + (os.sep if entry.is_dir() else "")
                for entry in os.scandir(folder)
                if entry.name.startswith(stem) and not entry.name.startswith(".")
            )
        except OSError:
            return None
        if not names:
            return None
        prefix = f"{head}{os.sep}" if head or value.startswith(os.sep) else ""
        return prefix + names[0]


class PathInput(Input):
    """An input for a file path that completes what the user types (a value the form
    fills in gets no completion until a key is typed: nothing pops up unasked)."""

    def __init__(self, value: str = "", *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(value=value, placeholder=placeholder, compact=True, id=id)

    async def _on_key(self, event: events.Key) -> None:
        if self.suggester is None:
            self.suggester = PathSuggester()
        await super()._on_key(event)

    def _on_paste(self, event: events.Paste) -> None:
        if self.suggester is None:
            self.suggester = PathSuggester()
        super()._on_paste(event)

    def on_mount(self) -> None:
        self.cursor_blink = False
