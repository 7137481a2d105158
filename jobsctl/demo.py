"""`jobsctl demo`: seed events if there are none, aggregate yesterday, then run every other job type.

Embedded default (no REDIS_URL / DATABASE_URL): a SQLite file and Dramatiq's in-process
broker and worker. With servers configured: Redis (or RabbitMQ), PostgreSQL, and a real
`dramatiq actors` worker process that the demo starts and stops. It ends with the jobs' table
(every job it sent, by state) and where its files are: the database, the event file, the
exports and the report.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import mean, quantiles
from typing import Any

import dramatiq
from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url, select, text

from db.engine import get_engine
from db.event_files import COLUMNS
from db.events import (
    COUNTRIES,
    COUNTRY_ECPM,
    COUNTRY_SHARE,
    DEVICE_SHARE,
    DEVICES,
    SeedPlan,
    count_events,
    publisher_ids,
    seed_events,
)
from db.ingest import load_file
from db.migrate import upgrade
from db.models import AnalyticsRollup, Export, JobRecord, Report
from jobsctl.common import progress_bar, redact
from jobsctl.runtime import embedded_default, load_actors
from runtime.store_buffer import get_buffer
from settings import Settings, get_settings
from wiring.broker import get_broker

#: How long the demo waits for its jobs.
DEMO_TIMEOUT = 180.0
#: Where the demo writes the event file it ingests, and the publisher in it that nobody registered.
DEMO_FILES = Path("var/demo")
DEMO_NEW_PUBLISHER = "pub-newcomer"


def run_demo(console: Console, *, days: int = 3, rows_per_day: int | None = None) -> None:
    settings = get_settings()
    embedded = embedded_default(settings) or settings.embedded
    load_actors(embedded=embedded)
    settings = get_settings()
    broker = get_broker()
    mode = "embedded (SQLite file + in-process broker and worker)" if embedded else "configured servers"
    console.rule("[bold]ad-analytics jobs: demo")
    console.print(f"mode: [bold]{mode}[/]")
    console.print(f"database: {redact(settings.effective_database_url)}")
    if not embedded:
        console.print(f"broker: {redact(settings.effective_broker_url)}")

    upgrade()
    console.print("schema: up to date")

    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    with get_engine().connect() as connection:
        have = count_events(connection)
    if have == 0:
        per_day = rows_per_day or (20_000 if embedded else 100_000)
        plan = SeedPlan(start=today - timedelta(days=days - 1), days=days, rows_per_day=per_day)
        with progress_bar() as bar:
            task = bar.add_task("seeding events", total=plan.total_rows)
            with get_engine().begin() as connection:
                seed_events(connection, plan, progress=lambda n: bar.advance(task, n))
    else:
        console.print(f"events: {have:,} already present, not seeding")
    sample = _ingest_sample_file(console, yesterday, embedded)

    with get_engine().connect() as connection:
        publishers = [row[0] for row in connection.execute(text("SELECT id FROM publishers ORDER BY id"))]

    aggregate_analytics = broker.get_actor("aggregate_analytics")
    started = time.monotonic()
    # One statement for all publishers per granularity: a fifth of the cost of one per publisher,
    # and well inside the queue's rate limit (10 per minute).
    messages = [
        aggregate_analytics.send(start_date=yesterday.isoformat(), end_date=yesterday.isoformat(), granularity=g)
        for g in ("hour", "day")
    ]
    get_buffer().flush()
    ids = [m.message_id for m in messages]
    console.print(f"sent {len(ids)} aggregation jobs (hour and day) for all {len(publishers)} publishers, {yesterday}")

    worker = _start_worker(broker, embedded)
    try:
        with progress_bar() as bar:
            task = bar.add_task("processing jobs", total=len(ids))
            states = _wait_for(ids, lambda done: bar.update(task, completed=done))
        wall = time.monotonic() - started
        # Then one of every other job type, on the rollups just made.
        others = _send_every_job_type(broker, yesterday, today - timedelta(days=days - 1), publishers)
        get_buffer().flush()
        console.print(f"sent {len(others)} jobs of every other type: {', '.join(sorted({a for a, _ in others}))}")
        with progress_bar() as bar:
            task = bar.add_task("processing jobs", total=len(others))
            other_states = _wait_for([job_id for _, job_id in others], lambda done: bar.update(task, completed=done))
        wall_all = time.monotonic() - started
    finally:
        _stop_worker(worker)
    _print_rollups(console, yesterday)
    _print_job_types(console, others)
    states.update(other_states)
    sent = [*ids, *(job_id for _, job_id in others)]
    _print_jobs(console, sent, states, wall, wall_all)
    _print_files(console, settings, sample, [job_id for _, job_id in others])
    failed = [job_id for job_id in sent if states.get(job_id) != "completed"]
    if failed:
        console.print(f"[red]{len(failed)} job(s) did not complete[/]")
        raise SystemExit(1)


def _write_sample_file(day: date, rows: int) -> Path:
    """A CSV event file for `day` like an ad server's: the demo publishers plus one nobody registered.

    The same day always gives the same bytes, so a second demo finds the file already loaded.
    """
    path = DEMO_FILES / f"events-{day.isoformat()}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(day.toordinal())
    publishers = [*publisher_ids(5), DEMO_NEW_PUBLISHER]
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for _ in range(rows):
            publisher = rng.choice(publishers)
            country = rng.choices(range(len(COUNTRIES)), COUNTRY_SHARE)[0]
            requests = rng.randint(1, 60)
            impressions = int(requests * (0.55 + rng.random() * 0.4))
            ts = midnight + timedelta(seconds=rng.randrange(86400))
            writer.writerow(
                [
                    ts.isoformat().replace("+00:00", "Z"),
                    publisher,
                    f"{publisher}-unit-{rng.randint(1, 3)}",
                    COUNTRIES[country],
                    rng.choices(DEVICES, DEVICE_SHARE)[0],
                    requests,
                    impressions,
                    int(impressions * rng.random() * 0.03),
                    f"{impressions * COUNTRY_ECPM[country] * (0.6 + rng.random() * 0.8) / 1000:.6f}",
                ]
            )
    return path


def _ingest_sample_file(console: Console, day: date, embedded: bool) -> Path:
    """Load a generated event file through `db.ingest.load_file`, as `jobsctl ingest` does, and say what it did."""
    path = _write_sample_file(day, 2_000 if embedded else 10_000)
    result = load_file(path, loaded_by="jobsctl demo")
    where = path.resolve()
    if result.status == "already loaded":
        console.print(f"ingest: {where} already loaded ({result.rows:,} rows); nothing added")
        return where
    new = f"; registered on the way in: {', '.join(result.new_publishers)}" if result.new_publishers else ""
    console.print(
        f"ingested [bold]{result.rows:,}[/] events for {result.publishers} publishers from {where}"
        f" in {result.seconds:.2f} s{new}"
    )
    return where


def _send_every_job_type(
    broker: dramatiq.Broker, day: Any, first_day: Any, publishers: list[str]
) -> list[tuple[str, str]]:
    """One or more jobs of each type besides the day's aggregation; returns (actor, job id)."""
    aggregate_analytics = broker.get_actor("aggregate_analytics")
    calculate_metrics = broker.get_actor("calculate_metrics")
    warm_cache = broker.get_actor("warm_cache")
    export_data = broker.get_actor("export_data")
    generate_report = broker.get_actor("generate_report")
    cleanup = broker.get_actor("cleanup")
    publisher = publishers[0]
    day_text, first_text = day.isoformat(), first_day.isoformat()
    messages = [
        *(
            aggregate_analytics.send(start_date=day_text, end_date=day_text, granularity=granularity)
            for granularity in ("week", "month")
        ),
        *(calculate_metrics.send(metric_type=kind, period=day_text) for kind in ("performance", "revenue", "quality")),
        warm_cache.send(),
        export_data.send(publisher_id=publisher, format="csv", start_date=first_text, end_date=day_text),
        export_data.send(
            publisher_id=publisher,
            format="jsonl",
            start_date=day_text,
            end_date=day_text,
            granularity="raw",
            filters={"country": ["US", "GB"]},
        ),
        generate_report.send(publisher_id=publisher, report_type="daily", date=day_text),
        cleanup.send(type="job_records", dry_run=True),
        cleanup.send(type="temp_files", dry_run=True),
    ]
    return [(message.actor_name, message.message_id) for message in messages]


