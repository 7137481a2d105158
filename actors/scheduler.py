"""The schedules' dispatcher: periodiq sends it every minute; it enqueues each due tick once.

Run the beat with `periodiq actors` (any number of them; ticks are claimed in Redis).
"""

from __future__ import annotations

from typing import Any

from periodiq import cron

import schedules  # noqa: F401  (registers the schedules table)
from actors._base import JobPayload, job_actor
from scheduling.dispatcher import dispatch


class DispatchRequest(JobPayload):
    pass


@job_actor(queue="scheduler", payload=DispatchRequest, periodic=cron("* * * * *"), max_retries=0, time_limit=55_000)
def dispatch_schedules(request: DispatchRequest) -> dict[str, Any]:
    runs = dispatch()
    return {"runs": [{"schedule": run["schedule"], "tick": run["tick"]} for run in runs]}
