"""The publisher -> tier map that senders and workers read, kept in Redis (`adjobs:publisher-tiers`).

`publishers.tier` in PostgreSQL is the record; a process that only sends never talks to the
database, so setting a tier (`jobsctl publishers tier`, `PUT /api/v1/publishers/{id}/tier`) also
writes this hash, and every process reads it whole at most once per `TIER_CACHE_SECONDS`. A
publisher missing from the hash is `standard` (only other tiers are stored). Redis away: the
last map read is kept (standard for all when none was).

The embedded default (no Redis) keeps the map in the process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from core.redis_client import PREFIX, client
from settings import get_settings
from settings.tiers import STANDARD

logger = logging.getLogger(__name__)

#: Hash: publisher id -> tier, for publishers not in the standard tier.
TIERS = PREFIX + "publisher-tiers"

_lock = threading.Lock()
_cached: dict[str, str] = {}
_read_at = float("-inf")
_local: dict[str, str] = {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def publish_tier(publisher_id: str, tier: str) -> None:
    """Make `tier` the tier every process reads for `publisher_id` (within its cache's seconds)."""
    tier = tier.lower()
    if get_settings().embedded:
        with _lock:
            _local[publisher_id] = tier
        forget()
        return
    if tier == STANDARD:
        client().hdel(TIERS, publisher_id)
    else:
        client().hset(TIERS, publisher_id, tier)
    forget()


def publish_all(tiers: dict[str, str]) -> None:
    """Replace the whole map (after a migration, or to mend it from `publishers.tier`)."""
    others = {publisher: tier.lower() for publisher, tier in tiers.items() if tier.lower() != STANDARD}
    if get_settings().embedded:
        with _lock:
            _local.clear()
            _local.update(others)
        forget()
        return
    pipe = client().pipeline(transaction=True)
    pipe.delete(TIERS)
    if others:
        pipe.hset(TIERS, mapping=others)
    pipe.execute()
    forget()


def tiers() -> dict[str, str]:
    """Publisher id -> tier for every publisher not in the standard tier (the cached map)."""
    global _cached, _read_at
    settings = get_settings()
    now = time.monotonic()
    if now - _read_at < settings.tier_cache_seconds:
        return _cached
    with _lock:
        if now - _read_at < settings.tier_cache_seconds:
            return _cached
        if settings.embedded:
            _cached = dict(_local)
        else:
            try:
                _cached = {_text(key): _text(value) for key, value in client().hgetall(TIERS).items()}
            except Exception as error:  # Redis away: keep the last map read; the send's own call will say so
                logger.debug("publisher tiers not read (%s); keeping the last map", error)
        _read_at = now
        return _cached


def tier_of(publisher_id: str | None) -> str:
    """The tier of `publisher_id` (standard when it has none, or no publisher is given)."""
    if not publisher_id:
        return STANDARD
    return tiers().get(publisher_id, STANDARD)


#: Tier -> its priority under `_priorities_of` (the settings they were read from), for the send path.
_priorities: dict[str, int | None] = {}
_priorities_of: list[object] = []


def tier_priority(publisher_id: str | None) -> int | None:
    """The default priority of `publisher_id`'s tier (None: the send's own, NORMAL by default)."""
    tier = tier_of(publisher_id)
    settings = get_settings()
    if not _priorities_of or _priorities_of[0] is not settings:
        _priorities.clear()
        _priorities_of[:] = [settings]
    if tier not in _priorities:
        _priorities[tier] = settings.tier(tier).priority
    return _priorities[tier]


def forget() -> None:
    """Read the map afresh on next use (tests, and right after this process changed it)."""
    global _read_at
    _read_at = float("-inf")
