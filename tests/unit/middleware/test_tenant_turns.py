"""The worker's work queue: within a priority, tenants take turns (pure)."""

from __future__ import annotations

from typing import Any

from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.worker import _WorkQueueItem

from middleware.worker_tuning import MessagePriorityQueue


def item(tenant: str | None, priority: int | None = None) -> _WorkQueueItem:
    options: dict[str, Any] = {}
    if tenant is not None:
        options["tenant"] = tenant
    if priority is not None:
        options["priority"] = priority
    message = Message(queue_name="q", actor_name="a", args=(), kwargs={}, options=options)
    return _WorkQueueItem(0, MessageProxy(message))


def drain(queue: MessagePriorityQueue) -> list[Any]:
    out = []
    while not queue.empty():
        entry = queue.get_nowait()
        out.append((entry.message.options.get("tenant"), entry.message.options.get("priority")))
    return out


def test_one_job_of_b_fetched_behind_sixty_four_of_a_runs_second():
    # Given 64 jobs of A in a worker's queue, then one of B
    queue = MessagePriorityQueue()
    for _ in range(64):
        queue.put(item("pub-a"))
    queue.put(item("pub-b"))
    # When the worker threads take them, Then B's runs right after A's first
    order = drain(queue)
    assert order[1] == ("pub-b", None)
    assert len(order) == 65


def test_tenants_alternate_and_a_message_priority_still_comes_first():
    queue = MessagePriorityQueue()
    for tenant in ["pub-a"] * 3 + ["pub-b"] * 3:
        queue.put(item(tenant))
    queue.put(item("pub-b", priority=1))
    order = drain(queue)
    assert order[0] == ("pub-b", 1)
    assert [tenant for tenant, _ in order[1:]] == ["pub-a", "pub-b", "pub-a", "pub-b", "pub-a", "pub-b"]


def test_without_tenants_the_order_is_first_in_first_out():
    queue = MessagePriorityQueue()
    items = [item(None) for _ in range(10)]
    for entry in items[:5]:
        queue.put(entry)
    first = [queue.get_nowait() for _ in range(2)]
    for entry in items[5:]:
        queue.put(entry)
    rest = [queue.get_nowait() for _ in range(8)]
    assert [entry.message.message_id for entry in first + rest] == [entry.message.message_id for entry in items]
