"""Importing this package wires the broker once and registers every actor.

In order: Sentry, the broker from settings, `dramatiq.set_broker`, then each actor module.
Inside `dramatiq` and `periodiq` processes an unreachable broker is one line and exit 3.
"""

from __future__ import annotations

import sys

import dramatiq

from settings import SettingsError, get_settings
from wiring.broker import BrokerUnavailable, build_broker, ensure_reachable, running_as_service
from wiring.sentry import init_sentry

try:
    _settings = get_settings()
except SettingsError as error:
    if running_as_service():
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    raise

init_sentry(_settings)
broker = build_broker(_settings)
dramatiq.set_broker(broker)

if running_as_service() and not _settings.embedded:
    try:
        ensure_reachable(broker, _settings.effective_broker_url)
    except BrokerUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(3) from None

from actors import (  # noqa: E402  (each module registers its actors on the broker above)
    aggregation,
    cache_warming,
    cleanup,
    exports,
    ingest,
    late_events,
    metrics,
    monitor,
    reports,
)

# isort: split
# Last: the pipelines' step actor and the schedules table send the actors above.
from actors import scheduler  # noqa: E402
from pipelines import steps  # noqa: E402, F401

__all__ = [
    "aggregation",
    "broker",
    "cache_warming",
    "cleanup",
    "exports",
    "ingest",
    "late_events",
    "metrics",
    "monitor",
    "reports",
    "scheduler",
]
