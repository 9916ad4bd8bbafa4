"""A footer that shows the keys that fit, whole, and ``?`` for the rest.

Textual's footer lays every key out in a row and cuts what passes the edge
(``h Hide/show archi▏``). This one keeps the screen's keys in their declared order
while they fit, then ``?`` (the help screen, which lists every key) and the command
palette's key; a key never shows cut.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

HELP_ACTIONS = {"help", "app.help"}


def key_width(key: FooterKey) -> int:
    """Cells a compact footer key takes: key, space, description, and the gap after it."""
    description = f" {key.description}" if key.description else ""
    return len(key.key_display) + len(description) + 1


class KeyFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=True)
        self._width = 0

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        if len(keys) != len(widgets):  # grouped keys: leave Textual's layout alone
            yield from widgets
            return
        palette = [k for k in keys if k.has_class("-command-palette")]
        help_keys = [k for k in keys if k.action in HELP_ACTIONS and k not in palette]
        others = [k for k in keys if k not in palette and k not in help_keys]
        width = self._width or self.app.size.width
        room = width - sum(key_width(k) for k in palette) - 1
        help_key = help_keys[0] if help_keys else None
        if help_key is not None:
            room -= len(help_key.key_display) + len(" more keys") + 1
        shown: list[FooterKey] = []
        for key in others:
            if key_width(key) > room:
                break
            shown.append(key)
            room -= key_width(key)
        if help_key is not None:
            if len(shown) < len(others):
                help_key.description = "more keys"
            shown.append(help_key)
        self.styles.grid_size_columns = len(shown) + len(palette)
        yield from shown
        yield from palette

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)
