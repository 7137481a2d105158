"""Counts every attempt's outcome and duration for Prometheus (`runtime/metrics_recorder.py`).

Hooks: `before_process_message` (start time), `after_process_message` and
`after_skip_message` (completed, retried or dead), `after_worker_shutdown` (last flush).
It only folds numbers into an in-process buffer; a thread adds them to Redis once a second.
Like the job store it sits before Retries, so its after-hooks see what Retries decided.
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy

from core.naming import canonical_queue
from runtime import metrics_recorder
from settings import get_settings


class JobMetrics(Middleware):
    def __init__(self) -> None:
        self._enabled = not get_settings().embedded

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        message._metrics_started = time.monotonic()  # type: ignore[attr-defined]

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if not self._enabled:
            return
        if exception is None:
            state = "completed"
        elif message.failed:
            state = "dead"
        else:
            state = "retried"
        started = getattr(message, "_metrics_started", None)
        duration = None if started is None else time.monotonic() - started
        metrics_recorder.record_job(canonical_queue(message.queue_name), message.actor_name, state, duration)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        if self._enabled and message.failed:
            metrics_recorder.record_job(canonical_queue(message.queue_name), message.actor_name, "dead", None)

    def after_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        if self._enabled:
            metrics_recorder.flush()
