"""The ``workbench`` command line: parse, call a job, print (rich) or ``--json``.

Layout of this file:

1. Shared machinery: the ``App`` state (global options, the lazily opened
   store), output helpers (``emit``, ``show_table``, ``show_fields``) and
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from workbench import __version__
from workbench.errors import WorkbenchError
from workbench.options import (
    ADVISE_OPTIONS,
    BENCH_OPTIONS,
    DEFAULT_MAX_ACCURACY_DROP,
    DEMO_OPTIONS,
    QUANTIZE_OPTIONS,
    QUANTIZER_OPTIONS,
    RUN_OPTIONS,
    Option,
    runtime_names,
)
from workbench.vocabulary import (
    FAILED,
    INTERRUPTED,
    REFUSED,
    RUN_KINDS,
    RUN_STATUSES,
    SUCCEEDED,
    format_bytes,
    is_exact_db,
)

if TYPE_CHECKING:
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
    json: bool = False
    _store: Store | None = None

    def store(self) -> Store:
        """The store named by ``--db``/``$WORKBENCH_DB``, opened (and upgraded) once."""
        if self._store is None:
            from workbench.store import open_store

            self._store = open_store(self.db)
            click.get_current_context().call_on_close(self._store.close)
        return self._store


pass_app = click.make_pass_decorator(App, ensure=True)


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(App).db = value


def _set_project(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(App).project = value


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
        except click.Abort:
            return _fail("aborted", 1)
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
    """Print ``value`` as JSON under ``--json``, else through ``render``."""
    if app.json:
        from workbench.textsafe import control_free_json

        click.echo(control_free_json(json.dumps(to_json(value), indent=2, ensure_ascii=False)))
        return
    from rich.console import Console

    # Piped output is read by grep and less: do not squeeze it to 80 columns.
    render(Console(width=None if sys.stdout.isatty() else 200))


def say(console: Console, text: str) -> None:
    """Print a plain message (names in it are neither markup nor control characters)."""
    from workbench.textsafe import visible

    console.print(visible(text), markup=False, highlight=False)


def say_text(console: Console, text: str) -> None:
    """Print free text (a log, notes): its lines kept, control characters shown escaped,
    cut when it is very long."""
    from workbench.textsafe import shorten, visible

    console.print(visible(shorten(text), keep_lines=True), markup=False, highlight=False)


def show_table(
    console: Console,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str = "",
    wrap: Sequence[str] = (),
) -> None:
    """A table; only the ``wrap`` columns may wrap when the terminal is narrow."""
    from rich import box
    from rich.table import Table

    table = Table(title=_cell(title) if title else None, box=box.SIMPLE_HEAD, show_edge=False,
                  title_justify="left")  # fmt: skip
    for column in columns:
        wraps = column in wrap
        table.add_column(_cell(column), no_wrap=not wraps, overflow="fold",
                         min_width=6 if wraps else None)  # fmt: skip
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def show_fields(console: Console, pairs: Iterable[tuple[str, Any]], title: str = "") -> None:
    """A two-column ``name  value`` listing."""
    from rich.table import Table

    table = Table(title=_cell(title) if title else None, box=None, show_header=False,
                  title_justify="left")  # fmt: skip
    table.add_column(style="bold")
    table.add_column()
    for name, value in pairs:
        table.add_row(_cell(name), _cell(value, full_time=True))
    console.print(table)


class _Markup(str):
    """Text that carries rich markup on purpose; every other cell is escaped."""


def _cell(value: Any, *, full_time: bool = False) -> str:
    """A value as table text: rich markup escaped, control characters shown escaped."""
    from rich.markup import escape

    from workbench.textsafe import shorten, visible

    if isinstance(value, _Markup):
        return value
    if isinstance(value, str):
        return escape(visible(shorten(value, 2000)))
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        local = value.astimezone()
        if full_time:
            return local.strftime("%Y-%m-%d %H:%M:%S %Z")
        same_year = local.year == datetime.now().year
        return local.strftime("%m-%d %H:%M" if same_year else "%Y-%m-%d")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return escape(visible(shorten(", ".join(str(v) for v in value), 2000))) or "-"
    if isinstance(value, dict):
        return escape(json.dumps(value)) if value else "-"  # ASCII: controls are escaped
    return escape(visible(str(value)))


def _status(status: str) -> str:
    colour = {SUCCEEDED: "green", FAILED: "red", INTERRUPTED: "yellow"}.get(status, "cyan")
    return _Markup(f"[{colour}]{status}[/{colour}]")


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
            kwargs["default"] = str(o.default)
            kwargs["callback"] = lambda _ctx, _param, value: o.type(value)
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
    """Console-script entry point."""
    _stop_cleanly_on_sigterm()
    cli.main(prog_name="workbench")


def _stop_cleanly_on_sigterm() -> None:
    # A terminated job should unwind (so its run is recorded `interrupted`)
    # rather than vanish; SystemExit does that through every `with` block.
    import signal

    def _exit(_signum: int, _frame: object) -> None:
        raise SystemExit(143)

    try:
        signal.signal(signal.SIGTERM, _exit)
    except (ValueError, OSError):  # not the main thread, or no such signal
        pass


# ---------------------------------------------------------------------------------------
# 2. Commands
# ---------------------------------------------------------------------------------------

# --- project ---------------------------------------------------------------------------


@cli.group()
def project() -> None:
    """Create, list, rename, archive and delete projects."""


def _render_project(info: Any, store: str) -> Callable[[Console], None]:
    return lambda console: show_fields(
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
        lambda c: show_table(
            c,
            ["name", "runs", "models", "containers", "experiments", "created", "archived"],
            [
                (p.name, p.runs, p.models, p.containers, p.experiments, p.created_at, p.archived)
                for p in infos
            ],
        ),
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
    """Browse and annotate quantization and benchmark runs."""


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
@click.option("--runtime", type=_LiveChoice(runtime_names), help="Only benchmarks on this runtime.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only runs with TAG (repeatable: all of them).")  # fmt: skip
@click.option("--model", metavar="NAME|ID", help="Only runs of this model.")
@click.option("--starred", is_flag=True, default=None, help="Only starred runs.")
@click.option("--limit", type=int, default=50, show_default=True, help="Runs per page.")
@click.option("--offset", type=int, default=0, show_default=True, help="Runs to skip.")
@pass_app
def runs_list(app: App, **filters: Any) -> None:
    """List the project's runs, newest first."""
    from workbench.jobs.runs import list_runs

    filters["starred"] = True if filters["starred"] else None  # absent: no filter
    page = list_runs(app.store(), app.project, **filters)

    def render(console: Console) -> None:
        show_table(
            console,
            ["id", "kind", "status", "started", "model", "sqnr dB", "tags"],
            [
                (
                    f"{r.id}{' ★' if r.starred else ''}{' B' if r.baseline else ''}",
                    f"{r.kind} {r.runtime}" if r.runtime else r.kind,
                    _status(r.status),
                    r.started_at,
                    r.model,
                    r.sqnr_db,
                    r.tags,
                )
                for r in page.runs
            ],
            wrap=("model", "tags"),
        )
        shown_to = page.offset + len(page.runs)
        more = f"; next page: --offset {shown_to}" if shown_to < page.total else ""
        first = page.offset + 1 if page.runs else 0
        say(console, f"runs {first}-{shown_to} of {page.total} in project {app.project}{more}")

    emit(app, page, render)


