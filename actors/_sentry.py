"""Sentry, initialised before the broker is built, and only when SENTRY_DSN is set."""

from __future__ import annotations

from settings import Settings


def init_sentry(settings: Settings) -> bool:
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.dramatiq import DramatiqIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        integrations=[DramatiqIntegration()],
        send_default_pii=False,
    )
    return True
