"""Driver exceptions that mean a server cannot be reached, seen as `errors.ServiceUnavailable`.

redis-py raises `ConnectionError` or `TimeoutError` (Sentinel's `MasterNotFoundError` is a
`ConnectionError`); SQLAlchemy raises `OperationalError` when PostgreSQL (or the SQLite file)
cannot be used. The API and `jobsctl` both turn them into the one error kind here, so a
server away reads the same everywhere: 503 in the API, exit 4 from `jobsctl`.
"""

from __future__ import annotations

import redis
from sqlalchemy.exc import OperationalError

from errors import JobsError, ServiceUnavailable

#: What redis-py and SQLAlchemy raise when their server is away.
UNREACHABLE: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, OperationalError)

#: The API's message for them: the driver's text (hosts, ports, SQL) stays in the log.
UNREACHABLE_MESSAGE = "Redis or PostgreSQL cannot be reached; try again shortly"
#: The API's message names the server: "Redis cannot be reached; try again shortly" (the dashboard shows which).
UNREACHED = "cannot be reached; try again shortly"


def server_of(error: BaseException) -> str:
    """Which server a driver's error is about: "Redis", "PostgreSQL" or "the database" (SQLite)."""
    if isinstance(error, redis.RedisError):
        return "Redis"
    original = getattr(error, "orig", None)
    return "PostgreSQL" if type(original).__module__.startswith("psycopg") else "the database"


def as_jobs_error(error: BaseException, *, detail: bool = True) -> JobsError | None:
    """`error` as a project error: itself, `ServiceUnavailable` for a driver's, else None (a bug).

    With `detail` the message keeps the first line of the driver's (for an operator's
    terminal); without, it names only the server (`server_of`: for API clients).
    """
    if isinstance(error, JobsError):
        return error
    if not isinstance(error, UNREACHABLE):
        return None
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    message = f"Redis or PostgreSQL cannot be reached: {text}" if detail else f"{server_of(error)} {UNREACHED}"
    unavailable = ServiceUnavailable(message)
    unavailable.__cause__ = error
    return unavailable
