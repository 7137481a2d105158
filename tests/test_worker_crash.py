"""A worker killed with SIGKILL mid-job: its jobs (running and prefetched) run again on another worker."""

from __future__ import annotations

import os
import signal
import time

from tests.support import processes, store
from tests.support.sample_actors import probe

FAST_RECOVERY = {"BROKER_HEARTBEAT_TIMEOUT": "5", "BROKER_MAINTENANCE_INTERVAL": "1"}


def test_a_killed_workers_jobs_complete_on_another_worker(redis_client):
    ids = [probe.send(key="crash:runs", seconds=1.5).message_id for _ in range(6)]
    with processes.worker_process("tests.support.sample_actors", processes=1, threads=2, env=FAST_RECOVERY) as doomed:
        deadline = time.monotonic() + 30
        while not any(store.job(job_id)["state"] == "active" for job_id in ids):
            assert time.monotonic() < deadline, "no job started"
            time.sleep(0.05)
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()
    stranded = [job_id for job_id in ids if store.job(job_id)["state"] in ("waiting", "active")]
    assert stranded, "the killed worker held no job: nothing was tested"

    killed_at = time.monotonic()
    with processes.worker_process("tests.support.sample_actors", processes=1, threads=2, env=FAST_RECOVERY):
        for job_id in ids:
            assert store.wait_for_state(job_id, "completed", timeout=60)["state"] == "completed"
        recovered_in = time.monotonic() - killed_at
    finished = redis_client.lrange("crash:runs", 0, -1)
    assert len(finished) == len(ids)  # each job finished exactly once (the killed runs never finished)
    # The broker heartbeat (5 s) ages, then a maintenance pass (every second) returns the messages.
    assert recovered_in < 30, f"took {recovered_in:.0f} s"


def _rewind(job_id: str, state: str) -> None:
    """What a SIGKILL does to the write-behind store: the job's last events never arrive."""
    from sqlalchemy import text

    from db import jobstore
    from db.engine import get_engine

    with get_engine().begin() as connection:
        connection.execute(
            text(
                "UPDATE jobs SET state = :state, seq = :seq, updated_at = now() - interval '10 minutes' WHERE id = :id"
            ),
            {"state": state, "seq": jobstore.seq_for(state, 0), "id": job_id},
        )


def test_records_a_killed_worker_left_unfinished_are_settled_from_the_broker(redis_client):
    from control.reconcile import reconcile
    from tests.support.sample_actors import refuses

    finished = [probe.send(key="reconcile:runs").message_id for _ in range(3)]
    dead = refuses.send(key="reconcile").message_id
    with processes.worker_process("tests.support.sample_actors", processes=1, threads=2):
        for job_id in finished:
            store.wait_for_state(job_id, "completed")
        store.wait_for_state(dead, "dead")
    still_waiting = probe.send(key="reconcile:later").message_id  # no worker: it stays in the queue
    assert store.job(still_waiting)["state"] == "waiting"  # recorded (the producer's buffer flushed)
    for job_id in finished:
        _rewind(job_id, "active")
    _rewind(dead, "active")
    _rewind(still_waiting, "waiting")

    assert reconcile(min_age_seconds=60).items() >= {"checked": 5, "completed": 3, "dead": 1}.items()
    for job_id in finished:
        row = store.job(job_id)
        assert (
            row["state"] == "completed"
            and row["progress"] == 100
            and "outcome read from the broker" in row["result"]["note"]
        )
    assert store.job(dead)["state"] == "dead" and "can never succeed" in store.job(dead)["error"]
    assert store.job(still_waiting)["state"] == "waiting"
    assert reconcile(min_age_seconds=60).items() >= {"checked": 1, "completed": 0, "dead": 0}.items()  # settled once

    with processes.worker_process("tests.support.sample_actors", processes=1, threads=2):
        assert store.wait_for_state(still_waiting, "completed")["state"] == "completed"
