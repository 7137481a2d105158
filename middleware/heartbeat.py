"""Announces each worker process in Redis while it runs (`runtime/heartbeats.py`).

Hooks: `after_worker_boot` starts the heartbeat thread, `before_worker_shutdown` stops it
and removes the worker at once, so `/health` sees a stopped worker leave without waiting
for its heartbeat to age. Off for the embedded default, which has no Redis.
"""

from __future__ import annotations

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker

from runtime.heartbeats import Heartbeat
from settings import get_settings


class WorkerHeartbeat(Middleware):
    def __init__(self) -> None:
        self._heartbeat: Heartbeat | None = None

    def after_worker_boot(self, broker: Broker, worker: dramatiq.Worker) -> None:
        if get_settings().embedded:
            return
        whitelist = getattr(worker, "consumer_whitelist", None)
        queues = sorted(whitelist) if whitelist else ["*"]
        self._heartbeat = Heartbeat({"queues": queues, "threads": worker.worker_threads})
        self._heartbeat.start()

    def before_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
