"""Dead letters: jobs out of retries, as Dramatiq's dead-letter queue holds them. List, inspect, requeue, purge.

On Redis a queue's dead letters are the sorted set `dramatiq:<queue>.XQ` (broker message ids
scored by the time they died) and the hash `<queue>.XQ.msgs` (the messages). Each entry is
joined with its job-store row for the reason, the traceback and the attempts. Requeueing
sends a new job with the same actor, payload and priority, linked by `retry_of`, and takes
the letter out of the dead-letter queue; two operators requeueing the same letter at once
send it once (the ZREM decides). Letters older than DEAD_LETTER_TTL (7 days) go with
`prune()`, which the monitor runs, besides Dramatiq's own occasional maintenance.

On RabbitMQ the dead-letter queue cannot be read without consuming it, so the store's
`dead` rows stand in for the listing and requeueing; purging empties `<queue>.XQ`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from dramatiq import Message
from dramatiq.errors import DecodeError
from sqlalchemy import delete, select

from brokers.message_checks import shape_problem
from db.engine import get_engine
from db.models import JobRecord
from db.store_buffer import get_buffer
from settings import get_settings

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


class DeadLetterNotFound(LookupError):
    """Raised when a queue's dead-letter queue holds no job with that id (never there, requeued or purged)."""

    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__(f"no dead letter {job_id!r} in queue {queue!r} (requeued, purged, expired or never dead)")
        self.queue = queue
        self.job_id = job_id


def _broker() -> Any:
    import actors

    return actors.broker


def _is_redis(broker: Any) -> bool:
    return hasattr(broker, "client") and hasattr(broker, "namespace")


def _keys(broker: Any, queue: str) -> tuple[str, str]:
    xq = f"{broker.namespace}:{queue}.XQ"
    return xq, f"{xq}.msgs"


def _queues(queue: str | None) -> list[str]:
    if queue is not None:
        return [queue]
    from observability.queue_state import known_queues

    return known_queues()


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


# Redis ---------------------------------------------------------------------------------


#: Stands for a letter whose bytes are not a Dramatiq message, or one whose fields cannot be
#: trusted (`message_checks.shape_problem`): its store row, under its Redis id, tells the reason.
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


def _read(broker: Any, queue: str, members: list[tuple[bytes, float]]) -> list[tuple[bytes, float, Message | None]]:
    if not members:
        return []
    _, messages_key = _keys(broker, queue)
    bodies = broker.client.hmget(messages_key, [member for member, _ in members])
    return [(member, score, _decode(body)) for (member, score), body in zip(members, bodies, strict=True)]


def _member_id(member: bytes) -> str:
    """The store id of a letter known only by its Redis id (an unreadable message)."""
    return member.decode(errors="replace")[:36]


def _find(broker: Any, queue: str, job_id: str) -> tuple[bytes, float, Message] | None:
    """The letter of job `job_id`: through the store's broker reference, else by scanning the hash."""
    xq, messages_key = _keys(broker, queue)
    row = _store_rows([job_id]).get(job_id)
    if row and row.get("broker_ref"):
        member = row["broker_ref"].encode()
        score = broker.client.zscore(xq, member)
        body = broker.client.hget(messages_key, member) if score is not None else None
        message = _decode(body)
        if message is not None and message is not UNREADABLE and message.message_id == job_id:
            return member, score, message
    for member, body in broker.client.hscan_iter(messages_key, count=BATCH):
        message = _decode(body)
        if message is not UNREADABLE and message is not None and message.message_id == job_id:
            score = broker.client.zscore(xq, member)
            if score is not None:
                return member, score, message
    return None


def _requeue_letter(broker: Any, queue: str, member: bytes, score: float, message: Message) -> str:
    xq, messages_key = _keys(broker, queue)
    if not broker.client.zrem(xq, member):
        raise DeadLetterNotFound(queue, message.message_id)
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
        sent = broker.enqueue(fresh)
    except Exception:
        broker.client.zadd(xq, {member: score})  # put the letter back: nothing is lost
        raise
    broker.client.hdel(messages_key, member)
    return sent.message_id


