"""The ``workbench`` command line: parse, call a job, print (rich) or ``--json``.

Layout of this file:

1. Shared machinery: the ``App`` state (global options, the lazily opened
   store), output helpers (``emit``, ``say``; tables and fields fitted to the terminal
   come from ``workbench/console.py``) and
   ``WorkbenchGroup``, which turns errors into one line and an exit code and
   gives every command the ``--db``/``--project``/``--json`` options.
2. One block per command group (``project``, ``runs``, ``experiment``).
   A new command is one decorated function in its group's block: it calls a
   job with plain arguments and hands the result to ``emit``.

Keep imports of heavy libraries (sqlalchemy, numpy, onnx, textual, rich)
inside functions: ``workbench --help`` must stay fast.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from workbench import __version__
from workbench.console import (
    MIDDLE,
    WRAP,
    Column,
    Group,
    Lines,
    Row,
    Styled,
    collapse_notes,
    print_fields,
    print_lines,
    print_table,
    progress_on_stderr,
    safe_line,
)
from workbench.errors import WorkbenchError
from workbench.jobs.interrupts import catch_interrupts, checkpoint, interrupted, release_interrupts
from workbench.options import (
    ADVISE_OPTIONS,
    AUTOQUANT_OPTIONS,
    BENCH_OPTIONS,
    DEBUG_OPTIONS,
    DEFAULT_MAX_ACCURACY_DROP,
    DEMO_OPTIONS,
    METRIC,
    QUANTIZE_OPTIONS,
    QUANTIZER_OPTIONS,
    RUN_OPTIONS,
    SWEEP_OPTIONS,
    Option,
    runtime_names,
)
from workbench.vocabulary import (
    BENCH,
    DEBUG,
    FAILED,
    INTERRUPTED,
    QUANTIZE,
    REFUSED,
    RUN_KINDS,
    RUN_STATUSES,
    SQNR,
    SUCCEEDED,
    counted,
    format_bytes,
    format_db,
    is_exact_db,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from workbench.store import Store

DEFAULT_PROJECT = "default"

# ---------------------------------------------------------------------------------------
# 1. Shared machinery
# ---------------------------------------------------------------------------------------


@dataclass
class App:
    """What the global options chose, and the store once a command needs it."""

    db: str | None = None
    project: str = DEFAULT_PROJECT
    project_given: bool = False  # --project was on the command line
    json: bool = False
    _store: Store | None = None

    def store(self) -> Store:
        """The store named by ``--db``/``$WORKBENCH_DB``, opened (and upgraded) once."""
        if self._store is None:
            from workbench.store import open_store

            self._store = open_store(self.db)
            click.get_current_context().call_on_close(self._store.close)
            checkpoint()  # a Ctrl-C while the store's modules loaded: stop before any work
        return self._store

    def store_files(self) -> tuple[Path, ...]:
        """The store's files, which no command writes over, without opening it."""
        if self._store is not None:
            return self._store.files
        from workbench.store import store_files

        return store_files(self.db)


pass_app = click.make_pass_decorator(App, ensure=True)


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(App).db = value


def _set_project(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        app = ctx.ensure_object(App)
        app.project, app.project_given = value, True


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(App).json = True


def _global_options() -> list[click.Parameter]:
    """--db, --project, --json: accepted before the command and after it."""
    return [
        click.Option(
            ["--db"],
            metavar="URL",
            expose_value=False,
            callback=_set_db,
            help="Store URL or SQLite file (default: $WORKBENCH_DB, else the user data dir).",
        ),
        click.Option(
            ["--project"],
            metavar="NAME",
            expose_value=False,
            callback=_set_project,
            help=f"Project to work in (default: {DEFAULT_PROJECT!r}, created on first use).",
        ),
        click.Option(
            ["--json"],
            is_flag=True,
            expose_value=False,
            callback=_set_json,
            help="Print machine-readable JSON (format: README).",
        ),
    ]


class WorkbenchCommand(click.Command):
    """A leaf command: takes the global options too."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


class WorkbenchGroup(click.Group):
    """A command group whose errors end as one line on stderr and an exit code.

    Exit codes: 0 success, 2 bad input (``WorkbenchError``, usage errors) or an
    environment that refuses (disk full, read-only, out of memory), 1 internal error
    or abort, 130 interrupted (Ctrl-C). ``WORKBENCH_DEBUG=1`` shows tracebacks.
    """

    command_class = WorkbenchCommand
    group_class = type  # subgroups are WorkbenchGroups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            checkpoint()  # a Ctrl-C while this module loaded ends the command before it starts
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Click would print a blank line and call it an abort; the job has already
            # recorded its run `interrupted` on the way out.
            raise _Interrupted from None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = self._main(args, prog_name or "workbench", complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _main(
        self, args: Sequence[str] | None, prog_name: str, complete_var: str | None, **extra: Any
    ) -> int:
        with warnings.catch_warnings():
            # Numeric warnings (overflow in a hostile model's arithmetic) are numpy's
            # business, not the user's terminal's: results are checked where they matter.
            if not _debug():
                warnings.filterwarnings("ignore", category=RuntimeWarning)
            return self._run(args, prog_name, complete_var, **extra)

    def _run(
        self, args: Sequence[str] | None, prog_name: str, complete_var: str | None, **extra: Any
    ) -> int:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            return rv if isinstance(rv, int) else 0
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            return 0
        except click.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            return _fail(exc.format_message() + hint, 2)
        except _Interrupted:
            return _fail("interrupted", 130)
        except click.Abort:  # click's word for a Ctrl-C outside the command, too
            return _fail("interrupted", 130) if interrupted() else _fail("aborted", 1)
        except click.ClickException as exc:
            return _fail(exc.format_message(), exc.exit_code)
        except WorkbenchError as exc:
            if _debug():
                raise
            return _fail(str(exc), exc.exit_code)
        except BrokenPipeError:
            # Output piped into `head` and closed: not an error worth a word.
            # Point stdout at devnull so the flush at exit does not complain.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        except Exception as exc:
            if _debug():
                raise
            refusal = _environment_refusal(exc)
            if refusal is not None:
                return _fail(refusal, 2)
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return _fail(f"internal error: {detail} (WORKBENCH_DEBUG=1 shows a traceback)", 1)


class _Interrupted(Exception):
    """Ctrl-C inside a command, carried past click's own handling of KeyboardInterrupt."""


# What the machine refuses, not what the code got wrong: full disk, read-only
# places, permissions. The message names the file; the exit code is 2.
_ENVIRONMENT_ERRNOS = {
    getattr(errno, name): reason
    for name, reason in (
        ("ENOSPC", "no space left on the device"),
        ("EDQUOT", "disk quota exceeded"),
        ("EFBIG", "file too large (disk full or file size limit)"),
        ("EROFS", "read-only file system"),
        ("EACCES", "permission denied"),
        ("EPERM", "operation not permitted"),
    )
    if hasattr(errno, name)  # EDQUOT is not everywhere
}


def _environment_refusal(exc: Exception) -> str | None:
    """A one-line message for an error the environment caused, else None."""
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
        reason = _ENVIRONMENT_ERRNOS[exc.errno]
        return f"{exc.filename}: {reason}" if exc.filename else reason
    if isinstance(exc, MemoryError):
        return "out of memory: free some memory, or use a smaller model, batch or input list"
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):  # a store access outside store.read()/write()
            lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
            return f"store: {lines[0] if lines else type(exc).__name__}"
    return None


def _debug() -> bool:
    return os.environ.get("WORKBENCH_DEBUG", "") not in ("", "0")


def _fail(message: str, code: int) -> int:
    from workbench.textsafe import shorten, visible

    # Exactly one line, and nothing a terminal acts on (a hostile tensor name may be quoted).
    text = visible(" ".join(shorten(message, 2000).split())) or "failed"
    click.echo(f"error: {text}", err=True)
    return code


def to_json(value: Any) -> Any:
    """``value`` (dataclasses, datetimes, tuples...) as plain JSON data."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def emit(app: App, value: Any, render: Callable[[Console], None]) -> None:
    """Print ``value`` as JSON under ``--json``, else through ``render`` (fitted to the
    terminal: ``workbench/console.py``)."""
    checkpoint()  # interrupted: no output, as if the signal had landed a moment earlier
    if app.json:
        from workbench.textsafe import control_free_json

        click.echo(control_free_json(json.dumps(to_json(value), indent=2, ensure_ascii=False)))
        return
    from workbench.console import make_console

    render(make_console())


def say(console: Console, *lines: str) -> None:
    """Print a plain message of one or more lines (names in it are not markup, and a
    newline in one is shown escaped), wrapped at the width."""
    print_lines(console, lines)


def _status(status: str) -> Styled:
    colour = {SUCCEEDED: "green", FAILED: "red", INTERRUPTED: "yellow", REFUSED: "yellow"}
    return Styled(status, colour.get(status, "cyan"))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, seconds = divmod(seconds, 60)
    return f"{int(minutes)}m{seconds:02.0f}s"


class _LiveChoice(click.Choice):
    """A choice among values read when the command line is parsed or shown (the
    registered runtimes: one registered after this module was imported is a choice too)."""

    def __init__(self, values: Callable[[], Sequence[Any]]) -> None:
        self._values = values
        super().__init__(())

    @property  # type: ignore[override]
    def choices(self) -> Sequence[Any]:
        return tuple(str(v) for v in self._values())

    @choices.setter
    def choices(self, _value: Sequence[Any]) -> None:
        pass


class _DeclaredOption(click.Option):
    """A click option generated from an ``Option`` declaration. A default of "every
    registered runtime" is read when asked, so ``--help`` shows the runtimes of the moment."""

    def __init__(self, *args: Any, declared: Option, **kwargs: Any) -> None:
        self.declared = declared
        super().__init__(*args, **kwargs)

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        o = self.declared
        if o.many and callable(o.choices) and o.default is None:
            return ",".join(str(v) for v in o.values())
        return super().get_default(ctx, call=call)


