"""Pause and cancel on every worker, and dedupe keys released when their job ends.

A thread per worker process reads the paused queues and the cancelled job ids
(`runtime.flags`) four times a second. A paused queue's consumer stops fetching
(Dramatiq's own consumer pause); a job it had already fetched is put back with a delay
instead of starting. Delayed jobs keep moving to their queue while it is paused and wait
there for the resume. A cancelled job that a worker had already fetched is skipped and
acknowledged, so it never runs.

It sits before the queue limits, so a paused or cancelled job takes no limiter slot.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import SkipMessage

from core.naming import canonical_queue, is_delay_queue
from middleware.holds import hold
from runtime import flags

logger = logging.getLogger(__name__)

#: Seconds between reads of the paused queues and cancelled jobs.
POLL_SECONDS = 0.25
#: A job fetched just before its queue was paused goes back for this long (ms).
PAUSED_HOLD_MS = 1000


class QueueControl(Middleware):
    def __init__(self) -> None:
        self._paused: set[str] = set()
        self._cancelled: set[str] = set()
        self._worker: dramatiq.Worker | None = None
        self._paused_here: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # State --------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._paused = flags.paused()
        self._cancelled = flags.cancelled()
        worker = self._worker
        if worker is None:
            return
        for name, consumer in list(worker.consumers.items()):
            if is_delay_queue(name):
                continue  # delayed jobs keep falling due into their (paused) queue
            # Only consumers this middleware paused are resumed here: a pause of the whole
            # worker (Worker.pause) is not ours to undo.
            if name in self._paused:
                if not consumer.paused:
                    consumer.pause()
                    logger.info("queue %s paused: this worker stops starting its jobs", name)
                self._paused_here.add(name)
            elif name in self._paused_here:
                self._paused_here.discard(name)
                if consumer.paused:
                    consumer.resume()
                    logger.info("queue %s resumed", name)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.refresh()
            except Exception:  # Redis away for a moment: keep the last known state
                logger.warning("queue control: reading paused queues failed", exc_info=True)

    def before_worker_boot(self, broker: Broker, worker: dramatiq.Worker) -> None:
        # Before the consumers start: a job fetched in the first moments of a worker whose
        # queue is paused, or which was cancelled or drained, must not start either.
        self._worker = None  # its consumers are paused once they exist (after_worker_boot)
        try:
            self.refresh()
        except Exception:
            logger.warning("queue control: reading paused queues failed", exc_info=True)

    def after_worker_boot(self, broker: Broker, worker: dramatiq.Worker) -> None:
        self._worker = worker
        self._stop.clear()
        try:
            self.refresh()
        except Exception:
            logger.warning("queue control: reading paused queues failed", exc_info=True)
        self._thread = threading.Thread(target=self._poll, name="adjobs-queue-control", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    # Per message ----------------------------------------------------------------------------

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if message.message_id in self._cancelled:
            flags.forget_cancelled(message.message_id)
            message._cancelled = True  # type: ignore[attr-defined]
            raise SkipMessage(f"job {message.message_id} was cancelled")
        queue = canonical_queue(message.queue_name)
        if queue in self._paused:
            hold(broker, message, queue, PAUSED_HOLD_MS, f"queue {queue} is paused")

    def _release_dedupe(self, message: MessageProxy) -> None:
        key = message.options.get("dedupe_key")
        if key:
            try:
                flags.release(canonical_queue(message.queue_name), key, message.message_id)
            except Exception:  # the key expires by itself
                logger.warning("queue control: releasing dedupe key %r failed", key, exc_info=True)

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is None or message.failed:
            self._release_dedupe(message)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        if getattr(message, "_cancelled", False) or message.failed:
            self._release_dedupe(message)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        self._release_dedupe(message)
