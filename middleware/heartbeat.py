"""Announces each worker process, and each beat, in Redis while it runs (`runtime/heartbeats.py`).

Hooks: `after_worker_boot` starts the worker's heartbeat thread, `before_worker_shutdown` stops it
and removes the worker at once, so `/health` sees a stopped worker leave without waiting for its
heartbeat to age. `before_process_message` / `after_process_message` / `after_skip_message` tell
the heartbeat which jobs the worker runs now. A beat (`periodiq`) boots no worker: the first tick
it sends (`after_enqueue` of a message with periodiq's `scheduled_at`) starts its heartbeat, and
each tick is its last one. Off for the embedded default, which has no Redis.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy
from dramatiq.message import Message

from core.naming import canonical_queue
from runtime.heartbeats import BEAT, Heartbeat
from settings import get_settings


class WorkerHeartbeat(Middleware):
    def __init__(self) -> None:
        self._heartbeat: Heartbeat | None = None
        self._beat: Heartbeat | None = None
        self._beat_lock = threading.Lock()
        #: The broker is made as the process starts: a beat's start time.
        self._created = time.time()

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

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if self._heartbeat is not None:
            self._heartbeat.job_started(message.message_id, canonical_queue(message.queue_name), message.actor_name)

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if self._heartbeat is not None:
            self._heartbeat.job_ended(message.message_id)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        if self._heartbeat is not None:
            self._heartbeat.job_ended(message.message_id)

    def after_enqueue(self, broker: Broker, message: Message, delay: int | None) -> None:
        tick = message.options.get("scheduled_at")
        if tick is None or self._heartbeat is not None or get_settings().embedded:
            return  # not a beat's tick (a worker may send a message again with the option kept)
        with self._beat_lock:
            heartbeat, new = self._beat, self._beat is None
            if heartbeat is None:
                heartbeat = self._beat = Heartbeat({}, kind=BEAT, started_at=self._created)
            heartbeat.update(lastTick=str(tick), lastTickActor=message.actor_name)
            if new:
                heartbeat.start()
