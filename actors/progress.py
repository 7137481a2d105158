"""`report_progress(percent)`: a job tells the store how far it is (0-100) while it runs.

Public: `from actors.progress import report_progress` inside any actor, ours or a plain
`dramatiq.actor` on our broker; the API and `jobsctl job` show it as `progress`.

The update goes through the process's store buffer like every other job event, so the
dashboard sees it within the buffer's flush interval and the job pays no database round trip.
"""

from __future__ import annotations

from dramatiq.middleware import CurrentMessage

from middleware.job_store import JobStore
from wiring.broker import get_broker


def report_progress(percent: float) -> None:
    """Record the running job's progress; does nothing outside a job."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return
    broker = get_broker()
    for middleware in broker.middleware:
        if isinstance(middleware, JobStore):
            middleware.record_progress(broker, message, percent)
            return
