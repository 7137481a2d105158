"""The broker's Redis key layout that code outside the broker's class needs: priority lanes, tenants, store events.

Tenants (`dispatch.lua`, adjobs change 8): within a queue's lane, the messages of tenant `t` wait on
`<lane list>@t` (the shared tenant, no tenant, keeps the lane's list), the tenants whose turn comes
next on `<lane list>#ring`, and the lanes that have a ring in the set `<ns>:<queue>#lanes`.

Store events: the job store's `waiting` / `delayed` event of each message the Redis broker
enqueues rides the enqueue (pushed by the same script call, `brokers.priority_redis`) onto one
list of the broker's namespace; the store's writers (`runtime.store_buffer`) move chunks of it
into a list of their own while they write them (`store_events_held`), and note when each last
took some (`store_event_writers`, a sorted set of writer ids by milliseconds).
"""

from __future__ import annotations

from core.lanes import NORMAL

#: The broker's namespace (Dramatiq's default, which `wiring.broker` keeps).
NAMESPACE = "dramatiq"


def lane_key(namespace: str, queue_name: str, lane: int) -> str:
    """The Redis list of a queue's lane (Dramatiq's own list for NORMAL)."""
    base = f"{namespace}:{queue_name}"
    return base if lane == NORMAL else f"{base}|{lane}"


def tenant_key(namespace: str, queue_name: str, lane: int, tenant: str) -> str:
    """The Redis list of one tenant's messages in a queue's lane (the lane's own list for the shared tenant "")."""
    base = lane_key(namespace, queue_name, lane)
    return f"{base}@{tenant}" if tenant else base


def tenant_ring_key(namespace: str, queue_name: str, lane: int) -> str:
    """The tenants of a queue's lane in the order of their turns."""
    return f"{lane_key(namespace, queue_name, lane)}#ring"


def tenant_lanes_key(namespace: str, queue_name: str) -> str:
    """The set of a queue's lanes that have a ring of tenants."""
    return f"{namespace}:{queue_name}#lanes"


def store_events_key(namespace: str = NAMESPACE) -> str:
    """The list of job-store events waiting for a writer, oldest first."""
    return f"{namespace}:__store_events__"


def store_event_writers_key(namespace: str = NAMESPACE) -> str:
    """Writer id -> when it last took events (ms): a writer silent for long has died, its events go back."""
    return f"{namespace}:__store_events__.writers"


def store_events_held_key(writer_id: str, namespace: str = NAMESPACE) -> str:
    """The events one writer took and has not written yet."""
    return f"{store_events_held_prefix(namespace)}{writer_id}"


def store_events_held_prefix(namespace: str = NAMESPACE) -> str:
    return f"{namespace}:__store_events__.held."


def store_events_dropped_key(namespace: str = NAMESPACE) -> str:
    """How many store events the enqueue scripts dropped because the list was at its cap (a counter)."""
    return f"{store_events_key(namespace)}.dropped"


def store_events_progress_key(namespace: str = NAMESPACE) -> str:
    """The writers' progress through the list while any holds events: an epoch, items taken, chunk ids."""
    return f"{store_events_key(namespace)}.progress"
