"""Queue control's behaviour table, on Redis and on RabbitMQ (`any_broker`): drain, priority,
cancel, pause, retry, dead letters, counts, dead workers' messages; what a broker cannot do is
refused, never reported done."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from dramatiq.common import dq_name

from brokers.priority_redis import PriorityRedisBroker
from control import dead_letters, service
from observability import queue_state
from runtime import flags
from tests.support import processes, store
from tests.support.sample_actors import flaky, probe

QUEUE = "limits-probe"


def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def worker(case, processes_: int = 1, threads: int = 1, **env: str):  # type: ignore[no-untyped-def]
    return processes.worker_process(
        "tests.support.sample_actors", processes=processes_, threads=threads, env={**case.env, **env}
    )


def delayed_fetched_by_a_worker(case, queue: str) -> bool:  # type: ignore[no-untyped-def]
    """No delayed message of `queue` is left for a worker to fetch: a worker holds them all."""
    if case.name == "redis":  # its delayed count includes the held ones: ask for what waits in the lanes
        return sum(case.broker.lane_lengths(dq_name(queue)).values()) == 0
    return case.broker.queue_depths([queue])[queue].delayed == 0


def test_drain_removes_delayed_jobs_a_running_worker_already_fetched_and_they_never_run(any_broker, redis_client):
    with worker(any_broker):
        ready = probe.send(key="probe:ready").message_id
        store.wait_for_state(ready, "completed", timeout=30)
        # Given three delayed jobs that a running worker has fetched (held in its memory until due)
        ids = [probe.send_with_options(kwargs={"key": "probe:drained"}, delay=4000).message_id for _ in range(3)]
        due = time.monotonic() + 4.0
        wait_until(lambda: delayed_fetched_by_a_worker(any_broker, QUEUE), timeout=3.0)
        # (counted alike by the delayed gauge and the API while the worker holds them)
        assert queue_state.snapshot().queues[QUEUE].broker_delayed == 3
        assert service.queue_metrics()[QUEUE]["delayed"] == 3
        # When the queue is drained
        drained = service.drain(QUEUE)
        # Then all three are reported removed and read cancelled
        assert drained == {"queue": QUEUE, "removed": 3}
        assert [store.job(job_id)["state"] for job_id in ids] == ["cancelled"] * 3
        # and, past their time, none of them runs (a job sent after them does)
        time.sleep(max(0.0, due - time.monotonic()) + 1.0)
        marker = probe.send(key="probe:marker").message_id
        store.wait_for_state(marker, "completed", timeout=30)
        time.sleep(0.5)
    assert redis_client.llen("probe:drained") == 0
    assert [store.job(job_id)["state"] for job_id in ids] == ["cancelled"] * 3
    # and the set of cancelled jobs workers read forgot them once a worker skipped them
    assert not flags.cancelled() & set(ids)


def test_drain_removes_waiting_and_delayed_jobs_the_gauges_read_zero_and_clean_removes_their_records(
    any_broker, redis_client
):
    # Given waiting and delayed jobs and no worker
    waiting = [probe.send(key="probe:drain").message_id for _ in range(4)]
    delayed = [probe.send_with_options(kwargs={"key": "probe:drain"}, delay=30_000).message_id for _ in range(2)]
    before = queue_state.snapshot().queues[QUEUE]
    assert (before.broker_depth, before.broker_delayed) == (4, 2)
    # When the queue is drained
    assert service.drain(QUEUE)["removed"] == 6
    # Then every job reads cancelled, the broker holds none, and a worker started later runs none
    assert {store.job(job_id)["state"] for job_id in waiting + delayed} == {"cancelled"}
    after = queue_state.snapshot().queues[QUEUE]
    assert (after.broker_depth, after.broker_delayed) == (0, 0)
    with worker(any_broker):
        marker = probe.send(key="probe:marker").message_id
        store.wait_for_state(marker, "completed", timeout=30)
        time.sleep(0.5)
    assert redis_client.llen("probe:drain") == 0
    # and clean removes their records
    assert service.clean(QUEUE, grace_seconds=0, status="cancelled")["removed"] == 6
    assert service.list_jobs(QUEUE, "cancelled") == []


def test_drain_names_the_jobs_it_removed_so_workers_are_told_to_skip_none_of_them(any_broker, redis_client):
    # Given fifty waiting jobs and no worker
    ids = [probe.send(key="probe:named").message_id for _ in range(50)]
    # When the queue is drained
    assert service.drain(QUEUE)["removed"] == 50
    # Then every job reads cancelled, and none went to the cancelled set every worker reads
    # several times a second: the broker removed them all (that set is for jobs workers hold)
    assert {store.job(job_id)["state"] for job_id in ids} == {"cancelled"}
    assert not flags.cancelled() & set(ids)
    with worker(any_broker):
        marker = probe.send(key="probe:marker").message_id
        store.wait_for_state(marker, "completed", timeout=30)
    assert redis_client.llen("probe:named") == 0


#: Seconds of silence after which the Redis broker of the next test counts a worker dead.
DEAD_AFTER = 2.0


@contextmanager
def dead_worker_reader(case) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """The broker asked for dead workers' messages: on Redis one that counts a worker dead after
    DEAD_AFTER seconds of silence (BROKER_HEARTBEAT_TIMEOUT is a minute), on RabbitMQ the case's."""
    if case.name != "redis":
        yield case.broker
        return
    reader = PriorityRedisBroker(url=os.environ["REDIS_URL"], middleware=[], heartbeat_timeout=int(DEAD_AFTER * 1000))
    try:
        yield reader
    finally:
        reader.close()


