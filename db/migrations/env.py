"""Alembic's environment: the URL and the connection come from our settings, never from an ini file."""

from __future__ import annotations

from alembic import context

import db.models  # noqa: F401  (registers the tables on Base.metadata)
from db.base import Base
from db.engine import get_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
