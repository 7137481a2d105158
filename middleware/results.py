"""Dramatiq's Results for the actors that ask (`store_results=True`, pipeline stages), quietly.

Hook: `after_process_message`. Every job's return value is already kept as its result
summary in the job store, so a job that returns a value without `store_results` is normal
here, not something to warn about on every message as Dramatiq's own Results does.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.results import Results


class _KeptResultsNotice(logging.Filter):
    """Drops Dramatiq's "returned a value ... you haven't added the Results middleware" warning.

    Dramatiq looks for its `Results` class by exact type, so this subclass goes unseen and every
    job that returns a summary would log that its value was discarded, which is not true here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # Dramatiq formats the actor's name into the message before logging it.
        return _NOTICE.match(str(record.msg)) is None


_NOTICE = re.compile(r"Actor '[^']*' returned a value that is not None")
_NOTICE_FILTER = _KeptResultsNotice()


class JobResults(Results):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        worker_logger = logging.getLogger("dramatiq.worker.WorkerThread")
        if _NOTICE_FILTER not in worker_logger.filters:
            worker_logger.addFilter(_NOTICE_FILTER)

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
