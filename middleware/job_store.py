"""Records every message's life in the job store.

Hooks: `before_enqueue` / `after_enqueue` (waiting or delayed, on the producer's side),
`before_process_message` (active), `after_process_message` (completed, failed with a retry
pending, or dead), `after_skip_message` and `after_nack` (dead letters that never ran, such as a
message for an unknown actor), `after_refuse_message` (the Redis broker's signal for a message
it dead-lettered before any worker thread saw it). `record_waiting_again` is for
`GracefulShutdown`, which puts jobs still running after the grace period back on their queue.
This middleware must sit before Retries in the list: `after_*` hooks run in reverse order, so
it sees whether Retries re-enqueued the message or failed it.

The producer's event rides the enqueue on the Redis broker: `before_enqueue` hands the broker
the event's head (`runtime.store_events.enqueue_head`, a dozen bytes) and the broker's enqueue
script pushes it with the message onto the store's event list, in the same round trip, for a
writer to take (`runtime.store_buffer`). A process that only sends so never opens a database
connection, and a message its producer enqueues is never on a queue without its event (except
one promoted by `promote_delayed`, recorded just after, and an event dropped and counted past
STORE_EVENTS_MAX while no writer drains the list). On the other brokers
(RabbitMQ, in memory) `after_enqueue` records the event like every other. Events go to the
process's writer (`runtime.store_sink`: its `StoreBuffer`, never the database on the worker's
hot path); this module imports no database library, since every process that sends imports it.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy
from dramatiq.message import Message

from core.lanes import NORMAL, lane_of
from core.naming import canonical_queue
from db.store_order import seq_for
from middleware.bounded_retries import retry_refusal
from runtime import store_sink
from runtime.store_events import enqueue_head, enqueued_event, from_millis, message_event

#: Longest error text kept per job.
MAX_ERROR = 2000
#: Longest traceback kept per job.
MAX_TRACEBACK = 20_000


def _now() -> datetime:
    return datetime.now(UTC)


def job_error(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {exception}"[:MAX_ERROR]


class JobStore(Middleware):
    """Writes waiting / delayed / active / completed / failed / dead events to the store buffer."""

    def __init__(self, buffer: store_sink.Writer | None = None) -> None:
        self._buffer = buffer
        self._started: dict[str, tuple[float, int]] = {}
        self._worker = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def buffer(self) -> store_sink.Writer:
        """Where events go: the writer given, else the process's (`runtime.store_sink`)."""
        return self._buffer or store_sink.writer()

    def after_process_boot(self, broker: Broker) -> None:
        self._worker = f"{socket.gethostname()}:{os.getpid()}"

    def after_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        self.buffer.flush(drain=False)  # this worker's own events: the list is left to the writers still running

    # Producer side ----------------------------------------------------------------------

    def before_enqueue(self, broker: Broker, message: Message, delay: int | None) -> None:
        attach = getattr(broker, "attach_store_event", None)
        redis_id = message.options.get("redis_message_id")
        if attach is not None and self._buffer is None and redis_id is not None:
            attach(redis_id, enqueue_head("delayed" if delay else "waiting", _max_attempts(broker, message)))

    def after_enqueue(self, broker: Broker, message: Message, delay: int | None) -> None:
        pushed = getattr(broker, "store_event_pushed", None)
        if pushed is not None and self._buffer is None and pushed(message.options.get("redis_message_id")):
            return  # the broker pushed the event with the message
        state = "delayed" if delay else "waiting"
        self.buffer.record(enqueued_event(message, state, _max_attempts(broker, message)))

    # Worker side ------------------------------------------------------------------------

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        attempt = message.options.get("retries", 0)
        self._started[message.message_id] = (time.monotonic(), attempt)
        event = self._base(broker, message, "active", attempt)
        admitted = message.options.pop("admitted_at", None)  # the rate limit's count of this start
        event["started_at"] = from_millis(admitted * 1000) if admitted else _now()
        event["worker"] = self._worker
        event["broker_ref"] = message.options.get("redis_message_id")  # in case the producer's record is late
        self.buffer.record(event)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started, attempt = self._started.pop(message.message_id, (None, message.options.get("retries", 0)))
        if exception is None:
            state = "completed"
        elif message.failed:
            state = "dead"
        else:
            state = "failed"
        event = self._base(broker, message, state, attempt)
        event["finished_at"] = _now()
        event["duration_ms"] = None if started is None else (time.monotonic() - started) * 1000
        event["worker"] = self._worker
        if exception is None:
            event["progress"] = 100
            event["result"] = _summary(result)
        else:
            error = job_error(exception)
            refusal = retry_refusal(message)  # a retry too large to send: dead, and why
            event["error"] = error if refusal is None else f"{refusal}; {error}"[:MAX_ERROR]
            event["traceback"] = _format(exception)
        # A mark on this delivery (no attribute of MessageProxy): after_nack need not record it again.
        message._job_store_final = True  # type: ignore[attr-defined]
        self.buffer.record(event)

    def record_progress(self, broker: Broker, message: Message, percent: float) -> None:
        started = self._started.get(message.message_id)
        attempt = started[1] if started else message.options.get("retries", 0)
        event = self._base(broker, message, "active", attempt)
        event["progress"] = max(0, min(100, int(percent)))
        event["worker"] = self._worker
        self.buffer.record(event)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._started.pop(message.message_id, None)

    def record_waiting_again(self, broker: Broker, messages: list[MessageProxy]) -> None:
        """These attempts went back to their queue unfinished (a graceful stop): waiting again, same attempt."""
        for message in messages:
            attempt = message.options.get("retries", 0)
            event = self._base(broker, message, "active", attempt)
            event.update(state="waiting", attempts=attempt, started_at=None, worker=None)
            # Equal rank with `active`: a later event wins.
            event["seq"] = seq_for("active", attempt, message.options.get("holds", 0))
            self.buffer.record(event)
        self.buffer.flush(drain=False)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        # Dead letters that never reached after_process_message: a message for an unknown
        # actor, or one a middleware refused before it ran.
        if getattr(message, "_job_store_final", False):
            return
        exception = getattr(message, "_exception", None)
        event = self._base(broker, message, "dead", message.options.get("retries", 0))
        event["finished_at"] = _now()
        event["error"] = job_error(exception) if exception else "rejected before it ran"
        if exception is not None:
            event["traceback"] = _format(exception)
        self.buffer.record(event)

    def after_refuse_message(
        self,
        broker: Broker,
        queue_name: str,
        broker_ref: str,
        data: bytes,
        message: Message[Any] | None,
        reason: str,
        label: str,
    ) -> None:
        """A dead record for a message the broker sent to the dead letters before any worker thread
        saw it (unreadable or malformed: `brokers.priority_redis`), so operators see it and why.

        Under the message's own id when its fields are sound (only its queue or broker id was
        wrong), else under its broker id (as the dead-letter listing looks it up) with `label` as
        its actor. Its queue is the queue it was read from, never the one it names."""
        event: dict[str, Any] = {
            "id": broker_ref[:36],
            "queue": canonical_queue(queue_name),
            "actor": label,
            "state": "dead",
            "seq": seq_for("dead", 0),
            "priority": NORMAL,
            "payload": {"raw": data[:200].decode("utf-8", "replace")},
            "attempts": 0,
            "max_attempts": 1,
            "progress": 0,
            "error": reason,
            "finished_at": _now(),
            "broker_ref": broker_ref[:64],
        }
        if message is not None:
            event.update(
                id=message.message_id,
                actor=message.actor_name,
                payload=message.kwargs if not message.args else {"args": list(message.args), **message.kwargs},
                priority=lane_of(message.options.get("priority")),
                enqueued_at=from_millis(message.message_timestamp),
            )
        self.buffer.record(event)

    # Helpers ----------------------------------------------------------------------------

    def _base(self, broker: Broker, message: Message[Any] | MessageProxy, state: str, attempt: int) -> dict[str, Any]:
        return message_event(message, state, attempt, _max_attempts(broker, message))


def _max_attempts(broker: Broker, message: Message[Any] | MessageProxy) -> int:
    max_retries = message.options.get("max_retries")
    if max_retries is None:
        actor = broker.actors.get(message.actor_name)
        max_retries = actor.options.get("max_retries", 0) if actor else 0
    return int(max_retries) + 1


def _summary(result: Any) -> Any:
    if result is None or isinstance(result, (bool, int, float, str)):
        return result
    if isinstance(result, dict | list):
        return result
    return repr(result)[:MAX_ERROR]


def _format(exception: BaseException) -> str:
    return "".join(traceback.format_exception(exception))[-MAX_TRACEBACK:]
