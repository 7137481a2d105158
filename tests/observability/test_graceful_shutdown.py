"""SIGTERM to a worker: running jobs finish within the grace period or go back to their queue.

No job is lost and none is marked failed because of the shutdown. Real `dramatiq` processes.
"""

from __future__ import annotations

import time

from db import jobstore
from db.engine import get_engine
from runtime.store_buffer import get_buffer
from tests.observability.observed_actors import nap
from tests.observability.workers import dramatiq_worker
from tests.support import store


def _states(ids: list[str]) -> dict[str, int]:
    get_buffer().flush()
    with get_engine().connect() as connection:
        counts = jobstore.count_by_state(connection, "test-observability").get("test-observability", {})
    return {state: count for state, count in counts.items() if count}


def _wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached after {timeout}s")


def test_sigterm_during_200_jobs_loses_none_and_fails_none(redis_client):
    # Given 200 jobs of 100 ms each, being worked by two processes
    ids = [nap.send(key=f"job-{i}", seconds=0.1).message_id for i in range(200)]
    with dramatiq_worker(processes=2, threads=4) as first:
        first.wait_ready(processes=2)
        _wait_until(lambda: _states(ids).get("completed", 0) >= 40, 60, "40 jobs completed")
        # When the worker gets SIGTERM in the middle of them
        assert first.terminate(timeout=60) == 0
        stopped = _states(ids)
    assert 40 <= stopped.get("completed", 0) < 200, stopped
    assert stopped.get("failed", 0) == 0 and stopped.get("dead", 0) == 0 and stopped.get("active", 0) == 0, stopped
    # Then a new worker finishes the rest
    with dramatiq_worker(processes=2, threads=4) as second:
        second.wait_ready(processes=2)
        # Under load a message can be left in the stopped worker's ack set; Dramatiq hands it back after the
        # heartbeat timeout (60 s) at its next maintenance, so allow for that rather than a fast path.
        _wait_until(lambda: _states(ids).get("completed", 0) == 200, 300, "all 200 completed")
    # and every job completed once, on its first attempt, none failed or dead
    assert _states(ids) == {"completed": 200}
    rows = [store.job(job_id) for job_id in ids]
    assert all(row["attempts"] == 1 and row["error"] is None for row in rows)
    runs = {key.decode(): int(count) for key, count in redis_client.hgetall("naps").items()}
    assert len(runs) == 200 and set(runs.values()) == {1}


def test_a_job_longer_than_the_grace_period_goes_back_to_its_queue_at_once(redis_client):
    # Given a worker with a one-second grace period, running a job of eight seconds
    with dramatiq_worker(processes=1, threads=1, extra=("--worker-shutdown-timeout", "1000")) as first:
        first.wait_ready()
        message = nap.send(key="long", seconds=8)
        store.wait_for_state(message.message_id, "active", timeout=30)
        # When it gets SIGTERM
        started = time.monotonic()
        first.terminate(timeout=60)
        stopped_after = time.monotonic() - started
        output = first.output()
    # Then the worker stopped after the grace, not after the job
    assert stopped_after < 7, output[-2000:]
    assert "went back to 'test-observability'" in output
    # and the job is waiting on its queue again right away (not in a minute, when its heartbeat expires)
    assert redis_client.llen("dramatiq:test-observability") == 1
    assert store.wait_for_state(message.message_id, "waiting", timeout=10)["attempts"] <= 1
    # and another worker runs it to completion, still on its first attempt
    with dramatiq_worker(processes=1, threads=1) as second:
        second.wait_ready()
        done = store.wait_for_state(message.message_id, "completed", timeout=40)
    assert done["attempts"] == 1 and done["error"] is None
    assert int(redis_client.hget("naps", "long")) == 2  # it started twice: cut short once, then run through
