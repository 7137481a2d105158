"""Fixtures for Dramatiq's own test suite that hand it our broker (copied by `run.py` as `tests/conftest.py`).

Dramatiq's sdist ships its tests without their `conftest.py`; these fixtures have the names
and shape of Dramatiq's own, with three changes:
- `redis_broker` is our `PriorityRedisBroker`, with our middleware stack (`build_middleware`)
  or, with DRAMATIQ_SUITE_MIDDLEWARE=dramatiq, Dramatiq's default one;
- with DRAMATIQ_SUITE_GENERIC=redis (what `run.py` sets for the generic tests) `stub_broker`
  is that same broker, so the tests written for any broker run on ours;
- everything lives in a Redis logical database of its own, claimed like the test sessions'
  (tests/support/servers.py) and emptied with FLUSHDB, never Dramatiq's FLUSHALL, which
  would wipe every other session's database on the server.
Our job store writes to a PostgreSQL database of the suite's own (made on TEST_POSTGRES_URL's
server, migrated, dropped at the end), as in production. The tests that fail for a reason
that is no difference in Dramatiq's guarantees (StubBroker-only API, a replaced private method,
our stack's configuration) are marked as expected failures with that reason.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import psycopg
import pytest
import redis
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits import backends as rate_limit_backends
from dramatiq.results import backends as result_backends_module

logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(threadName)s] [%(name)s] [%(levelname)s] %(message)s")

REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
POSTGRES_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CLAIM_KEY = "adjobs-test-claim:{db}"
_session: dict[str, Any] = {}


def _claim_redis_db() -> tuple[int, redis.Redis]:
    admin = redis.Redis.from_url(f"{REDIS_BASE}/0")
    token = uuid.uuid4().hex
    for db in range(1, 16):
        if admin.set(CLAIM_KEY.format(db=db), token, nx=True, ex=3600):
            return db, admin
    raise pytest.UsageError("all Redis logical databases 1-15 are claimed by test sessions")


def _create_database() -> tuple[str, str]:
    """A fresh PostgreSQL database for the suite's job store: (name, SQLAlchemy URL)."""
    name = f"adjobs_suite_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        message = f"PostgreSQL at TEST_POSTGRES_URL ({POSTGRES_ADMIN}) cannot be reached: {first}"
        raise pytest.UsageError(message) from None
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    return name, base.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"


def pytest_configure(config: pytest.Config) -> None:
    db, admin = _claim_redis_db()
    database, database_url = _create_database()
    workdir = Path(tempfile.mkdtemp(prefix="dramatiq-suite-"))
    for name in ("BROKER_URL", "SENTRY_DSN", "ALERT_WEBHOOK_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        REDIS_URL=f"{REDIS_BASE}/{db}",
        DATABASE_URL=database_url,
        EXPORT_DIR=str(workdir / "exports"),
        REPORT_DIR=str(workdir / "reports"),
        INGEST_DIR=str(workdir / "ingest"),
    )
    _session.update(db=db, admin=admin, url=f"{REDIS_BASE}/{db}", database=database)
    from db.migrate import upgrade

    upgrade()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _session:
        redis.Redis.from_url(_session["url"]).flushdb()
        _session["admin"].delete(CLAIM_KEY.format(db=_session["db"]))
        from db.engine import dispose_engine

        dispose_engine()
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{_session["database"]}" WITH (FORCE)')


