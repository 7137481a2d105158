"""A once-a-minute test schedule that sends `sample_actors.echo`, for scheduler tests."""

from __future__ import annotations

from datetime import datetime

from scheduling.registry import Schedule, register
from tests.support.sample_actors import echo

TEST_SCHEDULE = "test-every-minute"


def send_echo(tick: datetime) -> list[str]:
    return [echo.send(value=int(tick.timestamp()), label=tick.isoformat()).message_id]


register(Schedule(TEST_SCHEDULE, "* * * * *", send_echo, "test: one echo job per minute"))
