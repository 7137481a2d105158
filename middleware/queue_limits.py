"""Cluster-wide concurrency and rate limits per queue, on `dramatiq.rate_limits` and its Redis backend.

Before a job starts, the worker takes a slot of its queue's `ConcurrentRateLimiter` (at most
`concurrency` jobs of the queue running over every process and host) and a start from its
`WindowRateLimiter` (at most `rate_limit` starts per sliding `rate_window` seconds). A job that
gets neither is held: put back on its queue with a delay, as the same message (same id, same
attempt), and the worker moves on. A hold uses no retry, so a limit never sends a job to `dead`;
the job store records the job as `delayed` until it runs.

A concurrency slot is released when the job ends; one held by a worker that died frees itself
when its key expires (the queue's time limit plus a minute).

A worker whose environment gives figures to a queue that is neither CONTRACT.md's nor one of its
actors' (`QUEUES__DATA_EXPRT__...` slipped past the settings' own check) refuses to boot: one line
naming the valid queues, exit 2. A hold is logged at debug level, never as Dramatiq's skip warning
(`middleware.holds`); each is counted in Prometheus (`adjobs_rate_limit_holds_total`).

It sits after `CurrentMessage` and before the job store, so a held job is never recorded as started.
A job admitted by the rate limit is recorded as started at the very instant its start was
counted (`options["admitted_at"]`), so the store's start times and the limiter's windows agree
to the microsecond: no whole second of the store shows more starts than the limit.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from typing import Any

from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy
from dramatiq.rate_limits import ConcurrentRateLimiter, RateLimiterBackend, WindowRateLimiter

from core.naming import canonical_queue
from errors import EXIT_INVALID
from middleware.holds import hold
from runtime.metrics_recorder import record_rate_limit_hold
from settings import QUEUE_NAMES, get_settings, unknown_queues

logger = logging.getLogger(__name__)

#: Redis key prefix of the limiters.
PREFIX = "adjobs:limits:"
#: A job held by the concurrency limit tries again soon, then less and less often: its n-th hold in a
#: row waits between half and all of `min(CONCURRENCY_BACKOFF_CAP_MS, CONCURRENCY_BACKOFF_MS * 2**n)`
#: (ms). A slot that frees while jobs wait is taken within tens of milliseconds when the wait is short,
#: and a long backlog re-checks at most every 1.5 s each.
CONCURRENCY_BACKOFF_MS = 40
CONCURRENCY_BACKOFF_CAP_MS = 1500


def concurrency_backoff_ms(holds: int, rng: random.Random | None = None) -> int:
    """How long a job held by its queue's concurrency for the `holds`-th time in a row waits (ms)."""
    ceiling = min(CONCURRENCY_BACKOFF_CAP_MS, CONCURRENCY_BACKOFF_MS << min(holds, 16))
    return (rng or random).randint(ceiling // 2, ceiling)


class AdmissionWindow(WindowRateLimiter):
    """Dramatiq's window limiter counting a start in the window of a given instant."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._at = threading.local()

    def acquire_at(self, now: float) -> bool:
        self._at.value = now
        try:
            return bool(self._acquire())
        finally:
            self._at.value = None

    def _get_keys(self) -> list[str]:
        now = getattr(self._at, "value", None)
        timestamp = int(time.time() if now is None else now)
        return [f"{self.key}@{timestamp - i}" for i in range(self.window)]


class QueueLimits(Middleware):
    def __init__(self, backend: RateLimiterBackend) -> None:
        self.backend = backend
        self._limiters: dict[str, tuple[ConcurrentRateLimiter | None, AdmissionWindow | None]] = {}
        self._held_slots: dict[str, ConcurrentRateLimiter] = {}
        self._lock = threading.Lock()

    def limiters(self, queue: str) -> tuple[ConcurrentRateLimiter | None, AdmissionWindow | None]:
        limiters = self._limiters.get(queue)
        if limiters is None:
            figures = get_settings().queue(queue)
            concurrent = (
                ConcurrentRateLimiter(
                    self.backend,
                    f"{PREFIX}concurrency:{queue}",
                    limit=figures.concurrency,
                    ttl=figures.time_limit + 60_000,
                )
                if figures.concurrency
                else None
            )
            window = (
                AdmissionWindow(
                    self.backend, f"{PREFIX}rate:{queue}", limit=figures.rate_limit, window=figures.rate_window
                )
                if figures.rate_limit
                else None
            )
            limiters = self._limiters.setdefault(queue, (concurrent, window))
        return limiters

    def before_worker_boot(self, broker: Broker, worker: Any) -> None:
        """Refuse to boot with figures for a queue this worker does not know: one line, exit 2."""
        declared = [canonical_queue(name) for name in broker.get_declared_queues()]
        unknown = unknown_queues(get_settings().queues, declared)
        if unknown:
            queue, variable = next(iter(unknown.items()))
            valid = ", ".join(dict.fromkeys([*QUEUE_NAMES, *sorted(declared)]))
            print(f"error: setting {variable}: no queue '{queue}' here; the queues are {valid}", file=sys.stderr)
            raise SystemExit(EXIT_INVALID)  # not an Exception: Dramatiq's hooks would log it and boot on

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        queue = canonical_queue(message.queue_name)
        concurrent, window = self.limiters(queue)
        if concurrent is None and window is None:
            return
        if concurrent is not None and not concurrent._acquire():
            delay = concurrency_backoff_ms(int(message.options.get("holds", 0)))
            self._hold(broker, message, queue, "concurrency", delay)
        now = time.time()
        if window is not None and not window.acquire_at(now):
            if concurrent is not None:
                concurrent._release()
            delay = random.randint(window.window_millis // 8, window.window_millis // 2)
            self._hold(broker, message, queue, "rate limit", max(delay, 100))
        if window is not None:
            message.options["admitted_at"] = now
        if concurrent is not None:
            with self._lock:
                self._held_slots[message.message_id] = concurrent

    def _hold(self, broker: Broker, message: MessageProxy, queue: str, reason: str, delay_ms: int) -> None:
        record_rate_limit_hold(queue)
        logger.debug("job %s held by the %s of %s for %d ms", message.message_id, reason, queue, delay_ms)
        hold(broker, message, queue, delay_ms, f"held by the {reason} of queue {queue}")

    def _release(self, message: MessageProxy) -> None:
        with self._lock:
            limiter = self._held_slots.pop(message.message_id, None)
        if limiter is not None:
            limiter._release()

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._release(message)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._release(message)
