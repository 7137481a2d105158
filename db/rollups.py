"""Rollups of raw ad events: every rollup write goes through one set-based upsert per granularity.

`aggregate_window` recomputes every bucket of a granularity that overlaps a window of UTC
instants, for every publisher with events in it (registered or not) or for the ones named, in
one `INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE` over all of them.
`aggregate_days` does the same for whole days of each publisher's own calendar (the daily
pipeline and on-demand jobs, whose dates are the publisher's local dates).

Calendars (PostgreSQL): hour buckets are UTC hours for everyone; day, week (ISO, from Monday)
and month buckets follow the publisher's `publishers.timezone` (a publisher without a row
counts as UTC): `date_trunc('day', ts AT TIME ZONE tz) AT TIME ZONE tz`, so a New York day is
05:00-05:00 UTC in winter, 04:00-04:00 in summer, and DST days have 23 or 25 hours;
`bucket_start` is the UTC instant the local bucket starts. Windows are widened to whole
buckets in each publisher's calendar, so a rollup row always covers its whole bucket and
rerunning an overlapping job writes the same values. The bounds are computed per time zone
(a handful of rows), so the statement scans one contiguous range of `ad_events` (partitions
pruned) and joins `publishers` once.

The statement records in `rollup_freshness` (publisher, local day, refreshed_at) the days whose
day rollups it brought up to date (day granularity only: that is the table the API shows).
It raises `work_mem` for its transaction (the 30-day upsert spills to disk at the default
4 MB), keeps JIT's compilation cheap (`SET_JIT`) and skips rows whose totals did not change.

SQLite (the embedded demo) keeps UTC calendars for everyone: same buckets as a UTC publisher.

SQLAlchemy is imported by the functions that run statements, not with this module: the
aggregation actor's module imports it, and a process that imports that module only to send a
job never runs one (`db.engine`'s notes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy import BindParameter, Connection, TextClause

Granularity = Literal["hour", "day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("hour", "day", "week", "month")

#: work_mem for the aggregation's transaction on PostgreSQL.
AGGREGATION_WORK_MEM = "256MB"
SET_WORK_MEM = f"SET LOCAL work_mem = '{AGGREGATION_WORK_MEM}'"
#: JIT for the aggregation's expressions, without LLVM's optimisation and inlining passes: a statement
#: over a month of day partitions compiles one tuple deformer per partition (138 functions for 30
#: days), and those passes took 0.7-2.4 s of a 4-8 s statement, more than they saved (EXPLAIN ANALYZE's
#: JIT timing, BENCHMARKS.md); unoptimised code is compiled in under 0.1 s and still runs faster than
#: the interpreter.
SET_JIT = ("SET LOCAL jit_optimize_above_cost = -1", "SET LOCAL jit_inline_above_cost = -1")

#: date_trunc's unit and the length of one bucket, per granularity.
_STEP = {"hour": "1 hour", "day": "1 day", "week": "7 days", "month": "1 month"}

# --- PostgreSQL ------------------------------------------------------------------------------

#: The time zones a statement may meet: every publisher's, and UTC for unregistered publishers.
_ZONE_NAMES = "SELECT DISTINCT timezone AS tz FROM publishers UNION SELECT 'UTC'"

#: The window's ends as UTC instants, per zone: given instants, or local dates of the zone.
_ENDS_INSTANTS = "CAST(:start AS timestamptz) AS a, CAST(:end AS timestamptz) AS b"
_ENDS_DATES = (
    "CAST(:first_day AS timestamp) AT TIME ZONE tz AS a,"
    " (CAST(:last_day AS timestamp) + interval '1 day') AT TIME ZONE tz AS b"
)

#: Per zone: [first, last) = the window widened to whole buckets of the zone's calendar
#: (hour buckets: UTC hours in every zone, so half-hour zones do not split them).
_ZONES = """zones AS (
    SELECT tz,
        date_trunc('{unit}', a AT TIME ZONE {calendar}) AT TIME ZONE {calendar} AS first,
        (date_trunc('{unit}', (b - interval '1 microsecond') AT TIME ZONE {calendar})
            + interval '{step}') AT TIME ZONE {calendar} AS last
    FROM (SELECT tz, {ends} FROM ({zone_names}) AS names) AS ends
)"""

_BOUNDS_PG = "WITH {zones} SELECT min(first), max(last) FROM zones"

#: The events' sums per bucket, publisher and ad unit, each publisher in its own calendar. Rows are
#: grouped by the bucket's local start (a `timestamp`: cheaper per row than a `timestamptz`), turned
#: into the UTC instant once per group.
_AGG_ZONES_PG = """{zones},
agg AS (
    SELECT date_trunc('{unit}', e.ts AT TIME ZONE {row_calendar}) AS local_bucket, z.tz, e.publisher_id, e.ad_unit_id,
        sum(e.ad_requests) AS ad_requests, sum(e.impressions) AS impressions,
        sum(e.clicks) AS clicks, sum(e.revenue) AS revenue
    FROM ad_events AS e
    LEFT JOIN publishers AS p ON p.id = e.publisher_id
    JOIN zones AS z ON z.tz = coalesce(p.timezone, 'UTC')
    WHERE e.ts >= :lo AND e.ts < :hi AND e.ts >= z.first AND e.ts < z.last {filters}
    GROUP BY 1, z.tz, e.publisher_id, e.ad_unit_id
)"""

#: The same when every publisher the statement may meet shares one calendar (`:zone`; the common
#: all-UTC deployment): no join with `publishers`, one constant zone for every row.
_AGG_ONE_ZONE_PG = """agg AS (
    SELECT date_trunc('{unit}', e.ts AT TIME ZONE {row_calendar}) AS local_bucket, CAST(:zone AS text) AS tz,
        e.publisher_id, e.ad_unit_id,
        sum(e.ad_requests) AS ad_requests, sum(e.impressions) AS impressions,
        sum(e.clicks) AS clicks, sum(e.revenue) AS revenue
    FROM ad_events AS e
    WHERE e.ts >= :lo AND e.ts < :hi {filters}
    GROUP BY 1, e.publisher_id, e.ad_unit_id
)"""

_UPSERT_PG = """
WITH {agg},
written AS (
    INSERT INTO analytics_rollups (granularity, bucket_start, publisher_id, ad_unit_id,
        ad_requests, impressions, clicks, revenue, ctr, fill_rate, ecpm, updated_at)
    SELECT '{granularity}', local_bucket AT TIME ZONE {bucket_calendar}, publisher_id, ad_unit_id,
        ad_requests, impressions, clicks, revenue,
        clicks::float8 / nullif(impressions, 0),
        impressions::float8 / nullif(ad_requests, 0),
        revenue::float8 * 1000 / nullif(impressions, 0),
        CURRENT_TIMESTAMP
    FROM agg
    ON CONFLICT (granularity, bucket_start, publisher_id, ad_unit_id) DO UPDATE SET
        ad_requests = excluded.ad_requests,
        impressions = excluded.impressions,
        clicks = excluded.clicks,
        revenue = excluded.revenue,
        ctr = excluded.ctr,
        fill_rate = excluded.fill_rate,
        ecpm = excluded.ecpm,
        updated_at = CURRENT_TIMESTAMP
    WHERE (analytics_rollups.ad_requests, analytics_rollups.impressions,
           analytics_rollups.clicks, analytics_rollups.revenue)
        IS DISTINCT FROM (excluded.ad_requests, excluded.impressions, excluded.clicks, excluded.revenue)
    RETURNING 1
){freshness}
SELECT count(*) FROM written
"""

_FRESHNESS_PG = """,
fresh AS (
    INSERT INTO rollup_freshness (publisher_id, day, refreshed_at)
    SELECT DISTINCT publisher_id, CAST(local_bucket AS date), CURRENT_TIMESTAMP FROM agg
    ON CONFLICT (publisher_id, day) DO UPDATE SET refreshed_at = excluded.refreshed_at
)"""

_FILTER_PUBLISHERS_PG = " AND e.publisher_id = ANY(:publisher_ids)"
_FILTER_TIMEZONES_PG = " AND coalesce(p.timezone, 'UTC') = ANY(:timezones)"


#: The calendars a statement may meet: every registered publisher's (or the named publishers')
#: zone, and UTC for publishers without a row. One zone: the one-zone statement applies.
ZONE_SET_PG = {
    False: _ZONE_NAMES,
    True: "SELECT DISTINCT coalesce(p.timezone, 'UTC') AS tz"
    " FROM unnest(CAST(:publisher_ids AS text[])) AS named(id) LEFT JOIN publishers AS p ON p.id = named.id",
}
_ONE_ZONE_NAME = "SELECT CAST(:zone AS text) AS tz"


def _pg_zones(granularity: str, ends: str, zone_names: str = _ZONE_NAMES) -> str:
    calendar = "'UTC'" if granularity == "hour" else "tz"
    return _ZONES.format(unit=granularity, calendar=calendar, step=_STEP[granularity], ends=ends, zone_names=zone_names)


def _pg_upsert(granularity: str, agg: str) -> str:
    return _UPSERT_PG.format(
        agg=agg,
        granularity=granularity,
        bucket_calendar="'UTC'" if granularity == "hour" else "tz",
        freshness=_FRESHNESS_PG if granularity == "day" else "",
    )


_FILTERS = {
    (False, False): "",
    (True, False): _FILTER_PUBLISHERS_PG,
    (False, True): _FILTER_TIMEZONES_PG,
    (True, True): _FILTER_PUBLISHERS_PG + _FILTER_TIMEZONES_PG,
}
#: Every PostgreSQL statement, made once: (granularity, by local dates, by publishers, by zones).
UPSERTS_PG = {
    (granularity, by_dates, *key): _pg_upsert(
        granularity,
        _AGG_ZONES_PG.format(
            zones=_pg_zones(granularity, _ENDS_DATES if by_dates else _ENDS_INSTANTS),
            unit=granularity,
            row_calendar="'UTC'" if granularity == "hour" else "z.tz",
            filters=filters,
        ),
    )
    for granularity in GRANULARITIES
    for by_dates in (False, True)
    for key, filters in _FILTERS.items()
}
BOUNDS_PG = {
    (granularity, by_dates): _BOUNDS_PG.format(
        zones=_pg_zones(granularity, _ENDS_DATES if by_dates else _ENDS_INSTANTS)
    )
    for granularity in GRANULARITIES
    for by_dates in (False, True)
}
#: The one-zone statements: (granularity, by publishers); [:lo, :hi) is the window in `:zone`'s calendar.
UPSERTS_ONE_ZONE_PG = {
    (granularity, by_publishers): _pg_upsert(
        granularity,
        _AGG_ONE_ZONE_PG.format(
            unit=granularity,
            row_calendar="'UTC'" if granularity == "hour" else ":zone",
            filters=_FILTER_PUBLISHERS_PG if by_publishers else "",
        ),
    )
    for granularity in GRANULARITIES
    for by_publishers in (False, True)
}
BOUNDS_ONE_ZONE_PG = {
    (granularity, by_dates): _BOUNDS_PG.format(
        zones=_pg_zones(granularity, _ENDS_DATES if by_dates else _ENDS_INSTANTS, _ONE_ZONE_NAME)
    )
    for granularity in GRANULARITIES
    for by_dates in (False, True)
}

# --- SQLite (UTC calendars) ----------------------------------------------------------------

SQLITE_BUCKET = {
    "hour": "strftime('%Y-%m-%d %H:00:00.000000', ts)",
    "day": "strftime('%Y-%m-%d 00:00:00.000000', ts)",
    "week": "strftime('%Y-%m-%d 00:00:00.000000', ts, 'weekday 0', '-6 days')",
    "month": "strftime('%Y-%m-01 00:00:00.000000', ts)",
}

_UPSERT_SQLITE = """
INSERT INTO analytics_rollups (granularity, bucket_start, publisher_id, ad_unit_id,
    ad_requests, impressions, clicks, revenue, ctr, fill_rate, ecpm, updated_at)
