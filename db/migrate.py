"""`alembic upgrade head` from code, so `jobsctl migrate`, the demo and tests share one path.

Alembic (about 0.25 s) loads when a migration runs, not when `jobsctl` or the worker starts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # heavy: only when a migration runs

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection | None = None, revision: str = "head") -> None:
    """Bring the schema of DATABASE_URL (or `connection`) to `revision`."""
    from alembic import command  # heavy: only when a migration runs

    command.upgrade(alembic_config(connection), revision)
