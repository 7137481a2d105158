"""Performance, revenue and quality metrics per publisher and period (an hour or a day).

The totals are summed by the database over the raw events of the period (one `GROUP BY`
per publisher and ad unit), or read from the period's rollups, which hold the same sums; the
ratios are derived from the totals here, so PostgreSQL and the embedded SQLite give the same
values. One row per (metric type, granularity, period,
publisher), upserted: a job run twice leaves the same rows.

Periods: an hour is a UTC hour for everyone; a day is the publisher's local day
(`publishers.timezone`, UTC without a row; UTC for all on SQLite), and its `period_start` is
the UTC instant that local day starts, as `analytics_rollups.bucket_start`. A job covers every
publisher with events in the period (registered or not), or the ones named, or those whose
calendar is one of `timezones`: one statement for all of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import BindParameter, Connection, Date, DateTime, and_, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import String

from db.models import AdEvent, PublisherMetric
from errors import InvalidInput

MetricType = Literal["performance", "revenue", "quality"]
#: Where the totals come from: the raw events, or the rollups of the same period (the daily pipeline,
#: whose aggregation stage has just written them).
TotalsSource = Literal["events", "rollups"]
METRIC_TYPES: tuple[MetricType, ...] = ("performance", "revenue", "quality")

#: An ad unit whose click-through rate is above this is counted as suspicious in quality metrics.
SUSPICIOUS_CTR = 0.2


class InvalidPeriod(InvalidInput):
    """Raised for a period that is neither `YYYY-MM-DDTHH` nor `YYYY-MM-DD`."""


#: A day's totals per publisher and ad unit over each publisher's local day (PostgreSQL).
_LOCAL_DAY_TOTALS = """
WITH zones AS (
    SELECT tz, CAST(:day AS timestamp) AT TIME ZONE tz AS first,
        (CAST(:day AS timestamp) + interval '1 day') AT TIME ZONE tz AS last
    FROM (SELECT DISTINCT timezone AS tz FROM publishers UNION SELECT 'UTC') AS names
)
SELECT e.publisher_id, z.first AS period_start, e.ad_unit_id,
    sum(e.ad_requests) AS ad_requests, sum(e.impressions) AS impressions,
    sum(e.clicks) AS clicks, sum(e.revenue) AS revenue
FROM ad_events AS e
LEFT JOIN publishers AS p ON p.id = e.publisher_id
JOIN zones AS z ON z.tz = coalesce(p.timezone, 'UTC')
WHERE e.ts >= :lo AND e.ts < :hi AND e.ts >= z.first AND e.ts < z.last {filters}
GROUP BY e.publisher_id, z.first, e.ad_unit_id
"""
#: An hour's totals: UTC hours for everyone, so the zone matters only for the filter (PostgreSQL).
_HOUR_TOTALS = """
SELECT e.publisher_id, CAST(:lo AS timestamptz) AS period_start, e.ad_unit_id,
    sum(e.ad_requests) AS ad_requests, sum(e.impressions) AS impressions,
    sum(e.clicks) AS clicks, sum(e.revenue) AS revenue
FROM ad_events AS e
LEFT JOIN publishers AS p ON p.id = e.publisher_id
WHERE e.ts >= :lo AND e.ts < :hi {filters}
GROUP BY e.publisher_id, e.ad_unit_id
"""
#: The same totals read from the rollups the aggregation wrote (one row per publisher and ad unit already).
_LOCAL_DAY_ROLLUPS = """
SELECT e.publisher_id, e.bucket_start AS period_start, e.ad_unit_id,
    e.ad_requests, e.impressions, e.clicks, e.revenue
FROM analytics_rollups AS e
LEFT JOIN publishers AS p ON p.id = e.publisher_id
WHERE e.granularity = 'day' AND e.bucket_start >= :lo AND e.bucket_start < :hi
  AND e.bucket_start = CAST(:day AS timestamp) AT TIME ZONE coalesce(p.timezone, 'UTC') {filters}
"""
_HOUR_ROLLUPS = """
SELECT e.publisher_id, e.bucket_start AS period_start, e.ad_unit_id,
    e.ad_requests, e.impressions, e.clicks, e.revenue