def _print_job_types(console: Console, jobs: list[tuple[str, str]]) -> None:
    with get_engine().connect() as connection:
        rows = {
            row.id: row
            for row in connection.execute(
                select(JobRecord.id, JobRecord.state, JobRecord.duration_ms, JobRecord.result, JobRecord.error).where(
                    JobRecord.id.in_([job_id for _, job_id in jobs])
                )
            )
        }
    table = Table(title="Every job type (from the job store)")
    for column in ("job", "state", "duration", "result"):
        table.add_column(column, justify="right" if column == "duration" else "left")
    for actor, job_id in jobs:
        row = rows.get(job_id)
        if row is None:
            table.add_row(actor, "not recorded", "", "")
            continue
        summary = row.error if row.error else _describe_result(row.result)
        duration = f"{row.duration_ms:.0f} ms" if row.duration_ms is not None else ""
        table.add_row(actor, row.state, duration, summary[:90])
    console.print(table)


def _describe_result(result: Any) -> str:
    if not isinstance(result, dict):
        return "" if result is None else str(result)
    return ", ".join(f"{key}={value}" for key, value in result.items() if not isinstance(value, dict | list))


def _start_worker(broker: dramatiq.Broker, embedded: bool) -> Any:
    if embedded:
        worker = dramatiq.Worker(broker, worker_threads=4)
        worker.start()
        return worker
    env = dict(os.environ)
    return subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "actors", "--processes", "1", "--threads", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop_worker(worker: Any) -> None:
    if isinstance(worker, subprocess.Popen):
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    else:
        worker.stop()
    get_buffer().flush()


