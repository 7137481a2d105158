"""What every `jobsctl` command shares: the app, the consoles, JSON output, exit codes.

`exit_codes()` is the CLI's one error mapping: a project error (`errors.JobsError`) prints
one line and exits with its kind's `exit_code`; a driver's "server away" is
`errors.ServiceUnavailable` (exit 4). `jobsctl.main.main` runs every command inside it, and
`jobsctl.main` loads the commands inside `exit_while_loading()`, its twin for import time.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.scrub import redact_url
from errors import EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK, EXIT_UNAVAILABLE
from errors.drivers import as_jobs_error

#: Exit codes scripts can rely on (`errors`: 0 done, 1 failed, 2 refused input, 3 not found, 4 a server away).
OK, FAILED, INVALID, NOT_FOUND, UNAVAILABLE = EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_UNAVAILABLE

app = typer.Typer(help="Operate the ad-analytics job system.", no_args_is_help=True, add_completion=False)
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the API's data objects).")]


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


def redact(url: str) -> str:
    """A URL as it may be printed: `user:password@` becomes `***@`."""
    return redact_url(url)
