"""What each schedule enqueues for a tick: thin functions over the actors, named in `schedules.py`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.cache_warming import warm_cache
from actors.cleanup import cleanup
from actors.ingest import send_pending
from actors.late_events import request_reaggregation
from actors.metrics import calculate_metrics
from actors.reports import generate_report
from core.payloads import InvalidPayload
from db.engine import get_engine
from db.publishers import calendars, publishers_by_timezone
from pipelines.daily import start_daily_pipeline
from scheduling.local_days import local_midnight, runs_due
from settings import get_settings

#: Cleanup types run by the daily cleanup, in order (the cleanup queue runs one at a time);
#: `old_events` also makes the event partitions of the coming days.
DAILY_CLEANUP_TYPES = ("old_logs", "expired_tokens", "temp_files", "job_records", "old_events")


logger = logging.getLogger(__name__)


def _due_window(tick: datetime) -> tuple[datetime, datetime]:
    """The 24 hours a daily tick plans: [tick, tick + 24 h) for a cron tick.

    A manual trigger (a tick off the minute) plans the 24 hours that just ended instead, so it
    runs at once the local days that ended most recently.
    """
    tick = tick.astimezone(UTC)
    if tick.second or tick.microsecond:
        return tick - timedelta(days=1), tick
    return tick, tick + timedelta(days=1)


def daily_aggregation(tick: datetime) -> list[str]:
    """The daily pipeline of each publisher's previous local day, from its local midnight + DAILY_RUN_DELAY.

    Each tick (`0 1 * * *`) plans the next 24 hours: every time zone in use (the registered
    publishers' and UTC, which unregistered publishers follow) whose local day ends, plus
    DAILY_RUN_DELAY, within them gets that day's run, sent now with its first stage delayed
    until then; zones whose days end at the same instant share one run. With the defaults
    (UTC schedule, one hour of delay) UTC publishers' day runs at the tick itself, New York's
    at 05:00 or 06:00 UTC, Tokyo's at 16:00 UTC. A due instant already past runs at once.
    """
    start, end = _due_window(tick)
    with get_engine().connect() as connection:
        zones = calendars(connection)
    now = datetime.now(UTC)
    job_ids: list[str] = []
    for (day, at), timezones in runs_due(zones, start, end, timedelta(seconds=get_settings().daily_run_delay)).items():
        delay_ms = max(0, int((at - now).total_seconds() * 1000))
        job_ids.extend(start_daily_pipeline(day, timezones=timezones, delay_ms=delay_ms).job_ids)
    return job_ids


def daily_cleanup(tick: datetime) -> list[str]:
    return [cleanup.send(type=kind, dry_run=False).message_id for kind in DAILY_CLEANUP_TYPES]


def hourly_metrics(tick: datetime) -> list[str]:
    """Metrics of every kind for the hour that just ended."""
    period = (tick - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H")
    return [
        calculate_metrics.send(metric_type=kind, period=period).message_id
        for kind in ("performance", "revenue", "quality")
    ]


def cache_warming(tick: datetime) -> list[str]:
    return [warm_cache.send().message_id]


def weekly_reports(tick: datetime) -> list[str]:
    """The weekly report of the week before the tick, for every publisher: registered, or with events then.

    A report waits for the end of its publisher's local week plus DAILY_RUN_DELAY (a Honolulu
    week ends at 10:00 UTC on Monday, after the 08:00 tick).
    """
    day = (tick - timedelta(days=7)).date()
    monday = day - timedelta(days=day.weekday())
    # Every local week that overlaps the UTC one (offsets from -12 to +14 hours).
    first = datetime.combine(monday, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    with get_engine().connect() as connection:
        groups = publishers_by_timezone(connection, first, first + timedelta(days=9))
    now = datetime.now(UTC)
    delay = timedelta(seconds=get_settings().daily_run_delay)
    job_ids: list[str] = []
    for tz, publishers in groups.items():
        due = local_midnight(monday + timedelta(days=7), tz) + delay
        delay_ms = max(0, int((due - now).total_seconds() * 1000))
        payloads = _sendable(
            generate_report,
            [{"publisher_id": publisher, "report_type": "weekly", "date": day.isoformat()} for publisher in publishers],
        )
        if delay_ms:
            job_ids.extend(
                generate_report.send_with_options(kwargs=payload, delay=delay_ms).message_id for payload in payloads
            )
        else:
            job_ids.extend(message.message_id for message in generate_report.send_many(payloads))
    return job_ids


def _sendable(actor: Any, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The payloads `actor` accepts; one it refuses (a publisher id loaded by SQL that no report can name) is
    logged and left out, so it does not refuse every other publisher's job with it."""
    accepted = []
    for payload in payloads:
        try:
            actor.message_with_options(kwargs=payload)
        except InvalidPayload as error:
            logger.warning("%s: left out of the fan-out: %s", actor.actor_name, error)
        else:
            accepted.append(payload)
    return accepted


def late_events(tick: datetime) -> list[str]:
    """One re-aggregation of every stale bucket (none is sent while one still waits)."""
    message = request_reaggregation()
    return [] if message.options.get("deduplicated") else [message.message_id]


def ingest_scan(tick: datetime) -> list[str]:
    """One `ingest_events` job per event file waiting in INGEST_DIR."""
    return send_pending()