def _click_option(o: Option) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option for one declaration (flags, type, default, help, choices, bounds)."""
    decls = [d for d in (o.short, o.cli_flag) if d]
    kwargs: dict[str, Any] = {"help": o.help or None, "metavar": o.metavar}
    if o.type is bool:
        kwargs.update(is_flag=True, default=o.default)
        if o.default:  # on unless --no-...
            kwargs["flag_value"] = False
        decls.append(o.name)
    elif o.repeat:  # --state a=b --state c=d
        kwargs.update(multiple=True, default=(), show_default=False)
        decls.append(o.name)
    else:
        kwargs.update(default=o.default, show_default=o.show_default)
        if o.many:  # a comma-separated text: () is "", None (all of them) stays None
            kwargs["default"] = "" if o.default == () else o.default
            if not callable(o.choices):
                kwargs["show_default"] = False
        elif callable(o.choices):
            kwargs["type"] = _LiveChoice(o.choices)
        elif o.choices:
            kwargs["type"] = click.Choice([str(v) for v in o.choices])
            kwargs["default"] = None if o.default is None else str(o.default)
            kwargs["callback"] = lambda _ctx, _param, value: (
                None if value is None else o.type(value)
            )
        elif o.type is int:
            kwargs["type"] = click.IntRange(min=o.low, max=o.high)
        elif o.path:
            kwargs["type"] = click.Path(path_type=str)
        else:
            kwargs["type"] = o.type
        decls.append(o.name)
    return click.option(*decls, cls=_DeclaredOption, declared=o, **kwargs)


def declared_options(*options: Option) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Click options generated from declarations (``workbench/options.py``), in their order."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for o in reversed(options):
            fn = _click_option(o)(fn)
        return fn

    return decorate


def _picked(values: dict[str, Any], options: Sequence[Option]) -> dict[str, Any]:
    """The values of ``options`` among a command's keyword arguments."""
    return {o.name: values[o.name] for o in options}


