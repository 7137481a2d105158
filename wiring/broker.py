"""The process's broker: `get_broker()`, built once from settings, and the middleware stack it gets.

Redis by default, RabbitMQ when BROKER_URL is amqp://, the in-process `MemoryBroker` (a StubBroker) only
for the embedded default (`jobsctl demo` without servers) and tests that ask for it. Every
broker gets the same middleware list, so tests of the wiring test the real order.

Actor modules call `get_broker()` in their decorator, so the broker is made on first use, in
whichever process imports an actor first, and Dramatiq's own default broker (RabbitMQ on
localhost) is never made. `reset_broker()` closes it (tests, a settings switch); the actors it
had are declared on the next one, so the order of imports and settings switches does not matter.
"""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    GroupCallbacks,
    Middleware,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)
from dramatiq.rate_limits import RateLimiterBackend
from dramatiq.rate_limits.backends import RedisBackend as RedisRateLimiterBackend
from dramatiq.rate_limits.backends import StubBackend as StubRateLimiterBackend
from dramatiq.results import ResultBackend
from dramatiq.results.backends import RedisBackend, StubBackend

from brokers.encoding import FastJSONEncoder
from brokers.memory import MemoryBroker
from brokers.priority_redis import PriorityRedisBroker
from brokers.rabbitmq import RabbitmqOperationsBroker
from brokers.replica_wait import wait_for_replicas
from core.redis_client import connect
from middleware.bounded_retries import BoundedRetries
from middleware.final_failure import FinalFailureReports
from middleware.graceful_shutdown import GracefulShutdown
from middleware.heartbeat import WorkerHeartbeat
from middleware.job_metrics import JobMetrics
from middleware.job_store import JobStore
from middleware.log_context import LogContext
from middleware.periodic_ticks import PeriodicTicks
from middleware.queue_control import QueueControl
from middleware.queue_limits import QueueLimits
from middleware.resources import ProcessResources
from middleware.results import JobResults
from middleware.worker_tuning import WorkerTuning
from settings import Settings, get_settings


def build_result_backend(settings: Settings) -> ResultBackend:
    """Results for actors that ask for them (`store_results=True`), such as pipeline stages."""
    if settings.embedded:
        return StubBackend()
    return RedisBackend(client=connect(settings.effective_redis_url), namespace="adjobs-results")


def build_rate_limiter_backend(settings: Settings) -> RateLimiterBackend:
    """Queue limits (concurrency, rate) and the barriers of group completion callbacks live here."""
    if settings.embedded:
        return StubRateLimiterBackend()
    return RedisRateLimiterBackend(client=connect(settings.effective_redis_url))


def build_middleware(settings: Settings) -> list[Middleware]:
    """The stack, in order. `before_*` hooks run top to bottom, `after_*` bottom to top."""
    limiter_backend = build_rate_limiter_backend(settings)
    return [
        # Process resources: engines and clients made after boot, never inherited across a fork.
        ProcessResources(),
        # Prefetch depth and the worker's in-memory queue ordered by message priority.
        WorkerTuning(),
        # Observability: job id, queue and actor on every log line (first in, last out); heartbeats.
        LogContext(),
        WorkerHeartbeat(),
        # Delivery: message age, time limits, shutdown notices, the current message for helpers.
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        GracefulShutdown(),
        CurrentMessage(),
        # Pause and cancel on every worker; dedupe keys released when their job ends.
        QueueControl(),
        # Cluster-wide concurrency and rate limits per queue: a job over a limit is held (delayed), never started.
        QueueLimits(limiter_backend),
        # Job store: before Retries, so its after-hooks see what Retries decided.
        JobStore(),
        JobMetrics(),
        # Retries and composition (a retry too large to send is dead-lettered with its reason, never lost).
        BoundedRetries(max_retries=settings.queue_max_attempts - 1, min_backoff=max(settings.queue_backoff_delay, 1)),
        # After Retries: records each failed attempt on the message it retries; one Sentry event per dead job.
        FinalFailureReports(),
        Callbacks(),
        Pipelines(),
        # A pipeline stage's completion callback fires when every job of the stage has succeeded.
        GroupCallbacks(limiter_backend),
        JobResults(backend=build_result_backend(settings)),
        # Scheduling: periodiq's `periodic` actor option (the dispatcher handles late ticks itself).
        PeriodicTicks(skip_delay=30),
    ]


def build_broker(settings: Settings) -> dramatiq.Broker:
    """A new broker for `settings`, with the middleware above; connects lazily (nothing sent yet)."""
    dramatiq.set_encoder(FastJSONEncoder())
    middleware = build_middleware(settings)
    if settings.embedded:
        return MemoryBroker(middleware=middleware)
    url = settings.effective_broker_url
    if url.startswith(("amqp://", "amqps://")):
        return RabbitmqOperationsBroker(url=url, middleware=middleware, queue_type=settings.rabbitmq_queue_type)
    # `connect`: a plain client of `url`, or the Sentinels' primary (REDIS_SENTINELS), followed across failovers.
    broker = PriorityRedisBroker(
        client=connect(url),
        middleware=middleware,
        dead_message_ttl=settings.dead_letter_ttl * 1000,
        heartbeat_timeout=int(settings.broker_heartbeat_timeout * 1000),
        maintenance_interval=settings.broker_maintenance_interval,
        max_message_bytes=settings.max_payload_bytes,
    )
    # The job store's event list stops growing at STORE_EVENTS_MAX (a store no one writes never fills Redis).
    broker.store_events_cap = settings.store_events_max
    # Each enqueue waits for REDIS_ENQUEUE_REPLICAS replicas (Redis WAIT; off by default, RELIABILITY.md).
    wait_for_replicas(broker, settings.redis_enqueue_replicas, settings.redis_enqueue_wait_ms)
    return broker


_lock = threading.Lock()
_broker: dramatiq.Broker | None = None
#: Actors of a broker `reset_broker()` closed, declared on the next one `get_broker()` makes.
_carried: list[dramatiq.Actor] = []  # type: ignore[type-arg]


def get_broker() -> dramatiq.Broker:
    """The process's broker, built from `get_settings()` on the first call and set as Dramatiq's."""
    global _broker
    broker = _broker
    if broker is None:
        with _lock:
            if _broker is None:
                _install(build_broker(get_settings()), _carried)
                _carried.clear()
            broker = _broker
    assert broker is not None
    return broker


def use_broker(broker: dramatiq.Broker) -> dramatiq.Broker | None:
    """Make `broker` the process's broker (a test on another broker), moving every declared actor onto it.

    Returns the broker it replaces, left open: `use_broker(previous)` puts it back.
    """
    with _lock:
        previous = _broker
        actors = list(_carried) if previous is None else [previous.get_actor(name) for name in previous.actors]
        _install(broker, actors)
        _carried.clear()
        return previous


def reset_broker() -> None:
    """Close the process's broker; the next `get_broker()` builds one from the settings of then.

    The actors declared on the closed broker are declared on the new one when it is made (their
    `.broker` points at the closed one until then).
    """
    global _broker
    with _lock:
        broker, _broker = _broker, None
        if broker is None:
            return
        _carried[:] = [*_carried, *(broker.get_actor(name) for name in broker.actors)]
        broker.close()


def _install(broker: dramatiq.Broker, actors: list[dramatiq.Actor]) -> None:  # type: ignore[type-arg]
    global _broker
    for actor in actors:
        actor.broker = broker
        broker.declare_actor(actor)
    dramatiq.set_broker(broker)
    _broker = broker
