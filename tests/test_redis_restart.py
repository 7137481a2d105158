"""A job in hand when Redis restarts runs once: its worker keeps it, even past the heartbeat timeout.

The worker's first connection error retires its connection id (the messages Dramatiq dropped
come back through that id's stale heartbeat); while a job fetched under that id still runs,
the id's heartbeat is kept, so maintenance never gives the job to another thread or worker.
"""

from __future__ import annotations

import threading
import time

import dramatiq

from brokers.priority_redis import PriorityRedisBroker
from tests.chaos.faults import OwnRedis

#: Milliseconds without a heartbeat before a connection id is dead (production: 60 s).
HEARTBEAT_TIMEOUT_MS = 5_000


def test_a_job_running_across_a_redis_restart_runs_once_past_the_heartbeat_timeout():
    # Given a worker on a Redis of the test's own (appendonly), with maintenance every second, running a long job
    own = OwnRedis()
    broker = PriorityRedisBroker(
        url=own.url, middleware=[], heartbeat_timeout=HEARTBEAT_TIMEOUT_MS, maintenance_interval=1.0
    )
    runs: list[str] = []
    release = threading.Event()

    def long_job(label: str) -> None:
        runs.append(label)
        if label == "in hand":
            release.wait(60)

    job = dramatiq.actor(long_job, broker=broker, queue_name="in-hand", actor_name="long_job")
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        job.send("in hand")
        _wait_until(lambda: runs == ["in hand"], 15, "the job to start")
        first_id = broker.broker_id
        # When Redis restarts while the job runs, and stays up past the heartbeat timeout
        own.stop()
        time.sleep(1)
        own.start()
        job.send("after the restart")
        _wait_until(lambda: "after the restart" in runs, 30, "the worker to fetch again")
        assert broker.broker_id != first_id, "the outage was not seen: nothing was tested"
        deadline = time.monotonic() + 2.5 * HEARTBEAT_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            assert runs.count("in hand") == 1, f"the job in hand was started again: {runs}"
            time.sleep(0.05)
        # Then, once it ends, it is acknowledged: it ran exactly once and nothing is left in Redis
        release.set()
        client = broker.client
        _wait_until(lambda: client.hlen("dramatiq:in-hand.msgs") == 0, 15, "the job's acknowledgement")
        assert runs.count("in hand") == 1
        assert sum(client.scard(key) for key in client.scan_iter("dramatiq:__acks__.*")) == 0
    finally:
        release.set()
        worker.stop()
        broker.close()
        own.close()


def _wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
