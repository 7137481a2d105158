"""Dramatiq's Results for the actors that ask (`store_results=True`, pipeline stages), quietly.

Hook: `after_process_message`. Every job's return value is already kept as its result
summary in the job store, so a job that returns a value without `store_results` is normal
here, not something to warn about on every message as Dramatiq's own Results does.
"""

from __future__ import annotations

from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.results import Results


class JobResults(Results):
    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        store_results, result_ttl = self._lookup_options(broker, message)
        if store_results and exception is None:
            self.backend.store_result(message, result, result_ttl)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        # A job held back by a queue limit runs later: it has no result yet.
        if getattr(message, "_held", False):
            return
        super().after_skip_message(broker, message)
