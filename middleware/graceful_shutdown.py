"""On SIGTERM, jobs still running when the grace period ends go back to their queue, not to `failed`.

Dramatiq's worker, on SIGTERM, stops taking messages, waits up to `--worker-shutdown-timeout`
(the grace period) for running jobs and gives prefetched ones back. A job still running
after that stays unacknowledged in Redis until the worker's heartbeat is a minute old and
maintenance happens to run, and the store keeps calling it active. Hooks:
`before_process_message` / `after_process_message` / `after_skip_message` track the jobs
running; `after_worker_shutdown` (after the grace) puts the ones still running back on their
queue at once, without using up an attempt, and records them as waiting again. On RabbitMQ
the broker redelivers unacknowledged messages by itself when the connection closes.

A second SIGTERM makes Dramatiq's worker process exit at once, abandoning its running jobs.
A stop that signals the whole process group (systemd's default `KillMode=control-group`,
`kill -TERM -<pgid>`) delivers two: one directly and one forwarded by Dramatiq's main
process. `after_process_boot` wraps the worker process's handler so that a repeat within
DUPLICATE_SIGNAL_WINDOW seconds of the first is taken as that same stop; a later one still
kills, as Dramatiq means it to.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict
from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy

from brokers.priority_redis import PriorityRedisBroker
from middleware.job_store import JobStore

logger = logging.getLogger(__name__)

#: Seconds after a SIGTERM during which another one is the same stop, not "kill now".
DUPLICATE_SIGNAL_WINDOW = 3.0


class GracefulShutdown(Middleware):
    def __init__(self) -> None:
        self._running: dict[str, MessageProxy] = {}
        self._lock = threading.Lock()

    def after_process_boot(self, broker: Broker) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers belong to the main thread (not a `dramatiq` worker process)
        dramatiq_handler = signal.getsignal(signal.SIGTERM)
        if not callable(dramatiq_handler):
            return
        first: list[float] = []

        def on_sigterm(signum: int, frame: Any) -> Any:
            now = time.monotonic()
            if first and now - first[0] < DUPLICATE_SIGNAL_WINDOW:
                logger.info("A repeated SIGTERM %.1f s after the first: the same stop, still graceful.", now - first[0])
                return None
            first[:] = [now]
            return dramatiq_handler(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        with self._lock:
            self._running[message.message_id] = message

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        with self._lock:
            self._running.pop(message.message_id, None)

    after_skip_message = after_process_message  # type: ignore[assignment]

    def after_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        with self._lock:
            leftovers, self._running = list(self._running.values()), {}
        if not leftovers:
            return
        by_queue: dict[str, list[MessageProxy]] = defaultdict(list)
        for message in leftovers:
            by_queue[message.queue_name].append(message)
        for queue_name, messages in by_queue.items():
            consumer = getattr(worker.consumers.get(queue_name), "consumer", None)
            if consumer is None or not isinstance(broker, PriorityRedisBroker):
                continue  # RabbitMQ redelivers unacknowledged messages on its own; in memory, nothing is held
            try:
                consumer.requeue(messages)
            except Exception:
                logger.exception("Shutdown: could not put %d running jobs back on %r.", len(messages), queue_name)
                continue
            logger.warning(
                "Shutdown: %d jobs still running after the grace period went back to %r: %s",
                len(messages),
                queue_name,
                ", ".join(message.message_id for message in messages),
            )
            _record_waiting_again(broker, messages)


def _record_waiting_again(broker: Broker, messages: list[MessageProxy]) -> None:
    """Tell the store these attempts are waiting again (when the broker's middleware keeps one)."""
    store = next((m for m in broker.middleware if isinstance(m, JobStore)), None)
    if store is not None:
        store.record_waiting_again(broker, messages)
