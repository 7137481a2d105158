"""The start of a worker or beat process: settings, Sentry, the broker and its reachability check.

`start_service()` is what `actors/__init__.py` runs inside `dramatiq` and `periodiq` processes
(`wiring.process_role.running_as_service()`); it ends by starting the process's job-store writer,
which drains the Redis list of producers' store events while the process runs (`runtime.store_buffer`).
A process that only sends never imports this module (it loads the database libraries).
A bad setting is one line on stderr and exit 2; a broker that does not answer, one line and
exit 3 (never a silent fall-back to an in-memory broker, CONTRACT.md); Sentinels that do not answer, or
know no primary named REDIS_SENTINEL_MASTER, one line and exit 4 (`core.redis_sentinel`); Sentinels that
know it but see it down (mid-failover), one line and exit 3, like any broker that does not answer, or
RabbitMQ queues of another type than RABBITMQ_QUEUE_TYPE (`brokers.rabbitmq.QueueTypeMismatch`).
`preflight()`, shared with the API's start, refuses a placeholder secret (exit 2) and a database
whose schema is missing or older than the code (`db.schema_check`: one line saying to run `jobsctl migrate`, exit 4).
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import dramatiq
import redis

from brokers.rabbitmq import QueueTypeMismatch, RabbitmqOperationsBroker
from core.redis_sentinel import SentinelsUnreachable, UnknownSentinelMaster, check_primary
from core.scrub import redact_url, scrub_text
from db.schema_check import SchemaNotReady, check_schema
from errors import JobsError, ServiceUnavailable
from errors.drivers import UNREACHABLE
from runtime.store_buffer import get_buffer
from settings import QUEUE_NAMES, Settings, SettingsError, get_settings
from settings.sentinels import describe_sentinels
from wiring.broker import get_broker
from wiring.process_role import running_as_service  # noqa: F401  (its former home)
from wiring.sentry import init_sentry

#: Exit code of a worker or beat whose settings cannot be read.
EXIT_BAD_SETTING = 2
#: Exit code of a worker or beat whose broker does not answer.
EXIT_NO_BROKER = 3

logger = logging.getLogger(__name__)


class BrokerUnavailable(ServiceUnavailable, RuntimeError):
    """Raised when a worker or beat cannot reach its broker at start-up."""


def ensure_reachable(broker: dramatiq.Broker, url: str) -> None:
    """Raise `BrokerUnavailable`, one line naming the broker (credentials hidden), when it does not answer;
    on RabbitMQ, `QueueTypeMismatch` when a queue of the platform exists with another type."""
    try:
        client = getattr(broker, "client", None)
        if client is not None:
            client.ping()
        elif hasattr(broker, "connection"):
            broker.connection  # noqa: B018  (opens the RabbitMQ connection)
        if isinstance(broker, RabbitmqOperationsBroker):  # a queue of another type: one line, not a retry loop
            broker.ensure_queues(list(QUEUE_NAMES))
    except QueueTypeMismatch:
        raise
    except Exception as error:
        raise BrokerUnavailable(scrub_text(f"cannot reach the broker at {redact_url(url)}: {error}")) from None


def primary_down(settings: Settings, error: BaseException) -> str:
    """One line for Sentinels that know REDIS_SENTINEL_MASTER but name no primary that answers."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return scrub_text(
        f"no Redis primary named {settings.redis_sentinel_master!r} answers: the Sentinels of REDIS_SENTINELS "
        f"({describe_sentinels(settings.redis_sentinels)}) see it down, or a failover is under way ({first}); "
        "start the worker again once they name a primary"
    )


def refuse_placeholders(settings: Settings) -> None:
    """Raise `SettingsError` naming the variables holding a placeholder secret (docker/.env.example's, `change-me`)."""
    found = settings.placeholder_variables()
    if found and not settings.embedded:
        names = ", ".join(found)
        raise SettingsError(
            f"setting {names}: a placeholder value (docker/.env.example's, 'change-me', 'secret'); set a real secret"
        )


def preflight(settings: Settings) -> None:
    """The start-up checks of a long-running process (worker, beat, API): no placeholder secret, the schema at head.

    Raises `SettingsError` (exit 2) or `db.schema_check.SchemaNotReady` (503, exit 4). A database that does
    not answer is no reason to refuse: the process starts and holds its jobs (the API answers 503) until it
    is back, so that is only logged.
    """
    refuse_placeholders(settings)
    try:
        check_schema(settings.effective_database_url)
    except UNREACHABLE as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        logger.warning("Schema not checked at start: the database cannot be reached (%s)", scrub_text(first))


def start_service() -> dramatiq.Broker:
    """Read settings, start Sentry, make the broker, check it answers, then `preflight()`; one line and exit if not."""
    try:
        settings = get_settings()
    except SettingsError as error:
        _exit(error, EXIT_BAD_SETTING)
    init_sentry(settings)
    if settings.redis_sentinels and not settings.embedded:
        try:  # no Sentinel answers, or none knows REDIS_SENTINEL_MASTER: one line, exit 4
            check_primary(settings)
        except (SentinelsUnreachable, UnknownSentinelMaster) as error:
            _exit(error, error.exit_code)
        except redis.RedisError as error:  # they know it but see it down (a failover under way): the broker is away
            _exit(BrokerUnavailable(primary_down(settings, error)), EXIT_NO_BROKER)
    broker = get_broker()
    if not settings.embedded:
        try:
            ensure_reachable(broker, settings.effective_broker_url)
        except (BrokerUnavailable, QueueTypeMismatch) as error:
            _exit(error, EXIT_NO_BROKER)
        try:
            preflight(settings)
        except SettingsError as error:
            _exit(error, EXIT_BAD_SETTING)
        except SchemaNotReady as error:
            _exit(error, error.exit_code)
    get_buffer().start()  # the job-store writer: producers' events in Redis reach the store while this runs
    return broker


def _exit(error: JobsError, code: int) -> NoReturn:
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(code) from None
