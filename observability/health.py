"""`GET /health`: PostgreSQL, Redis, queues, workers and the beat, each healthy, degraded or unhealthy.

The overall status is `unhealthy` when PostgreSQL or Redis does not answer (nothing can be
enqueued or recorded), `degraded` when they do but something else needs a look (no live
worker, no recent beat tick, a paused queue or one over its alert thresholds), `healthy`
otherwise. Each check runs in its own thread with HEALTH_TIMEOUT, so a hung dependency
makes the answer slow by at most that, never hangs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from sqlalchemy import text

from brokers.priority_redis import PriorityRedisBroker
from core import redis_client
from core.scrub import scrub_text
from db.engine import get_engine
from observability import queue_state
from runtime import heartbeats
from runtime.store_buffer import event_list_figures
from scheduling import state
from settings import Settings, get_settings
from wiring.broker import get_broker

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}
#: Services whose failure makes the whole platform unhealthy; the others only degrade it.
CORE = ("postgres", "redis")
#: Share of STORE_EVENTS_MAX at which the job store's event list degrades the Redis check.
STORE_EVENTS_WARN = 0.9

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


def _timed(check: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        started = time.perf_counter()
        result = check()
        result.setdefault("latencyMs", round((time.perf_counter() - started) * 1000, 2))
        return result

    return run


def check_postgres() -> dict[str, Any]:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": HEALTHY}


def check_redis(settings: Settings | None = None) -> dict[str, Any]:
    redis_client.client().ping()
    broker = get_broker()
    if isinstance(broker, PriorityRedisBroker):
        broker.ping()  # and the broker's own connection (BROKER_URL may name another Redis)
    figures = event_list_figures()
    if figures is None:
        return {"status": HEALTHY}
    # The job store's event list: near STORE_EVENTS_MAX (no writer, or PostgreSQL away for long), sends
    # soon drop their events (those jobs get no row until they run); `dropped` counts those already dropped.
    cap = (settings or get_settings()).store_events_max
    waiting, dropped = figures
    status = DEGRADED if waiting >= cap * STORE_EVENTS_WARN else HEALTHY
    return {"status": status, "storeEvents": {"waiting": waiting, "max": cap, "dropped": dropped}}


def check_queues(settings: Settings) -> dict[str, Any]:
    snapshot = queue_state.snapshot()
    paused = sorted(queue for queue, figures in snapshot.queues.items() if figures.paused)
    over = []
    for queue, figures in snapshot.queues.items():
        store = figures.store
        if (
            store["waiting"] > settings.alert_waiting_threshold
            or store["delayed"] > settings.alert_delayed_threshold
            or store["active"] > settings.alert_active_threshold
            or store["failed"] + store["dead"] > settings.alert_failed_threshold
        ):
            over.append(queue)
    queues = {queue: {**figures.store, "paused": figures.paused} for queue, figures in snapshot.queues.items()}
    status = DEGRADED if paused or over else HEALTHY
    return {"status": status, "paused": paused, "overThreshold": sorted(over), "queues": queues}


def check_workers(settings: Settings) -> dict[str, Any]:
    workers = heartbeats.alive()
    status = HEALTHY if workers else DEGRADED
    return {
        "status": status,
        "alive": len(workers),
        "heartbeatTimeoutSeconds": settings.worker_heartbeat_timeout,
        "workers": workers,
    }


def check_scheduler(settings: Settings) -> dict[str, Any]:
    last_tick = state.last_dispatch()
    if last_tick is None:
        return {"status": DEGRADED, "lastTick": None, "ageSeconds": None, "maxAgeSeconds": settings.scheduler_max_age}
    last = last_tick.timestamp()
    age = max(0.0, time.time() - last)
    return {
        "status": HEALTHY if age <= settings.scheduler_max_age else DEGRADED,
        "lastTick": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last)),
        "ageSeconds": round(age, 1),
        "maxAgeSeconds": settings.scheduler_max_age,
    }


def check_health(settings: Settings | None = None) -> dict[str, Any]:
    """{"status": healthy | degraded | unhealthy, "services": {postgres, redis, queues, workers, scheduler}}."""
    settings = settings or get_settings()
    checks: dict[str, Callable[[], dict[str, Any]]] = {
        "postgres": check_postgres,
        "redis": lambda: check_redis(settings),
        "queues": lambda: check_queues(settings),
        "workers": lambda: check_workers(settings),
        "scheduler": lambda: check_scheduler(settings),
    }
    futures = {name: _pool.submit(_timed(check)) for name, check in checks.items()}
    deadline = time.monotonic() + settings.health_timeout
    services: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        try:
            services[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            services[name] = {"status": UNHEALTHY, "error": f"no answer within {settings.health_timeout} s"}
        except Exception as error:
            services[name] = {"status": UNHEALTHY, "error": scrub_text(f"{type(error).__name__}: {error}")[:300]}
    return {"status": overall(services), "services": services}


def overall(services: dict[str, dict[str, Any]]) -> str:
    worst = HEALTHY
    for name, service in services.items():
        status = service["status"]
        if name not in CORE and status == UNHEALTHY:
            status = DEGRADED  # a broken side check degrades; only the core makes it unhealthy
        if _RANK[status] > _RANK[worst]:
            worst = status
    return worst