@click.group(
    cls=WorkbenchGroup,
    params=_global_options(),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="workbench")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Quantization Workbench: convert, quantize, emulate and measure models
    for mobile runtimes, and keep every run in a project store."""
    ctx.ensure_object(App)


def main() -> None:
    """Console-script entry point: Ctrl-C and SIGTERM end the command whenever they
    land (``workbench.jobs.interrupts``): exit 130 and 143."""
    catch_interrupts()  # unless workbench.__main__ did, before importing this module
    try:
        code = cli.main(prog_name="workbench", standalone_mode=False)
    except KeyboardInterrupt:  # outside any command (while click parses, or at the end)
        code = _fail("interrupted", 130)
    except SystemExit as exc:  # SIGTERM
        code = exc.code if isinstance(exc.code, int) else 1
    sys.exit(exit_code_after_interrupts(code))


def exit_code_after_interrupts(code: int) -> int:
    """The command's exit code once the signal handlers are released: 130 or 143 if a
    signal came, even one that landed too late for any step to raise it (while the
    output's modules loaded); a Ctrl-C is then said on stderr as always."""
    final = release_interrupts(code)
    if final == 130 and code != 130:
        _fail("interrupted", 130)
    return final


# ---------------------------------------------------------------------------------------
# 2. Commands
# ---------------------------------------------------------------------------------------

# --- project ---------------------------------------------------------------------------


@cli.group()
def project() -> None:
    """Create, list, rename, archive and delete projects."""


def _render_project(info: Any, store: str) -> Callable[[Console], None]:
    return lambda console: print_fields(
        console,
        [
            ("project", info.name),
            ("id", info.id),
            ("archived", info.archived),
            ("created", info.created_at),
            ("runs", info.runs),
            ("models", info.models),
            ("containers", info.containers),
            ("experiments", info.experiments),
            ("store", store),
        ],
    )


@project.command("create")
@click.argument("name")
@pass_app
def project_create(app: App, name: str) -> None:
    """Create a project called NAME."""
    from workbench.jobs.projects import create_project

    info = create_project(app.store(), name)
    emit(app, info, lambda c: say(c, f"created project {info.name}"))


@project.command("list")
@click.option("--all", "include_archived", is_flag=True, help="Include archived projects.")
@pass_app
def project_list(app: App, include_archived: bool) -> None:
    """List projects."""
    from workbench.jobs.projects import list_projects

    infos = list_projects(app.store(), include_archived=include_archived)
    emit(
        app,
        infos,
        lambda c: print_table(
            c,
            PROJECT_COLUMNS,
            [
                (
                    p.name,
                    p.runs,
                    p.models,
                    p.containers,
                    p.experiments,
                    p.created_at,
                    "archived" if p.archived else "",
                )
                for p in infos
            ],
        ),  # fmt: skip
    )


PROJECT_COLUMNS = (
    Column("name", fit=MIDDLE, min_width=12),
    Column("runs", align="right"),
    Column("models", align="right", priority=2),
    Column("containers", align="right", priority=2),
    Column("experiments", align="right", priority=1),
    Column("created", priority=3),
    Column("archived", priority=1),
)


@project.command("show")
@click.argument("name", required=False)
@pass_app
def project_show(app: App, name: str | None) -> None:
    """Show a project (default: the --project one)."""
    from workbench.jobs.projects import show_project

    info = show_project(app.store(), name or app.project)
    emit(app, info, _render_project(info, app.store().description))


@project.command("rename")
@click.argument("name")
@click.argument("new_name")
@pass_app
def project_rename(app: App, name: str, new_name: str) -> None:
    """Rename project NAME to NEW_NAME."""
    from workbench.jobs.projects import rename_project

    info = rename_project(app.store(), name, new_name)
    emit(app, info, lambda c: say(c, f"renamed project {name} to {info.name}"))


@project.command("archive")
@click.argument("name")
@click.option("--unarchive", is_flag=True, help="Bring an archived project back.")
@pass_app
def project_archive(app: App, name: str, unarchive: bool) -> None:
    """Archive a project: hidden from `project list`, no new runs."""
    from workbench.jobs.projects import set_archived

    info = set_archived(app.store(), name, archived=not unarchive)
    word = "archived" if info.archived else "unarchived"
    emit(app, info, lambda c: say(c, f"{word} project {info.name}"))


@project.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def project_delete(app: App, name: str, yes: bool) -> None:
    """Delete a project and everything recorded in it."""
    from workbench.errors import NotFound
    from workbench.jobs.projects import delete_project, list_projects

    store = app.store()
    if not yes:
        known = {p.name: p for p in list_projects(store, include_archived=True)}
        if name not in known:
            raise NotFound(f"no project named {name!r} (see: workbench project list)")
        info = known[name]
        click.confirm(
            f"Delete project {name!r} with {info.runs} runs, {info.models} models, "
            f"{info.containers} containers and {info.experiments} experiments?",
            abort=True,
            err=True,
        )
    deleted = delete_project(store, name)
    emit(app, deleted, lambda c: say(c, f"deleted project {deleted.name}"))


# --- runs ------------------------------------------------------------------------------


@cli.group()
def runs() -> None:
    """Browse and annotate quantization, benchmark and debug runs."""


def _summary_line(console: Console, run: Any) -> None:
    flags = " ".join(f for f, on in (("starred", run.starred), ("baseline", run.baseline)) if on)
    tags = ", ".join(run.tags) or "-"
    say(
        console,
        f"run {run.id} ({run.kind}, {run.status}): tags {tags}" + (f"; {flags}" if flags else ""),
    )


@runs.command("list")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs with this status.")
@click.option("--kind", type=click.Choice(RUN_KINDS), help="Only runs of this kind.")
@click.option(
    "--runtime",
    type=_LiveChoice(runtime_names),
    help="Only benchmark and debug runs on this runtime.",
)
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only runs with TAG (repeatable: all of them).")  # fmt: skip
@click.option("--model", metavar="NAME|ID", help="Only runs of this model.")
@click.option("--starred", is_flag=True, default=None, help="Only starred runs.")
@click.option("--limit", type=int, default=50, show_default=True, help="Runs per page.")
@click.option("--offset", type=int, default=0, show_default=True, help="Runs to skip.")
@pass_app
def runs_list(app: App, model: str | None, limit: int, offset: int, **filters: Any) -> None:
    """List the project's runs, newest first."""
    from workbench.jobs.runs import RunFilter, list_runs

    filters["starred"] = True if filters["starred"] else None  # absent: no filter
    run_filter = RunFilter(**filters)
    page = list_runs(app.store(), app.project, run_filter, model=model, limit=limit, offset=offset)

    def render(console: Console) -> None:
        print_table(console, RUN_COLUMNS, (_run_cells(r) for r in page.rows))
        shown_to = page.offset + len(page.rows)
        more = f"; next page: --offset {shown_to}" if shown_to < page.total else ""
        first = page.offset + 1 if page.rows else 0
        say(console, f"runs {first}-{shown_to} of {page.total} in project {app.project}{more}")

    listing = {"runs": page.rows, "total": page.total, "limit": page.limit, "offset": page.offset}
    emit(app, listing, render)


RUN_COLUMNS = (
    Column("id", align="right"),
    Column("kind"),
    Column("status"),
    Column("container", fit=MIDDLE, min_width=14),
    Column("sqnr dB", align="right"),
    Column("started", priority=2),
    Column("model", fit=MIDDLE, priority=1, min_width=8),
    Column("tags", fit=WRAP, priority=3),
)


def _run_cells(r: Any) -> tuple[Any, ...]:
    """A run summary as a ``RUN_COLUMNS`` row (ids flagged ★ starred, ◆ baseline)."""
    flags = ("★" if r.starred else "") + ("◆" if r.baseline else "")
    return (
        f"{flags}{r.id}",
        f"{r.kind} {r.runtime}" if r.runtime else r.kind,
        _status(r.status),
        r.container_name,
        _db(r.sqnr_db),
        r.started_at,
        r.model,
        " ".join(r.tags),
    )


def _db(value: float | None) -> str | None:
    if value is None:
        return None
    return "exact" if is_exact_db(value) else f"{value:.2f}"


@runs.command("show")
@click.argument("run_id", metavar="ID", type=int)
@pass_app
def runs_show(app: App, run_id: int) -> None:
    """Show everything recorded about run ID."""
    from workbench.jobs.runs import show_run

    store = app.store()
    run = show_run(store, run_id)
    if app.json:
        emit(app, run, lambda c: None)
        return
    from workbench.jobs.browse import run_view

    view = run_view(store, run_id)
    emit(app, run, lambda console: _render_run(console, view))


def _render_run(console: Console, view: Any) -> None:
    """``runs show``: a heading, then sections of fields and the per-layer table (notes and
    the log cut when very long: ``workbench.textsafe.shorten``)."""
    from workbench.textsafe import SHOWN_TEXT_CHARS, shorten

    d = view.detail
    what = f"{d.kind} run {d.id}" + (f" on {d.runtime}" if d.runtime else "")
    heading = [what, d.status, f"model {d.model or '-'}", f"took {_duration(d.duration_s)}"]
    flags = [w for w, on in (("★ starred", d.starred), ("◆ baseline", d.baseline)) if on]
    print_lines(console, [" · ".join(heading + flags)], style="bold")
    if d.error:
        print_lines(console, [d.error], style="red")
    shown: set[str] = set()
    sections = _SECTIONS[d.kind](view, shown)
    other = [(k, v) for k, v in d.details.items() if k not in shown and not isinstance(v, dict)]
    sections.append(("Other recorded values", other))
    sections.append(("Run", [
        ("project", d.project), ("started", d.started_at),
        ("finished", d.finished_at), ("peak memory", format_bytes(d.peak_memory_bytes)),
        ("host / pid", f"{d.host} / {d.pid}"), ("command", d.command),
        ("tags", " ".join(d.tags)), ("experiments", d.experiments),
        ("notes", Lines.of(shorten(d.notes, SHOWN_TEXT_CHARS)) if d.notes else d.notes),
    ]))  # fmt: skip
    for title, pairs in sections:
        pairs = [(k, v) for k, v in pairs if v not in (None, "", [], (), {})]
        if pairs:
            console.print()
            print_fields(console, pairs, title=title)
    if d.kind == QUANTIZE:
        _render_layers(console, d.layers)
    elif d.kind == DEBUG and d.layers:
        console.print()
        layers = [la["debug"] for la in d.layers if la.get("debug")]
        _render_debug_layers(console, layers, d.details.get("first_divergent_layer"),
                             d.details.get("metric"), title=f"Layers ({len(layers)}) in execution order, ▶ the first "
                             "divergent")  # fmt: skip
    if d.log:
        console.print()
        print_lines(console, ["Log"], style="bold underline")
        print_lines(console, shorten(d.log).splitlines())


def _container_text(c: Any) -> str | None:
    if c is None:
        return None
    kind = "quantized" if c.quantized else "float"
    return f"{c.path} ({kind}, {format_bytes(c.size_bytes)}, container {c.id})"


def _quantize_sections(view: Any, shown: set[str]) -> list[tuple[str, list[tuple[str, Any]]]]:
    det, report = view.detail.details, view.report
    sens = report.get("sensitivity") or {}
    cal = view.calibration
    shown |= {"output_container_id", "calibration_set_id", "sqnr_db", "report", "options",
              *(o.name for o in QUANTIZE_OPTIONS), "algorithms", "override_params_path"}  # fmt: skip
    options = view.options
    flags = [(o.cli_flag, _option_value(options.get(o.name, o.default)))
             for o in QUANTIZER_OPTIONS]  # fmt: skip
    timings = report.get("timings_s") or {}
    result = [
        ("output SQNR", _db_unit(det.get("sqnr_db"))),
        ("weights only", _db_unit(sens.get("weights_only_sqnr_db"))),
        ("activations only", _db_unit(sens.get("activations_only_sqnr_db"))),
        ("analysis samples", sens.get("samples")),
        ("float fallback", ", ".join(report.get("float_fallback") or ()) or None),
        *((f"{stage} time", _duration(t)) for stage, t in timings.items()),
    ]
    worst = [(w.get("node"), f"{w.get('op_type')}: output {_db_unit(w.get('output_sqnr_db'))} "
              "if only it is quantized") for w in sens.get("layers") or ()]  # fmt: skip
    return [
        ("Containers", [("input", _container_text(view.container)),
                        ("output", _container_text(view.output_container)),
                        ("calibration", cal and f"{cal['path']} ({cal['samples']} samples)")]),
        ("Options", flags),
        ("Result", result),
        ("Costliest layers", worst),
    ]  # fmt: skip


def _bench_sections(view: Any, shown: set[str]) -> list[tuple[str, list[tuple[str, Any]]]]:
    det = view.detail.details
    options = dict(det.get("options") or {})
    ms = _ms_text
    groups = {
        "Settings": [("runtime", "runtime"), ("cpu_fxp", "CPU fixed point"), ("batch", "batch"),
                     ("iterations", "iterations"), ("device_measured", "measured on a device")],
        "Initialisation": [("init_time_ms", "init"), ("init_peak_bytes", "init peak memory")],
        "Latency": [("latency_mean_ms", "mean"), ("latency_p50_ms", "p50"),
                    ("latency_p90_ms", "p90"), ("latency_min_ms", "min")],
        "Accuracy vs float": [("sqnr_db", "SQNR"), ("cosine", "cosine"),
                              ("max_abs_err", "max abs error"), ("top1_agreement", "top-1 agreement"),
                              ("label_accuracy", "label accuracy")],
    }  # fmt: skip
    shown |= {"options", "init_breakdown", "reference_container_id", "container_size_bytes"}
    sections = [("Containers", [("measured", _container_text(view.container)),
                                ("float reference", _container_text(view.reference_container))])]  # fmt: skip
    for title, keys in groups.items():
        pairs = []
        for key, label in keys:
            shown.add(key)
            value = det.get(key)
            if key.endswith("_ms"):
                value = ms(value)
            elif key.endswith("_bytes"):
                value = format_bytes(value) if value is not None else None
            elif key == "sqnr_db":
                value = _db_unit(value)
            elif key in ("top1_agreement", "label_accuracy"):
                value = _pct(value)
            pairs.append((label, value))
        if title == "Settings":
            pairs.append(("mode", options.pop("mode", None)))
        if title == "Initialisation":
            phases = det.get("init_breakdown") or {}
            pairs[1:1] = [(f"  {phase}", ms(t)) for phase, t in phases.items()]
        sections.append((title, pairs))
    sections.append(("Options", [(k, _option_value(v)) for k, v in options.items()]))
    return sections


def _debug_sections(view: Any, shown: set[str]) -> list[tuple[str, list[tuple[str, Any]]]]:
    det, report = view.detail.details, view.report
    options = view.options
    shown |= {"options", "report", "float_container_id", "runtime", "cpu_fxp", "samples", "input_list",
              "metric", "first_divergent_layer", "cause", "why", "suggestion", "sqnr_db",
              "fake_quant_sqnr_db"}  # fmt: skip
    flags = [(o.cli_flag, _option_value(options.get(o.name, o.default))) for o in DEBUG_OPTIONS]
    return [
        ("Containers", [("quantized", _container_text(view.container)),
                        ("float", _container_text(view.float_container)),
                        ("input list", det.get("input_list"))]),
        ("Options", flags),
        ("First divergence", [("layer", det.get("first_divergent_layer") or "none"),
                              ("cause", det.get("cause")), ("why", det.get("why")),
                              ("try", det.get("suggestion"))]),
        ("Result", [("runtime", report.get("runtime") or det.get("runtime")),
                    ("samples", det.get("samples")),
                    ("output SQNR (integer-true)", _db_unit(det.get("sqnr_db"))),
                    ("output SQNR (fake-quant)", _db_unit(det.get("fake_quant_sqnr_db"))),
                    ("contribution metric", det.get("metric")),
                    ("  why this metric", report.get("metric_reason")),
                    ("  samples", report.get("contribution_samples")),
                    ("thresholds", f"{report.get('threshold_lsb')} LSB, {report.get('drop_db')} dB"
                     if report else None),
                    ("notes", "; ".join(report.get("notes") or ()) or None)]),
    ]  # fmt: skip


_SECTIONS = {QUANTIZE: _quantize_sections, BENCH: _bench_sections, DEBUG: _debug_sections}


def _render_layers(console: Console, layers: Sequence[dict[str, Any]]) -> None:
    if not layers:
        return
    console.print()
    print_table(
        console, LAYER_COLUMNS,
        ((la["layer_index"], la["layer_name"], la["op_type"], la["bitwidth"], la["encoding_min"],
          la["encoding_max"], _db(la["sqnr_db"]), la["rmse_over_scale"]) for la in layers),
        title=f"Layers ({len(layers)}): output encoding and SQNR against float",
    )  # fmt: skip


LAYER_COLUMNS = (
    Column("#", align="right"),
    Column("layer", fit=MIDDLE, min_width=12),
    Column("type", fit=MIDDLE, min_width=6),
    Column("bits", align="right", priority=2),
    Column("min", align="right", priority=1),
    Column("max", align="right", priority=1),
    Column("SQNR dB", align="right"),
    Column("rmse/Δ", align="right", priority=3),
)


def _option_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "none"
    return value


def _db_unit(value: float | None) -> str | None:
    shown = _db(value)
    return None if shown is None else shown if shown == "exact" else f"{shown} dB"


def _ms_text(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f} ms"


@runs.command("tag")
@click.argument("run_id", metavar="ID", type=int)
@click.argument("tags", metavar="TAG...", nargs=-1, required=True)
@pass_app
def runs_tag(app: App, run_id: int, tags: tuple[str, ...]) -> None:
    """Add tags to run ID."""
    from workbench.jobs.runs import tag_run

    run = tag_run(app.store(), run_id, tags)
    emit(app, run, lambda c: _summary_line(c, run))


@runs.command("untag")
@click.argument("run_id", metavar="ID", type=int)
@click.argument("tags", metavar="TAG...", nargs=-1, required=True)
@pass_app
def runs_untag(app: App, run_id: int, tags: tuple[str, ...]) -> None:
    """Remove tags from run ID."""
    from workbench.jobs.runs import untag_run

    run = untag_run(app.store(), run_id, tags)
    emit(app, run, lambda c: _summary_line(c, run))


@runs.command("note")
@click.argument("run_id", metavar="ID", type=int)
@click.argument("text")
@pass_app
def runs_note(app: App, run_id: int, text: str) -> None:
    """Set the notes of run ID ("" clears them)."""
    from workbench.jobs.runs import set_note

    run = set_note(app.store(), run_id, text)
    emit(app, run, lambda c: say(c, f"run {run.id}: notes {'set' if run.notes else 'cleared'}"))


@runs.command("star")
@click.argument("run_id", metavar="ID", type=int)
@click.option("--unstar", is_flag=True, help="Remove the star.")
@pass_app
def runs_star(app: App, run_id: int, unstar: bool) -> None:
    """Star run ID (or --unstar it)."""
    from workbench.jobs.runs import set_starred

    run = set_starred(app.store(), run_id, not unstar)
    emit(app, run, lambda c: say(c, f"run {run.id}: {'starred' if run.starred else 'unstarred'}"))


@runs.command("baseline")
@click.argument("run_id", metavar="ID", type=int)
@click.option("--clear", is_flag=True, help="Stop using the run as the baseline.")
@pass_app
def runs_baseline(app: App, run_id: int, clear: bool) -> None:
    """Make run ID the baseline of its project for its kind."""
    from workbench.jobs.runs import set_baseline

    run = set_baseline(app.store(), run_id, not clear)
    word = "is now the baseline" if run.baseline else "is no longer the baseline"
    emit(app, run, lambda c: say(c, f"run {run.id} {word} for {run.kind} runs in {run.project}"))


# --- experiment ------------------------------------------------------------------------


@cli.group()
def experiment() -> None:
    """Named sets of runs, kept to compare."""


def _experiment_line(console: Console, info: Any) -> None:
    ids = ", ".join(str(i) for i in info.run_ids) or "none"
    say(console, f"experiment {info.name} ({info.project}): runs {ids}")


@experiment.command("create")
@click.argument("name")
@click.option("--note", default="", help="What the experiment is about.")
@pass_app
def experiment_create(app: App, name: str, note: str) -> None:
    """Create experiment NAME in the project."""
    from workbench.jobs.experiments import create_experiment

    info = create_experiment(app.store(), app.project, name, note)
    emit(app, info, lambda c: _experiment_line(c, info))


@experiment.command("add")
@click.argument("name")
@click.argument("run_ids", metavar="RUN_ID...", type=int, nargs=-1, required=True)
@pass_app
def experiment_add(app: App, name: str, run_ids: tuple[int, ...]) -> None:
    """Add runs to experiment NAME."""
    from workbench.jobs.experiments import add_runs

    info = add_runs(app.store(), app.project, name, run_ids)
    emit(app, info, lambda c: _experiment_line(c, info))


@experiment.command("remove")
@click.argument("name")
@click.argument("run_ids", metavar="RUN_ID...", type=int, nargs=-1, required=True)
@pass_app
def experiment_remove(app: App, name: str, run_ids: tuple[int, ...]) -> None:
    """Take runs out of experiment NAME."""
    from workbench.jobs.experiments import remove_runs

    info = remove_runs(app.store(), app.project, name, run_ids)
    emit(app, info, lambda c: _experiment_line(c, info))


@experiment.command("advice")
@click.argument("name")
@click.option("--max-accuracy-drop", type=float, default=DEFAULT_MAX_ACCURACY_DROP, metavar="X",
              help="Accuracy loss the quantized container may have, in the decision metric's "
                   "unit (default: the metric's own).")  # fmt: skip
@pass_app
def experiment_advice(app: App, name: str, max_accuracy_drop: float | None) -> None:
    """The advisor's table for experiment NAME, rebuilt from its stored benchmark runs."""
    from workbench.jobs.advise import saved_advice

    result = saved_advice(app.store(), app.project, name, max_accuracy_drop)

    def render(console: Console) -> None:
        for note in result.notes:
            say(console, note)
        _render_advice(console, result.advice)

    emit(app, result.document(), render)


@experiment.command("show")
@click.argument("name")
@pass_app
def experiment_show(app: App, name: str) -> None:
    """Show experiment NAME and its runs."""
    from workbench.jobs.experiments import show_experiment

    detail = show_experiment(app.store(), app.project, name)

    def render(console: Console) -> None:
        print_fields(
            console,
            [("experiment", detail.name), ("project", detail.project),
             ("created", detail.created_at),
             ("note", Lines.of(detail.note) if detail.note else None)],
        )  # fmt: skip
        print_table(console, RUN_COLUMNS, (_run_cells(r) for r in detail.runs))

    emit(app, detail, render)


@experiment.command("list")
@pass_app
def experiment_list(app: App) -> None:
    """List the project's experiments."""
    from workbench.jobs.experiments import list_experiments

    infos = list_experiments(app.store(), app.project)
    emit(
        app,
        infos,
        lambda c: print_table(
            c,
            EXPERIMENT_COLUMNS,
            [(e.name, len(e.run_ids), e.created_at, e.note) for e in infos],
        ),
    )


EXPERIMENT_COLUMNS = (
    Column("name", fit=MIDDLE, min_width=16),
    Column("runs", align="right"),
    Column("created", priority=2),
    Column("note", fit=WRAP, priority=1, min_width=20),
)


@experiment.command("note")
@click.argument("name")
@click.argument("text")
@pass_app
def experiment_note(app: App, name: str, text: str) -> None:
    """Set the note of experiment NAME."""
    from workbench.jobs.experiments import set_experiment_note

    info = set_experiment_note(app.store(), app.project, name, text)
    emit(app, info, lambda c: _experiment_line(c, info))


# --- convert / info / diff / run -------------------------------------------------------


def _parse_input_dims(pairs: Sequence[tuple[str, str]]) -> dict[str, list[int]]:
    from workbench.errors import BadInput

    dims: dict[str, list[int]] = {}
    for name, text in pairs:
        try:
            shape = [int(d) for d in text.replace("x", ",").split(",") if d.strip()]
        except ValueError:
            raise BadInput(
                f"--input-dim {name} {text}: dims must be integers like 1,3,224,224"
            ) from None
        if not shape or any(d <= 0 for d in shape):
            raise BadInput(f"--input-dim {name} {text}: dims must be positive integers")
        dims[name] = shape
    return dims


@cli.command()
@click.argument("model", type=click.Path(dir_okay=True, path_type=str))
@click.option("-o", "--output", required=True, metavar="M.dlc", help="Container to write.")
@click.option("--input-dim", "input_dims", nargs=2, multiple=True, metavar="NAME DIMS",
              help="Fix an input's shape, e.g. --input-dim images 1,3,224,224 (repeatable).")  # fmt: skip
@click.option("--enable-hta", is_flag=True,
              help="Quantized TFLite only: also write the HTA records the AIP runtime needs.")  # fmt: skip
@declared_options(METRIC)
@pass_app
def convert(
    app: App, model: str, output: str, input_dims: tuple[tuple[str, str], ...], enable_hta: bool,
    metric: str | None,
) -> None:  # fmt: skip
    """Import an ONNX or TensorFlow model into a container.

    MODEL is an .onnx file, a .tflite file, a SavedModel folder, a frozen .pb
    graph or a .keras/.h5 file (SavedModel, .pb and Keras need the tensorflow
    extra). The container is float (non-quantized), except for a quantized
    TFLite model, which keeps its own int8/uint8 encodings.
    """
    from workbench.jobs.convert import command_line, convert_model

    with _progress(f"convert {os.path.basename(model)}", app):
        result = convert_model(
            app.store(), app.project, model, output,
            input_dims=_parse_input_dims(input_dims), command=command_line(), enable_hta=enable_hta,
            metric=metric,
        )  # fmt: skip
    emit(app, result, lambda c: say(
        c,
        f"wrote {result.output}: {result.layers} layers, {result.param_count:,} parameters, "
        f"{result.macs:,} MACs, {format_bytes(result.size_bytes)} in {result.seconds:.2f}s "
        f"(model {result.model_id}, container {result.container_id})"
        + (", quantized: the model's own encodings kept" if result.quantized else ""),
        *([f"decision metric: {result.metric} ({result.metric_reason})"] if result.metric else []),
        *(f"note: {n}" for n in result.notes),
    ))  # fmt: skip


def _dims(shape: Any) -> str:
    return "-" if shape is None else "x".join(str(d) for d in shape)


@cli.command()
@click.argument("container", type=click.Path(path_type=str))
@pass_app
def info(app: App, container: str) -> None:
    """Layers, shapes, parameters, MACs, encodings and records of a container."""
    from workbench.jobs.inspect import container_info

    summary = container_info(container)

    def render(console: Console) -> None:
        columns = ["id", "name", "type", "inputs", "outputs", "output dims", "params", "MACs"]
        if summary.quantized:
            columns.append("encoding")
        rows = []
        for r in summary.rows:
            row = [r.index, r.name, r.op_type, r.inputs, r.outputs,
                   ", ".join(_dims(d) for d in r.output_dims), r.param_count, r.macs]  # fmt: skip
            if summary.quantized:
                row.append(r.encoding_summary)
            rows.append(row)
        print_table(console, [c for c in INFO_COLUMNS if c.name in columns], rows)
        print_fields(console, [
            ("container", container),
            ("inputs", [f"{t.name} {t.dtype} {_dims(t.shape)}" for t in summary.inputs]),
            ("outputs", [f"{t.name} {t.dtype} {_dims(t.shape)}" for t in summary.outputs]),
            ("layers", len(summary.rows)),
            ("parameters", f"{summary.param_count:,} ({format_bytes(summary.param_bytes)})"),
            ("MACs", f"{summary.total_macs:,}"),
            ("file size", format_bytes(summary.file_size)),
            ("quantized", summary.quantized),
            ("rounding", summary.rounding),
            ("records", [f"{n} ({format_bytes(s)})" for n, s in summary.records] or None),
            ("opset", summary.opset),
            ("converter", (summary.converter or {}).get("command")),
            ("quantizer", (summary.quantizer or {}).get("command")),
            ("created", summary.created),
        ])  # fmt: skip

    emit(app, summary.to_dict(), render)


INFO_COLUMNS = (
    Column("id", align="right"),
    Column("name", fit=MIDDLE, min_width=12),
    Column("type", fit=MIDDLE, min_width=6),
    Column("inputs", fit=WRAP, priority=4, min_width=12),
    Column("outputs", fit=WRAP, priority=5, min_width=12),
    Column("output dims", fit=WRAP, min_width=9),
    Column("params", align="right", priority=1),
    Column("MACs", align="right", priority=2),
    Column("encoding", fit=WRAP, priority=3, min_width=16),
)


@cli.command("diff")
@click.argument("a", type=click.Path(path_type=str))
@click.argument("b", type=click.Path(path_type=str))
@pass_app
def diff_cmd(app: App, a: str, b: str) -> None:
    """What differs between containers A and B (layers, dims, parameters, encodings)."""
    from workbench.jobs.inspect import container_diff

    report = container_diff(a, b)
    data = report.to_dict()

    def render(console: Console) -> None:
        if report.identical:
            say(console, f"{a} and {b} hold the same network")
            return
        for key, value in data.items():
            if key == "identical" or not value:
                continue
            if isinstance(value, list) and value and isinstance(value[0], dict):
                cols = list(value[0])
                columns = [Column(k, fit=WRAP, min_width=6) for k in cols]
                print_table(console, columns, ([v.get(k) for k in cols] for v in value), title=key)
            else:
                print_fields(console, [(key, value)])

    emit(app, data, render)


@cli.command("run")
@click.argument("container", type=click.Path(path_type=str))
@click.option("--input-list", required=True, metavar="LIST", help="Vendor-format input list.")
@click.option("--output-dir", required=True, metavar="OUT", help="Folder for Result_N/*.raw.")
@declared_options(*RUN_OPTIONS)
@pass_app
def run_cmd(app: App, container: str, input_list: str, output_dir: str, **values: Any) -> None:
    """Run a container over an input list, writing OUT/Result_N/<output>.raw.

    Tensor names are kept, '/' making folders, as snpe-net-run writes them;
    OUT/outputs.json maps every tensor to its file.
    """
    from workbench.jobs.convert import command_line
    from workbench.jobs.infer import run_container
    from workbench.options import RunOptions

    options = RunOptions(**_picked(values, RUN_OPTIONS))
    runtime = options.runtime
    with _progress(f"run on {runtime}", app) as progress:
        result = run_container(app.store(), app.project, container, input_list, output_dir,
                               options, command=command_line(), progress=progress)  # fmt: skip
    emit(app, result, lambda c: say(
        c,
        f"{result.inferences} inferences on {runtime} ({result.mode}): init {result.init_ms:.1f} ms, "
        f"mean {result.latency_mean_ms:.2f} ms per batch; outputs in {result.output_dir} "
        f"(run {result.run_id})",
        *(f"warning: {w}" for w in result.warnings),
    ))  # fmt: skip


@cli.command("debug")
@click.argument("container", type=click.Path(path_type=str))
@click.option("--input-list", required=True, metavar="LIST", help="Vendor-format input list.")
@declared_options(*DEBUG_OPTIONS)
@pass_app
def debug_cmd(app: App, container: str, input_list: str, **values: Any) -> None:
    """Find the first layer where a quantized container parts from its float model."""
    from workbench.jobs.convert import command_line
    from workbench.jobs.debug import DebugRequest, debug_job
    from workbench.options import DebugOptions

    options = DebugOptions(**_picked(values, DEBUG_OPTIONS))
    request = DebugRequest(container, input_list, options, command=command_line())
    with _progress(f"debug on {options.runtime}", app) as progress:
        result = debug_job(app.store(), app.project, request, progress=progress)
    report = result.report

    def render(console: Console) -> None:
        _render_debug_layers(console, report["layers"], report["first_divergent_layer"],
                             report["metric"])  # fmt: skip
        say(
            console,
            f"{counted(report['samples'], 'sample')} on {report['runtime']}: output SQNR "
            f"{format_db(report['output_integer_sqnr_db'])} integer-true, "
            f"{format_db(report['output_fake_quant_sqnr_db'])} fake-quant; contribution: "
            f"{report['metric']} with only that layer quantized, over "
            f"{counted(report['contribution_samples'], 'sample')} (run {result.run_id})",
        )
        say(console, report["why"])

    emit(app, result, render)


def _render_debug_layers(console: Console, layers: Sequence[dict[str, Any]], first: str | None,
                         metric: str | None, *, title: str = "") -> None:  # fmt: skip
    """The debugger's table: one row per layer in execution order, ▶ the first divergent;
    ``METRIC alone``: the model's metric with only that layer quantized."""
    rows = (
        (
            ("▶ " if layer["node"] == first else "")
            + ("! " if layer["diverges"] else "")
            + str(layer["index"]),
            layer["node"],
            layer["op_type"],
            layer["precision"],
            f"{layer['fake_quant_mean_lsb']:.2f}",
            f"{layer['integer_mean_lsb']:.2f}",
            f"{layer['integer_max_lsb']:.1f}",
            f"{layer['clipped_pct']:.2f}",
            _db(layer["integer_sqnr_db"]),
            layer.get("contribution_shown") or "-",
            ", ".join(layer["causes"]),
        )
        for layer in layers
    )
    columns = list(DEBUG_COLUMNS)
    columns[-2] = replace(columns[-2], name=f"{metric or 'metric'} alone")
    print_table(console, columns, rows, title=title)


DEBUG_COLUMNS = (
    Column("#", align="right"),
    Column("layer", fit=MIDDLE, min_width=10),
    Column("op", priority=2),
    Column("prec", priority=1),
    Column("fq LSB", align="right", priority=3),
    Column("int LSB", align="right"),
    Column("max", align="right", priority=2),
    Column("clip %", align="right", priority=1),
    Column("SQNR dB", align="right"),
    Column("alone", align="right", priority=1),
    Column("cause", fit=WRAP, priority=1),
)


AUTOQUANT_COLUMNS = (
    Column("#", align="right"),
    Column("candidate", fit=WRAP, min_width=14),
    Column("goal", align="right"),
    Column("SQNR", align="right", priority=2),
    Column("size", align="right", priority=1),
    Column("device init", align="right", priority=1),
    Column(">8 bit", align="right"),
    Column("bound.", align="right", priority=3),
)


@cli.command("autoquant")
@click.argument("container", type=click.Path(path_type=str))
@click.option("--input-list", required=True, metavar="CAL", help="Calibration input list.")
@click.option("--eval-list", required=True, metavar="EVAL",
              help="Input list every candidate is evaluated on (on the target runtime).")  # fmt: skip
@click.option("-o", "--output", required=True, metavar="BEST.dlc",
              help="Where the chosen container is written (candidates: BEST.candidates/).")  # fmt: skip
@declared_options(*AUTOQUANT_OPTIONS)
@pass_app
def autoquant_cmd(app: App, container: str, input_list: str, eval_list: str, output: str,
                  **values: Any) -> None:  # fmt: skip
    """Search quantizations in order of cost for the cheapest that meets --goal.

    Scheme, per-channel, 32-bit biases, CLE/BC, AdaRound, then 16-bit and float
    layers where the ranking puts the noise; every candidate is a quantize and a bench run in one
    experiment (README: Autoquant).
    """
    from workbench.jobs.autoquant import AutoquantRequest, autoquant_job
    from workbench.jobs.convert import command_line
    from workbench.options import AutoquantOptions

    options = AutoquantOptions(**_picked(values, AUTOQUANT_OPTIONS))
    request = AutoquantRequest(container, input_list, eval_list, output, options,
                               command=command_line())  # fmt: skip
    with _progress(f"autoquant {options.goal} on {options.runtime}", app) as progress:
        result = autoquant_job(app.store(), app.project, request, progress=progress)

    def render(console: Console) -> None:
        _render_autoquant(console, result)

    emit(app, result, render)


def _render_autoquant(console: Console, result: Any) -> None:
    """Every candidate, the Pareto front, and the line saying why the chosen one won."""
    from workbench.jobs.autoquant import shown
    from workbench.options import Goal

    goal = Goal.parse(result.goal)

    def mark(c: Any) -> str:
        return (
            ("▶ " if c.index == result.chosen else "") + ("★ " if c.pareto else "") + str(c.index)
        )

    def wide(c: Any) -> str:
        if not c.layers:
            return "-"
        text = f"{c.wide_layers} ({c.wide_share:.0%})"
        return text + (f" +{c.float_layers} fl" if c.float_layers else "")

    rows = [
        (mark(c), c.label + (f" [{c.status}: {c.error}]" if c.error else ""),
         ("✓ " if c.meets else "") + shown(goal, c), _db(c.sqnr_db), format_bytes(c.size_bytes),
         _init_text(c.device_init_ms), wide(c), str(c.boundaries))
        for c in result.candidates
    ]  # fmt: skip
    print_table(console, AUTOQUANT_COLUMNS, rows,
                title=f"autoquant {result.goal} on {result.runtime}, N={result.eval_samples} "
                      "(▶ chosen, ★ Pareto front: goal / size / device init)")  # fmt: skip
    front = ", ".join(f"#{c.index}" for c in result.front) or "-"
    say(console, f"Pareto front ({result.metric} / size / device init): {front}")
    for line in result.skipped:
        print_lines(console, [f"skipped: {line}"], style="dim")
    if result.stopped:
        say(console, f"stopped: {result.stopped}")
    say(console, result.why)
    say(console, f"{counted(len(result.candidates), 'candidate')} in {result.seconds:.0f}s, kept in "
                 f"experiment {result.experiment!r} ({result.candidates_dir})")  # fmt: skip


# --- quantize / export -----------------------------------------------------------------


@contextmanager
def _progress(what: str, app: App) -> Iterator[Callable[[str, int, int], None]]:
    """A job's progress callback: a line on stderr after a second (a terminal only, not
    under --json), and the place where an interrupt that landed in an import ends the job."""
    with progress_on_stderr(what, quiet=app.json) as shown:

        def report(stage: str, done: int, total: int) -> None:
            checkpoint()
            if shown is not None:
                shown(stage, done, total)

        yield report


@cli.command()
@click.argument("container", type=click.Path(path_type=str))
@click.option("--input-list", required=True, metavar="LIST", help="Calibration input list.")
@click.option(
    "-o", "--output", required=True, metavar="Q.dlc", help="Quantized container to write."
)
@declared_options(*QUANTIZE_OPTIONS)
@pass_app
def quantize(app: App, container: str, input_list: str, output: str, **values: Any) -> None:
    """Calibrate a float container and write an 8-bit fixed-point one (snpe-dlc-quantize)."""
    from workbench.jobs.convert import command_line
    from workbench.jobs.quantize import QuantizeRequest, quantize_job
    from workbench.options import QuantOptions

    options = QuantOptions(**_picked(values, QUANTIZER_OPTIONS))
    request = QuantizeRequest(container, input_list, output, options, analyze=values["analyze"],
                              command=command_line(), eval_list=values["eval_list"],
                              metric=values["metric"])  # fmt: skip
    store = app.store()
    with _progress("quantize", app) as progress:
        result = quantize_job(store, app.project, request, progress=progress)

    def render(console: Console) -> None:
        ratio = result.size_bytes / max(1, result.float_size_bytes)
        say(console, f"wrote {result.output}: {format_bytes(result.size_bytes)} ({ratio:.2f}x the float "
                     f"container), {result.samples} calibration samples in {result.seconds:.1f}s, "
                     f"peak {format_bytes(result.peak_memory_bytes)} (run {result.run_id})")  # fmt: skip
        if result.headline:
            say(console, f"accuracy: {result.headline}")
        _render_sensitivity(console, result.sensitivity)
        if result.float_fallback:
            say(console, "runs in float inside the integer executor: "
                + ", ".join(result.float_fallback))  # fmt: skip
        if result.integer_check is not None:
            check = result.integer_check
            say(console, f"integer-true check over {check['samples']} samples: output SQNR "
                         f"{format_db(check['integer_sqnr_db'])} (fake-quant "
                         f"{format_db(check['fake_quant_sqnr_db'])}): "
                         f"{'ok' if check['ok'] else 'FAILED'}")  # fmt: skip
        for warning in result.warnings:
            say(console, f"warning: {warning}")

    if app.json:  # the run detail document (runs show), with the job's own fields
        from workbench.jobs.runs import show_run

        detail = to_json(show_run(store, result.run_id))
        emit(app, {**detail, **to_json(result)}, render)
        return
    emit(app, result, render)


SENSITIVITY_COLUMNS = (
    Column("layer", fit=MIDDLE, min_width=12),
    Column("type", fit=MIDDLE, min_width=6),
    Column("its weights alone", align="right"),
    Column("its outputs alone", align="right"),
    Column("costlier"),
)


def _render_sensitivity(console: Console, sens: dict[str, Any] | None) -> None:
    """The sensitivity report: which half costs, which layers, which knob helps."""
    if not sens:
        return
    say(console, f"sensitivity ({sens['metric']}, N={sens['samples']}, {sens['seconds']:.1f}s): "
                 f"{sens['suggestion']}")  # fmt: skip
    if sens["layers"]:

        def shown(part: dict[str, Any] | None) -> str:
            return "-" if part is None else part["shown"]

        print_table(console, SENSITIVITY_COLUMNS,
                    ((s["node"], s["op_type"], shown(s["weights"]), shown(s["activations"]),
                      s["dominant"]) for s in sens["layers"]),
                    title=f"costliest layers ({sens['metric']} with only that part quantized)")  # fmt: skip


@cli.group()
def export() -> None:
    """Export to other tools: a quantized container (QDQ ONNX, AIMET encodings), runs (MLflow)."""


@export.command("qdq")
@click.argument("container", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, metavar="Q.onnx")
@click.option("--unsigned-weights", is_flag=True,
              help="uint8 weights (ONNX Runtime's fused int8 kernels saturate on CPUs without VNNI).")  # fmt: skip
@pass_app
def export_qdq_cmd(app: App, container: str, output: str, unsigned_weights: bool) -> None:
    """A QDQ ONNX model that ONNX Runtime runs (to the bit when quantized --rounding half-even)."""
    from workbench.jobs.export import export_qdq_file

    with _progress("export QDQ ONNX", app):
        result = export_qdq_file(container, output, signed_weights=not unsigned_weights,
                                 protect=app.store_files())  # fmt: skip

    def render(c: Console) -> None:
        say(c, f"wrote {result['output']} ({result['nodes']} nodes, opset {result['opset']})")
        if result["note"]:
            say(c, f"note: {result['note']}")

    emit(app, result, render)


@export.command("encodings")
@click.argument("container", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, metavar="E.json")
@click.option("--format-version", type=click.Choice(["0.6.1", "1.0.0", "2.0.0", "2.1.0"]),
              default="1.0.0", show_default=True, help="AIMET encodings format.")  # fmt: skip
@click.option("--all-tensors", is_flag=True,
              help="Also the encodings AIMET's default quantsim leaves out (biases, Reshape-like "
                   "outputs, fused Conv+ReLU insides); AIMET's strict load refuses those.")  # fmt: skip
@pass_app
def export_encodings_cmd(
    app: App, container: str, output: str, format_version: str, all_tensors: bool
) -> None:
    """AIMET-format encodings JSON (reads back with quantize --override-params)."""
    from workbench.jobs.export import export_encodings_file

    with _progress("export encodings", app):
        result = export_encodings_file(container, output, format_version,
                                       all_tensors=all_tensors, protect=app.store_files())  # fmt: skip

    def render(c: Console) -> None:
        say(c, f"wrote {result['output']}: {result['activations']} activation and "
               f"{result['params']} parameter encodings (AIMET {result['version']})")  # fmt: skip
        if result["skipped"]:
            say(c, f"left out {len(result['skipped'])} that AIMET does not quantize "
                   "(--all-tensors writes them)")  # fmt: skip

    emit(app, result, render)


@export.command("mlflow")
@click.argument("run_ids", metavar="[RUN_ID]...", type=int, nargs=-1)
@click.option("--experiment", metavar="NAME", help="Export this experiment's runs.")
@click.option("--tracking-uri", required=True, metavar="URI",
              help="MLflow tracking URI: http://host:5000, sqlite:///mlflow.db, file:///path.")  # fmt: skip
@click.option("--mlflow-experiment", metavar="NAME",
              help="MLflow experiment to log to (default: workbench/PROJECT[/EXPERIMENT]).")  # fmt: skip
@click.option("--no-containers", is_flag=True, help="Do not upload the containers as artifacts.")
@pass_app
def export_mlflow_cmd(app: App, run_ids: tuple[int, ...], experiment: str | None,
                      tracking_uri: str, mlflow_experiment: str | None,
                      no_containers: bool) -> None:  # fmt: skip
    """Log runs to MLflow: options as params, measurements as metrics, the container and
    the report as artifacts (extra: pip install -e '.[mlflow]'). Runs already there are skipped."""
    from workbench.jobs.export_mlflow import export_mlflow

    with _progress("export to MLflow", app) as progress:
        result = export_mlflow(app.store(), app.project, tracking_uri=tracking_uri,
                               run_ids=run_ids, experiment=experiment,
                               mlflow_experiment=mlflow_experiment,
                               containers=not no_containers, progress=progress)  # fmt: skip
    skipped = f"; {len(result.skipped)} already there" if result.skipped else ""
    emit(app, result, lambda c: say(c, f"logged {len(result.exported)} run(s) to MLflow experiment "
                                       f"{result.experiment!r} at {result.tracking_uri}{skipped}"))  # fmt: skip


# --- runs compare / tui ----------------------------------------------------------------


@runs.command("compare")
@click.argument("run_ids", metavar="ID ID...", type=int, nargs=-1, required=True)
@click.option("--baseline", type=int, metavar="ID", help="Compare against this run (default: "
              "the project's baseline among them, else the first).")  # fmt: skip
@click.option("--all", "show_all", is_flag=True, help="Show every metric, not only differences.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv"]), default="table",
              show_default=True, help="Output format.")  # fmt: skip
