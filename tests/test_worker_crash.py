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
