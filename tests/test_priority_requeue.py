"""Messages given back on a graceful stop land in a lane the fetch reads, whatever `priority` they carry."""

from __future__ import annotations

import os
import threading
import time
import uuid

import dramatiq

from brokers.priority_redis import PriorityRedisBroker


def test_a_non_integer_priority_is_requeued_on_a_graceful_stop_into_the_nearest_lane(redis_client):
    # Given a plain dramatiq actor on a broker of its own, one worker thread busy with a CRITICAL job,
    # and two jobs sent with priority 2.5 and "2.5" waiting in that worker's memory
    namespace = f"requeue-{uuid.uuid4().hex[:8]}"
    broker = PriorityRedisBroker(url=os.environ["REDIS_URL"], namespace=namespace, middleware=[])
    started, release = [], threading.Event()

    def hold(label: str) -> None:
        started.append(label)
        release.wait(30)

    job = dramatiq.actor(hold, broker=broker, queue_name="lane-probe", actor_name="lane_probe")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.queue_prefetch = 8
    worker.start()
    try:
        job.send_with_options(args=("blocker",), priority=1)
        deadline = time.monotonic() + 15
        while started != ["blocker"]:
            assert time.monotonic() < deadline, "the first job did not start"
            time.sleep(0.02)
        job.send_with_options(args=("float",), priority=2.5)
        job.send_with_options(args=("text",), priority="2.5")
        acks = f"{namespace}:__acks__.{broker.broker_id}.lane-probe"
        while redis_client.scard(acks) < 3:  # both fetched into the worker's memory
            assert time.monotonic() < deadline, "the jobs were not fetched"
            time.sleep(0.02)
        # When the worker stops gracefully (the running job ends first)
        threading.Timer(0.5, release.set).start()
        worker.stop()
    finally:
        release.set()
        broker.close()
    # Then both are back in Redis, in lane 3 (2.5 rounded half up), which the fetch reads
    assert started == ["blocker"]
    lanes = {lane: length for lane, length in broker.lane_lengths("lane-probe").items() if length}
    assert lanes == {3: 2}
    assert sorted(key.decode() for key in redis_client.scan_iter(f"{namespace}:lane-probe|*")) == [
        f"{namespace}:lane-probe|3"
    ]


def test_a_message_put_back_by_the_script_with_a_non_integer_priority_lands_in_the_nearest_lane(redis_client, broker):
    # Given messages held in this process's ack set whose bodies (written by foreign producers) carry
    # priorities 2.5, "2.5", 0.2 and "soon"
    import orjson

    namespace, queue = broker.namespace, "lane-probe"
    held = {"a": 2.5, "b": "2.5", "c": 0.2, "d": "soon"}
    for redis_id, priority in held.items():
        body = {"queue_name": queue, "actor_name": "x", "args": [], "kwargs": {}, "message_id": redis_id,
                "message_timestamp": 0, "options": {"priority": priority, "redis_message_id": redis_id}}  # fmt: skip
        redis_client.hset(f"{namespace}:{queue}.msgs", redis_id, orjson.dumps(body))
        redis_client.sadd(f"{namespace}:__acks__.{broker.broker_id}.{queue}", redis_id)
    # When the script puts them back (as on a graceful stop)
    broker.do_requeue(queue, *held)
    # Then each is in the lane of its priority rounded half up, or NORMAL: lanes the fetch reads
    assert {lane: n for lane, n in broker.lane_lengths(queue).items() if n} == {3: 2, 1: 1, 5: 1}
