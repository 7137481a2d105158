"""The bulk routes against the real app, Redis and PostgreSQL: admin only, explicit confirmation, dry runs,
retry all (of a queue, of a search) done once however often it is called, purge, clean, promote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from brokers.rabbitmq import RabbitmqOperationsBroker
from control import dead_letters
from db import jobstore
from db.engine import get_engine
from settings import get_settings
from tests.api.test_endpoints import data, failed_reply
from tests.support import rabbitmq, store
from tests.support.sample_actors import echo
from tests.support.workers import running_worker
from wiring.broker import build_middleware, use_broker

API = "/api/v1"
QUEUE = "test-jobs"
#: Every bulk route, with a body that confirms it.
ROUTES = [
    (f"/queues/{QUEUE}/retry-all", {"status": "dead"}),
    ("/jobs/retry", {"queue": QUEUE, "state": "dead"}),
    (f"/queues/{QUEUE}/dead-letters/purge", {}),
    (f"/queues/{QUEUE}/clean-all", {"status": "completed", "gracePeriod": 0}),
    (f"/queues/{QUEUE}/promote", {}),
]
PATHS = [path for path, _ in ROUTES]


def dead_jobs(client, admin, broker, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` jobs sent through the API that a worker finds can never succeed; the worker is gone after."""
    with running_worker(broker):
        return _dead_jobs(client, admin, count)


def _dead_jobs(client, admin, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = [
        data(
            client.post(
                f"{API}/queues/{QUEUE}/jobs", headers=admin, json={"jobName": "refuses", "data": {"key": f"k{n}"}}
            ),
            201,
        )["jobId"]
        for n in range(count)
    ]
    for job_id in ids:
        store.wait_for_state(job_id, "dead")
    return ids


def finished(state: str, ago: timedelta) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": str(uuid.uuid4()),
        "queue": QUEUE,
        "actor": "echo",
        "state": state,
        "seq": 0,
        "priority": 5,
        "payload": {"value": 1},
        "attempts": 1,
        "max_attempts": 3,
        "enqueued_at": now - ago - timedelta(seconds=1),
        "finished_at": now - ago,
        "progress": 0,
    }


@pytest.mark.parametrize("path", PATHS)
def test_a_read_token_gets_403_and_no_token_401(client, reader, path):
    body = dict(ROUTES)[path] | {"confirm": True}
    failed_reply(client.post(API + path, headers=reader, json=body), 403, "forbidden")
    failed_reply(client.post(API + path, json=body), 401, "unauthorized")


@pytest.mark.parametrize("path", PATHS)
def test_without_confirm_nothing_happens_and_the_answer_names_it(client, admin, path):
    body = dict(ROUTES)[path]
    for sent in ({"json": body}, {"json": body | {"confirm": False}}, {}):
        message = failed_reply(client.post(API + path, headers=admin, **sent), 422, "confirmation_required")
        assert '"confirm": true' in message and "dryRun" in message


@pytest.mark.parametrize("path", [f"/queues/no-such-queue/{tail}" for tail in ("retry-all", "clean-all", "promote")])
def test_an_unknown_queue_is_404(client, admin, path):
    failed_reply(client.post(API + path, headers=admin, json={"confirm": True}), 404, "not_found")
    failed_reply(
        client.post(API + "/queues/nope/dead-letters/purge", headers=admin, json={"dryRun": True}), 404, "not_found"
    )


def test_bad_bodies_are_422_never_500(client, admin):
    for path, body in [
        (f"/queues/{QUEUE}/retry-all", {"confirm": True, "status": "completed"}),
        (f"/queues/{QUEUE}/retry-all", {"confirm": True, "limit": 0}),
        (f"/queues/{QUEUE}/clean-all", {"confirm": True, "gracePeriod": -1}),
        (f"/queues/{QUEUE}/promote", {"confirm": "yes please"}),
        (f"/queues/{QUEUE}/promote", {"confirm": True, "force": True}),
        ("/jobs/retry", {"confirm": True, "state": "completed"}),
        ("/jobs/retry", {"confirm": True, "since": "yesterday-ish"}),
        ("/jobs/retry", {"confirm": True, "fields": {"a b": "c"}}),
    ]:
        failed_reply(client.post(API + path, headers=admin, json=body), 422, "invalid_request")
    response = client.post(
        API + f"/queues/{QUEUE}/promote", headers={**admin, "Content-Type": "application/json"}, content=b"{"
    )
    failed_reply(response, 422, "invalid_request")


