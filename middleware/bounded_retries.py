"""Dramatiq's `Retries`, which dead-letters a job whose retry is too large to send instead of losing it.

Hook: `after_process_message`, Dramatiq's own, wrapped. The broker trims a retry's traceback
to fit the size limit (`brokers/retry_fit.py`); when the retry is still too large
(`MessageTooLarge`: a payload near MAX_PAYLOAD_BYTES plus what the retry adds), Dramatiq's
middleware would let the error escape to the broker, which only logs it: the attempt is
acknowledged, nothing is retried or dead-lettered, and the job store keeps waiting for a
retry that never comes. Here the message is failed instead, so the worker moves it to the
dead letters, and `retry_refusal()` gives the reason the job store records.
"""

from __future__ import annotations

import logging
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Retries

from brokers.priority_redis import MessageTooLarge

logger = logging.getLogger(__name__)

#: The attribute of a message proxy holding why its retry was not sent.
_REFUSAL = "_adjobs_retry_refused"


class BoundedRetries(Retries):
    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        try:
            super().after_process_message(broker, message, result=result, exception=exception)
        except MessageTooLarge as error:
            if message.failed:  # out of retries already: the `on_retry_exhausted` message was too large
                raise
            reason = (
                f"retry not sent: {error.size:,} bytes encoded even with its traceback trimmed, "
                f"over the limit of {error.limit:,} bytes (MAX_PAYLOAD_BYTES); dead-lettered"
            )
            setattr(message, _REFUSAL, reason)
            message.fail()
            logger.error("Job %s (%s): %s.", message.message_id, message.actor_name, reason)


def retry_refusal(message: Any) -> str | None:
    """Why the message's retry was not sent (it is dead instead), or None."""
    return getattr(message, _REFUSAL, None)
