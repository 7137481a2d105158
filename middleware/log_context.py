"""Binds the running job to the log context, so every line it writes names it.

Hooks: `after_process_boot` (configures the worker process's log handlers for LOG_FORMAT),
`before_process_message` (binds job id, queue and actor), `after_process_message` and
`after_skip_message` (unbinds). Near the top of the stack: its before-hook runs before the
others' and its after-hook after theirs, so their lines about the job carry it too.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy

from core.naming import canonical_queue
from telemetry import logs


class LogContext(Middleware):
    def after_process_boot(self, broker: Broker) -> None:
        logs.configure_logging()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        logs.bind_job(message.message_id, canonical_queue(message.queue_name), message.actor_name)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        logs.unbind_job()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        logs.unbind_job()