FROM analytics_rollups AS e
LEFT JOIN publishers AS p ON p.id = e.publisher_id
WHERE e.granularity = 'hour' AND e.bucket_start = :lo AND e.bucket_start < :hi {filters}
"""
_FILTERS = {
    (False, False): "",
    (True, False): " AND e.publisher_id = ANY(:publisher_ids)",
    (False, True): " AND coalesce(p.timezone, 'UTC') = ANY(:timezones)",
    (True, True): " AND e.publisher_id = ANY(:publisher_ids) AND coalesce(p.timezone, 'UTC') = ANY(:timezones)",
}
_TOTALS = {
    ("events", "hour"): _HOUR_TOTALS,
    ("events", "day"): _LOCAL_DAY_TOTALS,
    ("rollups", "hour"): _HOUR_ROLLUPS,
    ("rollups", "day"): _LOCAL_DAY_ROLLUPS,
}
#: (source, granularity, publishers named, time zones named) → statement.
TOTALS_PG = {
    (*source_and_granularity, *key): statement.format(filters=filters)
    for source_and_granularity, statement in _TOTALS.items()
    for key, filters in _FILTERS.items()
}
#: A day's stored metrics, each matched at its publisher's local midnight (PostgreSQL).
READ_DAY_PG = """
SELECT m.publisher_id, m."values", m.computed_at
FROM publisher_metrics AS m LEFT JOIN publishers AS p ON p.id = m.publisher_id
WHERE m.metric_type = :metric_type AND m.granularity = 'day'
  AND m.period_start = CAST(:day AS timestamp) AT TIME ZONE coalesce(p.timezone, 'UTC')
  AND m.period_start > :lo AND m.period_start < :hi
  AND (CAST(:publisher_id AS varchar) IS NULL OR m.publisher_id = CAST(:publisher_id AS varchar))
ORDER BY m.publisher_id
"""


def parse_period(period: str) -> tuple[str, datetime, datetime]:
    """`2026-11-10T13` → ("hour", start, end); `2026-11-10` → ("day", start, end), in UTC."""
    for granularity, layout, length in (
        ("hour", "%Y-%m-%dT%H", timedelta(hours=1)),
        ("day", "%Y-%m-%d", timedelta(days=1)),
    ):
        try:
            start = datetime.strptime(period, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
        return granularity, start, start + length
    raise InvalidPeriod(f"period {period!r} is neither an hour (YYYY-MM-DDTHH) nor a day (YYYY-MM-DD)")


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float | None:
    return numerator * scale / denominator if denominator else None


def derive(metric_type: MetricType, units: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A publisher's metric values from the totals of each of its ad units over the period."""
    units = list(units)
    requests = sum(unit["ad_requests"] for unit in units)
    impressions = sum(unit["impressions"] for unit in units)
    clicks = sum(unit["clicks"] for unit in units)
    revenue = sum(float(unit["revenue"]) for unit in units)
    if metric_type == "performance":
        return {
            "ad_requests": requests,
            "impressions": impressions,
            "clicks": clicks,
            "ctr": _ratio(clicks, impressions),
            "fill_rate": _ratio(impressions, requests),
        }
    if metric_type == "revenue":
        best = max(units, key=lambda unit: float(unit["revenue"]), default=None)
        return {
            "revenue": revenue,
            "ecpm": _ratio(revenue, impressions, 1000),
            "rpm": _ratio(revenue, requests, 1000),
            "top_ad_unit": best["ad_unit_id"] if best else None,
        }
    return {
        "unfilled_requests": requests - impressions,
        "unfilled_rate": _ratio(requests - impressions, requests),
        "ad_units": len(units),
        "ad_units_without_impressions": sum(1 for unit in units if unit["impressions"] == 0),
        "suspicious_ctr_units": sum(
            1 for unit in units if unit["impressions"] and unit["clicks"] / unit["impressions"] > SUSPICIOUS_CTR
        ),
    }


def _totals_pg(
    connection: Connection,
    source: TotalsSource,
    granularity: str,
    start: datetime,
    end: datetime,
    publisher_ids: Sequence[str] | None,
    timezones: Sequence[str] | None,
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"lo": start, "hi": end}
    binds: list[BindParameter[Any]] = [
        bindparam("lo", type_=DateTime(timezone=True)),
        bindparam("hi", type_=DateTime(timezone=True)),
    ]
    if granularity == "day":
        # Every local day that starts within a day of the UTC one (offsets from -12 to +14 hours).
        params.update(day=start.date(), lo=start - timedelta(days=1), hi=end + timedelta(days=1))
        binds.append(bindparam("day", type_=Date()))
    for name, values in (("publisher_ids", publisher_ids), ("timezones", timezones)):
        if values is not None:
            params[name] = list(values)
            binds.append(bindparam(name, type_=postgresql.ARRAY(String())))
    key = (source, granularity, publisher_ids is not None, timezones is not None)
    return [dict(row) for row in connection.execute(text(TOTALS_PG[key]).bindparams(*binds), params).mappings()]


