"""Prometheus metrics that are right however many worker processes and hosts run.

Each process folds its job outcomes, durations and rate-limit holds into an in-process
buffer (no I/O on the worker's hot path); a daemon thread adds them to Redis hashes every
METRICS_FLUSH_INTERVAL seconds with one pipelined round trip. `/metrics` (`exposition()`)
reads those cluster-wide totals, plus gauges read at scrape time: broker queue depths,
the store's jobs per state, paused queues, live workers, the beat's last tick.

Redis keys (REDIS_URL, prefix `adjobs:metrics:`):
- `jobs`: `<queue>|<actor>|<state>` → count, state `completed`, `dead` or `retried`.
- `duration`: `<queue>|<actor>|b<i>` → count in bucket i, `|sum` → seconds, `|count`.
- `holds`: `<queue>` → jobs held back by a rate limit.
- `minute:<epoch minute>`: `<queue>|<state>` → count, kept two hours (failure rates, throughput).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core import redis_client

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
            for field, count in jobs.items():
                pipe.hincrby(KEY + "jobs", field, count)
            for field, amount in duration.items():
                if field.endswith("|sum"):
                    pipe.hincrbyfloat(KEY + "duration", field, amount)
                else:
                    pipe.hincrby(KEY + "duration", field, int(amount))
            for field, count in holds.items():
                pipe.hincrby(KEY + "holds", field, count)
            for minute, counts in minutes.items():
                for field, count in counts.items():
                    pipe.hincrby(f"{KEY}minute:{minute}", field, count)
                pipe.expire(f"{KEY}minute:{minute}", MINUTE_TTL)
            pipe.execute()
            return True
        except Exception as error:  # Redis away: keep the counts for the next flush
            logger.warning("Metrics: flushing to Redis failed, will retry: %s", error)
            self._merge_back(jobs, duration, holds, minutes)
            return False

    def _merge_back(self, jobs: Any, duration: Any, holds: Any, minutes: Any) -> None:
        with self._lock:
            for field, count in jobs.items():
                self._jobs[field] += count
            for field, amount in duration.items():
                self._duration[field] += amount
            for field, count in holds.items():
                self._holds[field] += count
            for minute, counts in minutes.items():
                for field, count in counts.items():
                    self._minutes[minute][field] += count

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
        from settings import get_settings

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


def flush() -> bool:
    return get_buffer().flush()


# Reading -------------------------------------------------------------------------------


def outcomes_since(seconds: int) -> dict[str, dict[str, int]]:
    """{queue: {completed, dead, retried}} summed over the last `seconds` (whole minutes, at most two hours)."""
    now = int(time.time() // 60)
    minutes = range(now - max(1, seconds // 60) + 1, now + 1)
    pipe = redis_client.client().pipeline(transaction=False)
    for minute in minutes:
        pipe.hgetall(f"{KEY}minute:{minute}")
    totals: dict[str, dict[str, int]] = {}
    for counts in pipe.execute():
        for field, count in counts.items():
            queue, state = field.decode().rsplit("|", 1)
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
        for field, count in counts.items():
            queue, state = field.decode().rsplit("|", 1)
            points = series.setdefault(
                queue, [{"minute": minute * 60, **dict.fromkeys(OUTCOMES, 0)} for minute in window]
            )
            points[position][state] = points[position].get(state, 0) + int(count)
    return series


def job_totals() -> dict[tuple[str, str, str], int]:
    """Cluster-wide {(queue, actor, state): count} since the counters began."""
    raw = redis_client.client().hgetall(KEY + "jobs")
    totals: dict[tuple[str, str, str], int] = {}
    for field, count in raw.items():
        queue, actor, state = field.decode().split("|")
        totals[(queue, actor, state)] = int(count)
    return totals


class _ClusterCollector:
    """Builds every metric family at scrape time from Redis, the broker and the store."""

    def collect(self) -> Iterator[Metric]:
        yield from _guarded("counters", _counter_families)
        yield from _guarded("queues", _queue_families)
        yield from _guarded("workers", _worker_families)

    def describe(self) -> Iterable[Metric]:
        return []


def _guarded(source: str, build: Any) -> Iterator[Metric]:
    try:
        families = list(build())
    except Exception as error:  # one source down must not blank the others
        logger.warning("Metrics: reading %s failed: %s", source, error)
        families = []
    yield from families
    failed = GaugeMetricFamily(
        f"adjobs_metrics_source_up_{source}", f"1 when the {source} metrics could be read at this scrape"
    )
    failed.add_metric([], 1.0 if families else 0.0)
    yield failed


def _counter_families() -> Iterator[Metric]:
    pipe = redis_client.client().pipeline(transaction=False)
    pipe.hgetall(KEY + "jobs")
    pipe.hgetall(KEY + "duration")
    pipe.hgetall(KEY + "holds")
    jobs_raw, duration_raw, holds_raw = pipe.execute()

    finished = CounterMetricFamily(
        "adjobs_jobs_finished", "Jobs that reached a final state", labels=["queue", "actor", "state"]
    )
    retries = CounterMetricFamily(
        "adjobs_job_retries", "Failed attempts with a retry pending", labels=["queue", "actor"]
    )
    for field, count in sorted(jobs_raw.items()):
        queue, actor, state = field.decode().split("|")
        if state == "retried":
            retries.add_metric([queue, actor], int(count))
        else:
            finished.add_metric([queue, actor, state], int(count))
    yield finished
    yield retries

    series: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for field, value in duration_raw.items():
        queue, actor, part = field.decode().split("|")
        series[(queue, actor)][part] = float(value)
    histogram = HistogramMetricFamily(
        "adjobs_job_duration_seconds", "Time per job attempt, from start to outcome", labels=["queue", "actor"]
    )
    for (queue, actor), parts in sorted(series.items()):
        cumulative = 0.0
        buckets = []
        for index, bound in enumerate(BUCKETS):
            cumulative += parts.get(f"b{index}", 0.0)
            buckets.append((repr(bound), cumulative))
        buckets.append(("+Inf", cumulative + parts.get(f"b{len(BUCKETS)}", 0.0)))
        histogram.add_metric([queue, actor], buckets, parts.get("sum", 0.0))
    yield histogram

    holds = CounterMetricFamily(
        "adjobs_rate_limit_holds", "Jobs held back by their queue's rate limit", labels=["queue"]
    )
    for field, count in sorted(holds_raw.items()):
        holds.add_metric([field.decode()], int(count))
    yield holds


def _queue_families() -> Iterator[Metric]:
    from observability import queue_state

    snapshot = queue_state.snapshot()
    depth = GaugeMetricFamily(
        "adjobs_queue_depth", "Messages in the broker queue not yet acknowledged", labels=["queue"]
    )
    delayed = GaugeMetricFamily("adjobs_queue_delayed", "Delayed messages held by the broker", labels=["queue"])
    dead = GaugeMetricFamily("adjobs_queue_dead", "Messages in the broker's dead-letter queue", labels=["queue"])
    paused = GaugeMetricFamily("adjobs_queue_paused", "1 while the queue is paused", labels=["queue"])
    jobs = GaugeMetricFamily("adjobs_queue_jobs", "Jobs in the store per state", labels=["queue", "state"])
    for queue, figures in sorted(snapshot.queues.items()):
        depth.add_metric([queue], figures.broker_depth)
        delayed.add_metric([queue], figures.broker_delayed)
        dead.add_metric([queue], figures.broker_dead)
        paused.add_metric([queue], 1.0 if figures.paused else 0.0)
        for state, count in sorted(figures.store.items()):
            jobs.add_metric([queue, state], count)
    yield from (depth, delayed, dead, paused, jobs)


def _worker_families() -> Iterator[Metric]:
    from runtime import heartbeats
    from scheduling import state

    workers = GaugeMetricFamily("adjobs_workers_alive", "Worker processes with a recent heartbeat")
    workers.add_metric([], len(heartbeats.alive()))
    yield workers
    last = state.last_dispatch()
    age = GaugeMetricFamily(
        "adjobs_scheduler_last_tick_age_seconds", "Seconds since a beat last dispatched the schedules (-1: never)"
    )
    age.add_metric([], -1.0 if last is None else max(0.0, time.time() - last.timestamp()))
    yield age


_registry: CollectorRegistry | None = None


def registry() -> CollectorRegistry:
    global _registry
    if _registry is None:
        _registry = CollectorRegistry(auto_describe=False)
        _registry.register(_ClusterCollector())  # type: ignore[arg-type]
    return _registry


def exposition() -> tuple[bytes, str]:
    """The body and content type of `GET /metrics`."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST
