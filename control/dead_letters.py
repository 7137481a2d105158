"""Dead letters: jobs out of retries, as the broker's dead-letter queue holds them. List, inspect, requeue, purge.

The broker holds the letters (`brokers.operations`: `list_dead_letters`, `find_dead_letter`,
`requeue_dead_letter`, `discard_dead_letter`, `purge_dead_letters`, `prune_dead_letters`);
each is joined here with its job-store row for the reason, the traceback and the attempts.
Requeueing sends a new job with the same actor, payload and priority, linked by `retry_of`,
and takes the letter out of the dead-letter queue; two operators requeueing the same letter
at once send it once (the broker decides who took it). Purging empties a queue's dead
letters in one broker call. Letters older than DEAD_LETTER_TTL (7 days) go with `prune()`,
which the monitor runs (RabbitMQ expires them itself).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from dramatiq import Message
from dramatiq.errors import DecodeError
from sqlalchemy import delete, select

from brokers.message_checks import shape_problem
from brokers.operations import DeadLetter, DeadLetterGone
from db.engine import get_engine
from db.models import JobRecord
from errors import NotFound
from observability.queue_state import known_queues
from runtime.store_buffer import get_buffer
from settings import get_settings
from wiring.broker import get_broker

#: Message options a requeued job does not inherit: they describe the dead attempt or its broker copy.
TRANSIENT_OPTIONS = frozenset(
    {
        "retries",
        "traceback",
        "requeue_timestamp",
        "redis_message_id",
        "eta",
        "attempt_failures",
        "_sentry_headers",
        "dedupe_key",
        "retry_of",
        "holds",
        "deduplicated",
        "outage_since",
        "outage_holds",
    }
)
#: Letters handled per Redis round trip by `requeue_all`, `purge` and `prune`.
BATCH = 200


class DeadLetterNotFound(NotFound):
    """Raised when a queue's dead-letter queue holds no job with that id (never there, requeued or purged)."""

    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__(f"no dead letter {job_id!r} in queue {queue!r} (requeued, purged, expired or never dead)")
        self.queue = queue
        self.job_id = job_id


def _broker() -> Any:
    return get_broker()


def _queues(queue: str | None) -> list[str]:
    return [queue] if queue is not None else known_queues()


