"""Prefetch per queue: deep for unlimited queues, never more than a queue's cluster-wide concurrency."""

from __future__ import annotations

from middleware.worker_tuning import MessagePriorityQueue, queue_prefetch


def test_prefetch_is_capped_by_the_queue_concurrency():
    assert queue_prefetch("cleanup", 64) == 1
    assert queue_prefetch("analytics-aggregation", 64) == 3
    assert queue_prefetch("data-export", 64) == 2
    assert queue_prefetch("metrics-calculation", 64) == 5
    assert queue_prefetch("test-jobs", 64) == 64  # no concurrency limit
    assert queue_prefetch("cleanup", 0) == 1


def test_a_running_worker_uses_them_and_orders_its_queue_by_message_priority(worker):
    consumers = worker.consumers
    assert consumers["cleanup"].prefetch == 1
    assert consumers["analytics-aggregation"].prefetch == 3
    assert consumers["test-jobs"].prefetch == 64
    assert consumers["cleanup.DQ"].prefetch == worker.delay_prefetch  # delay queues keep Dramatiq's
    assert isinstance(worker.work_queue, MessagePriorityQueue)
