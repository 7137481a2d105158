"""Makes per-process resources after a worker process boots and drops inherited ones.

Hook: `after_process_boot`. A pool or client made in a parent must not be used across a
fork, so each worker process makes its own database engine at boot.
"""

from __future__ import annotations

from dramatiq import Middleware
from dramatiq.broker import Broker

from db.engine import dispose_engine, init_engine


class ProcessResources(Middleware):
    def after_process_boot(self, broker: Broker) -> None:
        dispose_engine()
        init_engine()
