"""The schedules known to this process: `schedules.py` registers the table, tests may add their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from errors import NotFound
from scheduling.clock import validate_cron

#: Enqueues the work of one tick (an aware datetime in SCHEDULE_TZ); returns the job ids sent.
TickJob = Callable[[datetime], list[str]]


class UnknownSchedule(NotFound, KeyError):
    """Raised when a schedule name is not in the table; the message lists the names that are."""

    def __str__(self) -> str:
        known = f"; known: {', '.join(self.args[1])}" if len(self.args) > 1 and self.args[1] else ""
        return f"unknown schedule {self.args[0]!r}{known}"


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    job: TickJob = field(compare=False)
    description: str = ""

    def __post_init__(self) -> None:
        validate_cron(self.cron)


_schedules: dict[str, Schedule] = {}


def register(*schedules: Schedule) -> None:
    for schedule in schedules:
        _schedules[schedule.name] = schedule


def all_schedules() -> list[Schedule]:
    return list(_schedules.values())


def get(name: str) -> Schedule:
    try:
        return _schedules[name]
    except KeyError:
        raise UnknownSchedule(name, sorted(_schedules)) from None
