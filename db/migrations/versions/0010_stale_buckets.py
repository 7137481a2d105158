"""rollup buckets made stale by late events: `stale_hours` kept by a trigger on `ad_events`

Whatever loads events (ingest, seed, an upstream process writing SQL), the insert itself
records what it touched, in the same transaction:
- every publisher id of the new rows is registered in `publishers` (name = id), so no fan-out
  misses a publisher the ad servers never announced;
- every (publisher, UTC hour) of the new rows is marked in `stale_hours`: `marked_at` is when
  the hour first became stale since its last re-aggregation, `revision` counts the loads since,
  so the re-aggregation deletes only the marks it read (a mark whose revision moved on, because
  rows arrived meanwhile, survives).

PostgreSQL: one statement-level AFTER INSERT trigger over the statement's transition table on
the (partitioned) parent, which INSERT and COPY into `ad_events` fire: one GROUP BY over the
new rows, one upsert into each table. SQLite (the embedded default): a row-level trigger doing
the same per row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 05:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TABLE = (
    "CREATE TABLE stale_hours (publisher_id varchar(64) NOT NULL, hour_start {timestamp} NOT NULL,"
    " marked_at {timestamp} NOT NULL DEFAULT {now}, revision bigint NOT NULL DEFAULT 0,"
    " CONSTRAINT pk_stale_hours PRIMARY KEY (publisher_id, hour_start))"
)

_PG_FUNCTION = """
CREATE FUNCTION ad_events_mark_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH touched AS MATERIALIZED (
        SELECT publisher_id, date_trunc('hour', ts, 'UTC') AS hour_start
        FROM new_rows GROUP BY 1, 2
    ), registered AS (
        INSERT INTO publishers (id, name)
        SELECT DISTINCT publisher_id, publisher_id FROM touched ORDER BY 1
        ON CONFLICT (id) DO NOTHING
    )
    INSERT INTO stale_hours (publisher_id, hour_start, marked_at)
    SELECT publisher_id, hour_start, clock_timestamp() FROM touched ORDER BY 1, 2
    ON CONFLICT (publisher_id, hour_start) DO UPDATE SET revision = stale_hours.revision + 1;
    RETURN NULL;
END $$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER ad_events_mark_stale AFTER INSERT ON ad_events REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION ad_events_mark_stale()"
)

#: SQLite keeps times as SQLAlchemy writes them, 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; text with an offset
#: strftime cannot read (like '+00') falls back to its first 19 characters.
_SQLITE_TRIGGER = """
CREATE TRIGGER ad_events_mark_stale AFTER INSERT ON ad_events
BEGIN
    INSERT INTO publishers (id, name) VALUES (NEW.publisher_id, NEW.publisher_id)
    ON CONFLICT (id) DO NOTHING;
    INSERT INTO stale_hours (publisher_id, hour_start)
    VALUES (NEW.publisher_id, coalesce(strftime('%Y-%m-%d %H:00:00.000000', NEW.ts),
                                       strftime('%Y-%m-%d %H:00:00.000000', substr(NEW.ts, 1, 19))))
    ON CONFLICT (publisher_id, hour_start) DO UPDATE SET revision = stale_hours.revision + 1;
END
"""

#: The DDL per dialect, made once from the constants above.
CREATE = {
    "postgresql": [
        _TABLE.format(timestamp="timestamptz", now="now()"),
        _PG_FUNCTION,
        _PG_TRIGGER,
    ],
    "sqlite": [
        _TABLE.format(timestamp="DATETIME", now="CURRENT_TIMESTAMP"),
        _SQLITE_TRIGGER,
    ],
}
DROP = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS ad_events_mark_stale ON ad_events",
        "DROP FUNCTION IF EXISTS ad_events_mark_stale()",
        "DROP TABLE IF EXISTS stale_hours",
    ],
    "sqlite": [
        "DROP TRIGGER IF EXISTS ad_events_mark_stale",
        "DROP TABLE IF EXISTS stale_hours",
    ],
}


def upgrade() -> None:
    for statement in CREATE[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