@runs.command("show")
@click.argument("run_id", metavar="ID", type=int)
@pass_app
def runs_show(app: App, run_id: int) -> None:
    """Show everything recorded about run ID."""
    from workbench.jobs.runs import show_run

    run = show_run(app.store(), run_id)

    def render(console: Console) -> None:
        show_fields(
            console,
            [
                ("run", f"{run.id} ({run.kind})"),
                ("project", run.project),
                ("status", _status(run.status)),
                ("error", run.error),
                ("started", run.started_at),
                ("finished", run.finished_at),
                ("took", _duration(run.duration_s)),
                ("peak memory", format_bytes(run.peak_memory_bytes)),
                ("host / pid", f"{run.host} / {run.pid}"),
                ("command", run.command),
                ("model", run.model),
                ("container", run.container_id),
                ("tags", run.tags),
                ("starred", run.starred),
                ("baseline", run.baseline),
                ("experiments", run.experiments),
            ],
        )
        if run.notes:
            console.print("[bold]notes[/bold]")
            say_text(console, run.notes)
        show_fields(console, run.details.items(), title="details")
        if run.layers:
            keys = ["layer_index", "layer_name", "op_type", "bitwidth", "scale", "offset",
                    "sqnr_db"]  # fmt: skip
            show_table(console, keys, ([layer[k] for k in keys] for layer in run.layers),
                       title=f"layers ({len(run.layers)})")  # fmt: skip
        if run.log:
            console.print("[bold]log[/bold]")
            say_text(console, run.log)

    emit(app, run, render)


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
@click.option("--max-accuracy-drop", type=float, default=DEFAULT_MAX_ACCURACY_DROP, show_default=True,
              metavar="PTS",
              help="Accuracy loss (points) the CPU may take for the quantized container.")  # fmt: skip
