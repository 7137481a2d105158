"""Data freshness per publisher and local day: when its rollups were last brought up to date.

`rollup_freshness` (written by `db.rollups.aggregate_window`) says when; the stale marks say
whether events arrived since (and from when). A day with marks but no freshness row has events
that were never rolled up yet (the daily pipeline has not reached it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Date, DateTime, String, text
from sqlalchemy.types import TypeEngine

#: Marks are read from this long before the first day to this long after the last (UTC offsets
#: reach -12 and +14 hours).
_MARGIN = timedelta(days=1)

_FRESHNESS_PG = """
WITH marks AS (
    SELECT s.publisher_id, (s.hour_start AT TIME ZONE coalesce(p.timezone, 'UTC'))::date AS day,
           min(s.marked_at) AS stale_since
    FROM stale_hours AS s LEFT JOIN publishers AS p ON p.id = s.publisher_id
    WHERE s.hour_start >= :lo AND s.hour_start < :hi
      AND (CAST(:publisher AS varchar) IS NULL OR s.publisher_id = CAST(:publisher AS varchar))
    GROUP BY 1, 2
), fresh AS (
    SELECT publisher_id, day, refreshed_at FROM rollup_freshness
    WHERE day BETWEEN :first AND :last
      AND (CAST(:publisher AS varchar) IS NULL OR publisher_id = CAST(:publisher AS varchar))
)
SELECT coalesce(f.publisher_id, m.publisher_id) AS publisher_id, coalesce(f.day, m.day) AS day,
       f.refreshed_at, m.stale_since
FROM fresh AS f FULL JOIN marks AS m ON m.publisher_id = f.publisher_id AND m.day = f.day
WHERE coalesce(f.day, m.day) BETWEEN :first AND :last
ORDER BY 1, 2
LIMIT :limit OFFSET :offset
"""
#: SQLite (the embedded default) keeps UTC calendars.
_FRESHNESS_SQLITE = """
WITH marks AS (
    SELECT publisher_id, date(hour_start) AS day, min(marked_at) AS stale_since
    FROM stale_hours
    WHERE hour_start >= :lo AND hour_start < :hi AND (:publisher IS NULL OR publisher_id = :publisher)
    GROUP BY 1, 2
), fresh AS (
    SELECT publisher_id, day, refreshed_at FROM rollup_freshness
    WHERE day BETWEEN :first AND :last AND (:publisher IS NULL OR publisher_id = :publisher)
)
SELECT coalesce(f.publisher_id, m.publisher_id) AS publisher_id, coalesce(f.day, m.day) AS day,
       f.refreshed_at, m.stale_since
FROM fresh AS f FULL JOIN marks AS m ON m.publisher_id = f.publisher_id AND m.day = f.day
WHERE coalesce(f.day, m.day) BETWEEN :first AND :last
ORDER BY 1, 2
LIMIT :limit OFFSET :offset
"""

_COLUMNS: dict[str, TypeEngine[Any]] = {
    "publisher_id": String(),
    "day": Date(),
    "refreshed_at": DateTime(timezone=True),
    "stale_since": DateTime(timezone=True),
}


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's CURRENT_TIMESTAMP text, UTC
        value = datetime.fromisoformat(value)
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()


def freshness(
    connection: Connection,
    first: date,
    last: date,
    publisher_id: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Per publisher and local day in [first, last]: `publisherId, date, refreshedAt, stale, staleSince`."""
    if last < first:
        raise ValueError(f"endDate {last} is before startDate {first}")
    postgres = connection.dialect.name == "postgresql"
    lo = datetime.combine(first, datetime.min.time(), tzinfo=UTC) - _MARGIN
    hi = datetime.combine(last, datetime.min.time(), tzinfo=UTC) + timedelta(days=1) + _MARGIN
    params: dict[str, Any] = {
        "lo": lo if postgres else lo.strftime("%Y-%m-%d %H:%M:%S"),
        "hi": hi if postgres else hi.strftime("%Y-%m-%d %H:%M:%S"),
        "first": first if postgres else first.isoformat(),
        "last": last if postgres else last.isoformat(),
        "publisher": publisher_id,
        "limit": limit,
        "offset": offset,
    }
    sql = _FRESHNESS_PG if postgres else _FRESHNESS_SQLITE
    rows = connection.execute(text(sql).columns(**_COLUMNS) if postgres else text(sql), params)
    return [
        {
            "publisherId": row.publisher_id,
            "date": row.day.isoformat() if isinstance(row.day, date) else str(row.day),
            "refreshedAt": _iso(row.refreshed_at),
            "stale": row.stale_since is not None,
            "staleSince": _iso(row.stale_since),
        }
        for row in rows
    ]
