"""A publisher's figures for a daily, weekly or monthly report, straight from the raw events.

A period is the day, the ISO week (Monday to Sunday) or the calendar month that holds the
report's date, in the publisher's own calendar (`publishers.timezone`; UTC without a row, and
on SQLite); the previous period is the one just before it, for the change column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from db.publishers import calendar_of

ReportType = Literal["daily", "weekly", "monthly"]
TOTALS = ("ad_requests", "impressions", "clicks", "revenue")
RATIOS = ("ctr", "fill_rate", "ecpm")
#: Ad units listed in a report.
TOP_AD_UNITS = 10


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return self.bounds_in("UTC")

    def bounds_in(self, tz: str) -> tuple[datetime, datetime]:
        """[start, end) UTC instants of the period in the calendar of `tz` (DST days: 23 or 25 hours)."""
        zone = ZoneInfo(tz)
        return (
            datetime.combine(self.start, time.min, tzinfo=zone).astimezone(UTC),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC),
        )


def period_of(report_type: ReportType, day: date) -> Period:
    if report_type == "daily":
        return Period(day, day)
    if report_type == "weekly":
        start = day - timedelta(days=day.weekday())
        return Period(start, start + timedelta(days=6))
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return Period(start, end)


def previous_period(report_type: ReportType, period: Period) -> Period:
    return period_of(report_type, period.start - timedelta(days=1))


_TOTALS_SQL = text(
    """
    SELECT coalesce(sum(ad_requests), 0) AS ad_requests, coalesce(sum(impressions), 0) AS impressions,
           coalesce(sum(clicks), 0) AS clicks, coalesce(sum(revenue), 0) AS revenue
    FROM ad_events WHERE publisher_id = :publisher AND ts >= :start AND ts < :end
    """
)
_UNITS_SQL = text(
    """
    SELECT ad_unit_id, sum(ad_requests) AS ad_requests, sum(impressions) AS impressions,
           sum(clicks) AS clicks, sum(revenue) AS revenue
    FROM ad_events WHERE publisher_id = :publisher AND ts >= :start AND ts < :end
    GROUP BY ad_unit_id ORDER BY sum(revenue) DESC, ad_unit_id LIMIT :top
    """
)


def with_ratios(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {name: int(row[name]) for name in TOTALS[:3]}
    out["revenue"] = round(float(row["revenue"]), 6)
    impressions, requests = out["impressions"], out["ad_requests"]
    out["ctr"] = out["clicks"] / impressions if impressions else None
    out["fill_rate"] = impressions / requests if requests else None
    out["ecpm"] = out["revenue"] * 1000 / impressions if impressions else None
    return out


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change in percent; None when there is nothing to compare with."""
    if current is None or not previous:
        return None
    return round((current - previous) * 100 / previous, 2)


def compute_report(connection: Connection, publisher_id: str, report_type: ReportType, day: date) -> dict[str, Any]:
    period = period_of(report_type, day)
    before = previous_period(report_type, period)
    tz = calendar_of(connection, publisher_id)

    def totals(span: Period) -> dict[str, Any]:
        start, end = span.bounds_in(tz)
        row = connection.execute(_TOTALS_SQL, {"publisher": publisher_id, "start": start, "end": end}).mappings().one()
        return with_ratios(dict(row))

    current, previous = totals(period), totals(before)
    start, end = period.bounds_in(tz)
    units = connection.execute(
        _UNITS_SQL, {"publisher": publisher_id, "start": start, "end": end, "top": TOP_AD_UNITS}
    ).mappings()
    return {
        "publisher_id": publisher_id,
        "report_type": report_type,
        "timezone": tz,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "previous_start": before.start.isoformat(),
        "previous_end": before.end.isoformat(),
        "totals": current,
        "previous": previous,
        "change_pct": {name: change(current[name], previous[name]) for name in (*TOTALS, *RATIOS)},
        "top_ad_units": [{"ad_unit_id": row["ad_unit_id"], **with_ratios(dict(row))} for row in units],
    }
