"""`GET /metrics`: the Prometheus exposition, every family built at scrape time.

Three sources, each read once per scrape: the cluster-wide job counters that the workers'
recorders add up in Redis (`runtime.metrics_recorder`: outcomes, durations, rate-limit holds);
the queues at this instant (`observability.queue_state`: broker depths, delayed and dead
messages, the store's jobs per state, paused queues); and the live workers and the beat's
last tick (`runtime.heartbeats`, `scheduling.state`). A source that cannot be read leaves
its families out and sets its `adjobs_metrics_source_up_<source>` gauge to 0; the others
still answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from observability import queue_state
from runtime import heartbeats, metrics_recorder
from runtime.store_buffer import event_list_figures
from scheduling import state

logger = logging.getLogger(__name__)


class _ClusterCollector:
    """Builds every metric family at scrape time from Redis, the broker and the store."""

    def collect(self) -> Iterator[Metric]:
        yield from _guarded("counters", _counter_families)
        yield from _guarded("queues", _queue_families)
        yield from _guarded("workers", _worker_families)

    def describe(self) -> Iterable[Metric]:
        return []


def _guarded(source: str, build: Callable[[], Iterable[Metric]]) -> Iterator[Metric]:
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
    counters = metrics_recorder.recorded_counters()

    finished = CounterMetricFamily(
        "adjobs_jobs_finished", "Jobs that reached a final state", labels=["queue", "actor", "state"]
    )
    retries = CounterMetricFamily(
        "adjobs_job_retries", "Failed attempts with a retry pending", labels=["queue", "actor"]
    )
    for (queue, actor, outcome), count in sorted(counters.jobs.items()):
        if outcome == "retried":
            retries.add_metric([queue, actor], count)
        else:
            finished.add_metric([queue, actor, outcome], count)
    yield finished
    yield retries

    histogram = HistogramMetricFamily(
        "adjobs_job_duration_seconds", "Time per job attempt, from start to outcome", labels=["queue", "actor"]
    )
    buckets_count = len(metrics_recorder.BUCKETS)
    for (queue, actor), parts in sorted(counters.durations.items()):
        cumulative = 0.0
        buckets = []
        for index, bound in enumerate(metrics_recorder.BUCKETS):
            cumulative += parts.get(f"b{index}", 0.0)
            buckets.append((repr(bound), cumulative))
        buckets.append(("+Inf", cumulative + parts.get(f"b{buckets_count}", 0.0)))
        histogram.add_metric([queue, actor], buckets, parts.get("sum", 0.0))
    yield histogram

    holds = CounterMetricFamily(
        "adjobs_rate_limit_holds", "Jobs held back by their queue's rate limit", labels=["queue"]
    )
    for queue, count in sorted(counters.holds.items()):
        holds.add_metric([queue], count)
    yield holds

    tenant_holds = CounterMetricFamily(
        "adjobs_tenant_holds", "Jobs held back by their queue's limits per tenant", labels=["queue", "tenant"]
    )
    for (queue, tenant), count in sorted(counters.tenant_holds.items()):
        tenant_holds.add_metric([queue, tenant], count)
    yield tenant_holds


def _queue_families() -> Iterator[Metric]:
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
        for job_state, count in sorted(figures.store.items()):
            jobs.add_metric([queue, job_state], count)
    yield from (depth, delayed, dead, paused, jobs)
    yield from _store_event_families()


def _store_event_families() -> Iterator[Metric]:
    """The Redis list of producers' store events (none on the embedded default): its length, and the
    events dropped because it was at STORE_EVENTS_MAX (those jobs have no row until they run)."""
    figures = event_list_figures()
    if figures is None:
        return
    waiting, dropped = figures
    length = GaugeMetricFamily("adjobs_store_events_waiting", "Job-store events waiting in Redis for a writer")
    length.add_metric([], waiting)
    lost = CounterMetricFamily(
        "adjobs_store_events_dropped", "Job-store events not kept because their Redis list was at STORE_EVENTS_MAX"
    )
    lost.add_metric([], dropped)
    yield from (length, lost)


def _worker_families() -> Iterator[Metric]:
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
    """The registry `/metrics` renders: one collector reading the cluster at each scrape."""
    global _registry
    if _registry is None:
        _registry = CollectorRegistry(auto_describe=False)
        _registry.register(_ClusterCollector())  # type: ignore[arg-type]
    return _registry


def exposition() -> tuple[bytes, str]:
    """The body and content type of `GET /metrics`."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST
