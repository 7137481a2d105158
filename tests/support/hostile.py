"""Events whose text cells a spreadsheet would run as formulas or that CSV must quote."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Connection, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.models import AdEvent, Publisher

#: Text values: formulas (OWASP's starting characters), quoting cases, and two harmless ones.
HOSTILE = (
    "=1+1",
    '=HYPERLINK("http://x.example","y")',
    "-2",
    "+3",
    "@x",
    "\tx",
    "\rx",
    "a\rb",
    'say "hi"',
    "a,b",
    "two\nlines",
    "",
    "plain",
)
#: What each becomes in a CSV meant for spreadsheets.
ESCAPED = {value: ("'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value) for value in HOSTILE}
#: An ad unit whose eCPM is 1e15: PostgreSQL prints such a float as `1e+15`, Python as `1000000000000000.0`.
HUGE_UNIT = "huge-ecpm"


def insert_hostile_events(connection: Connection, publisher: str, day: date) -> int:
    """One event per hostile value (as ad unit, country and device) on `day`, with negative
    clicks and revenue on every other row (`-2`'s included) and fractional-second timestamps."""
    connection.execute(
        pg_insert(Publisher).values(id=publisher, name=publisher).on_conflict_do_nothing(index_elements=["id"])
    )
    start = datetime.combine(day, time.min, tzinfo=UTC)
    rows = [
        {
            "ts": start + timedelta(hours=index, microseconds=250_000),
            "publisher_id": publisher,
            "ad_unit_id": value,
            "country": value[:2],
            "device": value[:16],
            "ad_requests": 10,
            "impressions": index + 1,
            "clicks": 1 if index % 2 else -1,
            "revenue": Decimal("1000.123456") + index if index % 2 else Decimal("-1.5"),
        }
        for index, value in enumerate(HOSTILE)
    ]
    rows.append(
        {
            "ts": start + timedelta(hours=20),
            "publisher_id": publisher,
            "ad_unit_id": HUGE_UNIT,
            "country": "US",
            "device": "desktop",
            "ad_requests": 1,
            "impressions": 1,
            "clicks": 0,
            "revenue": Decimal("999999999999.999999"),
        }
    )
    connection.execute(insert(AdEvent), rows)
    return len(rows)


def rows_of(data: bytes) -> list[dict[str, str]]:
    """A CSV file's rows as text, cells exactly as written (quoted carriage returns kept)."""
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))
