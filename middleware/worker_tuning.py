"""Our defaults for a worker: a deeper prefetch, and its in-memory queue ordered by message priority.

Dramatiq fetches `threads * 2` messages per queue by default and orders what it fetched by
actor priority only. A deeper prefetch (`WORKER_PREFETCH`, default 64) halves the fetch round
trips per job; with it, a worker holds more messages in memory, so its work queue also orders
them by each message's priority (CRITICAL=1 ... BACKGROUND=10, after the actor's own): a
CRITICAL job fetched behind LOW ones still starts first. `dramatiq_queue_prefetch` in the
environment, Dramatiq's own setting, wins over ours.
"""

from __future__ import annotations

import os
from queue import PriorityQueue
from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker
from dramatiq.worker import _WorkQueueItem

from brokers.priority_redis import lane_of
from settings import get_settings


class MessagePriorityQueue(PriorityQueue):  # type: ignore[type-arg]
    """The worker's work queue, ordered by (actor priority, message priority, arrival)."""

    def _put(self, item: Any) -> None:
        if isinstance(item, _WorkQueueItem):
            lane = lane_of(item.message.options.get("priority"))
            item = _WorkQueueItem(item.priority * 16 + lane, item.message, _queued_time=item._queued_time)
        super()._put(item)


class WorkerTuning(Middleware):
    def before_worker_boot(self, broker: Broker, worker: dramatiq.Worker) -> None:
        prefetch = get_settings().worker_prefetch
        if prefetch and not os.getenv("dramatiq_queue_prefetch"):  # noqa: SIM112 (Dramatiq's own name)
            worker.queue_prefetch = prefetch
        worker.work_queue = MessagePriorityQueue()
