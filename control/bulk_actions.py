"""Bulk actions: retry every failed or dead job of a queue or of a search, purge a queue's dead
letters, clean its finished job records, promote its delayed jobs to run now.

What the API's bulk routes and the dashboard's confirmation dialogs call. Every action takes
`dry_run`: then it changes nothing and answers how many jobs it would touch (the dialog shows that
count before the operator confirms). Work goes in chunks of CHUNK jobs read by the store's
primary key (keyset, never an offset), so an action over a million jobs holds one chunk at a
time; `limit` bounds how many one call acts on. Every action answers counts:
`{"action", "queue", "dryRun", "count", ...}`, `count` being the jobs it touched (or would).

- Retry (`retry_queue`, `retry_search`) runs each job again as the single retry does
  (`service.retry`): a failed job's pending attempt is dropped and it runs now as a new job; a
  dead job is sent again from its dead letter, which leaves the dead-letter queue (`dead_letters`),
  linked by `retryOf`. A dead job whose letter is gone (retried already, purged, expired) is
  skipped, never sent a second time, and a retried failed job reads `cancelled`: calling twice
  retries each job once. Only jobs enqueued before the call are looked at, so a retried job that
  fails again at once is not retried again by the same call.
- Purge drops the queue's dead letters in one broker call, and their store rows.
- Clean removes the queue's job records in a final state (completed, failed, dead, cancelled)
  that finished more than `grace_seconds` ago, as `service.clean` does, chunk after chunk.
- Promote makes delayed jobs due now. On Redis, a message still on the delay queue moves to its
  queue as it is (same job id; `promote_delayed`); a delayed copy a worker already fetched (workers
  keep delayed messages in memory until due) is marked so every worker skips it, and its job is
  sent again now as a new job linked by `retryOf` (the old one reads `cancelled`). RabbitMQ and the
  in-process broker cannot promote: `BrokerOperationUnsupported` (409), dry run included.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from dramatiq import Message
from dramatiq.errors import DecodeError
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from brokers.operations import DEAD, BrokerOperationUnsupported
from control import dead_letters, service
from db import job_search, jobstore
from db.engine import get_engine
from db.models import JobRecord
from runtime import flags
from runtime.store_buffer import get_buffer
from wiring.broker import get_broker

#: Jobs read and acted on per round trip.
CHUNK = 200
#: The states a retry applies to.
RETRYABLE = ("failed", "dead")
#: The final states clean removes records of.
CLEANABLE = ("completed", "failed", "dead", "cancelled")
#: Options a promoted job sent again does not inherit: they describe the delayed copy it replaces.
REPLACED_OPTIONS = dead_letters.TRANSIENT_OPTIONS | {"eta"}

TABLE = JobRecord.__table__


def _broker() -> Any:
    """The process's broker, with the queue operations of `brokers.operations`."""
    return get_broker()


def _reply(action: str, queue: str | None, dry_run: bool, count: int, **extra: Any) -> dict[str, Any]:
    return {"action": action, "queue": queue, "dryRun": dry_run, "count": count, **extra}


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise service.InvalidRequest(f"limit: at least 1, not {limit}")


