"""The start of a worker or beat process: settings, Sentry, the broker and its reachability check.

`start_service()` is what `actors/__init__.py` runs inside `dramatiq` and `periodiq` processes.
A bad setting is one line on stderr and exit 2; a broker that does not answer, one line and
exit 3 (never a silent fall-back to an in-memory broker, CONTRACT.md).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import dramatiq

from core.scrub import redact_url, scrub_text
from errors import ServiceUnavailable
from settings import SettingsError, get_settings
from wiring.broker import get_broker
from wiring.sentry import init_sentry

#: Exit code of a worker or beat whose settings cannot be read.
EXIT_BAD_SETTING = 2
#: Exit code of a worker or beat whose broker does not answer.
EXIT_NO_BROKER = 3


class BrokerUnavailable(ServiceUnavailable, RuntimeError):
    """Raised when a worker or beat cannot reach its broker at start-up."""


def running_as_service() -> bool:
    """True inside `dramatiq` worker or `periodiq` beat processes."""
    program = sys.argv[0] if sys.argv else ""
    return os.path.basename(program) in ("dramatiq", "periodiq") or program.endswith("dramatiq/__main__.py")


def ensure_reachable(broker: dramatiq.Broker, url: str) -> None:
    """Raise `BrokerUnavailable`, one line naming the broker (credentials hidden), when it does not answer."""
    try:
        client = getattr(broker, "client", None)
        if client is not None:
            client.ping()
        elif hasattr(broker, "connection"):
            broker.connection  # noqa: B018  (opens the RabbitMQ connection)
    except Exception as error:
        raise BrokerUnavailable(scrub_text(f"cannot reach the broker at {redact_url(url)}: {error}")) from None


def start_service() -> dramatiq.Broker:
    """Read settings, start Sentry, make the broker and check it answers; exit with one line when not."""
    try:
        settings = get_settings()
    except SettingsError as error:
        _exit(error, EXIT_BAD_SETTING)
    init_sentry(settings)
    broker = get_broker()
    if not settings.embedded:
        try:
            ensure_reachable(broker, settings.effective_broker_url)
        except BrokerUnavailable as error:
            _exit(error, EXIT_NO_BROKER)
    return broker


def _exit(error: Exception, code: int) -> NoReturn:
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(code) from None
