"""Choosing between configured servers and the embedded default before `actors` is imported."""

from __future__ import annotations

from types import ModuleType

from settings import Settings, get_settings, load_settings, use_settings


def embedded_default(settings: Settings) -> bool:
    """With neither REDIS_URL, BROKER_URL nor DATABASE_URL set, the demo runs embedded."""
    return not (settings.redis_url or settings.broker_url or settings.database_url)


def load_actors(*, embedded: bool | None = None) -> ModuleType:
    """Import `actors` (wiring the broker) with the embedded default when asked or implied."""
    settings = get_settings()
    if embedded is None:
        embedded = embedded_default(settings)
    if embedded and not settings.embedded:
        use_settings(load_settings(embedded=True))
    import actors

    return actors