def _chunks(conditions: list[ColumnElement[bool]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """The rows `conditions` keep, CHUNK at a time in the order of their ids (a keyset: rows acted on
    and still matching are not read again). The store buffer is flushed first."""
    get_buffer().flush(timeout=2.0)
    columns = (TABLE.c.id, TABLE.c.queue, TABLE.c.state, TABLE.c.broker_ref)
    after: str | None = None
    while True:
        query = select(*columns).where(and_(True, *conditions))
        if after is not None:
            query = query.where(TABLE.c.id > after)
        with get_engine().connect() as connection:
            rows = [dict(row) for row in connection.execute(query.order_by(TABLE.c.id).limit(size)).mappings()]
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


def _before_now() -> ColumnElement[bool]:
    """Jobs enqueued before this call: what the call itself sends is never its own input."""
    return or_(TABLE.c.enqueued_at <= datetime.now(UTC), TABLE.c.enqueued_at.is_(None))


# Retry ------------------------------------------------------------------------------------


def retry_queue(
    queue: str, status: str | None = None, *, dry_run: bool = False, limit: int | None = None
) -> dict[str, Any]:
    """Retry every failed (`status="failed"`), dead (`"dead"`) or both (None) job of `queue`."""
    service.check_queue(queue)
    if status is not None and status not in RETRYABLE:
        raise service.InvalidRequest(f"status: retry applies to failed or dead jobs, not {status!r}")
    states = RETRYABLE if status is None else (status,)
    return _retry(job_search.JobFilter(queue=queue, states=states), dry_run=dry_run, limit=limit, queue=queue)


def retry_search(search: job_search.JobFilter, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
    """Retry the failed and dead jobs among those `search` keeps (its states narrowed to those two)."""
    states = RETRYABLE if search.states is None else tuple(s for s in search.states if s in RETRYABLE)
    if not states:
        raise service.InvalidRequest(
            f"state: retry applies to failed or dead jobs, not {', '.join(search.states or ())}"
        )
    return _retry(dataclasses.replace(search, states=states), dry_run=dry_run, limit=limit, queue=search.queue)


def _retry(search: job_search.JobFilter, *, dry_run: bool, limit: int | None, queue: str | None) -> dict[str, Any]:
    _check_limit(limit)
    with get_engine().connect() as connection:
        conditions = job_search.where(connection.dialect.name, search)
    conditions.append(_before_now())
    matched = retried = skipped = 0
    for rows in _chunks(conditions):
        letters = _dead_letters_present([row for row in rows if row["state"] == "dead"])
        for row in rows:
            if limit is not None and retried >= limit:
                break
            matched += 1
            if row["state"] == "dead" and letters is not None and row["id"] not in letters:
                skipped += 1  # its letter is gone: retried already, purged or expired
            elif dry_run or _retry_one(row):
                retried += 1
            else:
                skipped += 1
        if limit is not None and retried >= limit:
            break
    if not dry_run:
        get_buffer().flush(timeout=2.0)
    return _reply("retry", queue, dry_run, retried, matched=matched, skipped=skipped)


def _dead_letters_present(rows: list[dict[str, Any]]) -> set[str] | None:
    """Which of these dead jobs have their letter in the dead-letter queue, asked in one round trip
    (`message_places` on the Redis id the store keeps); None when the broker cannot say."""
    if not rows:
        return set()
    try:
        places = _broker().message_places([(row["queue"], row["broker_ref"] or row["id"]) for row in rows])
    except BrokerOperationUnsupported:
        return None
    return {row["id"] for row, place in zip(rows, places, strict=True) if place == DEAD}


def _retry_one(row: dict[str, Any]) -> bool:
    """Retry one job as the single retry does; False when it is not retryable any more."""
    try:
        if row["state"] == "dead":
            dead_letters.requeue(row["queue"], row["id"])  # no letter, no second send
        else:
            service.retry(row["queue"], row["id"])
    except (dead_letters.DeadLetterNotFound, service.InvalidJobState, service.JobNotFound):
        return False  # another operator took it first, or it moved on (its retry started)
    return True


# Dead letters -----------------------------------------------------------------------------


def purge_dead_letters(queue: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Drop every dead letter of `queue` and their store rows: one broker call."""
    service.check_queue(queue)
    if dry_run:
        return _reply("purge", queue, True, dead_letters.count_dead(queue)[queue])
    return _reply("purge", queue, False, dead_letters.purge(queue))


# Clean ------------------------------------------------------------------------------------


def clean(
    queue: str,
    status: str = "completed",
    grace_seconds: int = 0,
    *,
    dry_run: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """Remove the records of `queue`'s jobs in `status` that finished more than `grace_seconds` ago."""
    service.check_queue(queue)
    if status not in CLEANABLE:
        raise service.InvalidRequest(f"status: one of {', '.join(CLEANABLE)}, not {status!r}")
    if grace_seconds < 0:
        raise service.InvalidRequest(f"gracePeriod: seconds, at least 0, not {grace_seconds}")
    _check_limit(limit)
    if dry_run:
        get_buffer().flush(timeout=2.0)
        before = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        conditions = [TABLE.c.queue == queue, TABLE.c.state == status, TABLE.c.finished_at <= before]
        query = select(func.count()).where(*conditions)
        with get_engine().connect() as connection:
            found = int(connection.execute(query).scalar_one())
        return _reply("clean", queue, True, min(found, limit or found), status=status, gracePeriod=grace_seconds)
    removed = 0
    while limit is None or removed < limit:
        size = CHUNK if limit is None else min(CHUNK, limit - removed)
        done = service.clean(queue, grace_seconds, status, size)["removed"]
        removed += done
        if done < size:
            break
    return _reply("clean", queue, False, removed, status=status, gracePeriod=grace_seconds)


# Promote ----------------------------------------------------------------------------------


def promote(queue: str, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
    """Run `queue`'s delayed jobs now instead of at their time (Redis only)."""
    service.check_queue(queue)
    _check_limit(limit)
    broker = _broker()
    broker.promote_delayed(queue, [])  # a broker that cannot promote says so before anything is counted
    conditions = [TABLE.c.queue == queue, TABLE.c.state == "delayed", _before_now()]
    if dry_run:
        get_buffer().flush(timeout=2.0)
        with get_engine().connect() as connection:
            found = int(connection.execute(select(func.count()).where(*conditions)).scalar_one())
        return _reply("promote", queue, True, min(found, limit or found))
    moved = replaced = skipped = 0
    for chunk in _chunks(conditions):
        while chunk and (limit is None or moved + replaced < limit):
            size = len(chunk) if limit is None else limit - moved - replaced
            rows, chunk = chunk[:size], chunk[size:]
            refs = {row["broker_ref"]: row["id"] for row in rows if row["broker_ref"]}
            promoted = broker.promote_delayed(queue, list(refs))
            held = _replace_held(broker, queue, [(refs.get(ref), body) for ref, body in promoted.held])
            moved, replaced = moved + len(promoted.moved_ids), replaced + held
            skipped += len(rows) - len(promoted.moved_ids) - held  # no longer delayed, or no broker id
        if limit is not None and moved + replaced >= limit:
            break
    get_buffer().flush(timeout=2.0)
    return _reply("promote", queue, False, moved + replaced, moved=moved, replaced=replaced, skipped=skipped)


def _replace_held(broker: Any, queue: str, held: list[tuple[str | None, bytes]]) -> int:
    """Delayed copies a worker holds until due: every worker skips them (`flags`, as a cancel), and
    each job is sent again now as a new job linked by `retryOf`; the old one reads `cancelled`."""
    messages: list[Message[Any]] = []
    for job_id, body in held:
        try:
            message = Message.decode(body)
        except DecodeError:
            continue
        if job_id is None or message.message_id != job_id:
            continue
        messages.append(message)
    if not messages:
        return 0
    flags.mark_all_cancelled([message.message_id for message in messages])
    time.sleep(service.CANCEL_PROPAGATION_SECONDS)
    for message in messages:
        options = {key: value for key, value in message.options.items() if key not in REPLACED_OPTIONS}
        options["retry_of"] = message.message_id
        fresh: Message[Any] = Message(
            queue_name=queue, actor_name=message.actor_name, args=message.args, kwargs=message.kwargs, options=options
        )
        sent = broker.enqueue(fresh)
        _mark_replaced(message.message_id, str(sent.message_id))
    return len(messages)


def _mark_replaced(job_id: str, new_id: str) -> None:
    """The old job's final state, ranked above anything its skipped copy reports (as a cancel's)."""
    with get_engine().begin() as connection:
        connection.execute(
            update(TABLE)
            .where(TABLE.c.id == job_id)
            .values(
                state="cancelled",
                seq=jobstore.CANCELLED_SEQ,
                error=f"promoted: runs now as job {new_id}",
                finished_at=func.now(),
            )
        )
