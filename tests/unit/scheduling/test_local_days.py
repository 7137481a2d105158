"""When each time zone's daily run is due: its local midnight plus DAILY_RUN_DELAY (pure calendar logic)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from scheduling.local_days import days_due, runs_due

HOUR = timedelta(hours=1)


def test_the_daily_tick_plans_each_zones_previous_day_at_its_own_midnight_plus_the_delay():
    # Given the 01:00 UTC tick of 2026-11-11 and the default one-hour delay
    tick = datetime(2026, 11, 11, 1, tzinfo=UTC)
    runs = runs_due(["UTC", "America/New_York", "America/Toronto", "Asia/Tokyo"], tick, tick + timedelta(days=1), HOUR)

    # Then UTC's 10 November runs at the tick, New York's and Toronto's (EST) together at 06:00 UTC,
    # and Tokyo's 11 November at 16:00 UTC (its midnight, 15:00 UTC, plus the hour)
    assert runs == {
        (date(2026, 11, 10), tick): ["UTC"],
        (date(2026, 11, 10), datetime(2026, 11, 11, 6, tzinfo=UTC)): ["America/New_York", "America/Toronto"],
        (date(2026, 11, 11), datetime(2026, 11, 11, 16, tzinfo=UTC)): ["Asia/Tokyo"],
    }


def test_every_new_york_day_across_both_dst_changes_is_planned_by_exactly_one_tick():
    # Given a daily tick at 01:00 UTC from late February to mid November 2026
    first_tick = datetime(2026, 2, 20, 1, tzinfo=UTC)
    planned: list[tuple[date, datetime]] = []
    for offset in range(270):
        tick = first_tick + timedelta(days=offset)
        planned.extend(days_due("America/New_York", tick, tick + timedelta(days=1), HOUR))

    # Then every local day is planned once, in order, an hour after it ends (05:00 UTC in winter, 04:00 in summer)
    days = [day for day, _ in planned]
    assert days == [days[0] + timedelta(days=n) for n in range(len(days))]
    due = dict(planned)
    assert due[date(2026, 3, 7)] == datetime(2026, 3, 8, 6, tzinfo=UTC)
    assert due[date(2026, 3, 8)] == datetime(2026, 3, 9, 5, tzinfo=UTC)  # the 23-hour day
    assert due[date(2026, 10, 31)] == datetime(2026, 11, 1, 5, tzinfo=UTC)
    assert due[date(2026, 11, 1)] == datetime(2026, 11, 2, 6, tzinfo=UTC)  # the 25-hour day
