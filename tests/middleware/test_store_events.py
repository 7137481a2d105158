"""The producer's store event rides the enqueue and waits in Redis until a writer stores it, at least once."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from dramatiq import Message
from sqlalchemy import create_engine

from brokers.redis_keys import store_events_dropped_key, store_events_key
from db import jobstore
from db.engine import get_engine
from observability import health, prometheus_exposition
from runtime import store_buffer
from runtime.store_buffer import StoreBuffer
from runtime.store_event_list import StoreEventList
from runtime.store_events import decode, encode_record, enqueue_head
from settings import get_settings
from tests.support import processes, store
from tests.support.sample_actors import echo

EVENTS = store_events_key()
#: Where no PostgreSQL listens: the database is "down" for a writer that uses it.
NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:1/adjobs"


def stored(job_id: str) -> dict[str, Any] | None:
    """The job's row as it is now, read straight from the database (no writer's flush first)."""
    with get_engine().connect() as connection:
        return jobstore.get_job(connection, job_id)


def writer(stale_after: float = 60.0) -> StoreBuffer:
    """A job-store writer of its own (not the test process's), on the test's Redis list."""
    events = StoreEventList(redis.Redis.from_url(os.environ["REDIS_URL"]), stale_after=stale_after)
    return StoreBuffer(events=events)


@pytest.fixture
def quiet_writer() -> Iterator[None]:
    """The test process's own writer takes nothing from the list unless the test flushes it."""
    buffer = store_buffer.get_buffer()
    buffer.stop()
    yield
    buffer.start()


def test_a_sent_job_waits_in_redis_with_its_message_until_flush_writes_it(broker, redis_client, quiet_writer):
    # Given jobs sent with no worker running: one now, one delayed
    now = echo.send(value=1)
    later = echo.send_with_options(kwargs={"value": 2}, delay=60_000)
    # Then their events wait on the Redis list beside the messages, and the store has neither yet
    assert redis_client.llen(EVENTS) == 2
    assert stored(now.message_id) is None and stored(later.message_id) is None
    # When the process's writer flushes
    assert store_buffer.get_buffer().flush(timeout=10)
    # Then the list is drained and each job has its row: waiting, and delayed until its time
    assert redis_client.llen(EVENTS) == 0
    waiting, delayed = stored(now.message_id), stored(later.message_id)
    assert waiting is not None and delayed is not None
    assert (waiting["state"], waiting["payload"], waiting["attempts"]) == ("waiting", {"value": 1, "label": "x"}, 0)
    assert waiting["max_attempts"] == 3 and waiting["broker_ref"] is not None
    assert delayed["state"] == "delayed" and delayed["run_at"] > delayed["enqueued_at"]


def test_a_job_sent_while_the_database_is_down_gets_its_row_once_it_is_back(
    broker, redis_client, quiet_writer, monkeypatch
):
    # Given a writer whose database does not answer, and a job sent meanwhile
    down = create_engine(NOWHERE, connect_args={"connect_timeout": 1})
    monkeypatch.setattr(store_buffer, "get_engine", lambda: down)
    message = echo.send(value=3)
    own = writer()
    # When it tries to write
    assert not own.flush(timeout=1.5)
    # Then nothing is lost: the event still waits in Redis (held by the writer), not in its memory
    assert own.pending == 0
    assert redis_client.llen(own.events.held_key) == 1
    # When the database is back
    monkeypatch.undo()
    down.dispose()
    # Then the next write puts the job's row in the store
    assert own.flush(timeout=10)
    assert stored(message.message_id)["state"] == "waiting"
    assert redis_client.llen(own.events.held_key) == 0 and redis_client.llen(EVENTS) == 0


def test_events_taken_by_a_writer_that_dies_before_writing_are_written_by_another(broker, redis_client, quiet_writer):
    # Given jobs sent, and a writer process that takes their events and dies before writing them
    sent = [echo.send(value=n).message_id for n in range(3)]
    died = processes.run_python(
        "import os, redis\n"
        "from runtime.store_event_list import StoreEventList\n"
        "events = StoreEventList(redis.Redis.from_url(os.environ['REDIS_URL']))\n"
        "print(len(events.take()), flush=True)\n"
        "os._exit(9)\n"
    )
    assert died.returncode == 9 and died.stdout.strip() == "3", died.stderr
    assert redis_client.llen(EVENTS) == 0
    assert all(stored(job_id) is None for job_id in sent)
    # When another writer takes events once the dead one has been silent for its stale time
    time.sleep(0.6)
    other = writer(stale_after=0.5)
    assert other.flush(timeout=10)
    # Then every job has its row, and nothing is held any more
    assert [stored(job_id)["state"] for job_id in sent] == ["waiting"] * 3
    assert not [key for key in redis_client.keys("dramatiq:__store_events__*")]


def test_an_event_written_twice_changes_nothing_a_later_event_wrote(broker, worker, redis_client):
    # Given a job that ran to completion, whose producer event is then written again (a writer died after writing it)
    message = echo.send(value=4)
    done = store.wait_for_state(message.message_id, "completed")
    redis_client.rpush(EVENTS, producer_event(message.message_id, done))
    # When a writer takes the repeated event
    assert store_buffer.get_buffer().flush(timeout=10)
    # Then the row is still the completed one
    again = stored(message.message_id)
    assert again["state"] == "completed" and again["attempts"] == 1 and again["result"] == done["result"]


def test_a_fresh_process_that_imports_an_actor_module_and_sends_loads_no_database_library(
    broker, redis_client, quiet_writer
):
    # Given a fresh interpreter that does what a service does: import one actor module, send a job
    code = (
        "import json, sys\n"
        "from actors.aggregation import aggregate_analytics\n"
        "message = aggregate_analytics.send(start_date='2026-11-23', end_date='2026-11-23', granularity='day')\n"
        "heavy = ('sqlalchemy', 'psycopg', 'db.models', 'db.jobstore', 'alembic')\n"
        "loaded = [name for name in heavy if name in sys.modules]\n"
        "print(json.dumps({'id': message.message_id, 'loaded': loaded}))\n"
    )
    # When it runs and exits
    done = processes.run_python(code)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Then it never loaded SQLAlchemy, psycopg or the models, and its job's event waits in Redis
    assert result["loaded"] == []
    assert redis_client.llen(EVENTS) == 1
    # And the job's record reaches the store through a writer
    assert store.job(result["id"])["state"] == "waiting"


def producer_event(job_id: str, row: dict[str, Any]) -> bytes:
    """The producer's event of `job_id` as the broker pushed it, head and message (the message's body
    is gone from Redis once acknowledged, so it is made again from the row)."""
    message: Message[Any] = Message(
        queue_name="test-jobs",
        actor_name="echo",
        args=(),
        kwargs=row["payload"],
        options={"redis_message_id": row["broker_ref"]},
        message_id=job_id,
        message_timestamp=int(row["enqueued_at"].timestamp() * 1000),
    )
    return enqueue_head("waiting", 3) + message.encode()


# Bounds: flush's deadline and mark, close, the list's cap, chunks by bytes -------------------------


def backlog(redis_client: redis.Redis, count: int) -> None:
    """`count` producers' events on the list (whole events, as a process without a writer pushes them)."""
    pipe = redis_client.pipeline(transaction=False)
    for start in range(0, count, 1000):
        pipe.rpush(EVENTS, *[encode_record(sample_event(n)) for n in range(start, min(start + 1000, count))])
    pipe.execute()


def sample_event(n: int) -> dict[str, Any]:
    return {"id": f"backlog-{n:06d}", "queue": "test-jobs", "actor": "echo", "state": "waiting", "seq": 10,
            "priority": 5, "payload": {"value": n}, "attempts": 0, "max_attempts": 3, "progress": 0}  # fmt: skip


def test_a_flush_with_a_large_backlog_returns_at_its_deadline(broker, redis_client, quiet_writer):
    # Given 30,000 events waiting (workers down for a while)
    backlog(redis_client, 30_000)
    own = writer()
    # When a reader flushes with a short deadline
    started = time.monotonic()
    flushed = own.flush(timeout=0.3)
    elapsed = time.monotonic() - started
    # Then it gives up at about its deadline (one write past it at most), leaving the rest for the writers
    assert not flushed
    assert elapsed < 1.5, elapsed
    assert redis_client.llen(EVENTS) > 10_000


def test_a_flush_under_a_steady_stream_of_sends_returns_once_what_waited_at_its_start_is_written(
    broker, redis_client, quiet_writer
):
    # Given events waiting, and a producer that keeps pushing more the whole time
    backlog(redis_client, 2_000)
    stop = threading.Event()

    def produce() -> None:
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        n = 100_000
        while not stop.is_set():
            client.rpush(EVENTS, *[encode_record(sample_event(n + i)) for i in range(50)])
            n += 50

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        time.sleep(0.1)
        # When a reader flushes
        started = time.monotonic()
        flushed = writer().flush(timeout=20)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        producer.join()
    # Then it returns True once the events that waited when it began are written, not when the list is empty
    assert flushed, elapsed
    assert elapsed < 15, elapsed
    assert stored("backlog-000000") is not None and stored("backlog-001999") is not None


def test_a_flush_waits_for_a_chunk_another_live_writer_took_before_it_began(broker, redis_client, quiet_writer):
    # Given a live writer holding a chunk it has not written yet
    backlog(redis_client, 10)
    slow = StoreEventList(redis.Redis.from_url(os.environ["REDIS_URL"]))
    assert len(slow.take()) == 10
    # When another reader flushes
    reader = writer()
    # Then it cannot say those events are written while the other still holds them
    assert not reader.flush(timeout=0.5)
    # When the other writer has written them
    slow.done()
    # Then the flush returns True
    assert reader.flush(timeout=5)


def test_a_writer_leaving_with_a_chunk_it_could_not_write_puts_it_back_for_the_others(
    broker, redis_client, quiet_writer, monkeypatch
):
    # Given a writer whose database does not answer, holding a chunk of five events (the worker's thread took it)
    backlog(redis_client, 5)
    down = create_engine(NOWHERE, connect_args={"connect_timeout": 1})
    monkeypatch.setattr(store_buffer, "get_engine", lambda: down)
    leaving = writer()
    assert not leaving.flush(timeout=1.5)
    assert redis_client.llen(leaving.events.held_key) == 5 and redis_client.llen(EVENTS) == 0
    # When it closes (its process leaves) while the database is still away
    leaving.close(timeout=1.5)
    # Then the chunk is back at the head of the list, in order, and the writer holds nothing
    assert [decode(item)["id"] for item in redis_client.lrange(EVENTS, 0, -1)] == [
        f"backlog-{n:06d}" for n in range(5)
    ]
    assert not redis_client.exists(leaving.events.held_key)
    assert redis_client.zscore(leaving.events.writers_key, leaving.events.writer_id) is None
    # And a writer that stays writes them at once once the database answers (not after the stale time, 60 s)
    monkeypatch.undo()
    down.dispose()
    assert writer().flush(timeout=10)
    assert all(stored(f"backlog-{n:06d}") is not None for n in range(5))


def test_close_writes_its_own_events_and_takes_no_new_chunk(broker, redis_client, quiet_writer):
    # Given events on the list and a writer with one event of its own
    backlog(redis_client, 5)
    own = writer()
    own.record(sample_event(900))
    # When it closes (a process leaving) and when it flushes without draining (after a send, a worker stopping)
    own.close(timeout=5)
    again = writer()
    assert again.flush(timeout=5, drain=False)
    # Then its own event is written and every event on the list is still there for the other writers
    assert stored("backlog-000900") is not None
    assert redis_client.llen(EVENTS) == 5
    assert not redis_client.keys("dramatiq:__store_events__.held.*")


def test_a_take_stops_at_its_byte_budget(redis_client, quiet_writer):
    # Given ten events of 100 kB each
    redis_client.rpush(EVENTS, *[b"R" + b"x" * 100_000 for _ in range(10)])
    events = StoreEventList(redis_client, chunk=1000, chunk_bytes=350_000)
    # When a writer takes a chunk
    taken = events.take()
    # Then it took what fits in its byte budget, not its count
    assert len(taken) == 3
    assert redis_client.llen(EVENTS) == 7
    # And a single event over the budget is still taken, alone
    big = StoreEventList(redis_client, chunk=1000, chunk_bytes=10)
    assert len(big.take()) == 1
    redis_client.delete(EVENTS, events.held_key, big.held_key)  # not events a writer could read


@pytest.fixture
def capped(broker: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The broker's event list capped at 3 events (STORE_EVENTS_MAX)."""
    monkeypatch.setattr(broker, "store_events_cap", 3)
    return broker


def test_past_its_cap_the_list_keeps_no_more_events_and_counts_those_dropped(capped, redis_client, quiet_writer):
    # Given a list capped at 3 events and no writer taking them
    # When 5 jobs are sent one by one and 4 in one batch
    sent = [echo.send(value=n) for n in range(5)]
    echo.send_many([{"value": n} for n in range(4)])
    # Then every job is on its queue, the list holds 3 events, and the 6 others are counted as dropped
    assert redis_client.hlen("dramatiq:test-jobs.msgs") == 9
    assert redis_client.llen(EVENTS) == 3
    assert int(redis_client.get(store_events_dropped_key())) == 6
    assert [json.loads(item.partition(b"\n")[2])["message_id"] for item in redis_client.lrange(EVENTS, 0, -1)] == [
        message.message_id for message in sent[:3]
    ]
    # And /health says the list is full and how many were dropped, and /metrics counts them
    redis_health = health.check_redis(get_settings().model_copy(update={"store_events_max": 3}))
    assert redis_health["status"] == "degraded"
    assert redis_health["storeEvents"] == {"waiting": 3, "max": 3, "dropped": 6}
    body, _ = prometheus_exposition.exposition()
    assert b"adjobs_store_events_dropped_total 6.0" in body
    assert b"adjobs_store_events_waiting " in body


# A process without a writer ----------------------------------------------------------------------


SILENT_REDIS_SEND = """
import json, socket, time
from runtime import store_sink
started = time.monotonic()
for n in range(200):
    store_sink.writer().record({"id": f"silent-{n}", "queue": "test-jobs", "state": "waiting", "seq": 10})
print(json.dumps({"seconds": time.monotonic() - started}), flush=True)
"""


def test_a_process_without_a_writer_records_without_waiting_for_a_redis_that_does_not_answer():
    # Given a "Redis" that accepts connections and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        # When a process with no writer records 200 events (what its sends on RabbitMQ would do) and exits
        done = processes.run_python(
            SILENT_REDIS_SEND, env={"REDIS_URL": f"redis://127.0.0.1:{port}/0", "BROKER_URL": ""}, timeout=60
        )
    # Then recording took no time (the push is a thread's, with timeouts), and its exit says what was lost
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["seconds"] < 1.0
    assert "200 events could not be pushed to Redis before exit" in done.stderr


def test_events_of_a_process_without_a_writer_are_pushed_before_it_exits(redis_client, quiet_writer):
    # Given a process with no writer that records events and exits at once
    code = (
        "from runtime import store_sink\n"
        "for n in range(300):\n"
        "    store_sink.writer().record({'id': f'exit-{n}', 'queue': 'test-jobs', 'actor': 'echo', 'seq': 10})\n"
    )
    done = processes.run_python(code)
    # Then every event reached the Redis list before it was gone
    assert done.returncode == 0, done.stderr
    assert redis_client.llen(EVENTS) == 300
