"""Every job the worker runs: importing this module declares every actor on the process's broker.

The actor modules, the pipelines' step actor with every pipeline it may advance (daily,
backfill), and the schedule table (`schedules`), which the beat's dispatcher reads. The worker
app (`actors/__init__.py` inside `dramatiq` / `periodiq`), the admin API and `jobsctl` import
it; a service that only sends imports the actor modules it uses.
"""

from __future__ import annotations

import schedules
from actors import (
    aggregation,
    cache_warming,
    cleanup,
    exports,
    ingest,
    late_events,
    metrics,
    monitor,
    reports,
    scheduler,
)
from pipelines import backfill, daily, steps

__all__ = [
    "aggregation",
    "backfill",
    "cache_warming",
    "cleanup",
    "daily",
    "exports",
    "ingest",
    "late_events",
    "metrics",
    "monitor",
    "reports",
    "scheduler",
    "schedules",
    "steps",
]