# Public --------------------------------------------------------------------------------


def list_dead(queue: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Dead letters, newest first, across every queue when `queue` is None."""
    if limit <= 0:
        return []
    broker = _broker()
    if not _is_redis(broker):
        return _list_from_store(queue, limit, offset)
    candidates: list[tuple[float, str, bytes]] = []
    for name in _queues(queue):
        xq, _ = _keys(broker, name)
        for member, score in broker.client.zrevrange(xq, 0, offset + limit - 1, withscores=True):
            candidates.append((score, name, member))
    candidates.sort(key=lambda item: item[0], reverse=True)
    page = candidates[offset : offset + limit]
    read: list[tuple[str, float, bytes, Message | None]] = []
    for name in dict.fromkeys(name for _, name, _ in page):
        members = [(member, score) for score, q, member in page if q == name]
        read.extend((name, score, member, message) for member, score, message in _read(broker, name, members))
    ids = [
        _member_id(member) if message is UNREADABLE else message.message_id
        for _, _, member, message in read
        if message is not None
    ]
    rows = _store_rows(ids)
    letters = []
    for name, score, member, message in read:
        if message is UNREADABLE:  # described by its store row, when the worker could write one
            row = rows.get(_member_id(member))
            if row is not None:
                letters.append(_letter(name, None, row, score / 1000, detail=False))
        elif message is not None:
            letters.append(_letter(name, message, rows.get(message.message_id), score / 1000, detail=False))
    letters.sort(key=lambda letter: letter["deadAt"] or "", reverse=True)
    return letters


def count_dead(queue: str | None = None) -> dict[str, int]:
    """{queue: dead letters}."""
    broker = _broker()
    names = _queues(queue)
    if not _is_redis(broker):
        return {name: len(_list_from_store(name, 10**9, 0)) for name in names}
    pipe = broker.client.pipeline(transaction=False)
    for name in names:
        pipe.zcard(_keys(broker, name)[0])
    return dict(zip(names, (int(count) for count in pipe.execute()), strict=True))


def get_dead(queue: str, job_id: str) -> dict[str, Any] | None:
    """One dead letter with its traceback, earlier attempts and options; None when it is not one."""
    broker = _broker()
    if not _is_redis(broker):
        row = _store_rows([job_id]).get(job_id)
        if row is None or row["queue"] != queue or row["state"] != "dead":
            return None
        return _letter(queue, None, row, None, detail=True)
    found = _find(broker, queue, job_id)
    if found is None:
        # An unreadable message's letter: known by its Redis id, described by its store row.
        score = broker.client.zscore(_keys(broker, queue)[0], job_id)
        row = _store_rows([job_id]).get(job_id) if score is not None else None
        return None if row is None else _letter(queue, None, row, score / 1000, detail=True)
    _, score, message = found
    return _letter(queue, message, _store_rows([job_id]).get(job_id), score / 1000, detail=True)


def requeue(queue: str, job_id: str) -> str:
    """Send the dead job again as a new job linked to it; returns the new job id."""
    broker = _broker()
    if not _is_redis(broker):
        return _requeue_from_store(broker, queue, job_id)
    found = _find(broker, queue, job_id)
    if found is None:
        raise DeadLetterNotFound(queue, job_id)
    return _requeue_letter(broker, queue, *found)


def discard(queue: str, job_id: str) -> None:
    """Drop one dead letter from the dead-letter queue (its store row is the caller's business)."""
    broker = _broker()
    if not _is_redis(broker):
        return
    found = _find(broker, queue, job_id)
    if found is None:
        raise DeadLetterNotFound(queue, job_id)
    member = found[0]
    xq, messages_key = _keys(broker, queue)
    broker.client.zrem(xq, member)
    broker.client.hdel(messages_key, member)


def requeue_all(queue: str | None) -> int:
    """Requeue every dead letter of `queue` (of every queue when None), oldest first; returns how many."""
    broker = _broker()
    if not _is_redis(broker):
        return sum(
            1 for row in _list_from_store(queue, 10**9, 0) if _requeue_from_store(broker, row["queue"], row["id"])
        )
    total = 0
    for name in _queues(queue):
        xq, _ = _keys(broker, name)
        while True:
            members = broker.client.zrange(xq, 0, BATCH - 1, withscores=True)
            if not members:
                break
            for member, score, message in _read(broker, name, members):
                if message is None:
                    broker.client.zrem(xq, member)  # a letter without its message: nothing to send
                    continue
                if message is UNREADABLE:
                    continue  # nothing to send again; it stays for an operator to read and purge
                try:
                    _requeue_letter(broker, name, member, score, message)
                    total += 1
                except DeadLetterNotFound:
                    pass  # another operator took it first
    return total


def purge(queue: str | None) -> int:
    """Drop every dead letter of `queue` (every queue when None) and their store rows; returns how many."""
    broker = _broker()
    total = 0
    for name in _queues(queue):
        if _is_redis(broker):
            xq, messages_key = _keys(broker, name)
            pipe = broker.client.pipeline(transaction=True)
            pipe.hgetall(messages_key)
            pipe.delete(xq, messages_key)
            letters, _ = pipe.execute()
            ids = []
            for member, body in letters.items():
                message = _decode(body)
                ids.append(message.message_id if message and message is not UNREADABLE else _member_id(member))
        else:
            ids = [row["id"] for row in _list_from_store(name, 10**9, 0)]
            broker.channel.queue_purge(f"{name}.XQ")
        _delete_store_rows(ids)
        total += len(ids)
    return total


def prune(now: float | None = None) -> int:
    """Drop dead letters older than DEAD_LETTER_TTL from every queue; returns how many."""
    broker = _broker()
    if not _is_redis(broker):
        return 0
    cutoff_ms = ((time.time() if now is None else now) - get_settings().dead_letter_ttl) * 1000
    total = 0
    for name in _queues(None):
        xq, messages_key = _keys(broker, name)
        while True:
            members = broker.client.zrangebyscore(xq, 0, cutoff_ms, start=0, num=BATCH)
            if not members:
                break
            pipe = broker.client.pipeline(transaction=True)
            pipe.zrem(xq, *members)
            pipe.hdel(messages_key, *members)
            removed, _ = pipe.execute()
            total += int(removed)
    return total


# Stores without a readable dead-letter queue (RabbitMQ) --------------------------------------


def _list_from_store(queue: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
    get_buffer().flush(timeout=2.0)
    table = JobRecord.__table__
    retried = select(table.c.retry_of).where(table.c.retry_of.is_not(None))
    query = select(table).where(table.c.state == "dead", table.c.id.not_in(retried))
    if queue is not None:
        query = query.where(table.c.queue == queue)
    query = query.order_by(table.c.finished_at.desc().nulls_last(), table.c.id).limit(limit).offset(offset)
    with get_engine().connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    return [{**_letter(row["queue"], None, row, None, detail=False), "queue": row["queue"]} for row in rows]


def _requeue_from_store(broker: Any, queue: str, job_id: str) -> str:
    row = _store_rows([job_id]).get(job_id)
    if row is None or row["queue"] != queue or row["state"] != "dead":
        raise DeadLetterNotFound(queue, job_id)
    fresh: Message[Any] = Message(
        queue_name=queue,
        actor_name=row["actor"],
        args=(),
        kwargs=row["payload"] or {},
        options={"priority": row["priority"], "retry_of": job_id, "pipeline_id": row["pipeline_id"]},
    )
    return broker.enqueue(fresh).message_id


def _delete_store_rows(ids: list[str]) -> None:
    if not ids:
        return
    get_buffer().flush(timeout=2.0)
    with get_engine().begin() as connection:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            connection.execute(delete(JobRecord).where(JobRecord.id.in_(chunk), JobRecord.state == "dead"))
