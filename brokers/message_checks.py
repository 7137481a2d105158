"""Checks of a message read from a queue, before any worker thread sees it.

Dramatiq decodes whatever JSON object has the right keys, whatever their values. A message
written to Redis by hand or by a foreign producer can then break the worker in ways Dramatiq
does not catch: a `queue_name` other than the queue it was read from kills the worker
thread after the job ran (the acknowledgement looks for a consumer of that queue); no
`redis_message_id` makes the acknowledgement raise, so the job runs again after every
restart; `options` that are not an object, or hold a count that is not a number, stop the
consumer or every middleware that reads them. `shape_problem()` (the fields' types and
bounds) and `delivery_problem()` (its queue and Redis id) say what is wrong, naming the
field; the consumer moves such a message to the dead letters with that reason.

The dead-letter listing uses `shape_problem()` too: a letter whose fields cannot be trusted
is described by its store record instead.

The models' validators are built on the first check (`defer_build`), not at import: every
process that sends imports this module (with the broker) and never checks a message it reads.
"""

from __future__ import annotations

import reprlib
from typing import Annotated, Any

from dramatiq import Message
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

#: Text of an id: a Dramatiq message id is a UUID (36 characters), the job store's id column holds 36.
Id = Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=r"^[^\x00-\x1f\x7f]+$")]
#: The most attempts, holds or milliseconds a message may count; beyond, the store's 32-bit order overflows.
MAX_COUNT = 100_000
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Millis = Annotated[int, Field(ge=0, le=2**53)]
#: Times in milliseconds since 1970 up to the year 9999 (what a datetime can show).
Timestamp = Annotated[int | float, Field(ge=0, le=253_402_300_799_999)]
#: Values quoted in a reason: cut short (they come from whoever wrote the message).
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


class _Options(BaseModel):
    """The options Dramatiq's and our middleware compute with; others pass unchecked."""

    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)

    redis_message_id: Id | None = None
    priority: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    retries: Count | None = None
    max_retries: Count | None = None
    holds: Count | None = None
    outage_holds: Count | None = None
    time_limit: Millis | None = None
    max_age: Millis | None = None
    min_backoff: Millis | None = None
    max_backoff: Millis | None = None
    eta: Timestamp | None = None
    admitted_at: Annotated[int | float, Field(ge=0, le=253_402_300_799)] | None = None
    dedupe_key: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    retry_of: Id | None = None
    pipeline_id: Id | None = None
    attempt_failures: list[Any] | None = None
    # Actor options that hold classes and functions: a message can only carry "none".
    throws: None = None
    retry_when: None = None


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, defer_build=True)

    queue_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    actor_name: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: _Options
    message_id: Id
    message_timestamp: Timestamp


def shape_problem(message: Message[Any]) -> str | None:
    """What makes `message` unfit for a worker whatever its queue ("options.retries: ..."), or None."""
    try:
        _Message.model_validate(message.asdict())
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        return f"{where}: {first['msg']} (got {_short.repr(first.get('input'))})"
    return None


def delivery_problem(message: Message[Any], queue_name: str, redis_id: str) -> str | None:
    """What makes a well-shaped `message`, read from `queue_name` under Redis id `redis_id`, unfit to run, or None."""
    if message.queue_name != queue_name:
        return f"queue_name {_short.repr(message.queue_name)} is not the queue it was read from ({queue_name!r})"
    claimed = message.options.get("redis_message_id")
    if claimed is None:
        return "options.redis_message_id is missing (a message written to Redis by hand?)"
    if claimed != redis_id:
        return f"options.redis_message_id {_short.repr(claimed)} is not its id in Redis ({redis_id!r})"
    return None