def test_retry_all_counts_first_then_retries_each_dead_job_once(client, admin, reader, broker):
    # Given three dead jobs, and no worker running, so their retries stay waiting
    dead = dead_jobs(client, admin, broker, 3)
    path = f"{API}/queues/{QUEUE}/retry-all"

    # When the dry run asks, Then it answers three and nothing is sent
    dry = data(client.post(path, headers=admin, json={"status": "dead", "dryRun": True}))
    assert (dry["dryRun"], dry["count"]) == (True, 3)
    assert dead_letters.count_dead(QUEUE) == {QUEUE: 3}

    # When it is confirmed, Then the three run again, linked to them, and the dead letters are empty
    done = data(client.post(path, headers=admin, json={"status": "dead", "confirm": True}))
    assert (done["action"], done["dryRun"], done["count"], done["skipped"]) == ("retry", False, 3, 0)
    letters = data(client.get(f"{API}/dead-letters", params={"queue": QUEUE}, headers=reader))
    assert letters["counts"] == {QUEUE: 0}
    retried = data(client.get(f"{API}/jobs", params={"queue": QUEUE, "state": "waiting"}, headers=reader))
    assert sorted(job["retryOf"] for job in retried["jobs"]) == sorted(dead)

    # When the same call comes again, Then nothing more is sent
    again = data(client.post(path, headers=admin, json={"confirm": True}))
    assert (again["count"], again["skipped"]) == (0, 3)
    assert data(client.get(f"{API}/jobs", params={"queue": QUEUE, "state": "waiting"}, headers=reader))["total"] == 3


def test_retry_of_a_search_takes_the_criteria_of_get_jobs(client, admin, reader, broker):
    # Given dead jobs of two keys and a waiting job
    wanted = dead_jobs(client, admin, broker, 2)
    other = data(
        client.post(f"{API}/queues/{QUEUE}/jobs", headers=admin, json={"jobName": "echo", "data": {"value": 5}}), 201
    )["jobId"]
    body = {"queue": QUEUE, "state": ["dead", "waiting"], "fields": {"key": "k1"}}

    # When the search's jobs are counted, then retried
    assert data(client.post(f"{API}/jobs/retry", headers=admin, json=body | {"dryRun": True}))["count"] == 1
    done = data(client.post(f"{API}/jobs/retry", headers=admin, json=body | {"confirm": True}))

    # Then only the dead job with that key ran again
    assert (done["count"], done["matched"]) == (1, 1)
    waiting = data(client.get(f"{API}/jobs", params={"queue": QUEUE, "state": "waiting"}, headers=reader))["jobs"]
    assert sorted((job["retryOf"] or job["id"]) for job in waiting) == sorted([wanted[1], other])


def test_purge_leaves_the_dead_letter_queue_empty_in_one_call(client, admin, reader, broker):
    # Given five dead jobs
    dead_jobs(client, admin, broker, 5)
    path = f"{API}/queues/{QUEUE}/dead-letters/purge"
    # When the purge is counted, then confirmed once
    assert data(client.post(path, headers=admin, json={"dryRun": True}))["count"] == 5
    assert data(client.post(path, headers=admin, json={"confirm": True}))["count"] == 5
    # Then no dead letter and no dead record is left
    assert data(client.get(f"{API}/dead-letters", params={"queue": QUEUE}, headers=reader))["counts"] == {QUEUE: 0}
    assert data(client.get(f"{API}/queues/{QUEUE}/metrics", headers=reader))["dead"] == 0


def test_clean_all_removes_finished_records_past_the_grace_period(client, admin, reader):
    # Given six completed records an hour old and two a minute old
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, [finished("completed", timedelta(hours=1)) for _ in range(6)])
        jobstore.upsert_jobs(connection, [finished("completed", timedelta(minutes=1)) for _ in range(2)])
    path = f"{API}/queues/{QUEUE}/clean-all"
    body = {"status": "completed", "gracePeriod": 600}
    # When those older than ten minutes are counted, then removed
    assert data(client.post(path, headers=admin, json=body | {"dryRun": True}))["count"] == 6
    assert data(client.post(path, headers=admin, json=body | {"confirm": True}))["count"] == 6
    # Then the two recent ones are what is left
    assert data(client.get(f"{API}/jobs", params={"queue": QUEUE, "state": "completed"}, headers=reader))["total"] == 2


def test_promote_runs_delayed_jobs_now(client, admin, reader):
    # Given three jobs delayed ten minutes
    ids = [echo.send_with_options(kwargs={"value": n}, delay=600_000).message_id for n in range(3)]
    path = f"{API}/queues/{QUEUE}/promote"
    # When they are counted, then promoted
    assert data(client.post(path, headers=admin, json={"dryRun": True}))["count"] == 3
    done = data(client.post(path, headers=admin, json={"confirm": True}))
    # Then they wait on the queue, the same jobs, due now
    assert (done["count"], done["moved"]) == (3, 3)
    assert {store.job(job_id)["state"] for job_id in ids} == {"waiting"}
    assert data(client.get(f"{API}/queues/{QUEUE}/metrics", headers=reader))["delayed"] == 0


@pytest.fixture
def on_rabbitmq() -> Iterator[None]:
    """The app's broker is RabbitMQ for the test."""
    vhost = rabbitmq.make_vhost()
    broker = RabbitmqOperationsBroker(url=rabbitmq.url(vhost), middleware=build_middleware(get_settings()))
    original = use_broker(broker)
    try:
        yield
    finally:
        if original is not None:
            use_broker(original)
        broker.close()
        rabbitmq.drop_vhost(vhost)


def test_promote_on_rabbitmq_is_a_409_that_says_why(client, admin, on_rabbitmq):
    for body in ({"dryRun": True}, {"confirm": True}):
        message = failed_reply(
            client.post(f"{API}/queues/{QUEUE}/promote", headers=admin, json=body), 409, "unsupported_by_broker"
        )
        assert message.startswith("RabbitMQ cannot promote delayed jobs")