def _iso(value: datetime | float | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return datetime.fromtimestamp(value, UTC).isoformat()


def _store_rows(ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(ids)
    if not ids:
        return {}
    get_buffer().flush(timeout=2.0)
    table = JobRecord.__table__
    with get_engine().connect() as connection:
        rows = connection.execute(select(table).where(table.c.id.in_(ids))).mappings()
        return {row["id"]: dict(row) for row in rows}


def _letter(
    queue: str, message: Message | None, row: dict[str, Any] | None, dead_at: float | None, *, detail: bool
) -> dict[str, Any]:
    """One dead letter in the API's job shape (camelCase)."""
    options = message.options if message else {}
    failures = options.get("attempt_failures") or []
    letter: dict[str, Any] = {
        "id": message.message_id if message else row["id"],  # type: ignore[index]
        "queue": queue,
        "name": message.actor_name if message else row["actor"],  # type: ignore[index]
        "data": (message.kwargs if message else row["payload"]) or {},  # type: ignore[index]
        "priority": options.get("priority", row["priority"] if row else 5),
        "attemptsMade": row["attempts"] if row else options.get("retries", 0) + 1,
        "maxAttempts": row["max_attempts"] if row else None,
        "failedReason": (row or {}).get("error") or (failures[-1]["error"] if failures else None),
        "deadAt": _iso(dead_at) or _iso((row or {}).get("finished_at")),
        "enqueuedAt": _iso(message.message_timestamp / 1000) if message else _iso(row["enqueued_at"]),  # type: ignore[index]
        "pipelineId": options.get("pipeline_id") or (row or {}).get("pipeline_id"),
        "retryOf": options.get("retry_of") or (row or {}).get("retry_of"),
    }
    if detail:
        letter["stacktrace"] = (row or {}).get("traceback") or options.get("traceback")
        letter["attempts"] = failures
        letter["options"] = {
            key: value for key, value in options.items() if key not in ("traceback", "attempt_failures")
        }
    return letter


# Reading the broker's letters ------------------------------------------------------------


#: Stands for a letter whose bytes are not a Dramatiq message, or one whose fields cannot be
#: trusted (`message_checks.shape_problem`): its store row, under its broker id, tells the reason.
UNREADABLE: Any = object()


def _decode(body: bytes | None) -> Message | None:
    """The message, None without a body, UNREADABLE when the bytes are not a well-formed Dramatiq message."""
    if not body:
        return None
    try:
        message = Message.decode(body)
    except DecodeError:
        return UNREADABLE
    return UNREADABLE if shape_problem(message) is not None else message


def _member_id(ref: str) -> str:
    """The store id of a letter known only by its broker id (an unreadable message)."""
    return ref[:36]


def _letter_id(letter: DeadLetter) -> str:
    message = _decode(letter.body)
    return message.message_id if message is not None and message is not UNREADABLE else _member_id(letter.ref)


def _find(broker: Any, queue: str, job_id: str) -> tuple[DeadLetter, Message] | None:
    """The letter of job `job_id` (looked up under the store's broker reference first)."""
    row = _store_rows([job_id]).get(job_id)
    letter = broker.find_dead_letter(queue, job_id, (row or {}).get("broker_ref"))
    if letter is None:
        return None
    message = _decode(letter.body)
    if message is None or message is UNREADABLE or message.message_id != job_id:
        return None
    return letter, message


def _requeue_letter(broker: Any, queue: str, letter: DeadLetter, message: Message) -> str:
    options = {key: value for key, value in message.options.items() if key not in TRANSIENT_OPTIONS}
    options["retry_of"] = message.message_id
    fresh: Message[Any] = Message(
        queue_name=queue,
        actor_name=message.actor_name,
        args=message.args,
        kwargs=message.kwargs,
        options=options,
    )
    try:
        sent = broker.requeue_dead_letter(queue, letter, fresh)
    except DeadLetterGone:
        raise DeadLetterNotFound(queue, message.message_id) from None
    return str(sent.message_id)


# Public --------------------------------------------------------------------------------


def list_dead(queue: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Dead letters, newest first, across every queue when `queue` is None."""
    if limit <= 0:
        return []
    broker = _broker()
    candidates: list[tuple[str, DeadLetter]] = []
    for name in _queues(queue):
        candidates += [(name, letter) for letter in broker.list_dead_letters(name, 0, offset + limit)]
    candidates.sort(key=lambda item: item[1].dead_at or 0.0, reverse=True)
    page = candidates[offset : offset + limit]
    read = [(name, letter, _decode(letter.body)) for name, letter in page]
    rows = _store_rows(_letter_id(letter) for _, letter, message in read if message is not None)
    letters = []
    for name, letter, message in read:
        if message is UNREADABLE:  # described by its store row, when the worker could write one
            row = rows.get(_member_id(letter.ref))
            if row is not None:
                letters.append(_letter(name, None, row, letter.dead_at, detail=False))
        elif message is not None:
            letters.append(_letter(name, message, rows.get(message.message_id), letter.dead_at, detail=False))
    letters.sort(key=lambda entry: entry["deadAt"] or "", reverse=True)
    return letters


def count_dead(queue: str | None = None) -> dict[str, int]:
    """{queue: dead letters}."""
    names = _queues(queue)
    depths = _broker().queue_depths(names)
    return {name: depths[name].dead for name in names}


def get_dead(queue: str, job_id: str) -> dict[str, Any] | None:
    """One dead letter with its traceback, earlier attempts and options; None when it is not one."""
    broker = _broker()
    found = _find(broker, queue, job_id)
    if found is None:
        # An unreadable message's letter: known by its broker id, described by its store row.
        letter = broker.find_dead_letter(queue, job_id, job_id)
        if letter is None or _decode(letter.body) is not UNREADABLE:
            return None
        row = _store_rows([job_id]).get(job_id)
        return None if row is None else _letter(queue, None, row, letter.dead_at, detail=True)
    letter, message = found
    return _letter(queue, message, _store_rows([job_id]).get(job_id), letter.dead_at, detail=True)


def requeue(queue: str, job_id: str) -> str:
    """Send the dead job again as a new job linked to it; returns the new job id."""
    broker = _broker()
    found = _find(broker, queue, job_id)
    if found is None:
        raise DeadLetterNotFound(queue, job_id)
    return _requeue_letter(broker, queue, *found)


def discard(queue: str, job_id: str) -> None:
    """Drop one dead letter from the dead-letter queue (its store row is the caller's business)."""
    broker = _broker()
    found = _find(broker, queue, job_id)
    if found is None:
        raise DeadLetterNotFound(queue, job_id)
    try:
        broker.discard_dead_letter(queue, found[0])
    except DeadLetterGone:
        raise DeadLetterNotFound(queue, job_id) from None


def requeue_all(queue: str | None) -> int:
    """Requeue every dead letter of `queue` (of every queue when None), oldest first; returns how many."""
    broker = _broker()
    total = 0
    for name in _queues(queue):
        skipped: set[str] = set()
        while True:
            letters = [
                letter for letter in broker.oldest_dead_letters(name, BATCH + len(skipped)) if letter.ref not in skipped
            ]
            if not letters:
                break
            for letter in letters:
                message = _decode(letter.body)
                if message is None:
                    with suppress(DeadLetterGone):  # a letter without its message: nothing to send
                        broker.discard_dead_letter(name, letter)
                    continue
                if message is UNREADABLE:
                    skipped.add(letter.ref)  # nothing to send again; it stays for an operator to read and purge
                    continue
                try:
                    _requeue_letter(broker, name, letter, message)
                    total += 1
                except DeadLetterNotFound:
                    pass  # another operator took it first
    return total


def purge(queue: str | None) -> int:
    """Drop every dead letter of `queue` (every queue when None), one broker call per queue, and
    their store rows; returns how many."""
    broker = _broker()
    total = 0
    for name in _queues(queue):
        count, letters = broker.purge_dead_letters(name)
        _delete_store_rows([_letter_id(letter) for letter in letters])
        total += count
    return total


def prune(now: float | None = None) -> int:
    """Drop dead letters older than DEAD_LETTER_TTL from every queue; returns how many."""
    broker = _broker()
    cutoff_ms = ((time.time() if now is None else now) - get_settings().dead_letter_ttl) * 1000
    return sum(broker.prune_dead_letters(name, cutoff_ms) for name in _queues(None))


def _delete_store_rows(ids: list[str]) -> None:
    if not ids:
        return
    get_buffer().flush(timeout=2.0)
    with get_engine().begin() as connection:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            connection.execute(delete(JobRecord).where(JobRecord.id.in_(chunk), JobRecord.state == "dead"))
