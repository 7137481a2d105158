"""Send → start latency on an idle worker, and the first job after 3 s of idleness, full stack vs bare Dramatiq.

A producer process sends one job at a time, stamped with its send time; the job records how
long after that it started. Between jobs the producer waits a random 10-40 ms (a lightly
loaded worker); for the idle figure it waits 3 s. With `root` (a checkout from `bench.baseline`,
and its environment) the producer and the worker run that tree's code.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import redis

from bench.workers import ROOT, dramatiq_worker

PRODUCER = """
import json, random, sys, time
import redis
from bench.{variant}_app import stamp
client = redis.Redis.from_url({url!r})
def one(key):
    before = client.llen(key)
    stamp.send(sent_at=time.time(), key=key)
    deadline = time.time() + 10
    while client.llen(key) == before and time.time() < deadline:
        time.sleep(0.0005)
for _ in range(20):  # warm up
    one("latency:warm"); time.sleep(0.02)
for _ in range({samples}):
    time.sleep(random.uniform(0.01, 0.04)); one("latency:busy")
for _ in range({idle_samples}):
    time.sleep(3.0); one("latency:idle")
print(json.dumps({{k: [float(v) * 1000 for v in client.lrange(k, 0, -1)] for k in ("latency:busy", "latency:idle")}}))
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    variant: str,
    redis_url: str,
    env: dict[str, str],
    samples: int = 200,
    idle_samples: int = 5,
    root: Path = ROOT,
) -> dict:
    """p50 and p99 of `samples` sends, and the idle figures (NaN without `idle_samples`), in ms."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with dramatiq_worker(f"bench.{variant}_app", 1, 8, env, root):
        time.sleep(3)  # booted and idle
        code = PRODUCER.format(variant=variant, url=redis_url, samples=samples, idle_samples=idle_samples)
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True, timeout=300
        )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    busy, idle = found["latency:busy"], found["latency:idle"]
    return {
        "p50": _percentile(busy, 0.5),
        "p99": _percentile(busy, 0.99),
        "idle_median": _percentile(idle, 0.5) if idle else math.nan,
        "idle_max": max(idle, default=math.nan),
        "samples": len(busy),
    }
