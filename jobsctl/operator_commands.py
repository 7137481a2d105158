"""Operator commands over the queue control service: stats, jobs, job, retry, cancel, pause,
resume, clean, drain, dead-letters, schedules, export.

Each prints a rich table, or with `--json` the same objects as the API's `data`. Exit codes:
0 done, 1 failed (the job or the operation), 2 invalid input, 3 unknown queue / job /
schedule / export, 4 Redis or PostgreSQL unreachable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from actors.exports import describe_export, find_export, request_export
from control import dead_letters, job_search, service
from db import pipelines as pipeline_runs
from db.engine import get_engine
from jobsctl.common import (
    FAILED,
    INVALID,
    JsonOption,
    app,
    console,
    emit_json,
    exit_codes,
    fail,
    format_time,
    progress_bar,
    report,
    require_schema,
)
from jobsctl.runtime import load_actors
from observability.tenants import queue_tenants
from runtime.store_buffer import get_buffer
from scheduling import dispatcher

STATES = ("waiting", "delayed", "active", "completed", "failed", "dead", "cancelled")
STATE_STYLES = {
    "waiting": "cyan",
    "delayed": "blue",
    "active": "yellow",
    "completed": "green",
    "failed": "magenta",
    "dead": "red",
    "cancelled": "dim",
}
Queue = Annotated[str, typer.Argument(help="Queue name, e.g. analytics-aggregation.")]
JobId = Annotated[str, typer.Argument(help="Job id (the message id).")]
Limit = Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")]
#: A job's fields that hold an instant (printed with their zone).
TIME_KEYS = ("enqueuedAt", "runAt", "processedOn", "finishedOn")


@contextmanager
def operation() -> Iterator[None]:
    """Run the command's work on the configured servers, never the embedded default (`load_actors(embedded=False)`).

    Every actor and the schedule table are declared as the CLI loads (`jobsctl.runtime`). Errors leave
    through the CLI's one mapping (`jobsctl.common.exit_codes`): each error's kind carries its exit code.
    """
    with exit_codes():
        load_actors(embedded=False)
        require_schema()
        yield


def _state(state: str) -> str:
    return f"[{STATE_STYLES.get(state, 'white')}]{state}[/]"


def _short(value: Any, width: int = 60) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _time(value: str | None) -> str:
    return format_time(value)  # with its zone: UTC, or the machine's under `jobsctl --local`


@app.command()
def stats(
    as_json: JsonOption = False,
    tenants: Annotated[
        bool, typer.Option("--tenants", help="Also each queue's top tenants by backlog (waiting, active, tier).")
    ] = False,
) -> None:
    """Every queue: jobs per state and whether it is paused."""
    with operation():
        figures = service.queue_metrics()
        dead = dead_letters.count_dead()
        by_tenant = {queue: queue_tenants(queue, TOP_TENANTS) for queue in figures} if tenants else {}
    if as_json:
        if tenants:
            figures = {queue: {**counts, "tenants": by_tenant[queue]} for queue, counts in figures.items()}
        emit_json(figures)
        return
    table = Table(title="Queues")
    table.add_column("queue", style="bold")
    for state in STATES:
        table.add_column(state, justify="right", style=STATE_STYLES[state])
    table.add_column("dead letters", justify="right")
    table.add_column("paused")
    for name, counts in figures.items():
        table.add_row(
            name,
            *(f"{counts.get(state, 0):,}" for state in STATES),
            f"{dead.get(name, 0):,}",
            "[red]paused[/]" if counts["paused"] else "",
        )
    console.print(table)
    if tenants:
        console.print(_tenants_table(by_tenant))


#: Tenants per queue `jobsctl stats --tenants` shows.
TOP_TENANTS = 10


def _tenants_table(by_tenant: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=f"Top tenants by backlog (at most {TOP_TENANTS} per queue)")
    for column in ("queue", "tenant", "tier", "waiting", "active"):
        table.add_column(column, justify="right" if column in ("waiting", "active") else "left")
    for queue, found in by_tenant.items():
        for row in found["tenants"]:
            waiting = "n/a" if row["waiting"] is None else f"{row['waiting']:,}"
            table.add_row(queue, row["tenant"] or "(none)", row["tier"] or "", waiting, f"{row['active']:,}")
    return table


def _jobs_table(title: str, jobs: list[dict[str, Any]], with_queue: bool = False) -> Table:
    table = Table(title=title)
    table.add_column("id", no_wrap=True)
    if with_queue:
        table.add_column("queue")
    for column in ("name", "state", "attempts", "progress", "enqueued", "finished", "error"):
        table.add_column(column, justify="right" if column in ("attempts", "progress") else "left")
    for job in jobs:
        table.add_row(
            job["id"],
            *([job["queueName"]] if with_queue else []),
            job["name"],
            _state(job["state"]),
            f"{job['attemptsMade']}/{job['maxAttempts']}",
            f"{job['progress']:.0f}%" if job["progress"] is not None else "",
            _time(job["enqueuedAt"]),
            _time(job["finishedOn"]),
            _short(job["failedReason"], 50),
        )
    return table


def _field_pairs(fields: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for field in fields:
        name, equals, value = field.partition("=")
        if not equals or not name.strip():
            fail(f"--field {field!r}: use NAME=VALUE (a payload field, nested keys joined by dots)", INVALID)
        pairs.append((name.strip(), value))
    return pairs


@app.command()
def jobs(
    queue: Annotated[str | None, typer.Argument(help="Only this queue (all queues when omitted).")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "--state", help=f"{', '.join(STATES)}; repeat or separate by commas."),
    ] = None,
    job_id: Annotated[str | None, typer.Option("--id", help="A job id or its first characters.")] = None,
    publisher: Annotated[str | None, typer.Option(help="The publisher the payload names.")] = None,
    field: Annotated[
        list[str] | None, typer.Option(help="NAME=VALUE: a payload field reads VALUE (filters.country=US); repeat.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Enqueued at or after: ISO 8601 (no offset: UTC), 6h.")] = None,
    until: Annotated[str | None, typer.Option(help="Enqueued before: ISO 8601 or a span back from now.")] = None,
    limit: Limit = 50,
    offset: Annotated[int, typer.Option(min=0, max=job_search.MAX_OFFSET)] = 0,
    as_json: JsonOption = False,
) -> None:
    """Find jobs across queues or in one, newest first, with the total: the options of `GET /api/v1/jobs`.

    `--json` prints `GET /api/v1/jobs`'s data (`jobs`, `total`, `limit`, `offset`); `jobs QUEUE` with at
    most one `--status` and nothing else prints the list of `GET /api/v1/queues/{queue}/jobs`, as before.
    """
    criteria: dict[str, Any] = {"job_id": job_id, "publisher": publisher, "since": since, "until": until}
    legacy = queue is not None and len(status or []) <= 1 and not any(criteria.values()) and not field
    criteria.update(queue=queue, states=status, fields=_field_pairs(field or []))
    with operation():
        found = job_search.search(criteria, limit, offset)
    if as_json:
        emit_json(found["jobs"] if legacy else found)
        return
    shown = f"{offset + 1:,}-{offset + len(found['jobs']):,}" if found["jobs"] else "none"
    title = f"{queue or 'all queues'}: {', '.join(status or []) or 'all'} jobs, {shown} of {found['total']:,}"
    console.print(_jobs_table(title, found["jobs"], with_queue=queue is None))
    if offset + len(found["jobs"]) < found["total"]:
        console.print(f"next page: --offset {offset + len(found['jobs'])}", style="dim")


@app.command()
def job(queue: Queue, job_id: JobId, as_json: JsonOption = False) -> None:
    """One job: payload, state, attempts, timings, error and traceback, progress."""
    with operation():
        found = service.get_job(queue, job_id)
    if as_json:
        emit_json(found)
        return
    table = Table(show_header=False, title=f"job {job_id}")
    table.add_column(style="bold")
    table.add_column()
    for key in ("name", "queueName", "state", "priority", "attemptsMade", "maxAttempts", "enqueuedAt", "runAt"):
        value = found[key]
        shown = _time(value) if key in TIME_KEYS else str(value if value is not None else "")
        table.add_row(key, _state(value) if key == "state" else shown)
    for key in ("processedOn", "finishedOn", "durationMs", "worker", "retryOf", "pipelineId", "failedReason"):
        if found[key] is not None:
            table.add_row(key, _time(found[key]) if key in TIME_KEYS else str(found[key]))
    progress = found["progress"] or 0
    table.add_row(
        "progress", f"[green]{'█' * int(progress // 5)}[/][dim]{'░' * (20 - int(progress // 5))}[/] {progress:.0f}%"
    )
    table.add_row("data", json.dumps(found["data"], indent=2))
    if found["result"] is not None:
        table.add_row("result", json.dumps(found["result"], indent=2, default=str))
    console.print(table)
    if found["stacktrace"]:
        console.print(found["stacktrace"], highlight=False, markup=False)


@app.command()
def retry(queue: Queue, job_id: JobId, as_json: JsonOption = False) -> None:
    """Run a failed or dead job again (a new job, linked to the original)."""
    with operation():
        result = service.retry(queue, job_id)
    report(result, as_json, f"retrying {job_id} as [bold]{result['jobId']}[/]")


@app.command()
def cancel(queue: Queue, job_id: JobId, as_json: JsonOption = False) -> None:
    """Cancel a waiting or delayed job: it never runs."""
    with operation():
        result = service.cancel(queue, job_id)
    report(result, as_json, f"{job_id} {_state(result['state'])}")


@app.command()
def pause(queue: Queue, as_json: JsonOption = False) -> None:
    """Stop every worker starting jobs of the queue (waiting jobs stay)."""
    with operation():
        result = service.pause(queue)
    report(result, as_json, f"{queue} [red]paused[/]")


@app.command()
def resume(queue: Queue, as_json: JsonOption = False) -> None:
    """Let workers start jobs of the queue again."""
    with operation():
        result = service.resume(queue)
    report(result, as_json, f"{queue} [green]resumed[/]")


@app.command()
def clean(
    queue: Queue,
    status: Annotated[str, typer.Option(help="completed, failed, dead or cancelled.")] = "completed",
    grace: Annotated[int, typer.Option(min=0, help="Only records finished more than this many seconds ago.")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Remove finished job records of a queue."""
    with operation():
        result = service.clean(queue, grace, status, limit)
    report(result, as_json, f"removed {result['removed']:,} {status} job(s) from {queue}")


