"""Job search and paged listings: what `GET /api/v1/jobs`, a queue's job list and `jobsctl jobs` call.

A search names any of: an id or id prefix, a queue, states, the publisher its payload names, payload
fields (`field.<name>=value`, nested names joined by dots) and a time range on the time of enqueue
(`since` inclusive, `until` exclusive; ISO 8601, a time without an offset is UTC, or a span back
from now such as `90m`, `6h`, `7d`). Every page comes with the total of what the search keeps and
reads in the store's one order (`db.job_search.ORDER`: newest first, ties broken by id).
Bad input is `InvalidRequest` (422, exit 2) naming the parameter; an unknown queue is `UnknownQueue`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from control.service import MAX_JOB_ID, InvalidRequest, check_queue, job_view
from db import job_search, jobstore
from db.engine import get_engine
from runtime.store_buffer import get_buffer

#: Most jobs on one page, and the furthest page start.
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
#: Payload fields one search may compare, and how deep a field's name may go (`filters.country` is 2).
MAX_FIELDS = 10
MAX_DEPTH = 4
MAX_VALUE = 500
#: The query parameters of `GET /api/v1/jobs` that name a payload field start with this.
FIELD_PREFIX = "field."
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SPAN = re.compile(r"(\d{1,6})\s*([smhd])")
_SPACED_OFFSET = re.compile(r"(?<=:\d\d) (\d{2}:?\d{2})$")
_SPAN_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _text(name: str, value: str | None, longest: int = MAX_VALUE) -> str | None:
    """A text parameter as searched for: None when absent or blank; refused when it cannot be stored."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if "\x00" in value:
        raise InvalidRequest(f"{name}: NUL characters are not allowed")
    if len(value) > longest:
        raise InvalidRequest(f"{name}: at most {longest} characters")
    return value


def parse_time(name: str, value: str | datetime | None, now: datetime | None = None) -> datetime | None:
    """An instant from ISO 8601 (no offset = UTC) or a span back from now (`30m`, `6h`, `7d`)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(name, value, 64)
    if text is None:
        return None
    try:
        if span := _SPAN.fullmatch(text):
            return (now or datetime.now(UTC)) - timedelta(**{_SPAN_UNITS[span[2]]: int(span[1])})
        # A `+` of an offset typed into a URL by hand arrives as a space.
        parsed = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", text))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise InvalidRequest(
            f"{name}: {text!r} is not an ISO 8601 time (2026-11-02T08:00:00Z) or a span back from now (90m, 6h, 7d)"
        ) from None
    except OverflowError:
        raise InvalidRequest(f"{name}: {text!r} is outside the years 1 to 9999") from None


def parse_states(values: Iterable[str] | None) -> tuple[str, ...] | None:
    """States from repeated and/or comma-separated values; None when none is given."""
    states: dict[str, None] = {}
    for value in values or ():
        for state in value.split(","):
            if not (state := state.strip()):
                continue
            if state not in jobstore.STATES:
                raise InvalidRequest(f"state: {state!r} is not one of {', '.join(jobstore.STATES)}")
            states[state] = None
    return tuple(states) or None


def parse_field(name: str, value: str) -> tuple[tuple[str, ...], str]:
    """(`filters.country`, `US`) -> ((`filters`, `country`), `US`); a name is payload keys joined by dots."""
    path = tuple(name.split("."))
    if len(path) > MAX_DEPTH or not all(_KEY.fullmatch(key) for key in path):
        raise InvalidRequest(
            f"field.{name}: a field is payload keys (letters, digits, _) joined by dots, at most {MAX_DEPTH} deep"
        )
    text = value.strip()
    if "\x00" in text or len(text) > MAX_VALUE:
        raise InvalidRequest(f"field.{name}: a value has at most {MAX_VALUE} characters and no NUL")
    return path, text


def parse_fields(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[tuple[str, ...], str], ...]:
    fields = tuple(parse_field(name, value) for name, value in pairs)
    if len(fields) > MAX_FIELDS:
        raise InvalidRequest(f"field: at most {MAX_FIELDS} payload fields in one search")
    return fields


def fields_of_query(params: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The `field.<name>=value` pairs among a query string's parameters, names without the prefix."""
    return [(key.removeprefix(FIELD_PREFIX), value) for key, value in params if key.startswith(FIELD_PREFIX)]


def build_filter(
    *,
    job_id: str | None = None,
    queue: str | None = None,
    states: Iterable[str] | None = None,
    publisher: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    fields: Iterable[tuple[str, str]] = (),
    now: datetime | None = None,
) -> job_search.JobFilter:
    """A checked `JobFilter` from the parameters as the API and the CLI take them."""
    queue = _text("queue", queue, 64)
    if queue is not None:
        check_queue(queue)
    now = now or datetime.now(UTC)
    start, end = parse_time("since", since, now), parse_time("until", until, now)
    if start is not None and end is not None and start >= end:
        raise InvalidRequest(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    return job_search.JobFilter(
        queue=queue,
        states=parse_states(states),
        id_prefix=_text("id", job_id, MAX_JOB_ID),
        publisher=_text("publisher", publisher, 64),
        since=start,
        until=end,
        fields=parse_fields(fields),
    )


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit: between 1 and {MAX_LIMIT}, not {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidRequest(f"offset: between 0 and {MAX_OFFSET:,}, not {offset}")


def page(search: job_search.JobFilter, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """`{"jobs", "total", "limit", "offset"}`: one page of what `search` keeps and how many it keeps."""
    _check_page(limit, offset)
    get_buffer().flush(timeout=1.0)
    with get_engine().connect() as connection:
        rows = job_search.find_jobs(connection, search, limit=limit, offset=offset)
        total = job_search.count_jobs(connection, search)
    # A page read between the rows and the count: the count is never below what the page shows.
    total = max(total, offset + len(rows))
    return {"jobs": [job_view(row) for row in rows], "total": total, "limit": limit, "offset": offset}


def search(params: Mapping[str, Any], limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """A page of `build_filter(**params)`."""
    return page(build_filter(**params), limit, offset)


def queue_page(queue: str, status: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """A queue's jobs (in one state, or all), one page, with the total."""
    check_queue(queue)
    return page(build_filter(queue=queue, states=[status] if status else None), limit, offset)


def across_queues(states: tuple[str, ...], limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Jobs of every queue in `states` (failed and dead, active), one page, with the total."""
    return page(job_search.JobFilter(states=states), limit, offset)


def page_meta(found: Mapping[str, Any]) -> dict[str, int]:
    """The envelope's `page` for a listing whose `data` is the jobs alone: total, limit, offset."""
    return {"total": found["total"], "limit": found["limit"], "offset": found["offset"]}
