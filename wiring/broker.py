"""The one place that builds the broker and declares the middleware stack.

Redis by default, RabbitMQ when BROKER_URL is amqp://, the in-process `MemoryBroker` (a StubBroker) only
for the embedded default (`jobsctl demo` without servers) and tests that ask for it. Every
broker gets the same middleware list, so tests of the wiring test the real order.
"""

from __future__ import annotations

import os
import sys

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
from periodiq import PeriodiqMiddleware

from brokers.encoding import FastJSONEncoder
from brokers.memory import MemoryBroker
from brokers.priority_redis import PriorityRedisBroker
from brokers.rabbitmq import RabbitmqOperationsBroker
from core.scrub import redact_url, scrub_text
from errors import ServiceUnavailable
from middleware.bounded_retries import BoundedRetries
from middleware.final_failure import FinalFailureReports
from middleware.graceful_shutdown import GracefulShutdown
from middleware.heartbeat import WorkerHeartbeat
from middleware.job_metrics import JobMetrics
from middleware.job_store import JobStore
from middleware.log_context import LogContext
from middleware.queue_control import QueueControl
from middleware.queue_limits import QueueLimits
from middleware.resources import ProcessResources
from middleware.results import JobResults
from middleware.worker_tuning import WorkerTuning
from settings import Settings


class BrokerUnavailable(ServiceUnavailable, RuntimeError):
    """Raised when a worker or beat cannot reach its broker at start-up."""


def build_result_backend(settings: Settings) -> ResultBackend:
    """Results for actors that ask for them (`store_results=True`), such as pipeline stages."""
    if settings.embedded:
        return StubBackend()
    return RedisBackend(url=settings.effective_redis_url, namespace="adjobs-results")


def build_rate_limiter_backend(settings: Settings) -> RateLimiterBackend:
    """Queue limits (concurrency, rate) and the barriers of group completion callbacks live here."""
    if settings.embedded:
        return StubRateLimiterBackend()
    return RedisRateLimiterBackend(url=settings.effective_redis_url)


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
        PeriodiqMiddleware(skip_delay=30),
    ]


def build_broker(settings: Settings) -> dramatiq.Broker:
    dramatiq.set_encoder(FastJSONEncoder())
    middleware = build_middleware(settings)
    if settings.embedded:
        return MemoryBroker(middleware=middleware)
    url = settings.effective_broker_url
    if url.startswith(("amqp://", "amqps://")):
        return RabbitmqOperationsBroker(url=url, middleware=middleware)
    return PriorityRedisBroker(
        url=url,
        middleware=middleware,
        dead_message_ttl=settings.dead_letter_ttl * 1000,
        heartbeat_timeout=int(settings.broker_heartbeat_timeout * 1000),
        maintenance_interval=settings.broker_maintenance_interval,
        max_message_bytes=settings.max_payload_bytes,
    )


def running_as_service() -> bool:
    """True inside `dramatiq` worker or `periodiq` beat processes."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return program in ("dramatiq", "periodiq") or sys.argv[0].endswith(("dramatiq/__main__.py",))


def ensure_reachable(broker: dramatiq.Broker, url: str) -> None:
    """Fail with one line when the broker does not answer."""
    try:
        client = getattr(broker, "client", None)
        if client is not None:
            client.ping()
        elif hasattr(broker, "connection"):
            broker.connection  # noqa: B018  (opens the RabbitMQ connection)
    except Exception as error:
        raise BrokerUnavailable(scrub_text(f"cannot reach the broker at {redact_url(url)}: {error}")) from None
