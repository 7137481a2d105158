"""Limits per tenant (TENANT_CONCURRENCY, TENANT_RATE_LIMIT) and tiers, with two worker processes on real Redis."""

from __future__ import annotations

import math
from collections import Counter

from runtime import publisher_tiers
from runtime.metrics_recorder import recorded_counters
from tests.middleware.test_queue_limits import most_at_once
from tests.support import processes, store
from tests.support.tenant_actors import starts, tenant_probe


def run_all(jobs: list[tuple[str, float]], key: str, timeout: float) -> list[dict]:
    ids = [tenant_probe.send(publisher_id=tenant, key=key, seconds=seconds).message_id for tenant, seconds in jobs]
    return [store.wait_for_state(job_id, "completed", "dead", timeout=timeout) for job_id in ids]


def spans_of(rows: list[tuple[str, float, float]], tenant: str) -> list[tuple[float, float]]:
    return [(start, end) for who, start, end in rows if who == tenant]


def test_concurrency_per_tenant_over_two_processes_lets_other_tenants_run(redis_client):
    # Given a queue limited to one job at a time per tenant, and two processes of four threads
    env = {"QUEUES__TENANT_PROBE__TENANT_CONCURRENCY": "1"}
    with processes.worker_process("tests.support.tenant_actors", processes=2, threads=4, env=env):
        # When A and B each send four jobs of 0.3 s
        done = run_all([("pub-a", 0.3), ("pub-b", 0.3)] * 4, "probe:tenant-concurrency", timeout=60)
    # Then every job ran once, with no attempt used by a hold
    assert [job["state"] for job in done] == ["completed"] * 8
    assert all(job["attempts"] == 1 for job in done), "a hold must not use up an attempt"
    rows = starts(redis_client, "probe:tenant-concurrency")
    assert len(rows) == 8
    # and each tenant ran one at a time, while A's and B's ran side by side
    assert most_at_once(spans_of(rows, "pub-a")) == 1
    assert most_at_once(spans_of(rows, "pub-b")) == 1
    assert most_at_once([(start, end) for _, start, end in rows]) == 2
    # and the holds (eight threads for two slots) are counted per tenant for Prometheus
    counters = recorded_counters()
    assert set(counters.tenant_holds) <= {("tenant-probe", "pub-a"), ("tenant-probe", "pub-b")}
    assert sum(counters.tenant_holds.values()) >= 1


def test_rate_per_tenant_counts_starts_per_window_over_two_processes(redis_client):
    # Given at most 3 starts per tenant per 2 s, and two processes of four threads
    limit, window = 3, 2
    env = {
        "QUEUES__TENANT_PROBE__TENANT_RATE_LIMIT": str(limit),
        "QUEUES__TENANT_PROBE__TENANT_RATE_WINDOW": str(window),
    }
    with processes.worker_process("tests.support.tenant_actors", processes=2, threads=4, env=env):
        # When A sends 12 jobs, then B sends 3
        done = run_all([("pub-a", 0.0)] * 12 + [("pub-b", 0.0)] * 3, "probe:tenant-rate", timeout=90)
    assert [job["state"] for job in done] == ["completed"] * 15
    assert all(job["attempts"] == 1 for job in done), "a job held by its tenant's rate must not use up an attempt"
    # Then every window of `window` whole seconds holds at most `limit` starts of each tenant
    for tenant in ("pub-a", "pub-b"):
        starts_of = [job["started_at"].timestamp() for job in done if job["payload"]["publisher_id"] == tenant]
        per_second = Counter(math.floor(start) for start in starts_of)
        first, last = min(per_second), max(per_second)
        windows = [
            sum(per_second[s] for s in range(second, second + window)) for second in range(first - window, last + 1)
        ]
        assert max(windows) <= limit, (tenant, per_second)
    # and A's backlog did not hold B back: B's three started within B's first window
    a_starts = sorted(job["started_at"].timestamp() for job in done if job["payload"]["publisher_id"] == "pub-a")
    b_starts = sorted(job["started_at"].timestamp() for job in done if job["payload"]["publisher_id"] == "pub-b")
    assert b_starts[-1] - b_starts[0] < window
    assert a_starts[-1] - a_starts[0] >= (12 / limit - 1) * window - 1  # 12 at 3 per 2 s: at least 3 windows


def test_a_premium_tiers_limit_factor_multiplies_its_concurrency(redis_client):
    # Given one job at a time per tenant, premium tenants allowed twice as many, and pub-p premium
    env = {"QUEUES__TENANT_PROBE__TENANT_CONCURRENCY": "1", "TIERS__PREMIUM__LIMIT_FACTOR": "2"}
    publisher_tiers.publish_tier("pub-p", "premium")
    with processes.worker_process("tests.support.tenant_actors", processes=2, threads=3, env=env):
        # When the premium and a standard publisher send four jobs each
        done = run_all([("pub-p", 0.4), ("pub-s", 0.4)] * 4, "probe:tier", timeout=60)
    assert [job["state"] for job in done] == ["completed"] * 8
    rows = starts(redis_client, "probe:tier")
    # Then the premium publisher ran two at once, the standard one one
    assert most_at_once(spans_of(rows, "pub-p")) == 2
    assert most_at_once(spans_of(rows, "pub-s")) == 1
