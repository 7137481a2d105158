"""Engines per process: made on first use after the process boots, never at import.

A worker process calls `init_engine()` from `after_process_boot`; anything else gets the
engine lazily through `get_engine()`. `dispose_engine()` after a fork keeps pools from
crossing processes.

SQLAlchemy is imported when the first engine is made, not with this module: actor modules
import it, and a process that imports one only to send a job never uses the database (SQLAlchemy
is about half of such a process's start-up, BENCHMARKS.md).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.orm import Session, sessionmaker

_lock = threading.Lock()
_engine: Engine | None = None
_engine_pid: int | None = None
_sessions: sessionmaker[Session] | None = None


def _make_engine(url: str) -> Engine:
    from sqlalchemy import create_engine, event  # heavy: loaded by the first engine (see the module's notes)

    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(
        url,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=_connection_guards(url),
    )


#: libpq's guards against a database host that vanishes without closing its connections (a
#: failover, a partition): a connect gives up after 10 s, and an open connection nobody answers
#: is found dead by TCP keepalives within about a minute instead of hanging a thread for the
#: system's TCP timeout (minutes to hours). A DATABASE_URL that sets one of them keeps its own.
CONNECTION_GUARDS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def _connection_guards(url: str) -> dict[str, int]:
    from sqlalchemy.engine import make_url

    given = make_url(url).query
    return {name: value for name, value in CONNECTION_GUARDS.items() if name not in given}


def get_engine() -> Engine:
    """This process's engine for DATABASE_URL (the SQLite file when unset)."""
    global _engine, _engine_pid, _sessions
    pid = os.getpid()
    if _engine is None or _engine_pid != pid:
        with _lock:
            if _engine is None or _engine_pid != pid:
                if _engine is not None:
                    _engine.dispose(close=False)
                from sqlalchemy.orm import sessionmaker  # heavy: loaded by the first engine

                _engine = _make_engine(get_settings().effective_database_url)
                _engine_pid = pid
                _sessions = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def init_engine() -> Engine:
    """Make the engine now (worker boot)."""
    return get_engine()


def dispose_engine() -> None:
    """Close this process's pool; the next `get_engine()` makes a new one."""
    global _engine, _sessions
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        _sessions = None


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    get_engine()
    assert _sessions is not None
    session = _sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_connection() -> Iterator[Connection]:
    """A pooled connection in autocommit for single reads: no BEGIN and ROLLBACK round trips
    around them (each read sees the latest committed data, as it would alone in a transaction)."""
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


def is_postgres(engine: Engine | None = None) -> bool:
    return (engine or get_engine()).dialect.name == "postgresql"
