"""Job-store events: what each one holds, and the form they take on the Redis list that carries them.

An event is a partial row of `jobs` (`id`, `seq` and the columns it knows). `message_event()`
makes one from a message, for the job-store middleware and for the writer alike, so an event
decoded from Redis is the event the producer would have recorded itself.

On the Redis list (`brokers.redis_keys.store_events_key`) two forms, told apart by their first byte:

- `E` + JSON `[state, max_attempts]` + newline + the message's bytes: a producer's `waiting` or
  `delayed` event, pushed by the broker's enqueue script with the message itself
  (`enqueue_head()`); the rest of the event (id, queue, payload, priority, times, broker id) is
  read from the message, so the producer pays for a dozen bytes, not for an event.
- `R` + JSON of the whole event (times as ISO 8601 text): an event recorded in a process that has
  no writer of its own (`runtime.store_sink`).

Importing this module loads no database library: every process that sends imports it.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import orjson
from dramatiq.broker import MessageProxy
from dramatiq.message import Message

from brokers.encoding import FastJSONEncoder
from core.naming import canonical_queue
from db.store_order import seq_for

#: First byte of a producer's event (a head and the message's bytes) and of a whole event.
ENQUEUED = b"E"
RECORD = b"R"
#: The columns that hold times (ISO 8601 text on the list).
TIMES = ("enqueued_at", "run_at", "started_at", "finished_at")
#: States in which the attempt has begun (it counts as made).
STARTED = ("active", "completed", "failed", "dead")

_messages = FastJSONEncoder()


class UnreadableEvent(ValueError):
    """Raised when an item of the event list is not an event this code can read."""


def from_millis(value: int | float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def message_event(message: Message[Any] | MessageProxy, state: str, attempt: int, max_attempts: int) -> dict[str, Any]:
    """The event of `message` reaching `state` on attempt `attempt` (0 for the first)."""
    options = message.options
    return {
        "id": message.message_id,
        "queue": canonical_queue(message.queue_name),
        "actor": message.actor_name,
        "state": state,
        "seq": seq_for(state, attempt, options.get("holds", 0)),
        "priority": options.get("priority", 5),
        "payload": message.kwargs if not message.args else {"args": list(message.args), **message.kwargs},
        "attempts": attempt + (1 if state in STARTED else 0),
        "max_attempts": max_attempts,
        "progress": 0,
        "dedupe_key": options.get("dedupe_key"),
        "retry_of": options.get("retry_of"),
        "pipeline_id": options.get("pipeline_id"),
    }


def enqueued_event(message: Message[Any], state: str, max_attempts: int) -> dict[str, Any]:
    """The producer's event of an enqueued `message`: `waiting`, or `delayed` until its `eta`."""
    options = message.options
    event = message_event(message, state, options.get("retries", 0), max_attempts)
    event["enqueued_at"] = from_millis(message.message_timestamp)
    event["run_at"] = from_millis(options.get("eta"))
    event["broker_ref"] = options.get("redis_message_id")
    return event


@functools.lru_cache(maxsize=256)
def enqueue_head(state: str, max_attempts: int) -> bytes:
    """What the broker writes before the message's bytes on the event list (a few kinds: kept)."""
    return ENQUEUED + orjson.dumps([state, max_attempts]) + b"\n"


def encode_record(event: dict[str, Any]) -> bytes:
    """A whole event for the list (a value JSON has no form for is written as its repr)."""
    return RECORD + orjson.dumps(event, default=repr, option=orjson.OPT_NON_STR_KEYS)


def decode(item: bytes) -> dict[str, Any]:
    """The event an item of the list holds; raises UnreadableEvent when it holds none."""
    kind = item[:1]
    try:
        if kind == ENQUEUED:
            head, _, data = item[1:].partition(b"\n")
            state, max_attempts = orjson.loads(head)
            message: Message[Any] = Message(**_messages.decode(data))
            return enqueued_event(message, state, max_attempts)
        if kind == RECORD:
            event = orjson.loads(item[1:])
            for name in TIMES:
                if isinstance(event.get(name), str):
                    event[name] = datetime.fromisoformat(event[name])
            return dict(event)
    except Exception as error:
        raise UnreadableEvent(f"{type(error).__name__}: {error}"[:300]) from None
    raise UnreadableEvent(f"unknown kind {kind!r}")
