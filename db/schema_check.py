"""Is the database's schema the one this code was written for? Its Alembic revision against the code's head.

Every entry point asks before it uses the database: the worker and the beat (`wiring.service`),
the API as it starts, and each `jobsctl` command that reads or writes it (not `jobsctl migrate`,
which is the cure, nor `jobsctl demo`, which migrates). No schema at all is `SchemaMissing`; a
revision older than the code's head is `SchemaOutdated`, naming both; each says to run
`jobsctl migrate`. A revision this code does not know is a newer release's (migrated before this
one stopped): accepted, since migrations only add.

PostgreSQL is asked on a connection of its own (no pool, `CONNECT_TIMEOUT`), so the check leaves
no pool behind in a process that forks and does not hang on an address that never answers; a
server that does not answer raises the driver's `OperationalError`, which callers decide about.

Alembic is imported when a check runs, not with this module: `wiring.service` imports this module,
so every process that imports an actor to send one does (about 0.3 s a sender would pay for nothing).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from core.scrub import redact_url
from db.engine import get_engine
from db.migrate import MIGRATIONS
from errors import ServiceUnavailable

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

#: What every refusal ends with.
HINT = "run 'jobsctl migrate'"
#: Seconds to wait for PostgreSQL to accept the check's connection.
CONNECT_TIMEOUT = 5


class SchemaNotReady(ServiceUnavailable):
    """Raised when the database's schema is not the one this code needs (503, exit 4); says to run `jobsctl migrate`."""


class SchemaMissing(SchemaNotReady):
    """Raised when the database has no schema yet (no Alembic revision)."""


class SchemaOutdated(SchemaNotReady):
    """Raised when the database's schema revision is older than the code's; the message names both."""


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic's INFO lines (plugins set up, "Context impl PostgresqlImpl") are noise around a read: hold them back."""
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    alembic_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_logger.setLevel(level)


@functools.cache
def _scripts() -> ScriptDirectory:
    with _quiet_alembic():
        from alembic.script import ScriptDirectory  # Alembic when a check runs (see the module's notes)

        return ScriptDirectory(str(MIGRATIONS))


def _heads(connection: Connection) -> tuple[str, ...]:
    with _quiet_alembic():
        from alembic.runtime.migration import MigrationContext  # Alembic when a check runs (see the module's notes)

        return tuple(MigrationContext.configure(connection).get_current_heads())


def code_head() -> str:
    """The newest revision of db/migrations: the schema this code was written for."""
    head = _scripts().get_current_head()
    assert head is not None, "db/migrations has no revision"
    return head


def _named(revision: str) -> str:
    """A revision as its file names it: `0009_partition_events`."""
    script = _scripts().get_revision(revision)
    return Path(script.path).stem if script is not None else revision


def database_revisions(url: str) -> tuple[str, ...]:
    """The database's Alembic revisions (empty: no schema). Raises `OperationalError` when it cannot be reached."""
    if url.startswith("sqlite"):  # the process's engine: it makes the file's folder, as a first use would
        with get_engine().connect() as connection:
            return _heads(connection)
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    try:
        with engine.connect() as connection:
            return _heads(connection)
    finally:
        engine.dispose()


def check_schema(url: str) -> None:
    """Raise `SchemaMissing` or `SchemaOutdated` unless the database at `url` is at the code's head (or newer)."""
    current = database_revisions(url)
    if not current:
        raise SchemaMissing(f"the database at {redact_url(url)} has no schema yet; {HINT}")
    head = code_head()
    known = {script.revision for script in _scripts().walk_revisions()}
    behind = [revision for revision in current if revision in known and revision != head]
    if behind and head not in current:
        raise SchemaOutdated(
            f"the database's schema is at revision {_named(behind[0])}, older than this code's {_named(head)}; {HINT}"
        )
