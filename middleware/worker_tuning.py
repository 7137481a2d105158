"""Our defaults for a worker: prefetch per queue, and its in-memory queue ordered by message priority.

Dramatiq fetches `threads * 2` messages per queue by default and orders what it fetched by
actor priority only. Here a queue without a cluster-wide concurrency limit prefetches
`WORKER_PREFETCH` (default 64: half the fetch round trips per short job), and a queue with one
prefetches no more than that limit, since a worker could not start more of its jobs at once
anyway and would only hold them back from other workers (`cleanup` prefetches 1). With a deep
prefetch a worker holds more messages in memory, so its work queue orders them by each
message's priority (CRITICAL=1 ... BACKGROUND=10, after the actor's own): a CRITICAL job
fetched behind LOW ones still starts first. Within a priority, tenants (`core.tenants`) take
turns in the worker too, as they do in Redis: a message's turn is how many of its tenant's messages
are queued ahead of it, so the one job of a tenant fetched behind 64 of another's starts next.
`dramatiq_queue_prefetch` in the environment, Dramatiq's own setting, replaces `WORKER_PREFETCH`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from queue import PriorityQueue
from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker
from dramatiq.worker import _WorkQueueItem

from core.lanes import lane_of
from core.naming import canonical_queue
from core.tenants import tenant_of
from settings import get_settings

#: Bits of a work item's rank that hold its tenant's turn.
TURN_BITS = 64


class MessagePriorityQueue(PriorityQueue):  # type: ignore[type-arg]
    """The worker's work queue, ordered by (actor priority, message priority, tenant's turn, arrival).

    A tenant's turns follow one another (its messages keep their order); a tenant with nothing
    queued takes the turn being served now, so it goes before the others' later turns.
    """

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self._queued: defaultdict[str, int] = defaultdict(int)  # messages queued per tenant
        self._last_turn: dict[str, int] = {}  # the turn of each tenant's last message queued
        self._serving = 0  # the latest turn taken

    def _put(self, item: Any) -> None:
        if isinstance(item, _WorkQueueItem):
            lane = lane_of(item.message.options.get("priority"))
            tenant = tenant_of(item.message.options)
            turn = max(self._last_turn.get(tenant, -1) + 1, self._serving)
            self._last_turn[tenant] = turn
            self._queued[tenant] += 1
            rank = ((item.priority * 16 + lane) << TURN_BITS) + turn
            item = _WorkQueueItem(rank, item.message, _queued_time=item._queued_time)
        super()._put(item)

    def _get(self) -> Any:
        item = super()._get()
        if isinstance(item, _WorkQueueItem):
            self._serving = max(self._serving, item.priority & ((1 << TURN_BITS) - 1))
            tenant = tenant_of(item.message.options)
            left = self._queued[tenant] - 1
            if left > 0:
                self._queued[tenant] = left
            else:
                self._queued.pop(tenant, None)
                self._last_turn.pop(tenant, None)
        return item


def queue_prefetch(queue_name: str, default: int) -> int:
    """Messages a worker fetches ahead for `queue_name`: `default`, capped by the queue's concurrency."""
    concurrency = get_settings().queue(canonical_queue(queue_name)).concurrency
    return max(1, min(default, concurrency)) if concurrency else default


class WorkerTuning(Middleware):
    def before_worker_boot(self, broker: Broker, worker: dramatiq.Worker) -> None:
        prefetch = get_settings().worker_prefetch
        if prefetch and not os.getenv("dramatiq_queue_prefetch"):  # noqa: SIM112 (Dramatiq's own name)
            worker.queue_prefetch = prefetch
        worker.work_queue = MessagePriorityQueue()
        default = worker.queue_prefetch
        add_consumer = worker._add_consumer

        def add_consumer_with_prefetch(queue_name: str, *, delay: bool = False) -> None:
            if delay:  # delay queues keep Dramatiq's deep prefetch: their messages only wait for their time
                return add_consumer(queue_name, delay=True)
            worker.queue_prefetch = queue_prefetch(queue_name, default)
            try:
                add_consumer(queue_name)
            finally:
                worker.queue_prefetch = default

        worker._add_consumer = add_consumer_with_prefetch  # type: ignore[method-assign]
