"""Putting a job back: the same message (same id, same attempt) re-enqueued with a delay.

Used by the queue limits (a job over its queue's concurrency or rate) and by pause (a job
fetched just before its queue was paused). A hold uses no retry; `options["holds"]` counts
holds so the job store ranks the new `delayed` record above the attempt's earlier ones.

A hold is routine, not a warning: Dramatiq's worker logs every skipped delivery as `WARNING
Message ... was skipped.`, hundreds of lines for one pipeline under its queue's limits. For a held
job (`message._held`) `QuietHolds` turns that line into a debug one; the queue limits count each
hold in Prometheus (`adjobs_rate_limit_holds_total`, `runtime.metrics_recorder.record_rate_limit_hold`).
"""

from __future__ import annotations

import logging
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import SkipMessage

#: Dramatiq's worker thread logger, and its line for a skipped delivery (`dramatiq.worker.WorkerThread`).
WORKER_LOGGER = "dramatiq.worker.WorkerThread"
SKIPPED = "Message %s was skipped."


class QuietHolds(logging.Filter):
    """Dramatiq's `Message ... was skipped.` line for a held job, at debug level instead of warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg != SKIPPED or not args or not getattr(args[0], "_held", False):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_QUIET_HOLDS = QuietHolds()


def quiet_holds() -> None:
    """Put `QuietHolds` on Dramatiq's worker thread logger (once per process)."""
    worker_logger = logging.getLogger(WORKER_LOGGER)
    if _QUIET_HOLDS not in worker_logger.filters:
        worker_logger.addFilter(_QUIET_HOLDS)


def hold(broker: Broker, message: MessageProxy, queue: str, delay_ms: int, reason: str) -> None:
    """Re-enqueue `message` on `queue` after `delay_ms` and skip this delivery (raises SkipMessage).

    Dramatiq's skip line for it is a debug one (`quiet_holds`, put in place here so every holder gets it).
    """
    quiet_holds()
    options: dict[str, Any] = {**message.options, "holds": int(message.options.get("holds", 0)) + 1}
    options.pop("redis_message_id", None)
    options.pop("eta", None)
    held = message._message.copy(queue_name=queue)
    held.options.clear()
    held.options.update(options)
    broker.enqueue(held, delay=delay_ms)
    message._held = True  # type: ignore[attr-defined]
    raise SkipMessage(reason)
