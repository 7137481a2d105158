"""The worker app module: `dramatiq actors` and `periodiq actors schedules` name this package.

Inside a `dramatiq` or `periodiq` process, importing it runs `wiring.service.start_service()`
(settings, Sentry, the broker, its reachability check: a bad setting exits 2, an unreachable
broker exits 3, one line each; then the job-store writer) and then imports `actors.catalog`,
which declares every actor.
Anywhere else it does nothing: `from actors.aggregation import aggregate_analytics` imports that
actor module and what it needs, and the broker is made on first use (`wiring.broker.get_broker`).
"""

from __future__ import annotations

import dramatiq

from wiring.broker import get_broker
from wiring.process_role import running_as_service

if running_as_service():
    from wiring.service import start_service  # a worker's start only: a sender never loads the database libraries

    start_service()
    from actors import catalog  # noqa: F401  (the worker runs every job: declare them all)


def __getattr__(name: str) -> dramatiq.Broker:
    """`actors.broker`: the process's broker (`dramatiq actors:broker` and older callers)."""
    if name == "broker":
        return get_broker()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