@pass_app
def experiment_advice(app: App, name: str, max_accuracy_drop: float) -> None:
    """The advisor's table for experiment NAME, rebuilt from its stored benchmark runs."""
    from workbench.jobs.advise import saved_advice

    result = saved_advice(app.store(), app.project, name, max_accuracy_drop)

    def render(console: Console) -> None:
        for note in result.notes:
            say(console, note)
        _render_advice(console, result.advice)

    emit(app, result, render)


@experiment.command("show")
@click.argument("name")
@pass_app
def experiment_show(app: App, name: str) -> None:
    """Show experiment NAME and its runs."""
    from workbench.jobs.experiments import show_experiment

    detail = show_experiment(app.store(), app.project, name)

    def render(console: Console) -> None:
        show_fields(
            console,
            [("experiment", detail.name), ("project", detail.project),
             ("created", detail.created_at), ("note", detail.note or None)],
        )  # fmt: skip
        show_table(
            console,
            ["id", "kind", "status", "started", "model", "runtime", "sqnr dB", "tags"],
            [
                (
                    r.id,
                    r.kind,
                    _status(r.status),
                    r.started_at,
                    r.model,
                    r.runtime,
                    r.sqnr_db,
                    r.tags,
                )
                for r in detail.runs
            ],  # fmt: skip
        )

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
        lambda c: show_table(
            c,
            ["name", "runs", "created", "note"],
            [(e.name, len(e.run_ids), e.created_at, e.note) for e in infos],
        ),
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
@pass_app
def convert(
    app: App, model: str, output: str, input_dims: tuple[tuple[str, str], ...], enable_hta: bool
) -> None:
    """Import an ONNX or TensorFlow model into a container.

    MODEL is an .onnx file, a .tflite file, a SavedModel folder, a frozen .pb
    graph or a .keras/.h5 file (SavedModel, .pb and Keras need the tensorflow
    extra). The container is float (non-quantized), except for a quantized
    TFLite model, which keeps its own int8/uint8 encodings.
    """
    from workbench.jobs.convert import command_line, convert_model

    result = convert_model(
        app.store(), app.project, model, output,
        input_dims=_parse_input_dims(input_dims), command=command_line(), enable_hta=enable_hta,
    )  # fmt: skip
    emit(app, result, lambda c: say(
        c,
        f"wrote {result.output}: {result.layers} layers, {result.param_count:,} parameters, "
        f"{result.macs:,} MACs, {format_bytes(result.size_bytes)} in {result.seconds:.2f}s "
        f"(model {result.model_id}, container {result.container_id})"
        + (", quantized: the model's own encodings kept" if result.quantized else ""),
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
        show_table(console, columns, rows, wrap=("name", "inputs", "outputs", "encoding"))
        show_fields(console, [
            ("container", container),
            ("inputs", [f"{t.name} {t.dtype} {_dims(t.shape)}" for t in summary.inputs]),
            ("outputs", [f"{t.name} {t.dtype} {_dims(t.shape)}" for t in summary.outputs]),
            ("layers", len(summary.rows)),
            ("parameters", f"{summary.param_count:,} ({format_bytes(summary.param_bytes)})"),
            ("MACs", f"{summary.total_macs:,}"),
            ("file size", format_bytes(summary.file_size)),
            ("quantized", summary.quantized),
            ("records", [f"{n} ({format_bytes(s)})" for n, s in summary.records] or None),
            ("opset", summary.opset),
            ("converter", (summary.converter or {}).get("command")),
            ("quantizer", (summary.quantizer or {}).get("command")),
            ("created", summary.created),
        ])  # fmt: skip

    emit(app, summary.to_dict(), render)


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
                show_table(console, cols, ([v.get(k) for k in cols] for v in value), title=key)
            else:
                show_fields(console, [(key, value)])

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
    result = run_container(app.store(), app.project, container, input_list, output_dir, options,
                           command=command_line())  # fmt: skip
    emit(app, result, lambda c: say(
        c,
        f"{result.inferences} inferences on {runtime} ({result.mode}): init {result.init_ms:.1f} ms, "
        f"mean {result.latency_mean_ms:.2f} ms per batch; outputs in {result.output_dir} "
        f"(run {result.run_id})",
    ))  # fmt: skip


# --- quantize / export -----------------------------------------------------------------


class _RichProgress:
    """A rich progress bar per stage, on stderr (stdout stays clean for --json)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
            console=Console(stderr=True), transient=True,
        )  # fmt: skip
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tasks:  # started lazily: a job that fails early prints only its error
            self.progress.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.progress.console.is_terminal:
            return  # no bar in a pipe or log file: it would leave a blank line behind
        if not self.tasks:
            self.progress.start()
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


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
                              command=command_line())  # fmt: skip
    store = app.store()
    with _RichProgress() as progress:
        result = quantize_job(store, app.project, request, progress=None if app.json else progress)

    def render(console: Console) -> None:
        ratio = result.size_bytes / max(1, result.float_size_bytes)
        say(console, f"wrote {result.output}: {format_bytes(result.size_bytes)} ({ratio:.2f}x the float "
                     f"container), {result.samples} calibration samples in {result.seconds:.1f}s, "
                     f"peak {format_bytes(result.peak_memory_bytes)} (run {result.run_id})")  # fmt: skip
        if result.sqnr_db is not None:
            say(console, f"output SQNR vs float: {result.sqnr_db:.2f} dB (weights only "
                         f"{result.weights_only_sqnr_db:.2f} dB, activations only "
                         f"{result.activations_only_sqnr_db:.2f} dB)")  # fmt: skip
        if result.worst_layers:
            show_table(console, ["layer", "type", "output SQNR if only it is quantized"],
                       ((w["node"], w["op_type"], w["output_sqnr_db"])
                        for w in result.worst_layers[:5]), title="costliest layers")  # fmt: skip
        if result.float_fallback:
            say(console, "runs in float inside the integer executor: "
                + ", ".join(result.float_fallback))  # fmt: skip

    emit(app, result, render)


@cli.group()
def export() -> None:
    """Export a quantized container to other tools (QDQ ONNX, AIMET encodings)."""


@export.command("qdq")
@click.argument("container", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, metavar="Q.onnx")
@click.option("--unsigned-weights", is_flag=True,
              help="uint8 weights (ONNX Runtime's fused int8 kernels saturate on CPUs without VNNI).")  # fmt: skip
@pass_app
def export_qdq_cmd(app: App, container: str, output: str, unsigned_weights: bool) -> None:
    """A QDQ ONNX model that ONNX Runtime runs (to the bit when quantized --rounding half-even)."""
    from workbench.jobs.export import export_qdq_file

    result = export_qdq_file(container, output, signed_weights=not unsigned_weights)

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

    result = export_encodings_file(container, output, format_version, all_tensors=all_tensors)

    def render(c: Console) -> None:
        say(c, f"wrote {result['output']}: {result['activations']} activation and "
               f"{result['params']} parameter encodings (AIMET {result['version']})")  # fmt: skip
        if result["skipped"]:
            say(c, f"left out {len(result['skipped'])} that AIMET does not quantize "
                   "(--all-tensors writes them)")  # fmt: skip

    emit(app, result, render)


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
        show_table(console, ["metric", *heads],
                   ([row.metric.label, *(cell_text(row, i) for i in range(len(heads)))]
                    for row in rows), wrap=heads)  # fmt: skip
        if not rows:
            say(console, "no differences (--all shows every metric)")

    emit(app, None, render)


@cli.command("tui")
@pass_app
def tui_cmd(app: App) -> None:
    """The terminal UI: browse projects and runs, launch jobs, compare experiments."""
    from workbench.jobs.projects import ensure_project
    from workbench.tui.app import WorkbenchApp

    store = app.store()
    ensure_project(store, app.project)
    WorkbenchApp(store, app.project).run()


# --- bench / advise / demo / import ----------------------------------------------------


def _bench_rows_table(console: Console, rows: Sequence[Any], title: str = "") -> None:
    def name(path: str) -> str:
        return os.path.basename(path)

    table_rows = []
    for r in rows:
        acc = r.accuracy or {}
        lat = r.latency_ms or {}
        runtime = f"{r.runtime} fxp" if r.cpu_fxp else r.runtime
        if r.status != SUCCEEDED:
            table_rows.append((r.run_id, name(r.container), runtime, _status_word(r.status),
                               r.error, None, None, None, None, None, None, None))  # fmt: skip
            continue
        sqnr = acc.get("sqnr_db")
        table_rows.append((
            r.run_id, name(r.container), runtime, _status_word(r.status), r.mode,
            f"{r.init_ms:.1f}", format_bytes(r.init_peak_bytes), format_bytes(r.size_bytes),
            f"{lat.get('mean', 0):.2f}" if lat else None,
            "exact" if is_exact_db(sqnr) else sqnr,
            _pct(acc.get("top1_agreement")), _pct(acc.get("label_accuracy")),
        ))  # fmt: skip
    show_table(
        console,
        ["run", "container", "runtime", "status", "mode / reason", "init ms", "init peak",
         "size", "latency ms", "SQNR dB", "top-1", "accuracy"],
        table_rows, title=title, wrap=("container", "mode / reason"),
    )  # fmt: skip


def _pct(v: float | None) -> str | None:
    return None if v is None else f"{v:.1%}"


def _status_word(status: str) -> str:
    colour = {SUCCEEDED: "green", FAILED: "red", REFUSED: "yellow"}.get(status, "cyan")
    return _Markup(f"[{colour}]{status}[/{colour}]")


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
    with _RichProgress() as progress:
        result = bench_job(app.store(), app.project, request,
                           progress=None if app.json else progress)  # fmt: skip

    def render(console: Console) -> None:
        _bench_rows_table(console, result.rows)
        for r in result.rows:
            for note in r.notes:
                say(console, f"note: {os.path.basename(r.container)} on {r.runtime}: {note}")
        say(console, f"{len(result.rows)} rows over {result.samples} input(s)"
                     + (f"; CSV in {csv_path}" if csv_path else ""))  # fmt: skip

    emit(app, list(result.rows), render)


def _render_advice(console: Console, advice: Any) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_lines=True, title_justify="left",
                  title=_cell(f"{os.path.basename(advice.quantized_container)} (quantized) vs "
                              f"{os.path.basename(advice.float_container)} (non-quantized)"))  # fmt: skip
    table.add_column("runtime", no_wrap=True, style="bold")
    table.add_column("quantized container", overflow="fold")
    table.add_column("non-quantized container", overflow="fold")
    for row in advice.rows:
        table.add_row(
            row.label, *(_escape("\n".join(c.lines())) for c in (row.quantized, row.float))
        )
    console.print(table)
    for rec in advice.recommendations:
        say(console, f"{rec.runtime.upper()}: {rec.choice}")
        for reason in rec.reasons:
            say(console, f"  - {reason}")


def _escape(text: str) -> str:
    from rich.markup import escape

    from workbench.textsafe import visible

    return escape(visible(text, keep_lines=True))


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
    with _RichProgress() as progress:
        result = advise_job(app.store(), app.project, request,
                            progress=None if app.json else progress)  # fmt: skip

    def render(console: Console) -> None:
        for note in result.notes:
            say(console, note)
        _render_advice(console, result.advice)
        say(console, f"saved as experiment {result.experiment!r} ({len(result.run_ids)} runs; "
                     f"see: workbench experiment show {json.dumps(result.experiment)})")  # fmt: skip

    emit(app, result, render)


@cli.command()
@click.option("--workdir", default="workbench-demo", show_default=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=str),
              help="Folder for the demo's containers, inputs and labels.")  # fmt: skip
@declared_options(*DEMO_OPTIONS)
@pass_app
def demo(app: App, workdir: str, iterations: int, samples: int | None) -> None:
    """Build the demo project from the bundled model: convert, quantize, bench, advise.

    Uses project `demo` (unless --project names another); run it again to add runs.
    """
    from workbench.jobs.demo import DEMO_PROJECT, demo_job

    project = DEMO_PROJECT if app.project == DEFAULT_PROJECT else app.project
    with _RichProgress() as progress:
        result = demo_job(app.store(), workdir=workdir, project=project, iterations=iterations,
                          samples=samples, progress=None if app.json else progress)  # fmt: skip

    def render(console: Console) -> None:
        say(console, f"demo project {result.project!r} built in {result.seconds:.1f}s, "
                     f"files in {result.workdir}")  # fmt: skip
        show_table(
            console, ["quantized container", "size", "output SQNR dB", "run"],
            [(v.name, format_bytes(v.size_bytes), v.sqnr_db, v.run_id) for v in result.variants],
        )  # fmt: skip
        _bench_rows_table(console, result.bench, title="bench")
        _render_advice(console, result.advice)
        say(console, f"saved as experiment {result.experiment!r}")
        say(console, f"open it in the terminal UI: {result.tui_command}")

    emit(app, result, render)


@cli.group("import")
def import_group() -> None:
    """Import measurements made elsewhere (on a real device)."""


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
        show_table(
            console, ["run", "vendor runtime", "runtime", "precision", "runs", "init ms",
                      "latency ms", "min ms", "status"],
            [(r.run_id, r.vendor_runtime, f"{r.runtime} fxp" if r.cpu_fxp else r.runtime,
              r.precision, r.iterations, r.init_ms, r.latency_mean_ms, r.latency_min_ms,
              r.status) for r in result.runs],
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
