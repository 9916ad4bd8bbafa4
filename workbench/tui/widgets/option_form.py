"""Form fields generated from option declarations (``workbench/options.py``).

Every declared option of a job is one field, its id the option's name: a checkbox for a
flag, a select for a choice, a selection list or one checkbox per choice for a subset,
a path input for a file, an input for a number or a name, or the blank-separated values
of a repeatable flag. ``read_options`` turns the
fields back into the values the job's options object checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from textual.containers import Horizontal
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, SelectionList

from workbench.errors import BadInput
from workbench.options import Option, split_texts
from workbench.tui.widgets.checks import CheckBox, CheckList
from workbench.tui.widgets.path_input import PathInput


def form_row(label: str, widget: Widget, *, tall: bool = False) -> Horizontal:
    """A labelled line of a form."""
    return Horizontal(Label(label), widget, classes="row tall" if tall else "row")


def checked_path(value: str, what: str, *, must_exist: bool = True) -> str:
    """A form's path field, expanded; ``BadInput`` naming the field when it is unusable."""
    text = value.strip()
    if not text:
        raise BadInput(f"{what}: give a path")
    path = Path(text).expanduser()
    if must_exist and not path.exists():
        raise BadInput(f"{what}: {path} does not exist")
    return str(path)


def field_ids(option: Option) -> tuple[str, ...]:
    """The ids of the widgets of ``option`` (one per choice for a subset of checkboxes)."""
    if option.many and option.choice_labels:
        return tuple(str(v) for v in option.values())
    return (option.name,)


def option_fields(
    options: Iterable[Option], initial: Mapping[str, Any] | None = None
) -> Iterator[Widget]:
    """The widgets of ``options``, showing ``initial`` values (else each option's own)."""
    initial = initial or {}
    for o in options:
        value = initial.get(o.name, o.initial())
        if o.many and value is None:  # None is "every one", as on the command line
            value = o.values()
        yield from _fields(o, value)


def _fields(o: Option, value: Any) -> Iterator[Widget]:
    if o.type is bool:
        yield CheckBox(o.label, bool(value), compact=True, id=o.name)
    elif o.many and o.choice_labels:
        chosen = set(value or ())
        for choice, text in zip(o.values(), o.choice_labels, strict=True):
            yield CheckBox(text, choice in chosen, compact=True, id=str(choice))
    elif o.many:
        chosen = set(value or ())
        items = CheckList(*((str(v), str(v), v in chosen) for v in o.values()), id=o.name)
        yield form_row(o.label, items, tall=True)
    elif o.choices is not None:
        pairs = [(str(v), v) for v in o.values()]
        yield form_row(
            o.label, Select(pairs, value=value, allow_blank=False, compact=True, id=o.name)
        )
    elif o.path:
        yield form_row(o.label, PathInput(value or "", placeholder=o.placeholder, id=o.name))
    else:
        kind = {int: "integer", float: "number"}.get(o.type, "text")
        text = _shown(o, value) if o.repeat else "" if value is None else str(value)
        yield form_row(
            o.label,
            Input(text, placeholder=o.placeholder, compact=True, type=kind, id=o.name),
        )


def _shown(o: Option, value: Any) -> str:
    """A value as its input field shows it."""
    if value is None:
        return ""
    if o.repeat:
        return " ".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def read_options(screen: DOMNode, options: Sequence[Option]) -> dict[str, Any]:
    """The values of ``options``' fields; ``BadInput`` naming a field that cannot be read.

    Values are only parsed here (text to number, path checked); the options object checks
    them against their bounds and choices.
    """
    return {o.name: _read(screen, o) for o in options}


def _read(screen: DOMNode, o: Option) -> Any:
    what = (o.label or o.name).lower()
    if o.type is bool:
        return screen.query_one(f"#{o.name}", Checkbox).value
    if o.many and o.choice_labels:
        return tuple(v for v in o.values() if screen.query_one(f"#{v}", Checkbox).value)
    if o.many:
        chosen = tuple(screen.query_one(f"#{o.name}", SelectionList).selected)
        if not chosen:
            raise BadInput(f"{what}: pick at least one")
        return chosen
    if o.choices is not None:
        return screen.query_one(f"#{o.name}", Select).value
    text = screen.query_one(f"#{o.name}", Input).value.strip()
    if o.repeat:
        return split_texts(text)
    if not text:
        if o.default is not None and not o.path:
            raise BadInput(f"{what}: give a value (default {o.default})")
        return None
    if o.path:
        return checked_path(text, what, must_exist=o.must_exist)
    try:
        return o.type(text)
    except ValueError:
        example = f" such as {o.default:g}" if isinstance(o.default, float) else ""
        kind = "a whole number" if o.type is int else f"a number{example}"
        raise BadInput(f"{what}: give {kind}") from None


def set_options(screen: DOMNode, options: Iterable[Option], values: Mapping[str, Any]) -> None:
    """Show ``values`` (a stored run's options, say) in the fields; others stay as they are."""
    for o in options:
        if o.name not in values:
            continue
        value = values[o.name]
        if o.type is bool:
            screen.query_one(f"#{o.name}", Checkbox).value = bool(value)
        elif o.many and o.choice_labels:
            for v in o.values():
                screen.query_one(f"#{v}", Checkbox).value = v in (value or ())
        elif o.many:
            items = screen.query_one(f"#{o.name}", SelectionList)
            items.deselect_all()
            for v in value or ():
                items.select(str(v))
        elif o.choices is not None:
            if value is not None:
                screen.query_one(f"#{o.name}", Select).value = value
        elif value is not None:
            screen.query_one(f"#{o.name}", Input).value = _shown(o, value)
