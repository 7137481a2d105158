"""Stale marks: the (publisher, UTC hour) pairs that got events after their rollups were made.

The trigger of migration 0010 marks every hour a load touches. `reaggregate_stale` takes the
marks of days that were already aggregated, recomputes exactly the hour / day / week / month
buckets holding them through `db.rollups.aggregate_window` (which widens to whole buckets in
each publisher's calendar and records `rollup_freshness`), and deletes the marks it read, in
one transaction. Publishers stale in the same bucket share one statement: a statement per
run of stale hours and per stale local day / week / month and calendar, never per publisher.

Marks of days that were never aggregated (no `rollup_freshness` row for the publisher's local
day: today's events, a backfill nobody rolled up) are left alone: the daily pipeline makes
those rollups when their day is due, so recomputing them here every few minutes would only
repeat that work (a month bucket rescanned on every tick for every publisher with fresh
events). Their marks stay, so a load that lands while the daily run reads the day is still
caught by the next re-aggregation.

A mark is deleted only at the revision that was read: a load committed meanwhile into the
same hour bumped the revision (or, if it touched the mark after our delete, re-inserts it), so
its rows are never left out. Runs take a transaction-level advisory lock on PostgreSQL, so two
workers never recompute the same buckets at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Connection, DateTime, String, bindparam, delete, select, text
from sqlalchemy.types import TypeEngine

from db import rollups
from db.models import Publisher, PublisherMetric, StaleHour
from db.rollups import GRANULARITIES, Granularity

#: Most marks one run takes; the rest wait for the next run (`RunResult.more` says so).
MAX_MARKS_PER_RUN = 200_000

#: One lock id for every re-aggregation run (PostgreSQL advisory lock).
ADVISORY_LOCK = 0x1A7E_E0E7

_LOCK_PG = "SELECT pg_advisory_xact_lock(:lock)"

#: Marks whose publisher-local day (either end of the hour) was aggregated already.
_AGGREGATED_MARKS_PG = """
SELECT s.publisher_id, s.hour_start, s.revision, p.timezone
FROM stale_hours AS s
JOIN publishers AS p ON p.id = s.publisher_id
WHERE EXISTS (
    SELECT 1 FROM rollup_freshness AS f
    WHERE f.publisher_id = s.publisher_id
      AND f.day BETWEEN (s.hour_start AT TIME ZONE p.timezone)::date
                    AND ((s.hour_start + interval '59 minutes 59 seconds') AT TIME ZONE p.timezone)::date
)
ORDER BY s.publisher_id, s.hour_start
LIMIT :limit
"""
#: SQLite (the embedded default) keeps UTC calendars.
_AGGREGATED_MARKS_SQLITE = """
SELECT s.publisher_id, s.hour_start, s.revision, 'UTC' AS timezone
FROM stale_hours AS s
WHERE EXISTS (
    SELECT 1 FROM rollup_freshness AS f
    WHERE f.publisher_id = s.publisher_id AND f.day = date(s.hour_start)
)
ORDER BY s.publisher_id, s.hour_start
LIMIT :limit
"""

_MARK_COLUMNS: dict[str, TypeEngine[Any]] = {
    "publisher_id": String(),
    "hour_start": DateTime(timezone=True),
    "revision": BigInteger(),
    "timezone": String(),
}

_DELETE_READ = (
    delete(StaleHour)
    .where(StaleHour.publisher_id == bindparam("p"))
    .where(StaleHour.hour_start == bindparam("h"))
    .where(StaleHour.revision == bindparam("r"))
)


@dataclass(frozen=True)
class Mark:
    publisher_id: str
    hour_start: datetime
    revision: int
    timezone: str = "UTC"


@dataclass
class RunResult:
    """What one re-aggregation did: marks taken, rows written per granularity, what it touched."""

    marks: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    #: Per publisher, the merged [start, end) UTC ranges of the hours recomputed.
    windows: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    #: True when the run stopped at MAX_MARKS_PER_RUN and marks of aggregated days remain.
    more: bool = False


def merge_windows(hours: Iterable[datetime], max_gap: timedelta) -> list[tuple[datetime, datetime]]:
    """Hour starts as [start, end) ranges, joining ranges whose gap is at most `max_gap`."""
    windows: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        end = hour + timedelta(hours=1)
        if windows and hour - windows[-1][1] <= max_gap:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((hour, end))
    return windows


def hour_windows(marks: Iterable[Mark]) -> dict[tuple[datetime, datetime], list[str]]:
    """Stale UTC hours as windows, each with the publishers stale in all of it.

    Consecutive hours with the same publishers make one window, so a late file spread over
    every publisher costs a statement per distinct run of hours, not one per publisher.
    """
    by_hour: dict[datetime, set[str]] = defaultdict(set)
    for mark in marks:
        by_hour[mark.hour_start].add(mark.publisher_id)
    windows: dict[tuple[datetime, datetime], list[str]] = {}
    last: tuple[datetime, datetime, frozenset[str]] | None = None
    for hour in sorted(by_hour):
        publishers = frozenset(by_hour[hour])
        if last is not None and last[1] == hour and last[2] == publishers:
            del windows[(last[0], last[1])]
            last = (last[0], hour + timedelta(hours=1), publishers)
        else:
            last = (hour, hour + timedelta(hours=1), publishers)
        windows[(last[0], last[1])] = sorted(publishers)
    return windows


def local_bucket(instant: datetime, timezone: str, granularity: Granularity) -> tuple[datetime, datetime]:
    """The UTC [start, end) of the local day / ISO week / month holding `instant` in `timezone`."""
    zone = ZoneInfo(timezone)
    day = instant.astimezone(zone).date()
    if granularity == "week":
        first = day - timedelta(days=day.weekday())
        following = first + timedelta(days=7)
    elif granularity == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
    else:
        first, following = day, day + timedelta(days=1)
    return (
        datetime.combine(first, time.min, tzinfo=zone).astimezone(UTC),
        datetime.combine(following, time.min, tzinfo=zone).astimezone(UTC),
    )


def bucket_windows(marks: Iterable[Mark], granularity: Granularity) -> dict[tuple[datetime, datetime], list[str]]:
    """One window inside each stale local bucket, with the publishers stale in it.

    Publishers sharing a calendar share the window, so a statement recomputes a bucket for all of
    them. The window is the bucket's middle hour: `aggregate_window` widens it to the whole bucket
    in each publisher's calendar, and no DST quirk of local midnight can make it touch a neighbour.
    """
    grouped: dict[tuple[datetime, datetime], set[str]] = defaultdict(set)
    for mark in marks:
        # Both ends of the hour: with a half-hour offset an hour straddles two local days.
        for instant in (mark.hour_start, mark.hour_start + timedelta(minutes=59, seconds=59)):
            start, end = local_bucket(instant, mark.timezone, granularity)
            middle = (start + (end - start) / 2).replace(minute=0, second=0, microsecond=0)
            # Another calendar with the same middle hour shares the window: the hour lies in a stale
            # bucket of theirs too, so the union recomputes only stale buckets.
            grouped[(middle, middle + timedelta(hours=1))].add(mark.publisher_id)
    return {window: sorted(publishers) for window, publishers in sorted(grouped.items())}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def aggregated_marks(connection: Connection, limit: int = MAX_MARKS_PER_RUN) -> list[Mark]:
    """The marks of already aggregated days, oldest hours of each publisher first."""
    sql = _AGGREGATED_MARKS_PG if connection.dialect.name == "postgresql" else _AGGREGATED_MARKS_SQLITE
    rows = connection.execute(text(sql).columns(**_MARK_COLUMNS), {"limit": limit})
    return [Mark(row.publisher_id, _utc(row.hour_start), row.revision, row.timezone) for row in rows]


def delete_marks(connection: Connection, marks: Sequence[Mark]) -> None:
    """Delete the marks as read: one whose revision moved on since (a newer load) stays."""
    if marks:
        connection.execute(
            _DELETE_READ, [{"p": mark.publisher_id, "h": mark.hour_start, "r": mark.revision} for mark in marks]
        )


def reaggregate_stale(connection: Connection, limit: int = MAX_MARKS_PER_RUN) -> RunResult:
    """Recompute the buckets of every stale hour of an aggregated day and clear those marks.

    Run it inside a transaction (`engine.begin()`): the marks are deleted in the same one as
    the rollups they caused are written.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text(_LOCK_PG), {"lock": ADVISORY_LOCK})
    marks = aggregated_marks(connection, limit)
    result = RunResult(marks=len(marks), more=len(marks) >= limit)
    if not marks:
        return result
    for granularity in GRANULARITIES:
        windows = hour_windows(marks) if granularity == "hour" else bucket_windows(marks, granularity)
        result.rows[granularity] = sum(
            rollups.aggregate_window(connection, granularity, start, end, publishers)
            for (start, end), publishers in windows.items()
        )
    hours: dict[str, list[datetime]] = defaultdict(list)
    for mark in marks:
        hours[mark.publisher_id].append(mark.hour_start)
    result.windows = {publisher: merge_windows(starts, timedelta(0)) for publisher, starts in hours.items()}
    delete_marks(connection, marks)
    return result


