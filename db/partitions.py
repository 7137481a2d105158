"""Day partitions of `ad_events` on PostgreSQL: made ahead and on demand, dropped past retention.

`ad_events` is partitioned by RANGE on `ts` (migration 0009): one partition per UTC day, named
`ad_events_YYYYMMDD`, plus `ad_events_default`, which takes any row no day partition holds, so
an insert never fails. Loaders call `ensure_partitions` for their days before they load; the
daily cleanup (`old_events`) makes the coming days and drops the days past retention.

Every change to the partitions takes one transaction-level advisory lock, so two processes
never race on the catalog; when the partitions exist already, `ensure_partitions` only reads
the catalog and takes no lock. Run these in READ COMMITTED (the default), so a check made after
the lock sees what another process committed meanwhile. On SQLite there are no partitions:
`ensure_partitions` and `drop_partitions_before` do nothing, and `delete_events_before` deletes
rows.

Partition names are SQL identifiers made from dates only and quoted by `psycopg.sql`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from psycopg import sql
from sqlalchemy import Connection, delete, func, select, text

from db.models import AdEvent

DEFAULT_PARTITION = "ad_events_default"
#: Day partitions are `ad_events_` + the UTC day as YYYYMMDD.
DAY_FORMAT = "ad_events_%Y%m%d"
#: Sorts before every day partition's name.
FIRST_NAME = "ad_events_00000000"
#: One call makes at most this many partitions: a stray timestamp must not make thousands
#: (rows outside every day partition still land in the default partition).
MAX_DAYS = 1000
#: Key of the advisory lock held while partitions are made or dropped ("ad_events" in ASCII).
LOCK_KEY = 0x61645F6576656E74

_LOCK = "SELECT pg_advisory_xact_lock(:key)"
_IS_PARTITIONED = "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('ad_events')"
#: Day partitions of ad_events whose names sort between :low and :high (YYYYMMDD sorts as dates).
_DAY_PARTITIONS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass('ad_events') AND c.relname ~ '^ad_events_[0-9]{8}$'
  AND c.relname >= :low AND c.relname <= :high
"""
#: The same, oldest first, with their size on disk.
_DAY_PARTITION_SIZES = """
SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass('ad_events') AND c.relname ~ '^ad_events_[0-9]{8}$'
  AND c.relname >= :low AND c.relname <= :high
ORDER BY c.relname
"""
#: Inserts into the default partition wait until the new partitions are attached (else a row
#: for a day being attached could slip in between the move and the attach, and fail it).
_LOCK_DEFAULT = "LOCK TABLE ad_events_default IN SHARE ROW EXCLUSIVE MODE"
_CREATE = "CREATE TABLE {name} (LIKE ad_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
_MOVE = """
WITH moved AS (DELETE FROM ad_events_default WHERE ts >= {start} AND ts < {end} RETURNING *)
INSERT INTO {name} SELECT * FROM moved
"""
_ATTACH = "ALTER TABLE ad_events ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})"
_DROP = "DROP TABLE {name}"


def partition_name(day: date) -> str:
    return day.strftime(DAY_FORMAT)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def _run(connection: Connection, template: str, day: date) -> None:
    """One DDL statement for `day`'s partition: its name quoted as an identifier, its bounds as literals."""
    statement = sql.SQL(template).format(
        name=sql.Identifier(partition_name(day)),
        start=sql.Literal(_midnight(day)),
        end=sql.Literal(_midnight(day + timedelta(days=1))),
    )
    connection.exec_driver_sql(statement.as_string(connection.connection.driver_connection))


def _existing(connection: Connection, low: str, high: str) -> set[str]:
    return set(connection.execute(text(_DAY_PARTITIONS), {"low": low, "high": high}).scalars())


def _days(first_day: date, last_day: date) -> list[date]:
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    count = (last_day - first_day).days + 1
    if count > MAX_DAYS:
        raise ValueError(
            f"first_day {first_day} to last_day {last_day} is {count} days of partitions; at most {MAX_DAYS} at once"
        )
    return [first_day + timedelta(days=offset) for offset in range(count)]


def create_partitions(connection: Connection, first_day: date, last_day: date) -> list[str]:
    """Make the missing day partitions from `first_day` to `last_day` (inclusive); returns their names.

    Rows of those days already in the default partition move into their new partition.
    """
    if not _is_postgres(connection):
        return []
    days = _days(first_day, last_day)
    bounds = partition_name(first_day), partition_name(last_day)
    if len(_existing(connection, *bounds)) == len(days):
        return []
    connection.execute(text(_LOCK), {"key": LOCK_KEY})
    if not connection.execute(text(_IS_PARTITIONED)).scalar():
        return []  # the schema is older than migration 0009
    existing = _existing(connection, *bounds)  # again: another process may have made some meanwhile
    missing = [day for day in days if partition_name(day) not in existing]
    if missing:
        connection.execute(text(_LOCK_DEFAULT))
    for day in missing:
        for template in (_CREATE, _MOVE, _ATTACH):
            _run(connection, template, day)
    return [partition_name(day) for day in missing]


def ensure_partitions(connection: Connection, first_day: date, last_day: date) -> None:
    """Day partitions exist from `first_day` to `last_day` (inclusive), in the caller's transaction.

    Idempotent; safe when processes race (an advisory lock); rows of those days in the default
    partition move into their day's partition. A no-op on SQLite.
    """
    create_partitions(connection, first_day, last_day)


def partitions_before(connection: Connection, day: date) -> dict[str, int]:
    """Day partitions of days before `day`, oldest first, with their size in bytes."""
    if not _is_postgres(connection):
        return {}
    bounds = {"low": FIRST_NAME, "high": partition_name(day - timedelta(days=1))}
    return {name: int(size) for name, size in connection.execute(text(_DAY_PARTITION_SIZES), bounds)}


def drop_partitions_before(connection: Connection, day: date) -> list[str]:
    """Drop every day partition of a day before `day`, one `DROP TABLE` each; returns their names."""
    if not _is_postgres(connection):
        return []
    connection.execute(text(_LOCK), {"key": LOCK_KEY})
    names = list(partitions_before(connection, day))
    for name in names:
        _run(connection, _DROP, datetime.strptime(name, DAY_FORMAT).date())
    return names


def count_events_before(connection: Connection, day: date) -> int:
    """Events with `ts` before `day` (UTC midnight), in day partitions and the default partition alike."""
    query = select(func.count()).select_from(AdEvent).where(AdEvent.ts < _midnight(day))
    return int(connection.execute(query).scalar_one())


def delete_events_before(connection: Connection, day: date) -> int:
    """Delete the events before `day` that no partition drop removes: on PostgreSQL, after
    `drop_partitions_before`, those in the default partition; on SQLite, all of them."""
    return int(connection.execute(delete(AdEvent).where(AdEvent.ts < _midnight(day))).rowcount)
