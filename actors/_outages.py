"""A job whose database or Redis does not answer is held until it answers again, not failed.

Dramatiq's Retries counts every exception as a failed attempt: three attempts two seconds
apart are used up within a quarter of a minute, so a 30-second PostgreSQL restart would send
every job that ran meanwhile to `dead`. Here an exception raised by the database or Redis
driver is checked against the dependency itself with a short probe. When the dependency does
not answer, the job is held like a rate-limited one: the same message re-enqueued after a
growing delay (1 s, 2 s, 4 s ... 15 s), no attempt used, recorded `delayed` in the store. When
the dependency answers, the error was the job's own (a constraint, a statement timeout, a
deadlock) and Retries handles it as usual. A job held for longer than OUTAGE_HOLD_MAX (an
hour) fails like any other.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from typing import cast

import redis
from dramatiq.broker import MessageProxy
from dramatiq.middleware import CurrentMessage

from core import redis_client
from db.engine import get_engine
from middleware.holds import hold
from settings import get_settings
from wiring.broker import get_broker

logger = logging.getLogger(__name__)

#: Seconds a probe waits for the dependency to answer.
PROBE_TIMEOUT = 2
#: Seconds a probe's answer is reused by the process's other threads.
PROBE_TTL = 1.0
#: Longest delay between two holds of one job (ms).
MAX_HOLD_DELAY_MS = 15_000

_probes: dict[str, tuple[float, bool]] = {}
_probe_lock = threading.Lock()


def dependency_of(error: BaseException) -> str | None:
    """'database' or 'redis' when `error` (or what caused it) comes from that driver's connection."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _database_errors()):
            return "database"
        if isinstance(current, redis.ConnectionError | redis.TimeoutError):
            return "redis"
        current = current.__cause__ or current.__context__
    return None


def _database_errors() -> tuple[type[BaseException], ...]:
    """The connection errors of the database drivers this process has loaded. Read from `sys.modules`
    rather than imported: a driver never loaded raised nothing, and a process that imports an actor
    module only to send a job loads neither (about a quarter of its start-up)."""
    found: list[type[BaseException]] = []
    sqlalchemy_errors = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_errors is not None:
        found.append(sqlalchemy_errors.DBAPIError)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        found += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(found)


def _answers(dependency: str) -> bool:
    settings = get_settings()
    try:
        if dependency == "database":
            url = get_engine().url
            if url.get_backend_name() != "postgresql":
                return True  # a local SQLite file: never "unreachable"
            libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
            import psycopg  # heavy: loaded by a probe, never by a process that only sends

            with psycopg.connect(libpq, connect_timeout=PROBE_TIMEOUT) as connection:
                connection.execute("SELECT 1")
        else:
            client = redis_client.connect(
                settings.effective_redis_url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT
            )
            try:
                client.ping()
            finally:
                client.close()
        return True
    except Exception:
        return False


def reachable(dependency: str) -> bool:
    """Whether `dependency` answers now (one probe per second per process)."""
    now = time.monotonic()
    with _probe_lock:
        known = _probes.get(dependency)
        if known is not None and now - known[0] < PROBE_TTL:
            return known[1]
    answer = _answers(dependency)
    with _probe_lock:
        _probes[dependency] = (time.monotonic(), answer)
    return answer


def hold_if_unreachable(error: BaseException) -> None:
    """Hold the current job (raises SkipMessage) when `error` means its database or Redis is away."""
    dependency = dependency_of(error)
    if dependency is None:
        return
    # The worker's current message is its MessageProxy (typed as the Message it wraps).
    message = cast(MessageProxy | None, CurrentMessage.get_current_message())
    if message is None or reachable(dependency):
        return
    now_ms = int(time.time() * 1000)
    options = message.options
    since = int(options.setdefault("outage_since", now_ms))
    if now_ms - since > get_settings().outage_hold_max * 1000:
        return  # held long enough: it fails like any other error
    count = int(options.get("outage_holds", 0))
    options["outage_holds"] = count + 1
    delay = min(1000 * 2**count, MAX_HOLD_DELAY_MS)
    delay += random.randint(0, delay // 4)
    logger.warning("Job %s held for %d ms: the %s does not answer (%s).", message.message_id, delay, dependency, error)
    hold(get_broker(), message, message.queue_name, delay, f"the {dependency} does not answer")
