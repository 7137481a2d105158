"""`jobsctl ingest FILE... [--skip-bad]`: load event files into `ad_events` (db.ingest.load_file).

Each file is loaded on its own, in one transaction, at most once (by checksum). Exit codes:
0 every file loaded or already loaded, 2 a file refused (a bad row or not an event file:
nothing of it loaded; the other files still load), 4 PostgreSQL unreachable (one line).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError

from db.engine import get_engine
from db.event_files import RefusedFile
from db.ingest import load_file
from jobsctl.common import (
    FAILED,
    INVALID,
    OK,
    UNAVAILABLE,
    JsonOption,
    app,
    console,
    emit_json,
    err,
    fail,
    format_time,
    require_schema,
)


def _advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=total)


def _bar(to_stderr: bool) -> Progress:
    """A bar per file while it loads (bytes read, or rows for Parquet), gone when it is done."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err if to_stderr else console,
        transient=True,
    )


def _describe(result: Any) -> str:
    name = Path(result.path).name
    if result.status == "already loaded":
        when = f" on {format_time(result.loaded_at, seconds=False)}" if result.loaded_at else ""
        return f"[yellow]already loaded[/]: {name} ({result.rows:,} rows{when}); nothing added"
    span = ""
    if result.first_ts and result.last_ts:
        span = f", {format_time(result.first_ts, seconds=False)} → {format_time(result.last_ts, seconds=False)}"
    new = ""
    if result.new_publishers:
        shown = ", ".join(result.new_publishers[:5]) + (" ..." if len(result.new_publishers) > 5 else "")
        new = f", {len(result.new_publishers)} new: {shown}"
    text = (
        f"[green]loaded[/] {result.rows:,} rows from {name} ({result.publishers} publishers{new}{span})"
        f" in {result.seconds:.1f} s"
    )
    if result.rejected:
        text += f"\n  {result.rejected:,} rows rejected, written with their line and reason to {result.rejects_path}"
    return text


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Event files: .csv (header row), .jsonl, .parquet.")],
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Load the good rows; write the bad ones to FILE.rejects.csv.")
    ] = False,
    rejects_dir: Annotated[
        Path | None, typer.Option(help="Write rejects files here instead of next to each file.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Load event files into ad_events (COPY; idempotent by checksum; a bad row refuses the file)."""
    engine = get_engine()
    database = "PostgreSQL" if engine.dialect.name == "postgresql" else "the database"
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        fail(f"{database} cannot be reached: {str(error.orig).splitlines()[0]}", UNAVAILABLE)
    require_schema()

    outcomes: list[dict[str, Any]] = []
    code = OK
    for path in files:
        try:
            with _bar(as_json) as bar:
                task = bar.add_task(f"loading {path.name}", total=None)
                result = load_file(
                    path,
                    skip_bad=skip_bad,
                    rejects_dir=rejects_dir,
                    progress=partial(_advance, bar, task),
                )
                bar.remove_task(task)
        except RefusedFile as error:
            code = INVALID
            err.print(f"[red]error:[/] {error}", highlight=False)
            for reject in error.rejects[1:]:
                err.print(f"  line {reject.line}: {reject.reason}", highlight=False)
            if error.rejects:
                err.print(
                    f"  nothing of {path.name} was loaded; fix the rows or load the rest with --skip-bad",
                    highlight=False,
                )
            rejects = [{"line": reject.line, "reason": reject.reason} for reject in error.rejects]
            outcomes.append({"path": str(path), "status": "refused", "error": str(error), "rejects": rejects})
            continue
        except FileNotFoundError:
            code = INVALID
            err.print(f"[red]error:[/] no such file: {path}", highlight=False)
            outcomes.append({"path": str(path), "status": "refused", "error": f"no such file: {path}"})
            continue
        except OperationalError as error:
            detail = str(error.orig).splitlines()[0]
            if engine.dialect.name != "postgresql":
                fail(f"{detail} (is the schema there? run `jobsctl migrate`)", FAILED)
            fail(f"{database} cannot be reached: {detail}", UNAVAILABLE)
        outcomes.append(result.as_dict())
        if not as_json:
            console.print(_describe(result), highlight=False)
    if as_json:
        emit_json(outcomes)
    raise typer.Exit(code)
