"""Late-event test helpers: raw rows in, and rollups computed independently in each publisher's calendar."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
from sqlalchemy import text

from db.engine import get_engine

COLUMNS = ("ts", "publisher_id", "ad_unit_id", "country", "device", "ad_requests", "impressions", "clicks", "revenue")
_INSERT = (
    "INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)"
    " VALUES (:ts, :publisher_id, :ad_unit_id, :country, :device, :ad_requests, :impressions, :clicks, :revenue)"
)


def event(ts: datetime, publisher: str, unit: str = "unit-1", requests: int = 10, impressions: int = 8,
          clicks: int = 1, revenue: float = 0.25) -> dict[str, object]:  # fmt: skip
    return {
        "ts": ts,
        "publisher_id": publisher,
        "ad_unit_id": unit,
        "country": "US",
        "device": "mobile",
        "ad_requests": requests,
        "impressions": impressions,
        "clicks": clicks,
        "revenue": revenue,
    }


def insert_events(rows: Iterable[dict[str, object]]) -> None:
    """One multi-row INSERT statement (the trigger fires once for it)."""
    with get_engine().begin() as connection:
        connection.execute(text(_INSERT), list(rows))


def raw_events() -> pd.DataFrame:
    """Every raw event with its publisher's time zone (UTC for a publisher not registered)."""
    with get_engine().connect() as connection:
        frame = pd.read_sql(
            text(
                "SELECT e.*, coalesce(p.timezone, 'UTC') AS tz FROM ad_events e"
                " LEFT JOIN publishers p ON p.id = e.publisher_id"
            ),
            connection,
        )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["revenue"] = frame["revenue"].astype(float)
    return frame


def local_rollups(frame: pd.DataFrame, granularity: str) -> pd.DataFrame:
    """Rollups with hours in UTC and days / ISO weeks / months in each publisher's local calendar."""
    parts = []
    for tz, group in frame.groupby("tz"):
        if granularity == "hour":
            start = group["ts"].dt.floor("h").dt.tz_localize(None)
        else:
            local = group["ts"].dt.tz_convert(tz).dt.tz_localize(None)
            day = local.dt.normalize()
            naive = {
                "day": day,
                "week": day - pd.to_timedelta(local.dt.day_of_week, unit="D"),
                "month": local.dt.to_period("M").dt.start_time,
            }[granularity]
            start = naive.dt.tz_localize(tz).dt.tz_convert("UTC").dt.tz_localize(None)
        parts.append(group.assign(bucket_start=start))
    grouped = (
        pd.concat(parts)
        .groupby(["bucket_start", "publisher_id", "ad_unit_id"], as_index=False)[
            ["ad_requests", "impressions", "clicks", "revenue"]
        ]
        .sum()
    )
    grouped["ctr"] = grouped["clicks"] / grouped["impressions"]
    grouped["fill_rate"] = grouped["impressions"] / grouped["ad_requests"]
    grouped["ecpm"] = grouped["revenue"] * 1000 / grouped["impressions"]
    return grouped.sort_values(["bucket_start", "publisher_id", "ad_unit_id"]).reset_index(drop=True)


def stale_marks() -> set[tuple[str, datetime]]:
    with get_engine().connect() as connection:
        rows = connection.execute(text("SELECT publisher_id, hour_start FROM stale_hours"))
        return {(publisher, pd.Timestamp(hour).tz_convert("UTC").to_pydatetime()) for publisher, hour in rows}


def expected_marks(frame: pd.DataFrame) -> set[tuple[str, datetime]]:
    hours = frame.assign(hour=frame["ts"].dt.floor("h"))[["publisher_id", "hour"]].drop_duplicates()
    return {(row.publisher_id, row.hour.to_pydatetime()) for row in hours.itertuples()}
