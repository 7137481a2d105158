"""Cluster-wide concurrency and rate limits per queue, with two worker processes on real Redis."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import redis

from tests.support import processes, store
from tests.support.sample_actors import probe


def spans(client: redis.Redis, key: str) -> list[tuple[float, float]]:
    return sorted(tuple(map(float, item.decode().split(":"))) for item in client.lrange(key, 0, -1))  # type: ignore[misc]


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def run_all(count: int, seconds: float, key: str, timeout: float) -> list[dict]:
    ids = [probe.send(key=key, seconds=seconds).message_id for _ in range(count)]
    return [store.wait_for_state(job_id, "completed", "dead", timeout=timeout) for job_id in ids]


def test_concurrency_is_capped_over_all_processes(redis_client):
    env = {"QUEUES__LIMITS_PROBE__CONCURRENCY": "2"}
    with processes.worker_process("tests.support.sample_actors", processes=2, threads=4, env=env):
        done = run_all(12, 0.4, "probe:concurrency", timeout=60)
    assert [job["state"] for job in done] == ["completed"] * 12
    assert all(job["attempts"] == 1 for job in done), "a hold must not use up an attempt"
    intervals = spans(redis_client, "probe:concurrency")
    assert len(intervals) == 12
    # Eight threads could run eight at once; the limit lets two, and two do run together.
    assert most_at_once(intervals) == 2


def test_one_at_a_time_when_the_concurrency_is_one(redis_client):
    env = {"QUEUES__LIMITS_PROBE__CONCURRENCY": "1"}
    with processes.worker_process("tests.support.sample_actors", processes=2, threads=4, env=env):
        done = run_all(6, 0.2, "probe:sequential", timeout=60)
    assert {job["state"] for job in done} == {"completed"}
    intervals = spans(redis_client, "probe:sequential")
    assert most_at_once(intervals) == 1
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(intervals))


def test_rate_limit_counts_starts_over_all_processes_without_burning_retries(redis_client):
    limit, window = 5, 2
    env = {"QUEUES__LIMITS_PROBE__RATE_LIMIT": str(limit), "QUEUES__LIMITS_PROBE__RATE_WINDOW": str(window)}
    with processes.worker_process("tests.support.sample_actors", processes=2, threads=4, env=env):
        done = run_all(20, 0.0, "probe:rate", timeout=90)
    assert [job["state"] for job in done] == ["completed"] * 20
    assert all(job["attempts"] == 1 for job in done), "a job held by the rate limit must not use up an attempt"
    assert len(spans(redis_client, "probe:rate")) == 20  # each job ran once
    # A job's start is the instant the limiter admitted it (the store's started_at). The limiter
    # counts starts in one-second buckets over the window: every window of `window` whole
    # seconds holds at most `limit` starts.
    starts = [job["started_at"].timestamp() for job in done]
    per_second = Counter(math.floor(start) for start in starts)
    first, last = min(per_second), max(per_second)
    windows = [sum(per_second[s] for s in range(second, second + window)) for second in range(first - window, last + 1)]
    assert max(windows) <= limit, per_second
    # 20 starts at 5 per 2 s cannot take less than 3 full windows.
    assert max(starts) - min(starts) >= (20 / limit - 1) * window - 1
