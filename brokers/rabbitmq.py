"""Dramatiq's RabbitMQ broker with per-message priority and the queue operations of `brokers.operations`.

Priority: queues are declared with `x-max-priority` (`max_priority`, 10 by default) and each
message carries Dramatiq's `broker_priority` option, mapped from ours (1 = CRITICAL ... 10 =
BACKGROUND, lower runs first) to AMQP's (higher first): `11 - priority`. RabbitMQ cannot add
`x-max-priority` to a queue that exists without it: queues declared by an earlier version
must be deleted (after draining) before a worker of this version declares them again.

The layout is Dramatiq's: queue `<q>`, its delay queue `<q>.DQ` and its dead letters `<q>.XQ`
(dead-lettered by RabbitMQ itself, kept `x-message-ttl` = 7 days). A queue is read in order
only: a dead letter is found by reading the `.XQ` queue on a channel of its own without
acknowledging (closing the channel gives every letter back, in place), and taken by
acknowledging it. What RabbitMQ cannot do (pick one waiting message out of a queue, say
where a message is) raises `BrokerOperationUnsupported` or returns False where the caller has
a fallback (cancel marks the job so workers skip it).

Quorum queues (`queue_type="quorum"`, RABBITMQ_QUEUE_TYPE): the queue, its `.DQ` and its `.XQ`
are declared `x-queue-type: quorum` (durable, replicated by Raft across a cluster's nodes, each
message written to a majority's disk before it is confirmed). RabbitMQ 3.x quorum queues have
no `x-max-priority` (3.13 adds two levels; this machine runs 3.10): the argument is left out
and messages leave in the order they came. Priority then orders only the messages a worker has
prefetched (`WORKER_PREFETCH`, the worker's in-memory queue is ordered by priority), as on
Dramatiq's own Redis broker. Dead letters (`x-dead-letter-*`, at most once) and the `.XQ`
queue's `x-message-ttl` work on quorum queues from RabbitMQ 3.10. A queue's type is fixed when
it is made: switching an existing deployment means draining and deleting its queues first. A
declaration RabbitMQ refuses for that reason (406 PRECONDITION_FAILED) raises `QueueTypeMismatch`,
one line naming RABBITMQ_QUEUE_TYPE (a worker checks the platform's queues as it starts).
Sends use publisher confirms there (`confirm_delivery`): `send()` returns once the queue's
majority has the message, so a node lost right after a send loses nothing that was confirmed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pika
from dramatiq import Message
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.common import dq_name, xq_name
from dramatiq.errors import ConnectionClosed, DecodeError

from brokers.operations import (
    BrokerOperationUnsupported,
    DeadLetter,
    DeadLetterGone,
    Drained,
    Orphans,
    Promoted,
    QueueDepths,
)
from core.lanes import LANES, lane_of
from errors import ServiceUnavailable

#: Why RabbitMQ lists no messages of dead workers.
ORPHANS_NOTE = (
    "RabbitMQ gives a worker's unacknowledged messages back to their queue itself when its "
    "connection closes (a killed worker's at once, a silent one's after the AMQP heartbeat): none wait here"
)
#: Messages a drain acknowledges at once (and lets RabbitMQ deliver ahead).
TAKE_BATCH = 1000
#: A drain stops taking when no message arrives for this long (the queue is empty).
TAKE_IDLE_SECONDS = 0.2
#: Letters a listing reads at most (a queue is read in order: newest first means reading them all).
MAX_LETTERS_READ = 10_000
#: RABBITMQ_QUEUE_TYPE's values.
QUEUE_TYPES = ("classic", "quorum")
#: AMQP's reply code when a queue exists with other arguments than those declared.
PRECONDITION_FAILED = 406


class QueueTypeMismatch(ServiceUnavailable):
    """Raised when RabbitMQ refuses a queue's declaration (406) because the queue exists with another
    type or other arguments than RABBITMQ_QUEUE_TYPE gives."""

    public_message = "RabbitMQ refuses the queue: its type differs from RABBITMQ_QUEUE_TYPE (see the log)"


def amqp_priority(priority: Any) -> int:
    """Our priority (1 runs first ... 10) as an AMQP priority (10 runs first ... 1)."""
    return LANES + 1 - lane_of(priority)


def _job_id(body: bytes, fallback: str) -> str:
    try:
        return Message.decode(body).message_id
    except DecodeError:
        return fallback


def _dead_at(properties: Any) -> float | None:
    deaths = (properties.headers or {}).get("x-death") or []
    when = deaths[0].get("time") if deaths else None
    if not isinstance(when, datetime):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()  # pika reads AMQP timestamps as UTC


class RabbitmqOperationsBroker(RabbitmqBroker):
    """`RabbitmqBroker` whose messages carry their priority to RabbitMQ, with the product's queue operations."""

    def __init__(self, *args: Any, max_priority: int = LANES, queue_type: str = "classic", **kwargs: Any) -> None:
        if queue_type not in QUEUE_TYPES:
            raise ValueError(f"queue_type must be one of {', '.join(QUEUE_TYPES)}, not {queue_type!r}")
        self.queue_type = queue_type
        if queue_type == "quorum":  # a send returns once a majority of the cluster holds the message
            kwargs.setdefault("confirm_delivery", True)
        super().__init__(*args, max_priority=None if queue_type == "quorum" else max_priority, **kwargs)

    def _ensure_queue(self, canonical_queue_name: str) -> None:
        """Dramatiq's declaration of the queue, its `.DQ` and `.XQ`; a queue that exists with another type
        (RabbitMQ's 406, which Dramatiq reports as a closed connection) raises `QueueTypeMismatch`."""
        try:
            super()._ensure_queue(canonical_queue_name)
        except ConnectionClosed as error:
            refused = error.args[0] if error.args else None
            if not isinstance(refused, pika.exceptions.ChannelClosedByBroker):
                raise
            if refused.reply_code != PRECONDITION_FAILED:
                raise
            raise QueueTypeMismatch(self._mismatch(canonical_queue_name, str(refused.reply_text))) from None

    def _mismatch(self, queue: str, reply: str) -> str:
        other = "classic" if self.queue_type == "quorum" else "quorum"
        return (
            f"RabbitMQ refuses queue {queue!r} as RABBITMQ_QUEUE_TYPE={self.queue_type} declares it ({reply}): "
            f"set RABBITMQ_QUEUE_TYPE={other} as the queues were made (the same in every process), or drain and "
            f"delete {queue}, {dq_name(queue)} and {xq_name(queue)} to make them {self.queue_type}"
        )

    def ensure_queues(self, queues: list[str]) -> None:
        """Declare `queues` on RabbitMQ now (a process's start): raises `QueueTypeMismatch` for one of another type."""
        for queue in queues:
            self.declare_queue(queue, ensure=True)

    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        arguments: dict[str, Any] = super()._build_queue_arguments(queue_name)
        if self.queue_type == "quorum":
            arguments["x-queue-type"] = "quorum"
        return arguments

    def _declare_xq_queue(self, queue_name: str) -> Any:
        if self.queue_type != "quorum":
            return super()._declare_xq_queue(queue_name)
        return self.channel.queue_declare(
            queue=xq_name(queue_name),
            durable=True,
            arguments={"x-queue-type": "quorum", "x-message-ttl": DEAD_MESSAGE_TTL},
        )

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        if "broker_priority" not in message.options:
            message = message.copy(options={"broker_priority": amqp_priority(message.options.get("priority"))})
        return super().enqueue(message, delay=delay)

    def enqueue_many(self, messages: list[Message[Any]]) -> list[Message[Any]]:
        """One publish per message: RabbitMQ's channel sends them without waiting for replies."""
        return [self.enqueue(message) for message in messages]

    def _unsupported(self, operation: str, reason: str) -> BrokerOperationUnsupported:
        return BrokerOperationUnsupported("RabbitMQ", operation, reason)

    def ping(self) -> None:
        """Open this thread's connection to RabbitMQ (or reuse it) and exchange frames on it."""
        self.connection.process_data_events(time_limit=0)

    # Depths ------------------------------------------------------------------------------

    def queue_depths(self, queues: list[str]) -> dict[str, QueueDepths]:
        """Ready messages per queue (RabbitMQ does not count those delivered and not acknowledged)."""
        return {queue: QueueDepths(*self.get_queue_message_counts(queue), counts_held=False) for queue in queues}

    # Waiting and delayed messages ---------------------------------------------------------

    def remove_message(self, queue: str, ref: str, *, delayed: bool) -> bool:
        """Always False: RabbitMQ cannot take one message out of the middle of a queue."""
        return False

    def drain_queue(self, queue: str, *, delayed: bool = True) -> Drained:
        """Take every ready message of the queue (and its delay queue), naming their jobs, then
        purge what arrived meanwhile (counted, not named). Messages workers already hold are not
        the broker's to drop: the caller marks those jobs (the store's waiting ones not named
        here) so workers skip them; naming the removed ones keeps that set to what workers hold."""
        self.declare_queue(queue, ensure=True)
        drained = Drained()
        for name in (queue, dq_name(queue)) if delayed else (queue,):
            drained.removed_ids += self._take_ready(name)
            drained.removed_count += int(self.channel.queue_purge(name).method.message_count)
        drained.removed_count += len(drained.removed_ids)
        return drained

    def promote_delayed(self, queue: str, refs: list[str]) -> Promoted:
        """Refused: a delayed message waits in the `.DQ` queue, read in order only, or in a worker's memory."""
        raise self._unsupported(
            "promote delayed jobs",
            "its delayed messages sit in the delay queue, which is read in order only, or in workers' memory "
            "until due; they run at their time (cancel them and send them again to run now)",
        )

    def _take_ready(self, name: str) -> list[str]:
        """Consume and acknowledge the messages ready in `name` when called (at most that many), on
        a connection of its own; their job ids. Those delivered but not yet read go back on close."""
        connection = pika.BlockingConnection(self.parameters)
        ids: list[str] = []
        try:
            channel = connection.channel()
            ready = int(channel.queue_declare(name, passive=True).method.message_count)
            if not ready:
                return ids
            channel.basic_qos(prefetch_count=min(ready, TAKE_BATCH))
            last_tag = None
            for method, _properties, body in channel.consume(name, inactivity_timeout=TAKE_IDLE_SECONDS):
                if method is None:
                    break
                ids.append(_job_id(body, f"tag-{method.delivery_tag}"))
                last_tag = method.delivery_tag
                if len(ids) % TAKE_BATCH == 0:
                    channel.basic_ack(last_tag, multiple=True)
                if len(ids) >= ready:
                    break
            if last_tag is not None:
                channel.basic_ack(last_tag, multiple=True)
            channel.cancel()
        finally:
            connection.close()
        return ids

    def message_places(self, refs: list[tuple[str, str]]) -> list[str | None]:
        raise self._unsupported("say where a message is", "its queues can only be read in order")

    # Messages of dead workers -------------------------------------------------------------

    def orphaned_messages(self) -> Orphans:
        """None: RabbitMQ redelivers a dead connection's unacknowledged messages itself (`note`)."""
        return Orphans(note=ORPHANS_NOTE)

    def requeue_orphans(self) -> Orphans:
        """Nothing to do: RabbitMQ requeued them when the dead worker's connection closed (`note`)."""
        return Orphans(note=ORPHANS_NOTE)

    # Dead letters -------------------------------------------------------------------------

    @contextmanager
    def _reading(self, queue: str) -> Iterator[Any]:
        """A channel of its own on `<queue>.XQ`; what it reads and does not acknowledge goes back on close."""
        self.declare_queue(queue, ensure=True)
        connection = pika.BlockingConnection(self.parameters)
        try:
            yield connection.channel()
        finally:
            connection.close()

    def _read(self, channel: Any, queue: str, limit: int = MAX_LETTERS_READ) -> Iterator[tuple[Any, DeadLetter]]:
        for _ in range(limit):
            method, properties, body = channel.basic_get(xq_name(queue), auto_ack=False)
            if method is None:
                return
            ref = _job_id(body, f"tag-{method.delivery_tag}")
            yield method, DeadLetter(ref=ref, dead_at=_dead_at(properties), body=body)

    def list_dead_letters(self, queue: str, offset: int = 0, limit: int = 50) -> list[DeadLetter]:
        """Newest first (read all, up to MAX_LETTERS_READ, without taking any)."""
        if limit <= 0:
            return []
        with self._reading(queue) as channel:
            letters = [letter for _, letter in self._read(channel, queue)]
        letters.reverse()
        return letters[offset : offset + limit]

    def oldest_dead_letters(self, queue: str, limit: int = 200) -> list[DeadLetter]:
        with self._reading(queue) as channel:
            return [letter for _, letter in self._read(channel, queue, limit)]

    def find_dead_letter(self, queue: str, message_id: str, ref: str | None = None) -> DeadLetter | None:
        with self._reading(queue) as channel:
            for _, letter in self._read(channel, queue):
                if letter.ref == message_id:
                    return letter
        return None

    @contextmanager
    def _taking(self, queue: str, letter: DeadLetter) -> Iterator[None]:
        """Hold the letter (unacknowledged, so no one else reads it); acknowledged when the block succeeds."""
        with self._reading(queue) as channel:
            for method, candidate in self._read(channel, queue):
                if candidate.ref == letter.ref:
                    yield
                    channel.basic_ack(method.delivery_tag)
                    return
        raise DeadLetterGone(letter.ref)

    def requeue_dead_letter(self, queue: str, letter: DeadLetter, message: Message[Any]) -> Message[Any]:
        with self._taking(queue, letter):
            sent = self.enqueue(message)
        return sent

    def discard_dead_letter(self, queue: str, letter: DeadLetter) -> None:
        with self._taking(queue, letter):
            pass

    def purge_dead_letters(self, queue: str) -> tuple[int, list[DeadLetter]]:
        """One `queue.purge` of `<queue>.XQ`; the letters read just before name the job records to drop."""
        letters = self.oldest_dead_letters(queue, MAX_LETTERS_READ)
        purged = int(self.channel.queue_purge(xq_name(queue)).method.message_count)
        return purged, letters

    def prune_dead_letters(self, queue: str, before_ms: float) -> int:
        """RabbitMQ expires dead letters itself (the `.XQ` queue's `x-message-ttl`): nothing to do here."""
        return 0
