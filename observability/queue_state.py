"""Per-queue figures read at a glance: broker depths, the store's jobs per state, paused queues.

Read by `/metrics`, `/health` and the alerts monitor. Broker figures come from the broker
itself (its `queue_depths`: enqueued, delayed, dead); store figures from one GROUP BY over
the job store, for the known queues only; paused queues from `runtime.flags`. The known
queues are the settings' and the platform's, plus those the process's broker declared for
the actors loaded in this process (the API and the CLI load the whole catalog).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from core.naming import canonical_queue
from db import jobstore
from db.engine import get_engine
from runtime import flags
from runtime.store_buffer import get_buffer
from settings import QUEUE_NAMES
from wiring.broker import get_broker

logger = logging.getLogger(__name__)

#: Queues of the platform itself, besides CONTRACT.md's.
SYSTEM_QUEUES = ("scheduler", "monitor")


@dataclass
class QueueFigures:
    broker_depth: int = 0  # enqueued and not yet acknowledged: waiting, prefetched or running
    broker_delayed: int = 0
    broker_dead: int = 0
    paused: bool = False
    store: dict[str, int] = field(default_factory=lambda: dict.fromkeys(jobstore.STATES, 0))


@dataclass
class Snapshot:
    queues: dict[str, QueueFigures]


def broker() -> Any:
    """The process's broker (`wiring.broker.get_broker`)."""
    return get_broker()


def known_queues() -> list[str]:
    """CONTRACT.md's queues, the platform's, and any other queue an actor loaded in this process declared.

    Only names from code: never a queue name read from a message or the job store, which a
    message written to Redis by hand could have put there (the API, `/metrics` and the
    dashboard show exactly these queues)."""
    names = dict.fromkeys((*QUEUE_NAMES, *SYSTEM_QUEUES))
    for name in sorted(get_broker().get_declared_queues()):
        names.setdefault(canonical_queue(name), None)
    return list(names)


def store_counts() -> dict[str, dict[str, int]]:
    get_buffer().flush(timeout=1.0)
    with get_engine().connect() as connection:
        return jobstore.count_by_state(connection)


def broker_counts(queues: list[str], store: dict[str, dict[str, int]] | None = None) -> dict[str, tuple[int, int, int]]:
    """{queue: (depth, delayed, dead)} from the broker (`queue_depths`, on every broker).

    A broker that counts only the messages no worker holds (RabbitMQ: a delayed message waits
    in a worker's memory until due) would read 0 for jobs the store knows are there: then
    the store's figures (waiting and active; delayed) stand in when they are higher."""
    depths = broker().queue_depths(queues)
    counts = {}
    for queue in queues:
        figures = depths[queue]
        depth, delayed = figures.depth, figures.delayed
        if not figures.counts_held and store is not None:
            known = store.get(queue, {})
            depth = max(depth, known.get("waiting", 0) + known.get("active", 0))
            delayed = max(delayed, known.get("delayed", 0))
        counts[queue] = (depth, delayed, figures.dead)
    return counts


def paused_queues() -> set[str]:
    """Queues paused by operators (`runtime.flags`, which queue control writes)."""
    return flags.paused()


def snapshot() -> Snapshot:
    store = store_counts()
    queues = known_queues()
    depths = broker_counts(queues, store)
    paused = paused_queues()
    figures: dict[str, QueueFigures] = {}
    for queue in queues:
        depth, delayed, dead = depths.get(queue, (0, 0, 0))
        counts = dict.fromkeys(jobstore.STATES, 0)
        counts.update(store.get(queue, {}))
        figures[queue] = QueueFigures(
            broker_depth=int(depth),
            broker_delayed=int(delayed),
            broker_dead=int(dead),
            paused=queue in paused,
            store=counts,
        )
    return Snapshot(queues=figures)
