"""Queue names as the rest of the code speaks of them: the queue, never its broker-side halves.

A broker keeps a queue's delayed and dead-letter messages in queues of their own; their
names are Dramatiq's rule (`dramatiq.common`), so they are asked of Dramatiq here and
spelled nowhere outside `brokers/`.
"""

from __future__ import annotations

import functools

from dramatiq.common import dq_name, q_name


@functools.lru_cache(maxsize=4096)
def canonical_queue(queue_name: str) -> str:
    """The queue a broker queue name belongs to: the delayed and dead-letter halves of `reports` are `reports`.
    (Kept: a few lookups per job, of a few names.)"""
    return q_name(queue_name)


def is_delay_queue(queue_name: str) -> bool:
    """True for the broker queue that holds a queue's delayed messages until they are due."""
    return dq_name(queue_name) == queue_name
