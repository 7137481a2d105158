"""The job metrics recorder: counts folded in memory per process and added to Redis hashes, and their reads.

Each process folds its job outcomes, durations and rate-limit holds into an in-process
buffer (no I/O on the worker's hot path); a daemon thread adds them to Redis hashes every
METRICS_FLUSH_INTERVAL seconds with one pipelined round trip. The sums are cluster-wide,
however many worker processes and hosts run. This module is the only one that knows the
hashes' layout: `observability.prometheus_exposition` (`/metrics`), the alerts monitor and the
API's throughput read them through `recorded_counters()`, `outcomes_since()` and `throughput()`.

Redis keys (REDIS_URL, prefix `adjobs:metrics:`):
- `jobs`: `<queue>|<actor>|<state>` → count, state `completed`, `dead` or `retried`.
- `duration`: `<queue>|<actor>|b<i>` → count in bucket i, `|sum` → seconds, `|count`.
- `holds`: `<queue>` → jobs held back by a rate limit; `<queue>|<tenant>` → those held by a limit per tenant.
- `minute:<epoch minute>`: `<queue>|<state>` → count, kept two hours (failure rates, throughput).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from core import redis_client
from settings import get_settings

logger = logging.getLogger(__name__)

KEY = redis_client.PREFIX + "metrics:"
#: Upper bounds (seconds) of the job duration histogram; the last bucket is +Inf.
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: How long per-minute outcome counts are kept.
MINUTE_TTL = 2 * 3600
#: Final and intermediate outcomes counted per job attempt.
OUTCOMES = ("completed", "dead", "retried")


def _bucket(seconds: float) -> int:
    for index, bound in enumerate(BUCKETS):
        if seconds <= bound:
            return index
    return len(BUCKETS)


class MetricsBuffer:
    """Counts folded in memory under a lock and added to Redis by one daemon thread."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._jobs: dict[str, int] = defaultdict(int)
        self._duration: dict[str, float] = defaultdict(float)
        self._holds: dict[str, int] = defaultdict(int)
        self._minutes: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._wake = threading.Event()

    def record_job(self, queue: str, actor: str, state: str, duration: float | None) -> None:
        minute = int(time.time() // 60)
        with self._lock:
            self._jobs[f"{queue}|{actor}|{state}"] += 1
            self._minutes[minute][f"{queue}|{state}"] += 1
            if duration is not None:
                prefix = f"{queue}|{actor}|"
                self._duration[f"{prefix}b{_bucket(duration)}"] += 1
                self._duration[f"{prefix}sum"] += duration
                self._duration[f"{prefix}count"] += 1
        self._ensure_thread()

    def record_hold(self, queue: str, count: int = 1) -> None:
        with self._lock:
            self._holds[queue] += count
        self._ensure_thread()

    def flush(self) -> bool:
        """Add what accumulated to Redis; True when it was written (or there was nothing)."""
        with self._lock:
            jobs, self._jobs = self._jobs, defaultdict(int)
            duration, self._duration = self._duration, defaultdict(float)
            holds, self._holds = self._holds, defaultdict(int)
            minutes, self._minutes = self._minutes, defaultdict(lambda: defaultdict(int))
        if not (jobs or duration or holds or minutes):
            return True
        try:
            pipe = redis_client.client().pipeline(transaction=False)
            for name, count in jobs.items():
                pipe.hincrby(KEY + "jobs", name, count)
            for name, amount in duration.items():
                if name.endswith("|sum"):
                    pipe.hincrbyfloat(KEY + "duration", name, amount)
                else:
                    pipe.hincrby(KEY + "duration", name, int(amount))
            for name, count in holds.items():
                pipe.hincrby(KEY + "holds", name, count)
            for minute, counts in minutes.items():
                for name, count in counts.items():
                    pipe.hincrby(f"{KEY}minute:{minute}", name, count)
                pipe.expire(f"{KEY}minute:{minute}", MINUTE_TTL)
            pipe.execute()
            return True
        except Exception as error:  # Redis away: keep the counts for the next flush
            logger.warning("Metrics: flushing to Redis failed, will retry: %s", error)
            self._merge_back(jobs, duration, holds, minutes)
            return False

    def _merge_back(self, jobs: Any, duration: Any, holds: Any, minutes: Any) -> None:
        with self._lock:
            for name, count in jobs.items():
                self._jobs[name] += count
            for name, amount in duration.items():
                self._duration[name] += amount
            for name, count in holds.items():
                self._holds[name] += count
            for minute, counts in minutes.items():
                for name, count in counts.items():
                    self._minutes[minute][name] += count

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="metrics-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        interval = self.interval or get_settings().metrics_flush_interval
        failures = 0
        while True:
            self._wake.wait(interval if failures == 0 else min(30.0, interval * 2**failures))
            self._wake.clear()
            failures = 0 if self.flush() else failures + 1


_buffer: MetricsBuffer | None = None
_buffer_lock = threading.Lock()


def get_buffer() -> MetricsBuffer:
    """This process's buffer, flushed at interpreter exit."""
    global _buffer
    if _buffer is None or _buffer._pid != os.getpid():
        with _buffer_lock:
            if _buffer is None or _buffer._pid != os.getpid():
                _buffer = MetricsBuffer()
                atexit.register(_buffer.flush)
    return _buffer


def record_job(queue: str, actor: str, state: str, duration: float | None = None) -> None:
    """Count one attempt's outcome (`completed`, `dead`, `retried`) and its duration in seconds."""
    get_buffer().record_job(queue, actor, state, duration)


def record_rate_limit_hold(queue: str, count: int = 1) -> None:
    """Count a job held back by its queue's rate limit (`adjobs_rate_limit_holds_total`)."""
    get_buffer().record_hold(queue, count)


def record_tenant_hold(queue: str, tenant: str, count: int = 1) -> None:
    """Count a job held back by its tenant's limits on `queue` (`adjobs_tenant_holds_total`)."""
    get_buffer().record_hold(f"{queue}|{tenant}", count)


def flush() -> bool:
    """Write this process's counts to Redis now; True when written (or there was nothing)."""
    return get_buffer().flush()


# Reading -------------------------------------------------------------------------------


@dataclass
class RecordedCounters:
    """The cluster-wide totals since the counters began, as every process added them."""

    #: (queue, actor, state) → attempts with that outcome.
    jobs: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: (queue, actor) → {"b<i>": count in bucket i, "sum": seconds, "count": attempts}.
    durations: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    #: queue → jobs held back by its rate limit.
    holds: dict[str, int] = field(default_factory=dict)
    #: (queue, tenant) → jobs held back by the queue's limits per tenant.
    tenant_holds: dict[tuple[str, str], int] = field(default_factory=dict)


def recorded_counters() -> RecordedCounters:
    """Every total in one round trip; raises ValueError on a field this version did not write."""
    pipe = redis_client.client().pipeline(transaction=False)
    pipe.hgetall(KEY + "jobs")
    pipe.hgetall(KEY + "duration")
    pipe.hgetall(KEY + "holds")
    jobs_raw, duration_raw, holds_raw = pipe.execute()
    counters = RecordedCounters()
    for name, count in jobs_raw.items():
        queue, actor, state = name.decode().split("|")
        counters.jobs[(queue, actor, state)] = int(count)
    for name, value in duration_raw.items():
        queue, actor, part = name.decode().split("|")
        counters.durations.setdefault((queue, actor), {})[part] = float(value)
    for name, count in holds_raw.items():
        queue, bar, tenant = name.decode().partition("|")
        if bar:
            counters.tenant_holds[(queue, tenant)] = int(count)
        else:
            counters.holds[queue] = int(count)
    return counters


def outcomes_since(seconds: int) -> dict[str, dict[str, int]]:
    """{queue: {completed, dead, retried}} summed over the last `seconds` (whole minutes, at most two hours)."""
    now = int(time.time() // 60)
    minutes = range(now - max(1, seconds // 60) + 1, now + 1)
    pipe = redis_client.client().pipeline(transaction=False)
    for minute in minutes:
        pipe.hgetall(f"{KEY}minute:{minute}")
    totals: dict[str, dict[str, int]] = {}
    for counts in pipe.execute():
        for name, count in counts.items():
            queue, state = name.decode().rsplit("|", 1)
            entry = totals.setdefault(queue, dict.fromkeys(OUTCOMES, 0))
            entry[state] = entry.get(state, 0) + int(count)
    return totals


def throughput(minutes: int = 60) -> dict[str, list[dict[str, int]]]:
    """Per queue, a point per minute of the last `minutes` (at most 120): minute (epoch s), completed, dead, retried."""
    minutes = max(1, min(minutes, MINUTE_TTL // 60))
    now = int(time.time() // 60)
    window = list(range(now - minutes + 1, now + 1))
    pipe = redis_client.client().pipeline(transaction=False)
    for minute in window:
        pipe.hgetall(f"{KEY}minute:{minute}")
    series: dict[str, list[dict[str, int]]] = {}
    for position, counts in enumerate(pipe.execute()):
        for name, count in counts.items():
            queue, state = name.decode().rsplit("|", 1)
            points = series.setdefault(
                queue, [{"minute": minute * 60, **dict.fromkeys(OUTCOMES, 0)} for minute in window]
            )
            points[position][state] = points[position].get(state, 0) + int(count)
    return series
