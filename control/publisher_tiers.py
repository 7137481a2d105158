"""Setting a publisher's tier: `publishers.tier` in the database, then the map every sender reads in Redis.

The database row is the record; `runtime.publisher_tiers` is what senders and workers read (they
never query the database). `sync_tiers()` rewrites the Redis map from the table (after a restore,
or a tier changed by SQL).
"""

from __future__ import annotations

from db import publishers
from db.engine import get_engine
from errors import InvalidInput
from runtime import publisher_tiers
from settings import get_settings


class UnknownTier(InvalidInput):
    """Raised for a tier name that has no figures (`TIERS__<TIER>__...`)."""


def checked_tier(tier: str) -> str:
    names = get_settings().tiers.names()
    if tier.lower() not in names:
        raise UnknownTier(f"tier {tier!r} is not one of {', '.join(names)} (TIERS__<TIER>__PRIORITY adds one)")
    return tier.lower()


def set_publisher_tier(publisher_id: str, tier: str) -> dict[str, object]:
    """Make `tier` the tier of `publisher_id`; its next jobs get the tier's priority and limit factor."""
    publisher_id = publisher_id.strip()
    if not publisher_id or len(publisher_id) > 64:
        raise InvalidInput("publisher id: 1-64 characters")
    tier = checked_tier(tier)
    with get_engine().begin() as connection:
        publishers.set_tier(connection, publisher_id, tier)
    publisher_tiers.publish_tier(publisher_id, tier)
    figures = get_settings().tier(tier)
    return {
        "publisherId": publisher_id,
        "tier": tier,
        "priority": figures.priority,
        "limitFactor": figures.limit_factor,
    }


def list_tiers() -> dict[str, str]:
    """Publisher id -> tier of every registered publisher (the table's)."""
    with get_engine().connect() as connection:
        return publishers.tiers(connection)


def sync_tiers() -> int:
    """Rewrite the Redis map from `publishers.tier`; returns how many publishers are not standard."""
    table = list_tiers()
    publisher_tiers.publish_all(table)
    return sum(1 for tier in table.values() if tier != "standard")
