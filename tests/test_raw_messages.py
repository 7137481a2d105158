"""Messages written straight into Redis that a worker cannot run as they are: each goes to the dead letters
with its reason and a `dead` store record, before any worker thread sees it; the thread lives and later
jobs run. A queue name read from such a message never becomes a known queue (API, /metrics, dashboard).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import processes, store
from tests.support.sample_actors import echo

QUEUE = "test-jobs"
ROGUE = "rogue-queue-from-a-message"


@dataclass
class RawMessage:
    redis_id: str
    message_id: str


def push_raw(redis_client: Any, *, redis_id: str | None = None, **changes: Any) -> RawMessage:
    """A message for `echo` as Dramatiq's Redis broker stores it, with `changes` to its fields, put on QUEUE by hand."""
    redis_id, message_id = redis_id or str(uuid.uuid4()), str(uuid.uuid4())
    body: dict[str, Any] = {
        "queue_name": QUEUE,
        "actor_name": "echo",
        "args": [],
        "kwargs": {"value": 1},
        "options": {"redis_message_id": redis_id},
        "message_id": message_id,
        "message_timestamp": int(time.time() * 1000),
    }
    body.update(changes)
    redis_client.hset(f"dramatiq:{QUEUE}.msgs", redis_id, json.dumps(body))
    redis_client.rpush(f"dramatiq:{QUEUE}", redis_id)
    return RawMessage(redis_id, message_id)


def run_one_thread_worker_until(record_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A worker with a single thread: the raw message's dead record, then a good job sent after it, completed."""
    with processes.worker_process("tests.support.sample_actors", processes=1, threads=1) as worker:
        dead = store.wait_for_state(record_id, "dead")
        later = echo.send(value=2).message_id
        completed = store.wait_for_state(later, "completed")
        assert worker.poll() is None, "the worker died"
        log = worker.log_path.read_text()  # type: ignore[attr-defined]
    assert "Traceback" not in log, log[-2000:]
    return dead, completed


def assert_dead_lettered(redis_client: Any, raw: RawMessage) -> None:
    assert redis_client.zscore(f"dramatiq:{QUEUE}.XQ", raw.redis_id) is not None  # in the dead letters
    assert not redis_client.hexists(f"dramatiq:{QUEUE}.msgs", raw.redis_id)
    assert not redis_client.keys("dramatiq:__acks__.*")  # nothing left unacknowledged to run again


def test_a_message_naming_another_queue_is_dead_lettered_and_the_worker_thread_lives(redis_client):
    from fastapi.testclient import TestClient

    from control import dead_letters, service
    from tests.api.conftest import ADMIN_TOKEN, build_app

    # Given a message on test-jobs whose queue_name names a queue no worker consumes
    raw = push_raw(redis_client, queue_name=ROGUE)

    # When a one-thread worker takes it, then a job sent after it
    dead, completed = run_one_thread_worker_until(raw.message_id)

    # Then it is dead with its reason, recorded under the queue it was read from, and the thread ran the later job
    assert completed["state"] == "completed"
    assert f"queue_name '{ROGUE}' is not the queue it was read from ('{QUEUE}')" in dead["error"]
    assert dead["queue"] == QUEUE and dead["actor"] == "echo" and dead["attempts"] == 0  # it never ran
    assert_dead_lettered(redis_client, raw)
    letters = {letter["id"]: letter for letter in dead_letters.list_dead(QUEUE)}
    assert "is not the queue it was read from" in letters[raw.message_id]["failedReason"]
    # And its queue name is known nowhere: the API's queues, /metrics, the dashboard's data
    assert ROGUE not in service.queue_names() and ROGUE not in service.queue_metrics()
    with TestClient(build_app(), raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        queues = client.get("/api/v1/queues/metrics", headers=headers)
        assert queues.status_code == 200 and QUEUE in queues.json()["data"]
        assert ROGUE not in queues.text
        assert ROGUE not in client.get("/metrics").text
        failed = client.get("/api/v1/jobs/failed", headers=headers).json()["data"]
        assert {job["queueName"] for job in failed} == {QUEUE}  # its reason quotes the name; no job is filed under it
        assert client.get(f"/api/v1/queues/{ROGUE}/metrics", headers=headers).status_code == 404


def test_a_message_without_its_redis_id_is_dead_lettered_instead_of_running_unacknowledged(redis_client):
    # Given a message on test-jobs whose options lack redis_message_id (so it could never be acknowledged)
    raw = push_raw(redis_client, options={})

    # When a one-thread worker takes it, then a job sent after it
    dead, completed = run_one_thread_worker_until(raw.message_id)

    # Then it is dead with its reason, out of every ack set, and the later job ran
    assert completed["state"] == "completed"
    assert "options.redis_message_id is missing" in dead["error"] and dead["queue"] == QUEUE
    assert dead["broker_ref"] == raw.redis_id
    assert_dead_lettered(redis_client, raw)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["priority", 1], "options"),  # not an object: stopped the consumer thread, again and again
        ({"retries": "x"}, "options.retries"),  # acknowledged with no dead letter and no record
        ({"priority": "high"}, "options.priority"),  # its store record blocked every later write
    ],
    ids=["options-not-an-object", "retries-not-a-number", "priority-not-a-number"],
)
def test_a_message_with_malformed_options_is_dead_lettered_with_the_field_named(redis_client, options, field):
    from control import dead_letters

    # Given a message on test-jobs whose options are malformed
    redis_id = str(uuid.uuid4())
    if isinstance(options, dict):
        options = {**options, "redis_message_id": redis_id}
    raw = push_raw(redis_client, redis_id=redis_id, options=options)

    # When a one-thread worker takes it, then a job sent after it
    dead, completed = run_one_thread_worker_until(redis_id)  # recorded under its Redis id: its fields are not trusted

    # Then it is dead with the field named, and the later job ran
    assert completed["state"] == "completed"
    assert dead["error"].startswith(f"malformed message ({field}") and dead["queue"] == QUEUE
    assert dead["actor"] == "(malformed)"
    assert_dead_lettered(redis_client, raw)
    letter = dead_letters.get_dead(QUEUE, redis_id)
    assert letter is not None and letter["failedReason"] == dead["error"]
    assert any(letter["id"] == redis_id for letter in dead_letters.list_dead(QUEUE))
