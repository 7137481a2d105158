"""Held jobs are routine: a worker under its queue's limits logs no warning per hold, and counts each one."""

from __future__ import annotations

import pytest

from runtime.metrics_recorder import recorded_counters
from tests.support import processes, store
from tests.support.sample_actors import probe


@pytest.mark.parametrize(
    ("env", "worker_processes", "jobs", "seconds"),
    [
        # One at a time over two processes: the other process's picks are held while one runs.
        ({"QUEUES__LIMITS_PROBE__CONCURRENCY": "1"}, 2, 6, 0.3),
        # Three starts a second: the rest of a burst of nine is held, window after window.
        ({"QUEUES__LIMITS_PROBE__RATE_LIMIT": "3", "QUEUES__LIMITS_PROBE__RATE_WINDOW": "1"}, 1, 9, 0.0),
    ],
    ids=["concurrency", "rate-limit"],
)
def test_held_jobs_log_no_warning_and_every_hold_is_counted(redis_client, env, worker_processes, jobs, seconds):
    # Given a queue under a limit, and a worker
    with processes.worker_process("tests.support.sample_actors", processes=worker_processes, threads=4, env=env) as w:
        # When a burst of jobs arrives (most of them held, again and again, before they run)
        ids = [probe.send(key="probe:quiet-holds", seconds=seconds).message_id for _ in range(jobs)]
        done = [store.wait_for_state(job_id, "completed", "dead", timeout=60) for job_id in ids]
    # Then every job ran, the holds were counted for Prometheus, and the worker's log holds no warning at all
    assert [job["state"] for job in done] == ["completed"] * jobs
    assert recorded_counters().holds.get("limits-probe", 0) > 0, "no job was held: the test proves nothing"
    log = w.log_path.read_text()  # type: ignore[attr-defined]
    assert "Worker process is ready for action" in log  # the worker did write its log there
    warnings = [line for line in log.splitlines() if "[WARNING]" in line]
    assert warnings == [], f"{len(warnings)} warnings, the first: {warnings[:3]}"
