"""The broker's Redis key layout for priority lanes: one list per lane of a queue."""

from __future__ import annotations

from core.lanes import NORMAL


def lane_key(namespace: str, queue_name: str, lane: int) -> str:
    """The Redis list of a queue's lane (Dramatiq's own list for NORMAL)."""
    base = f"{namespace}:{queue_name}"
    return base if lane == NORMAL else f"{base}|{lane}"
