"""Checkboxes that read without colour: ``[x]`` on, ``[ ]`` off.

Textual draws every box as ``▐X▌`` and tells on from off by colour alone, which a
monochrome terminal, a screen reader or a colour-blind user cannot see. These draw the
state as a character; behaviour and messages are Textual's own.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList

ON, OFF = "[x]", "[ ]"


def box(on: bool) -> str:
    return ON if on else OFF


class CheckBox(Checkbox):
    """A ``Checkbox`` drawn ``[x] label`` / ``[ ] label``."""

    @property
    def _button(self) -> Content:
        return Content.styled(box(self.value), self.get_visual_style("toggle--label"))


class CheckList(SelectionList[str]):
    """A ``SelectionList`` whose items start with ``[x]`` or ``[ ]``."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        _, scroll_y = self.scroll_offset
        try:
            selection = self.get_option_at_index(scroll_y + y)
        except Exception:  # past the last option: a blank line
            return strip
        # Textual draws left side, inner mark, right side and a space before the prompt.
        if len(segments) < 4:
            return strip
        style = segments[3].style
        mark = Segment(box(selection.value in self._selected), style)
        return Strip([mark, *segments[3:]], strip.cell_length)
