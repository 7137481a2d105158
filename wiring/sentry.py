"""Sentry, initialised before the broker is built, and only when SENTRY_DSN is set.

sentry-sdk (about 0.15 s to import) is loaded then, not by every process that imports an actor."""

from __future__ import annotations

from core.scrub import SECRET_PARTS, SECRET_WORDS
from settings import Settings
from telemetry.sentry_events import DUPLICATE_LOGGERS, scrub_event


def init_sentry(settings: Settings) -> bool:
    """Start Sentry with our scrubbing and one event per dead job; False (nothing done) without SENTRY_DSN."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk  # heavy: only a process with SENTRY_DSN loads it
    from sentry_sdk.integrations.dramatiq import DramatiqIntegration
    from sentry_sdk.integrations.logging import ignore_logger
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        integrations=[DramatiqIntegration()],
        send_default_pii=False,
        # One event per job out of retries: middleware/final_failure.py drops the earlier ones.
        before_send=scrub_event,  # type: ignore[arg-type]
        event_scrubber=EventScrubber(recursive=True, denylist=[*DEFAULT_DENYLIST, *SECRET_WORDS, *SECRET_PARTS]),
    )
    for name in DUPLICATE_LOGGERS:
        ignore_logger(name)
    return True
