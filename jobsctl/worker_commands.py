"""`jobsctl workers`: each worker process with the jobs it runs now and for how long; each beat with its last tick.

The same objects as `GET /api/v1/workers` with `--json`. Exit 0 (also with no worker: that is
said, not an error), 4 when Redis cannot be reached.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from jobsctl.common import JsonOption, app, console, emit_json, exit_codes, format_time
from observability import workers as who


def duration(seconds: float | None) -> str:
    """`0.4 s`, `12 s`, `3 min 04 s`, `2 h 05 min`: how long, to the precision a person reads."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _ago(iso: str | None, seconds: float | None) -> str:
    return f"{format_time(iso)} ({duration(seconds)} ago)" if iso else ""


def _age(seconds: float | None) -> str:
    return f"{duration(seconds)} ago" if seconds is not None else ""


def _running(jobs: list[dict[str, Any]]) -> str:
    if not jobs:
        return "[dim]idle[/]"
    return "\n".join(
        f"{escape(job['name'] or '')} [dim]{escape((job['id'] or '')[:8])} {escape(job['queue'] or '')}[/]"
        f" for [bold]{duration(job['runningSeconds'])}[/]"
        for job in jobs
    )


def _workers_table(found: dict[str, Any]) -> Table:
    table = Table(title=f"Workers ({len(found['workers'])} alive)")
    for column in ("worker", "queues", "threads", "busy", "started", "last heartbeat", "running now"):
        table.add_column(
            column, justify="right" if column in ("threads", "busy") else "left", no_wrap=column == "running now"
        )
    for worker in found["workers"]:
        table.add_row(
            escape(worker["id"]),
            escape(", ".join(worker["queues"])),
            str(worker["threads"] if worker["threads"] is not None else ""),
            str(worker["busy"]),
            format_time(worker["startedAt"]),
            _age(worker["heartbeatAgeSeconds"]),
            _running(worker["jobs"]),
        )
    return table


def _beats_table(found: dict[str, Any]) -> Table:
    table = Table(title=f"Beats ({len(found['beats'])} alive)")
    for column in ("beat", "started", "last heartbeat", "last tick"):
        table.add_column(column)
    for beat in found["beats"]:
        table.add_row(
            escape(beat["id"]),
            format_time(beat["startedAt"]),
            _ago(beat["lastHeartbeat"], beat["heartbeatAgeSeconds"]),
            format_time(beat["lastTick"]),
        )
    return table


def _scheduler_line(scheduler: dict[str, Any]) -> str:
    if scheduler["lastDispatch"] is None:
        dispatched = "the dispatcher has never run"
    else:
        late = "" if scheduler["dispatching"] else f" [red](over {scheduler['maxAgeSeconds']} s: not dispatching)[/]"
        dispatched = f"the dispatcher last ran {_ago(scheduler['lastDispatch'], scheduler['dispatchAgeSeconds'])}{late}"
    if not scheduler["beatAlive"]:
        return f"[red]no beat is running[/] (start one: `periodiq actors schedules`); {dispatched}"
    return dispatched


@app.command()
def workers(as_json: JsonOption = False) -> None:
    """Worker processes (host, PID, queues, threads, started, last heartbeat, jobs running now) and beats."""
    with exit_codes():
        found = who.report()
    if as_json:
        emit_json(found)
        return
    if found["workers"]:
        console.print(_workers_table(found))
    else:
        timeout = found["heartbeatTimeoutSeconds"]
        console.print(f"[yellow]no worker heartbeat in the last {timeout:.0f} s[/]: start one with `dramatiq actors`")
    if found["beats"]:
        console.print(_beats_table(found))
    console.print(_scheduler_line(found["scheduler"]))
