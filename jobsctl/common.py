"""What every `jobsctl` command shares: the app, the consoles, JSON output, times with their zone, exit codes.

`exit_codes()` is the CLI's one error mapping: a project error (`errors.JobsError`) prints
one line and exits with its kind's `exit_code`; a driver's "server away" is
`errors.ServiceUnavailable` (exit 4). `jobsctl.main.main` runs every command inside it, and
`jobsctl.main` loads the commands inside `exit_while_loading()`, its twin for import time.
`require_schema()` is what each command that uses the database calls first: a schema that is
missing or older than the code is one line saying to run `jobsctl migrate` (exit 4).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.scrub import redact_url
from db.schema_check import check_schema
from errors import EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK, EXIT_UNAVAILABLE
from errors.drivers import UNREACHABLE, as_jobs_error
from settings import get_settings

#: Exit codes scripts can rely on (`errors`: 0 done, 1 failed, 2 refused input, 3 not found, 4 a server away).
OK, FAILED, INVALID, NOT_FOUND, UNAVAILABLE = EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_UNAVAILABLE

app = typer.Typer(help="Operate the ad-analytics job system.", no_args_is_help=True, add_completion=False)
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the API's data objects).")]

#: The zone `format_time` shows: UTC unless `jobsctl --local` (or `JOBSCTL_LOCAL_TIME=1`) asked for the machine's.
_clock = {"local": False}


@app.callback()
def _global_options(
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            envvar="JOBSCTL_LOCAL_TIME",
            help="Show times in this machine's zone, with its UTC offset, instead of UTC.",
        ),
    ] = False,
) -> None:
    """Operate the ad-analytics job system."""
    _clock["local"] = local


def format_time(value: str | datetime | date | None, *, seconds: bool = True) -> str:
    """An instant as every command prints it, with its zone: `2026-11-23 13:05:00 UTC`, or under `--local`
    `2026-11-23 14:05:00 +01:00`. A time without an offset is UTC; a plain date stays a date; None is ""."""
    if value is None or value == "":
        return ""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        if ":" not in value:  # a day (`2026-11-23`) has no zone to show
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        parsed = value
    at = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    shown = at.astimezone() if _clock["local"] else at.astimezone(UTC)
    clock = shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    if not _clock["local"]:
        return f"{clock} UTC"
    offset = shown.strftime("%z")  # +0100
    return f"{clock} {offset[:3]}:{offset[3:5]}"


def progress_bar(*, to_stderr: bool = False) -> Progress:
    """A bar on stdout, or on stderr when stdout carries `--json` for a script."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err if to_stderr else console,
        transient=False,
    )


def emit_json(data: Any) -> None:
    print(json.dumps(data, default=str, indent=2))


def report(data: Any, as_json: bool, text: str) -> None:
    """`data` as JSON for scripts (`--json`), else `text` for a person."""
    if as_json:
        emit_json(data)
    else:
        console.print(text)


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print `message` as one `error:` line (plain text: brackets in it are not markup) and exit `code`."""
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def exit_codes() -> Iterator[None]:
    """Turn a project error, or a driver's "server away", into one line and its kind's exit code."""
    try:
        yield
    except Exception as error:
        known = as_jobs_error(error)
        if known is None:
            raise
        fail(str(known), known.exit_code)


@contextmanager
def exit_while_loading() -> Iterator[None]:
    """`exit_codes()` for the imports of the commands, before any command runs (so `SystemExit`, not `typer.Exit`).

    Loading the commands declares every actor (`jobsctl.runtime` imports `actors.catalog`), which reads the
    settings: a malformed setting is then one line naming it and exit 2, as CONTRACT.md asks, not a traceback.
    """
    try:
        yield
    except Exception as error:
        known = as_jobs_error(error)
        if known is None:
            raise
        err.print(f"[red]error:[/] {escape(str(known))}", highlight=False)
        raise SystemExit(known.exit_code) from None


def require_schema() -> None:
    """Raise `db.schema_check.SchemaNotReady` (one line, exit 4: run 'jobsctl migrate') unless the schema is at head.

    A database that does not answer is left to the command: one that needs it says so (exit 4), and
    one that needs only Redis (`pause` during a PostgreSQL outage) still works.
    """
    try:
        check_schema(get_settings().effective_database_url)
    except UNREACHABLE:
        return


def redact(url: str) -> str:
    """A URL as it may be printed: `user:password@` becomes `***@`."""
    return redact_url(url)