def _wait_for(ids: list[str], report: Any) -> dict[str, str]:
    deadline = time.monotonic() + DEMO_TIMEOUT
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        with get_engine().connect() as connection:
            rows = connection.execute(select(JobRecord.id, JobRecord.state).where(JobRecord.id.in_(ids)))
            states = {job_id: state for job_id, state in rows}
        done = sum(1 for state in states.values() if state in ("completed", "dead", "cancelled"))
        report(done)
        if done == len(ids):
            break
        time.sleep(0.2)
    return states


def _print_rollups(console: Console, day: Any) -> None:
    with get_engine().connect() as connection:
        r = AnalyticsRollup
        day_start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        rows = connection.execute(
            select(r.publisher_id, r.ad_requests, r.impressions, r.clicks, r.revenue, r.ad_unit_id)
            .where(r.granularity == "day", r.bucket_start == day_start)
            .order_by(r.publisher_id)
        ).all()
        hourly = connection.execute(
            select(r.publisher_id).where(
                r.granularity == "hour",
                r.bucket_start >= day_start,
                r.bucket_start < day_start + timedelta(days=1),
            )
        ).all()

    per_publisher: dict[str, list[float]] = {}
    units: dict[str, int] = {}
    for publisher, requests, impressions, clicks, revenue, _unit in rows:
        totals = per_publisher.setdefault(publisher, [0, 0, 0, 0.0])
        totals[0] += requests
        totals[1] += impressions
        totals[2] += clicks
        totals[3] += float(revenue)
        units[publisher] = units.get(publisher, 0) + 1
    hourly_rows: dict[str, int] = {}
    for (publisher,) in hourly:
        hourly_rows[publisher] = hourly_rows.get(publisher, 0) + 1

    table = Table(title=f"Daily rollups for {day} (from analytics_rollups)")
    for column in (
        "publisher",
        "ad units",
        "hour rows",
        "requests",
        "impressions",
        "clicks",
        "revenue",
        "CTR",
        "fill rate",
        "eCPM",
    ):
        table.add_column(column, justify="left" if column == "publisher" else "right")
    for publisher, (sum_requests, sum_impressions, sum_clicks, sum_revenue) in per_publisher.items():
        table.add_row(
            publisher,
            str(units[publisher]),
            str(hourly_rows.get(publisher, 0)),
            f"{int(sum_requests):,}",
            f"{int(sum_impressions):,}",
            f"{int(sum_clicks):,}",
            f"{sum_revenue:,.2f}",
            f"{sum_clicks / sum_impressions:.2%}" if sum_impressions else "-",
            f"{sum_impressions / sum_requests:.1%}" if sum_requests else "-",
            f"{sum_revenue * 1000 / sum_impressions:.3f}" if sum_impressions else "-",
        )
    console.print(table)