SELECT '{granularity}', {bucket} AS bucket, publisher_id, ad_unit_id,
    sum(ad_requests), sum(impressions), sum(clicks), sum(revenue),
    CAST(sum(clicks) AS REAL) / nullif(sum(impressions), 0),
    CAST(sum(impressions) AS REAL) / nullif(sum(ad_requests), 0),
    CAST(sum(revenue) AS REAL) * 1000 / nullif(sum(impressions), 0),
    CURRENT_TIMESTAMP
FROM ad_events
WHERE ts >= :lo AND ts < :hi {filters}
GROUP BY {bucket}, publisher_id, ad_unit_id
ON CONFLICT (granularity, bucket_start, publisher_id, ad_unit_id) DO UPDATE SET
    ad_requests = excluded.ad_requests,
    impressions = excluded.impressions,
    clicks = excluded.clicks,
    revenue = excluded.revenue,
    ctr = excluded.ctr,
    fill_rate = excluded.fill_rate,
    ecpm = excluded.ecpm,
    updated_at = CURRENT_TIMESTAMP
"""
_FRESHNESS_SQLITE = """
INSERT INTO rollup_freshness (publisher_id, day, refreshed_at)
SELECT DISTINCT publisher_id, date(ts), CURRENT_TIMESTAMP FROM ad_events
WHERE ts >= :lo AND ts < :hi {filters}
ON CONFLICT (publisher_id, day) DO UPDATE SET refreshed_at = excluded.refreshed_at
"""
_FILTER_PUBLISHERS_SQLITE = "AND publisher_id IN :publisher_ids"
#: SQLite: every publisher is on UTC, so a zone filter keeps all of them or none.
_FILTER_TIMEZONES_SQLITE = "AND 'UTC' IN :timezones"
_FILTERS_SQLITE = {
    (False, False): "",
    (True, False): _FILTER_PUBLISHERS_SQLITE,
    (False, True): _FILTER_TIMEZONES_SQLITE,
    (True, True): _FILTER_PUBLISHERS_SQLITE + " " + _FILTER_TIMEZONES_SQLITE,
}
UPSERTS_SQLITE = {
    (granularity, *key): _UPSERT_SQLITE.format(granularity=granularity, bucket=SQLITE_BUCKET[granularity], filters=f)
    for granularity in GRANULARITIES
    for key, f in _FILTERS_SQLITE.items()
}
FRESHNESS_SQLITE = {key: _FRESHNESS_SQLITE.format(filters=f) for key, f in _FILTERS_SQLITE.items()}


def _check(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity {granularity!r}; one of {', '.join(GRANULARITIES)}")


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime (a UTC instant), not {value!r}")
    return value.astimezone(UTC)


def utc_bucket_range(granularity: Granularity, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) widened to whole UTC buckets (the SQLite calendar, and a UTC publisher's)."""
    _check(granularity)

    def floor(moment: datetime) -> datetime:
        if granularity == "hour":
            return moment.replace(minute=0, second=0, microsecond=0)
        day = datetime.combine(moment.date(), time.min, tzinfo=UTC)
        if granularity == "week":
            return day - timedelta(days=day.weekday())
        if granularity == "month":
            return day.replace(day=1)
        return day

    def after(bucket: datetime) -> datetime:
        if granularity == "hour":
            return bucket + timedelta(hours=1)
        if granularity == "day":
            return bucket + timedelta(days=1)
        if granularity == "week":
            return bucket + timedelta(days=7)
        return (bucket + timedelta(days=32)).replace(day=1)

    return floor(start), after(floor(end - timedelta(microseconds=1)))


