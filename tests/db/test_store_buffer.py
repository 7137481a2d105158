"""The job store's writer: a record the database would refuse is corrected or set aside with its reason,
every other record is written, and later flushes work."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from db import jobstore, store_rejects
from db.engine import get_engine
from runtime.store_buffer import StoreBuffer
from tests.support import processes, store

GOOD = 20


def waiting(job_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A producer's `waiting` event, as the JobStore middleware makes it."""
    event: dict[str, Any] = {
        "id": job_id or str(uuid.uuid4()),
        "queue": "test-jobs",
        "actor": "echo",
        "state": "waiting",
        "seq": jobstore.seq_for("waiting", 0),
        "priority": 5,
        "payload": {"value": 1},
        "attempts": 0,
        "max_attempts": 3,
        "progress": 0,
    }
    event.update(changes)
    return event


def rejects() -> dict[str | None, str]:
    """{job id: reason} of the records set aside."""
    with get_engine().connect() as connection:
        return {row["job_id"]: row["reason"] for row in store_rejects.recent(connection)}


def test_records_the_columns_refuse_are_corrected_or_set_aside_and_every_good_record_is_written():
    # Given good records and, among them, records the columns of `jobs` cannot take as they are
    buffer = StoreBuffer()
    good = [waiting() for _ in range(GOOD)]
    long_id = waiting("x" * 100)
    long_dedupe_key = waiting(dedupe_key="k" * 300)
    nul_in_actor = waiting(actor="ec\x00ho")
    nul_in_payload = waiting(payload={"label": "a\x00b"})
    word_priority = waiting(priority="high")
    for event in (*good[:10], long_id, long_dedupe_key, nul_in_actor, nul_in_payload, word_priority, *good[10:]):
        buffer.record(event)

    # When the buffer flushes
    assert buffer.flush(timeout=10), "the buffer did not empty"

    # Then every good record is written, the correctable ones corrected
    for event in good:
        assert store.job(event["id"])["state"] == "waiting"
    assert store.job(nul_in_payload["id"])["payload"] == {"label": "a\ufffdb"}
    assert store.job(word_priority["id"])["priority"] == 5
    # And the others are set aside with their reasons, naming the field
    set_aside = rejects()
    assert set_aside["x" * 100] == "refused when made: id: 100 characters, over the column's 36"
    assert set_aside[long_dedupe_key["id"]] == "refused when made: dedupe_key: 300 characters, over the column's 255"
    assert "actor: holds a character text cannot hold" in set_aside[nul_in_actor["id"]]
    assert store.job(long_dedupe_key["id"]) is None and buffer.rejected == 3

    # And a later flush works
    later = waiting()
    buffer.record(later)
    assert buffer.flush(timeout=10) and store.job(later["id"])["state"] == "waiting"


@pytest.fixture
def jobs_refuse_actor_poison() -> Iterator[None]:
    """A rule of the database that no check of a record knows: `jobs` refuses actor 'poison'."""
    with get_engine().begin() as connection:
        connection.execute(text("ALTER TABLE jobs ADD CONSTRAINT ck_jobs_test_no_poison CHECK (actor <> 'poison')"))
    yield
    with get_engine().begin() as connection:
        connection.execute(text("ALTER TABLE jobs DROP CONSTRAINT IF EXISTS ck_jobs_test_no_poison"))


def test_a_batch_the_database_refuses_is_written_row_by_row_and_only_the_refused_row_set_aside(
    jobs_refuse_actor_poison, caplog
):
    # Given a batch in which the database refuses one record
    buffer = StoreBuffer()
    good = [waiting() for _ in range(GOOD)]
    poison = waiting(actor="poison")
    caplog.set_level(logging.WARNING, logger="runtime.store_buffer")
    for event in (*good[:10], poison, *good[10:]):
        buffer.record(event)

    # When the buffer flushes
    assert buffer.flush(timeout=10), "the buffer did not empty"

    # Then every other record is written, the refused one is set aside with the database's reason
    for event in good:
        assert store.job(event["id"])["state"] == "waiting"
    assert store.job(poison["id"]) is None
    reason = rejects()[poison["id"]]
    assert reason.startswith("refused by the database: CheckViolation") and "ck_jobs_test_no_poison" in reason
    # And the log names the error, never the statement or its parameters
    assert "ck_jobs_test_no_poison" in caplog.text
    assert "INSERT INTO" not in caplog.text and "excluded" not in caplog.text and good[0]["id"] not in caplog.text

    # And later flushes work, the job's later events included
    buffer.record({**good[0], "state": "active", "seq": jobstore.seq_for("active", 0), "attempts": 1})
    assert buffer.flush(timeout=10) and store.job(good[0]["id"])["state"] == "active"


def test_records_beside_a_refused_one_are_written_when_the_process_exits_without_flushing():
    # Given a process that records good jobs and one the columns refuse, then exits without flushing
    good = [str(uuid.uuid4()) for _ in range(5)]
    code = (
        "from runtime.store_buffer import get_buffer\n"
        "from tests.db.test_store_buffer import waiting\n"
        f"for job_id in {good!r}[:2] + ['x' * 100] + {good!r}[2:]:\n"
        "    get_buffer().record(waiting(job_id))\n"
    )

    # When it exits
    done = processes.run_python(code)

    # Then its good records are in the store and the refused one set aside
    assert done.returncode == 0, done.stderr
    for job_id in good:
        assert store.job(job_id)["state"] == "waiting"
    assert "id: 100 characters" in rejects()["x" * 100]