def _totals_sqlite(
    connection: Connection, start: datetime, end: datetime, publisher_ids: Sequence[str] | None
) -> list[dict[str, Any]]:
    query = (
        select(
            AdEvent.publisher_id,
            AdEvent.ad_unit_id,
            func.sum(AdEvent.ad_requests).label("ad_requests"),
            func.sum(AdEvent.impressions).label("impressions"),
            func.sum(AdEvent.clicks).label("clicks"),
            func.sum(AdEvent.revenue).label("revenue"),
        )
        .where(and_(AdEvent.ts >= start, AdEvent.ts < end))
        .group_by(AdEvent.publisher_id, AdEvent.ad_unit_id)
    )
    if publisher_ids is not None:
        query = query.where(AdEvent.publisher_id.in_(list(publisher_ids)))
    return [{**row, "period_start": start} for row in connection.execute(query).mappings()]


def compute_metrics(
    connection: Connection,
    metric_type: MetricType | Sequence[MetricType],
    period: str,
    publisher_id: str | None = None,
    *,
    publisher_ids: Sequence[str] | None = None,
    timezones: Sequence[str] | None = None,
    source: TotalsSource = "events",
) -> int:
    """Compute and upsert one metric type (or several, from one read of the totals) for a period.

    `source="rollups"` reads the period's hour or day rollups instead of the raw events (the same
    totals when the rollups are up to date; on SQLite the events are read). Returns the number of
    publishers written.
    """
    metric_types: Sequence[MetricType] = (metric_type,) if isinstance(metric_type, str) else metric_type
    granularity, start, end = parse_period(period)
    if publisher_id is not None:
        publisher_ids = [publisher_id]
    if (
        not metric_types
        or (publisher_ids is not None and not publisher_ids)
        or (timezones is not None and not timezones)
    ):
        return 0
    if connection.dialect.name == "postgresql":
        totals = _totals_pg(connection, source, granularity, start, end, publisher_ids, timezones)
    elif timezones is not None and "UTC" not in timezones:
        totals = []  # SQLite: every calendar is UTC
    else:
        totals = _totals_sqlite(connection, start, end, publisher_ids)
    by_publisher: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for row in totals:
        by_publisher[(row["publisher_id"], row["period_start"])].append(row)
    if not by_publisher:
        return 0
    now = datetime.now(UTC)
    rows = [
        {
            "metric_type": kind,
            "granularity": granularity,
            "period_start": period_start,
            "publisher_id": publisher,
            "values": derive(kind, units),
            "computed_at": now,
        }
        for kind in dict.fromkeys(metric_types)
        for (publisher, period_start), units in sorted(by_publisher.items())
    ]
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(PublisherMetric)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["metric_type", "granularity", "period_start", "publisher_id"],
            set_={"values": statement.excluded["values"], "computed_at": statement.excluded.computed_at},
        ),
        rows,
    )
    return len(by_publisher)


def read_metrics(
    connection: Connection, metric_type: MetricType, period: str, publisher_id: str | None = None
) -> list[dict[str, Any]]:
    granularity, start, _ = parse_period(period)
    if granularity == "day" and connection.dialect.name == "postgresql":
        statement = text(READ_DAY_PG).bindparams(
            bindparam("day", type_=Date()),
            bindparam("lo", type_=DateTime(timezone=True)),
            bindparam("hi", type_=DateTime(timezone=True)),
        )
        params = {
            "metric_type": metric_type,
            "day": start.date(),
            "lo": start - timedelta(days=1),
            "hi": start + timedelta(days=1),
            "publisher_id": publisher_id,
        }
        return [dict(row) for row in connection.execute(statement, params).mappings()]
    query = select(PublisherMetric.publisher_id, PublisherMetric.values, PublisherMetric.computed_at).where(
        PublisherMetric.metric_type == metric_type,
        PublisherMetric.granularity == granularity,
        PublisherMetric.period_start == start,
    )
    if publisher_id is not None:
        query = query.where(PublisherMetric.publisher_id == publisher_id)
    return [dict(row) for row in connection.execute(query.order_by(PublisherMetric.publisher_id)).mappings()]
