"""`job_counts` (kept by triggers) always equals a GROUP BY over `jobs`, through every way rows change."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import text

from db import jobstore
from db.engine import get_engine


def _grouped() -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    with get_engine().connect() as connection:
        for queue, state, n in connection.execute(text("SELECT queue, state, count(*) FROM jobs GROUP BY 1, 2")):
            counts.setdefault(queue, dict.fromkeys(jobstore.STATES, 0))[state] = n
    return counts


def _kept() -> dict[str, dict[str, int]]:
    with get_engine().connect() as connection:
        return jobstore.count_by_state(connection)


def _event(job_id: str, queue: str, state: str, attempt: int = 0) -> dict[str, object]:
    return {
        "id": job_id,
        "queue": queue,
        "actor": "echo",
        "state": state,
        "seq": jobstore.seq_for(state, attempt),
        "payload": {},
        "attempts": attempt + (state != "waiting"),
        "max_attempts": 3,
        "priority": 5,
        "progress": 0,
    }


def _write(events: list[dict[str, object]]) -> None:
    with get_engine().begin() as connection:
        jobstore.upsert_jobs(connection, events)


def test_counts_follow_inserts_upserts_updates_and_deletes():
    ids = [str(uuid.uuid4()) for _ in range(300)]
    _write([_event(job_id, "q-a" if i % 3 else "q-b", "waiting") for i, job_id in enumerate(ids)])
    assert _kept() == _grouped() and _kept()["q-a"]["waiting"] == 200
    # a batch mixing new rows and rows moving on (INSERT ... ON CONFLICT DO UPDATE)
    newer = [_event(job_id, "q-a" if i % 3 else "q-b", "completed") for i, job_id in enumerate(ids[:150])]
    _write([*newer, *(_event(str(uuid.uuid4()), "q-c", "active") for _ in range(20))])
    # an older event arriving late changes no state, and no count
    _write([_event(ids[0], "q-b", "waiting")])
    with get_engine().begin() as connection:
        connection.execute(text("UPDATE jobs SET state = 'dead' WHERE queue = 'q-c'"))
        connection.execute(text("DELETE FROM jobs WHERE state = 'completed' AND queue = 'q-b'"))
    kept = _kept()
    assert kept == _grouped()
    assert kept["q-c"]["dead"] == 20 and kept["q-c"]["active"] == 0 and kept["q-b"]["completed"] == 0


def test_concurrent_writers_keep_the_counts_exact():
    ids = [[str(uuid.uuid4()) for _ in range(200)] for _ in range(4)]
    errors: list[BaseException] = []

    def writer(batch: list[str]) -> None:
        try:
            for state in ("waiting", "active", "completed"):
                for start in range(0, len(batch), 50):
                    _write([_event(job_id, f"q-{i % 3}", state) for i, job_id in enumerate(batch[start : start + 50])])
        except BaseException as error:  # a deadlock would land here
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(batch,)) for batch in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    kept = _kept()
    assert kept == _grouped()
    assert sum(counts["completed"] for counts in kept.values()) == 800
