"""Tenants on Redis and on RabbitMQ (`any_broker`): what is fair where, as the README's table says.

Limits per tenant work on both (the queue-limits middleware, on Redis's limiters, whatever the
broker); turns between tenants are the Redis broker's: RabbitMQ hands a queue's jobs out in
arrival order, so there one tenant's backlog delays another's job by the whole backlog.
"""

from __future__ import annotations

import time

import tests.support.tenant_actors  # noqa: F401  (declares queue tenant-probe, moved to RabbitMQ by any_broker)
from tests.middleware.test_queue_limits import most_at_once
from tests.support import processes
from tests.support.tenant_actors import starts, tenant_probe


def worker(case, processes_: int, threads: int, **env: str):  # type: ignore[no-untyped-def]
    return processes.worker_process(
        "tests.support.tenant_actors", processes=processes_, threads=threads, env={**case.env, **env}
    )


def wait_for_rows(redis_client, key: str, count: int, timeout: float = 60.0) -> list:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while redis_client.llen(key) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = starts(redis_client, key)
    assert len(rows) == count, rows
    return rows


def test_concurrency_per_tenant_holds_on_either_broker(any_broker, redis_client):
    # Given one job at a time per tenant, and two worker processes of two threads
    with worker(any_broker, 2, 2, QUEUES__TENANT_PROBE__TENANT_CONCURRENCY="1"):
        # When A and B each send three jobs of 0.3 s
        for _ in range(3):
            tenant_probe.send(publisher_id="pub-a", key="probe:either", seconds=0.3)
            tenant_probe.send(publisher_id="pub-b", key="probe:either", seconds=0.3)
        rows = wait_for_rows(redis_client, "probe:either", 6)
    # Then each tenant ran one at a time, and the two ran side by side
    assert most_at_once([(start, end) for tenant, start, end in rows if tenant == "pub-a"]) == 1
    assert most_at_once([(start, end) for tenant, start, end in rows if tenant == "pub-b"]) == 1
    assert most_at_once([(start, end) for _, start, end in rows]) == 2


def test_turns_between_tenants_are_rediss_rabbitmq_runs_in_arrival_order(any_broker, redis_client):
    # Given 30 jobs of A waiting, then one of B, and one worker of one thread that fetches one at a time
    for _ in range(30):
        tenant_probe.send(publisher_id="pub-a", key="probe:turns", seconds=0.01)
    tenant_probe.send(publisher_id="pub-b", key="probe:turns", seconds=0.01)
    with worker(any_broker, 1, 1, WORKER_PREFETCH="1"):
        rows = wait_for_rows(redis_client, "probe:turns", 31)
    a_before_b = [tenant for tenant, _, _ in rows].index("pub-b")
    if any_broker.name == "redis":
        # Then on Redis B's job starts among the first (a tenant with nothing waiting takes the next turn)
        assert a_before_b <= 1
    else:
        # Then on RabbitMQ it waits for A's backlog: the queue is first in, first out
        assert a_before_b >= 28
