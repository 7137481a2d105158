"""Names shared by the observability modules."""

from __future__ import annotations


def canonical_queue(queue_name: str) -> str:
    """`reports.DQ` and `reports.XQ` are the delayed and dead-letter halves of queue `reports`."""
    for suffix in (".DQ", ".XQ"):
        if queue_name.endswith(suffix):
            return queue_name[: -len(suffix)]
    return queue_name
