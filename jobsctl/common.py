"""What every `jobsctl` command shares: the app, the consoles, JSON output, exit codes."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from observability.scrub import redact_url

#: Exit codes scripts can rely on.
OK, FAILED, INVALID, NOT_FOUND, UNAVAILABLE = 0, 1, 2, 3, 4

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
    err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def redact(url: str) -> str:
    """A URL as it may be printed: `user:password@` becomes `***@`."""
    return redact_url(url)
