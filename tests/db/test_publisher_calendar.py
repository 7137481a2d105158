"""Publisher time zones: day / week / month rollups follow the publisher's local calendar, hours stay UTC.

Expected values are pandas over the raw rows (`tz_convert` to the publisher's zone, floor,
back to UTC), never the code under test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db.engine import get_engine
from db.publishers import InvalidTimezone, validate_timezone
from db.rollups import GRANULARITIES, aggregate_days, aggregate_window
from tests.support.analytics import event_frame, stored_rollups

NEW_YORK = "America/New_York"
ZONES = {"pub-ny": NEW_YORK, "pub-utc": "UTC", "pub-tokyo": "Asia/Tokyo"}
#: Both 2026 DST changes in New York, with a few days either side.
SPANS = ((datetime(2026, 3, 5, tzinfo=UTC), 6), (datetime(2026, 10, 29, tzinfo=UTC), 6))

INSERT_EVENT = text(
    "INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)"
    " VALUES (:ts, :publisher_id, :ad_unit_id, 'US', 'mobile', :ad_requests, :impressions, :clicks, :revenue)"
)


@pytest.fixture
def events() -> pd.DataFrame:
    """Given a New York, a UTC and a Tokyo publisher with an event every 20 minutes around both DST changes."""
    rng = np.random.default_rng(7)
    rows = []
    for first, days in SPANS:
        for step in range(days * 24 * 3):
            ts = first + timedelta(minutes=20 * step)
            for publisher in ZONES:
                requests = int(rng.integers(10, 100))
                impressions = int(requests * rng.uniform(0.5, 0.95))
                rows.append(
                    {
                        "ts": ts,
                        "publisher_id": publisher,
                        "ad_unit_id": f"{publisher}-unit-{step % 2}",
                        "ad_requests": requests,
                        "impressions": impressions,
                        "clicks": int(impressions * rng.uniform(0, 0.05)),
                        "revenue": round(float(rng.uniform(0, 2)), 6),
                    }
                )
    with get_engine().begin() as connection:
        for publisher, tz in ZONES.items():
            connection.execute(
                text("INSERT INTO publishers (id, name, timezone) VALUES (:id, :id, :tz)"), {"id": publisher, "tz": tz}
            )
        connection.execute(INSERT_EVENT, rows)
    return event_frame()


def expected_local_rollups(frame: pd.DataFrame, granularity: str) -> pd.DataFrame:
    """pandas: each row's bucket in its publisher's calendar (hours: UTC), as the UTC instant it starts."""
    parts = []
    for publisher, rows in frame.groupby("publisher_id"):
        tz = "UTC" if granularity == "hour" else ZONES[publisher]
        local = rows["ts"].dt.tz_convert(tz).dt.tz_localize(None)
        if granularity == "hour":
            start = local.dt.floor("h")
        elif granularity == "day":
            start = local.dt.floor("D")
        elif granularity == "week":
            start = local.dt.floor("D") - pd.to_timedelta(local.dt.day_of_week, unit="D")
        else:
            start = local.dt.to_period("M").dt.start_time
        parts.append(rows.assign(bucket_start=start.dt.tz_localize(tz).dt.tz_convert("UTC").dt.tz_localize(None)))
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


def aggregate_everything() -> None:
    with get_engine().begin() as connection:
        for first, days in SPANS:
            for granularity in GRANULARITIES:
                aggregate_window(connection, granularity, first, first + timedelta(days=days))


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_rollups_follow_each_publishers_calendar_across_both_dst_changes(events, granularity):
    # When every granularity is aggregated over windows that cross both New York DST changes
    aggregate_everything()

    # Then each bucket's start and sums equal pandas over the raw rows in the publisher's calendar
    expected = expected_local_rollups(events, granularity)
    actual = stored_rollups(granularity)
    assert len(actual) == len(expected) > 0
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_one_publisher_at_a_time_takes_the_one_zone_statement_and_matches_the_same_figures(events, granularity):
    # When each publisher is aggregated alone (every statement meets one calendar: New York, UTC or Tokyo)
    with get_engine().begin() as connection:
        for first, days in SPANS:
            for publisher in ZONES:
                aggregate_window(connection, granularity, first, first + timedelta(days=days), [publisher])
        # and a zone filter that leaves out the only zone met writes nothing
        first = SPANS[0][0]
        day_after = first + timedelta(days=1)
        assert aggregate_window(connection, granularity, first, day_after, ["pub-ny"], timezones=["UTC"]) == 0

    # Then the rows equal pandas over the raw rows in each publisher's calendar
    expected = expected_local_rollups(events, granularity)
    pd.testing.assert_frame_equal(stored_rollups(granularity), expected, check_dtype=False, rtol=1e-9)


def test_a_new_york_day_is_five_to_five_utc_in_winter_four_to_four_in_summer_and_dst_days_have_23_or_25_hours(
    events,
):
    aggregate_everything()
    starts = sorted(set(stored_rollups("day").query("publisher_id == 'pub-ny'")["bucket_start"]))
    by_day = {start.date(): start for start in starts}

    # Winter (EST) before the March change, summer (EDT) after it, winter again after November's
    assert by_day[date(2026, 3, 7)] == pd.Timestamp("2026-03-07 05:00")
    assert by_day[date(2026, 3, 8)] == pd.Timestamp("2026-03-08 05:00")
    assert by_day[date(2026, 3, 9)] == pd.Timestamp("2026-03-09 04:00")
    assert by_day[date(2026, 11, 1)] == pd.Timestamp("2026-11-01 04:00")
    assert by_day[date(2026, 11, 2)] == pd.Timestamp("2026-11-02 05:00")
    # 2026-03-08 lasts 23 hours, 2026-11-01 lasts 25
    assert by_day[date(2026, 3, 9)] - by_day[date(2026, 3, 8)] == pd.Timedelta(hours=23)
    assert by_day[date(2026, 11, 2)] - by_day[date(2026, 11, 1)] == pd.Timedelta(hours=25)
    # Hours stay UTC hours for every publisher
    hours = stored_rollups("hour")["bucket_start"]
    assert (hours.dt.minute == 0).all() and len(hours.unique()) == sum(days * 24 for _, days in SPANS)


def test_local_days_of_the_daily_pipeline_and_their_freshness(events):
    # When the local day 2026-11-01 (25 hours in New York) is aggregated alone, for every publisher
    with get_engine().begin() as connection:
        written = aggregate_days(connection, "day", date(2026, 11, 1), date(2026, 11, 1))

    # Then each publisher's row covers exactly its own local day
    local_day = {
        publisher: events[
            (events["publisher_id"] == publisher) & (events["ts"].dt.tz_convert(tz).dt.date == date(2026, 11, 1))
        ]
        for publisher, tz in ZONES.items()
    }
    actual = stored_rollups("day")
    assert written == len(actual) == sum(frame["ad_unit_id"].nunique() for frame in local_day.values())
    for publisher, frame in local_day.items():
        revenue = actual[actual["publisher_id"] == publisher]["revenue"].sum()
        assert revenue == pytest.approx(frame["revenue"].sum(), rel=1e-9)
    # And rollup_freshness says those local days were brought up to date
    with get_engine().connect() as connection:
        fresh = connection.execute(text("SELECT publisher_id, day FROM rollup_freshness ORDER BY 1")).all()
    assert [tuple(row) for row in fresh] == [(publisher, date(2026, 11, 1)) for publisher in sorted(ZONES)]


def test_a_time_zone_that_is_not_an_iana_name_is_refused_by_the_app_and_the_database():
    assert validate_timezone(NEW_YORK) == NEW_YORK
    for bad in ("Mars/Olympus_Mons", "UTC+3", "", "new york"):
        with pytest.raises(InvalidTimezone, match="not an IANA time zone"):
            validate_timezone(bad)
    for bad in ("Mars/Olympus_Mons", "UTC+3"):
        with pytest.raises(IntegrityError, match="ck_publishers_timezone"), get_engine().begin() as connection:
            connection.execute(
                text("INSERT INTO publishers (id, name, timezone) VALUES ('pub-x', 'x', :tz)"), {"tz": bad}
            )
    with get_engine().begin() as connection:
        connection.execute(text("INSERT INTO publishers (id, name) VALUES ('pub-default', 'd')"))
        row = connection.execute(text("SELECT timezone, tier FROM publishers WHERE id = 'pub-default'")).one()
    assert tuple(row) == ("UTC", "standard")
