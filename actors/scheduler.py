"""The schedules' dispatcher: periodiq sends it every minute; it enqueues each due tick once.

Run the beat with `periodiq actors` (any number of them; ticks are claimed in Redis). The table
it reads (`schedules`) is registered by `actors.catalog`, which the worker app imports.
"""

from __future__ import annotations

from typing import Any

from periodiq import cron

from actors._base import job_actor
from core.payloads import JobPayload
from scheduling.dispatcher import dispatch


class DispatchRequest(JobPayload):
    """No fields: a run enqueues the due ticks of the schedule table (periodiq sends it every minute)."""


@job_actor(queue="scheduler", payload=DispatchRequest, periodic=cron("* * * * *"), max_retries=0, time_limit=55_000)
def dispatch_schedules(request: DispatchRequest) -> dict[str, Any]:
    runs = dispatch()
    return {"runs": [{"schedule": run["schedule"], "tick": run["tick"]} for run in runs]}
