"""When a publisher's local day is due for its daily run: its own local midnight plus DAILY_RUN_DELAY.

Pure calendar arithmetic (IANA zones through `zoneinfo`), used by the daily-aggregation
schedule to send each time zone's run with an ETA, and by the weekly reports likewise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant `day` starts in `tz` (a DST day is 23 or 25 hours long)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def days_due(tz: str, start: datetime, end: datetime, delay: timedelta) -> list[tuple[date, datetime]]:
    """The local days of `tz` whose end plus `delay` falls in [start, end), each with that instant.

    Windows that tile time (one per daily tick) give every local day to exactly one tick: a
    24-hour window holds one day's end, or two around a 23-hour day, or none around a 25-hour one.
    """
    zone = ZoneInfo(tz)
    day = (start - delay).astimezone(zone).date() - timedelta(days=1)
    last = (end - delay).astimezone(zone).date() + timedelta(days=1)
    due: list[tuple[date, datetime]] = []
    while day <= last:
        at = local_midnight(day + timedelta(days=1), tz) + delay
        if start <= at < end:
            due.append((day, at))
        day += timedelta(days=1)
    return due


def runs_due(
    timezones: list[str], start: datetime, end: datetime, delay: timedelta
) -> dict[tuple[date, datetime], list[str]]:
    """The zones grouped by (local day, due instant): zones whose days end together share one run."""
    runs: dict[tuple[date, datetime], list[str]] = {}
    for tz in sorted(timezones):
        for day, at in days_due(tz, start, end, delay):
            runs.setdefault((day, at), []).append(tz)
    return dict(sorted(runs.items()))
