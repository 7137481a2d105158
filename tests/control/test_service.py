"""Queue control with two worker processes on real Redis: pause, cancel, retry, clean, drain, dedupe, delays."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from control import service
from tests.support import processes, store
from tests.support.sample_actors import flaky, probe

QUEUE = "limits-probe"
WORKERS = {"processes": 2, "threads": 2}


def redis_now(client) -> float:  # type: ignore[no-untyped-def]
    seconds, micros = client.time()
    return seconds + micros / 1e6


def starts(client, key: str) -> list[float]:  # type: ignore[no-untyped-def]
    return sorted(float(item.decode().split(":")[0]) for item in client.lrange(key, 0, -1))


def worker():  # type: ignore[no-untyped-def]
    return processes.worker_process("tests.support.sample_actors", **WORKERS)


def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_pause_stops_starts_within_a_second_and_resume_loses_nothing(redis_client):
    with worker():
        ids = [probe.send(key="probe:pause", seconds=0.05).message_id for _ in range(150)]
        wait_until(lambda: redis_client.llen("probe:pause") >= 10)
        service.pause(QUEUE)
        paused_at = redis_now(redis_client)
        delayed = probe.send_with_options(kwargs={"key": "probe:pause", "seconds": 0.0}, delay=500).message_id
        time.sleep(2.5)
        started = starts(redis_client, "probe:pause")
        assert started and max(started) <= paused_at + 1.0, "a job started more than 1 s after the pause"
        assert len(started) < 150, "the pause came too late to leave jobs waiting"
        assert service.queue_metrics()[QUEUE]["paused"] is True
        waiting_jobs = [store.job(job_id)["state"] for job_id in ids]
        assert "waiting" in waiting_jobs or "delayed" in waiting_jobs

        service.resume(QUEUE)
        for job_id in [*ids, delayed]:
            assert store.wait_for_state(job_id, "completed", "dead", timeout=60)["state"] == "completed"
    assert redis_client.llen("probe:pause") == 151  # every job ran, once
    assert service.queue_metrics()[QUEUE]["paused"] is False


def test_cancel_waiting_delayed_and_prefetched_jobs_never_run(redis_client):
    waiting = probe.send(key="probe:cancel").message_id
    delayed = probe.send_with_options(kwargs={"key": "probe:cancel"}, delay=60_000).message_id
    assert service.cancel(QUEUE, waiting)["state"] == "cancelled"
    assert service.cancel(QUEUE, delayed)["state"] == "cancelled"
    with processes.worker_process("tests.support.sample_actors", processes=1, threads=1):
        # One job runs for a second; the next one sits in the worker's prefetch meanwhile.
        long = probe.send(key="probe:long", seconds=1.5).message_id
        wait_until(lambda: store.job(long) is not None and store.job(long)["state"] == "active")
        prefetched = probe.send(key="probe:cancel").message_id
        time.sleep(0.3)
        assert service.cancel(QUEUE, prefetched)["state"] == "cancelled"
        marker = probe.send(key="probe:marker").message_id
        store.wait_for_state(marker, "completed", timeout=30)
    assert redis_client.llen("probe:cancel") == 0
    for job_id in (waiting, delayed, prefetched):
        assert store.job(job_id)["state"] == "cancelled"
    with pytest.raises(service.InvalidJobState):
        service.cancel(QUEUE, marker)
    with pytest.raises(service.JobNotFound):
        service.cancel(QUEUE, "no-such-job")
    with pytest.raises(service.UnknownQueue):
        service.cancel("no-such-queue", marker)


def test_retry_of_a_dead_job_runs_the_same_payload_linked_to_it(redis_client):
    with worker():
        dead_id = flaky.send(key="retry", fail_times=3).message_id
        dead = store.wait_for_state(dead_id, "dead", timeout=30)
        assert dead["attempts"] == 3
        retried = service.retry("test-jobs", dead_id)
        done = store.wait_for_state(retried["jobId"], "completed", "dead", timeout=30)
    assert done["state"] == "completed" and done["retry_of"] == dead_id
    assert done["payload"] == dead["payload"]
    assert done["result"] == 4  # the fourth attempt overall succeeded
    with pytest.raises(service.InvalidJobState):
        service.retry("test-jobs", retried["jobId"])


def test_drain_removes_waiting_and_delayed_jobs_and_clean_removes_old_records(redis_client):
    waiting = [probe.send(key="probe:drain").message_id for _ in range(5)]
    delayed = [probe.send_with_options(kwargs={"key": "probe:drain"}, delay=30_000).message_id for _ in range(2)]
    assert service.drain(QUEUE)["removed"] == 7
    for job_id in waiting + delayed:
        assert store.job(job_id)["state"] == "cancelled"
    with worker():
        kept = [probe.send(key="probe:kept").message_id for _ in range(3)]
        for job_id in kept:
            store.wait_for_state(job_id, "completed", timeout=30)
    assert redis_client.llen("probe:drain") == 0 and redis_client.llen("probe:kept") == 3

    assert service.clean(QUEUE, grace_seconds=3600, status="completed")["removed"] == 0
    cleaned = service.clean(QUEUE, grace_seconds=0, status="completed", limit=2)
    assert cleaned["removed"] == 2
    assert len(service.list_jobs(QUEUE, "completed")) == 1
    assert service.clean(QUEUE, grace_seconds=0, status="cancelled")["removed"] == 7


def test_dedupe_returns_the_first_job_while_it_is_not_finished(redis_client, broker):
    first = service.enqueue(QUEUE, "probe", {"key": "probe:dedupe"}, {"jobId": "report-42"})
    second = service.enqueue(QUEUE, "probe", {"key": "probe:dedupe"}, {"jobId": "report-42"})
    assert second["jobId"] == first["jobId"] and second["deduplicated"] is True
    assert broker.queue_depths([QUEUE])[QUEUE].depth == 1
    with worker():
        store.wait_for_state(first["jobId"], "completed", timeout=30)
        wait_until(lambda: not redis_client.exists("adjobs:dedupe:limits-probe:report-42"))
        third = service.enqueue(QUEUE, "probe", {"key": "probe:dedupe"}, {"jobId": "report-42"})
        assert third["jobId"] != first["jobId"] and third["deduplicated"] is False
        store.wait_for_state(third["jobId"], "completed", timeout=30)
    assert redis_client.llen("probe:dedupe") == 2


def test_delay_and_run_at_hold_a_job_until_its_time(redis_client):
    with worker():
        sent_at = redis_now(redis_client)
        delayed = service.enqueue(QUEUE, "probe", {"key": "probe:delay"}, {"delay": 1500})
        run_at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        scheduled = service.enqueue(QUEUE, "probe", {"key": "probe:run-at"}, {"runAt": run_at})
        assert store.job(delayed["jobId"])["state"] == "delayed"
        for job_id in (delayed["jobId"], scheduled["jobId"]):
            store.wait_for_state(job_id, "completed", timeout=30)
    assert starts(redis_client, "probe:delay")[0] >= sent_at + 1.5
    assert starts(redis_client, "probe:run-at")[0] >= sent_at + 2.0


def test_enqueue_refuses_what_does_not_fit(redis_client):
    with pytest.raises(service.InvalidRequest, match="runs on queue"):
        service.enqueue("cleanup", "probe", {"key": "x"})
    with pytest.raises(service.InvalidRequest, match="no job named"):
        service.enqueue(QUEUE, "nope", {})
    with pytest.raises(service.InvalidRequest, match="delay"):
        service.enqueue(QUEUE, "probe", {"key": "x"}, {"delay": -5})
    with pytest.raises(service.UnknownQueue):
        service.enqueue("nowhere", "probe", {"key": "x"})


def test_queue_stats_and_job_views(redis_client):
    with worker():
        ids = [probe.send(key="probe:stats", seconds=0.01).message_id for _ in range(5)]
        for job_id in ids:
            store.wait_for_state(job_id, "completed", timeout=30)
    stats = service.queue_stats(QUEUE)
    assert stats["completed"] == 5 and stats["completionRate"] == 1.0 and stats["failureRate"] == 0.0
    assert stats["avgProcessingMs"] >= 10 and stats["p95ProcessingMs"] >= stats["avgProcessingMs"] * 0.5
    view = service.get_job(QUEUE, ids[0])
    assert (
        view["state"] == "completed"
        and view["attemptsMade"] == 1
        and view["data"] == {"key": "probe:stats", "seconds": 0.01}
    )
    assert view["processedOn"] is not None and view["finishedOn"] >= view["processedOn"]
    with pytest.raises(service.JobNotFound):
        service.get_job("cleanup", ids[0])


def test_progress_is_visible_while_jobs_run_on_two_processes(redis_client):
    from tests.support.sample_actors import slow_steps

    with worker():
        ids = [slow_steps.send(key=f"progress-{n}", steps=5, step_seconds=0.4).message_id for n in range(2)]
        seen: dict[str, list[float]] = {job_id: [] for job_id in ids}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = {job_id: store.job(job_id) for job_id in ids}
            for job_id, row in rows.items():
                if row["state"] == "active":
                    seen[job_id].append(row["progress"])
            if all(row["state"] == "completed" for row in rows.values()):
                break
            time.sleep(0.1)
    workers_used = {store.job(job_id)["worker"] for job_id in ids}
    for job_id, values in seen.items():
        partial = [value for value in values if 0 < value < 100]
        assert partial, f"no progress between 0 and 100 seen while {job_id} ran: {values}"
        assert partial == sorted(partial), "progress went backwards"
        assert store.job(job_id)["progress"] == 100
    assert all(worker_id for worker_id in workers_used)
