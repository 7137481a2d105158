"""One Sentry event per job that has used up its retries, not one per attempt.

Hooks: `before_process_message` (after the Sentry integration has entered the message's
scope: adds earlier attempts as breadcrumbs and the rule that drops captures while a retry is
pending), `after_process_message` (records the failed attempt on the message and reports a
permanent error, which the integration never captures), `after_worker_shutdown` (flushes
events still queued in the SDK's transport). This middleware must sit *after* Retries in
the list: its `after_process_message` then runs before Retries', so the attempt it records
travels with the retried message. With SENTRY_DSN unset it only keeps the attempt history.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq import Middleware
from dramatiq.broker import Broker, MessageProxy

from telemetry import sentry_events


class FinalFailureReports(Middleware):
    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if sentry_events.enabled():
            sentry_events.watch_message(message)

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            return
        sentry_events.record_failed_attempt(message, exception)
        if not sentry_events.enabled():
            return
        actor = broker.actors.get(message.actor_name)
        throws = message.options.get("throws") or (actor.options.get("throws") if actor else None)
        if throws and isinstance(exception, throws):
            # Retries fails it at once, and the integration skips `throws`: report it here.
            sentry_events.mark_final(message)
            sentry_events.report_exception(exception)

    def after_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        sentry_events.flush()