@pass_app
def runs_compare(app: App, run_ids: tuple[int, ...], baseline: int | None, show_all: bool,
                 fmt: str) -> None:  # fmt: skip
    """Compare runs side by side against a baseline: deltas, better or worse."""
    from workbench.jobs.browse import compare_runs
    from workbench.jobs.compare import cell_text, run_heading, to_csv, to_markdown

    comparison = compare_runs(app.store(), run_ids, baseline)
    diff_only = not show_all
    rows = comparison.visible_rows(diff_only)
    if app.json:
        data = {
            "baseline": comparison.baseline.id,
            "runs": [{"id": r.id, "label": r.label} for r in comparison.runs],
            "metrics": [
                {"metric": row.metric.key, "better": row.metric.better,
                 "values": [c.value for c in row.cells],
                 "deltas": [c.delta.value if c.delta else None for c in row.cells],
                 "verdicts": [c.delta.verdict if c.delta else None for c in row.cells]}
                for row in rows
            ],
        }  # fmt: skip
        emit(app, data, lambda c: None)
        return
    if fmt != "table":
        text = to_csv(comparison, diff_only=diff_only) if fmt == "csv" else to_markdown(
            comparison, diff_only=diff_only)  # fmt: skip
        click.echo(text, nl=False)  # the export escapes control characters itself
        return

    def render(console: Console) -> None:
        heads = [run_heading(r, i == 0) for i, r in enumerate(comparison.runs)]
        columns = [Column("metric", fit=MIDDLE, min_width=12),
                   *(Column(h, fit=WRAP, min_width=8) for h in heads)]  # fmt: skip
        print_table(console, columns,
                    ([row.metric.label, *(cell_text(row, i) for i in range(len(heads)))]
                     for row in rows))  # fmt: skip
        if not rows:
            say(console, "no differences (--all shows every metric)")

    emit(app, None, render)


