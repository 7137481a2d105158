"""The engine's connections carry libpq's guards against a database host that vanishes."""

from __future__ import annotations

import os

from sqlalchemy import create_engine

from db.engine import CONNECTION_GUARDS, _connection_guards, get_engine


def test_every_connection_of_the_engine_has_a_connect_timeout_and_tcp_keepalives():
    # When the process's engine connects to the real database
    with get_engine().connect() as connection:
        parameters = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    # Then libpq was given the guards
    assert {name: parameters.get(name) for name in CONNECTION_GUARDS} == {
        name: str(value) for name, value in CONNECTION_GUARDS.items()
    }


def test_a_guard_the_database_url_sets_is_kept():
    url = os.environ["DATABASE_URL"] + ("&" if "?" in os.environ["DATABASE_URL"] else "?") + "keepalives_idle=7"
    assert "keepalives_idle" not in _connection_guards(url)
    engine = create_engine(url, connect_args=_connection_guards(url))
    try:
        with engine.connect() as connection:
            parameters = connection.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    finally:
        engine.dispose()
    assert parameters["keepalives_idle"] == "7" and parameters["connect_timeout"] == "10"
