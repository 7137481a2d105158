"""Acknowledgements written in batches (`brokers/acks.py`), on the real broker and Redis."""

from __future__ import annotations

import threading
import time

import dramatiq

from brokers.acks import AckBatcher
from tests.support.sample_actors import probe


def _held(redis_client, broker) -> tuple[int, int]:
    """(message ids in this process's ack sets, message bodies) Redis still keeps for the test's queue."""
    acks = sum(redis_client.scard(key) for key in redis_client.scan_iter(f"{broker.namespace}:__acks__.*"))
    return acks, redis_client.hlen(f"{broker.namespace}:{probe.queue_name}.msgs")


def test_a_stopped_worker_leaves_every_finished_job_acknowledged(redis_client, broker):
    before = broker.acks.acknowledged
    for _ in range(300):
        probe.send(key="acks:runs")
    worker = dramatiq.Worker(broker, worker_threads=8, worker_timeout=100)
    worker.start()
    deadline = time.monotonic() + 60
    while redis_client.llen("acks:runs") < 300:  # every job ran
        assert time.monotonic() < deadline, "the jobs did not run"
        time.sleep(0.01)
    worker.stop()  # no wait after it: closing the consumers writes what is queued
    assert redis_client.llen("acks:runs") == 300
    assert _held(redis_client, broker) == (0, 0)
    assert broker.acks.acknowledged - before >= 300


def test_acknowledgements_queued_together_go_in_one_call(redis_client, broker):
    namespace = broker.namespace
    ids = [f"id-{n}" for n in range(250)]
    redis_client.sadd(f"{namespace}:__acks__.a-worker.q", *ids)
    redis_client.hset(f"{namespace}:q.msgs", mapping={i: b"body" for i in ids})
    redis_client.hset(f"{namespace}:q.msgs", "not-acked", b"body")
    batcher = AckBatcher(broker.client, namespace, lambda: "a-worker")
    gate = threading.Lock()
    gate.acquire()
    original = batcher._write

    def held_write(batch):  # the first batch waits until every ack is queued
        with gate:
            original(batch)

    batcher._write = held_write
    batcher.ack("q", "a-worker", ids[0])
    for message_id in ids[1:]:
        batcher.ack("q", "a-worker", message_id)
    gate.release()
    assert batcher.flush(timeout=10)
    assert redis_client.scard(f"{namespace}:__acks__.a-worker.q") == 0
    assert redis_client.hkeys(f"{namespace}:q.msgs") == [b"not-acked"]
    assert batcher.acknowledged == 250
    # The first alone (or with whatever was queued before the thread took it), then the rest in one call.
    assert batcher.batches <= 2


def test_a_retired_connection_ids_heartbeat_is_left_to_go_stale(redis_client, broker):
    namespace = broker.namespace
    heartbeats = f"{namespace}:__heartbeats__"
    for worker_id in ("old-id", "new-id"):
        redis_client.sadd(f"{namespace}:__acks__.{worker_id}.q", f"m-{worker_id}")
        redis_client.hset(f"{namespace}:q.msgs", f"m-{worker_id}", b"body")
    batcher = AckBatcher(broker.client, namespace, lambda: "new-id")
    batcher.ack("q", "old-id", "m-old-id")
    batcher.ack("q", "new-id", "m-new-id")
    assert batcher.flush(timeout=10)
    assert redis_client.hlen(f"{namespace}:q.msgs") == 0
    assert redis_client.zscore(heartbeats, "new-id") is not None
    assert redis_client.zscore(heartbeats, "old-id") is None


def test_with_redis_away_closing_waits_once_not_per_consumer(broker):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    batcher = AckBatcher(unreachable, broker.namespace, lambda: "a-worker")
    batcher.ack("q", "a-worker", "m-1")
    started = time.monotonic()
    assert not batcher.flush(timeout=5)  # the first close: until the write fails
    assert batcher.failing
    again = time.monotonic()
    assert not batcher.flush(timeout=5)  # every later close: at once
    assert time.monotonic() - again < 0.1
    assert again - started < 5
