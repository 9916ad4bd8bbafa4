"""Browsing and annotating runs: list, show, tags, notes, star, baseline.

Runs are addressed by their id, which is unique across projects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from workbench.errors import BadInput
from workbench.jobs.projects import ensure_project
from workbench.store import RunTag, Store
from workbench.store.queries import (
    Page,
    PageSpec,
    RunFilter,
    RunRow,
    clear_baseline,
    experiments_of_run,
    get_model,
    get_project,
    get_run,
    page_runs,
    run_rows,
)
from workbench.textsafe import MAX_NOTE_CHARS

MAX_PAGE = 10_000
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,63}")


@dataclass(frozen=True, kw_only=True)
class RunDetail(RunRow):
    """Everything recorded about one run (``runs show``)."""

    host: str
    pid: int
    command: str | None
    details: dict[str, Any]  # the kind's own columns (options, results)
    layers: tuple[dict[str, Any], ...]
    log: str
    experiments: tuple[str, ...]


def check_note(text: str, what: str = "a note") -> str:
    """``text`` if it may be stored as free text (notes), else ``BadInput``."""
    if len(text) > MAX_NOTE_CHARS:
        raise BadInput(
            f"{what} holds at most {MAX_NOTE_CHARS:,} characters; this one has {len(text):,}"
        )
    return text


def check_tag(tag: str) -> str:
    """``tag`` if it is a valid tag, else ``BadInput``."""
    if not _TAG.fullmatch(tag):
        raise BadInput(
            f"invalid tag {tag!r}: use up to 64 letters, digits and . _ : / + = -, "
            "starting with a letter or digit"
        )
    return tag


def list_runs(
    store: Store,
    project: str,
    run_filter: RunFilter = RunFilter(),
    *,
    model: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[RunRow]:
    """One page of a project's runs, newest first, narrowed by ``run_filter`` and to the
    runs of ``model`` (an id, or a name: the newest model of that name)."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"--limit must be between 1 and {MAX_PAGE}, not {limit}")
    if offset < 0:
        raise BadInput(f"--offset must be 0 or more, not {offset}")
    for tag in run_filter.tags:
        check_tag(tag)
    ensure_project(store, project)
    with store.read() as session:
        project_row = get_project(session, project, create_default=False)
        if model:
            run_filter = replace(run_filter, model_id=get_model(session, project_row, model).id)
        return page_runs(session, project_row.id, run_filter, PageSpec(offset=offset, limit=limit))


def show_run(store: Store, run_id: int) -> RunDetail:
    with store.read() as session:
        run = get_run(session, run_id)
        row = run_rows(session, [run_id])[0]
        detail_row = run.detail
        return RunDetail(
            **{f.name: getattr(row, f.name) for f in fields(RunRow)},
            host=run.host,
            pid=run.pid,
            command=run.command,
            details=_columns(detail_row, skip={"run_id"}) if detail_row is not None else {},
            layers=tuple(_columns(s, skip={"id", "run_id"}) for s in run.layer_stats),
            log=run.log,
            experiments=tuple(experiments_of_run(session, run_id)),
        )


def tag_run(store: Store, run_id: int, tags: Iterable[str]) -> RunRow:
    """Add tags to a run (tags it already has are kept once)."""
    wanted = {check_tag(t) for t in tags}
    with store.write() as session:
        run = get_run(session, run_id)
        have = {t.tag for t in run.tags}
        run.tags.extend(RunTag(tag=t) for t in sorted(wanted - have))
        session.flush()
        return run_rows(session, [run_id])[0]


def untag_run(store: Store, run_id: int, tags: Iterable[str]) -> RunRow:
    """Remove tags from a run (tags it does not have are ignored)."""
    unwanted = set(tags)
    with store.write() as session:
        run = get_run(session, run_id)
        run.tags[:] = [t for t in run.tags if t.tag not in unwanted]
        session.flush()
        return run_rows(session, [run_id])[0]


def set_note(store: Store, run_id: int, text: str) -> RunRow:
    """Replace a run's notes (an empty text clears them; at most ``MAX_NOTE_CHARS``)."""
    check_note(text)
    with store.write() as session:
        get_run(session, run_id).notes = text
        session.flush()
        return run_rows(session, [run_id])[0]


def set_starred(store: Store, run_id: int, starred: bool = True) -> RunRow:
    with store.write() as session:
        get_run(session, run_id).starred = starred
        session.flush()
        return run_rows(session, [run_id])[0]


def set_baseline(store: Store, run_id: int, baseline: bool = True) -> RunRow:
    """Make a run the baseline of its project for its kind (or clear it).

    There is at most one baseline per project and kind: comparisons measure
    the other runs against it.
    """
    with store.write() as session:
        run = get_run(session, run_id)
        if baseline:
            clear_baseline(session, run.project_id, run.kind)
        run.baseline = baseline
        session.flush()
        return run_rows(session, [run_id])[0]


def summaries(store: Store, run_ids: Sequence[int]) -> list[RunRow]:
    """The given runs as rows, in the given order (missing ids are skipped)."""
    with store.read() as session:
        return run_rows(session, run_ids)


def _columns(row: Any, skip: set[str]) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}