@cli.command("tui")
@pass_app
def tui_cmd(app: App) -> None:
    """The terminal UI: browse projects and runs, launch jobs, compare experiments.

    Opens --project, else the project used last (else the project list).
    """
    from workbench.jobs.projects import ensure_project, start_project
    from workbench.tui.app import WorkbenchApp

    store = app.store()
    if app.project_given:
        ensure_project(store, app.project)
        project: str | None = app.project
    else:
        project = start_project(store)
    WorkbenchApp(store, project).run()


# --- bench / advise / demo / import ----------------------------------------------------


def _bench_columns(metric: str | None, labelled: bool) -> tuple[Column, ...]:
    """Device-equivalent init first; the decision metric's own column when it is not SQNR."""
    return (
        Column("run", align="right"),
        Column("runtime"),
        Column("status"),
        Column("device init ms", align="right"),
        Column("init ms", align="right", priority=2),
        Column("device peak", align="right"),
        Column("latency ms", align="right", priority=2),
        Column("SQNR dB", align="right"),
        *((Column(metric, align="right"),) if metric not in (None, SQNR) else ()),
        *((Column("accuracy", align="right"),) if labelled else ()),
        Column("mode", fit=WRAP, priority=3, min_width=16),
    )


def _bench_rows_table(console: Console, rows: Sequence[Any], title: str = "") -> None:
    """Bench rows grouped by container (its name, kind and size heading its runtimes);
    a refused or failed row says why under it. Init figures are device-equivalent."""
    metric = next((r.metric for r in rows if r.metric), None)
    labelled = any((r.accuracy or {}).get("label_accuracy") is not None for r in rows)
    items: list[Row | Group] = []
    container = None
    for r in rows:
        if r.container != container:
            container = r.container
            kind = "quantized" if r.quantized else "float"
            items.append(
                Group(os.path.basename(r.container), f"{kind} · {format_bytes(r.size_bytes)}")
            )
        runtime = f"{r.runtime} fxp" if r.cpu_fxp else r.runtime
        if r.status != SUCCEEDED:
            cells = (r.run_id, runtime, _status(r.status))
            items.append(
                Row(cells, note=r.error, note_style="red" if r.status == FAILED else "yellow")
            )
            continue
        acc, lat = r.accuracy or {}, r.latency_ms or {}
        device = r.device_init_ms if r.device_init_ms is not None else r.init_ms
        peak = (
            r.device_init_peak_bytes if r.device_init_peak_bytes is not None else r.init_peak_bytes
        )
        unusable = "unusable" if r.nonfinite_values else None
        extra = (
            (unusable or _metric_text(metric, r.metric_value),)
            if metric not in (None, SQNR)
            else ()
        )
        label = (unusable or _pct(acc.get("label_accuracy")),) if labelled else ()
        items.append(Row((
            r.run_id, runtime, _status(r.status), f"{device:.1f}", f"{r.init_ms:.1f}",
            format_bytes(peak), f"{lat['mean']:.2f}" if lat.get("mean") is not None else None,
            unusable or _db(acc.get("sqnr_db")), *extra, *label, r.mode,
        )))  # fmt: skip
    print_table(console, _bench_columns(metric, labelled), items, title=title)
    if metric:
        say(console, "device init: the phases a device also performs (file, conversions, HTA "
                     "records); init ms adds the emulator's own setup")  # fmt: skip


