"""Migration 0009 converts a plain `ad_events` holding rows into day partitions, and back, losing nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, text

from db.migrate import upgrade
from tests.support import servers

#: Rows over three days (every minute, so day boundaries are crossed), one lone day two years
#: earlier, and the first and last microsecond of a day.
ROWS = """
INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)
SELECT ts, 'pub-' || (n % 7), 'unit-' || (n % 3), 'US', 'mobile', n % 50, n % 40, n % 5, (n % 97) / 10.0
FROM (
    SELECT ts, row_number() OVER (ORDER BY ts) AS n FROM (
        SELECT generate_series(timestamptz '2026-03-01 00:00+00', timestamptz '2026-03-03 23:59+00', '1 minute') AS ts
        UNION ALL SELECT timestamptz '2024-02-29 12:00+00'
        UNION ALL SELECT timestamptz '2026-03-04 00:00+00'
        UNION ALL SELECT timestamptz '2026-03-04 23:59:59.999999+00'
    ) stamps
) numbered
"""
SNAPSHOT = "SELECT * FROM ad_events ORDER BY id"
#: Rows per partition as the catalog places them, and rows per UTC day from the rows themselves.
BY_PARTITION = "SELECT tableoid::regclass::text AS partition, count(*) AS n FROM ad_events GROUP BY 1"
BY_DAY = "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYYMMDD') AS day, count(*) AS n FROM ad_events GROUP BY 1"
KIND = "SELECT relkind FROM pg_class WHERE oid = 'ad_events'::regclass"
PRIMARY_KEY = """
SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = 'ad_events'::regclass AND i.indisprimary
"""
INDEXES = "SELECT indexname FROM pg_indexes WHERE tablename = 'ad_events' ORDER BY 1"
ONE_MORE = """
INSERT INTO ad_events (ts, publisher_id, ad_unit_id, country, device, ad_requests, impressions, clicks, revenue)
VALUES ('2026-03-02 10:00+00', 'pub-new', 'unit-0', 'DE', 'tablet', 1, 1, 0, 0) RETURNING id
"""


@pytest.fixture
def separate_database() -> Iterator[Engine]:
    """A database of its own: migrating the session's database would disturb every other test."""
    admin = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    name, url = servers.create_database(admin + "/postgres")
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        servers.drop_database(admin + "/postgres", name)


def _migrate(engine: Engine, revision: str) -> None:
    with engine.connect() as connection:
        if revision.startswith("-"):
            from alembic import command

            from db.migrate import alembic_config

            command.downgrade(alembic_config(connection), revision[1:])
        else:
            upgrade(connection, revision)
        connection.commit()


def _frame(engine: Engine, query: str) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.read_sql(text(query), connection)


def _scalar(engine: Engine, query: str) -> object:
    with engine.connect() as connection:
        return connection.execute(text(query)).scalar()


def test_migration_converts_a_table_with_rows_into_day_partitions_and_back(separate_database):
    engine = separate_database
    # Given the schema before partitioning, with rows
    _migrate(engine, "0008")
    with engine.begin() as connection:
        connection.execute(text(ROWS))
    before = _frame(engine, SNAPSHOT)
    days = _frame(engine, BY_DAY)
    assert len(before) == 3 * 24 * 60 + 3 and _scalar(engine, KIND) == "r"

    # When it is migrated to 0009
    _migrate(engine, "0009")

    # Then the table is partitioned, the rows and their ids are exactly those of before, and each
    # row sits in the partition of its UTC day (counts from the rows' own timestamps)
    assert _scalar(engine, KIND) == "p"
    pd.testing.assert_frame_equal(_frame(engine, SNAPSHOT), before)
    placed = _frame(engine, BY_PARTITION).set_index("partition")["n"].to_dict()
    assert placed == {f"ad_events_{day}": n for day, n in zip(days["day"], days["n"], strict=True)}
    # And there are partitions for today and the next 7 days, and the default partition
    today = datetime.now(UTC).date()
    with engine.connect() as connection:
        names = set(connection.execute(text("SELECT relname FROM pg_class WHERE relispartition")).scalars())
    ahead = {f"ad_events_{today + timedelta(days=i):%Y%m%d}" for i in range(8)}
    assert ahead | set(placed) | {"ad_events_default"} <= names
    # And the key holds the partition key, the (ts, publisher) index is still there, ids continue
    assert _scalar(engine, PRIMARY_KEY) == ["id", "ts"]
    assert set(_frame(engine, INDEXES)["indexname"]) == {"pk_ad_events", "ix_ad_events_ts_publisher"}
    with engine.begin() as connection:
        assert connection.execute(text(ONE_MORE)).scalar() == before["id"].max() + 1

    # When it is migrated back
    _migrate(engine, "-0008")
    # Then it is one plain table again with every row
    assert _scalar(engine, KIND) == "r" and _scalar(engine, PRIMARY_KEY) == ["id"]
    after = _frame(engine, SNAPSHOT)
    pd.testing.assert_frame_equal(after.iloc[:-1], before)
    assert after.iloc[-1]["publisher_id"] == "pub-new"
