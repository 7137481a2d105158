"""Per-message priority on Redis: a CRITICAL job overtakes 1,000 waiting LOW ones."""

from __future__ import annotations

import time

from brokers.redis_keys import lane_key
from core.payloads import Priority
from tests.support import processes, store
from tests.support.sample_actors import probe


def redis_now(client) -> float:  # type: ignore[no-untyped-def]
    seconds, micros = client.time()
    return seconds + micros / 1e6


def critical_behind_low(redis_client, broker, env: dict[str, str], workers: int = 1) -> int:  # type: ignore[no-untyped-def]
    """LOW jobs that started after a CRITICAL job was sent and before it started."""
    # 1,000 LOW jobs wait in the queue before any worker runs
    for _ in range(1000):
        probe.send_with_options(kwargs={"key": "probe:low"}, priority=Priority.LOW)
    assert redis_client.llen(lane_key(broker.namespace, "limits-probe", Priority.LOW)) == 1000

    # One worker process with one thread starts on them; then one CRITICAL job is sent
    with processes.worker_process("tests.support.sample_actors", processes=workers, threads=1, env=env):
        deadline = time.monotonic() + 60
        while redis_client.llen("probe:low") < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        sent_at = redis_now(redis_client)
        critical = probe.send_with_options(kwargs={"key": "probe:critical"}, priority=Priority.CRITICAL)
        done = store.wait_for_state(critical.message_id, "completed", "dead", timeout=60)
    assert done["state"] == "completed"
    critical_start = float(redis_client.lrange("probe:critical", 0, -1)[0].decode().split(":")[0])
    low_starts = [float(item.decode().split(":")[0]) for item in redis_client.lrange("probe:low", 0, -1)]
    overtaken_by = sum(1 for start in low_starts if sent_at <= start < critical_start)
    left_waiting = 1000 - sum(1 for start in low_starts if start < critical_start)
    print(f"\nCRITICAL behind 1,000 LOW ({env}): started after {overtaken_by} LOW job(s); {left_waiting} still waiting")
    assert left_waiting > 500, "the LOW jobs must still have been waiting when the CRITICAL one ran"
    return overtaken_by


def test_a_critical_job_starts_next_behind_a_thousand_low_ones(redis_client, broker):
    # With Dramatiq's prefetch for one thread (2), the worker holds at most 2 LOW jobs.
    assert critical_behind_low(redis_client, broker, {"WORKER_PREFETCH": "2"}) <= 2


def test_a_deep_prefetch_still_runs_the_critical_job_among_the_next_few(redis_client, broker):
    # With our default prefetch (64) the worker holds 64 LOW jobs, but its work queue is
    # ordered by message priority: the CRITICAL job starts as soon as it is fetched.
    assert critical_behind_low(redis_client, broker, {}) <= 16


def test_with_two_worker_processes_the_critical_job_still_overtakes(redis_client, broker):
    # Two processes, each holding up to 64 LOW jobs: whichever fetches the CRITICAL job runs it next.
    assert critical_behind_low(redis_client, broker, {}, workers=2) <= 16


def test_lanes_hand_out_by_priority_then_first_in_first_out(broker, redis_client):
    from tests.support.sample_actors import echo

    sent = [
        (priority, echo.send_with_options(kwargs={"value": index}, priority=priority).message_id)
        for index, priority in enumerate([7, 5, 1, 10, 3, 5, 1])
    ]
    consumer = broker.consume("test-jobs", prefetch=10, timeout=100)
    try:
        fetched = []
        while len(fetched) < len(sent):
            message = next(consumer)
            if message is not None:
                fetched.append(message.message_id)
                consumer.ack(message)
    finally:
        consumer.close()
    expected = [job_id for _, job_id in sorted(sent, key=lambda pair: pair[0])]  # stable: FIFO within a lane
    assert fetched == expected
