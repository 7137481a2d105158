"""Queue control as a library: what the HTTP API and `jobsctl` both call.

Every function takes CONTRACT.md's names and returns plain dicts in the API's shapes
(camelCase). Errors are exceptions the callers map to status codes and exit codes:
`UnknownQueue` and `JobNotFound` (404), `InvalidJobState` (409), `InvalidRequest` (422,
with `InvalidPayload` from the actors for payloads), and the broker's
`BrokerOperationUnsupported` (409) for what the broker in use cannot do. Queue operations go
through the broker's methods (`brokers/operations.py`); this module knows no key or queue name.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from control import dead_letters
from db import jobstore
from db.engine import get_engine, read_connection
from db.models import JobRecord
from errors import Conflict, InvalidInput, NotFound
from observability import queue_state
from runtime import flags
from runtime.store_buffer import get_buffer
from wiring.broker import get_broker

#: A cancel that reached a worker's prefetch waits this long, so every worker has seen it.
CANCEL_PROPAGATION_SECONDS = 0.3


class UnknownQueue(NotFound):
    def __init__(self, queue: str) -> None:
        super().__init__(f"unknown queue {queue!r}")
        self.queue = queue


class JobNotFound(NotFound):
    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__(f"no job {job_id!r} in queue {queue!r}")


class InvalidJobState(Conflict, ValueError):
    """The job is not in a state the operation applies to (cancel an active job, retry a completed one)."""


class InvalidRequest(InvalidInput):
    """A request that names things that do not fit together (an actor of another queue, a bad option)."""


def _broker() -> Any:
    return get_broker()


def queue_names() -> list[str]:
    return queue_state.known_queues()


def check_queue(queue: str) -> str:
    if queue not in queue_names():
        raise UnknownQueue(queue)
    return queue


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def job_view(row: dict[str, Any]) -> dict[str, Any]:
    """A job-store row in the API's shape."""
    return {
        "id": row["id"],
        "name": row["actor"],
        "queueName": row["queue"],
        "data": row["payload"],
        "state": row["state"],
        "priority": row["priority"],
        "progress": row["progress"],
        "attemptsMade": row["attempts"],
        "maxAttempts": row["max_attempts"],
        "enqueuedAt": _iso(row["enqueued_at"]),
        "runAt": _iso(row.get("run_at")),
        "processedOn": _iso(row["started_at"]),
        "finishedOn": _iso(row["finished_at"]),
        "durationMs": row.get("duration_ms"),
        "failedReason": row["error"],
        "stacktrace": row.get("traceback"),
        "result": row["result"],
        "retryOf": row.get("retry_of"),
        "pipelineId": row.get("pipeline_id"),
        "worker": row.get("worker"),
    }


# Reading --------------------------------------------------------------------------------


def queue_metrics() -> dict[str, dict[str, Any]]:
    """Every queue: waiting, active, completed, failed, delayed, dead, paused."""
    snapshot = queue_state.snapshot()
    return {
        name: {
            "waiting": figures.store["waiting"],
            "active": figures.store["active"],
            "completed": figures.store["completed"],
            "failed": figures.store["failed"],
            "delayed": figures.store["delayed"],
            "dead": figures.store["dead"],
            "cancelled": figures.store["cancelled"],
            "paused": figures.paused,
        }
        for name, figures in snapshot.queues.items()
    }


def queue_stats(queue: str) -> dict[str, Any]:
    """One queue's counts plus its last hour: throughput, processing times, completion and failure rates."""
    check_queue(queue)
    counts = queue_metrics().get(queue) or {state: 0 for state in jobstore.STATES} | {"paused": False}
    since = datetime.now(UTC) - timedelta(hours=1)
    table = JobRecord.__table__
    with get_engine().connect() as connection:
        finished = connection.execute(
            select(table.c.state, table.c.duration_ms).where(
                table.c.queue == queue, table.c.finished_at >= since, table.c.state.in_(("completed", "dead"))
            )
        ).all()
    durations = sorted(duration for state, duration in finished if state == "completed" and duration is not None)
    completed = sum(1 for state, _ in finished if state == "completed")
    dead = len(finished) - completed
    p95 = durations[min(len(durations) - 1, round(0.95 * (len(durations) - 1)))] if durations else None
    return {
        **counts,
        "queue": queue,
        "throughputPerMin": round(completed / 60, 3),
        "avgProcessingMs": round(sum(durations) / len(durations), 3) if durations else None,
        "p95ProcessingMs": round(p95, 3) if p95 is not None else None,
        "completionRate": round(completed / len(finished), 4) if finished else None,
        "failureRate": round(dead / len(finished), 4) if finished else None,
        "windowMinutes": 60,
    }


