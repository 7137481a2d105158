"""Rollups of raw ad events: one `INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE` per job.

Ranges are widened to whole buckets (a week from its Monday, a month from its first day), so
a rollup row always covers its whole bucket and rerunning any overlapping job writes the same
values. On PostgreSQL the statement raises `work_mem` for its transaction (the 30-day upsert
spills to disk at the default 4 MB) and skips rows whose totals did not change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import Connection, DateTime, bindparam, text

Granularity = Literal["hour", "day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("hour", "day", "week", "month")

#: work_mem for the aggregation's transaction on PostgreSQL.
AGGREGATION_WORK_MEM = "256MB"

_SQLITE_BUCKET = {
    "hour": "strftime('%Y-%m-%d %H:00:00.000000', ts)",
    "day": "strftime('%Y-%m-%d 00:00:00.000000', ts)",
    "week": "strftime('%Y-%m-%d 00:00:00.000000', ts, 'weekday 0', '-6 days')",
    "month": "strftime('%Y-%m-01 00:00:00.000000', ts)",
}

_RATIOS_PG = """
    sum(clicks)::float8 / nullif(sum(impressions), 0),
    sum(impressions)::float8 / nullif(sum(ad_requests), 0),
    sum(revenue)::float8 * 1000 / nullif(sum(impressions), 0)"""
_RATIOS_SQLITE = """
    CAST(sum(clicks) AS REAL) / nullif(sum(impressions), 0),
    CAST(sum(impressions) AS REAL) / nullif(sum(ad_requests), 0),
    CAST(sum(revenue) AS REAL) * 1000 / nullif(sum(impressions), 0)"""

_UPSERT = """
INSERT INTO analytics_rollups (granularity, bucket_start, publisher_id, ad_unit_id,
    ad_requests, impressions, clicks, revenue, ctr, fill_rate, ecpm, updated_at)
SELECT :granularity, {bucket} AS bucket, publisher_id, ad_unit_id,
    sum(ad_requests), sum(impressions), sum(clicks), sum(revenue),{ratios},
    CURRENT_TIMESTAMP
FROM ad_events
WHERE ts >= :start AND ts < :end {publisher_filter}
GROUP BY {bucket}, publisher_id, ad_unit_id
ON CONFLICT (granularity, bucket_start, publisher_id, ad_unit_id) DO UPDATE SET
    ad_requests = excluded.ad_requests,
    impressions = excluded.impressions,
    clicks = excluded.clicks,
    revenue = excluded.revenue,
    ctr = excluded.ctr,
    fill_rate = excluded.fill_rate,
    ecpm = excluded.ecpm,
    updated_at = CURRENT_TIMESTAMP
{guard}
"""

_GUARD_PG = """WHERE (analytics_rollups.ad_requests, analytics_rollups.impressions,
       analytics_rollups.clicks, analytics_rollups.revenue)
    IS DISTINCT FROM (excluded.ad_requests, excluded.impressions, excluded.clicks, excluded.revenue)"""


def bucket_range(granularity: Granularity, start: date, end: date) -> tuple[datetime, datetime]:
    """[first, last) instants covering whole buckets from `start` to `end` (inclusive days), UTC."""
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    if granularity == "week":
        start = start - timedelta(days=start.weekday())
        end = end + timedelta(days=6 - end.weekday())
    elif granularity == "month":
        start = start.replace(day=1)
        end = (end.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def upsert_sql(dialect: str, granularity: Granularity, *, by_publisher: bool) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity {granularity!r}")
    postgres = dialect == "postgresql"
    bucket = (
        f"(date_trunc('{granularity}', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        if postgres
        else _SQLITE_BUCKET[granularity]
    )
    return _UPSERT.format(
        bucket=bucket,
        ratios=_RATIOS_PG if postgres else _RATIOS_SQLITE,
        publisher_filter="AND publisher_id = :publisher_id" if by_publisher else "",
        guard=_GUARD_PG if postgres else "",
    )


def upsert_rollups(
    connection: Connection,
    granularity: Granularity,
    start: date,
    end: date,
    publisher_id: str | None = None,
) -> int:
    """Aggregate raw events of [start, end] into rollups; returns the rows written or changed."""
    first, last = bucket_range(granularity, start, end)
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text(f"SET LOCAL work_mem = '{AGGREGATION_WORK_MEM}'"))
    statement = text(upsert_sql(dialect, granularity, by_publisher=publisher_id is not None)).bindparams(
        bindparam("start", type_=DateTime(timezone=True)),
        bindparam("end", type_=DateTime(timezone=True)),
    )
    params: dict[str, object] = {"granularity": granularity, "start": first, "end": last}
    if publisher_id is not None:
        params["publisher_id"] = publisher_id
    return connection.execute(statement, params).rowcount


def publisher_known(connection: Connection, publisher_id: str) -> bool:
    row = connection.execute(text("SELECT 1 FROM publishers WHERE id = :p"), {"p": publisher_id}).first()
    return row is not None
