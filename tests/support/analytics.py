"""Independent computations of the analytics tables, in pandas over the raw rows, for comparison."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from db.engine import get_engine


def event_frame() -> pd.DataFrame:
    """Every raw event, with UTC timestamps and float revenue."""
    with get_engine().connect() as connection:
        frame = pd.read_sql(text("SELECT * FROM ad_events"), connection)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["revenue"] = frame["revenue"].astype(float)
    return frame


def expected_rollups(frame: pd.DataFrame, granularity: str) -> pd.DataFrame:
    ts = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    buckets = {
        "hour": ts.dt.floor("h"),
        "day": ts.dt.floor("D"),
        "week": (ts.dt.floor("D") - pd.to_timedelta(ts.dt.day_of_week, unit="D")),
        "month": ts.dt.to_period("M").dt.start_time,
    }[granularity]
    grouped = (
        frame.assign(bucket_start=buckets)
        .groupby(["bucket_start", "publisher_id", "ad_unit_id"], as_index=False)[
            ["ad_requests", "impressions", "clicks", "revenue"]
        ]
        .sum()
    )
    grouped["ctr"] = grouped["clicks"] / grouped["impressions"]
    grouped["fill_rate"] = grouped["impressions"] / grouped["ad_requests"]
    grouped["ecpm"] = grouped["revenue"] * 1000 / grouped["impressions"]
    return grouped.sort_values(["bucket_start", "publisher_id", "ad_unit_id"]).reset_index(drop=True)


def stored_rollups(granularity: str) -> pd.DataFrame:
    with get_engine().connect() as connection:
        frame = pd.read_sql(
            text(
                "SELECT bucket_start, publisher_id, ad_unit_id, ad_requests, impressions, clicks, revenue,"
                " ctr, fill_rate, ecpm FROM analytics_rollups WHERE granularity = :g"
            ),
            connection,
            params={"g": granularity},
        )
    frame["bucket_start"] = pd.to_datetime(frame["bucket_start"], utc=True).dt.tz_localize(None)
    frame["revenue"] = frame["revenue"].astype(float)
    return frame.sort_values(["bucket_start", "publisher_id", "ad_unit_id"]).reset_index(drop=True)
