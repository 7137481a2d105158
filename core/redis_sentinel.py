"""Redis behind Sentinels: clients that ask the Sentinels for the primary, and follow it after a failover.

With REDIS_SENTINELS and REDIS_SENTINEL_MASTER set, `master_client()` makes a redis-py client
whose pool (`SentinelConnectionPool`) asks the Sentinels for the primary's address on every new
connection. When the primary dies, its connections fail (the command raises a
`ConnectionError`, which the broker, the job store and the API already treat as "Redis away");
once the Sentinels have promoted a replica, the next connection goes to it, and a connection
still open to a demoted primary is dropped at its first `READONLY` reply. No restart is needed.

REDIS_URL still gives the database number, user and password (its host and port are not used).
When no Sentinel gives a primary, the error says which of the two set-up mistakes it is, in
one line: no Sentinel answers (`SentinelsUnreachable`), or they answer but monitor no primary
of that name (`UnknownSentinelMaster`, naming the ones they know). Both are `ServiceUnavailable`
(exit 4, 503) and redis-py's `MasterNotFoundError` (a `ConnectionError`), so code that catches
either sees them; an API client reads only "Redis cannot be reached" (`public_message`), the
addresses and names stay in the log and on the operator's terminal. A primary the Sentinels
know but see as down (mid-failover) keeps redis-py's own error: that is an outage, not a mistake.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.connection import parse_url
from redis.sentinel import MasterNotFoundError, Sentinel

from errors import ServiceUnavailable
from settings import Settings
from settings.sentinels import describe_sentinels


class SentinelsUnreachable(ServiceUnavailable, MasterNotFoundError):
    """Raised when none of the Sentinels of REDIS_SENTINELS answers."""

    #: The message names the Sentinels' addresses: an API client reads only this.
    public_message = "Redis cannot be reached; try again shortly"


class UnknownSentinelMaster(ServiceUnavailable, MasterNotFoundError):
    """Raised when the Sentinels answer but monitor no primary named REDIS_SENTINEL_MASTER."""

    #: The message names the Sentinels and the primaries they monitor: an API client reads only this.
    public_message = "Redis cannot be reached; try again shortly"


def diagnose(
    service_name: str, sentinels: list[tuple[str, int]], answers: list[dict[str, Any] | BaseException]
) -> MasterNotFoundError | None:
    """The set-up mistake behind "no primary found", from each Sentinel's `SENTINEL MASTERS` answer (or error).

    None when at least one Sentinel knows `service_name` (it is down or being failed over: an outage).
    """
    where = describe_sentinels(sentinels)
    known = [answer for answer in answers if isinstance(answer, dict)]
    if not known:
        first = next((_first_line(answer) for answer in answers if isinstance(answer, BaseException)), "no answer")
        return SentinelsUnreachable(f"cannot reach any Redis Sentinel of REDIS_SENTINELS ({where}); the first: {first}")
    if any(service_name in masters for masters in known):
        return None
    names = sorted({name for masters in known for name in masters})
    them = ", ".join(repr(name) for name in names) if names else "none"
    return UnknownSentinelMaster(
        f"the Redis Sentinels ({where}) monitor no primary named {service_name!r} (REDIS_SENTINEL_MASTER); "
        f"they monitor: {them}"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text


class ExplainingSentinel(Sentinel):
    """redis-py's `Sentinel`, whose "no primary found" says which set-up mistake it is (`diagnose`)."""

    def __init__(self, sentinels: list[tuple[str, int]], **kwargs: Any) -> None:
        super().__init__(sentinels, **kwargs)
        self.addresses = list(sentinels)

    def discover_master(self, service_name: str) -> tuple[str, int]:
        try:
            return super().discover_master(service_name)  # type: ignore[no-any-return]
        except MasterNotFoundError as error:
            answers: list[dict[str, Any] | BaseException] = []
            for sentinel in self.sentinels:
                try:
                    answers.append(sentinel.sentinel_masters())
                except redis.RedisError as failure:
                    answers.append(failure)
            mistake = diagnose(service_name, self.addresses, answers)
            if mistake is None:
                raise
            raise mistake from error


def master_client(settings: Settings, url: str, **kwargs: Any) -> redis.Redis:
    """A client of the primary the Sentinels name, with REDIS_URL's (or `url`'s) database and credentials.

    `kwargs` are redis-py connection options (timeouts); the Sentinels themselves are asked
    with the health-check timeout, so a dead Sentinel costs at most that.
    """
    assert settings.redis_sentinel_master, "REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS"
    parts = parse_url(url) if url.startswith(("redis://", "rediss://")) else {}
    credentials = {key: parts[key] for key in ("username", "password") if parts.get(key)}
    if url.startswith("rediss://"):
        kwargs.setdefault("ssl", True)
    timeout = settings.health_timeout
    sentinel = ExplainingSentinel(
        settings.redis_sentinels,
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    return sentinel.master_for(settings.redis_sentinel_master, db=int(parts.get("db") or 0), **credentials, **kwargs)


def check_primary(settings: Settings) -> str:
    """Ask the Sentinels for the primary now; its `host:port`. Raises the one-line errors above."""
    assert settings.redis_sentinel_master, "REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS"
    timeout = settings.health_timeout
    sentinel = ExplainingSentinel(
        settings.redis_sentinels,
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    try:
        host, port = sentinel.discover_master(settings.redis_sentinel_master)
    finally:
        for client in sentinel.sentinels:
            client.close()
    return f"{host}:{port}"