def _metric_text(metric: str | None, value: float | None) -> str | None:
    if metric is None or value is None:
        return None
    from workbench.engine.metrics import get_metric

    return get_metric(metric).show(value)


def _bench_notes(rows: Sequence[Any]) -> list[str]:
    """Every row's notes, each said once with the rows it is about."""
    return collapse_notes(
        ((os.path.basename(r.container), f"{r.runtime} fxp" if r.cpu_fxp else r.runtime), note)
        for r in rows
        for note in r.notes
    )


def _pct(v: float | None) -> str | None:
    return None if v is None else f"{v:.1%}"


@cli.command()
@click.argument("containers", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--input-list", required=True, metavar="LIST", help="Vendor-format input list.")
@declared_options(*BENCH_OPTIONS)
@click.option("--csv", "csv_path", metavar="FILE", type=click.Path(path_type=str),
              help="Also write the rows as CSV.")  # fmt: skip
@pass_app
def bench(app: App, containers: tuple[str, ...], input_list: str, csv_path: str | None,
          **values: Any) -> None:  # fmt: skip
    """Measure containers on runtimes: init time and peak memory, latency, accuracy, size.

    One benchmark run is recorded per (container, runtime); a pair the runtime refuses
    is a `refused` row with the reason (snpe_bench.py analogue).
    """
    from workbench.jobs.bench import BenchRequest, bench_job
    from workbench.jobs.convert import command_line
    from workbench.options import BenchOptions

    options = BenchOptions(**_picked(values, BENCH_OPTIONS))
    request = BenchRequest(containers, input_list, options, command=command_line(), csv=csv_path)
    with _progress("bench", app) as progress:
        result = bench_job(app.store(), app.project, request, progress=progress)

    def render(console: Console) -> None:
        _bench_rows_table(console, result.rows)
        if result.metric:
            say(console, f"decision metric: {result.metric} ({result.metric_reason})")
        print_lines(console, (f"note: {n}" for n in _bench_notes(result.rows)), style="dim")
        say(console, f"{len(result.rows)} rows over {result.samples} input(s)"
                     + (f"; CSV in {csv_path}" if csv_path else ""))  # fmt: skip

    emit(app, list(result.rows), render)


ADVICE_COLUMNS = (
    Column("runtime"),
    Column("quantized container", fit=WRAP, min_width=20),
    Column("non-quantized container", fit=WRAP, min_width=20),
)


def _render_advice(console: Console, advice: Any) -> None:
    title = (f"{os.path.basename(advice.quantized_container)} (quantized) vs "
             f"{os.path.basename(advice.float_container)} (non-quantized)")  # fmt: skip
    rows = [
        (
            Styled(row.label, "bold"),
            *(Lines(advice.lines(c)) for c in (row.quantized, row.float)),
        )
        for row in advice.rows
    ]
    for line in advice.header():
        say(console, line)
    print_table(console, ADVICE_COLUMNS, rows, title=title, blank_between_rows=True)
    for rec in advice.recommendations:
        print_lines(console, [f"{rec.runtime.upper()}: {rec.label}"], style="bold")
        print_lines(console, (f"  ! warning: {w}" for w in rec.warnings), style="yellow", hang=4)
        print_lines(console, (f"  - {reason}" for reason in rec.reasons), hang=4)


@cli.command()
@click.argument("container", type=click.Path(path_type=str))
@click.option("--input-list", required=True, metavar="LIST",
              help="Input list: calibration (when quantizing) and measurement data.")  # fmt: skip
@declared_options(*ADVISE_OPTIONS)
@pass_app
def advise(app: App, container: str, input_list: str, **values: Any) -> None:
    """The guide's quantized-vs-non-quantized table, measured, with a choice per runtime."""
    from workbench.jobs.advise import AdviseRequest, advise_job
    from workbench.jobs.convert import command_line
    from workbench.options import AdviseOptions

    options = AdviseOptions(**_picked(values, ADVISE_OPTIONS))
    request = AdviseRequest(container, input_list, options, command=command_line())
    with _progress("advise", app) as progress:
        result = advise_job(app.store(), app.project, request, progress=progress)

    def render(console: Console) -> None:
        for note in result.notes:
            say(console, note)
        _render_advice(console, result.advice)
        say(console, f"saved as experiment {result.experiment!r} ({len(result.run_ids)} runs; "
                     f"see: workbench experiment show {json.dumps(result.experiment)})")  # fmt: skip

    emit(app, result.document(), render)


@cli.command()
@click.option("--workdir", metavar="DIR", type=click.Path(file_okay=False, path_type=str),
              help="Folder for the demo's containers, inputs and labels "
                   "(default: demo/PROJECT in the user data directory).")  # fmt: skip
@click.option("--replace", is_flag=True,
              help="Delete the project (--project, default `demo`) and build it again.")  # fmt: skip
@declared_options(*DEMO_OPTIONS)
@pass_app
def demo(app: App, workdir: str | None, replace: bool, iterations: int,
         samples: int | None) -> None:  # fmt: skip
    """Build a demo project from the bundled model: convert, quantize, bench, advise.

    Each run makes a fresh project (demo, demo-2, ...) unless --project names one;
    --replace builds it again. `workbench tui` then opens it.
    """
    from workbench.jobs.demo import demo_job

    project = app.project if app.project_given else None
    with _progress("demo", app) as progress:
        result = demo_job(app.store(), workdir=workdir, project=project, replace=replace,
                          iterations=iterations, samples=samples, progress=progress)  # fmt: skip

    def render(console: Console) -> None:
        say(console, f"demo project {result.project!r} built in {result.seconds:.1f}s")
        print_table(
            console, VARIANT_COLUMNS,
            [(v.name, format_bytes(v.size_bytes), v.headline or _db(v.sqnr_db), v.run_id)
             for v in result.variants],
            title="quantized containers",
        )  # fmt: skip
        console.print()
        _bench_rows_table(console, result.bench, title="bench")
        print_lines(console, (f"note: {n}" for n in _bench_notes(result.bench)), style="dim")
        console.print()
        _render_advice(console, result.advice)
        db = f" --db {app.db}" if app.db else ""
        say(console, f"saved as experiment {result.experiment!r}; a report to share: workbench{db} "
                     f"--project {result.project} report {json.dumps(result.experiment)} "
                     "-o report.html")  # fmt: skip
        say(console, f"open it in the terminal UI: workbench{db} tui")
        say(console, "its files (containers, input lists, labels) are in:")
        console.print(safe_line(result.workdir), soft_wrap=True, markup=False)  # whole, to copy

    emit(app, result, render)


VARIANT_COLUMNS = (
    Column("container", fit=MIDDLE, min_width=14),
    Column("size", align="right"),
    Column("quantize's headline", fit=WRAP, min_width=20),
    Column("run", align="right"),
)


@cli.command("report")
@click.argument("target", metavar="RUN|EXPERIMENT", required=False, default="")
@click.option("--experiment", metavar="NAME", help="The experiment (when its name is digits).")
@click.option("-o", "--output", required=True, metavar="report.html", type=click.Path(path_type=str),
              help="The HTML file to write.")  # fmt: skip
@pass_app
def report_cmd(app: App, target: str, experiment: str | None, output: str) -> None:
    """One self-contained HTML file about a run or an experiment: the guide's table measured,
    the recommendation, charts, options and environment (inline SVG, nothing fetched)."""
    from workbench.jobs.report import parse_target, write_report

    run_id, name = parse_target(target, experiment)
    with _progress("report", app) as progress:
        result = write_report(app.store(), app.project, output, run_id=run_id, experiment=name,
                              progress=progress)  # fmt: skip
    emit(app, result, lambda c: say(c, f"wrote {result.output} ({format_bytes(result.size_bytes)}, "
                                       f"{result.charts} charts, {result.runs} runs of "
                                       f"{result.subject}): open it in a browser"))  # fmt: skip


@cli.group("import")
def import_group() -> None:
    """Import measurements made elsewhere (on a real device)."""


IMPORT_COLUMNS = (
    Column("run", align="right"),
    Column("vendor runtime", fit=MIDDLE, min_width=10),
    Column("runtime"),
    Column("precision", priority=3),
    Column("runs", align="right", priority=2),
    Column("init ms", align="right"),
    Column("latency ms", align="right"),
    Column("min ms", align="right", priority=1),
    Column("status"),
)


@import_group.command("snpe-bench")
@click.argument("results", type=click.Path(path_type=str))
@click.option("--container", metavar="C.dlc", type=click.Path(path_type=str),
              help="The container that was measured (links the runs to it).")  # fmt: skip
@pass_app
def import_snpe_bench_cmd(app: App, results: str, container: str | None) -> None:
    """Store snpe_bench.py results (its CSV or JSON) as device-measured benchmark runs."""
    from workbench.jobs.convert import command_line
    from workbench.jobs.import_bench import CYCLES, import_snpe_bench

    result = import_snpe_bench(app.store(), app.project, results, container_path=container,
                               command=command_line())  # fmt: skip

    def render(console: Console) -> None:
        print_table(
            console, IMPORT_COLUMNS,
            [(r.run_id, r.vendor_runtime, f"{r.runtime} fxp" if r.cpu_fxp else r.runtime,
              r.precision, r.iterations, r.init_ms, r.latency_mean_ms, r.latency_min_ms,
              _status(r.status)) for r in result.runs],
        )  # fmt: skip
        failed = sum(r.status != SUCCEEDED for r in result.runs)
        say(console, f"imported {len(result.runs) - failed} device-measured run(s) from "
                     f"{result.source}" + (f" (SDK {result.sdk_version})" if result.sdk_version
                                           else "") + (f", {failed} without data" if failed
                                                       else ""))  # fmt: skip
        for r in result.runs:
            if r.error:
                say(console, f"run {r.run_id} failed: {r.error}")
            if r.layer_unit == CYCLES:
                say(console, f"run {r.run_id}: per-layer times are HTP cycles (kept as cycles)")

    emit(app, result, render)


# --- sweep -----------------------------------------------------------------------------


class _SweepBar:
    """The sweep's progress bar on stderr: cells finished of those to run, how they
    ended, how many were skipped, and the time left. Silent when stderr is no terminal."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("cells"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TextColumn("eta"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self.json = quiet
        self.quiet = quiet or not self.progress.console.is_terminal
        self.task: Any = None
        self.told = False

    def __enter__(self) -> _SweepBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.stop()

    def __call__(self, p: Any) -> None:
        checkpoint()  # an interrupt that landed in an import ends the sweep here
        if not self.told:
            self.told = True
            if p.skipped and not self.json:
                click.echo(f"skipping {p.skipped} of {p.total} cells already done", err=True)
        if self.quiet:
            return
        detail = f"done {p.done} · failed {p.failed} · running {p.running} · skipped {p.skipped}"
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("sweep", total=p.to_run, detail=detail)
        self.progress.update(self.task, completed=p.finished, total=p.to_run, detail=detail)


def _init_text(ms: float | None) -> str | None:
    return None if ms is None else f"{ms:.1f} ms"


SWEEP_BEST_COLUMNS = (
    Column("runtime"),
    Column("best setting", fit=WRAP, min_width=12),
    Column("metric", align="right"),
    Column("size", align="right", priority=1),
    Column("init", align="right", priority=2),
    Column("device init", align="right", priority=3),
    Column("cells ok", align="right", priority=1),
)
SWEEP_FRONT_COLUMNS = (
    Column("setting", fit=WRAP, min_width=12),
    Column("runtime"),
    Column("metric", align="right"),
    Column("size", align="right", priority=1),
    Column("init", align="right", priority=2),
)
SWEEP_LIST_COLUMNS = (
    Column("name", fit=MIDDLE, min_width=10),
    Column("status"),
    Column("cells", align="right"),
    Column("succeeded", align="right", priority=1),
    Column("refused", align="right", priority=3),
    Column("failed", align="right", priority=1),
    Column("executor", priority=2),
    Column("metric", priority=2),
    Column("started", priority=3),
)


def _named(columns: Sequence[Column], metric: str, *, device: bool = True) -> list[Column]:
    """The columns with the metric's own name (and without device init when none)."""
    return [
        replace(c, name=metric) if c.name == "metric" else c
        for c in columns
        if device or c.name != "device init"
    ]


def _render_sweep_cells(console: Console, cells: Sequence[Any], best: Sequence[Any],
                        metric: str) -> None:  # fmt: skip
    """Per model: the best setting per runtime; then the Pareto front; failures."""
    device = any(c.device_init_ms is not None for c in cells)
    for model in dict.fromkeys(c.model for c in cells):
        mine = [c for c in cells if c.model == model]
        rows = []
        for b in (b for b in best if b.model == model):
            ok = sum(c.status == SUCCEEDED for c in mine if c.runtime == b.runtime)
            total = sum(c.runtime == b.runtime for c in mine)
            rows.append((b.runtime, b.setting_label, _metric_text(metric, b.metric_value),
                         format_bytes(b.size_bytes), _init_text(b.init_ms),
                         *((_init_text(b.device_init_ms),) if device else ()), f"{ok}/{total}"))  # fmt: skip
        if rows:
            print_table(console, _named(SWEEP_BEST_COLUMNS, metric, device=device), rows,
                        title=f"{model}: best setting per runtime")  # fmt: skip
        else:
            say(console, f"{model}: no cell measured")
        front = [c for c in mine if c.pareto]
        if front:
            print_table(
                console, _named(SWEEP_FRONT_COLUMNS, metric),
                [(c.setting_label, c.runtime, _metric_text(metric, c.metric_value),
                  format_bytes(c.size_bytes), _init_text(c.init_for_ranking))
                 for c in sorted(front, key=lambda c: (c.size_bytes or 0, c.init_for_ranking or 0))],
                title=f"{model}: Pareto front ({metric} / size / init)",
            )  # fmt: skip
    failed = [c for c in cells if c.status not in (SUCCEEDED, REFUSED)]
    for c in failed[:10]:
        say(console, f"{c.status}: {c.model} {c.setting_label} on {c.runtime}: {c.error or '-'}")
    if len(failed) > 10:
        say(console, f"... and {len(failed) - 10} more not done")


@cli.command()
@click.argument("spec", metavar="SPEC.toml", type=click.Path(path_type=str))
@declared_options(*SWEEP_OPTIONS)
@pass_app
def sweep(app: App, spec: str, **values: Any) -> None:
    """Quantize and measure models x settings x runtimes, as cells (README: Sweeps).

    Cells already done (same model content, options and runtime) are skipped, so a
    stopped sweep continues where it stopped; each cell's convert, quantize and bench
    are ordinary runs, all in an experiment named after the sweep.
    """
    from workbench.jobs.convert import command_line
    from workbench.jobs.sweep import SweepRequest, sweep_job
    from workbench.options import SweepOptions

    request = SweepRequest(spec, SweepOptions(**_picked(values, SWEEP_OPTIONS)),
                           command=command_line())  # fmt: skip
    with _SweepBar(quiet=app.json) as bar:
        result = sweep_job(app.store(), app.project, request, progress=bar)

    def render(console: Console) -> None:
        _render_sweep_cells(console, result.cells, result.best, result.metric)
        counts = result.counts
        ran = f"{result.ran} ran" if result.ran else "nothing to run"
        say(console, f"sweep {result.name}: {result.total} cells, {ran}, {result.skipped} "
                     f"skipped (done before); {counts[SUCCEEDED]} succeeded, "
                     f"{counts[REFUSED]} refused, {counts[FAILED]} failed, "
                     f"{counts[INTERRUPTED]} interrupted; {result.seconds:.1f}s on "
                     f"{result.jobs} {result.executor} worker(s); runs in experiment "
                     f"{result.experiment}")  # fmt: skip

    emit(app, result, render)


@cli.group()
def sweeps() -> None:
    """Look at the project's sweeps (run one with: workbench sweep SPEC.toml)."""


@sweeps.command("list")
@pass_app
def sweeps_list(app: App) -> None:
    """List the project's sweeps, newest first."""
    from workbench.jobs.sweep.results import list_sweeps

    infos = list_sweeps(app.store(), app.project)
    emit(app, infos, lambda c: print_table(
        c, SWEEP_LIST_COLUMNS,
        [(s.name, _status(s.status), s.cells, s.counts[SUCCEEDED], s.counts[REFUSED],
          s.counts[FAILED], s.executor, s.metric, s.started_at) for s in infos],
    ))  # fmt: skip


@sweeps.command("show")
@click.argument("name")
@pass_app
def sweeps_show(app: App, name: str) -> None:
    """A sweep's best settings per model and runtime, and its Pareto front."""
    from workbench.jobs.sweep.results import show_sweep

    detail = show_sweep(app.store(), app.project, name)

    def render(console: Console) -> None:
        _render_sweep_cells(console, detail.cells, detail.best, detail.info.metric)
        say(console, f"sweep {detail.info.name} ({detail.info.status}): {detail.info.cells} "
                     f"cells; spec {detail.info.spec_path}")  # fmt: skip

    emit(app, detail, render)
