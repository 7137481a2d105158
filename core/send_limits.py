"""What `send()` accepts beyond a payload's own model: delays, run times, dates, dedupe keys, storable values.

The API's request schemas use the same figures, so `jobsctl send`, `actor.send()` and
`POST /api/v1/queues/{queue}/jobs` refuse the same things. Each check raises `ValueError`
with a message that names the field; `core.payloads` and `actors._base` turn it into `InvalidPayload`.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

#: The longest a job may wait (delay or runAt ahead of now): dedupe keys and cancel flags live 7 days.
MAX_DELAY_MS = 7 * 24 * 3600 * 1000
#: Dates a payload may carry: wide enough for any report, far from `date.max`, whose next day overflows.
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(2999, 12, 31)
#: Longest dedupe key (`options.jobId`, `job_id=`); the job store keeps them in a bounded column.
MAX_DEDUPE_KEY = 200


def checked_delay(delay: Any, field: str = "options.delay") -> int:
    """`delay` in milliseconds, when it is a whole number between 0 and MAX_DELAY_MS."""
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_DELAY_MS:
        raise ValueError(f"{field}: must be whole milliseconds between 0 and {MAX_DELAY_MS:,} (7 days), got {delay!r}")
    return delay


def delay_until(run_at: datetime | str, field: str = "options.runAt") -> int:
    """Milliseconds from now until `run_at` (UTC when it has no offset); negative when it is past."""
    if isinstance(run_at, str):
        given = run_at
        try:
            run_at = datetime.fromisoformat(given.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{field}: {given[:64]!r} is not an ISO time") from None
    if not isinstance(run_at, datetime):
        raise ValueError(f"{field}: expected an ISO time, got {type(run_at).__name__}")
    if run_at.tzinfo is None:
        run_at = run_at.replace(tzinfo=UTC)
    try:
        delay = (run_at - datetime.now(UTC)).total_seconds() * 1000
    except OverflowError:
        raise ValueError(f"{field}: {run_at.isoformat()} is out of range") from None
    if delay > MAX_DELAY_MS:
        raise ValueError(f"{field}: {run_at.isoformat()} is more than 7 days ahead (the longest a job may wait)")
    return int(delay)


def check_date(value: Any) -> None:
    """Refuse a date or time outside EARLIEST_DATE..LATEST_DATE (arithmetic on it could overflow)."""
    if isinstance(value, date):
        day = value.date() if isinstance(value, datetime) else value
        if not EARLIEST_DATE <= day <= LATEST_DATE:
            raise ValueError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}, got {value.isoformat()}")


def checked_dedupe_key(key: Any, field: str = "options.jobId") -> str:
    text = str(key)
    if not text or len(text) > MAX_DEDUPE_KEY or "\x00" in text:
        raise ValueError(f"{field}: must be 1 to {MAX_DEDUPE_KEY} characters without NUL, got {len(text)} characters")
    return text


def unstorable(value: Any, path: str = "data") -> str | None:
    """The path of the first value PostgreSQL's JSON and text types cannot hold (NUL, NaN), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable(key, path) or unstorable(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable(item, f"{path}[{index}]")
            if found:
                return found
    return None