def metric_periods(connection: Connection, windows: dict[str, list[tuple[datetime, datetime]]]) -> list[dict[str, str]]:
    """The stored metrics (type, publisher, hour or day) that overlap the recomputed windows.

    They were computed before the late rows arrived; the re-aggregation sends them again.
    """
    if not windows:
        return []
    first = min(start for ranges in windows.values() for start, _ in ranges)
    last = max(end for ranges in windows.values() for _, end in ranges)
    rows = connection.execute(
        select(
            PublisherMetric.metric_type,
            PublisherMetric.granularity,
            PublisherMetric.period_start,
            PublisherMetric.publisher_id,
        ).where(
            PublisherMetric.publisher_id.in_(sorted(windows)),
            PublisherMetric.period_start > first - timedelta(days=1),
            PublisherMetric.period_start < last,
        )
    )
    zones = dict(
        # `.all()`: dict() reads a Result as a mapping (it has keys()) and fails; its rows are pairs.
        connection.execute(select(Publisher.id, Publisher.timezone).where(Publisher.id.in_(sorted(windows)))).all()
    )
    periods = []
    for metric_type, granularity, period_start, publisher_id in rows:
        start = _utc(period_start)
        # A day's metrics start at the UTC instant of the publisher's local midnight: its label is the local date,
        # its length 23, 24 or 25 hours.
        zone = ZoneInfo(zones.get(publisher_id) or "UTC")
        local_day = start.astimezone(zone).date()
        stop = (
            start + timedelta(hours=1)
            if granularity == "hour"
            else datetime.combine(local_day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
        )
        if any(start < end and window_start < stop for window_start, end in windows[publisher_id]):
            period = start.strftime("%Y-%m-%dT%H") if granularity == "hour" else local_day.isoformat()
            periods.append({"publisher_id": publisher_id, "metric_type": metric_type, "period": period})
    return sorted(periods, key=lambda item: (item["publisher_id"], item["period"], item["metric_type"]))