def bucket_range(granularity: Granularity, start: date, end: date) -> tuple[datetime, datetime]:
    """[first, last) UTC instants covering whole UTC buckets from `start` to `end` (inclusive days)."""
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    return utc_bucket_range(
        granularity,
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def aggregate_window(
    connection: Connection,
    granularity: Granularity,
    start: datetime,
    end: datetime,
    publisher_ids: Sequence[str] | None = None,
    *,
    timezones: Sequence[str] | None = None,
) -> int:
    """Recompute every `granularity` bucket overlapping the UTC instants [start, end).

    For `publisher_ids` (None: every publisher with events in the window, registered or not),
    optionally only those whose calendar is one of `timezones` (unregistered ones count as
    UTC). Buckets are widened to whole buckets of each publisher's calendar. Records the local
    days brought up to date in `rollup_freshness` (day granularity). Returns rows written.
    """
    _check(granularity)
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise ValueError(f"window end {end.isoformat()} is not after its start {start.isoformat()}")
    return _aggregate(connection, granularity, {"start": start, "end": end}, publisher_ids, timezones)


def aggregate_days(
    connection: Connection,
    granularity: Granularity,
    first_day: date,
    last_day: date,
    publisher_ids: Sequence[str] | None = None,
    *,
    timezones: Sequence[str] | None = None,
) -> int:
    """Like `aggregate_window`, for the local days [first_day, last_day] of each publisher's calendar.

    Hour granularity: the UTC hours that cover those local days.
    """
    _check(granularity)
    if last_day < first_day:
        raise ValueError(f"end date {last_day} is before start date {first_day}")
    return _aggregate(connection, granularity, {"first_day": first_day, "last_day": last_day}, publisher_ids, timezones)


def upsert_rollups(
    connection: Connection,
    granularity: Granularity,
    start: date,
    end: date,
    publisher_id: str | None = None,
) -> int:
    """Aggregate the local days [start, end] into rollups; returns the rows written or changed."""
    return aggregate_days(connection, granularity, start, end, None if publisher_id is None else [publisher_id])


def _aggregate(
    connection: Connection,
    granularity: Granularity,
    window: dict[str, object],
    publisher_ids: Sequence[str] | None,
    timezones: Sequence[str] | None,
) -> int:
    if (publisher_ids is not None and not publisher_ids) or (timezones is not None and not timezones):
        return 0
    by_dates = "first_day" in window
    key = (publisher_ids is not None, timezones is not None)
    params: dict[str, object] = dict(window)
    if publisher_ids is not None:
        params["publisher_ids"] = list(publisher_ids)
    if timezones is not None:
        params["timezones"] = list(timezones)
    if connection.dialect.name == "postgresql":
        return _aggregate_pg(connection, granularity, by_dates, key, params)
    return _aggregate_sqlite(connection, granularity, by_dates, key, params)


def _statement(sql: str, types: dict[str, BindParameter[Any]]) -> TextClause:
    """`sql` as a text clause with the types of the parameters it names."""
    from sqlalchemy import text  # heavy: loaded when a statement runs (see the module's notes)

    return text(sql).bindparams(*(param for name, param in types.items() if re.search(rf":{name}\b", sql)))


def _aggregate_pg(
    connection: Connection,
    granularity: Granularity,
    by_dates: bool,
    key: tuple[bool, bool],
    params: dict[str, object],
) -> int:
    from sqlalchemy import Date, DateTime, bindparam, text  # heavy: loaded when a statement runs
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.types import String

    types: dict[str, BindParameter[Any]] = {
        name: bindparam(name, type_=Date() if name.endswith("_day") else DateTime(timezone=True))
        for name in ("start", "end", "first_day", "last_day", "lo", "hi")
    }
    types.update({name: bindparam(name, type_=ARRAY(String())) for name in ("publisher_ids", "timezones")})
    by_publishers, by_zones = key
    zones = connection.execute(_statement(ZONE_SET_PG[by_publishers], types), params).scalars().all()
    if len(zones) == 1:
        # One calendar for every publisher the statement may meet: no per-row join with `publishers`.
        zone = zones[0]
        if by_zones and zone not in params["timezones"]:  # type: ignore[operator]
            return 0
        bounds, upsert = BOUNDS_ONE_ZONE_PG[(granularity, by_dates)], UPSERTS_ONE_ZONE_PG[(granularity, by_publishers)]
        params = {**params, "zone": zone}
    else:
        bounds, upsert = BOUNDS_PG[(granularity, by_dates)], UPSERTS_PG[(granularity, by_dates, *key)]
    lo, hi = connection.execute(_statement(bounds, types), params).one()
    connection.execute(text(SET_WORK_MEM))
    for setting in SET_JIT:
        connection.execute(text(setting))
    return int(connection.execute(_statement(upsert, types), {**params, "lo": lo, "hi": hi}).scalar_one())


def _aggregate_sqlite(
    connection: Connection,
    granularity: Granularity,
    by_dates: bool,
    key: tuple[bool, bool],
    params: dict[str, object],
) -> int:
    from sqlalchemy import DateTime, bindparam, text  # heavy: loaded when a statement runs

    if by_dates:
        first_day, last_day = params.pop("first_day"), params.pop("last_day")
        assert isinstance(first_day, date) and isinstance(last_day, date)
        lo, hi = bucket_range(granularity, first_day, last_day)
    else:
        start, end = params.pop("start"), params.pop("end")
        assert isinstance(start, datetime) and isinstance(end, datetime)
        lo, hi = utc_bucket_range(granularity, start, end)
    params.update(lo=lo, hi=hi)
    expanding: list[BindParameter[Any]] = [
        bindparam(name, expanding=True) for name in ("publisher_ids", "timezones") if name in params
    ]
    window = [bindparam("lo", type_=DateTime(timezone=True)), bindparam("hi", type_=DateTime(timezone=True))]
    written = connection.execute(
        text(UPSERTS_SQLITE[(granularity, *key)]).bindparams(*window, *expanding), params
    ).rowcount
    if granularity == "day":
        connection.execute(text(FRESHNESS_SQLITE[key]).bindparams(*window, *expanding), params)
    return written


def publisher_known(connection: Connection, publisher_id: str) -> bool:
    from sqlalchemy import text  # heavy: loaded when a statement runs

    row = connection.execute(text("SELECT 1 FROM publishers WHERE id = :p"), {"p": publisher_id}).first()
    return row is not None
