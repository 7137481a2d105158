"""Tick times in a non-UTC SCHEDULE_TZ across both DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduling.clock import next_runs, ticks_between


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def as_utc(ticks: list[datetime]) -> list[datetime]:
    return [tick.astimezone(UTC) for tick in ticks]


def test_a_daily_1am_schedule_in_berlin_follows_local_time_across_the_autumn_change():
    # Given the daily aggregation at 01:00 Europe/Berlin; DST ends on Sunday 2026-10-25
    ticks = ticks_between("0 1 * * *", "Europe/Berlin", utc(2026, 10, 23, 12), utc(2026, 10, 27, 12))
    # Then it runs at 01:00 local each day: 23:00 UTC in summer time, 00:00 UTC in winter time
    assert as_utc(ticks) == [utc(2026, 10, 23, 23), utc(2026, 10, 24, 23), utc(2026, 10, 26, 0), utc(2026, 10, 27, 0)]


def test_a_fixed_time_in_the_repeated_autumn_hour_runs_once():
    ticks = ticks_between("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), utc(2026, 10, 26, 12))
    assert as_utc(ticks) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_an_hourly_schedule_runs_for_both_real_hours_of_the_autumn_change():
    ticks = ticks_between("0 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 30))
    assert as_utc(ticks) == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)]


def test_a_time_that_does_not_exist_in_spring_runs_at_the_next_valid_instant_once():
    ticks = ticks_between("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), utc(2026, 3, 30, 12))
    # 02:30 does not exist on 2026-03-29 (clocks jump 02:00 → 03:00): it runs at 03:00 CEST = 01:00 UTC
    assert as_utc(ticks) == [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]


def test_weekly_reports_on_monday_8am_in_new_york_across_the_november_change():
    ticks = ticks_between("0 8 * * 1", "America/New_York", utc(2026, 10, 20), utc(2026, 11, 10))
    assert as_utc(ticks) == [utc(2026, 10, 26, 12), utc(2026, 11, 2, 13), utc(2026, 11, 9, 13)]


def test_sunday_written_as_0_or_7_fires_on_sunday():
    # periodiq's own day-of-week check never fires for Sunday as 0; our clock (croniter) does.
    for expression in ("0 9 * * 0", "0 9 * * 7", "0 9 * * sun"):
        [tick] = next_runs(expression, "UTC", 1, now=utc(2026, 11, 24))
        assert tick.astimezone(UTC) == utc(2026, 11, 29, 9), expression
