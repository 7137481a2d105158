"""The API's 503 names the server that cannot be reached, so the dashboard can say "Redis unreachable"."""

from __future__ import annotations

import sqlite3

import psycopg
import redis
from sqlalchemy.exc import OperationalError

from errors import ServiceUnavailable
from errors.drivers import as_jobs_error, server_of


def test_a_redis_error_names_redis_and_a_postgresql_error_names_postgresql():
    redis_down = redis.ConnectionError("Error 111 connecting to 10.0.0.7:6379. Connection refused.")
    postgres_down = OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))
    sqlite_locked = OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file"))
    assert server_of(redis_down) == "Redis"
    assert server_of(redis.TimeoutError("Timeout reading from socket")) == "Redis"
    assert server_of(postgres_down) == "PostgreSQL"
    assert server_of(sqlite_locked) == "the database"


def test_the_api_message_names_the_server_and_leaves_hosts_and_driver_text_out():
    # Given Redis refusing the connection, in the words of its driver (a host and port in them)
    error = redis.ConnectionError("Error 111 connecting to 10.0.0.7:6379. Connection refused.")
    # When it becomes the API's error (no detail) and the CLI's (detail)
    for_api = as_jobs_error(error, detail=False)
    for_cli = as_jobs_error(error)
    # Then the API's names Redis only; the CLI's keeps the driver's first line for the operator
    assert isinstance(for_api, ServiceUnavailable)
    assert str(for_api) == "Redis cannot be reached; try again shortly"
    assert for_cli is not None and "10.0.0.7:6379" in str(for_cli)
