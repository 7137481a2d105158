"""A queue's tenants: what each has waiting and running, and its tier (API, dashboard, `jobsctl stats --tenants`).

Waiting: the broker's count per tenant (`tenant_backlog`, Redis only: RabbitMQ and the embedded
broker keep no list per tenant, so their tenants read `waiting: null`). Running: where the queue
limits each tenant's concurrency, the limiter's own count of slots taken (cluster-wide, exact);
otherwise the job store's `active` jobs grouped by the payload's publisher (the tenant of every
publisher-scoped job; a `tenant=` given at send is counted only by the limiter). The shared
tenant (jobs naming none) is listed as "" when it has jobs waiting.
"""

from __future__ import annotations

from typing import Any

from core.redis_client import client
from core.tenants import SHARED
from db.engine import get_engine
from db.tenant_jobs import active_by_publisher
from middleware.queue_limits import tenant_concurrency_key
from runtime import publisher_tiers
from runtime.store_buffer import get_buffer
from settings import get_settings
from wiring.broker import get_broker

#: Redis keys read per round trip when counting slots.
BATCH = 500


def _limiter_counts(queue: str) -> dict[str, int]:
    prefix = tenant_concurrency_key(queue, "")
    redis = client()
    keys = list(redis.scan_iter(match=f"{prefix}*", count=BATCH))
    counts: dict[str, int] = {}
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        for key, value in zip(chunk, redis.mget(chunk), strict=True):
            name = key.decode() if isinstance(key, bytes) else str(key)
            if value and int(value) > 0:
                counts[name[len(prefix) :]] = int(value)
    return counts


def queue_tenants(queue: str, limit: int = 20) -> dict[str, Any]:
    """The `limit` tenants of `queue` with the most jobs waiting (then running), and how they were counted."""
    broker = get_broker()
    backlog_of = getattr(broker, "tenant_backlog", None)
    waiting: dict[str, int] | None = backlog_of(queue) if backlog_of is not None else None
    figures = get_settings().queue(queue)
    if figures.tenant_concurrency and not get_settings().embedded:
        active, active_source = _limiter_counts(queue), "limiter"
    else:
        get_buffer().flush()
        with get_engine().connect() as connection:
            active, active_source = active_by_publisher(connection, queue), "store"
    tenants = set(waiting or {}) | set(active)
    tiers = publisher_tiers.tiers()
    ranked = sorted(tenants, key=lambda tenant: (-(waiting or {}).get(tenant, 0), -active.get(tenant, 0), tenant))
    rows = [
        {
            "tenant": tenant,
            "tier": tiers.get(tenant, "standard") if tenant != SHARED else None,
            "waiting": None if waiting is None else waiting.get(tenant, 0),
            "active": active.get(tenant, 0),
        }
        for tenant in ranked
    ]
    return {
        "queue": queue,
        "tenants": rows[:limit],
        "total": len(rows),
        "waitingCounted": waiting is not None,
        "activeFrom": active_source,
        "limits": {
            "tenantConcurrency": figures.tenant_concurrency or None,
            "tenantRateLimit": figures.tenant_rate_limit or None,
            "tenantRateWindow": figures.tenant_rate_window,
        },
    }
