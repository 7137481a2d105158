"""The queue operations the product needs from a broker, and what they return.

Queue control, dead letters, the job-store reconciler and the queue gauges call these
methods on the broker (`brokers.redis_operations.RedisOperations` on Redis,
`brokers.rabbitmq.RabbitmqOperationsBroker` on RabbitMQ, `brokers.memory.MemoryBroker` in
the embedded default); nothing outside `brokers/` knows a Redis key or an AMQP queue name.

| method | does |
|---|---|
| `ping()` | reach the broker's server now (raises the client's error when it does not answer) |
| `queue_depths(queues)` | per queue: enqueued and not acknowledged, delayed, dead |
| `remove_message(queue, ref, delayed=)` | take one waiting or delayed message off (False: held, or not possible) |
| `drain_queue(queue, delayed=)` | remove every waiting (and delayed) message; report those a worker already holds |
| `promote_delayed(queue, refs)` | move delayed messages to their queue, due now; report those a worker holds |
| `list_dead_letters(queue, offset, limit)` | dead letters, newest first |
| `oldest_dead_letters(queue, limit)` | the oldest dead letters (requeue all works through them) |
| `find_dead_letter(queue, message_id, ref)` | one dead letter |
| `requeue_dead_letter(queue, letter, message)` | send `message` in place of the letter, which leaves the dead letters |
| `discard_dead_letter(queue, letter)` | drop one dead letter |
| `purge_dead_letters(queue)` | empty the dead letters in one call |
| `prune_dead_letters(queue, before_ms)` | drop letters dead before `before_ms` |
| `message_places(refs)` | where each (queue, ref) is: `waiting`, `delayed`, `dead` or None (acknowledged) |
| `enqueue_many(messages)` | many messages in few round trips |
| `orphaned_messages()` | messages fetched by workers the broker counts as dead, never acknowledged |
| `requeue_orphans()` | give those back to their queues now (RabbitMQ does it itself when the connection closes) |

An operation a broker cannot do raises `BrokerOperationUnsupported`, never returns as if done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from errors import Conflict, NotFound

#: Where `message_places` finds a message.
WAITING, DELAYED, DEAD = "waiting", "delayed", "dead"


class BrokerOperationUnsupported(Conflict, RuntimeError):
    """Raised when the broker in use cannot do a queue operation (HTTP 409, CLI exit 1)."""

    code = "unsupported_by_broker"

    def __init__(self, broker: str, operation: str, reason: str) -> None:
        super().__init__(f"{broker} cannot {operation}: {reason}")
        self.broker = broker
        self.operation = operation


class DeadLetterGone(NotFound):
    """Raised when a dead letter was taken (requeued, discarded, purged) by someone else meanwhile."""


@dataclass(frozen=True)
class QueueDepths:
    """A queue's messages on the broker."""

    depth: int = 0  # enqueued and not yet acknowledged: waiting, prefetched or running
    delayed: int = 0
    dead: int = 0
    #: False when the broker counts only messages no worker holds (RabbitMQ's ready messages:
    #: delayed ones sit in a worker's memory until due, so its delayed count reads 0).
    counts_held: bool = True


@dataclass
class Drained:
    """What `drain_queue` removed.

    `removed_ids`: job ids of the messages taken off the broker. `held_ids`: job ids of the
    delayed copies a worker had already fetched (in its memory until due): the caller must
    make sure they never run. `removed_count` may exceed `len(removed_ids)` when a broker purges
    messages without naming them (RabbitMQ, for those sent while the drain ran).
    """

    removed_ids: list[str] = field(default_factory=list)
    held_ids: list[str] = field(default_factory=list)
    removed_count: int = 0


@dataclass
class Promoted:
    """What `promote_delayed` did with the delayed messages it was given (by broker id).

    `moved_ids`: job ids of the messages moved from the delay queue to their queue, to run now
    (same job, same options but the time it was due). `held`: (broker id, body) of the delayed
    copies a worker had already fetched and keeps in memory until due: not the broker's to move,
    the caller decides. A broker id in neither was no longer delayed (due, cancelled, gone).
    """

    moved_ids: list[str] = field(default_factory=list)
    held: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as the broker holds it: its broker id, when it died (epoch seconds), its bytes."""

    ref: str
    dead_at: float | None
    body: bytes | None


@dataclass(frozen=True)
class OrphanedMessage:
    """A message a dead worker fetched and never acknowledged.

    `queue` is where it goes back to: the queue, or its delayed half (`<q>.DQ`) for a delayed
    message the worker held until due. `worker` is the dead connection's broker id."""

    queue: str
    ref: str
    job_id: str
    worker: str


@dataclass
class Orphans:
    """What `orphaned_messages` found, or `requeue_orphans` gave back (`requeued` of them).

    `note` says why a broker lists nothing when it cannot or need not (RabbitMQ gives a dead
    worker's unacknowledged messages back itself when its connection closes)."""

    messages: list[OrphanedMessage] = field(default_factory=list)
    requeued: int = 0
    note: str | None = None
