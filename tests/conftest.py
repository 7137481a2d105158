"""Session set-up against real servers: a claimed Redis database and a fresh PostgreSQL database.

The environment is set before any test imports an actor (which makes the broker), so the broker,
the job store and worker subprocesses all use the session's own Redis database and PostgreSQL database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support import servers

_session: dict[str, Any] = {}

#: The unit tier runs on its own, without servers (`make test-unit`, tests/unit/conftest.py).
collect_ignore = ["unit"]


def pytest_configure(config: pytest.Config) -> None:
    cleanup = servers.ThrowAway()
    try:
        redis_base = servers.redis_server(cleanup)
        redis_db, redis_admin = servers.claim_redis_db(redis_base)
        postgres_admin = servers.postgres_server(cleanup)
        database, database_url = servers.create_database(postgres_admin)
    except (servers.ServerUnavailable, OSError, redis.RedisError) as error:
        cleanup.close()
        raise pytest.UsageError(f"test servers unavailable: {error}") from error
    workdir = tempfile.mkdtemp(prefix="adjobs-tests-")
    for name in ("BROKER_URL", "SENTRY_DSN", "ALERT_WEBHOOK_URL", "SMTP_URL", "API_ADMIN_TOKENS", "API_READ_TOKENS"):
        os.environ.pop(name, None)
    os.environ.update(
        REDIS_URL=f"{redis_base}/{redis_db}",
        DATABASE_URL=database_url,
        QUEUE_BACKOFF_DELAY="20",
        # The contract's per-minute limits would make most tests wait; rate-limit tests set their own.
        QUEUES__ANALYTICS_AGGREGATION__RATE_LIMIT="100000",
        QUEUES__DATA_EXPORT__RATE_LIMIT="100000",
        EXPORT_DIR=str(Path(workdir) / "exports"),
        REPORT_DIR=str(Path(workdir) / "reports"),
        INGEST_DIR=str(Path(workdir) / "ingest"),
        dramatiq_restart_delay="1000",
    )
    _session.update(
        cleanup=cleanup,
        redis_admin=redis_admin,
        redis_db=redis_db,
        postgres_admin=postgres_admin,
        database=database,
        workdir=workdir,
    )
    from db.migrate import upgrade

    upgrade()


def pytest_unconfigure(config: pytest.Config) -> None:
    if not _session:
        return
    from db.engine import dispose_engine
    from runtime.store_buffer import get_buffer

    get_buffer().flush()  # the last test's records, before their database goes
    dispose_engine()
    servers.drop_database(_session["postgres_admin"], _session["database"])
    servers.release_redis_db(_session["redis_admin"], _session["redis_db"])
    _session["cleanup"].close()


TABLES = ("ad_events", "analytics_rollups", "jobs", "publishers")


@pytest.fixture
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


@pytest.fixture(autouse=True)
def clean_state(redis_client: redis.Redis) -> Iterator[None]:
    """Every test starts with an empty Redis database and empty tables."""
    from sqlalchemy import text

    from db.engine import get_engine
    from runtime.store_buffer import get_buffer

    get_buffer().flush()
    redis_client.flushdb()
    with get_engine().begin() as connection:
        existing = {
            row[0] for row in connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        }
        tables = [name for name in existing if name != "alembic_version"]
        if tables:
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    yield


@pytest.fixture
def broker() -> Any:
    """The process's broker (`wiring.broker.get_broker`), with every actor declared on it."""
    from actors import catalog  # noqa: F401  (declares every actor)
    from wiring.broker import get_broker

    return get_broker()


@pytest.fixture
def worker(broker: Any) -> Iterator[Any]:
    """An in-process worker on the real broker (Redis)."""
    import dramatiq

    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def workdir() -> Path:
    return Path(_session["workdir"])