@app.command()
def drain(queue: Queue, as_json: JsonOption = False) -> None:
    """Remove every waiting and delayed job of a queue (they read cancelled)."""
    with operation():
        result = service.drain(queue)
    report(result, as_json, f"drained {result['removed']:,} job(s) from {queue}")


@app.command("dead-letters")
def dead_letters_command(
    queue: Annotated[str | None, typer.Option(help="Only this queue.")] = None,
    limit: Limit = 50,
    retry_all: Annotated[bool, typer.Option("--retry-all", help="Requeue every dead letter shown by --queue.")] = False,
    purge: Annotated[
        bool, typer.Option("--purge", help="Drop every dead letter of --queue (or of all queues).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Dead letters (jobs out of retries), newest first; --retry-all or --purge them."""
    with operation():
        if queue is not None:
            service.check_queue(queue)
        if retry_all or purge:
            count = dead_letters.requeue_all(queue) if retry_all else dead_letters.purge(queue)
            result = {"queue": queue, "requeued" if retry_all else "purged": count}
            report(result, as_json, f"{'requeued' if retry_all else 'purged'} {count:,}")
            return
        letters = dead_letters.list_dead(queue, limit=limit)
        counts = dead_letters.count_dead(queue)
    if as_json:
        emit_json({"counts": counts, "letters": letters})
        return
    table = Table(title=f"Dead letters ({sum(counts.values()):,})")
    for column in ("id", "queue", "name", "attempts", "dead at", "reason"):
        table.add_column(column, no_wrap=column == "id")
    for letter in letters:
        table.add_row(
            letter["id"],
            letter["queue"],
            letter["name"],
            str(letter["attemptsMade"]),
            _time(letter["deadAt"]),
            _short(letter["failedReason"], 70),
        )
    console.print(table)


def _runs_started(job_ids: list[str]) -> list[str]:
    """The pipeline runs a trigger started (the daily pipeline's), read from its jobs' records once written."""
    get_buffer().flush()
    with get_engine().connect() as connection:
        return pipeline_runs.runs_of_jobs(connection, job_ids)


@app.command()
def schedules(
    action: Annotated[str, typer.Argument(help="list, start, stop or trigger.")] = "list",
    name: Annotated[str | None, typer.Argument(help="Schedule name, for start / stop / trigger.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The cron schedules with their next runs; start, stop or trigger one."""
    with operation():
        if action == "list":
            result: Any = dispatcher.describe()
        elif action in ("start", "stop", "trigger"):
            if not name:
                fail(f"`jobsctl schedules {action}` needs a schedule name", INVALID)
            result = (
                dispatcher.trigger(name) if action == "trigger" else dispatcher.set_enabled(name, action == "start")
            )
            if action == "trigger":
                result["runIds"] = _runs_started(result["jobIds"])
        else:
            fail(f"unknown action {action!r}: use list, start, stop or trigger", INVALID)
    if as_json:
        emit_json(result)
        return
    if action == "trigger":
        for run_id in result["runIds"]:  # ids whole on one line each (soft_wrap), to copy
            console.print(f"{name}: pipeline run [bold]{run_id}[/] (jobsctl pipelines show {run_id})", soft_wrap=True)
        console.print(f"{name}: enqueued {len(result['jobIds'])} job(s): {', '.join(result['jobIds'])}", soft_wrap=True)
        return
    table = Table(title="Schedules")
    for column in ("name", "cron", "timezone", "enabled", "next runs", "last run"):
        table.add_column(column)
    for schedule in result if isinstance(result, list) else [result]:
        last = schedule["lastRun"]
        table.add_row(
            schedule["name"],
            schedule["cron"],
            schedule["timezone"],
            "[green]yes[/]" if schedule["enabled"] else "[red]no[/]",
            "\n".join(_time(tick) for tick in schedule["nextRuns"][:3]),
            _time(last.get("tick")) if last else "",
        )
    console.print(table)


@app.command()
def export(
    publisher: Annotated[str, typer.Option(help="Publisher id.")],
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json or jsonl.")] = "csv",
    granularity: Annotated[str, typer.Option(help="raw, hour, day, week or month.")] = "day",
    country: Annotated[list[str] | None, typer.Option(help="Filter; repeat for several.")] = None,
    device: Annotated[list[str] | None, typer.Option(help="Filter; repeat for several.")] = None,
    ad_unit: Annotated[list[str] | None, typer.Option("--ad-unit", help="Filter; repeat for several.")] = None,
    csv_escape_formulas: Annotated[
        bool,
        typer.Option(help="CSV: prefix text cells starting with =, +, -, @, tab or CR with ' (off for machines)."),
    ] = True,
    wait: Annotated[bool, typer.Option(help="Follow it with a progress bar until it ends.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Export rollups or raw events of a publisher to a file under EXPORT_DIR (run by a worker)."""
    filters = {
        key: value for key, value in (("country", country), ("device", device), ("ad_unit_id", ad_unit)) if value
    }
    fields = {
        "publisher_id": publisher,
        "format": fmt,
        "start_date": start,
        "end_date": end,
        "granularity": granularity,
        "filters": filters,
        "csv_escape_formulas": csv_escape_formulas,
    }
    with operation():
        started = request_export(fields)
        if not wait:
            report(started, as_json, f"export {started['exportId']} pending")
            return
        deadline = time.monotonic() + timeout
        with progress_bar(to_stderr=as_json) as bar:
            task = bar.add_task(f"export {started['exportId'][:8]}", total=100)
            while True:
                described = describe_export(started["exportId"])
                job_row = service.get_job("data-export", started["jobId"]) if described["status"] != "pending" else None
                bar.update(
                    task, completed=100 if described["status"] == "completed" else (job_row or {}).get("progress") or 0
                )
                if described["status"] in ("completed", "failed") or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
    if as_json:
        emit_json(described)
    elif described["status"] == "completed":
        console.print(f"[green]completed[/]: {described['rowCount']:,} rows, {described['bytes']:,} bytes")
        found = find_export(started["exportId"])
        console.print(found["file_path"])
    if described["status"] == "failed":
        fail(f"export failed: {described['error']}", FAILED)
    if described["status"] != "completed":
        fail(
            f"export still {described['status']} after {timeout:.0f} s: is a worker running (`dramatiq actors`)?",
            FAILED,
        )
