"""What a job's Sentry event holds, and the rule that a job reports once: when it is out of retries.

sentry-sdk's Dramatiq integration captures the actor's exception after every failed attempt.
`watch_message()` adds an event processor to the message's Sentry scope that drops those
captures while a retry is still pending, and dresses the final one with tags (queue, actor,
message id, attempts, pipeline run), the payload as the `job` context with secrets scrubbed,
and the earlier attempts as breadcrumbs. Earlier attempts travel with the message itself, in
its `attempt_failures` option, because each attempt may run in another process.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from datetime import UTC, datetime
from typing import Any

from dramatiq.broker import MessageProxy
from dramatiq.message import Message

from core.naming import canonical_queue
from core.scrub import redact_strings, scrub, scrub_text

#: A message as sent, or as the worker hands it to middleware.
AnyMessage = Message[Any] | MessageProxy
#: The message option that lists earlier failed attempts.
FAILURES_OPTION = "attempt_failures"
#: Earlier attempts kept per message (the most recent ones).
MAX_FAILURES_KEPT = 10
#: Longest error text kept per attempt.
MAX_ERROR = 500
#: The mechanism sentry-sdk's Dramatiq integration marks its captures with.
INTEGRATION_MECHANISM = "dramatiq"
#: Loggers whose error lines repeat what the integration captures (one per attempt).
DUPLICATE_LOGGERS = ("dramatiq.worker.WorkerThread",)


def enabled() -> bool:
    """True when Sentry was initialised with a DSN in this process (sentry-sdk, about 0.15 s, is imported
    by `wiring.sentry.init_sentry` only then: a process that never imported it has no Sentry)."""
    sdk = sys.modules.get("sentry_sdk")
    return sdk is not None and bool(sdk.get_client().is_active())


def record_failed_attempt(message: AnyMessage, exception: BaseException) -> None:
    """Append this attempt's failure to the message, so a retry carries it to the next worker."""
    failures = list(message.options.get(FAILURES_OPTION) or [])
    failures.append(
        {
            "attempt": message.options.get("retries", 0) + 1,
            "error": f"{type(exception).__name__}: {exception}"[:MAX_ERROR],
            "at": int(time.time() * 1000),
            "worker": f"{socket.gethostname()}:{os.getpid()}",
        }
    )
    message.options[FAILURES_OPTION] = failures[-MAX_FAILURES_KEPT:]


def mark_final(message: AnyMessage) -> None:
    """Say that this attempt's failure is the job's last (a permanent error Retries will not retry)."""
    message._adjobs_final_failure = True  # type: ignore[union-attr]


def is_final(message: AnyMessage) -> bool:
    return bool(getattr(message, "failed", False) or getattr(message, "_adjobs_final_failure", False))


def watch_message(message: AnyMessage) -> None:
    """Prepare the message's Sentry scope (entered by the integration): breadcrumbs and the event rule."""
    import sentry_sdk  # heavy: imported where Sentry is on (`enabled()`), not with every actor

    message._adjobs_attempt = message.options.get("retries", 0) + 1  # type: ignore[union-attr]
    scope = sentry_sdk.get_isolation_scope()
    for failure in message.options.get(FAILURES_OPTION) or []:
        scope.add_breadcrumb(
            category="job.attempt",
            type="error",
            level="error",
            message=scrub_text(f"attempt {failure.get('attempt')} failed: {failure.get('error')}"),
            data={"attempt": failure.get("attempt"), "worker": failure.get("worker")},
            timestamp=datetime.fromtimestamp(failure.get("at", 0) / 1000, UTC),
        )
    scope.add_event_processor(_processor_for(message))


def _processor_for(message: AnyMessage) -> Any:
    def process(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        if _is_attempt_capture(event) and not is_final(message):
            return None  # a retry is pending: the job reports when it is out of retries
        _dress(event, message)
        return event

    return process


def _is_attempt_capture(event: dict[str, Any]) -> bool:
    values = (event.get("exception") or {}).get("values") or []
    return any((value.get("mechanism") or {}).get("type") == INTEGRATION_MECHANISM for value in values)


def _dress(event: dict[str, Any], message: AnyMessage) -> None:
    options = message.options
    # Retries has counted the failed attempt by the time the integration captures: use the one that ran.
    attempts = getattr(message, "_adjobs_attempt", None) or options.get("retries", 0) + 1
    queue = canonical_queue(message.queue_name)
    tags = event.setdefault("tags", {})
    for name, value in (
        ("queue", queue),
        ("actor", message.actor_name),
        ("message_id", message.message_id),
        ("attempts", str(attempts)),
        ("pipeline_id", options.get("pipeline_id")),
    ):
        if value is not None:
            tags.setdefault(name, value)  # an explicit tag (an alert's queue) wins
    event.setdefault("contexts", {})["job"] = {
        "id": message.message_id,
        "queue": queue,
        "actor": message.actor_name,
        "attempts": attempts,
        "max_retries": options.get("max_retries"),
        "pipeline_id": options.get("pipeline_id"),
        "retry_of": options.get("retry_of"),
        "enqueued_at": datetime.fromtimestamp(message.message_timestamp / 1000, UTC).isoformat(),
        "payload": scrub(message.kwargs if not message.args else {"args": list(message.args), **message.kwargs}),
    }


def report_exception(exception: BaseException) -> None:
    """Capture a final failure the integration leaves alone (a permanent error in `throws`)."""
    import sentry_sdk  # heavy: imported where Sentry is on (`enabled()`), not with every actor

    sentry_sdk.capture_exception(exception)


def flush(timeout: float = 5.0) -> None:
    if enabled():
        import sentry_sdk  # heavy: imported where Sentry is on (`enabled()`), not with every actor

        sentry_sdk.flush(timeout=timeout)


def scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """`before_send`: secrets out of contexts, extra, frame variables, messages and breadcrumbs.

    By name (a `password` variable, a `token` key), then by value: every string left in the
    event loses the settings' secrets (a URL, its password, a token, wherever they were copied
    to) and the `user:password@` of any URL.
    """
    _scrub_by_name(event)
    for key in list(event):
        event[key] = redact_strings(event[key])
    return event


def _scrub_by_name(event: dict[str, Any]) -> None:
    for key in ("contexts", "extra"):
        if key in event:
            event[key] = scrub(event[key])
    for value in (event.get("exception") or {}).get("values") or []:
        if isinstance(value.get("value"), str):
            value["value"] = scrub_text(value["value"])
        for frame in (value.get("stacktrace") or {}).get("frames") or []:
            if "vars" in frame:
                frame["vars"] = scrub(frame["vars"])
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        for key in ("message", "formatted"):
            if isinstance(logentry.get(key), str):
                logentry[key] = scrub_text(logentry[key])
    if isinstance(event.get("message"), str):
        event["message"] = scrub_text(event["message"])
    breadcrumbs = event.get("breadcrumbs")
    values = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else None
    for crumb in values or []:
        if isinstance(crumb.get("message"), str):
            crumb["message"] = scrub_text(crumb["message"])
        if "data" in crumb:
            crumb["data"] = scrub(crumb["data"])
