"""Publishers: who a fan-out covers, and each one's calendar (IANA time zone).

A publisher exists for the analytics as soon as it has events, registered in `publishers`
or not (ad servers do not register publishers first): every fan-out (daily pipeline, weekly
reports, metrics, cache warming, backfill) takes the distinct `publisher_id`s of `ad_events`
in its period (an index-only range scan of `ix_ad_events_ts_publisher`, one day's partition)
together with the registered ones. A publisher without a row counts as UTC.

On SQLite (the embedded demo) every calendar is UTC, whatever `publishers.timezone` says.

Statements are text and SQLAlchemy is imported by the functions that run them: actor modules
import this module for `validate_timezone` and the checks of their payloads, and a process that
imports one only to send a job never runs a statement (`db.engine`'s notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, available_timezones

from errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy import BindParameter, Connection

DEFAULT_TIMEZONE = "UTC"

#: Publishers with events in [start, end): an index-only scan of (ts, publisher_id).
_ACTIVE = "SELECT DISTINCT publisher_id FROM ad_events WHERE ts >= :start AND ts < :end"
ACTIVE_OR_REGISTERED = f"{_ACTIVE} UNION SELECT id FROM publishers ORDER BY 1"
ACTIVE_ONLY = f"{_ACTIVE} ORDER BY 1"

#: Every calendar in use and its publishers: registered ones, and those with events but no row (UTC).
CALENDARS_PG = """
SELECT coalesce(p.timezone, 'UTC') AS tz, a.publisher_id
FROM (SELECT DISTINCT publisher_id FROM ad_events WHERE ts >= :start AND ts < :end
      UNION SELECT id FROM publishers) AS a
LEFT JOIN publishers AS p ON p.id = a.publisher_id
ORDER BY 1, 2
"""

#: Of the given ids, those registered or with events in [start, end).
KNOWN_PG = """
SELECT id FROM publishers WHERE id = ANY(:ids)
UNION SELECT DISTINCT publisher_id FROM ad_events WHERE ts >= :start AND ts < :end AND publisher_id = ANY(:ids)
"""
KNOWN_SQLITE = """
SELECT id FROM publishers WHERE id IN :ids
UNION SELECT DISTINCT publisher_id FROM ad_events WHERE ts >= :start AND ts < :end AND publisher_id IN :ids
"""


class InvalidTimezone(InvalidInput):
    """Raised for a publisher time zone that is not an IANA name."""


@cache
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(name: str) -> str:
    """`name` if it is an IANA time zone name (`America/New_York`, `UTC`); else InvalidTimezone."""
    if name == DEFAULT_TIMEZONE or name in _iana_names():
        ZoneInfo(name)
        return name
    raise InvalidTimezone(f"timezone {name!r} is not an IANA time zone name (like 'UTC' or 'America/New_York')")


def _window_params() -> list[BindParameter[datetime]]:
    from sqlalchemy import DateTime, bindparam  # heavy: loaded when a statement runs (see the module's notes)

    return [bindparam("start", type_=DateTime(timezone=True)), bindparam("end", type_=DateTime(timezone=True))]


def publisher_ids(
    connection: Connection,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    registered: bool = True,
) -> list[str]:
    """Publishers with events in [start, end), with (by default) every registered one.

    Without a window: the registered publishers only.
    """
    from sqlalchemy import text  # heavy: loaded when a statement runs

    if start is None or end is None:
        return list(connection.execute(text("SELECT id FROM publishers ORDER BY id")).scalars())
    sql = ACTIVE_OR_REGISTERED if registered else ACTIVE_ONLY
    statement = text(sql).bindparams(*_window_params())
    return [row[0] for row in connection.execute(statement, {"start": start, "end": end})]


def publishers_by_timezone(connection: Connection, start: datetime, end: datetime) -> dict[str, list[str]]:
    """Every publisher registered or with events in [start, end), grouped by calendar time zone.

    SQLite: one UTC calendar for all.
    """
    if connection.dialect.name != "postgresql":
        everyone = publisher_ids(connection, start, end)
        return {DEFAULT_TIMEZONE: everyone} if everyone else {}
    from sqlalchemy import text  # heavy: loaded when a statement runs

    statement = text(CALENDARS_PG).bindparams(*_window_params())
    groups: dict[str, list[str]] = {}
    for tz, publisher in connection.execute(statement, {"start": start, "end": end}):
        groups.setdefault(tz, []).append(publisher)
    return groups


def calendar_of(connection: Connection, publisher_id: str) -> str:
    """The publisher's calendar time zone: its `timezone`, UTC without a row (and on SQLite)."""
    if connection.dialect.name != "postgresql":
        return DEFAULT_TIMEZONE
    from sqlalchemy import text  # heavy: loaded when a statement runs

    tz = connection.execute(text("SELECT timezone FROM publishers WHERE id = :id"), {"id": publisher_id}).scalar()
    return tz or DEFAULT_TIMEZONE


def unknown_publishers(connection: Connection, ids: Sequence[str], start: datetime, end: datetime) -> list[str]:
    """Of `ids`, those neither registered nor with events in [start, end)."""
    if not ids:
        return []
    from sqlalchemy import bindparam, text  # heavy: loaded when a statement runs
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.types import String

    if connection.dialect.name == "postgresql":
        statement = text(KNOWN_PG).bindparams(*_window_params(), bindparam("ids", type_=ARRAY(String())))
    else:
        statement = text(KNOWN_SQLITE).bindparams(*_window_params(), bindparam("ids", expanding=True))
    known = {row[0] for row in connection.execute(statement, {"ids": list(ids), "start": start, "end": end})}
    return sorted(set(ids) - known)


def publisher_known(
    connection: Connection, publisher_id: str, start: datetime | None = None, end: datetime | None = None
) -> bool:
    """Registered, or (given a window) with events in [start, end)."""
    if start is None or end is None:
        from sqlalchemy import text  # heavy: loaded when a statement runs

        registered = text("SELECT id FROM publishers WHERE id = :id")
        return connection.execute(registered, {"id": publisher_id}).first() is not None
    return not unknown_publishers(connection, [publisher_id], start, end)


def calendars(connection: Connection) -> list[str]:
    """The time zones of the registered publishers' calendars, with UTC (that of unregistered ones)."""
    if connection.dialect.name != "postgresql":
        return [DEFAULT_TIMEZONE]
    from sqlalchemy import text  # heavy: loaded when a statement runs

    names = set(connection.execute(text("SELECT DISTINCT timezone FROM publishers")).scalars())
    return sorted(names | {DEFAULT_TIMEZONE})


#: A publisher's tier set, its row made (named after its id) when it has none yet.
_SET_TIER = """
INSERT INTO publishers (id, name, tier) VALUES (:id, :id, :tier)
ON CONFLICT (id) DO UPDATE SET tier = excluded.tier
"""


def set_tier(connection: Connection, publisher_id: str, tier: str) -> None:
    """Make `tier` the tier of `publisher_id` in `publishers` (a row is made for a publisher without one)."""
    from sqlalchemy import text  # heavy: loaded when a statement runs

    connection.execute(text(_SET_TIER), {"id": publisher_id, "tier": tier})


def tiers(connection: Connection) -> dict[str, str]:
    """Publisher id -> tier of every registered publisher."""
    from sqlalchemy import text  # heavy: loaded when a statement runs

    return {row[0]: row[1] for row in connection.execute(text("SELECT id, tier FROM publishers ORDER BY id"))}
