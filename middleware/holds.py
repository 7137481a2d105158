"""Putting a job back: the same message (same id, same attempt) re-enqueued with a delay.

Used by the queue limits (a job over its queue's concurrency or rate) and by pause (a job
fetched just before its queue was paused). A hold uses no retry; `options["holds"]` counts
holds so the job store ranks the new `delayed` record above the attempt's earlier ones.
"""

from __future__ import annotations

from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import SkipMessage


def hold(broker: Broker, message: MessageProxy, queue: str, delay_ms: int, reason: str) -> None:
    """Re-enqueue `message` on `queue` after `delay_ms` and skip this delivery (raises SkipMessage)."""
    options: dict[str, Any] = {**message.options, "holds": int(message.options.get("holds", 0)) + 1}
    options.pop("redis_message_id", None)
    options.pop("eta", None)
    held = message._message.copy(queue_name=queue)
    held.options.clear()
    held.options.update(options)
    broker.enqueue(held, delay=delay_ms)
    message._held = True  # type: ignore[attr-defined]
    raise SkipMessage(reason)