def _print_jobs(console: Console, ids: list[str], states: dict[str, str], wall: float, wall_all: float) -> None:
    """Every job the demo sent (`ids`), by state; one the job store has not recorded counts as `not recorded`."""
    with get_engine().connect() as connection:
        durations = [
            d
            for (d,) in connection.execute(select(JobRecord.duration_ms).where(JobRecord.id.in_(ids)))
            if d is not None
        ]
        attempts = [a for (a,) in connection.execute(select(JobRecord.attempts).where(JobRecord.id.in_(ids)))]
    counts: dict[str, int] = {}
    for job_id in ids:
        state = states.get(job_id, "not recorded")
        counts[state] = counts.get(state, 0) + 1
    jobs = Table(title=f"Jobs (from the job store): all {len(ids)} the demo sent")
    jobs.add_column("figure")
    jobs.add_column("value", justify="right")
    jobs.add_row("jobs sent", str(len(ids)))
    for state, count in sorted(counts.items()):
        jobs.add_row(f"state {state}", str(count))
    jobs.add_row("attempts per job (max)", str(max(attempts) if attempts else 0))
    if durations:
        p95 = quantiles(durations, n=20)[-1] if len(durations) >= 2 else durations[0]
        jobs.add_row("job duration mean", f"{mean(durations):.1f} ms")
        jobs.add_row("job duration p95", f"{p95:.1f} ms")
    jobs.add_row("wall time, send to the day's aggregation done", f"{wall:.2f} s")
    jobs.add_row("wall time, send to the last job done", f"{wall_all:.2f} s")
    console.print(jobs)


def _print_files(console: Console, settings: Settings, sample: Path, job_ids: list[str]) -> None:
    """Where the demo's files are: the database, the event file it ingested, the exports and the report."""
    url = make_url(settings.effective_database_url)
    database = (
        f"{Path(url.database).resolve()} (SQLite file)"
        if url.get_backend_name() == "sqlite" and url.database
        else redact(settings.effective_database_url)
    )
    with get_engine().connect() as connection:
        exports = connection.execute(
            select(Export.file_path).where(Export.job_id.in_(job_ids), Export.file_path.is_not(None))
        ).scalars()
        reports = connection.execute(select(Report.html_path, Report.csv_path).where(Report.job_id.in_(job_ids))).all()
        export_files = sorted(str(Path(path).resolve()) for path in exports if path)
        report_files = sorted(str(Path(path).resolve()) for row in reports for path in row if path)
    table = Table(title="Where the demo's files are")
    table.add_column("what")
    table.add_column("where", overflow="fold")
    table.add_row("database", database)
    table.add_row("event file ingested", str(sample))
    table.add_row("exports (EXPORT_DIR)", "\n".join([str(settings.export_dir.resolve()), *export_files]))
    table.add_row("reports (REPORT_DIR)", "\n".join([str(settings.report_dir.resolve()), *report_files]))
    console.print(table)
