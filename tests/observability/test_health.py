"""`/health`: each dependency's state, and healthy / degraded / unhealthy overall."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta

from observability.health import check_health
from runtime import heartbeats
from scheduling import state
from settings import load_settings
from tests.support import processes
from tests.support.sample_actors import echo


def test_everything_up_is_healthy(worker):
    # Given a running worker (it beats) and a fresh beat tick
    state.record_dispatch(datetime.now(UTC))
    deadline = time.monotonic() + 10
    while not heartbeats.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    # When health is checked
    health = check_health()
    # Then every service is healthy, with details
    assert health["status"] == "healthy", health
    services = health["services"]
    assert set(services) == {"postgres", "redis", "queues", "workers", "scheduler"}
    assert all(service["status"] == "healthy" for service in services.values())
    assert services["workers"]["alive"] >= 1
    assert services["scheduler"]["ageSeconds"] < 60
    assert "test-jobs" in services["queues"]["queues"] and services["postgres"]["latencyMs"] >= 0


def test_no_worker_and_an_old_beat_tick_are_degraded():
    state.record_dispatch(datetime.now(UTC) - timedelta(minutes=10))
    health = check_health()
    assert health["status"] == "degraded"
    assert health["services"]["workers"]["status"] == "degraded" and health["services"]["workers"]["alive"] == 0
    assert health["services"]["scheduler"]["status"] == "degraded"
    assert health["services"]["scheduler"]["ageSeconds"] >= 599
    assert health["services"]["postgres"]["status"] == health["services"]["redis"]["status"] == "healthy"


def test_a_worker_that_stopped_beating_is_not_counted():
    heartbeats.beat("gone:1", {"queues": ["*"]})
    settings = load_settings(worker_heartbeat_timeout=30)
    assert [worker["id"] for worker in heartbeats.alive(time.time())] == ["gone:1"]
    assert heartbeats.alive(time.time() + settings.worker_heartbeat_timeout + 1) == []


def test_a_queue_over_its_threshold_degrades_the_queues():
    heartbeats.beat("test-host:1", {"queues": ["*"]})
    state.record_dispatch(datetime.now(UTC))
    for value in range(3):
        echo.send(value=value)
    health = check_health(load_settings(alert_waiting_threshold=2))
    assert health["status"] == "degraded"
    assert health["services"]["queues"]["overThreshold"] == ["test-jobs"]


def test_postgres_down_is_unhealthy():
    result = processes.run_python(
        "import json\nfrom observability.health import check_health\nprint(json.dumps(check_health()))",
        env={"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"},
    )
    assert result.returncode == 0, result.stderr
    health = json.loads(result.stdout.strip().splitlines()[-1])
    assert health["status"] == "unhealthy"
    assert health["services"]["postgres"]["status"] == "unhealthy" and health["services"]["postgres"]["error"]
    assert health["services"]["redis"]["status"] == "healthy"


def test_a_redis_that_never_answers_is_unhealthy_within_the_timeout():
    # Given a "Redis" that accepts connections and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = processes.run_python(
            "import json\nfrom observability.health import check_health\nprint(json.dumps(check_health()))",
            env={"REDIS_URL": f"redis://127.0.0.1:{port}/0", "HEALTH_TIMEOUT": "1.5"},
        )
        elapsed = time.monotonic() - started
    # Then health answers, unhealthy, in about the timeout rather than hanging
    assert result.returncode == 0, result.stderr
    health = json.loads(result.stdout.strip().splitlines()[-1])
    assert health["status"] == "unhealthy"
    assert health["services"]["redis"]["status"] == "unhealthy"
    assert health["services"]["postgres"]["status"] == "healthy"
    assert elapsed < 30