_STUB_QUEUES = "reads StubBroker.queues (Python queues by name); a Redis broker's `queues` is a set of names"
_STUB_JOIN = (
    "StubBroker.join re-raises the actor's exception (fail_fast, Dramatiq 2.0); RedisBroker.join only waits "
    "and takes no fail_fast"
)
#: Tests that fail on our broker for a reason that is no difference in Dramatiq's guarantees.
KNOWN_DIFFERENCES = {
    "test_redis.py::test_redis_consumer_ack_can_retry_on_connection_error": (
        "patches RedisBroker.do_ack; our consumer hands acknowledgements to AckBatcher (brokers/acks.py), "
        "which retries on connection errors itself"
    ),
    "test_actors.py::test_actors_can_be_sent_messages": _STUB_QUEUES,
    "test_actors.py::test_worker_handles_non_numeric_eta_and_logs_warning": _STUB_QUEUES,
    "test_actors.py::test_worker_handles_none_eta": _STUB_QUEUES,
    "test_actors.py::test_actors_can_be_assigned_time_limits": _STUB_JOIN,
    "test_actors.py::test_actor_messages_can_be_assigned_time_limits": _STUB_JOIN,
    "test_actors.py::test_actors_can_be_assigned_message_age_limits": _STUB_JOIN,
    "test_actors.py::test_actor_messages_can_be_assigned_message_age_limits": _STUB_JOIN,
    "test_actors.py::test_messages_belonging_to_missing_actors_are_rejected": _STUB_JOIN,
    "test_actors.py::test_workers_log_rate_limit_exceeded_errors_differently": _STUB_JOIN,
    "test_callbacks.py::test_actors_can_define_failure_callbacks": _STUB_JOIN,
    "test_callbacks.py::test_actor_callback_knows_correct_number_of_retries": _STUB_JOIN,
    "test_composition.py::test_pipeline_does_not_continue_to_next_actor_when_message_is_marked_as_failed": _STUB_JOIN,
    "test_worker.py::test_exception_from_actor_doesnt_leak": _STUB_JOIN,
}
_TWO_GROUP_CALLBACKS = (
    "adds a GroupCallbacks to a stack that has one: on the same Redis both count each finished job, "
    "so the completion callback may run more than once"
)
#: Further ones with our middleware stack: it is configured differently from Dramatiq's default one.
KNOWN_WITH_OUR_MIDDLEWARE = {
    "test_redis.py::test_redis_actors_can_retry_multiple_times": (
        "expects Dramatiq's default of 20 retries; ours allow QUEUE_MAX_ATTEMPTS (3) attempts"
    ),
    "test_results.py::test_messages_can_fail_to_get_results_if_there_is_no_backend": (
        "expects no Results middleware; our stack has JobResults"
    ),
    "test_composition.py::test_groups_with_completion_callbacks_fail_unless_group_callbacks_is_set_up": (
        "expects no GroupCallbacks middleware; our stack has it"
    ),
    "test_composition.py::test_groups_can_have_completion_callbacks": _TWO_GROUP_CALLBACKS,
    "test_composition.py::test_groups_of_pipelines_can_have_completion_callbacks": _TWO_GROUP_CALLBACKS,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the known differences as expected failures, with their reason (docs/dramatiq-suite.md)."""
    known = dict(KNOWN_DIFFERENCES)
    if os.environ.get("DRAMATIQ_SUITE_MIDDLEWARE") != "dramatiq":
        known.update(KNOWN_WITH_OUR_MIDDLEWARE)
    for item in items:
        reason = known.get(item.nodeid.removeprefix("tests/").split("[")[0])
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))


def _our_broker() -> dramatiq.Broker:
    from brokers.priority_redis import PriorityRedisBroker

    if os.environ.get("DRAMATIQ_SUITE_MIDDLEWARE") == "dramatiq":
        return PriorityRedisBroker(url=_session["url"])
    from settings import get_settings
    from wiring.broker import build_middleware

    return PriorityRedisBroker(url=_session["url"], middleware=build_middleware(get_settings()))


def _client() -> redis.Redis:
    return redis.Redis.from_url(_session["url"])


@pytest.fixture()
def redis_broker() -> Iterator[dramatiq.Broker]:
    _client().flushdb()
    broker = _our_broker()
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.close()
    _client().flushdb()


@pytest.fixture()
def stub_broker(request: pytest.FixtureRequest) -> Iterator[dramatiq.Broker]:
    if os.environ.get("DRAMATIQ_SUITE_GENERIC") == "redis":
        yield request.getfixturevalue("redis_broker")
        return
    broker = StubBroker()
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.flush_all()
    broker.close()


@pytest.fixture()
def stub_worker(stub_broker: dramatiq.Broker) -> Iterator[Worker]:
    worker = Worker(stub_broker, worker_timeout=100, worker_threads=32)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture()
def redis_worker(redis_broker: dramatiq.Broker) -> Iterator[Worker]:
    worker = Worker(redis_broker, worker_threads=32)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def info_logging() -> Iterator[None]:
    logger = logging.getLogger()
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(logging.DEBUG)


@pytest.fixture
def redis_rate_limiter_backend() -> rate_limit_backends.RedisBackend:
    _client().flushdb()
    return rate_limit_backends.RedisBackend(url=_session["url"])


@pytest.fixture
def stub_rate_limiter_backend() -> rate_limit_backends.StubBackend:
    return rate_limit_backends.StubBackend()


@pytest.fixture(params=["redis", "stub"])
def rate_limiter_backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_rate_limiter_backend")


@pytest.fixture
def redis_result_backend() -> result_backends_module.RedisBackend:
    _client().flushdb()
    return result_backends_module.RedisBackend(url=_session["url"])


@pytest.fixture
def stub_result_backend() -> result_backends_module.StubBackend:
    return result_backends_module.StubBackend()


@pytest.fixture
def result_backends(redis_result_backend: Any, stub_result_backend: Any) -> dict[str, Any]:
    return {"redis": redis_result_backend, "stub": stub_result_backend}


@pytest.fixture(params=["redis", "stub"])
def result_backend(request: pytest.FixtureRequest, result_backends: dict[str, Any]) -> Any:
    return result_backends[request.param]