def list_jobs(queue: str, status: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    check_queue(queue)
    if status is not None and status not in jobstore.STATES:
        raise InvalidRequest(f"status must be one of {', '.join(jobstore.STATES)}, not {status!r}")
    get_buffer().flush(timeout=1.0)
    with get_engine().connect() as connection:
        rows = jobstore.list_jobs(
            connection, queue=queue, states=None if status is None else [status], limit=limit, offset=offset
        )
    return [job_view(row) for row in rows]


#: Longest job id looked up; message ids are UUIDs, so anything longer cannot be one.
MAX_JOB_ID = 200


def _row(queue: str, job_id: str) -> dict[str, Any]:
    check_queue(queue)
    if not job_id or len(job_id) > MAX_JOB_ID or "\x00" in job_id:
        raise JobNotFound(queue, job_id)
    get_buffer().flush(timeout=1.0)
    with read_connection() as connection:
        row = jobstore.get_job(connection, job_id)
    if row is None or row["queue"] != queue:
        raise JobNotFound(queue, job_id)
    return row


def get_job(queue: str, job_id: str) -> dict[str, Any]:
    return job_view(_row(queue, job_id))


def _across_queues(states: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
    get_buffer().flush(timeout=1.0)
    with get_engine().connect() as connection:
        rows = jobstore.list_jobs(connection, states=states, limit=limit)
    return [job_view(row) for row in rows]


def failed_jobs(limit: int = 50) -> list[dict[str, Any]]:
    """Jobs whose last attempt failed: retrying (`failed`) or out of retries (`dead`), newest first."""
    return _across_queues(("failed", "dead"), limit)


def active_jobs(limit: int = 50) -> list[dict[str, Any]]:
    return _across_queues(("active",), limit)


def paused_queues() -> set[str]:
    return flags.paused()


# Changing -------------------------------------------------------------------------------


def enqueue(queue: str, job_name: str, data: dict[str, Any], options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send job `job_name` with `data` to `queue`; options: priority, delay (ms), runAt, jobId."""
    check_queue(queue)
    broker = _broker()
    try:
        actor = broker.get_actor(job_name)
    except Exception:
        raise InvalidRequest(f"no job named {job_name!r}") from None
    if actor.queue_name != queue:
        raise InvalidRequest(f"job {job_name!r} runs on queue {actor.queue_name!r}, not {queue!r}")
    options = dict(options or {})
    send_options: dict[str, Any] = {}
    if options.get("priority") is not None:
        send_options["priority"] = options["priority"]
    if options.get("delay") is not None:
        delay = options["delay"]
        if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0 or delay > 7 * 24 * 3600 * 1000:
            raise InvalidRequest("options.delay must be milliseconds between 0 and 7 days")
        send_options["delay"] = delay
    if options.get("runAt") is not None:
        send_options["run_at"] = options["runAt"]
    if options.get("jobId") is not None:
        send_options["job_id"] = str(options["jobId"])
    if options.get("tenant") is not None:
        send_options["tenant"] = options["tenant"]
    message = actor.send_with_options(kwargs=dict(data), **send_options)
    get_buffer().flush(timeout=1.0, drain=False)  # its own events; the list is the writers' (a read drains it)
    return {
        "jobId": message.message_id,
        "queueName": queue,
        "jobName": job_name,
        "deduplicated": bool(message.options.get("deduplicated", False)),
    }


def _remove_from_broker(row: dict[str, Any]) -> bool:
    """Take a waiting or delayed job's message off the broker; False when a worker already holds
    it or the broker cannot pick one message out (then workers are told to skip it)."""
    ref = row.get("broker_ref")
    if not ref:
        return False
    return bool(_broker().remove_message(row["queue"], ref, delayed=row["state"] != "waiting"))


def _mark(job_ids: list[str], state: str, error: str) -> None:
    """Record a final state that outranks anything a worker may still report."""
    if not job_ids:
        return
    table = JobRecord.__table__
    with get_engine().begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.id.in_(job_ids))
            .values(state=state, seq=jobstore.CANCELLED_SEQ, error=error, finished_at=func.now())
        )


def cancel(queue: str, job_id: str) -> dict[str, Any]:
    """Cancel a waiting or delayed job: it never runs and reads `cancelled`."""
    row = _row(queue, job_id)
    if row["state"] not in ("waiting", "delayed"):
        raise InvalidJobState(f"job {job_id!r} is {row['state']}: only waiting or delayed jobs can be cancelled")
    if not _remove_from_broker(row):
        # A worker fetched it already (prefetch, delay queue): every worker skips it instead.
        flags.mark_cancelled(job_id)
        time.sleep(CANCEL_PROPAGATION_SECONDS)
    _mark([job_id], "cancelled", "cancelled by an operator")
    key = row.get("dedupe_key")
    if key:
        flags.release(queue, key, job_id)
    return get_job(queue, job_id)


def retry(queue: str, job_id: str) -> dict[str, Any]:
    """Run a failed or dead job again: a new job with the same payload, linked by `retryOf`."""
    row = _row(queue, job_id)
    if row["state"] == "dead":
        try:
            new_id = dead_letters.requeue(queue, job_id)
        except dead_letters.DeadLetterNotFound:
            new_id = _send_again(row)
    elif row["state"] == "failed":
        # Its next attempt waits out a backoff: run it now instead, and drop the pending one.
        if not _remove_from_broker({**row, "state": "delayed"}):
            flags.mark_cancelled(job_id)
        new_id = _send_again(row)
        _mark([job_id], "cancelled", f"{row['error']} (its next attempt replaced by job {new_id})")
    else:
        raise InvalidJobState(f"job {job_id!r} is {row['state']}: only failed or dead jobs can be retried")
    get_buffer().flush(timeout=1.0, drain=False)
    return {"jobId": new_id, "retryOf": job_id, "queueName": queue, "jobName": row["actor"]}


def _send_again(row: dict[str, Any]) -> str:
    actor = _broker().get_actor(row["actor"])
    message = actor.send_with_options(kwargs=dict(row["payload"]), priority=row["priority"], retry_of=row["id"])
    return str(message.message_id)


def pause(queue: str) -> dict[str, Any]:
    check_queue(queue)
    flags.pause(queue)
    return {"queue": queue, "paused": True}


def resume(queue: str) -> dict[str, Any]:
    check_queue(queue)
    flags.resume(queue)
    return {"queue": queue, "paused": False}


def clean(queue: str, grace_seconds: int = 0, status: str = "completed", limit: int = 1000) -> dict[str, Any]:
    """Remove job records of `queue` in `status` that finished more than `grace_seconds` ago."""
    check_queue(queue)
    if status not in ("completed", "failed", "dead", "cancelled"):
        raise InvalidRequest("status must be completed, failed, dead or cancelled")
    if grace_seconds < 0 or limit < 1:
        raise InvalidRequest("gracePeriod must be >= 0 and limit >= 1")
    get_buffer().flush(timeout=1.0)
    before = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    table = JobRecord.__table__
    with get_engine().begin() as connection:
        ids = list(
            connection.execute(
                select(table.c.id)
                .where(and_(table.c.queue == queue, table.c.state == status, table.c.finished_at <= before))
                .order_by(table.c.finished_at)
                .limit(limit)
            ).scalars()
        )
        if ids:
            connection.execute(delete(table).where(table.c.id.in_(ids)))
    if status == "dead":
        for job_id in ids:
            try:
                dead_letters.discard(queue, job_id)
            except dead_letters.DeadLetterNotFound:
                continue
    return {"queue": queue, "status": status, "removed": len(ids), "jobIds": ids}


def _unfinished_ids(queue: str, states: tuple[str, ...]) -> list[str]:
    """Job ids of `queue` the store reads in `states` (after flushing what this process buffered)."""
    get_buffer().flush(timeout=1.0)
    table = JobRecord.__table__
    with get_engine().connect() as connection:
        return list(
            connection.execute(select(table.c.id).where(table.c.queue == queue, table.c.state.in_(states))).scalars()
        )


def drain(queue: str, delayed: bool = True) -> dict[str, Any]:
    """Remove every waiting (and delayed) job of `queue`; they read `cancelled` and never run.

    The broker drops what it still holds and names those jobs (`drain_queue`). Copies a worker
    already fetched (its prefetch, delayed messages it keeps in memory until due) are not the
    broker's to drop: those jobs, and any other the store still reads waiting or delayed, are
    marked so every worker skips them (`flags`, read by `middleware.queue_control` several times a
    second, and forgotten as workers skip them): only jobs the broker did not name, so the set
    stays as small as what workers hold. A broker that cannot drain raises
    `BrokerOperationUnsupported` before anything is marked."""
    check_queue(queue)
    drained = _broker().drain_queue(queue, delayed=delayed)
    removed = set(drained.removed_ids)
    in_hand = set(drained.held_ids) | set(_unfinished_ids(queue, ("waiting", "delayed") if delayed else ("waiting",)))
    in_hand -= removed
    if in_hand:
        flags.mark_all_cancelled(sorted(in_hand))
        time.sleep(CANCEL_PROPAGATION_SECONDS)
    cancelled = sorted(removed | in_hand)
    _mark(cancelled, "cancelled", "drained by an operator")
    return {"queue": queue, "removed": max(len(cancelled), drained.removed_count)}
