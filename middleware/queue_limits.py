"""Cluster-wide concurrency and rate limits per queue, on `dramatiq.rate_limits` and its Redis backend.

Before a job starts, the worker takes a slot of its queue's `ConcurrentRateLimiter` (at most
`concurrency` jobs of the queue running over every process and host) and a start from its
`WindowRateLimiter` (at most `rate_limit` starts per sliding `rate_window` seconds). A job that
gets neither is held: put back on its queue with a delay, as the same message (same id, same
attempt), and the worker moves on. A hold uses no retry, so a limit never sends a job to `dead`;
the job store records the job as `delayed` until it runs.

A concurrency slot is released when the job ends; one held by a worker that died frees itself
when its key expires (the queue's time limit plus a minute). A release that cannot reach Redis
(a restart, a Sentinel failover) is tried again for up to `RELEASE_PATIENCE` seconds: a slot
given up on would hold the queue's whole limit until that expiry (RELIABILITY.md). A release
whose reply alone was lost is applied twice: one slot too many, until the next release.

A worker whose environment gives figures to a queue that is neither CONTRACT.md's nor one of its
actors' (`QUEUES__DATA_EXPRT__...` slipped past the settings' own check) refuses to boot: one line
naming the valid queues, exit 2. A hold is logged at debug level, never as Dramatiq's skip warning
(`middleware.holds`); each is counted in Prometheus (`adjobs_rate_limit_holds_total`).

Per tenant (a job's `options["tenant"]`, `core.tenants`): `TENANT_CONCURRENCY` and
`TENANT_RATE_LIMIT` per `TENANT_RATE_WINDOW` seconds limit each tenant's jobs of the queue the same
way, cluster-wide, on limiters keyed by (queue, tenant), multiplied by the tenant's tier's
`LIMIT_FACTOR` (`runtime.publisher_tiers`, rounded, at least 1). A job takes its queue's slot and
then its tenant's; a start the queue's window counted for a job its tenant's window then holds is
given back, so one tenant over its limit never spends the queue's rate. Holds per tenant are
counted in Prometheus too (`adjobs_tenant_holds_total`). `active_by_tenant(queue)` reads how many
jobs of each tenant hold a slot (where the queue has a concurrency per tenant).

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

import redis
from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy
from dramatiq.rate_limits import ConcurrentRateLimiter, RateLimiterBackend, WindowRateLimiter

from core.naming import canonical_queue
from core.tenants import tenant_of
from errors import EXIT_INVALID
from middleware.holds import hold
from runtime import publisher_tiers
from runtime.metrics_recorder import record_rate_limit_hold, record_tenant_hold
from settings import QUEUE_NAMES, ResolvedQueue, get_settings, unknown_queues

logger = logging.getLogger(__name__)

#: Redis key prefix of the limiters.
PREFIX = "adjobs:limits:"
#: A job held by the concurrency limit tries again soon, then less and less often: its n-th hold in a
#: row waits between half and all of `min(CONCURRENCY_BACKOFF_CAP_MS, CONCURRENCY_BACKOFF_MS * 2**n)`
#: (ms). A slot that frees while jobs wait is taken within tens of milliseconds when the wait is short,
#: and a long backlog re-checks at most every 1.5 s each.
CONCURRENCY_BACKOFF_MS = 40
CONCURRENCY_BACKOFF_CAP_MS = 1500
#: Seconds a job's end keeps trying to give its concurrency slot back while Redis does not answer.
RELEASE_PATIENCE = 60.0
#: Limiters per (queue, tenant) a process keeps before it forgets them all (they are cheap to make again).
TENANT_LIMITERS_KEPT = 10_000


def tenant_limit(limit: int, factor: float) -> int:
    """A per-tenant limit scaled by the tenant's tier: rounded, at least 1; 0 (no limit) stays 0."""
    return max(1, round(limit * factor)) if limit else 0


def tenant_concurrency_key(queue: str, tenant: str) -> str:
    """The Redis key of the concurrency limiter of one tenant's jobs of `queue`."""
    return f"{PREFIX}tenant-concurrency:{queue}:{tenant}"


