"""The unit tier: pure logic, no Redis, no PostgreSQL, no network (`make test-unit`).

Run it as `pytest --confcutdir=tests/unit tests/unit`: `--confcutdir` stops pytest loading
`tests/conftest.py`, whose session set-up starts or claims Redis and PostgreSQL. A separate
tier (rather than a root conftest that starts servers lazily) keeps the real-server suite's
set-up as it is: there the environment must be set before anything imports `actors`.

Here the settings select the embedded default, so code that needs a broker (payload models
on their actors) gets Dramatiq's in-process StubBroker, and every socket is refused
(pytest-socket), at collection as well as in each test: a unit test that would reach a
server fails instead of waiting for one.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_socket import disable_socket, enable_socket


def pytest_configure(config: pytest.Config) -> None:
    if "tests.conftest" in sys.modules:
        return  # collected inside the real-server session: its environment stands
    workdir = Path(tempfile.mkdtemp(prefix="adjobs-unit-"))
    for name in ("BROKER_URL", "SENTRY_DSN", "ALERT_WEBHOOK_URL", "SMTP_URL", "API_ADMIN_TOKENS", "API_READ_TOKENS"):
        os.environ.pop(name, None)
    os.environ.update(
        EMBEDDED="true",
        EMBEDDED_DATABASE_PATH=str(workdir / "unit.sqlite3"),
        EXPORT_DIR=str(workdir / "exports"),
        REPORT_DIR=str(workdir / "reports"),
        INGEST_DIR=str(workdir / "ingest"),
    )
    disable_socket()  # module imports at collection time too


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    """Every unit test runs with sockets refused (after any set-up of an enclosing conftest)."""
    disable_socket()
    yield
    enable_socket()
