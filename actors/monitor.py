"""The alerts monitor: periodiq sends it every minute (MONITOR_INTERVAL).

It checks every alert threshold, notifies what crossed and what recovered (once, however
many monitors run), drops dead letters older than DEAD_LETTER_TTL, settles job records
that a killed worker left unfinished (`control.reconcile`), and rolls the queue history up
(`observability.history_rollup`: the minutes since its last run, for the dashboard's charts).
"""

from __future__ import annotations

from typing import Any

from periodiq import cron

from actors._base import job_actor
from control import dead_letters, reconcile
from core.payloads import JobPayload
from observability import alerts, history_rollup
from settings import get_settings


class MonitorRequest(JobPayload):
    """No fields: a run checks every alert rule once (periodiq sends it every MONITOR_INTERVAL)."""


@job_actor(
    queue="monitor",
    payload=MonitorRequest,
    periodic=cron(get_settings().monitor_interval),
    max_retries=0,
    time_limit=55_000,
)
def monitor(request: MonitorRequest) -> dict[str, Any]:
    changes = alerts.run_monitor()
    return {
        **changes,
        "deadLettersPruned": dead_letters.prune(),
        "jobsReconciled": reconcile.reconcile(),
        "history": history_rollup.roll_up(),
    }