def _give_back(limiter: ConcurrentRateLimiter, patience: float = RELEASE_PATIENCE) -> None:
    """Release a concurrency slot, trying again while Redis is away (up to `patience` seconds)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            limiter._release()
            return
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


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

    def give_back_at(self, now: float) -> None:
        """Uncount a start `acquire_at(now)` counted (its job was held by another limit)."""
        self.backend.decr(f"{self.key}@{int(now)}", 1, 0, self.window_millis)

    def _get_keys(self) -> list[str]:
        now = getattr(self._at, "value", None)
        timestamp = int(time.time() if now is None else now)
        return [f"{self.key}@{timestamp - i}" for i in range(self.window)]


class QueueLimits(Middleware):
    def __init__(self, backend: RateLimiterBackend) -> None:
        self.backend = backend
        self._limiters: dict[str, tuple[ConcurrentRateLimiter | None, AdmissionWindow | None]] = {}
        self._held_slots: dict[str, list[ConcurrentRateLimiter]] = {}
        self._tenant_limiters: dict[
            tuple[str, str, int, int, int], tuple[ConcurrentRateLimiter | None, AdmissionWindow | None]
        ] = {}
        self._tenant_figures: dict[str, ResolvedQueue] = {}
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

    def tenant_limiters(self, queue: str, tenant: str) -> tuple[ConcurrentRateLimiter | None, AdmissionWindow | None]:
        """The limiters of `tenant`'s jobs of `queue`, with its tier's factor applied (None: no such limit)."""
        figures = self._tenant_figures.get(queue)
        if figures is None:
            figures = self._tenant_figures.setdefault(queue, get_settings().queue(queue))
        if not figures.tenant_concurrency and not figures.tenant_rate_limit:
            return None, None
        factor = get_settings().tier(publisher_tiers.tier_of(tenant)).limit_factor
        concurrency = tenant_limit(figures.tenant_concurrency, factor)
        rate = tenant_limit(figures.tenant_rate_limit, factor)
        key = (queue, tenant, concurrency, rate, figures.tenant_rate_window)
        limiters = self._tenant_limiters.get(key)
        if limiters is None:
            concurrent = (
                ConcurrentRateLimiter(
                    self.backend,
                    tenant_concurrency_key(queue, tenant),
                    limit=concurrency,
                    ttl=figures.time_limit + 60_000,
                )
                if concurrency
                else None
            )
            window = (
                AdmissionWindow(
                    self.backend,
                    f"{PREFIX}tenant-rate:{queue}:{tenant}",
                    limit=rate,
                    window=figures.tenant_rate_window,
                )
                if rate
                else None
            )
            if len(self._tenant_limiters) >= TENANT_LIMITERS_KEPT:
                self._tenant_limiters.clear()
            limiters = self._tenant_limiters.setdefault(key, (concurrent, window))
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
        tenant = tenant_of(message.options)
        tenant_concurrent, tenant_window = self.tenant_limiters(queue, tenant) if tenant else (None, None)
        if concurrent is None and window is None and tenant_concurrent is None and tenant_window is None:
            return
        slots: list[ConcurrentRateLimiter] = []
        for limiter, whose in ((concurrent, None), (tenant_concurrent, tenant)):
            if limiter is None:
                continue
            if not limiter._acquire():
                for slot in slots:
                    slot._release()
                delay = concurrency_backoff_ms(int(message.options.get("holds", 0)))
                self._hold(broker, message, queue, "concurrency", delay, whose)
            slots.append(limiter)
        now = time.time()
        counted: list[AdmissionWindow] = []
        for admission, whose in ((window, None), (tenant_window, tenant)):
            if admission is None:
                continue
            if not admission.acquire_at(now):
                for slot in slots:
                    slot._release()
                for start in counted:
                    start.give_back_at(now)
                delay = random.randint(admission.window_millis // 8, admission.window_millis // 2)
                self._hold(broker, message, queue, "rate limit", max(delay, 100), whose)
            counted.append(admission)
        if counted:
            message.options["admitted_at"] = now
        if slots:
            with self._lock:
                self._held_slots[message.message_id] = slots

    def _hold(
        self, broker: Broker, message: MessageProxy, queue: str, reason: str, delay_ms: int, tenant: str | None = None
    ) -> None:
        record_rate_limit_hold(queue)
        whose = f"queue {queue}"
        if tenant is not None:
            record_tenant_hold(queue, tenant)
            whose = f"tenant {tenant} of queue {queue}"
        logger.debug("job %s held by the %s of %s for %d ms", message.message_id, reason, whose, delay_ms)
        hold(broker, message, queue, delay_ms, f"held by the {reason} of {whose}")

    def _release(self, message: MessageProxy) -> None:
        with self._lock:
            slots = self._held_slots.pop(message.message_id, None)
        for limiter in slots or ():
            _give_back(limiter)

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._release(message)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._release(message)
