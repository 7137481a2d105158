"""The cron schedules of CONTRACT.md, in SCHEDULE_TZ; the beat is `periodiq actors`.

periodiq sends the dispatcher (`actors.scheduler`) every minute; the dispatcher enqueues
each due tick below exactly once, however many beats run. Which schedules catch up after
a beat outage is the setting SCHEDULE_CATCH_UP (default: daily-aggregation, daily-cleanup,
weekly-reports); cache warming and hourly metrics do not.
"""

from __future__ import annotations

from pipelines import scheduled
from scheduling.intervals import interval_cron
from scheduling.registry import Schedule, register
from settings import get_settings

# fmt: off
SCHEDULES = (
    #         name                 cron           what it enqueues
    Schedule("daily-aggregation", "0 1 * * *", scheduled.daily_aggregation,
             "the daily pipeline for the previous day: aggregation → metrics → cache warming"),
    Schedule("daily-cleanup", "0 2 * * *", scheduled.daily_cleanup,
             "cleanup: old logs, expired tokens, temp files, old job records, old events (partitions ahead)"),
    Schedule("hourly-metrics", "0 * * * *", scheduled.hourly_metrics, "metrics for the last hour"),
    Schedule("cache-warming", "*/5 * * * *", scheduled.cache_warming, "warm popular dashboard queries"),
    Schedule("weekly-reports", "0 8 * * 1", scheduled.weekly_reports, "weekly reports for every publisher"),
    Schedule("ingest-scan", "* * * * *", scheduled.ingest_scan,
             "event files dropped into INGEST_DIR: one ingest_events job per file"),
    Schedule("late-events", interval_cron(get_settings().late_events_interval), scheduled.late_events,
             "re-aggregate the buckets late events made stale (every LATE_EVENTS_INTERVAL seconds)"),
)
# fmt: on

register(*SCHEDULES)
