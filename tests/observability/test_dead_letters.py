"""Dead letters: list, inspect, requeue one or all, purge, and drop them after the retention."""

from __future__ import annotations

import threading
import time

import pytest

from control import dead_letters
from control.dead_letters import DeadLetterNotFound
from tests.support import store
from tests.support.sample_actors import echo, flaky


def _dead(key: str, **options) -> str:
    message = flaky.send_with_options(kwargs={"key": key, "fail_times": 3}, **options)
    store.wait_for_state(message.message_id, "dead")
    return message.message_id


def test_a_job_out_of_retries_is_listed_and_inspected_with_reason_traceback_and_attempts(worker, redis_client):
    # Given a job that failed its three attempts
    job_id = _dead("listed", priority=3)
    # When the dead letters of its queue are listed and the job inspected
    listed = dead_letters.list_dead("test-jobs", limit=10, offset=0)
    letter = dead_letters.get_dead("test-jobs", job_id)
    # Then it is there, in the API's job shape
    assert [entry["id"] for entry in listed] == [job_id]
    entry = listed[0]
    assert entry["queue"] == "test-jobs" and entry["name"] == "flaky"
    assert entry["data"] == {"key": "listed", "fail_times": 3}
    assert entry["attemptsMade"] == 3 and entry["maxAttempts"] == 3 and entry["priority"] == 3
    assert "flaky failure 3 of 3" in entry["failedReason"]
    assert entry["deadAt"] is not None and "stacktrace" not in entry
    assert letter is not None and "Traceback" in letter["stacktrace"] and "flaky failure 3" in letter["stacktrace"]
    assert [attempt["attempt"] for attempt in letter["attempts"]] == [1, 2]  # the ones before the last
    # and another queue, or a job that is not dead, has none
    assert dead_letters.list_dead("data-export", limit=10, offset=0) == []
    assert dead_letters.get_dead("test-jobs", "no-such-job") is None
    assert dead_letters.count_dead("test-jobs") == {"test-jobs": 1}


def test_listing_pages_newest_first_across_queues(worker):
    ids = [_dead(f"page-{i}") for i in range(3)]
    everything = dead_letters.list_dead(None, limit=10, offset=0)
    assert [entry["id"] for entry in everything] == list(reversed(ids))
    assert [entry["id"] for entry in dead_letters.list_dead(None, limit=2, offset=1)] == [ids[1], ids[0]]
    assert dead_letters.list_dead("test-jobs", limit=0, offset=0) == []


def test_requeue_sends_the_job_again_linked_to_the_dead_one_and_takes_it_out_of_the_dead_letters(worker, redis_client):
    # Given a dead job whose fourth run would succeed
    job_id = _dead("again", priority=3)
    # When it is requeued
    new_id = dead_letters.requeue("test-jobs", job_id)
    # Then a new job with the same payload runs, linked to the dead one, with fresh attempts
    done = store.wait_for_state(new_id, "completed")
    assert new_id != job_id
    assert done["retry_of"] == job_id and done["payload"] == {"key": "again", "fail_times": 3}
    assert done["attempts"] == 1 and done["priority"] == 3 and done["result"] == 4
    # and the dead letter is gone; requeueing it again is refused
    assert dead_letters.list_dead("test-jobs", limit=10, offset=0) == []
    assert redis_client.zcard("dramatiq:test-jobs.XQ") == 0 and redis_client.hlen("dramatiq:test-jobs.XQ.msgs") == 0
    with pytest.raises(DeadLetterNotFound, match=job_id):
        dead_letters.requeue("test-jobs", job_id)


def test_two_operators_requeueing_the_same_letter_at_once_send_it_once(worker, broker):
    job_id = _dead("race")
    worker.pause()
    results: list[str | Exception] = []

    def attempt() -> None:
        try:
            results.append(dead_letters.requeue("test-jobs", job_id))
        except DeadLetterNotFound as error:
            results.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = [result for result in results if isinstance(result, str)]
    assert len(sent) == 1 and len(results) == 6
    worker.resume()
    store.wait_for_state(sent[0], "completed")


def test_requeue_all_sends_every_letter_of_the_queue_once(worker):
    ids = [_dead(f"all-{i}") for i in range(3)]
    assert dead_letters.requeue_all("test-jobs") == 3
    assert dead_letters.list_dead("test-jobs", limit=10, offset=0) == []
    assert dead_letters.requeue_all("test-jobs") == 0
    for job_id in ids:
        # each dead job has exactly one successor, which completes
        successors = [row for row in _rows() if row["retry_of"] == job_id]
        assert len(successors) == 1
        store.wait_for_state(successors[0]["id"], "completed")


def test_purge_drops_the_letters_and_their_store_rows(worker, redis_client):
    ids = [_dead(f"purge-{i}") for i in range(2)]
    survivor = echo.send(value=1)
    store.wait_for_state(survivor.message_id, "completed")
    assert dead_letters.purge("test-jobs") == 2
    assert redis_client.zcard("dramatiq:test-jobs.XQ") == 0
    assert all(store.job(job_id) is None for job_id in ids)
    assert store.job(survivor.message_id) is not None
    with pytest.raises(DeadLetterNotFound):
        dead_letters.requeue("test-jobs", ids[0])


def test_letters_older_than_the_retention_are_pruned(worker, redis_client):
    # Given two dead letters, one of which died eight days ago
    old, recent = _dead("old"), _dead("recent")
    member = store.job(old)["broker_ref"]
    redis_client.zadd("dramatiq:test-jobs.XQ", {member: (time.time() - 8 * 86400) * 1000})
    # When the monitor prunes
    assert dead_letters.prune() == 1
    # Then only the recent one is left
    assert [entry["id"] for entry in dead_letters.list_dead("test-jobs", limit=10, offset=0)] == [recent]
    assert redis_client.hlen("dramatiq:test-jobs.XQ.msgs") == 1


def _rows() -> list[dict]:
    from db import jobstore
    from db.engine import get_engine
    from runtime.store_buffer import get_buffer

    get_buffer().flush()
    with get_engine().connect() as connection:
        return jobstore.list_jobs(connection, queue="test-jobs", limit=1000)
