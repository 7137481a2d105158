"""The dashboard's cached queries: what each key holds, how it is computed, where it is kept.

Keys name a query and its window: `top-publishers:7d` (publishers by revenue),
`daily-totals:30d` (totals per day), `publisher:<id>:7d` (one publisher's days). Windows end
at the latest day rolled up, so a warmed entry equals computing it afresh from the same
rollups. Entries live in Redis under `adjobs:cache:<key>` with a TTL; the embedded default
keeps them in the process.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import redis
from sqlalchemy import Connection, Date, cast, func, select

from core import redis_client
from db.engine import get_engine
from db.models import AnalyticsRollup, Publisher
from errors import InvalidInput
from settings import get_settings

KEY_PATTERN = re.compile(r"^(top-publishers|daily-totals):(\d{1,3})d$|^publisher:([A-Za-z0-9_.-]{1,64}):(\d{1,3})d$")
PREFIX = "adjobs:cache:"
_local: dict[str, str] = {}


class UnknownCacheKey(InvalidInput):
    """Raised for a key that names no known query."""


def validate_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise UnknownCacheKey(
            f"cache key {key!r} is not one of top-publishers:<N>d, daily-totals:<N>d, publisher:<id>:<N>d"
        )
    return key


def popular_keys() -> list[str]:
    return list(get_settings().cache_popular_keys)


@cache
def _client(url: str) -> redis.Redis:
    return redis_client.connect(url)  # type: ignore[no-any-return]


def _redis() -> redis.Redis | None:
    settings = get_settings()
    return None if settings.embedded else _client(settings.effective_redis_url)


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _query(connection: Connection, key: str) -> Any:
    match = KEY_PATTERN.match(validate_key(key))
    assert match is not None
    name, days, publisher, publisher_days = match.groups()
    window = int(days or publisher_days)
    # A day is the publisher's local day (PostgreSQL): its label is that local date, not the UTC instant.
    local = connection.dialect.name == "postgresql"
    day: Any = (
        cast(func.timezone(func.coalesce(Publisher.timezone, "UTC"), AnalyticsRollup.bucket_start), Date)
        if local
        else AnalyticsRollup.bucket_start
    )
    rollups = AnalyticsRollup.__table__.outerjoin(Publisher.__table__, Publisher.id == AnalyticsRollup.publisher_id)
    latest = connection.execute(
        select(func.max(day)).select_from(rollups).where(AnalyticsRollup.granularity == "day")
    ).scalar()
    if latest is None:
        return []
    where = [AnalyticsRollup.granularity == "day", day > latest - timedelta(days=window), day <= latest]
    totals = (
        func.sum(AnalyticsRollup.ad_requests).label("ad_requests"),
        func.sum(AnalyticsRollup.impressions).label("impressions"),
        func.sum(AnalyticsRollup.clicks).label("clicks"),
        func.sum(AnalyticsRollup.revenue).label("revenue"),
    )
    if name == "top-publishers":
        query = (
            select(AnalyticsRollup.publisher_id, *totals)
            .select_from(rollups)
            .where(*where)
            .group_by(AnalyticsRollup.publisher_id)
            .order_by(func.sum(AnalyticsRollup.revenue).desc(), AnalyticsRollup.publisher_id)
            .limit(20)
        )
    else:
        if publisher is not None:
            where.append(AnalyticsRollup.publisher_id == publisher)
        query = select(day.label("day"), *totals).select_from(rollups).where(*where).group_by(day).order_by(day)
    rows = []
    for row in connection.execute(query).mappings():
        item = {name: _number(value) for name, value in row.items()}
        if "day" in item:
            value = item["day"]
            item["day"] = (value.date() if isinstance(value, datetime) else value).isoformat()
        rows.append(item)
    return rows


def compute_entry(key: str) -> Any:
    """What the key holds, computed now from the rollups (JSON-ready)."""
    with get_engine().connect() as connection:
        return json.loads(json.dumps(_query(connection, key)))


def write_entry(key: str, value: Any) -> None:
    body = json.dumps(value)
    client = _redis()
    if client is None:
        _local[key] = body
    else:
        client.set(PREFIX + key, body, ex=get_settings().cache_ttl_seconds)


def read_entry(key: str) -> Any | None:
    """The warmed value of a key, or None when it is not warm."""
    client = _redis()
    body = _local.get(key) if client is None else client.get(PREFIX + key)
    return None if body is None else json.loads(body)


def read_cached(key: str) -> Any:
    """The read path of the dashboard: the warm value, or computed (and kept) on a miss."""
    value = read_entry(key)
    if value is None:
        value = compute_entry(key)
        write_entry(key, value)
    return value


def cached_keys() -> list[str]:
    """The keys that hold a warm entry now."""
    client = _redis()
    if client is None:
        return sorted(_local)
    return sorted(key.decode()[len(PREFIX) :] for key in client.scan_iter(match=PREFIX + "*", count=1000))


def keys_reading(publisher_ids: set[str], keys: list[str]) -> list[str]:
    """Of `keys`, those whose value depends on these publishers' rollups (every cross-publisher key)."""
    return [key for key in keys if (match := KEY_PATTERN.match(key)) and match.group(3) in (None, *publisher_ids)]
