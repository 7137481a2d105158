"""Performance, revenue and quality metrics per publisher and period (an hour or a day).

The totals are summed by the database over the raw events of the period (one `GROUP BY`
per publisher and ad unit); the ratios are derived from the totals here, so PostgreSQL and
the embedded SQLite give the same values. One row per (metric type, granularity, period,
publisher), upserted: a job run twice leaves the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from db.models import AdEvent, PublisherMetric

MetricType = Literal["performance", "revenue", "quality"]
METRIC_TYPES: tuple[MetricType, ...] = ("performance", "revenue", "quality")

#: An ad unit whose click-through rate is above this is counted as suspicious in quality metrics.
SUSPICIOUS_CTR = 0.2


class InvalidPeriod(ValueError):
    """Raised for a period that is neither `YYYY-MM-DDTHH` nor `YYYY-MM-DD`."""


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


def compute_metrics(
    connection: Connection, metric_type: MetricType, period: str, publisher_id: str | None = None
) -> int:
    """Compute and upsert one metric type for a period; returns the number of publishers written."""
    granularity, start, end = parse_period(period)
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
    if publisher_id is not None:
        query = query.where(AdEvent.publisher_id == publisher_id)
    by_publisher: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in connection.execute(query).mappings():
        by_publisher[row["publisher_id"]].append(dict(row))
    if not by_publisher:
        return 0
    now = datetime.now(UTC)
    rows = [
        {
            "metric_type": metric_type,
            "granularity": granularity,
            "period_start": start,
            "publisher_id": publisher,
            "values": derive(metric_type, units),
            "computed_at": now,
        }
        for publisher, units in sorted(by_publisher.items())
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
    return len(rows)


def read_metrics(
    connection: Connection, metric_type: MetricType, period: str, publisher_id: str | None = None
) -> list[dict[str, Any]]:
    granularity, start, _ = parse_period(period)
    query = select(PublisherMetric.publisher_id, PublisherMetric.values, PublisherMetric.computed_at).where(
        PublisherMetric.metric_type == metric_type,
        PublisherMetric.granularity == granularity,
        PublisherMetric.period_start == start,
    )
    if publisher_id is not None:
        query = query.where(PublisherMetric.publisher_id == publisher_id)
    return [dict(row) for row in connection.execute(query.order_by(PublisherMetric.publisher_id)).mappings()]
