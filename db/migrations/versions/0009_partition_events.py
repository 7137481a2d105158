"""ad_events partitioned by day

Converts the plain `ad_events` table, rows included, into a table partitioned by RANGE on `ts`:
one partition per UTC day (`ad_events_YYYYMMDD`) for every day that has rows and for today and
the next 7 days, plus `ad_events_default` for anything else. The primary key becomes (id, ts),
as a partitioned table's keys must hold the partition key; ids keep their sequence.

For speed with millions of rows: the partitions are made without indexes, the rows move in one
`INSERT ... SELECT` (one scan of the old table, rows routed to their day), then the key and the
index are built once per partition. SQLite has no partitions: nothing to do there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 05:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Index builds below get this much memory (the session's setting is back after the migration).
MAINTENANCE_WORK_MEM = "SET LOCAL maintenance_work_mem = '512MB'"

RENAME_PLAIN = (
    "LOCK TABLE ad_events IN ACCESS EXCLUSIVE MODE",
    "ALTER SEQUENCE ad_events_id_seq OWNED BY NONE",
    "ALTER TABLE ad_events RENAME TO ad_events_plain",
    "ALTER INDEX pk_ad_events RENAME TO pk_ad_events_plain",
    "ALTER INDEX ix_ad_events_ts_publisher RENAME TO ix_ad_events_plain_ts_publisher",
)
CREATE_PARTITIONED = (
    "CREATE TABLE ad_events (LIKE ad_events_plain INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE"
    " INCLUDING COMMENTS) PARTITION BY RANGE (ts)",
    "CREATE TABLE ad_events_default PARTITION OF ad_events DEFAULT",
)
#: A partition per UTC day with rows, and for today and the 7 days after.
CREATE_DAY_PARTITIONS = """
DO $$
DECLARE
    day date;
BEGIN
    FOR day IN
        SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM ad_events_plain
        UNION
        SELECT (now() AT TIME ZONE 'UTC')::date + ahead FROM generate_series(0, 7) AS ahead
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF ad_events FOR VALUES FROM (%L) TO (%L)',
            'ad_events_' || to_char(day, 'YYYYMMDD'), day::text || ' 00:00+00', (day + 1)::text || ' 00:00+00'
        );
    END LOOP;
END
$$
"""
MOVE_TO_PARTITIONED = (
    "INSERT INTO ad_events SELECT * FROM ad_events_plain",
    MAINTENANCE_WORK_MEM,
    "ALTER TABLE ad_events ADD CONSTRAINT pk_ad_events PRIMARY KEY (id, ts)",
    "CREATE INDEX ix_ad_events_ts_publisher ON ad_events (ts, publisher_id)",
    "DROP TABLE ad_events_plain",
    "ALTER SEQUENCE ad_events_id_seq OWNED BY ad_events.id",
    "ANALYZE ad_events",
)

RENAME_PARTITIONED = (
    "LOCK TABLE ad_events IN ACCESS EXCLUSIVE MODE",
    "ALTER SEQUENCE ad_events_id_seq OWNED BY NONE",
    "ALTER TABLE ad_events RENAME TO ad_events_partitioned",
    "ALTER INDEX pk_ad_events RENAME TO pk_ad_events_partitioned",
    "ALTER INDEX ix_ad_events_ts_publisher RENAME TO ix_ad_events_partitioned_ts_publisher",
)
MOVE_TO_PLAIN = (
    "CREATE TABLE ad_events (LIKE ad_events_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
    " INCLUDING STORAGE INCLUDING COMMENTS)",
    "INSERT INTO ad_events SELECT * FROM ad_events_partitioned",
    MAINTENANCE_WORK_MEM,
    "ALTER TABLE ad_events ADD CONSTRAINT pk_ad_events PRIMARY KEY (id)",
    "CREATE INDEX ix_ad_events_ts_publisher ON ad_events (ts, publisher_id)",
    "DROP TABLE ad_events_partitioned",
    "ALTER SEQUENCE ad_events_id_seq OWNED BY ad_events.id",
    "ANALYZE ad_events",
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgres():
        return
    for statement in (*RENAME_PLAIN, *CREATE_PARTITIONED, CREATE_DAY_PARTITIONS, *MOVE_TO_PARTITIONED):
        op.execute(statement)


def downgrade() -> None:
    if not _postgres():
        return
    for statement in (*RENAME_PARTITIONED, *MOVE_TO_PLAIN):
        op.execute(statement)
