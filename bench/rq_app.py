"""Anchor: RQ with a no-op job, for the throughput comparison."""

from __future__ import annotations


def noop(n: int) -> None:
    return None
