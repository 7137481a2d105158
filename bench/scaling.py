"""Scaling from 1 to 2 worker processes with an I/O-bound job (a 20 ms wait), full stack.

2,000 jobs are enqueued, then `dramatiq bench.full_app --processes N --threads 8` drains them;
the figure is the drain rate with 2 processes over the rate with 1.
"""

from __future__ import annotations

import subprocess
import sys
import time

import redis

from bench.workers import ROOT, dramatiq_worker

QUEUE = "dramatiq:bench-io"


def drain_rate(processes: int, redis_url: str, env: dict[str, str], jobs: int = 2000, wait_ms: int = 20) -> float:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    code = f"from bench.full_app import wait_io\nwait_io.send_many([{{'ms': {wait_ms}}}] * {jobs})\n"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    assert client.hlen(f"{QUEUE}.msgs") == jobs
    with dramatiq_worker("bench.full_app", processes, 8, env):
        while client.llen(QUEUE) == jobs:
            time.sleep(0.001)
        started = time.perf_counter()
        while client.hlen(f"{QUEUE}.msgs") > 0:
            time.sleep(0.005)
        return jobs / (time.perf_counter() - started)