def test_a_killed_workers_unacknowledged_job_is_listed_then_given_back_at_once(any_broker, redis_client):
    # Given a worker killed with SIGKILL while it runs a job
    job = probe.send(key="probe:orphan", seconds=2.0).message_id
    with worker(any_broker) as doomed:
        store.wait_for_state(job, "active", timeout=30)
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    time.sleep(DEAD_AFTER + 0.5)
    with dead_worker_reader(any_broker) as reader:
        # When the broker is asked for the messages of dead workers
        orphans = reader.orphaned_messages()
        if any_broker.name == "redis":
            # Then Redis lists the job's message under its queue, and gives it back when asked
            assert [message.queue for message in orphans.messages if message.job_id == job] == [QUEUE]
            assert job in [message.job_id for message in reader.requeue_orphans().messages]
            assert job not in [message.job_id for message in reader.orphaned_messages().messages]
        else:
            # Then RabbitMQ lists none and says why: it gave the message back when the connection closed
            assert orphans.messages == [] and "connection closes" in (orphans.note or "")
            assert reader.requeue_orphans().requeued == 0
    # and a new worker runs it again, long before the broker heartbeat timeout (a minute)
    with worker(any_broker):
        store.wait_for_state(job, "completed", timeout=30)
    assert redis_client.llen("probe:orphan") == 1


def test_a_critical_job_behind_400_low_ones_starts_within_the_prefetch(any_broker, redis_client):
    prefetch, threads = 8, 2
    # Given 400 LOW jobs queued and a worker working through them
    probe.send_many([{"key": "probe:low", "seconds": 0.005}] * 400, priority=7)
    with worker(any_broker, threads=threads, WORKER_PREFETCH=str(prefetch)):
        wait_until(lambda: redis_client.llen("probe:low") >= 20)
        # When a CRITICAL job is sent behind them
        started_before = redis_client.llen("probe:low")
        critical = probe.send_with_options(kwargs={"key": "probe:critical"}, priority=1).message_id
        store.wait_for_state(critical, "completed", timeout=60)
    # Then it starts before more LOW jobs than the worker holds (its prefetch and threads) do
    critical_start = float(redis_client.lindex("probe:critical", 0).decode().split(":")[0])
    low_starts = [float(item.decode().split(":")[0]) for item in redis_client.lrange("probe:low", 0, -1)]
    low_before_critical = sum(1 for started in low_starts if started < critical_start)
    assert low_before_critical - started_before <= prefetch + threads + 2, (low_before_critical, started_before)
    assert len(low_starts) < 400, "the worker ran every LOW job before the CRITICAL one"


def test_cancel_pause_and_resume(any_broker, redis_client):
    # Given a waiting and a delayed job, both cancelled
    waiting = probe.send(key="probe:cancel").message_id
    delayed = probe.send_with_options(kwargs={"key": "probe:cancel"}, delay=1000).message_id
    assert service.cancel(QUEUE, waiting)["state"] == "cancelled"
    assert service.cancel(QUEUE, delayed)["state"] == "cancelled"
    # and a paused queue with a job in it
    service.pause(QUEUE)
    held = probe.send(key="probe:paused").message_id
    with worker(any_broker):
        time.sleep(2.0)
        # Then nothing starts while it is paused
        assert redis_client.llen("probe:paused") == 0
        # When it resumes, the held job runs, the cancelled ones never
        service.resume(QUEUE)
        store.wait_for_state(held, "completed", timeout=30)
        time.sleep(0.5)
    assert redis_client.llen("probe:cancel") == 0
    assert store.job(waiting)["state"] == store.job(delayed)["state"] == "cancelled"


def _dead(key: str) -> str:
    message = flaky.send_with_options(kwargs={"key": key, "fail_times": 3})
    store.wait_for_state(message.message_id, "dead", timeout=60)
    return message.message_id


def test_dead_letters_are_listed_retried_out_of_the_queue_and_purged_in_one_call(any_broker):
    with worker(any_broker, threads=2):
        # Given three jobs out of retries
        ids = [_dead(f"table-{n}") for n in range(3)]
        wait_until(lambda: dead_letters.count_dead("test-jobs") == {"test-jobs": 3})
        # Then they are listed, newest first, with their reason
        listed = dead_letters.list_dead("test-jobs", limit=10, offset=0)
        assert sorted(entry["id"] for entry in listed) == sorted(ids)
        assert all("flaky failure 3 of 3" in entry["failedReason"] for entry in listed)
        # When one is retried, it runs again and leaves the dead letters
        retried = service.retry("test-jobs", ids[0])
        assert store.wait_for_state(retried["jobId"], "completed", timeout=30)["retry_of"] == ids[0]
    assert any_broker.broker.queue_depths(["test-jobs"])["test-jobs"].dead == 2
    assert sorted(entry["id"] for entry in dead_letters.list_dead("test-jobs", limit=10, offset=0)) == sorted(ids[1:])
    # When the rest are purged, one call empties the dead letters and drops their records
    assert dead_letters.purge("test-jobs") == 2
    assert dead_letters.count_dead("test-jobs") == {"test-jobs": 0}
    assert dead_letters.list_dead("test-jobs", limit=10, offset=0) == []
    assert store.job(ids[1]) is None and store.job(ids[2]) is None


def test_what_a_broker_cannot_do_is_refused_with_a_clear_error(any_broker):
    from brokers.operations import BrokerOperationUnsupported

    # Given a message the broker is asked to locate
    if any_broker.name == "redis":
        assert any_broker.broker.message_places([(QUEUE, "no-such-message")]) == [None]
        return
    # Then RabbitMQ refuses to say where a message is, naming itself and the operation
    with pytest.raises(BrokerOperationUnsupported, match="RabbitMQ cannot say where a message is") as refused:
        any_broker.broker.message_places([(QUEUE, "no-such-message")])
    assert refused.value.http_status == 409 and refused.value.exit_code == 1
