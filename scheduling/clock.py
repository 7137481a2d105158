"""Tick times of a cron expression in a time zone, with the DST rules people expect.

croniter does the cron arithmetic on aware datetimes. On the autumn change a wall time
occurs twice; a schedule with a fixed hour (`0 1 * * *`) runs once, at the first
occurrence, like cron itself, while an hourly one (`0 * * * *`) runs for both real hours.
On the spring change a wall time that does not exist runs at the next valid instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from errors import InvalidInput


class InvalidCron(InvalidInput):
    """Raised when a cron expression does not parse; the message names it."""


def validate_cron(expression: str) -> str:
    if not croniter.is_valid(expression):
        raise InvalidCron(f"invalid cron expression {expression!r}")
    return expression


def _fixed_hour(expression: str) -> bool:
    fields = expression.split()
    return len(fields) >= 2 and fields[1] != "*" and "/" not in fields[1]


def ticks(expression: str, tz: str, after: datetime) -> Iterator[datetime]:
    """Tick instants strictly after `after`, as aware datetimes in `tz`, forever."""
    zone = ZoneInfo(tz)
    iterator = croniter(expression, after.astimezone(zone))
    fixed_hour = _fixed_hour(expression)
    previous_wall: datetime | None = None
    while True:
        tick: datetime = iterator.get_next(datetime)
        wall = tick.replace(tzinfo=None)
        if fixed_hour and previous_wall == wall:
            continue  # the repeated wall time of an autumn change: already ran
        previous_wall = wall
        yield tick


def ticks_between(expression: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """Ticks in (start, end]."""
    out: list[datetime] = []
    for tick in ticks(expression, tz, start):
        if tick > end:
            break
        out.append(tick)
    return out


def next_runs(expression: str, tz: str, count: int = 5, now: datetime | None = None) -> list[datetime]:
    iterator = ticks(expression, tz, now or datetime.now(UTC))
    return [next(iterator) for _ in range(count)]
