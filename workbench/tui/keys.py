"""Key bindings every screen shares, and which bindings the help and the palette list."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

HELP = Binding("question_mark", "app.help", "Help")
BACK = Binding("escape", "app.pop_screen", "Back", show=False)

# Textual's own keys (focus moves, copy, maximize): not what a user looks up here.
_TEXTUAL = {"focus_next", "focus_previous", "copy_text", "maximize", "minimize", "command_palette"}
# Moving in a table: listed in the help, not worth a palette command each.
_NAVIGATION = {"cursor_up", "cursor_down", "page_up", "page_down", "first_row", "last_row",
               "scroll_columns", "select"}  # fmt: skip


def our_bindings(screen: Any, *, navigation: bool = True) -> list[tuple[str, Binding, Any]]:
    """The workbench's active bindings on ``screen`` as (key display, binding, node): the
    screen's own first, then its widgets', then the app's; one per action."""
    app = screen.app
    found: list[tuple[int, str, Binding, Any]] = []
    seen: set[str] = set()
    for _key, active in screen.active_bindings.items():
        binding = active.binding
        action = binding.action.rpartition(".")[2].partition("(")[0]
        if not binding.description or not active.enabled or action in _TEXTUAL:
            continue
        if (not navigation and action in _NAVIGATION) or binding.action in seen:
            continue
        if not type(active.node).__module__.startswith("workbench."):
            continue
        seen.add(binding.action)
        rank = 0 if active.node is screen else 2 if active.node is app else 1
        found.append((rank, app.get_key_display(binding), binding, active.node))
    found.sort(key=lambda f: f[0])
    return [(key, binding, node) for _, key, binding, node in found]
