"""What each schedule enqueues for a tick: thin functions over the actors, named in `schedules.py`.

Actors are imported inside the functions, so the schedules table can be read (and the beat
can start) without importing every job module first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Cleanup types run by the daily cleanup, in order (the cleanup queue runs one at a time).
DAILY_CLEANUP_TYPES = ("old_logs", "expired_tokens", "temp_files", "job_records")


def daily_aggregation(tick: datetime) -> list[str]:
    """The daily pipeline for the day before the tick (in SCHEDULE_TZ)."""
    from pipelines.daily import start_daily_pipeline

    run = start_daily_pipeline((tick - timedelta(days=1)).date())
    return run.job_ids


def daily_cleanup(tick: datetime) -> list[str]:
    from actors.cleanup import cleanup

    return [cleanup.send(type=kind, dry_run=False).message_id for kind in DAILY_CLEANUP_TYPES]


def hourly_metrics(tick: datetime) -> list[str]:
    """Metrics of every kind for the hour that just ended."""
    from actors.metrics import calculate_metrics

    period = (tick - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H")
    return [
        calculate_metrics.send(metric_type=kind, period=period).message_id
        for kind in ("performance", "revenue", "quality")
    ]


def cache_warming(tick: datetime) -> list[str]:
    from actors.cache_warming import warm_cache

    return [warm_cache.send().message_id]


def weekly_reports(tick: datetime) -> list[str]:
    """The weekly report of the week before the tick, for every publisher."""
    from actors.reports import generate_report
    from db.engine import get_engine
    from db.publishers import publisher_ids

    with get_engine().connect() as connection:
        publishers = publisher_ids(connection)
    day = (tick - timedelta(days=7)).date().isoformat()
    payloads = [{"publisher_id": publisher, "report_type": "weekly", "date": day} for publisher in publishers]
    return [message.message_id for message in generate_report.send_many(payloads)]
