"""The Redis broker's own threads and subscription: stopped by `close()`, scoped to their logical database."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

import dramatiq
from dramatiq import Message

from brokers.priority_redis import PriorityRedisBroker
from tests.chaos.faults import OwnRedis


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _subscribers(client, channel: str) -> int:
    return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))


def test_closing_the_broker_stops_its_ack_and_wakeup_threads_and_closes_its_subscription(redis_client):
    # Given a broker of its own whose worker ran a job (acknowledged by its ack thread, woken by its subscription)
    before = set(threading.enumerate())
    broker = PriorityRedisBroker(url=os.environ["REDIS_URL"], namespace=f"close-{uuid.uuid4().hex[:8]}", middleware=[])
    ran = threading.Event()
    job = dramatiq.actor(ran.set, broker=broker, queue_name="close-probe", actor_name="close_probe")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    job.send()
    assert ran.wait(15), "the job did not run"
    worker.stop()
    _wait_until(lambda: _subscribers(redis_client, broker.wakeups.channel) == 1, 5, "the wake-up subscription")
    assert {thread.name for thread in set(threading.enumerate()) - before} >= {"adjobs-acks", "adjobs-wakeups"}
    # When the broker is closed
    broker.close()
    # Then no thread it started is left, and Redis has no subscriber on its channel
    assert [thread.name for thread in set(threading.enumerate()) - before if thread.is_alive()] == []
    _wait_until(lambda: _subscribers(redis_client, broker.wakeups.channel) == 0, 5, "the subscription to close")


def test_a_push_on_one_logical_database_does_not_wake_consumers_of_another():
    # Given two brokers with the same namespace on databases 0 and 1 of one Redis server, both subscribed
    own = OwnRedis()
    first = PriorityRedisBroker(url=own.url, middleware=[])
    second = PriorityRedisBroker(url=own.url.rsplit("/", 1)[0] + "/1", middleware=[])
    try:
        first_event, second_event = first.wakeups.event("shared"), second.wakeups.event("shared")
        channels = {first.wakeups.channel, second.wakeups.channel}
        _wait_until(lambda: sum(_subscribers(first.client, c) for c in channels) == 2, 10, "both subscriptions")
        # When a job is pushed into an empty queue on the first database
        first.enqueue(Message(queue_name="shared", actor_name="anything", args=(), kwargs={}, options={}))
        _wait_until(first_event.is_set, 5, "the first broker's wake-up")
        time.sleep(0.5)  # the second would have had the same publish by now
        # Then only the first broker's consumers are woken
        assert not second_event.is_set()
        assert (first.wakeups.received, second.wakeups.received) == (1, 0)
    finally:
        first.close()
        second.close()
        own.close()
