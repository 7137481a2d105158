"""The queue history's roll-up, run by the alerts monitor (every MONITOR_INTERVAL): nothing on a job's path.

Each run rolls up the minutes since the last run (at least the last ROLL_BACK, to take in job
records and counters that were still on their way; at most CATCH_UP after a pause, the lifetime of
the metrics recorder's per-minute counters), samples every known queue's depth from the broker,
re-makes the hour rows of those minutes and drops rows past their retention (`db.queue_history`).
Two monitors at once write the same rows: the second leaves what the first wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db import queue_history
from db.engine import get_engine
from db.history_figures import MINUTE, Depth
from observability import queue_state
from runtime import metrics_recorder

#: Minutes before the current one that every run rolls up again.
ROLL_BACK = timedelta(minutes=3)
#: The oldest minute a run rolls up after a pause: the per-minute counters live two hours.
CATCH_UP = timedelta(seconds=metrics_recorder.MINUTE_TTL) - 2 * MINUTE


def span_start(current: datetime, last: datetime | None) -> datetime:
    """The first minute to roll up, given the current minute and the newest minute rolled up before."""
    start = current - ROLL_BACK
    if last is None or last < start:
        start = max(last or current - CATCH_UP, current - CATCH_UP)
    return start


def retried_counts(minutes: int) -> dict[tuple[str, datetime], int]:
    """{(queue, minute): attempts to retry} of the last `minutes` minutes, from the metrics recorder."""
    counts: dict[tuple[str, datetime], int] = {}
    for queue, points in metrics_recorder.throughput(minutes).items():
        for point in points:
            if point.get("retried"):
                counts[(queue, datetime.fromtimestamp(point["minute"], UTC))] = point["retried"]
    return counts


def depth_sample() -> dict[str, Depth]:
    """Every known queue's depth, delayed jobs and dead letters, as the broker counts them now."""
    queues = queue_state.known_queues()
    counts = queue_state.broker_counts(queues, queue_state.store_counts())
    return {queue: Depth(*counts[queue]) for queue in queues}


def roll_up() -> dict[str, int]:
    """Roll up the minutes since the last run; returns the minute and hour rows written and the rows pruned."""
    depths = depth_sample()
    now = datetime.now(UTC)
    current = queue_history.floor_minute(now)
    with get_engine().begin() as connection:
        start = span_start(current, queue_history.last_minute(connection))
        retried = retried_counts(int((current - start) / MINUTE) + 1)
        written = queue_history.roll_up(
            connection, start, current + MINUTE, retried=retried, depths=depths, sampled_at=now
        )
        written["pruned"] = queue_history.prune(connection, now)
    return written
