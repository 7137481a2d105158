"""`jobsctl pipelines list|show|retry`: the pipeline runs in the store and their stages.

`list` shows recent runs (newest first) with each stage's state; `show RUN_ID` a run's stages,
their jobs and the job that failed it; `retry RUN_ID` runs a failed run's failed stage again
(`pipelines.steps.retry_run`: new jobs, the later stages follow). `--json` prints the API's
objects (`GET /api/v1/pipelines`, `GET /api/v1/pipelines/{id}`). Exit codes: 0 done, 1 the run
is not failed (nothing to retry), 3 no such run, 4 a server away.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from db import pipelines as runs
from db.engine import get_engine
from errors import NotFound
from jobsctl.common import JsonOption, app, console, emit_json, format_time, report
from jobsctl.operator_commands import operation
from pipelines.steps import retry_run

pipelines_app = typer.Typer(help="Pipeline runs: list, show one, retry a failed one.", no_args_is_help=True)
app.add_typer(pipelines_app, name="pipelines")

RunId = Annotated[str, typer.Argument(help="A pipeline run's id (`jobsctl pipelines list`).")]
#: Colours of run, stage and job states.
STYLES = {
    "pending": "dim",
    "waiting": "cyan",
    "delayed": "blue",
    "running": "yellow",
    "active": "yellow",
    "completed": "green",
    "failed": "red",
    "dead": "red",
    "cancelled": "dim",
}


def api_json(value: Any) -> Any:
    """`value` as the API's JSON has it: instants in ISO 8601 (the store gives datetimes)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: api_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [api_json(item) for item in value]
    return value


def _state(state: str) -> str:
    return f"[{STYLES.get(state, 'white')}]{state}[/]"


def _params(params: dict[str, Any]) -> str:
    """The run's parameters in a few words: the day, and how many publishers or zones when limited."""
    shown = [str(params["day"])] if params.get("day") else []
    for key in ("publishers", "timezones"):
        if params.get(key) is not None:
            shown.append(f"{len(params[key])} {key}")
    rest = {key: value for key, value in params.items() if key not in ("day", "publishers", "timezones", "pipeline")}
    if rest:
        shown.append(json.dumps(rest, default=str))
    return escape(", ".join(shown))


def find_run(run_id: str) -> dict[str, Any]:
    """The run `run_id` with its stages, or NotFound (exit 3)."""
    with get_engine().connect() as connection:
        run = runs.get_run(connection, run_id)
    if run is None:
        raise NotFound(f"no pipeline run {run_id!r} (`jobsctl pipelines list` shows recent runs)")
    return run


@pipelines_app.command("list")
def list_command(
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many runs.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many of the newest.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Recent pipeline runs, newest first, with the state of each stage."""
    with operation(), get_engine().connect() as connection:
        found = runs.list_runs(connection, limit, offset)
        total = runs.count_runs(connection)
    if as_json:
        emit_json(api_json(found))
        return
    shown = f"{offset + 1}-{offset + len(found)} of {total:,}" if found else f"none of {total:,} here"
    table = Table(title=f"Pipeline runs ({shown}, newest first)")
    for column in ("id", "pipeline", "params", "state", "stages", "created", "finished"):
        table.add_column(column, no_wrap=column == "id")
    for run in found:
        table.add_row(
            run["id"],
            run["name"],
            _params(run["params"]),
            _state(run["state"]),
            " → ".join(f"{stage['name']} {_state(stage['state'])}" for stage in run["stages"]),
            format_time(run["createdAt"]),
            format_time(run["finishedAt"]),
        )
    console.print(table)


@pipelines_app.command("show")
def show(run_id: RunId, as_json: JsonOption = False) -> None:
    """A run: its stages in order, their jobs, and the job that failed it."""
    with operation():
        run = find_run(run_id)
    if as_json:
        emit_json(api_json(run))
        return
    summary = Table(show_header=False, title=f"pipeline run {run['id']}")
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("pipeline", run["name"])
    summary.add_row("state", _state(run["state"]))
    summary.add_row("params", escape(json.dumps(run["params"], default=str)))
    summary.add_row("created", format_time(run["createdAt"]))
    summary.add_row("finished", format_time(run["finishedAt"]))
    failed = run["failedJob"]
    if failed is not None:
        summary.add_row(
            "failed job",
            escape(f"{failed['jobId']} ({failed['name']}, stage {failed['stage']}): {failed['failedReason'] or ''}"),
        )
        summary.add_row("retry", f"jobsctl pipelines retry {run['id']}")
    console.print(summary)
    stages = Table(title="stages")
    for column in ("#", "stage", "state", "jobs", "enqueued", "started", "finished"):
        stages.add_column(column)
    for position, stage in enumerate(run["stages"]):
        counts = Counter(job["state"] for job in stage["jobs"])
        stages.add_row(
            str(position + 1),
            stage["name"],
            _state(stage["state"]),
            ", ".join(f"{count} {_state(state)}" for state, count in sorted(counts.items())),
            format_time(stage.get("enqueuedAt")),
            format_time(stage["startedAt"]),
            format_time(stage["finishedAt"]),
        )
    console.print(stages)
    jobs = Table(title="jobs")
    for column in ("stage", "id", "name", "queue", "state", "error"):
        jobs.add_column(column, no_wrap=column == "id")
    for stage in run["stages"]:
        for job in stage["jobs"]:
            jobs.add_row(
                stage["name"],
                job["jobId"],
                job["name"] or "",
                job["queue"] or "",
                _state(job["state"]),
                escape((job["failedReason"] or "")[:80]),
            )
    console.print(jobs)


@pipelines_app.command("retry")
def retry(run_id: RunId, as_json: JsonOption = False) -> None:
    """Run a failed run's failed stage again with new jobs; the stages after it follow as usual."""
    with operation():
        job_ids = retry_run(run_id)
        run = find_run(run_id)
    retried = set(job_ids)
    stage = next((s["name"] for s in run["stages"] if retried & {job["jobId"] for job in s["jobs"]}), None)
    result = {"runId": run_id, "stage": stage, "jobIds": job_ids}
    report(result, as_json, f"retrying stage [bold]{stage}[/] of run {run_id}: {len(job_ids)} new job(s)")
