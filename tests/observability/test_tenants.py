"""A queue's tenants as the API, the dashboard and `jobsctl stats --tenants` read them: waiting and active."""

from __future__ import annotations

import time

import pytest

import tests.support.tenant_actors  # noqa: F401  (declares queue tenant-probe in this process)
from observability.tenants import queue_tenants
from settings import get_settings, load_settings, use_settings
from tests.support import processes, store
from tests.support.tenant_actors import tenant_probe


def wait_until(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not seen within {timeout} s: {check()}")


def rows(queue: str) -> dict[str, tuple[int | None, int]]:
    return {row["tenant"]: (row["waiting"], row["active"]) for row in queue_tenants(queue)["tenants"]}


@pytest.fixture
def limited_settings(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    before = get_settings()
    monkeypatch.setenv("QUEUES__TENANT_PROBE__TENANT_CONCURRENCY", "2")
    use_settings(load_settings())
    yield
    use_settings(before)


@pytest.mark.parametrize("counted_by", ["store", "limiter"])
def test_waiting_and_active_jobs_are_counted_per_tenant(redis_client, request, counted_by):
    if counted_by == "limiter":
        request.getfixturevalue("limited_settings")
    # Given two long jobs of A running on a worker of two threads that fetches no more than it runs,
    # and three more of A and one of B waiting
    env = {"WORKER_PREFETCH": "2"}
    if counted_by == "limiter":
        env["QUEUES__TENANT_PROBE__TENANT_CONCURRENCY"] = "2"
    with processes.worker_process("tests.support.tenant_actors", processes=1, threads=2, env=env):
        running = [tenant_probe.send(publisher_id="pub-a", key="probe:t", seconds=3.0).message_id for _ in range(2)]
        for job_id in running:
            store.wait_for_state(job_id, "active", timeout=30)
        for _ in range(3):
            tenant_probe.send(publisher_id="pub-a", key="probe:t", seconds=3.0)
        tenant_probe.send(publisher_id="pub-b", key="probe:t", seconds=3.0)
        # When the queue's tenants are read
        found = wait_until(lambda: rows("tenant-probe").get("pub-a", (0, 0))[1] == 2 and rows("tenant-probe"))
        # Then A has its two running, and what still waits on the broker is counted per tenant (a worker
        # woken by a new job fetches one beyond its prefetch, so some of the four may be in its hands)
        assert queue_tenants("tenant-probe")["activeFrom"] == counted_by
        assert found["pub-a"][1] == 2
        waiting_a, waiting_b = found["pub-a"][0], found.get("pub-b", (0, 0))[0]
        assert 1 <= waiting_a <= 3 and waiting_b <= 1, found
