"""Bulk actions on real Redis and PostgreSQL: retry all (of a queue, of a search), purge, clean, promote.

Dead jobs are made by a worker in this process (`refuses` never succeeds); failed, finished and
delayed jobs are written into the store as a worker would leave them, or sent with a delay.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from brokers.operations import BrokerOperationUnsupported
from control import bulk_actions, dead_letters, job_search, service
from db import jobstore
from db.engine import get_engine
from db.models import JobRecord
from tests.support import store
from tests.support.sample_actors import echo, refuses
from tests.support.workers import running_worker

QUEUE = "test-jobs"


def dead_jobs(broker: Any, count: int) -> list[str]:
    """`count` jobs out of retries, in the dead-letter queue; the worker is gone afterwards."""
    with running_worker(broker):
        ids = [refuses.send(key=f"dead-{n}").message_id for n in range(count)]
        for job_id in ids:
            store.wait_for_state(job_id, "dead")
    return ids


def record(state: str, *, finished_ago: timedelta | None = None, **payload: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": str(uuid.uuid4()),
        "queue": QUEUE,
        "actor": "echo",
        "state": state,
        "seq": 0,
        "priority": 5,
        "payload": {"value": 1, **payload},
        "attempts": 1,
        "max_attempts": 3,
        "enqueued_at": now - timedelta(hours=1),
        "finished_at": None if finished_ago is None else now - finished_ago,
        "progress": 0,
    }


def write(rows: list[dict[str, Any]]) -> list[str]:
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, rows)
    return [row["id"] for row in rows]


def retries_of(job_ids: list[str]) -> list[dict[str, Any]]:
    store.job(job_ids[0])  # flushes the buffer
    table = JobRecord.__table__
    with get_engine().connect() as connection:
        return [dict(row) for row in connection.execute(select(table).where(table.c.retry_of.in_(job_ids))).mappings()]


def count_rows(**where: Any) -> int:
    table = JobRecord.__table__
    with get_engine().connect() as connection:
        query = select(func.count()).select_from(table).where(*(table.c[key] == value for key, value in where.items()))
        return int(connection.execute(query).scalar_one())


def test_retry_all_dead_sends_each_once_and_a_second_call_retries_nothing(broker):
    # Given three dead jobs in the dead-letter queue
    dead = dead_jobs(broker, 3)
    assert dead_letters.count_dead(QUEUE) == {QUEUE: 3}

    # When the dry run asks, Then it counts three and changes nothing
    dry = bulk_actions.retry_queue(QUEUE, "dead", dry_run=True)
    assert dry == {"action": "retry", "queue": QUEUE, "dryRun": True, "count": 3, "matched": 3, "skipped": 0}
    assert dead_letters.count_dead(QUEUE) == {QUEUE: 3} and retries_of(dead) == []

    # When they are retried, Then each is sent again once, linked to it, and the dead letters are empty
    done = bulk_actions.retry_queue(QUEUE, "dead")
    assert (done["count"], done["skipped"]) == (3, 0)
    again = retries_of(dead)
    assert sorted(row["retry_of"] for row in again) == sorted(dead)
    assert {row["state"] for row in again} == {"waiting"}
    assert dead_letters.count_dead(QUEUE) == {QUEUE: 0}

    # When the same call comes twice (a double click), Then nothing is sent a second time
    twice = bulk_actions.retry_queue(QUEUE, "dead")
    assert (twice["count"], twice["skipped"]) == (0, 3)
    assert bulk_actions.retry_queue(QUEUE, "dead", dry_run=True)["count"] == 0
    assert len(retries_of(dead)) == 3


def test_retry_all_failed_runs_each_now_and_retires_its_pending_attempt(broker):
    # Given two failed jobs (an attempt failed, the next one pending) and a completed one
    failed = write([record("failed"), record("failed")])
    write([record("completed", finished_ago=timedelta(minutes=1))])

    # When every failed job of the queue is retried
    assert bulk_actions.retry_queue(QUEUE, "failed", dry_run=True)["count"] == 2
    done = bulk_actions.retry_queue(QUEUE, "failed")

    # Then each runs again as a new job and the failed one reads cancelled; a second call finds none
    assert done["count"] == 2
    assert sorted(row["retry_of"] for row in retries_of(failed)) == sorted(failed)
    assert {store.job(job_id)["state"] for job_id in failed} == {"cancelled"}
    assert bulk_actions.retry_queue(QUEUE, "failed")["count"] == 0
    assert len(retries_of(failed)) == 2


def test_retry_of_a_search_retries_only_the_failed_and_dead_jobs_it_keeps(broker):
    # Given failed jobs of two labels and a waiting one with the label searched for
    wanted = write([record("failed", label="csv"), record("failed", label="csv")])
    others = write([record("failed", label="json"), record("waiting", label="csv")])
    search = job_search.build_filter(queue=QUEUE, fields=[("label", "csv")])

    # When the search's jobs are retried (dry run first)
    assert bulk_actions.retry_search(search, dry_run=True)["count"] == 2
    done = bulk_actions.retry_search(search)

    # Then only the failed ones with that label ran again
    assert (done["count"], done["matched"]) == (2, 2)
    assert sorted(row["retry_of"] for row in retries_of(wanted + others)) == sorted(wanted)


def test_retry_refuses_states_it_does_not_apply_to():
    with pytest.raises(service.InvalidRequest, match="failed or dead"):
        bulk_actions.retry_search(job_search.build_filter(states=["completed"]))
    with pytest.raises(service.InvalidRequest, match="failed or dead"):
        bulk_actions.retry_queue(QUEUE, "waiting")
    with pytest.raises(service.UnknownQueue):
        bulk_actions.retry_queue("no-such-queue")


def test_retry_works_in_chunks_and_stops_at_its_limit(broker, monkeypatch):
    # Given seven failed jobs and chunks of three
    monkeypatch.setattr(bulk_actions, "CHUNK", 3)
    failed = write([record("failed") for _ in range(7)])
    # When at most five are retried, Then five are, over two chunks; the next call takes the last two
    assert bulk_actions.retry_queue(QUEUE, limit=5)["count"] == 5
    assert bulk_actions.retry_queue(QUEUE)["count"] == 2
    assert len(retries_of(failed)) == 7


def test_purge_empties_the_dead_letters_in_one_call(broker):
    # Given four dead jobs
    dead = dead_jobs(broker, 4)
    # When the dry run asks, Then it counts four and leaves them
    assert bulk_actions.purge_dead_letters(QUEUE, dry_run=True)["count"] == 4
    assert dead_letters.count_dead(QUEUE) == {QUEUE: 4}
    # When they are purged, Then the dead-letter queue is empty and so are their records
    assert bulk_actions.purge_dead_letters(QUEUE)["count"] == 4
    assert dead_letters.count_dead(QUEUE) == {QUEUE: 0}
    assert [store.job(job_id) for job_id in dead] == [None] * 4
    assert bulk_actions.purge_dead_letters(QUEUE)["count"] == 0


def test_clean_removes_finished_records_older_than_the_grace_period_chunk_by_chunk(monkeypatch):
    # Given completed records of two ages, and failed ones as old
    monkeypatch.setattr(bulk_actions, "CHUNK", 4)
    old = write([record("completed", finished_ago=timedelta(hours=2)) for _ in range(9)])
    recent = write([record("completed", finished_ago=timedelta(minutes=5)) for _ in range(3)])
    write([record("dead", finished_ago=timedelta(hours=2)) for _ in range(2)])

    # When completed records older than an hour are counted, then cleaned
    assert bulk_actions.clean(QUEUE, "completed", 3600, dry_run=True)["count"] == 9
    done = bulk_actions.clean(QUEUE, "completed", 3600)

    # Then the nine old ones are gone (three chunks), the recent ones and the dead ones stay
    assert done == {
        "action": "clean",
        "queue": QUEUE,
        "dryRun": False,
        "count": 9,
        "status": "completed",
        "gracePeriod": 3600,
    }
    assert [store.job(job_id) for job_id in old] == [None] * 9
    assert all(store.job(job_id) for job_id in recent)
    assert count_rows(queue=QUEUE, state="dead") == 2
    with pytest.raises(service.InvalidRequest, match="status"):
        bulk_actions.clean(QUEUE, "waiting")


def test_promote_moves_delayed_jobs_to_run_now_with_the_same_job_id(broker, redis_client, monkeypatch):
    # Given five jobs delayed ten minutes, no worker yet, and chunks of two
    monkeypatch.setattr(bulk_actions, "CHUNK", 2)
    ids = [echo.send_with_options(kwargs={"value": n}, delay=600_000).message_id for n in range(5)]
    assert {store.job(job_id)["state"] for job_id in ids} == {"delayed"}

    # When the dry run asks, Then it counts five and moves none
    assert bulk_actions.promote(QUEUE, dry_run=True)["count"] == 5
    assert redis_client.hlen(f"dramatiq:{QUEUE}.DQ.msgs") == 5

    # When three are promoted, then the rest, Then all five wait on the queue itself, as the same jobs
    first = bulk_actions.promote(QUEUE, limit=3)
    assert (first["count"], first["moved"], first["replaced"], first["skipped"]) == (3, 3, 0, 0)
    assert redis_client.hlen(f"dramatiq:{QUEUE}.DQ.msgs") == 2
    assert bulk_actions.promote(QUEUE)["count"] == 2
    assert redis_client.hlen(f"dramatiq:{QUEUE}.DQ.msgs") == 0 and redis_client.hlen(f"dramatiq:{QUEUE}.msgs") == 5
    assert {store.job(job_id)["state"] for job_id in ids} == {"waiting"}

    # And a worker runs them now, not in ten minutes; a second promote finds nothing
    with running_worker(broker):
        for job_id in ids:
            store.wait_for_state(job_id, "completed", timeout=15)
    assert bulk_actions.promote(QUEUE)["count"] == 0


def test_promote_replaces_a_delayed_copy_a_worker_already_holds(broker, redis_client):
    with running_worker(broker):
        # Given a delayed job a worker has fetched and keeps in memory until due
        held = echo.send_with_options(kwargs={"value": 7}, delay=600_000).message_id
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while redis_client.llen(f"dramatiq:{QUEUE}.DQ") and datetime.now(UTC) < deadline:
            time.sleep(0.05)
        assert redis_client.llen(f"dramatiq:{QUEUE}.DQ") == 0 and redis_client.hlen(f"dramatiq:{QUEUE}.DQ.msgs") == 1

        # When it is promoted
        done = bulk_actions.promote(QUEUE)

        # Then it runs now as a new job linked to it, and the held copy reads cancelled
        assert (done["count"], done["moved"], done["replaced"]) == (1, 0, 1)
        [replacement] = retries_of([held])
        assert store.wait_for_state(replacement["id"], "completed", timeout=15)["payload"]["value"] == 7
        assert store.job(held)["state"] == "cancelled" and "promoted" in store.job(held)["error"]


def test_promote_is_refused_on_rabbitmq_before_anything_is_counted(any_broker):
    if any_broker.name == "redis":
        assert bulk_actions.promote(QUEUE, dry_run=True)["count"] == 0
        return
    with pytest.raises(BrokerOperationUnsupported, match="RabbitMQ cannot promote delayed jobs"):
        bulk_actions.promote(QUEUE, dry_run=True)
    with pytest.raises(BrokerOperationUnsupported):
        bulk_actions.promote(QUEUE)
