"""An idle worker starts a job as soon as it arrives, not when its polling backoff ends.

Dramatiq's consumer backs off between empty fetches, up to its worker timeout (a second in
`dramatiq` workers); the wake-up published by the enqueue script ends that wait. Each of five
jobs, sent after 2 s of idleness, must start within 250 ms. Without the wake-up each waits a
random part of a sleep of 0.5-1 s: all five that quick would be a fluke of about 1 in 500.
"""

from __future__ import annotations

import time

from tests.support import processes
from tests.support.sample_actors import probe


def test_an_idle_worker_starts_a_new_job_at_once(redis_client):
    key = "wakeups:runs"
    with processes.worker_process("tests.support.sample_actors", processes=1, threads=2):
        probe.send(key=key)  # booted and running
        deadline = time.monotonic() + 30
        while redis_client.llen(key) < 1:
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.05)
        waits = []
        for round_ in range(5):
            time.sleep(2)  # idle: the consumer's backoff grows
            seconds, micros = redis_client.time()
            sent_at = seconds + micros / 1e6
            probe.send(key=key)
            while redis_client.llen(key) < round_ + 2:
                assert time.monotonic() < deadline + 60, "a job never started"
                time.sleep(0.01)
            started = float(redis_client.lindex(key, -1).decode().split(":")[0])
            waits.append(started - sent_at)
    assert max(waits) < 0.25, f"send → start after 2 s idle: {waits}"
