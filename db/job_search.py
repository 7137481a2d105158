"""SQL of the job search: one filter for every job listing, a stable order and the total.

Every listing of the job store (a queue's page, the search across queues) reads newest first,
ties broken by id (`ORDER`), so jobs enqueued in the same millisecond (a pipeline stage's group)
keep one order from page to page and from refresh to refresh. On PostgreSQL the id prefix is a range
of the primary key (its "C" collation), the publisher has a partial index (migrations 0012, 0013);
a listing without either reads the newest window of time first (`WINDOWS`, through the BRIN index
over the time of enqueue) and widens it only when the window holds fewer jobs than the page needs.
A payload field is compared on the rows the other filters leave. Input never becomes SQL text: a field's path is a
bound parameter (`#>>` with a text array on PostgreSQL, `json_extract` with a bound path on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, Connection, String, Text, and_, bindparam, cast, func, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from db.jobstore import count_by_state
from db.models import JobRecord

TABLE = JobRecord.__table__
#: Newest first; the id breaks ties, so the order is total and the same on every read.
ORDER = (TABLE.c.enqueued_at.desc().nulls_last(), TABLE.c.id.desc())
#: The payload keys that name a publisher: the actors' snake_case and the API's camelCase.
PUBLISHER_KEYS = ("publisher_id", "publisherId")
LIKE_ESCAPE = "\\"
#: The windows of enqueue time a listing without an indexed criterion tries, newest first, before all
#: of the store: most pages (the first ones, newest first) are found in the first window.
WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=7))


@dataclass(frozen=True)
class JobFilter:
    """What a listing keeps; every criterion given must hold (an empty filter keeps every job).

    `fields` are (path, value) pairs: a path is a tuple of payload keys (`("filters", "country")`),
    a value is compared with the field's text (`5`, `true`, `2026-11-02`).
    """

    queue: str | None = None
    states: tuple[str, ...] | None = None
    id_prefix: str | None = None
    publisher: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    fields: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def counted_by_state(self) -> bool:
        """True when the total is a sum of the per-queue, per-state counters (no other criterion)."""
        return not (self.id_prefix or self.publisher or self.since or self.until or self.fields)


def _escape_like(text: str) -> str:
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def publisher_expression(dialect: str) -> ColumnElement[Any]:
    """The publisher a payload names, exactly as the index of migration 0012 spells it on PostgreSQL."""
    keys: list[ColumnElement[Any]]
    if dialect == "postgresql":
        keys = [TABLE.c.payload.op("->>", return_type=String())(literal_column(f"'{key}'")) for key in PUBLISHER_KEYS]
    else:
        keys = [func.json_extract(TABLE.c.payload, f"$.{key}") for key in PUBLISHER_KEYS]
    return func.coalesce(*keys)


def _field(dialect: str, path: tuple[str, ...], value: str) -> ColumnElement[bool]:
    """The payload field at `path` reads `value`; the first key also matches its camelCase or snake_case twin."""
    head, *rest = path
    heads = dict.fromkeys((head, _camel(head), _snake(head)))
    matches: list[ColumnElement[bool]] = []
    for name in heads:
        keys = (name, *rest)
        found: ColumnElement[Any]
        if dialect == "postgresql":
            # `payload #>> $1`: the path is a bound text[] (the driver quotes each key); the field as text.
            bound = bindparam(None, list(keys), type_=ARRAY(Text()))
            found = TABLE.c.payload.op("#>>", return_type=String())(bound)
        else:
            found = cast(func.json_extract(TABLE.c.payload, "$" + "".join(f'."{_quote(key)}"' for key in keys)), String)
        matches.append(found == value)
    return or_(*matches)


def _quote(key: str) -> str:
    return key.replace("\\", "\\\\").replace('"', '\\"')


def _camel(name: str) -> str:
    first, *others = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in others)


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name).lstrip("_")


def where(dialect: str, search: JobFilter) -> list[ColumnElement[bool]]:
    """The SQL conditions of `search`, every value a bound parameter."""
    conditions: list[ColumnElement[bool]] = []
    if search.queue is not None:
        conditions.append(TABLE.c.queue == search.queue)
    if search.states is not None:
        conditions.append(TABLE.c.state.in_(list(search.states)))
    if search.id_prefix:
        conditions.append(TABLE.c.id.like(_escape_like(search.id_prefix) + "%", escape=LIKE_ESCAPE))
    if search.publisher is not None:
        conditions.append(publisher_expression(dialect) == search.publisher)
    if search.since is not None:
        conditions.append(TABLE.c.enqueued_at >= search.since)
    if search.until is not None:
        conditions.append(TABLE.c.enqueued_at < search.until)
    conditions.extend(_field(dialect, path, value) for path, value in search.fields)
    return conditions


def find_jobs(connection: Connection, search: JobFilter, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """One page of the jobs `search` keeps, in `ORDER`.

    Without an id prefix or a publisher, PostgreSQL is asked window by window (`WINDOWS`): when the
    jobs enqueued since a window's start fill `offset + limit`, they are the first ones in `ORDER`
    (every job outside the window was enqueued before it, or has no time and sorts last), so the page
    is theirs; else the next, wider window, and at last the whole store."""
    conditions = where(connection.dialect.name, search)
    query = select(TABLE).order_by(*ORDER)
    if connection.dialect.name == "postgresql" and not (search.id_prefix or search.publisher):
        now = datetime.now(UTC)
        for window in WINDOWS:
            start = now - window
            if search.since is not None and search.since >= start:
                break  # the search's own range is narrower than this window: read it as it is
            rows = connection.execute(
                query.where(TABLE.c.enqueued_at >= start, *conditions).limit(offset + limit)
            ).mappings().all()
            if len(rows) == offset + limit:
                return [dict(row) for row in rows[offset:]]
    page = query.where(and_(True, *conditions)).limit(limit).offset(offset)
    return [dict(row) for row in connection.execute(page).mappings()]


def count_jobs(connection: Connection, search: JobFilter) -> int:
    """How many jobs `search` keeps: from the counters of `job_counts` when it names only a queue and
    states (a few rows whatever the store's size), else a count of the rows the indexes lead to."""
    if search.counted_by_state:
        counts = count_by_state(connection, search.queue)
        states: Sequence[str] | None = search.states
        return sum(
            count
            for per_state in counts.values()
            for state, count in per_state.items()
            if not states or state in states
        )
    query = select(func.count()).select_from(TABLE).where(and_(True, *where(connection.dialect.name, search)))
    return int(connection.execute(query).scalar_one())
