"""Choosing between configured servers and the embedded default, and loading every actor.

Importing this module declares every actor (`actors.catalog`) on the process's broker.
`load_actors()` decides, before anything is sent, whether the process runs on the configured
servers or on the embedded default (an in-process broker and a SQLite file): when it switches
to the embedded default, the broker made so far is closed and its actors are declared on the
in-process one (`wiring.broker.reset_broker`), so it does not matter what was imported first.
"""

from __future__ import annotations

from types import ModuleType

from actors import catalog
from settings import Settings, get_settings, load_settings, use_settings
from wiring.broker import reset_broker


def embedded_default(settings: Settings) -> bool:
    """With neither REDIS_URL, BROKER_URL nor DATABASE_URL set, the demo runs embedded."""
    return not (settings.redis_url or settings.broker_url or settings.database_url)


def load_actors(*, embedded: bool | None = None) -> ModuleType:
    """Every actor, on the embedded default when asked or implied (`embedded=None`: nothing configured).

    Returns `actors.catalog`. `embedded=False` keeps the configured servers (their local defaults when unset).
    """
    settings = get_settings()
    if embedded is None:
        embedded = embedded_default(settings)
    if embedded and not settings.embedded:
        use_settings(load_settings(embedded=True))
        reset_broker()
    return catalog
