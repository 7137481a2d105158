"""The `jobsctl` command: every subcommand of CONTRACT.md; `--json` prints the API's objects."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer

from db.engine import get_engine
from db.events import SeedPlan, seed_events
from db.migrate import upgrade
from jobsctl.common import (
    INVALID,
    JsonOption,
    app,
    console,
    emit_json,
    err,
    exit_codes,
    exit_while_loading,
    fail,
    progress_bar,
    redact,
    require_schema,
)
from runtime.store_buffer import get_buffer
from settings import get_settings
from wiring.broker import get_broker
from wiring.service import preflight

# These declare every actor (`jobsctl.runtime` imports `actors.catalog`), reading the settings on the way.
with exit_while_loading():
    from jobsctl import (
        ingest_command,  # noqa: F401  (registers ingest)
        operator_commands,  # noqa: F401  (registers stats, jobs, job, retry, cancel, ...)
        pipeline_commands,  # noqa: F401  (registers pipelines list, show, retry)
        publisher_commands,  # noqa: F401  (registers publishers tier, tiers)
        token_commands,  # noqa: F401  (registers tokens create, list, revoke)
        worker_commands,  # noqa: F401  (registers workers)
    )
    from jobsctl.demo import run_demo
    from jobsctl.runtime import load_actors


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    upgrade()
    console.print(f"[green]schema up to date[/] on {redact(get_settings().effective_database_url)}")


@app.command()
def seed(
    days: Annotated[int, typer.Option(help="Days of events, ending today.")] = 7,
    rows_per_day: Annotated[int, typer.Option(help="Events per day.")] = 50_000,
    publishers: Annotated[int, typer.Option(help="Number of publishers.")] = 20,
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD); default: today - days + 1.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Insert realistic synthetic raw ad events."""
    require_schema()
    first = date.fromisoformat(start) if start else datetime.now(UTC).date() - timedelta(days=days - 1)
    plan = SeedPlan(start=first, days=days, rows_per_day=rows_per_day, publishers=publishers)
    started = datetime.now(UTC)
    with progress_bar(to_stderr=as_json) as bar:
        task = bar.add_task("seeding events", total=plan.total_rows)
        with get_engine().begin() as connection:
            inserted = seed_events(connection, plan, progress=lambda n: bar.advance(task, n))
    seconds = (datetime.now(UTC) - started).total_seconds()
    result = {"rows": inserted, "days": days, "publishers": publishers, "seconds": round(seconds, 2)}
    if as_json:
        emit_json(result)
    else:
        console.print(f"seeded [bold]{inserted:,}[/] events over {days} days in {seconds:.1f} s")


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Days of events to seed when there are none.")] = 3,
    rows_per_day: Annotated[int | None, typer.Option(help="Events per day when seeding.")] = None,
) -> None:
    """Run the main job end to end and print what it did."""
    run_demo(console, days=days, rows_per_day=rows_per_day)


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve the admin HTTP API and the dashboard (uvicorn)."""
    import uvicorn  # only this command serves: the other commands start without loading the server

    load_actors()  # as the app will: the configured servers, or the embedded default with nothing configured
    settings = get_settings()
    preflight(settings)  # a placeholder secret or a schema not at head: one line and exit here, not in uvicorn
    if not (settings.api_admin_tokens or settings.api_read_tokens):
        err.print(
            "[yellow]warning:[/] API_ADMIN_TOKENS and API_READ_TOKENS are empty: "
            "only tokens in the api_tokens table work"
        )
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@app.command()
def send(
    actor: Annotated[str, typer.Argument(help="Actor name, e.g. aggregate_analytics.")],
    data: Annotated[str, typer.Option("--data", help="Payload as JSON.")] = "{}",
    priority: Annotated[str | None, typer.Option(help="1-10 or CRITICAL/HIGH/NORMAL/LOW/BACKGROUND.")] = None,
    delay: Annotated[int | None, typer.Option(help="Delay in milliseconds.")] = None,
    job_id: Annotated[str | None, typer.Option("--job-id", help="Dedupe key.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send a job; prints its id."""
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as error:
        fail(f"--data is not JSON: {error}", INVALID)
    if not isinstance(payload, dict):
        fail("--data must be a JSON object", INVALID)
    load_actors(embedded=False)
    broker = get_broker()
    target = broker.actors.get(actor)
    if target is None:
        fail(f"unknown actor {actor!r}; known: {', '.join(sorted(broker.actors))}", INVALID)
    require_schema()  # the job's record goes to the store: no job is sent that the store cannot keep
    options: dict[str, Any] = {}
    if priority is not None:
        options["priority"] = priority
    if job_id is not None:
        options["job_id"] = job_id
    message = target.send_with_options(kwargs=payload, delay=delay, **options)
    get_buffer().flush(drain=False)  # what this process recorded itself; the event list is the writers' to drain
    result = {"jobId": message.message_id, "queueName": target.queue_name, "jobName": actor}
    if as_json:
        emit_json(result)
    else:
        print(message.message_id)


def main() -> None:
    """`jobsctl`: every command runs inside the one error mapping (`jobsctl.common.exit_codes`)."""
    try:
        with exit_codes():
            app()
    except typer.Exit as done:  # raised by the mapping, outside click's own handling
        sys.exit(done.exit_code)
